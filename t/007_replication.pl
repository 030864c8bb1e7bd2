# Op-log replication between servers: A -> B -> C.
#
# B follows A and C follows B, each through its apply worker.  Covered:
# catch-up of an existing log (in several batches), live following under
# write load with a restart of B mid-stream, a restart of A, a cut connection
# (A stopped and started with nothing written), SIGHUP and SIGTERM of a
# worker, a tampered op on a primary (the replica stops before it, records
# the error and does not spin; subscribing again resumes), a body that
# hashes right but is not canonical, ops with kept bodies, a crash of the
# follower mid catch-up (nothing lost, nothing twice), a diverged chain,
# promotion by unsubscribe.  The idle poll is an hour long, so following
# within the waits below is the NOTIFY wake-up at work, not polling.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my %nodes;
for my $name (qw(a b c))
{
	my $node = PostgreSQL::Test::Cluster->new("repl_$name");
	$node->init;
	$node->append_conf(
		'postgresql.conf', q{
shared_preload_libraries = 'nedb'
nedb.replication_poll_interval = '1h'
nedb.replication_batch = 700
max_connections = 20
fsync = off
});
	# B keeps Cascade's chunks sealed under a master key of its own
	if ($name eq 'b')
	{
		my $tmk = PostgreSQL::Test::Utils::tempdir . '/tmk_b';
		PostgreSQL::Test::Utils::append_to_file($tmk, 'the master key of B alone, 0600');
		chmod 0600, $tmk;
		$node->append_conf('postgresql.conf', "nedb.tmk_file = '$tmk'\n");
	}
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION nedb');
	$nodes{$name} = $node;
}
my ($a, $b, $c) = @nodes{qw(a b c)};

sub sql
{
	my ($node, $sql, $db) = @_;
	return $node->safe_psql($db // 'postgres', $sql);
}

sub seq { return sql($_[0], 'SELECT nedb.seq()', $_[1]); }

# wait until $node's chain has the primary's seq and head
sub caught_up
{
	my ($node, $primary, $label, $db) = @_;
	my $want = sql($primary, q{SELECT nedb.seq() || '/' || nedb.head()}, $db);
	ok($node->poll_query_until($db // 'postgres', q{SELECT nedb.seq() || '/' || nedb.head()}, $want),
		"$label: " . $node->name . " reached seq/head $want");
}

sub worker_pid
{
	my ($node) = @_;
	return sql($node, 'SELECT coalesce(max(pid), 0) FROM nedb.subscriptions');
}

sub subscribe
{
	my ($node, $name, $primary, $db) = @_;
	$db //= 'postgres';
	sql($node, "SELECT nedb.subscribe('$name', \$c\$" . $primary->connstr($db) . "\$c\$)", $db);
}

# ---------------------------------------------------------------------------
# catch-up of an existing log: every kind of op, 3 batches of 700
# ---------------------------------------------------------------------------
sql($a, q{
SELECT count(nedb.put('docs', 'd' || i, jsonb_build_object('i', i, 'f', i / 7.0, 's', 'é' || i)))
  FROM generate_series(1, 1500) i;
SELECT count(nedb.delete('docs', 'd' || i)) FROM generate_series(1, 100) i;
-- keys written again: in the same batch and in later ones, after a delete
SELECT count(nedb.put('docs', 'd' || (i % 50), jsonb_build_object('again', i))) FROM generate_series(1, 300) i;
SELECT count(nedb.put('docs', 'd' || i, '{"back": true}')) FROM generate_series(1, 20) i;
SELECT count(nedb.link('docs:d' || i, 'next', 'docs:d' || (i + 1))) FROM generate_series(200, 260) i;
SELECT count(nedb.unlink('docs:d' || i, 'next', 'docs:d' || (i + 1))) FROM generate_series(200, 210) i;
SELECT nedb.put('facts', 'f1', '{"claim": "x"}', client => 'svc', nonce => 7, idem => 'req-1',
                caused_by => '{1,2}', evidence => 'inference', confidence => 0.5,
                valid_from => '2024-01-01', valid_to => '2024-12-31');
SELECT nedb.tx('[{"op": "put", "coll": "acct", "id": "a", "doc": {"bal": 60}},
                 {"op": "put", "coll": "acct", "id": "b", "doc": {"bal": 40}}]');
SELECT nedb.put('ttl', 't1', '{}', ttl => '1 hour');
SELECT nedb.put_file('log.txt', convert_to(string_agg('line ' || i, E'\n'), 'UTF8'))
  FROM generate_series(1, 30000) i;
SELECT nedb.put_file('log.txt', convert_to(string_agg('line ' || (i % 29999), E'\n'), 'UTF8'))
  FROM generate_series(1, 30000) i;
SELECT nedb.put_file('blob.bin', decode(repeat('00ff', 50000), 'hex'), 'cold');
});
my $n0 = seq($a);
cmp_ok($n0, '>', 1600, 'A has an existing log');

subscribe($b, 'from_a', $a);
caught_up($b, $a, 'catch-up');
is(sql($b, q{SELECT nedb.get('facts', 'f1') || jsonb_build_object('n', (SELECT count(*) FROM nedb.neighbors('docs:d220', 'next')))}),
	sql($a, q{SELECT nedb.get('facts', 'f1') || jsonb_build_object('n', (SELECT count(*) FROM nedb.neighbors('docs:d220', 'next')))}),
	'catch-up: documents and edges as on A');
is(sql($b, 'SELECT nedb.verify()'), 't', 'catch-up: B verifies');
# (a follower from an empty database skips the probe for keys it never wrote;
# f, a numeric of 20 digits, is a Python float in the hashed body and so on B)
my $versions = q{SELECT count(*) || ' ' || md5(string_agg(seq_from || ':' || coalesce(seq_to::text, '-') || ':' || coll
                                     || ':' || id || ':' || coalesce((doc - 'f')::text, '-'), ',' ORDER BY seq_from))
                   FROM nedb.versions};
is(sql($b, $versions), sql($a, $versions), 'catch-up: every version, open or closed, as on A');
my $files = q{SELECT string_agg(f.tier || ':' || f.version || ':' || f.size || ':' || f.root || ':'
                                || md5(nedb.get_file(n, f.version, f.tier)), ' ' ORDER BY n, f.tier, f.version)
                FROM unnest(ARRAY['log.txt', 'blob.bin']) n, nedb.file_versions(n) f};
is(sql($b, $files), sql($a, $files), 'catch-up: every file version reads back on B as on A');
is(sql($b, 'SELECT name, state, lag_ops, last_error IS NULL FROM nedb.subscriptions'),
	"from_a|streaming|0|t", 'catch-up: B streams with no lag and no error');

# the chain A -> B -> C: C follows B, which follows A
subscribe($c, 'from_b', $b);
caught_up($c, $a, 'chain');
is(sql($c, $versions), sql($a, $versions), 'chain: every version as on A');

# what a follower receives it stores under its own key: B (a master key of
# its own) seals every chunk, A and C (none) store them unsealed
my $sealed = q{SELECT count(*) FILTER (WHERE codec >= 2) || '/' || count(*) FROM nedb.chunks};
my $nchunks = sql($a, 'SELECT count(*) FROM nedb.chunks');
is(sql($a, $sealed), "0/$nchunks", 'A stores its chunks unsealed');
is(sql($b, $sealed), "$nchunks/$nchunks", 'B seals every chunk it receives under its own key');
is(sql($c, $sealed), "0/$nchunks", 'C, following B, stores them unsealed');
is(sql($c, $files), sql($a, $files), 'chain: every file version reads back on C as on A');

# a following database refuses local writes
my ($ret, $out, $err) = $b->psql('postgres', q{SELECT nedb.put('x', 'y', '{}')});
like($err, qr/cannot write to a NEDB database that follows another/, 'B refuses a local write');

# ---------------------------------------------------------------------------
# live following under write load; B restarts mid-stream
# ---------------------------------------------------------------------------
my $script = PostgreSQL::Test::Utils::tempdir . '/load.sql';
open my $fh, '>', $script or die;
print $fh q{\set k random(1, 500)
SELECT nedb.put('load', 'k' || :k, jsonb_build_object('k', :k, 'c', :client_id));
};
close $fh;
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '2', '-j', '2', '-T', '6', '-f', $script, '-d', $a->connstr('postgres') ],
	'>', \my $bench_out, '2>', \my $bench_err);
sleep 2;
my $mid = seq($b);
$b->restart;
sleep 1;
# a NOTIFY-woken worker keeps up with the load while it runs
my $during = seq($a);
ok($b->poll_query_until('postgres', "SELECT nedb.seq() >= $during"),
	'under load: B follows A after its restart');
$bench->finish;
like($bench_out, qr/number of transactions actually processed: \d+/, 'the load ran')
  or diag($bench_err);
cmp_ok(seq($a), '>', $mid, 'A wrote while B restarted');
caught_up($b, $a, 'after the load');
caught_up($c, $a, 'after the load');

# ---------------------------------------------------------------------------
# primary restart; connection cut (A down, nothing written, A up)
# ---------------------------------------------------------------------------
$a->restart;
sql($a, q{SELECT nedb.put('after', 'restart', '{}')});
caught_up($b, $a, 'A restarted');
caught_up($c, $a, 'A restarted');

$a->stop;
ok($b->poll_query_until('postgres',
		q{SELECT state = 'retrying' AND last_error LIKE '%primary%' FROM nedb.subscriptions}),
	'A down: B retries and shows the error');
$a->start;
ok($b->poll_query_until('postgres', q{SELECT state FROM nedb.subscriptions}, 'streaming'),
	'A up again: B reconnects with nothing written');
is(sql($b, 'SELECT last_error IS NULL FROM nedb.subscriptions'), 't', 'the error is cleared once connected');
sql($a, q{SELECT nedb.put('after', 'cut', '{}')});
caught_up($b, $a, 'after the cut');
caught_up($c, $a, 'after the cut');

# ---------------------------------------------------------------------------
# SIGHUP keeps the worker; SIGTERM ends it and the launcher starts it again
# ---------------------------------------------------------------------------
my $pid = worker_pid($b);
cmp_ok($pid, '>', 0, 'B has an apply worker');
$b->append_conf('postgresql.conf', 'nedb.replication_batch = 50');
$b->reload;
sql($a, q{SELECT count(nedb.put('hup', 'h' || i, '{}')) FROM generate_series(1, 120) i});
caught_up($b, $a, 'after SIGHUP');
is(worker_pid($b), $pid, 'SIGHUP: the same worker follows on');
sql($b, "SELECT pg_terminate_backend($pid)");
sql($a, q{SELECT nedb.put('after', 'sigterm', '{}')});
ok($b->poll_query_until('postgres', "SELECT pid IS NOT NULL AND pid <> $pid FROM nedb.subscriptions"),
	'SIGTERM: the launcher starts a new worker');
caught_up($b, $a, 'after SIGTERM');
caught_up($c, $a, 'after SIGTERM');

# ---------------------------------------------------------------------------
# every node has the same chain, and it verifies
# ---------------------------------------------------------------------------
my $head = sql($a, 'SELECT nedb.head()');
for my $node ($a, $b, $c)
{
	is(sql($node, q{SELECT nedb.head() || ' ' || nedb.verify()}), "$head true",
		$node->name . ': same head as A, verify() true');
}
is(sql($c, $files), sql($a, $files), 'C: the files as on A, through B');
is(sql($c, q{SELECT count(*) || ' ' || md5(string_agg(l, E'\n')) FROM nedb.export_aof() l}),
	sql($a, q{SELECT count(*) || ' ' || md5(string_agg(l, E'\n')) FROM nedb.export_aof() l}),
	'C: the same log as A, op for op');

# ---------------------------------------------------------------------------
# a tampered op on the primary (its own database, so A's chain stays good)
# ---------------------------------------------------------------------------
for my $node ($a, $b)
{
	sql($node, 'CREATE DATABASE tamper');
	sql($node, 'CREATE EXTENSION nedb', 'tamper');
}
sql($a, q{
SELECT count(nedb.put('t', 'k' || i, jsonb_build_object('i', i))) FROM generate_series(0, 19) i;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
UPDATE nedb.ops SET client = 'mallory' WHERE seq = 12;
}, 'tamper');
is(sql($a, 'SELECT first_bad_seq FROM nedb.verify_report()', 'tamper'), '12', 'A: op 12 is tampered');
subscribe($b, 'from_a', $a, 'tamper');
ok($b->poll_query_until('tamper', q{SELECT state FROM nedb.subscriptions}, 'error'),
	'tamper: B stops with state error');
like(sql($b, 'SELECT last_error FROM nedb.subscriptions', 'tamper'),
	qr/^hash mismatch at seq 12\b/, 'tamper: the error names the bad op');
is(sql($b, q{SELECT nedb.seq() || ' ' || nedb.verify()}, 'tamper'), '11 true',
	'tamper: B applied every op before the bad one and nothing from it on');
my $errors = () = slurp_file($b->logfile) =~ /hash mismatch at seq 12/g;
sleep 2;
is(sql($b, q{SELECT count(*) FROM pg_stat_activity WHERE datname = 'tamper' AND backend_type = 'nedb apply worker'}),
	'0', 'tamper: the worker is gone');
is(scalar(() = slurp_file($b->logfile) =~ /hash mismatch at seq 12/g), $errors,
	'tamper: the worker does not spin');
($ret, $out, $err) = $b->psql('tamper', q{SELECT nedb.put('x', 'y', '{}')});
like($err, qr/follows another/, 'tamper: B still refuses local writes');

# repaired on A, subscribing again resumes
sql($a, q{
UPDATE nedb.ops SET client = 'local' WHERE seq = 12;
ALTER TABLE nedb.ops ENABLE TRIGGER ops_append_only;
}, 'tamper');
subscribe($b, 'from_a', $a, 'tamper');
caught_up($b, $a, 'tamper repaired, subscribed again', 'tamper');
is(sql($b, 'SELECT nedb.verify()', 'tamper'), 't', 'tamper: B verifies');

# ---------------------------------------------------------------------------
# ops whose body is kept (imported with numbers jsonb cannot spell) follow
# with that body: the follower stores it as it came
# ---------------------------------------------------------------------------
for my $node ($a, $b)
{
	sql($node, 'CREATE DATABASE bodies');
	sql($node, 'CREATE EXTENSION nedb', 'bodies');
}
sql($a, q{SELECT nedb.import_aof(
'{"seq": 0, "client": "local", "nonce": 1, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "_id": "alice"}}, "ts": 1700000000.0, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd"}
{"seq": 1, "client": "local", "nonce": 2, "op": "delete", "payload": {"key": "users:alice", "coll": "users", "id": "alice"}, "ts": 1700000001.5, "idem": "k1", "prev_hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd", "hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19"}
{"seq": 2, "client": "local", "nonce": 3, "op": "put", "payload": {"key": "m:x", "coll": "m", "id": "x", "doc": {"big": 1e+16, "small": 2.0, "int": 10000000000000000, "_id": "x"}}, "ts": 1700000005.0, "idem": null, "prev_hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19", "hash": "8addc7d7a7b7d53310ed56a1b22b17cddc5be19c342ebb8602b739cd9abca137"}');
SELECT nedb.put('m', 'y', '{"after": true}');}, 'bodies');
subscribe($b, 'from_a', $a, 'bodies');
caught_up($b, $a, 'kept bodies', 'bodies');
my $kept = q{SELECT string_agg(seq || ':' || md5(body), ' ' ORDER BY seq) FROM nedb.ops WHERE body IS NOT NULL};
is(sql($b, $kept, 'bodies'), sql($a, $kept, 'bodies'), 'kept bodies: B keeps the same body beside the same op');
like(sql($b, $kept, 'bodies'), qr/^2:/, 'kept bodies: the op with unspellable numbers has its body');
is(sql($b, q{SELECT nedb.verify() || ' ' || (nedb.get('m', 'x') -> 'big')}, 'bodies'), 'true 10000000000000000',
	'kept bodies: B verifies');

# ---------------------------------------------------------------------------
# a body that hashes right but is not canonical (another spelling of the
# op's fields) is refused: a hash is over one spelling per op
# ---------------------------------------------------------------------------
for my $node ($a, $b)
{
	sql($node, 'CREATE DATABASE forged');
	sql($node, 'CREATE EXTENSION nedb', 'forged');
}
sql($a, q{SELECT count(nedb.put('f', 'k' || i, jsonb_build_object('i', i))) FROM generate_series(0, 9) i}, 'forged');
my $prev4 = sql($a, q{SELECT encode(hash, 'hex') FROM nedb.ops WHERE seq = 4}, 'forged');
my $body5 = sql($a, q{SELECT replace(nedb.op_body(5), ',"nonce":', ', "nonce":')}, 'forged');
like($body5, qr/, "nonce":/, 'forged: a body of op 5 spelled with a space');
# the hash a forger computes over it: BLAKE2b-256(prev hex || body)
my $forged_hash;
IPC::Run::run([ 'python3', '-c',
		'import hashlib, sys; print(hashlib.blake2b(sys.stdin.buffer.read(), digest_size=32).hexdigest())' ],
	'<', \($prev4 . $body5), '>', \$forged_hash)
  or die 'python3 could not hash';
chomp $forged_hash;
sql($a, qq{
CREATE FUNCTION public.real_bodies(bigint, bigint) RETURNS TABLE (seq bigint, hash text, body text)
    AS '\$libdir/nedb', 'nedb_export_bodies' LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION nedb.export_bodies(since bigint, max bigint)
    RETURNS TABLE (seq bigint, hash text, body text) LANGUAGE sql STABLE
    AS \$f\$ SELECT b.seq, CASE WHEN b.seq = 5 THEN '$forged_hash' ELSE b.hash END,
                  CASE WHEN b.seq = 5 THEN \$b\$$body5\$b\$ ELSE b.body END
             FROM public.real_bodies(since, max) b \$f\$;
}, 'forged');
subscribe($b, 'from_a', $a, 'forged');
ok($b->poll_query_until('forged', q{SELECT state FROM nedb.subscriptions}, 'error'),
	'forged: B stops with state error');
like(sql($b, 'SELECT last_error FROM nedb.subscriptions', 'forged'),
	qr/^the body of seq 5 is not canonical/, 'forged: the error names the op and why');
is(sql($b, q{SELECT nedb.seq() || ' ' || nedb.verify()}, 'forged'), '4 true',
	'forged: B applied every op before it and nothing from it on');

# ---------------------------------------------------------------------------
# B crashes mid catch-up (immediate stop while it applies batches): it
# resumes from its durable head, loses nothing and applies nothing twice
# ---------------------------------------------------------------------------
for my $node ($a, $b)
{
	sql($node, 'CREATE DATABASE crash');
	sql($node, 'CREATE EXTENSION nedb', 'crash');
}
# (enough ops that the stop lands mid catch-up: B applies some 50k a second)
my $crash_n = 100000;
sql($a, qq{SELECT count(nedb.put('c', 'k' || i, jsonb_build_object('i', i, 'pad', repeat('p', 200))))
            FROM generate_series(1, $crash_n) i}, 'crash');
subscribe($b, 'from_a', $a, 'crash');
ok($b->poll_query_until('crash', q{SELECT nedb.seq() >= 2000}), 'crash: B is catching up');
my $at_crash = seq($b, 'crash');
$b->stop('immediate');
$b->start;
cmp_ok(seq($b, 'crash'), '<', $crash_n - 1, 'crash: B stopped before it had everything');
caught_up($b, $a, 'after the crash', 'crash');
is(sql($b, q{SELECT count(*) || ' ' || count(DISTINCT seq) || ' ' || max(seq) || ' ' || nedb.verify() FROM nedb.ops}, 'crash'),
	"$crash_n $crash_n @{[$crash_n - 1]} true", 'crash: every op once, the chain verifies');
is(sql($b, q{SELECT count(*) FROM nedb.versions WHERE coll = 'c'}, 'crash'), $crash_n,
	'crash: one version per put');
note("B had applied up to seq $at_crash when it crashed");

# ---------------------------------------------------------------------------
# promotion: C stops following and continues the chain
# ---------------------------------------------------------------------------
my $last = seq($a);
sql($c, q{SELECT nedb.unsubscribe('from_b')});
is(sql($c, 'SELECT count(*) FROM nedb.subscriptions'), '0', 'promotion: C has no subscription');
is(sql($c, q{SELECT nedb.put('mine', 'c1', '{}') ->> '_seq'}), $last + 1, 'promotion: C continues the chain');
is(sql($c, 'SELECT nedb.verify()'), 't', 'promotion: C verifies');

# C's chain has left A's: following B again is refused as diverged
sql($a, q{SELECT count(nedb.put('more', 'm' || i, '{}')) FROM generate_series(1, 3) i});
caught_up($b, $a, 'A moves on');
subscribe($c, 'from_b', $b);
ok($c->poll_query_until('postgres', q{SELECT state FROM nedb.subscriptions}, 'error'),
	'diverged: C stops with state error');
like(sql($c, 'SELECT last_error FROM nedb.subscriptions'), qr/diverged from the primary's at seq \d+/,
	'diverged: the error says so');
is(sql($c, q{SELECT nedb.seq() || ' ' || nedb.verify()}), ($last + 1) . ' true', 'diverged: C applied nothing');

# without the library preloaded: the subscription still refuses writes,
# unsubscribe works, subscribe says what is missing
$c->stop;
$c->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$c->start;
($ret, $out, $err) = $c->psql('postgres', q{SELECT nedb.put('x', 'y', '{}')});
like($err, qr/follows another/, 'not preloaded: C still refuses local writes');
sql($c, q{SELECT nedb.unsubscribe('from_b')});
($ret, $out, $err) = $c->psql('postgres', q{SELECT nedb.subscribe('again', 'dbname=postgres')});
like($err, qr/needs the nedb library loaded at server start/, 'not preloaded: subscribe says so');

$_->stop for ($a, $b, $c);
done_testing();
