# Signed digests stored in the background (README: Signed digests): with
# nedb preloaded, nedb.digest_interval and a signing key, the digest signer
# keeps one signed digest per tree size in nedb.digests, in every database
# with NEDB; each verifies with the public key, any two are consistent
# (an auditor's check), an idle log adds none, a database without NEDB is
# left alone, and a hostile search_path runs nothing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('digests');
$node->init;
my $key = PostgreSQL::Test::Utils::tempdir . '/signing.key';
PostgreSQL::Test::Utils::append_to_file($key, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n");
chmod 0600, $key;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'nedb'
nedb.signing_key_file = '$key'
nedb.digest_interval = '300ms'
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql('postgres', q{
CREATE EXTENSION nedb;
CREATE ROLE owner_role;
SELECT count(nedb.put('c', 'k' || g, '{}')) FROM generate_series(1, 20) g;
});

sub sq { return $node->safe_psql('postgres', $_[0]); }

ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM nedb.digests WHERE tree_size = nedb.seq() + 1'),
	'a digest of the log is stored without anyone asking');
sq(q{SELECT count(nedb.put('c', 'x' || g, '{}')) FROM generate_series(1, 15) g});
ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM nedb.digests WHERE tree_size = nedb.seq() + 1'),
	'after more writes, a digest of the new size');
is(sq(q{SELECT bool_and(nedb.verify_digest(d.digest, k.public_key)) AND count(*) >= 2
         FROM nedb.digests d, nedb.signing_key() k}),
	't', 'every stored digest verifies with the public key');
is( sq(
		q{SELECT bool_and(nedb.verify_consistency(nedb.consistency(a.tree_size - 1, b.tree_size - 1),
                   a.tree_size - 1, a.digest ->> 'root', b.tree_size - 1, b.digest ->> 'root'))
            FROM nedb.digests a JOIN nedb.digests b ON a.tree_size < b.tree_size}),
	't', 'any two stored digests are consistent');
is(sq(q{SELECT bool_and(digest ->> 'root' = (SELECT root FROM nedb.digest(tree_size - 1))) FROM nedb.digests}),
	't', 'each stored root is the tree root of its size');

# an empty log gets no digest: there is nothing to attest, and no
# consistency proof starts at size 0
$node->safe_psql('postgres', 'CREATE DATABASE empty');
$node->safe_psql('empty', 'CREATE EXTENSION nedb');
usleep(1_500_000);
is($node->safe_psql('empty', 'SELECT count(*) FROM nedb.digests'), '0', 'an empty log gets no digest');
$node->safe_psql('empty', q{SELECT nedb.put('c', 'a', '{}')});
ok($node->poll_query_until('empty', 'SELECT count(*) = 1 FROM nedb.digests WHERE tree_size = 1'),
	'its first op gets one');

# an idle log adds nothing
my $n = sq('SELECT count(*) FROM nedb.digests');
usleep(1_500_000);
is(sq('SELECT count(*) FROM nedb.digests'), $n, 'an idle log adds no digest');

# a database owner's search_path cannot make the signer run its objects
sq(q{
CREATE SCHEMA evil;
CREATE TABLE evil.hits (n int);
CREATE FUNCTION evil.get(j jsonb, k text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO evil.hits VALUES (1); RETURN '0'; END $$;
CREATE OPERATOR evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.get);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO evil.hits VALUES (2); RETURN pg_catalog.now(); END $$;
GRANT ALL ON SCHEMA evil TO PUBLIC;
GRANT ALL ON evil.hits TO PUBLIC;
ALTER DATABASE postgres SET search_path = evil, public, pg_catalog;
});
sq(q{SELECT nedb.put('c', 'after-evil', '{}')});
ok($node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM nedb.digests WHERE tree_size = nedb.seq() + 1'),
	'the signer goes on under a hostile database search_path');
is(sq('SELECT count(*) FROM evil.hits'), '0', 'and ran none of its objects');
sq('ALTER DATABASE postgres RESET search_path');

# the database without NEDB: no error, nothing created
my @bad = grep { /nedb digest signer.*(ERROR|WARNING)|WARNING:.*nedb digest signer/ }
  split /\n/, slurp_file($node->logfile);
is(scalar(@bad), 0, 'no run failed, in either database') or diag join("\n", @bad);
is($node->safe_psql('plain', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'nedb'}), '0',
	'the database without NEDB is left alone');

# digest_interval = 0: no more rounds
$node->append_conf('postgresql.conf', "nedb.digest_interval = 0\n");
$node->reload;
usleep(500_000);
sq(q{SELECT nedb.put('c', 'after-off', '{}')});
usleep(1_500_000);
is(sq('SELECT count(*) FROM nedb.digests WHERE tree_size = nedb.seq() + 1'), '0',
	'with nedb.digest_interval = 0 nothing more is stored');
# nedb.store_digest() by hand
is(sq(q{SELECT (nedb.store_digest() ->> 'tree_size')::bigint = nedb.seq() + 1}), 't', 'nedb.store_digest() stores one now');
is(sq(q{SELECT nedb.store_digest() IS NULL}), 't', 'and not twice for one size');

$node->stop;
done_testing();
