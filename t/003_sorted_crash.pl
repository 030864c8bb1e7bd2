# Crash safety of the nedb_sorted index access method.
#
# Writers insert random keys (page splits all over the tree, the root
# included) into a plain table with nedb_sorted indexes on an int8 column and
# on a jsonb field, a third writes documents through nedb.put into a
# collection with a 'sorted' index, a fourth deletes and VACUUMs in a loop,
# a fifth keeps a queue of keys (appends at the right end, prunes the left)
# that a sixth VACUUMs, so that leaves empty, are deleted and then recycled
# by the splits, and a seventh scans the index both ways under one snapshot
# and checks order and counts, when the server is stopped in immediate mode
# (no checkpoint: redo of the WAL records rebuilds the pages).  The scans
# must never have seen a wrong order, a missing or doubled entry, or an
# error.  Rounds 1 and 2 run without nedb in shared_preload_libraries (every
# record generic WAL, leaf inserts with a delta nedb_sorted writes itself),
# rounds 3 and 4 with it (leaf inserts are nedb_sorted's own INSERT_LEAF
# records, which must be in the WAL that recovery replays).  After restart
# every index
# must pass nedb.sorted_check, hold exactly the live rows once VACUUM has
# run, and return through index scans, both directions, the same ordered
# values as a sequential scan.  Last, a key altered on disk must make
# nedb.sorted_check fail with SQLSTATE XX002, and a link altered on disk
# must leave VACUUM warning (not failing) and the page in place.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use NedbTest;

my $node = PostgreSQL::Test::Cluster->new('sorted_crash');
$NedbTest::node = $node;
$node->init;
$node->append_conf(
	'postgresql.conf', q{
fsync = on
full_page_writes = on
max_connections = 20
autovacuum = off
});
$node->start;
q1(q{CREATE EXTENSION nedb});
q1(q{CREATE EXTENSION pg_walinspect});
q1(q{CREATE TABLE s (k int8, d jsonb)});
q1(q{INSERT INTO s SELECT (random() * 1e6)::int8, jsonb_build_object('v', random() * 1e6)
       FROM generate_series(1, 20000)});
q1(q{CREATE INDEX s_k ON s USING nedb_sorted (k)});
q1(q{CREATE INDEX s_v ON s USING nedb_sorted ((d -> 'v'))});
q1(q{SELECT nedb.create_index('c', 'h', 'sorted')});
my $cidx = q1(q{SELECT 'nedb.' || index_name FROM nedb.indexes WHERE coll = 'c'});
# both directions through the index, the same snapshot: order and counts
q1(q{CREATE SEQUENCE scan_checks});
q1(q{CREATE SEQUENCE band START 2000000});
q1(q{CREATE FUNCTION scan_check() RETURNS text LANGUAGE plpgsql AS $$
DECLARE asc_n bigint := 0; desc_n bigint := 0; seq_n bigint; prev int8; r record;
BEGIN
  SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off;
  FOR r IN EXECUTE 'SELECT k FROM s WHERE k IS NOT NULL ORDER BY k' LOOP
    IF r.k < prev THEN RAISE EXCEPTION 'SCAN MISMATCH: % after % ascending', r.k, prev; END IF;
    prev := r.k; asc_n := asc_n + 1;
  END LOOP;
  prev := NULL;
  FOR r IN EXECUTE 'SELECT k FROM s WHERE k IS NOT NULL ORDER BY k DESC' LOOP
    IF r.k > prev THEN RAISE EXCEPTION 'SCAN MISMATCH: % after % descending', r.k, prev; END IF;
    prev := r.k; desc_n := desc_n + 1;
  END LOOP;
  SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off;
  EXECUTE 'SELECT count(k) FROM s' INTO seq_n;
  IF asc_n <> seq_n OR desc_n <> seq_n THEN
    RAISE EXCEPTION 'SCAN MISMATCH: % ascending, % descending, % in the table', asc_n, desc_n, seq_n;
  END IF;
  PERFORM nextval('scan_checks');
  RETURN 'ok';
END $$});
q1(q{CREATE FUNCTION chk(r regclass) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN nedb.sorted_check(r)::text;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$});

# an unlogged table: after a crash it is reset from its init fork
q1(q{CREATE UNLOGGED TABLE ul (k int8)});
q1(q{CREATE INDEX ul_k ON ul USING nedb_sorted (k)});
q1(q{INSERT INTO ul SELECT g FROM generate_series(1, 5000) g});

my $scratch = PostgreSQL::Test::Utils::tempdir;

sub script
{
	my ($name, $body, $n) = @_;
	my $f = "$scratch/$name.sql";
	open my $fh, '>', $f or die $!;
	print $fh $body->($_) for 1 .. $n;
	close $fh;
	return $f;
}

# ordered values through the index (both directions) vs a sequential scan
sub same_order
{
	my ($label, $expr, $asc, $desc) = @_;
	my $q = "SELECT md5(string_agg(v::text, ',')) FROM (SELECT $expr AS v FROM s ORDER BY $expr %s) x;";
	my $both = sprintf($q, $asc) . sprintf($q, $desc);
	my $idx = q1("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off; $both");
	my $seq = q1("SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; $both");
	my @plan = split /\n/,
	  q1("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;"
		  . " EXPLAIN (COSTS OFF) SELECT * FROM s ORDER BY $expr $desc LIMIT 5");
	ok((grep { /Index Scan Backward using s_/ } @plan), "$label: the DESC query scans the index backward");
	is($idx, $seq, "$label: index scans return the seq scan's order, both directions");
}

for my $round (1 .. 4)
{
	my $preload = $round >= 3;
	if ($round == 3)
	{
		$node->append_conf('postgresql.conf', "shared_preload_libraries = 'nedb'\n");
		$node->restart;
	}
	my $lsn0 = q1("SELECT pg_current_wal_insert_lsn()");
	my @h;
	for my $w (1 .. 2)
	{
		my $f = script("ins$w", sub {
			"INSERT INTO s SELECT (random() * 1e6)::int8, jsonb_build_object('v', random() * 1e6)"
			  . " FROM generate_series(1, 40);\n"
		}, 4000);
		push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $f ],
			'>', '/dev/null', '2>', '/dev/null');
	}
	my $fp = script("put", sub {
		my $i = shift;
		"SELECT count(nedb.put('c', 'k' || g, jsonb_build_object('h', (random() * 1e6)::int)))"
		  . " FROM generate_series(1, 20) g;\n"
	}, 4000);
	push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $fp ],
		'>', '/dev/null', '2>', '/dev/null');
	my $fv = script("vac", sub {
		"DELETE FROM s WHERE k % 11 = 0;\nVACUUM s;\nVACUUM nedb.versions;\n"
	}, 2000);
	push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $fv ],
		'>', '/dev/null', '2>', '/dev/null');

	# a queue above 2e6: appended at its right end, pruned from its left
	my $fq = script("queue", sub {
		"INSERT INTO s SELECT nextval('band'), '{}' FROM generate_series(1, 200);\n"
		  . "DELETE FROM s WHERE k >= 2000000 AND k < (SELECT min(k) FROM s WHERE k >= 2000000) + 150;\n"
	}, 4000);
	push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $fq ],
		'>', '/dev/null', '2>', '/dev/null');
	my $fr = script("prune", sub { "VACUUM s;\nSELECT txid_current();\nSELECT pg_sleep(0.1);\n" }, 2000);
	push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $fr ],
		'>', '/dev/null', '2>', '/dev/null');
	my $fs = script("scan", sub {
		"BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT scan_check();\nCOMMIT;\n"
	}, 2000);
	my $scan_log = "$scratch/scan$round.log";
	push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $fs ],
		'>', '/dev/null', '2>', $scan_log);

	# let them split, delete and vacuum for a while, then pull the plug
	my $checked = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM scan_checks";
	my $checks0 = q1($checked);
	my $before = q1("SELECT count(*) FROM s");
	sleep(6);
	my $after = q1("SELECT count(*) FROM s");
	my $pages = q1("SELECT deleted_pages + free_pages FROM nedb.sorted_stats('s_k')");
	cmp_ok($after, '!=', $before, "round $round: the writers were writing ($before -> $after rows)");
	my $checks = q1($checked);
	cmp_ok($pages, '>', 0, "round $round: VACUUM deleted leaves meanwhile ($pages deleted or free)");
	cmp_ok($checks, '>', $checks0, "round $round: the scanner checked meanwhile (sequence $checks0 -> $checks)");
	# what recovery will replay: generic WAL, and INSERT_LEAF when preloaded
	# (and DELETE when an insert removed entries scans had marked LP_DEAD,
	# which depends on how the scanner and the writers met; never without
	# preloading)
	my $kinds = q1(qq{SELECT string_agg(r, ',' ORDER BY r) FROM (
	  SELECT DISTINCT "resource_manager/record_type" AS r
	    FROM pg_get_wal_stats('$lsn0', pg_current_wal_flush_lsn(), true)
	   WHERE count > 0 AND "resource_manager/record_type" ~ '^(Generic|nedb_sorted)/') x});
	like($kinds, $preload ? qr{^Generic/Generic,(nedb_sorted/DELETE,)?nedb_sorted/INSERT_LEAF$} : qr{^Generic/Generic$},
		"round $round: the WAL to replay holds " . ($preload ? 'INSERT_LEAF and generic records' : 'generic records only'));
	$node->stop('immediate');
	$_->kill_kill for @h;
	my @scan_errors = grep { /ERROR/ } split /\n/, slurp_file($scan_log);
	is(scalar(@scan_errors), 0, "round $round: concurrent scans saw the right order and counts")
	  or diag(join("\n", @scan_errors[0 .. ($#scan_errors < 4 ? $#scan_errors : 4)]));
	$node->start;
	is(q1("SELECT scan_check()"), 'ok', "round $round: after recovery both directions agree with the table");

	is(q1("SELECT chk('ul_k') || '/' || (SELECT count(*) FROM ul)"), '0/0',
		"round $round: the unlogged table's index is its init fork again (empty, sound)");
	q1(q{INSERT INTO ul SELECT g FROM generate_series(1, 5000) g});
	is(q1("SELECT chk('ul_k') || '/' || (SELECT count(*) FROM ul WHERE k > 4990)"), '5000/10',
		"round $round: and takes inserts and scans again");
	like(q1("SELECT chk('s_k')"), qr/^\d+$/, "round $round: s_k passes sorted_check after recovery");
	like(q1("SELECT chk('s_v')"), qr/^\d+$/, "round $round: s_v passes sorted_check after recovery");
	like(q1("SELECT chk('$cidx')"), qr/^\d+$/, "round $round: the collection's sorted index passes sorted_check");
	same_order("round $round int8", "k", "ASC", "DESC");
	same_order("round $round jsonb", "d -> 'v'", "USING OPERATOR(nedb.<)", "USING OPERATOR(nedb.>)");
	q1("VACUUM (INDEX_CLEANUP on) s");    # no bypass: every dead entry goes
	is(q1("SELECT chk('s_k')"), q1("SELECT count(*) FROM s"), "round $round: after VACUUM s_k holds exactly the rows");
	is(q1("SELECT chk('s_v')"), q1("SELECT count(*) FROM s"), "round $round: after VACUUM s_v holds exactly the rows");
	is(q1("SELECT nedb.verify()"), 't', "round $round: the chain verifies");
	is( q1(
			"SET enable_seqscan = off; SELECT string_agg(h, ',') FROM (SELECT doc ->> 'h' AS h FROM nedb.versions"
			  . " WHERE coll = 'c' ORDER BY doc -> 'h' USING OPERATOR(nedb.>) LIMIT 20) x"),
		q1(     "SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT string_agg(h, ',') FROM"
			  . " (SELECT doc ->> 'h' AS h FROM nedb.versions WHERE coll = 'c'"
			  . " ORDER BY doc -> 'h' USING OPERATOR(nedb.>) LIMIT 20) x"),
		"round $round: the collection's top 20 through the index equal a seq scan's");
}

# a key altered on disk: the checker must notice (SQLSTATE XX002)
q1(q{CREATE TABLE cx (k int8)});
q1(q{INSERT INTO cx SELECT g FROM generate_series(1000, 1999) g});
q1(q{CREATE INDEX cx_k ON cx USING nedb_sorted (k)});
is(q1("SELECT chk('cx_k')"), '1000', 'cx_k is sound before the damage');
my $path = $node->data_dir . '/' . q1("SELECT pg_relation_filepath('cx_k')");
$node->stop;
open my $fh, '+<:raw', $path or die "open $path: $!";
my $blk;
sysseek($fh, 8192, 0);
sysread($fh, $blk, 8192) == 8192 or die "short read";
my $at = index($blk, pack('q<', 1100));
ok($at > 0, 'found key 1100 on the first leaf');
substr($blk, $at, 8) = pack('q<', 900000);
sysseek($fh, 8192, 0);
syswrite($fh, $blk) == 8192 or die "short write";
close $fh;
$node->start;
like(q1("SELECT chk('cx_k')"), qr/^XX002 index "cx_k" is corrupted/, 'a key out of order is reported as XX002');

# the key classes on the metapage (NQL's order verdict) cleared on disk: the
# checker finds the keys whose class is not recorded
q1(q{CREATE TABLE kx (j jsonb)});
q1(q{INSERT INTO kx SELECT to_jsonb(g) FROM generate_series(1, 300) g});
q1(q{INSERT INTO kx SELECT to_jsonb('s' || g) FROM generate_series(1, 300) g});
q1(q{CREATE INDEX kx_j ON kx USING nedb_sorted (j nedb.nedb_jsonb_ops)});
q1(q{INSERT INTO kx VALUES ('[1, 2]')});    # an insert notes a new class
is(q1("SELECT chk('kx_j')"), '601', 'kx_j is sound before the damage');
my $kpath = $node->data_dir . '/' . q1("SELECT pg_relation_filepath('kx_j')");
$node->stop;
open $fh, '+<:raw', $kpath or die "open $kpath: $!";
sysseek($fh, 24, 0);
sysread($fh, $blk, 24) == 24 or die "short read";
my ($magic, $version, $root, $level, $vacuum, $classes) = unpack('L<6', $blk);
is(sprintf('%x/%d/%d', $magic, $version, $classes), '4e534f52/2/7',
	'the metapage (version 2) records numbers, strings and an array (0x7)');
sysseek($fh, 24 + 20, 0);
syswrite($fh, pack('L<', 1)) == 4 or die "short write";
close $fh;
$node->start;
like(q1("SELECT chk('kx_j')"), qr/^XX002 index "kx_j" is corrupted/,
	'keys of a class the metapage does not record are reported as XX002');

# links that disagree: VACUUM warns, leaves the emptied page in place and
# still finishes the table (a damaged index must not stop VACUUM)
q1(q{CREATE TABLE lx (k int8)});
q1(q{INSERT INTO lx SELECT g FROM generate_series(1, 2000) g});
q1(q{CREATE INDEX lx_k ON lx USING nedb_sorted (k)});
q1(q{DELETE FROM lx WHERE k BETWEEN 367 AND 732});    # exactly the second leaf, block 2
my $lpath = $node->data_dir . '/' . q1("SELECT pg_relation_filepath('lx_k')");
$node->stop;
open $fh, '+<:raw', $lpath or die "open $lpath: $!";
sysseek($fh, 2 * 8192, 0);
sysread($fh, $blk, 8192) == 8192 or die "short read";
ok(index($blk, pack('q<', 367)) > 0 && index($blk, pack('q<', 732)) > 0, 'block 2 is the leaf of keys 367..732');
sysseek($fh, 3 * 8192 + 8192 - 16, 0);
sysread($fh, $blk, 4) == 4 or die "short read";
is(unpack('L<', $blk), 2, "block 3's left-link names block 2");
sysseek($fh, 3 * 8192 + 8192 - 16, 0);
syswrite($fh, pack('L<', 5)) == 4 or die "short write";
close $fh;
$node->start;
my ($vret, $vout, $verr) = $node->psql('postgres', 'VACUUM lx');
is($vret, 0, 'VACUUM of the table completes');
like($verr, qr/index "lx_k" is corrupted: VACUUM leaves its empty block 2 in place/,
	'and warns that the page stays, naming the index and block');
like($verr, qr/the right sibling does not link back to it/, 'with the fault');
is(q1("SELECT deleted_pages FROM nedb.sorted_stats('lx_k')"), '0', 'nothing was deleted');
is(q1("SELECT count(*) FROM lx"), '1634', 'the table is vacuumed and readable');

$node->stop;
done_testing();
