# nedb.sorted_check while the index changes.
#
# sorted_check takes AccessShareLock on the table and the index (as
# amcheck's bt_index_check) and the index's structure lock one parent at a
# time, so:
#
# 1. Writers are not blocked by the walk: while a session checks the
#    collection's sorted index in a loop, single nedb.put calls commit, and
#    none of them waits for a lock on a relation (log_lock_waits with a
#    10 ms deadlock_timeout would log it: with the ShareLock sorted_check
#    used to take, every put that arrived during a walk waited for it).
# 2. The check stays right while the tree changes under it: writers split
#    pages all over the tree, a queue appends at the right end and prunes
#    the left, VACUUM deletes and recycles emptied leaves, and sorted_check
#    in a loop must never report corruption; once quiet, it counts exactly
#    the table's rows.

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

my $node = PostgreSQL::Test::Cluster->new('sorted_check_online');
$NedbTest::node = $node;
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'nedb'
autovacuum = off
log_lock_waits = on
deadlock_timeout = '10ms'
max_connections = 20
});
$node->start;
q1(q{CREATE EXTENSION nedb});
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

sub psql_bg
{
	my ($file, $err) = @_;
	return IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', '/dev/null', '2>', $err);
}

# ---------------------------------------------------------------------------
# 1. puts commit while sorted_check walks the collection's index
# ---------------------------------------------------------------------------
q1(q{SELECT nedb.create_index('c', 'h', 'sorted')});
for my $b (0 .. 7)
{
	q1("SELECT count(nedb.put('c', 'k' || g, jsonb_build_object('h', g, 'pad', repeat('x', 50))))"
		  . " FROM generate_series($b * 10000 + 1, ($b + 1) * 10000) g");
}
my $cidx = q1(q{SELECT 'nedb.' || index_name FROM nedb.indexes WHERE coll = 'c'});
q1(q{CREATE SEQUENCE checks});
q1(q{CREATE TABLE done (n bigint)});
is(q1("SELECT nedb.sorted_check('$cidx')"), '80000', 'the collection index holds its 80000 versions');

my $loop_err = "$scratch/loop.err";
my $loop = psql_bg(
	script('loop', sub {
		"SELECT nedb.sorted_check('$cidx'), nextval('checks');\n"
	}, 100000),
	$loop_err);
# wait for the loop's first checks
my $t0 = time;
usleep(50_000) while q1(q{SELECT last_value FROM checks}) < 2 && time - $t0 < 60;
my $log_from = -s $node->logfile;
my $checks_before = q1(q{SELECT last_value FROM checks});
# batches of single puts, at least 200 and until the loop has finished three more checks
# (so the puts overlapped whole walks, however fast either side runs)
my ($puts, $failed, $returned) = (0, 0, 0);
while ($puts < 20000)
{
	my ($ret, $out, $err) = $node->psql(
		'postgres',
		"SET lock_timeout = '5s';\n"
		  . join('', map { my $i = $puts + $_; "SELECT nedb.put('p', 'd$i', '{\"v\": $i}') IS NOT NULL;\n" } 1 .. 20),
		on_error_stop => 1);
	$failed++ if $ret != 0;
	$returned += () = $out =~ /^t$/mg;
	$puts += 20;
	last if $puts >= 200 && q1(q{SELECT last_value FROM checks}) >= $checks_before + 3;
}
is($failed, 0, "$puts single puts commit while sorted_check runs in a loop");
is($returned, $puts, 'every put returned its document');
my $checks_after = q1(q{SELECT last_value FROM checks});
ok($checks_after >= $checks_before + 3, "the checks went on meanwhile ($checks_before -> $checks_after)");
my $log = substr(slurp_file($node->logfile), $log_from);
my @waits = grep { /still waiting for \w+ on relation/ } split /\n/, $log;
is(scalar(@waits), 0, 'no put waited for a relation lock') or diag(join("\n", @waits[0 .. ($#waits < 4 ? $#waits : 4)]));
$loop->kill_kill;
$loop->finish;
$t0 = time;
usleep(100_000)
  while q1(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()}) > 0
  && time - $t0 < 60;
is(slurp_file($loop_err), '', 'the checks in the loop found nothing wrong');

# ---------------------------------------------------------------------------
# 2. the check under splits, page deletion and recycling
# ---------------------------------------------------------------------------
# keys in [0, 100000): each writer inserts 40 random keys and deletes a
# random range of about as many, so the table stays near its size while
# pages split and empty everywhere
q1(q{CREATE TABLE s (k int8, d jsonb)});
q1(q{INSERT INTO s SELECT (random() * 1e5)::int8, jsonb_build_object('v', random() * 1e6)
       FROM generate_series(1, 30000)});
q1(q{CREATE INDEX s_k ON s USING nedb_sorted (k)});
q1(q{CREATE INDEX s_v ON s USING nedb_sorted ((d -> 'v'))});
q1(q{CREATE SEQUENCE band START 2000000});
my @h;
for my $w (1 .. 2)
{
	push @h, psql_bg(
		script("ins$w", sub {
			my $lo = int(rand(100000));
			"INSERT INTO s SELECT (random() * 1e5)::int8, jsonb_build_object('v', random() * 1e6)"
			  . " FROM generate_series(1, 40);\n"
			  . "DELETE FROM s WHERE k BETWEEN $lo AND $lo + 130;\n";
		}, 20000),
		'/dev/null');
}
# a queue above 2e6: appended at its right end, pruned from its left
push @h, psql_bg(
	script('queue', sub {
		"INSERT INTO s SELECT nextval('band'), '{}' FROM generate_series(1, 200);\n"
		  . "DELETE FROM s WHERE k >= 2000000 AND k < (SELECT last_value FROM band) - 2000;\n"
	}, 20000),
	'/dev/null');
push @h, psql_bg(
	script('vac', sub { "VACUUM s;\nSELECT pg_sleep(0.2);\n" }, 20000),
	'/dev/null');
my $chk_err = "$scratch/chk.err";
q1(q{CREATE SEQUENCE online_checks});
my $chk = psql_bg(
	script('chk', sub {
		"SELECT nedb.sorted_check('s_k'), nedb.sorted_check('s_v'), nextval('online_checks');\n"
	}, 100),
	$chk_err);
$chk->finish;
my $pages = q1(q{SELECT deleted_pages + free_pages FROM nedb.sorted_stats('s_k')});
$_->kill_kill for @h;
$_->finish for @h;
is(slurp_file($chk_err), '', 'sorted_check never reported a fault while the tree changed');
is(q1(q{SELECT last_value FROM online_checks}), '100', 'all 100 rounds of checks ran');
ok($pages > 0, "pages were deleted or recycled meanwhile ($pages)");
# the killed clients' backends go away, and with them their snapshots
my $t1 = time;
usleep(100_000)
  while q1(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()}) > 0
  && time - $t1 < 60;
q1(q{VACUUM (INDEX_CLEANUP on) s});
my $rows = q1(q{SELECT count(*) FROM s});
is(q1(q{SELECT nedb.sorted_check('s_k')}), $rows, 'once quiet, s_k holds exactly the rows');
is(q1(q{SELECT nedb.sorted_check('s_v')}), $rows, 'once quiet, s_v holds exactly the rows');

$node->stop;
done_testing();
