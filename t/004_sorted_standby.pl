# A physical streaming standby replays nedb_sorted's WAL (the build's page
# images, then generic WAL records for inserts, splits, VACUUM) and answers
# ordered queries through the index exactly as the primary does (page
# deletion and reuse included), as
# contrib/bloom's and pgvector's WAL tests check for theirs.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('sorted_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "autovacuum = off\n");
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION nedb;
CREATE TABLE s (k int8, d jsonb);
INSERT INTO s SELECT g * 7, jsonb_build_object('v', g % 1000) FROM generate_series(1, 5000) g;
CREATE INDEX s_k ON s USING nedb_sorted (k);
CREATE INDEX s_v ON s USING nedb_sorted ((d -> 'v'));
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('sorted_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

my @queries = (
	'SELECT k FROM s ORDER BY k DESC LIMIT 10',
	'SELECT k FROM s ORDER BY k LIMIT 10',
	'SELECT k FROM s WHERE k > 200000 AND k <= 200700 ORDER BY k',
	'SELECT k FROM s WHERE k < 1000 ORDER BY k DESC',
	"SELECT d -> 'v' FROM s WHERE d -> 'v' OPERATOR(nedb.>=) '998' ORDER BY d -> 'v' USING OPERATOR(nedb.>) LIMIT 25",
	'SELECT count(*) FROM s WHERE k >= 0',
	q{SELECT doc -> 'h' FROM nedb.versions WHERE coll = 'c' AND seq_to IS NULL
	  ORDER BY doc -> 'h' USING OPERATOR(nedb.>) LIMIT 10});

sub compare
{
	my ($label) = @_;
	$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
	for my $q (@queries)
	{
		my $set = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
		my $plan = $standby->safe_psql('postgres', "$set EXPLAIN (COSTS OFF) $q");
		my $p = $primary->safe_psql('postgres', "$set $q");
		my $s = $standby->safe_psql('postgres', "$set $q");
		ok($plan =~ /Index (Only )?Scan/, "$label: the standby plans through the index: $q");
		is($s, $p, "$label: the standby returns the primary's rows: $q");
	}
}

# the collection's sorted index, created before any document
$primary->safe_psql('postgres', q{SELECT nedb.create_index('c', 'h', 'sorted')});
compare('after the build');

# inserts in random order (splits up to a new root), puts, deletes and VACUUM
$primary->safe_psql('postgres', q{
INSERT INTO s SELECT (g * 104729::int8) % 1000003, jsonb_build_object('v', (g * 31) % 1000)
  FROM generate_series(1, 40000) g;
SELECT count(nedb.put('c', 'k' || g, jsonb_build_object('h', (g * 7919) % 3001))) FROM generate_series(1, 3000) g;
DELETE FROM s WHERE k % 3 = 0;
VACUUM (INDEX_CLEANUP on) s;
VACUUM nedb.versions;
});
compare('after inserts, puts and VACUUM');
$primary->safe_psql('postgres', 'CHECKPOINT');
my $levels = $primary->safe_psql('postgres',
	q{SELECT get_byte(substring(pg_read_binary_file(pg_relation_filepath('s_k'), 0, 8192) from 37 for 1), 0)});
cmp_ok($levels, '>=', 1, 'the index grew a level above the leaves');
is($primary->safe_psql('postgres', q{SELECT nedb.sorted_check('s_k') = (SELECT count(*) FROM s)}),
	't', 'the primary\'s index passes sorted_check');

# a key range emptied: VACUUM deletes its leaves; after a later VACUUM the
# splits of new inserts reuse them; the standby follows every step
$primary->safe_psql('postgres', q{
DELETE FROM s WHERE k BETWEEN 100000 AND 700000;
VACUUM (INDEX_CLEANUP on) s;
});
# (deleted or free: which one depends on each server's own xmin horizon)
my $stats = q{SELECT deleted_pages + free_pages, leaf_pages, entries FROM nedb.sorted_stats('s_k')};
my ($deleted) = split /\|/, $primary->safe_psql('postgres', $stats);
cmp_ok($deleted, '>', 10, "VACUUM deleted the emptied leaves ($deleted)");
compare('after page deletion');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', $stats), $primary->safe_psql('postgres', $stats),
	'the standby has the same deleted and leaf pages');
$primary->safe_psql('postgres', 'SELECT txid_current()');
$primary->safe_psql('postgres', 'VACUUM s');
my $size = $primary->safe_psql('postgres', q{SELECT pg_relation_size('s_k')});
$primary->safe_psql('postgres', q{
INSERT INTO s SELECT 100000 + (g * 7919) % 600000, '{"v": 2}' FROM generate_series(1, 3000) g;
});
is($primary->safe_psql('postgres', q{SELECT pg_relation_size('s_k')}), $size,
	'inserts into the emptied range reuse the deleted pages');
compare('after page reuse');
is($standby->safe_psql('postgres', $stats), $primary->safe_psql('postgres', $stats),
	'the standby has the same pages after reuse');

# the promoted standby is a sound primary of its own
$standby->promote;
is($standby->safe_psql('postgres', q{SELECT nedb.sorted_check('s_k') = (SELECT count(*) FROM s)}),
	't', 'the promoted standby\'s index passes sorted_check');
is($standby->safe_psql('postgres', q{SELECT nedb.sorted_check('s_v') = (SELECT count(*) FROM s)}),
	't', 'the promoted standby\'s jsonb index passes sorted_check');
$standby->safe_psql('postgres', q{INSERT INTO s SELECT g, '{"v": 1}' FROM generate_series(1, 2000) g});
is($standby->safe_psql('postgres', q{SELECT nedb.sorted_check('s_k') = (SELECT count(*) FROM s)}),
	't', 'the promoted standby takes inserts');

$standby->stop;
$primary->stop;
done_testing();
