# The replication worker runs as a superuser; a database owner who is not
# one can set their database's search_path (ALTER DATABASE ... SET).  The
# worker's own statements, and those its session runs on the primary, must
# not resolve a name through it: here every text "=", "->>" and strpos of
# the owner's schema "evil" logs a line, and none may come from a superuser.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $attack = q{
CREATE SCHEMA evil;
CREATE FUNCTION evil.hit() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  RAISE WARNING 'NEDB-ATTACK-RAN as %', current_user;
  RETURN true;
END $f$;
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE sql
  AS $f$ SELECT evil.hit() AND pg_catalog.texteq($1, $2) $f$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
CREATE FUNCTION evil.arrow_text(jsonb, text) RETURNS text LANGUAGE sql
  AS $f$ SELECT CASE WHEN evil.hit() THEN pg_catalog.jsonb_object_field_text($1, $2) END $f$;
CREATE OPERATOR evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.arrow_text);
CREATE FUNCTION evil.strpos(text, text) RETURNS integer LANGUAGE sql
  AS $f$ SELECT CASE WHEN evil.hit() THEN pg_catalog.strpos($1, $2) END $f$;
ALTER DATABASE shop SET search_path = evil, pg_catalog, public;
};

my %nodes;
for my $name (qw(primary follower))
{
	my $node = PostgreSQL::Test::Cluster->new("sp_$name");
	$node->init;
	$node->append_conf(
		'postgresql.conf', q{
shared_preload_libraries = 'nedb'
nedb.replication_poll_interval = '1h'
fsync = off
});
	$node->start;
	$node->safe_psql('postgres', q{
CREATE ROLE shop_owner LOGIN;
CREATE DATABASE shop OWNER shop_owner;
});
	$node->safe_psql('shop', 'CREATE EXTENSION nedb');
	$node->safe_psql('shop', "SET ROLE shop_owner; $attack");
	$nodes{$name} = $node;
}
my ($a, $b) = @nodes{qw(primary follower)};

# the attack is live: the owner's own session runs it
my ($ret, $out, $err) = $a->psql('shop', q{SELECT 'x' = 'x'}, extra_params => [ '-U', 'shop_owner' ]);
like($err, qr/NEDB-ATTACK-RAN as shop_owner/, 'the owner\'s operator shadows pg_catalog\'s in its database');

$a->safe_psql('shop', q{
SELECT count(nedb.put('docs', 'd' || i, jsonb_build_object('i', i))) FROM generate_series(1, 50) i;
SELECT nedb.put_file('f.txt', 'hello');
});
$b->safe_psql('shop',
	"SELECT nedb.subscribe('from_a', \$c\$" . $a->connstr('shop') . "\$c\$)");
my $want = $a->safe_psql('shop', q{SELECT nedb.seq() || '/' || nedb.head()});
ok($b->poll_query_until('shop', q{SELECT nedb.seq() || '/' || nedb.head()}, $want),
	'the follower caught up');
# and follows live writes (NOTIFY, the batch query, put_file's bytes)
$a->safe_psql('shop', q{SELECT nedb.put('docs', 'late', '{}'); SELECT nedb.put_file('f.txt', 'again');});
$want = $a->safe_psql('shop', q{SELECT nedb.seq() || '/' || nedb.head()});
ok($b->poll_query_until('shop', q{SELECT nedb.seq() || '/' || nedb.head()}, $want),
	'the follower followed live writes');
is($b->safe_psql('shop', 'SELECT nedb.verify()'), 't', 'the follower verifies');

# functions called by a superuser in the attacked database also resist it
$b->safe_psql('shop', q{SELECT nedb.get('docs', 'd1'), nedb.seq(); SELECT * FROM nedb.subscriptions});
$a->safe_psql('shop', q{SELECT nedb.get('docs', 'd1'); SELECT count(*) FROM nedb.export_aof()});

for my $node ($a, $b)
{
	my $log = slurp_file($node->logfile);
	my @escalated = grep { /WARNING:  NEDB-ATTACK-RAN as (?!shop_owner)/ } split /\n/, $log;
	is(scalar(@escalated), 0, $node->name . ': nothing of the owner\'s ran as a superuser')
	  or diag(join("\n", @escalated[0 .. ($#escalated < 4 ? $#escalated : 4)]));
}

$b->safe_psql('shop', q{SELECT nedb.unsubscribe('from_a')});
done_testing();
