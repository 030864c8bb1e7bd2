# Cascade files and the log tree across crashes.
#
# Committed file versions (sharing chunks across files, versions and tiers)
# must read back byte for byte after the server is killed in the middle of
# uploads: one transaction that has stored its chunks and logged its
# put_file op but not committed, one still chunking and compressing a large
# file.  Neither may leave a version, an op, a chunk or a tree node behind,
# and uploading the same bytes again afterwards must work.  The log tree
# must still match the log, and every op's inclusion proof must verify.
# t/016_cascade_sealed.pl runs all of it again with a master key configured
# (NEDB_CASCADE_SEALED=1): every chunk then sealed under the data key.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use NedbTest;

my $node = PostgreSQL::Test::Cluster->new('cascade');
$NedbTest::node = $node;
$node->init;
$node->append_conf(
	'postgresql.conf', q{
restart_after_crash = on
fsync = on
synchronous_commit = on
full_page_writes = on
});
my $sealed = $ENV{NEDB_CASCADE_SEALED} // 0;
if ($sealed)
{
	my $tmk = PostgreSQL::Test::Utils::tempdir . '/tmk';
	PostgreSQL::Test::Utils::append_to_file($tmk, join('', map { chr(int(rand(256))) } 1 .. 32) . 'x');
	chmod 0600, $tmk;
	$node->append_conf('postgresql.conf', "nedb.tmk_file = '$tmk'\n");
}
$node->start;
q1('CREATE EXTENSION nedb');
q1('CREATE EXTENSION amcheck');

# deterministic contents: text of n lines with a tag, so versions share most
# chunks and differ locally
q1(q{
CREATE FUNCTION content(tag text, n int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT convert_to(string_agg(format('%s line %s %s', CASE WHEN i % 997 = 0 THEN tag ELSE '' END, i,
                                      md5((i % 251)::text)) || E'\n', '' ORDER BY i), 'UTF8')
    FROM generate_series(1, n) i $$});
q1('CREATE TABLE expected (name text, tier text, version int, md5 text)');

# committed versions: two files, two versions each, one also in cold
my @puts = (
	[ 'a.txt', 'warm', 'v0', 30000 ],
	[ 'a.txt', 'warm', 'v1', 30000 ],
	[ 'b.txt', 'warm', 'v0', 50000 ],
	[ 'a.txt', 'cold', 'v0', 30000 ],
	[ 'b.txt', 'warm', 'v1', 60000 ],);
for my $p (@puts)
{
	my ($name, $tier, $tag, $n) = @$p;
	q1(     "INSERT INTO expected SELECT '$name', '$tier', nedb.put_file('$name', content('$tag', $n), '$tier'),"
		  . " md5(content('$tag', $n))");
}
q1("SELECT nedb.put('docs', 'd' || i, jsonb_build_object('i', i)) FROM generate_series(1, 50) i");

sub check_files
{
	my ($label) = @_;
	is( q1(     "SELECT count(*) FILTER (WHERE md5(nedb.get_file(name, version, tier)) = md5) || '/' || count(*)"
			  . " FROM expected"),
		"5/5",
		"$label: every committed version reads back byte-exact");
	is(q1("SELECT count(*) FROM nedb.files"), 5, "$label: only the committed versions exist");
	is( q1(     "SELECT count(*) FROM nedb.chunks c WHERE NOT EXISTS (SELECT 1 FROM nedb.files f"
			  . " WHERE f.tier = c.tier AND position(c.id IN f.chunks) > 0)"),
		0, "$label: every stored chunk belongs to a committed version (no orphans)");
	is(q1("SELECT nedb.verify()"), 't', "$label: the chain verifies");
	is(q1("SELECT ok FROM nedb.verify_tree()"), 't', "$label: the log tree matches the log");
	is( q1(     "SELECT count(*) FILTER (WHERE nedb.verify_inclusion(nedb.proof(s), d.seq, d.root))"
			  . " = d.seq + 1 FROM nedb.digest() d, generate_series(0, d.seq) s GROUP BY d.seq"),
		't', "$label: every op's inclusion proof verifies against the digest");
	is( q1(     "SELECT count(*) FROM nedb.ops o LEFT JOIN nedb.files f ON f.seq = o.seq"
			  . " WHERE o.op = 'put_file' AND f.seq IS NULL"),
		0, "$label: every put_file op has its version");
	check_btree_indexes($label);
	if ($sealed)
	{
		is(q1("SELECT count(*) FILTER (WHERE codec >= 2) || '/' || count(*) FROM nedb.chunks"),
			q1("SELECT count(*) || '/' || count(*) FROM nedb.chunks"), "$label: every chunk is sealed");
		is(q1("SELECT count(*) FROM nedb.data_key"), 1, "$label: one data key, wrapped");
	}
}

check_files('before any crash');
my $digest_before = q1("SELECT seq || ' ' || root FROM nedb.digest()");

# start an upload in psql; returns the harness and its output
sub start_upload
{
	my ($sql) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
		'<' => \$in, '>' => \$out, '2>' => \$err);
	$in .= $sql;
	$h->pump_nb;
	return ($h, \$out);
}

sub wait_for
{
	my ($sql, $what) = @_;
	for (1 .. 600)
	{
		return if q1($sql) eq 't';
		usleep(50_000);
	}
	die "timed out waiting for $what";
}

# round 1: an upload that stored its chunks and logged its op (a new file
# sharing chunks with a.txt, and new versions of b.txt) then waits before
# COMMIT; another still chunking 20 MB in the cold tier
my ($h1, $out1) = start_upload(
	"BEGIN;\n"
	  . "SELECT nedb.put_file('c.txt', content('v0', 30000) || content('new', 40000));\n"
	  . "SELECT nedb.put_file('b.txt', content('v2', 60000));\n"
	  . "SELECT 'stored';\nSELECT pg_sleep(300);\nCOMMIT;\n");
my ($h2) = start_upload("SELECT nedb.put_file('huge.bin', content('huge', 300000), 'cold');\n");
wait_for(
	"SELECT count(*) = 2 FROM pg_stat_activity WHERE query LIKE '%nedb.put_file(''huge.bin''%'"
	  . " OR query LIKE '%pg_sleep(300)%'",
	'both uploads in flight');
for (1 .. 600)
{
	$h1->pump_nb;
	last if $$out1 =~ /stored/;
	usleep(50_000);
}
like($$out1, qr/stored/, 'the first upload stored its chunks and logged its ops');
is(q1("SELECT count(*) FROM nedb.files WHERE name IN ('c.txt', 'huge.bin') OR version > 1"),
	0, 'uncommitted versions are invisible to others');
is( q1(     "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
		  . " AND query LIKE '%nedb.put_file(''huge.bin''%'"),
	1, 'the second upload is still running');

# a machine crash: SIGKILL to the postmaster and every server process (a
# backend busy compressing would otherwise outlive its postmaster a while)
my @pids = split /\n/, q1('SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()');
note 'killing the postmaster and ' . scalar(@pids) . ' server processes';
$node->kill9;
kill 9, @pids;
$h1->kill_kill;
$h2->kill_kill;
for (1 .. 600)
{
	last unless grep { kill 0, $_ } @pids;
	usleep(50_000);
}
$node->start;
check_files('after kill -9 mid-upload');
is(q1("SELECT count(*) FROM nedb.file_versions('c.txt')"), 0, 'the stored but uncommitted file is gone');
is(q1("SELECT seq || ' ' || root FROM nedb.digest()"), $digest_before, 'the digest is the one before the uploads');

# round 2: an immediate shutdown while a single-statement upload is chunking
my ($h3) = start_upload("SELECT nedb.put_file('huge.bin', content('huge', 300000), 'cold');\n");
wait_for("SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%nedb.put_file(''huge.bin''%'",
	'the upload in flight');
usleep(500_000);
is( q1(     "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
		  . " AND query LIKE '%nedb.put_file(''huge.bin''%'"),
	1, 'the upload is still running');
$node->stop('immediate');
$h3->kill_kill;
$node->start;
check_files('after an immediate stop mid-upload');

# the same uploads again: they work, dedup against what survived, and read back
q1(     "INSERT INTO expected SELECT 'c.txt', 'warm', nedb.put_file('c.txt', content('v0', 30000) || content('new', 40000)),"
	  . " md5(content('v0', 30000) || content('new', 40000))");
is(q1("SELECT version FROM expected WHERE name = 'c.txt'"), 0, 'the re-uploaded file starts at version 0');
is( q1(     "SELECT md5(nedb.get_file('c.txt')) = md5(content('v0', 30000) || content('new', 40000))"),
	't', 'the re-uploaded file reads back exactly');
is(q1("SELECT nedb.file_root('c.txt') = nedb.chunk_root(content('v0', 30000) || content('new', 40000))"),
	't', 'its root is the chunker\'s root of the bytes');
q1("DELETE FROM expected WHERE name = 'c.txt'");
q1("SELECT nedb.put('docs', 'after', '{}')");
is(q1("SELECT ok FROM nedb.verify_tree()"), 't', 'the tree grows on after the crashes');
my ($seq, $root) = split / /, $digest_before;
is( q1(     "SELECT nedb.verify_consistency(nedb.consistency($seq), $seq, '$root', d.seq, d.root)"
		  . " FROM nedb.digest() d"),
	't', 'the log before the crashes is a prefix of the log after them');

# writers taking turns on the chain: every append after another backend's
# finds its cached frontier stale and reads it back from the tree
my @writers;
for my $w (1 .. 4)
{
	my ($h) = start_upload("DO \$\$ BEGIN FOR i IN 1..300 LOOP PERFORM nedb.put('w$w', i::text, '{}');"
		  . " COMMIT; END LOOP; END \$\$;\n"
		  . ($w == 1 ? "SELECT nedb.put_file('w.txt', content('w', 20000));\n" : ''));
	push @writers, $h;
}
$_->finish for @writers;
is(q1("SELECT count(*) FROM nedb.ops WHERE coll LIKE 'w_'"), 1200, 'four interleaved writers appended 1200 ops');
cmp_ok(
	q1(     "SELECT count(*) FROM (SELECT coll, lag(coll) OVER (ORDER BY seq) AS prev FROM nedb.ops"
		  . " WHERE coll LIKE 'w_') x WHERE coll <> prev"),
	'>', 50, 'the writers did take turns');
is(q1("SELECT ok FROM nedb.verify_tree()"), 't', 'the tree of interleaved writers matches the log');
is( q1(     "SELECT count(*) FILTER (WHERE nedb.verify_inclusion(nedb.proof(s), d.seq, d.root)) = d.seq + 1"
		  . " FROM nedb.digest() d, generate_series(0, d.seq) s GROUP BY d.seq"),
	't', 'every op\'s inclusion proof verifies after the interleaved writers');

$node->stop;
done_testing();
