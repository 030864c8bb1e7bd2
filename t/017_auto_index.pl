# Automatic indexes and builds that do not hold up writers
# (shared_preload_libraries = 'nedb', nedb.auto_index set per database).
#
# A query run five times on a field without an index has the index builder
# build it (CREATE INDEX CONCURRENTLY), record it in nedb.indexes as
# automatic and log it; nedb.explain then uses it.  While the build is in
# progress (kept in its "waiting for old snapshots" phase by a transaction
# that holds an old snapshot, so the test needs no timing), puts to the
# same collection go on committing, and the index has them when it is
# valid.  nedb.create_index(..., concurrently => true) shows its phase in
# nedb.index_builds; a build cancelled mid-way and one cut off by an
# immediate restart leave no INVALID index and record nothing; without
# shared_preload_libraries concurrently => true is refused with a hint.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use NedbTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('autoindex');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'nedb'
fsync = off
});
$node->start;
$NedbTest::node = $node;

$node->safe_psql('postgres', q{
CREATE EXTENSION nedb;
ALTER DATABASE postgres SET nedb.auto_index = on;
ALTER DATABASE postgres SET nedb.auto_index_min_docs = 1000;
});
# 20000 orders: n is unique, cust has 200 values
$node->safe_psql('postgres', q{
SELECT count(*) FROM (SELECT nedb.put('orders', 'o' || i,
    jsonb_build_object('n', i, 'cust', 'c' || (i % 200), 'amt', i % 97))
  FROM generate_series(1, 20000) i) x;
});

# poll a query until it returns what we want (at most the default timeout)
sub wait_for
{
	my ($sql, $want, $what) = @_;
	my $got;
	for (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
	{
		$got = q1($sql);
		return 1 if $got eq $want;
		usleep(100_000);
	}
	diag("$what: last result '$got'");
	return 0;
}

# a session holding a snapshot: CREATE INDEX CONCURRENTLY waits for it in
# its last phase, with the index built and every put going into it
sub hold_snapshot
{
	my $h = $node->background_psql('postgres');
	$h->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$h->query_safe('SELECT count(*) FROM nedb.ops');
	return $h;
}

# ---------------------------------------------------------------------------
# A query five times: the index appears
# ---------------------------------------------------------------------------
my $holder = hold_snapshot();
my $top = q{SELECT nql ->> 'n' FROM nql('FROM orders ORDER BY n DESC LIMIT 1')};
for my $i (1 .. 4)
{
	is(q1($top), '20000', "query $i answers");
}
is(q1(q{SELECT misses || ' ' || state FROM nedb.index_candidates WHERE coll = 'orders' AND field = 'n'}),
	'4 counting', 'four misses counted, below the threshold');
is(q1(q{SELECT count(*) FROM nedb.index_builds}), '0', 'no build yet');
is(q1($top), '20000', 'query 5 answers');

ok( wait_for(
		q{SELECT state || ' ' || coalesce(phase, '') FROM nedb.index_builds WHERE field = 'n'},
		'building waiting for old snapshots', 'automatic build in progress'),
	'the fifth query started the build; it is in progress');
my $builder = q1(q{SELECT pid FROM nedb.index_builds WHERE field = 'n'});
is(q1(qq{SELECT count(*) FROM pg_stat_progress_create_index WHERE pid = $builder AND command = 'CREATE INDEX CONCURRENTLY'}),
	'1', 'the builder runs CREATE INDEX CONCURRENTLY');

# puts go on committing while the build is in progress (a plain CREATE INDEX
# would hold every one of them up until it ended)
my $seq_before = q1('SELECT nedb.seq()');
for my $k (1 .. 20)
{
	q1(qq{SET statement_timeout = '20s';
		SELECT nedb.put('orders', 'new$k', jsonb_build_object('n', 100000 + $k, 'cust', 'new'))});
}
is(q1('SELECT nedb.seq()'), $seq_before + 20, 'twenty puts committed during the build');
is(q1(qq{SELECT count(*) FROM pg_stat_progress_create_index WHERE pid = $builder}),
	'1', 'and the build was still in progress after them');
is(q1(q{SELECT state FROM nedb.index_builds WHERE field = 'n'}), 'building', 'the view says building');
is(q1(q{SELECT count(*) FROM nedb.indexes WHERE field = 'n'}), '0', 'not recorded before it is valid');

$holder->query_safe('COMMIT');
$holder->quit;
ok(wait_for(q{SELECT state FROM nedb.index_builds WHERE field = 'n'}, 'built', 'automatic build'),
	'the build ends once the old snapshot is gone');
is(q1(q{SELECT auto FROM nedb.indexes WHERE coll = 'orders' AND field = 'n' AND kind = 'sorted'}),
	't', 'recorded in nedb.indexes as automatic');
my $name = q1(q{SELECT index_name FROM nedb.indexes WHERE field = 'n'});
is(q1(qq{SELECT indisvalid FROM pg_index WHERE indexrelid = 'nedb.$name'::regclass}), 't', 'and valid');
like(q1(q{SELECT string_agg(l, E'\n') FROM nedb.explain('FROM orders ORDER BY n DESC LIMIT 1') l}),
	qr/Index Scan Backward using \Q$name\E/, 'nedb.explain uses it');
is(q1($top), '100020', 'through it, the query sees the puts made during the build');
is(q1(q{SELECT string_agg(nql ->> 'n', ',') FROM nql('FROM orders WHERE n > 100015 ORDER BY n')}),
	'100016,100017,100018,100019,100020', 'every one of them');
is(q1(q{SELECT state || ' ' || misses FROM nedb.index_candidates WHERE field = 'n'}), 'built 5',
	'index_candidates says built');
ok($node->log_contains(qr/nedb index builder built the automatic sorted index \Q$name\E on orders\.n in database "postgres"/),
	'the build is logged');
is(q1(q{SELECT count(*) FROM pg_index WHERE indrelid = 'nedb.versions'::regclass AND NOT indisvalid}),
	'0', 'no invalid index');

# ---------------------------------------------------------------------------
# create_index(concurrently => true): progress in the view, then built
# ---------------------------------------------------------------------------
$holder = hold_snapshot();
q1(q{SELECT nedb.create_index('orders', 'cust', 'eq', concurrently => true)});
ok( wait_for(
		q{SELECT state || ' ' || phase || ' ' || (blocks_total > 0) FROM nedb.index_builds WHERE field = 'cust'},
		'building waiting for old snapshots true', 'manual build in progress'),
	'a requested build shows its phase and progress');
q1(q{SET statement_timeout = '20s'; SELECT nedb.put('orders', 'during', '{"n": 0, "cust": "during"}')});
$holder->query_safe('COMMIT');
$holder->quit;
ok(wait_for(q{SELECT state FROM nedb.index_builds WHERE field = 'cust'}, 'built', 'manual build'),
	'the requested build ends');
is(q1(q{SELECT auto FROM nedb.indexes WHERE field = 'cust'}), 'f', 'recorded, not automatic');
like(q1(q{SELECT string_agg(l, E'\n') FROM nedb.explain('FROM orders WHERE cust = "during"') l}),
	qr/nedb_eq_orders_cust_/, 'nedb.explain uses it');
is(q1(q{SELECT string_agg(nql ->> '_id', ',') FROM nql('FROM orders WHERE cust = "during"')}), 'during',
	'and it has the put made during the build');

# ---------------------------------------------------------------------------
# A build cancelled mid-way: its INVALID index dropped, the error reported
# ---------------------------------------------------------------------------
$holder = hold_snapshot();
q1(q{SELECT nedb.create_index('orders', 'amt', 'sorted', concurrently => true)});
ok( wait_for(
		q{SELECT state || ' ' || phase FROM nedb.index_builds WHERE field = 'amt'},
		'building waiting for old snapshots', 'build to cancel'),
	'a build to cancel is in progress');
$name = q1(q{SELECT index_name FROM nedb.index_builds WHERE field = 'amt'});
is(q1(qq{SELECT indisvalid FROM pg_index WHERE indexrelid = 'nedb.$name'::regclass}), 'f',
	'its index is not valid yet');
q1(q{SELECT pg_cancel_backend(pid) FROM nedb.index_builds WHERE field = 'amt'});
ok(wait_for(q{SELECT state FROM nedb.index_builds WHERE field = 'amt'}, 'failed', 'cancelled build'),
	'the cancelled build failed');
$holder->query_safe('COMMIT');
$holder->quit;
like(q1(q{SELECT error FROM nedb.index_builds WHERE field = 'amt'}), qr/canceling statement due to user request/,
	'the view has the error');
ok(wait_for(qq{SELECT count(*) FROM pg_class WHERE relname = '$name'}, '0', 'invalid index dropped'),
	'the INVALID index is dropped');
is(q1(q{SELECT count(*) FROM nedb.indexes WHERE field = 'amt'}), '0', 'nothing recorded');
ok($node->log_contains(qr/the sorted index on orders\.amt failed: canceling statement/), 'the failure is logged');

# ---------------------------------------------------------------------------
# A build cut off by an immediate restart: dropped and failed at start
# ---------------------------------------------------------------------------
$holder = hold_snapshot();
q1(q{SELECT nedb.create_index('orders', 'amt', 'eq', concurrently => true)});
ok( wait_for(
		q{SELECT state || ' ' || phase FROM nedb.index_builds WHERE field = 'amt' AND kind = 'eq'},
		'building waiting for old snapshots', 'build to cut off'),
	'a build to cut off is in progress');
$name = q1(q{SELECT index_name FROM nedb.index_builds WHERE field = 'amt' AND kind = 'eq'});
$node->stop('immediate');
eval { $holder->quit };
$node->start;
ok( wait_for(
		q{SELECT state FROM nedb.index_builds WHERE field = 'amt' AND kind = 'eq'},
		'failed', 'interrupted build'),
	'after the restart the cut-off build is failed');
like(q1(q{SELECT error FROM nedb.index_builds WHERE field = 'amt' AND kind = 'eq'}), qr/^interrupted/,
	'as interrupted');
is(q1(qq{SELECT count(*) FROM pg_class WHERE relname = '$name'}), '0', 'its INVALID index is dropped');
is(q1(q{SELECT count(*) FROM nedb.indexes WHERE field = 'amt'}), '0', 'nothing recorded');
# and asking again builds it
q1(q{SELECT nedb.create_index('orders', 'amt', 'eq', concurrently => true)});
ok(wait_for(q{SELECT count(*) FROM nedb.indexes WHERE field = 'amt' AND kind = 'eq'}, '1', 'rebuilt'),
	'a new request builds it');

# ---------------------------------------------------------------------------
# Without shared_preload_libraries: refused, with the way out
# ---------------------------------------------------------------------------
$node->stop;
my $plain = PostgreSQL::Test::Cluster->new('noload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', q{CREATE EXTENSION nedb; SELECT nedb.put('c', 'a', '{"x": 1}')});
my ($ret, $out, $err) = $plain->psql('postgres',
	q{SELECT nedb.create_index('c', 'x', 'eq', concurrently => true)});
isnt($ret, 0, 'concurrently => true fails without shared_preload_libraries');
like($err, qr/needs nedb in shared_preload_libraries/, 'saying why');
like($err, qr/HINT:  Add nedb to shared_preload_libraries/, 'with a hint');
is($plain->safe_psql('postgres', q{SELECT count(*) FROM nedb.index_build_log}), '0', 'nothing queued');
$plain->safe_psql('postgres', q{SELECT nedb.create_index('c', 'x', 'eq')});
is($plain->safe_psql('postgres', q{SELECT count(*) FROM nedb.indexes}), '1', 'a plain build still works');
$plain->stop;

done_testing();
