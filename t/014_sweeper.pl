# The background TTL sweeper (shared_preload_libraries = 'nedb',
# nedb.sweep_interval): expired documents get their delete ops without
# anyone calling nedb.sweep(), in every database with NEDB and none
# without it; the view nedb.sweeper shows the runs; a SIGTERM or an
# immediate stop mid-sweep of many documents loses nothing and deletes
# nothing twice; sweep_interval = 0 sweeps nothing; a database owner's
# hostile search_path runs nothing in the sweeper.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use NedbTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('sweeper');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'nedb'
nedb.sweep_interval = '1s'
nedb.sweep_batch = 1000
fsync = off
});
$node->start;

$node->safe_psql('postgres', q{
CREATE DATABASE plain;
CREATE ROLE shop_owner LOGIN;
CREATE DATABASE shop OWNER shop_owner;
});
$node->safe_psql('shop', 'CREATE EXTENSION nedb');

# the owner's operators shadow pg_catalog's in its database: the sweeper's
# statements must resolve none of them
$node->safe_psql('shop', q{
SET ROLE shop_owner;
CREATE SCHEMA evil;
CREATE FUNCTION evil.hit() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  RAISE WARNING 'NEDB-ATTACK-RAN as %', current_user;
  RETURN true;
END $f$;
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE sql
  AS $f$ SELECT evil.hit() AND pg_catalog.texteq($1, $2) $f$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
CREATE FUNCTION evil.arrow(jsonb, text) RETURNS jsonb LANGUAGE sql
  AS $f$ SELECT CASE WHEN evil.hit() THEN pg_catalog.jsonb_object_field($1, $2) END $f$;
CREATE OPERATOR evil.-> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.arrow);
ALTER DATABASE shop SET search_path = evil, pg_catalog, public;
});

# the test's own sessions read with pg_catalog's operators (the owner's
# search_path would run the attack in them)
sub shop
{
	return $node->safe_psql('shop', "SET search_path = pg_catalog, public;\n$_[0]");
}

# poll until the query returns the wanted value; the seconds it took
sub wait_for
{
	my ($sql, $want, $timeout) = @_;
	my $t0 = time;
	my $got;
	while (time - $t0 < $timeout)
	{
		$got = shop($sql);
		return time - $t0 if $got eq $want;
		usleep(50_000);
	}
	die "timed out after $timeout s waiting for $sql to return $want (last: $got)";
}

my $ttl_deletes =
  "SELECT count(*) FROM nedb.log WHERE client = '__ttl__' AND op = 'delete'";

# --- TTL documents disappear within two intervals, nobody calling sweep ---
shop(q{
SELECT count(nedb.put('sess', 's' || i, jsonb_build_object('i', i), ttl => '2 seconds'))
  FROM generate_series(1, 50) i;
SELECT count(nedb.put('sess', 'keep' || i, jsonb_build_object('i', i)))
  FROM generate_series(1, 10) i;
});
my $expires = shop(
	"SELECT max((doc ->> '_expires_at')::float8) FROM nedb.versions WHERE coll = 'sess'");
is(shop($ttl_deletes), '0', 'nothing is deleted before the documents expire');
wait_for("SELECT count(*) FROM nedb.log WHERE client = '__ttl__' AND payload ->> 'coll' = 'sess'",
	'50', 30);
my $late = time - $expires;
cmp_ok($late, '<', 2 * 1 + 2,
	sprintf('the 50 deletes are logged %.2f s after expiry (interval 1 s, 2 s grace)', $late));
is( shop(q{
SELECT count(DISTINCT payload ->> 'id') || '/' || count(*) || '/'
       || bool_and(payload ->> 'id' LIKE 's%') || '/' || min(op) || '/' || min(client)
  FROM nedb.log WHERE client = '__ttl__' AND payload ->> 'coll' = 'sess'}),
	'50/50/true/delete/__ttl__',
	'one delete op per expired document, as client __ttl__, none for the others');
is(shop(q{SELECT count(*) FROM nql('FROM sess')}), '10', 'the documents without a TTL stay');
is(shop('SELECT nedb.verify()'), 't', 'the chain verifies');
ok($node->log_contains(qr/nedb sweeper logged the deletes of 50 expired documents in database "shop"/),
	'the run with deletions is logged');

is( shop(q{
SELECT count(*) || '/' || bool_and(runs >= 1) || '/' || bool_and(total_deleted = 50)
       || '/' || bool_and(last_deleted IN (0, 50)) || '/' || bool_and(last_error IS NULL)
       || '/' || bool_and(last_start <= coalesce(last_end, now()))
  FROM nedb.sweeper WHERE database = 'shop'}),
	'1/true/true/true/true/true',
	'nedb.sweeper shows the runs and the count');
is(shop(q{SELECT count(*) FROM nedb.sweeper WHERE database = 'plain'}), '0',
	'the database without NEDB has no entry');
is(shop(q{SELECT count(*) FROM nedb.sweeper}), '1', 'only databases with NEDB are listed');

# --- a database created with NEDB later is swept in the next round ---
$node->safe_psql('postgres', 'CREATE DATABASE late');
$node->safe_psql('late', q{
CREATE EXTENSION nedb;
SELECT nedb.put('x', 'gone', '{}', ttl => '-1 second');
});
my $t0 = time;
while ($node->safe_psql('late', "SELECT count(*) FROM nedb.log WHERE client = '__ttl__'") ne '1')
{
	die 'the late database is not swept' if time - $t0 > 30;
	usleep(50_000);
}
pass('a database that gets NEDB later is swept too');

# --- sweep_interval = 0 sweeps nothing ---
$node->append_conf('postgresql.conf', "nedb.sweep_interval = 0\n");
$node->reload;
# whatever run was going on when the setting changed ends
wait_for(q{SELECT count(*) FROM nedb.sweeper WHERE pid IS NOT NULL}, '0', 30);
sleep 1;
my $runs = shop(q{SELECT runs FROM nedb.sweeper WHERE database = 'shop'});
shop(q{
SELECT count(nedb.put('bulk', 'b' || i, jsonb_build_object('i', i), ttl => '-1 second'))
  FROM generate_series(1, 20000) i;
});
sleep 3;
is(shop("SELECT count(*) FROM nedb.log WHERE client = '__ttl__' AND payload ->> 'coll' = 'bulk'"),
	'0', 'sweep_interval = 0: nothing is swept');
is(shop(q{SELECT runs FROM nedb.sweeper WHERE database = 'shop'}), $runs,
	'sweep_interval = 0: no run starts');

# --- SIGTERM and an immediate stop mid-sweep: nothing lost, nothing twice ---
my $bulk_deletes =
  "SELECT count(*) FROM nedb.log WHERE client = '__ttl__' AND payload ->> 'coll' = 'bulk'";
$node->append_conf('postgresql.conf', "nedb.sweep_interval = '1s'\nnedb.sweep_batch = 20\n");
$node->reload;

# mid-sweep: the view names the worker and counts its batches
$t0 = time;
my $pid;
while (1)
{
	die 'the bulk sweep did not start' if time - $t0 > 30;
	$pid = shop(q{SELECT pid FROM nedb.sweeper WHERE database = 'shop' AND last_deleted > 0});
	last if $pid ne '';
	usleep(20_000);
}
my $before_term = shop($bulk_deletes);
cmp_ok($before_term, '<', 20000, "caught the sweeper mid-sweep ($before_term of 20000)");
is(shop("SELECT pg_terminate_backend($pid)"), 't', 'SIGTERM to the sweeper mid-sweep');
# the next round goes on where the last committed batch left off
$t0 = time;
my $after_term;
while (1)
{
	die 'the sweep did not go on after SIGTERM' if time - $t0 > 30;
	$after_term = shop($bulk_deletes);
	last if $after_term > $before_term + 100;
	usleep(20_000);
}
cmp_ok($after_term, '<', 20000, "still mid-sweep ($after_term of 20000): immediate stop");
$node->stop('immediate');
$node->start;
my $at_start = shop($bulk_deletes);
cmp_ok($at_start, '<', 20000, "after the restart $at_start of 20000 were deleted");
wait_for($bulk_deletes, '20000', 180);
is( shop(q{
SELECT count(*) || '/' || count(DISTINCT payload ->> 'id')
  FROM nedb.log WHERE client = '__ttl__' AND payload ->> 'coll' = 'bulk'}),
	'20000/20000', 'exactly one delete op per expired document');
is( shop(q{
SELECT count(*) FROM nedb.versions
 WHERE coll = 'bulk' AND seq_to IS NULL AND doc IS NOT NULL}),
	'0', 'no live version of an expired document is left');
is(shop('SELECT max(seq) + 1 = count(*) FROM nedb.ops'), 't', 'seq is dense');
is(shop('SELECT nedb.verify()'), 't', 'the chain verifies after the restart');
is(shop(q{SELECT count(*) FROM nql('FROM sess')}), '10', 'the documents without a TTL still stay');
# the view is shared memory: it starts again at the restart
is( shop(q{SELECT total_deleted <= 20000 AND last_error IS NULL FROM nedb.sweeper WHERE database = 'shop'}),
	't', 'the view counts since the restart, no error');
$node->stop('fast');

my $log = slurp_file($node->logfile);
unlike($log, qr/WARNING:  NEDB-ATTACK-RAN/, 'the owner\'s operators ran nowhere in the sweeper');
unlike($log, qr/nedb sweeper in database/, 'no sweeper run failed (also not in the database without NEDB)');
unlike($log, qr/terminated by signal|PANIC|TRAP:/, 'no crash');

done_testing();
