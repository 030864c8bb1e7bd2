# Tracked tables (README: Tracked tables) under crashes and across
# pg_dump/pg_restore.
#
#  - Four pgbench clients write one tracked table (single-row upserts and
#    updates in transaction blocks, whose puts are staged for COMMIT;
#    autocommit deletes; 21-row INSERT ... ON CONFLICT DO UPDATE statements)
#    while the server crashes: a writer backend killed with SIGKILL (the
#    postmaster reinitializes, restart_after_crash) and an immediate
#    shutdown.  After each restart the table and the chain agree
#    (nedb.verify_table: every row's document is its collection's current
#    one, no other document is current), the chain verifies, and the
#    writers committed something in the round.
#  - pg_dump -Fc of the database and pg_restore into an empty one: the
#    restored table is still tracked (nedb.tracked and its triggers come
#    back), agrees with its chain, answers table_as_of as the source did,
#    and its next writes are chained.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('track');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
restart_after_crash = on
fsync = on
synchronous_commit = on
max_connections = 20
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION nedb;
CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int NOT NULL,
                     placed timestamptz NOT NULL DEFAULT now());
INSERT INTO orders (id, item, qty) SELECT g, 'item ' || g, g % 10 FROM generate_series(1, 2000) g;
SELECT nedb.track('orders');
});

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $script = "$tmp/writers.pgb";
PostgreSQL::Test::Utils::append_to_file(
	$script, q{
\set id random(1, 3000)
\set q random(1, 100)
BEGIN;
INSERT INTO orders (id, item, qty) VALUES (:id, 'upserted', :q)
    ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty, item = EXCLUDED.item;
UPDATE orders SET qty = qty + 1 WHERE id = :id;
END;
DELETE FROM orders WHERE id = (:id * 7) % 3000 + 1;
INSERT INTO orders (id, item, qty) SELECT g, 'bulk', :q FROM generate_series(:id, :id + 20) g
    ON CONFLICT (id) DO UPDATE SET qty = orders.qty + 1;
});

my $agree = q{SELECT ok || ' ' || coalesce(first_bad_id, '-') || ' ' || coalesce(detail, '-')
                FROM nedb.verify_table('orders')};
is($node->safe_psql('postgres', $agree), 'true - -', 'after track: the table and the chain agree');

# wait for a reinitializing server to answer (psql meeting it half-way can
# fail with a broken pipe, which poll_query_until does not survive)
sub server_back
{
	for my $try (1 .. 40)
	{
		my $ok = eval { $node->poll_query_until('postgres', 'SELECT 1', '1') };
		return 1 if $ok;
		usleep(250_000);
	}
	return 0;
}

for my $mode ('kill9-backend', 'immediate', 'kill9-backend')
{
	my $label = "crash by $mode";
	my $seq0 = $node->safe_psql('postgres', 'SELECT nedb.seq()');
	my ($out, $err) = ('', '');
	my $bench = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '4', '-j', '4', '-T', '120', '-f', $script,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err);
	# let the writers get going: some commits in the chain past seq0
	$node->poll_query_until('postgres', "SELECT nedb.seq() > $seq0 + 500")
	  or die "$label: the writers made no progress: $err";
	usleep(200_000 + int(rand(500_000)));

	if ($mode eq 'immediate')
	{
		$node->stop('immediate');
		$bench->finish;
		$node->start;
	}
	else
	{
		my $victim = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
			  . " AND query LIKE '%orders%' ORDER BY random() LIMIT 1");
		ok($victim =~ /^\d+$/, "$label: a writer backend to kill");
		my $offset = -s $node->logfile;
		kill 'KILL', $victim;
		$bench->finish;
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
		server_back() or die "$label: the server did not come back";
	}
	note "$label: pgbench: $err";
	unlike($err, qr/\bERROR:/, "$label: the writers met no SQL error before the crash");

	my $seq1 = $node->safe_psql('postgres', 'SELECT nedb.seq()');
	cmp_ok($seq1, '>', $seq0 + 500, "$label: the writers' commits are in the chain");
	is($node->safe_psql('postgres', $agree), 'true - -', "$label: after restart the table and the chain agree");
	is($node->safe_psql('postgres', 'SELECT nedb.verify()'), 't', "$label: the chain verifies");
	is( $node->safe_psql('postgres',
			q{SELECT (SELECT count(*) FROM orders) = (SELECT count(*) FROM nql('FROM orders'))}),
		't', "$label: as many current documents as rows");
}

# no server process failed by itself
my @bad = grep { /terminated by (?:signal (?!9:)|exception)|PANIC|TRAP:/ }
  split /\n/, slurp_file($node->logfile);
is(scalar(@bad), 0, 'the only crashes are the ones the test caused') or diag join("\n", @bad[0 .. 4]);

# --- pg_dump / pg_restore -------------------------------------------------
my $mid = $node->safe_psql('postgres', 'SELECT nedb.seq()');
$node->safe_psql('postgres', q{UPDATE orders SET qty = -1 WHERE id <= 10});
my $as_of = qq{SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) || ' ' || count(*)
                 FROM nedb.table_as_of(NULL::orders, $mid) o};
my $src_as_of = $node->safe_psql('postgres', $as_of);
my $src_now = $node->safe_psql('postgres', q{SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o});
my $dump = "$tmp/track.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'postgres' ], 'pg_dump of a database with a tracked table');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', $dump ], 'pg_restore into an empty database');

sub rq { return $node->safe_psql('restored', $_[0]); }
is(rq(q{SELECT relid::text || ' ' || coll || ' ' || key::text FROM nedb.tracked}),
	'orders orders {id}', 'restored: nedb.tracked names the table');
is(rq(q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'orders'::regclass}),
	$node->safe_psql('postgres',
		q{SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'orders'::regclass}),
	'restored: the tracking triggers are back');
is(rq($agree), 'true - -', 'restored: the table and the chain agree');
is(rq('SELECT nedb.verify()'), 't', 'restored: the chain verifies');
is(rq($as_of), $src_as_of, 'restored: table_as_of answers as the source did');
is(rq(q{SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o}), $src_now, 'restored: the same rows');
my $rseq = rq('SELECT nedb.seq()');
# rows the writers left (they delete at random, so ids 11 and 12 may be gone)
my $upd = rq('SELECT min(id) FROM orders WHERE id > 10');
my $del = rq("SELECT min(id) FROM orders WHERE id > $upd");
rq(qq{INSERT INTO orders (id, item, qty) VALUES (100000, 'after restore', 1);
     UPDATE orders SET qty = 7 WHERE id = $upd;
     DELETE FROM orders WHERE id = $del});
is(rq(qq{SELECT string_agg(op || ':' || id, ',' ORDER BY seq) FROM nedb.ops WHERE seq > $rseq}),
	"put:100000,put:$upd,delete:$del", 'restored: later writes are chained');
is(rq($agree), 'true - -', 'restored: and the table and the chain still agree');
is($node->safe_psql('postgres', "SELECT count(*) FROM orders WHERE id = 100000"), '0',
	'the source database is untouched by the restored one');

$node->stop;
done_testing();
