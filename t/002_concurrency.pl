# Concurrent writers on one NEDB chain.
#
# Phase 1: four psql clients run 200 scripted transactions each: autocommit
# puts, ROLLBACKs, ROLLBACK TO SAVEPOINT, errors trapped in PL/pgSQL
# exception blocks, explicit and automatic nonces (one client name shared by
# all writers), idempotency keys (own and shared between writers), deletes,
# nedb.tx batches with links, and refused nonce replays.  The expected log is
# computed exactly while the scripts are generated.
# Phase 2: pgbench, explicit nonces, every 5th transaction rolled back.
# Phase 3: deterministic two-session checks: nonce replay (SQLSTATE 23505),
# duplicate idem keys, a rolled-back writer's seq/nonce/idem reused by the
# next one, writers blocking on the chain lock, REPEATABLE READ conflicts.

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

my $NW = 4;      # writers
my $NT = 200;    # transactions per writer

my $node = PostgreSQL::Test::Cluster->new('conc');
$NedbTest::node = $node;
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_connections = 20
log_statement = none
# a crashing backend must fail the checks below, not abort the whole run
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nedb');
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');


# ---------------------------------------------------------------------------
# Expected state, built while generating the scripts
# ---------------------------------------------------------------------------
my %hist;            # id => [committed ops on it, in order]
my %last_n;          # id => "n" of its current document (undef: deleted)
my %gen;             # id => 1 for every id a script writes
my %last_nonce;      # client => expected last_nonce
my %shared;          # shared idem key => [candidate ids]
my $n_link = 0;

sub gen_script
{
	my ($w) = @_;
	my ($e, $a) = ("e$w", "a$w");    # explicit-nonce and auto-nonce client
	my $en = 0;                      # e's last committed nonce
	my $n  = 0;                      # per-writer put counter, orders the puts
	my $s  = "\\set ON_ERROR_STOP 1\n\\o /dev/null\n";

	# a put; $commit says whether it will be committed; $pl: in PL/pgSQL
	my $put = sub {
		my ($id, $client, $nonce, $idem, $commit, $pl) = @_;
		$n++;
		$gen{$id} = 1;
		if ($commit)
		{
			push @{ $hist{$id} }, 'put';
			$last_n{$id} = $n;
			$last_nonce{$client}++ unless defined $nonce;
		}
		my $call =
		    "nedb.put('c', '$id', '{\"w\": $w, \"n\": $n}', client => '$client'"
		  . (defined $nonce ? ", nonce => $nonce" : '')
		  . (defined $idem  ? ", idem => '$idem'" : '') . ")";
		return $pl ? "PERFORM $call;\n" : "SELECT $call;\n";
	};

	for my $i (1 .. $NT)
	{
		my $b    = "w$w-$i";
		my $kind = $i % 10;
		if ($kind == 0)
		{
			# rolled back: neither the id nor the nonce may survive
			$s .= "BEGIN;\n" . $put->("$b-rb", $e, $en + 1, undef, 0) . "ROLLBACK;\n";
		}
		elsif ($kind == 5)
		{
			$s .= "BEGIN;\n"
			  . $put->("$b-rb1", 'local', undef, undef, 0)
			  . $put->("$b-rb2", $a, undef, undef, 0)
			  . $put->("w$w-" . ($i - 3) . "-a", $a, undef, undef, 0)
			  . "ROLLBACK;\n";
		}
		elsif ($kind == 1)
		{
			# explicit nonce, sometimes with a gap
			$en += ($i % 20 == 1) ? 3 : 1;
			$s .= $put->($b, $e, $en, undef, 1);
		}
		elsif ($kind == 2)
		{
			# the put rolled back to the savepoint gives back its nonce
			$s .= "BEGIN;\n"
			  . $put->("$b-a", $e, $en + 1, undef, 1)
			  . "SAVEPOINT s;\n"
			  . $put->("$b-b", $e, $en + 2, undef, 0)
			  . $put->("$b-a", $e, $en + 3, undef, 0)
			  . "ROLLBACK TO SAVEPOINT s;\n"
			  . $put->("$b-c", $e, $en + 2, undef, 1)
			  . "RELEASE SAVEPOINT s;\n"
			  . "SAVEPOINT t;\n"
			  . $put->("$b-d", $e, $en + 3, undef, 1)
			  . "RELEASE SAVEPOINT t;\n"
			  . "COMMIT;\n";
			$en += 3;
		}
		elsif ($kind == 3)
		{
			# idempotency keys: own key, a duplicate of it, one shared by all writers
			$s .= $put->($b,       'local', undef, "idem-$b",   1);
			$s .= $put->("$b-dup", 'local', undef, "idem-$b",   0);
			$s .= $put->("s$w-$i", 'local', undef, "shared-$i", 0);
			push @{ $shared{"shared-$i"} }, "s$w-$i";
		}
		elsif ($kind == 4)
		{
			# an error trapped by an exception block (a subtransaction abort)
			# after the first put took the chain lock ...
			$s .= "DO \$\$\nBEGIN\n"
			  . $put->("$b-a", $a, undef, undef, 1, 1)
			  . "BEGIN\n"
			  . $put->("$b-b", $a, undef, undef, 0, 1)
			  . "RAISE EXCEPTION 'trapped';\n"
			  . "EXCEPTION WHEN raise_exception THEN NULL;\nEND;\n"
			  . $put->("$b-c", $a, undef, undef, 1, 1)
			  . "END\n\$\$;\n";
			# ... and before any write of the transaction
			$s .= "DO \$\$\nBEGIN\n"
			  . "BEGIN\n"
			  . $put->("$b-e", $a, undef, undef, 0, 1)
			  . "RAISE EXCEPTION 'trapped';\n"
			  . "EXCEPTION WHEN raise_exception THEN NULL;\nEND;\n"
			  . $put->("$b-f", $a, undef, undef, 1, 1)
			  . "END\n\$\$;\n";
		}
		elsif ($kind == 6)
		{
			# nedb.tx: two puts and a link, automatic nonces
			my @d;
			for my $x (qw(x y))
			{
				$n++;
				push @d, "{\"w\": $w, \"n\": $n}";
				push @{ $hist{"$b-$x"} }, 'put';
				$last_n{"$b-$x"} = $n;
				$gen{"$b-$x"} = 1;
			}
			$s .= "SELECT nedb.tx('["
			  . "{\"op\": \"put\", \"coll\": \"c\", \"id\": \"$b-x\", \"doc\": $d[0], \"client\": \"$a\"}, "
			  . "{\"op\": \"put\", \"coll\": \"c\", \"id\": \"$b-y\", \"doc\": $d[1], \"client\": \"$a\"}, "
			  . "{\"op\": \"link\", \"frm\": \"c:$b-x\", \"rel\": \"next\", \"to\": \"c:$b-y\", \"client\": \"$a\"}"
			  . "]');\n";
			$last_nonce{$a} += 3;
			$n_link++;
		}
		elsif ($kind == 7)
		{
			# delete the put of transaction i-6
			my $victim = "w$w-" . ($i - 6);
			$en++;
			$s .= "SELECT nedb.delete('c', '$victim', client => '$e', nonce => $en);\n";
			push @{ $hist{$victim} }, 'delete';
			$last_n{$victim} = undef;
		}
		elsif ($kind == 8)
		{
			# replaying the last nonce is refused with unique_violation
			$s .= "DO \$\$\nBEGIN\nBEGIN\n"
			  . $put->("$b-replay", $e, $en, undef, 0, 1)
			  . "EXCEPTION WHEN unique_violation THEN RETURN;\nEND;\n"
			  . "RAISE EXCEPTION 'nonce replay was accepted';\n"
			  . "END\n\$\$;\n";
		}
		elsif ($kind == 9)
		{
			# a multi-put transaction over three clients: overwrite a live
			# document, a new one, and (every other time) re-create the one
			# deleted at i-2
			$s .= "BEGIN;\n"
			  . $put->("w$w-" . ($i - 7) . "-a", 'local', undef, undef, 1)
			  . $put->("$b-e", $e, $en + 1, undef, 1)
			  . $put->($i % 20 == 9 ? "w$w-" . ($i - 8) : "$b-a", $a, undef, undef, 1)
			  . "COMMIT;\n";
			$en++;
		}
		$s .= "\\echo DONE $i\n";
	}
	$last_nonce{$e} = $en;
	return $s;
}

# ---------------------------------------------------------------------------
# Phase 1: concurrent psql writers
# ---------------------------------------------------------------------------
my $scratch = PostgreSQL::Test::Utils::tempdir;
my (@h, @out, @err);
for my $w (1 .. $NW)
{
	my $file = "$scratch/w$w.sql";
	PostgreSQL::Test::Utils::append_to_file($file, gen_script($w));
	$out[$w] = '';
	$err[$w] = '';
	$h[$w] = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $file ],
		'<', '/dev/null', '>', \$out[$w], '2>', \$err[$w],
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}
for my $w (1 .. $NW)
{
	my $ok = $h[$w]->finish;
	ok($ok, "writer $w exited successfully");
	is($err[$w], '', "writer $w: no error");
	my @done = $out[$w] =~ /^DONE (\d+)$/mg;
	is(scalar(@done), $NT, "writer $w: all $NT transactions completed");
}
# if a backend crashed, wait for the server to be back before checking
$node->poll_query_until('postgres', 'SELECT 1', '1');

my $n_shared = scalar(keys %shared);
my ($n_put, $n_del) = (0, 0);
for my $ops (values %hist)
{
	$n_put += grep { $_ eq 'put' } @$ops;
	$n_del += grep { $_ eq 'delete' } @$ops;
}
my $expect_ops = $n_put + $n_shared + $n_del + $n_link;
$last_nonce{local} += $n_shared;    # the shared-idem winners write as 'local'
note "phase 1 expects $n_put puts, $n_shared shared-idem puts, $n_del deletes, $n_link links";

sub check_chain
{
	my ($label, $expect) = @_;
	my ($n, $max, $min) =
	  split /\|/, q1("SELECT count(*), coalesce(max(seq), -1), coalesce(min(seq), 0) FROM nedb.ops");
	is($n,   $expect,  "$label: exactly $expect ops in the log");
	is($max, $n - 1,   "$label: max(seq) = count-1 (dense seq)");
	is($min, 0,        "$label: seq starts at 0");
	is(q1("SELECT nedb.seq()"), $n - 1, "$label: nedb.seq()");
	is( q1("SELECT nedb.head() = (SELECT encode(hash, 'hex') FROM nedb.ops ORDER BY seq DESC LIMIT 1)"),
		't', "$label: nedb.head() is the last op's hash");
	is(q1("SELECT nedb.verify()"), 't', "$label: nedb.verify() is true");
	is(q1("SELECT format('%s|%s|%s', ok, checked, coalesce(detail, '-')) FROM nedb.verify_report()"),
		"t|$n|-", "$label: verify_report() checked every op");
	is( q1(
			"SELECT count(*) FROM (SELECT seq_to, lead(seq_from) OVER (PARTITION BY coll, id ORDER BY seq_from) AS nxt"
			  . " FROM nedb.versions) s WHERE seq_to IS DISTINCT FROM nxt"),
		0, "$label: each version ends where the next begins, the last is open");
	check_btree_indexes($label);
}

check_chain("phase 1", $expect_ops);

is(q1("SELECT count(*) FROM nedb.ops WHERE op = 'put'"), $n_put + $n_shared, "phase 1: put ops");
is(q1("SELECT count(*) FROM nedb.ops WHERE op = 'delete'"), $n_del, "phase 1: delete ops");
is(q1("SELECT count(*) FROM nedb.ops WHERE op = 'link'"), $n_link, "phase 1: link ops");
is(q1("SELECT count(*) FROM nedb.versions"), $n_put + $n_shared + $n_del, "phase 1: versions, one per put or delete");
is(q1("SELECT count(*) FROM nedb.edges WHERE seq_to IS NULL"), $n_link, "phase 1: live edges");

my @ids = sort keys %hist;
is( q1(
		"SELECT count(*) FROM unnest("
		  . sql_array(@ids) . ", "
		  . sql_array(map { join(',', @{ $hist{$_} }) } @ids)
		  . ") u(id, ops)"
		  . " WHERE (SELECT string_agg(op, ',' ORDER BY seq) FROM nedb.ops o WHERE o.coll = 'c' AND o.id = u.id)"
		  . "       IS DISTINCT FROM u.ops"),
	0, "phase 1: the log holds exactly the committed ops of each of " . scalar(@ids) . " ids, in order");
is( q1(
		"SELECT count(*) FROM unnest("
		  . sql_array(@ids) . ", "
		  . sql_array(map { $last_n{$_} } @ids)
		  . ") u(id, n)"
		  . " WHERE nedb.get('c', u.id) ->> 'n' IS DISTINCT FROM u.n"),
	0, "phase 1: nedb.get returns each id's last committed document (or nothing after a delete)");
is(scalar(grep { !defined $last_n{$_} } @ids), $NW * $NT / 20, "phase 1: (half of the deleted ids stay deleted)");
my %cand = map { $_ => 1 } map { @$_ } values %shared;
my @absent = grep { !$hist{$_} && !$cand{$_} } sort keys %gen;
is( q1(
		"SELECT count(*) FROM unnest(" . sql_array(@absent) . ") u(id)"
		  . " WHERE nedb.get('c', u.id) IS NOT NULL"
		  . "    OR EXISTS (SELECT 1 FROM nedb.ops o WHERE o.id = u.id)"
		  . "    OR EXISTS (SELECT 1 FROM nedb.versions v WHERE v.id = u.id)"),
	0, "phase 1: none of " . scalar(@absent) . " rolled-back, replayed or duplicate-idem writes is present");

# each shared idem key was written once, by one of the writers that tried it
my $shared_ok = 0;
for my $k (sort keys %shared)
{
	my $r = q1("SELECT string_agg(id, ',') FROM nedb.ops WHERE idem = '$k'");
	$shared_ok++ if grep { $_ eq $r } @{ $shared{$k} };
}
is($shared_ok, $n_shared, "phase 1: every shared idem key written exactly once");
my %winners = map { $_ => 1 } split /\n/, q1("SELECT id FROM nedb.ops WHERE idem LIKE 'shared-%'");
is( q1(
		"SELECT count(*) FROM unnest("
		  . sql_array(grep { !$winners{$_} } map { @$_ } values %shared)
		  . ") u(id) WHERE EXISTS (SELECT 1 FROM nedb.ops o WHERE o.id = u.id) OR nedb.get('c', u.id) IS NOT NULL"),
	0, "phase 1: the losers of shared idem keys wrote nothing");
is(q1("SELECT count(*) FROM nedb.ops WHERE idem IS NOT NULL"),
	$NW * int($NT / 10) + $n_shared, "phase 1: logged idem keys");

# nonces
for my $c (sort keys %last_nonce)
{
	is(q1("SELECT last_nonce FROM nedb.clients WHERE client = '$c'"),
		$last_nonce{$c}, "phase 1: last_nonce of client $c is $last_nonce{$c}");
}
is(q1("SELECT count(*) FROM nedb.clients"), scalar(keys %last_nonce), "phase 1: no other clients registered");
is( q1(
		"SELECT count(*) FROM (SELECT client, count(*) n, min(nonce) lo, max(nonce) hi FROM nedb.ops"
		  . " WHERE client !~ '^e' GROUP BY client) s WHERE lo <> 1 OR hi <> n"),
	0, "phase 1: automatic nonces (shared client 'local' too) are dense from 1");
is( q1(
		"SELECT count(*) FROM (SELECT nonce <= lag(nonce) OVER (PARTITION BY client ORDER BY seq) AS bad"
		  . " FROM nedb.ops) s WHERE bad"),
	0, "phase 1: every client's nonces increase with seq");
is(q1("SELECT count(*) FROM nedb.ops o WHERE NOT EXISTS (SELECT 1 FROM nedb.clients c WHERE c.client = o.client)"),
	0, "phase 1: every op's client is registered");

# commit order: a writer's puts appear in the order it issued them
is( q1(
		"SELECT count(*) FROM (SELECT (v.doc->>'n')::int AS k,"
		  . " lag((v.doc->>'n')::int) OVER (PARTITION BY v.doc->>'w' ORDER BY v.seq_from) AS prev"
		  . " FROM nedb.versions v WHERE v.doc IS NOT NULL) s WHERE k <= prev"),
	0, "phase 1: each writer's puts are in its issue order");

# ---------------------------------------------------------------------------
# Phase 2: pgbench
# ---------------------------------------------------------------------------
my $PGB_C = 4;
my $PGB_T = 150;
$node->pgbench(
	"-n -c $PGB_C -j 2 -t $PGB_T -D n=0",
	0,
	[qr{processed: 600/600}],
	[qr{^(?!.*ERROR)}s],
	'pgbench: concurrent puts with explicit nonces and rollbacks',
	{
		'002_nedb_put' => q{
\set n :n + 1
\if :n % 5 = 0
BEGIN;
SELECT nedb.put('pgb', 'p' || :client_id || '-' || :n, '{}', client => 'pgb' || :client_id, nonce => :n);
ROLLBACK;
\else
SELECT nedb.put('pgb', 'p' || :client_id || '-' || :n, jsonb_build_object('n', :n), client => 'pgb' || :client_id, nonce => :n);
\endif
}
	});

my $pgb_commits = $PGB_C * ($PGB_T - int($PGB_T / 5));
$expect_ops += $pgb_commits;
check_chain("phase 2", $expect_ops);
is(q1("SELECT count(*) FROM nedb.ops WHERE coll = 'pgb'"), $pgb_commits, "phase 2: $pgb_commits committed pgbench puts");
is( q1(
		"SELECT count(*) FROM nedb.ops WHERE coll = 'pgb' AND (nonce % 5 = 0 OR id <> 'p' || substr(client, 4) || '-' || nonce)"),
	0, "phase 2: no rolled-back pgbench put is present, ids match nonces");
is( q1("SELECT string_agg(client || '=' || last_nonce, ',' ORDER BY client) FROM nedb.clients WHERE client LIKE 'pgb%'"),
	join(',', map { "pgb$_=" . ($PGB_T - 1) } 0 .. $PGB_C - 1),
	"phase 2: last_nonce of each pgbench client is its last committed nonce");
is( q1(
		"SELECT count(*) FROM generate_series(0, $PGB_C - 1) c, generate_series(1, $PGB_T) n"
		  . " WHERE (nedb.get('pgb', 'p' || c || '-' || n) IS NOT NULL) <> (n % 5 <> 0)"),
	0, "phase 2: nedb.get finds exactly the committed pgbench puts");

# ---------------------------------------------------------------------------
# Phase 3: deterministic checks
# ---------------------------------------------------------------------------
sub count_ops { return q1("SELECT count(*) FROM nedb.ops"); }

# replayed and stale nonces
{
	my $last = q1("SELECT last_nonce FROM nedb.clients WHERE client = 'e1'");
	my $before = count_ops();
	for my $nonce ($last, $last - 1)
	{
		my ($ret, $stdout, $stderr) = $node->psql('postgres',
			"\\set VERBOSITY verbose\nSELECT nedb.put('c', 'replay-$nonce', '{}', client => 'e1', nonce => $nonce);");
		isnt($ret, 0, "replay of nonce $nonce (last $last) fails");
		like($stderr, qr/ERROR:\s+23505: replay\/stale nonce for client 'e1'/,
			"replay of nonce $nonce is refused with SQLSTATE 23505");
	}
	# same for delete, link and nedb.tx
	my ($ret, $o, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT nedb.delete('c', 'w1-1', client => 'e1', nonce => $last);");
	like($stderr, qr/ERROR:\s+23505:/, "delete with a replayed nonce is refused with 23505");
	($ret, $o, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT nedb.link('a', 'r', 'b', client => 'e1', nonce => $last);");
	like($stderr, qr/ERROR:\s+23505:/, "link with a replayed nonce is refused with 23505");
	($ret, $o, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT nedb.tx('[{\"op\": \"put\", \"coll\": \"c\", \"id\": \"tx-ok\", \"doc\": {}},"
		  . " {\"op\": \"put\", \"coll\": \"c\", \"id\": \"tx-replay\", \"doc\": {}, \"client\": \"e1\", \"nonce\": $last}]');");
	like($stderr, qr/ERROR:\s+23505:/, "nedb.tx with a replayed nonce in its 2nd op is refused with 23505");
	is(count_ops(), $before, "refused replays wrote nothing");
	is(q1("SELECT count(*) FROM nedb.versions WHERE id IN ('replay-$last', 'replay-" . ($last - 1) . "', 'tx-ok', 'tx-replay')"),
		0, "refused replays left no version (nor the first op of the nedb.tx)");
	is(q1("SELECT last_nonce FROM nedb.clients WHERE client = 'e1'"), $last, "refused replays left last_nonce alone");
	is(q1("SELECT count(*) FROM nedb.edges WHERE frm = 'a'"), 0, "refused link left no edge");
}

# duplicate idem keys write nothing
{
	my $before = count_ops();
	my $seq = q1("SELECT seq FROM nedb.ops WHERE idem = 'idem-w1-3'");
	is(q1("SELECT nedb.put('c', 'w1-3', '{\"other\": true}', idem => 'idem-w1-3') ->> '_seq'"),
		$seq, "a duplicate idem key returns the stored version of the registering put");
	is(q1("SELECT nedb.put('c', 'brand-new', '{}', idem => 'idem-w1-3') IS NULL"),
		't', "a duplicate idem key for an unknown id returns NULL");
	is(q1("SELECT nedb.delete('c', 'w1-1', idem => 'idem-w1-3')"),
		$seq, "a delete with a duplicate idem key returns the registering seq");
	is(count_ops(), $before, "duplicate idem keys wrote nothing");
	is(q1("SELECT nedb.get('c', 'w1-3') ->> 'other' IS NULL"), 't', "the document of w1-3 is unchanged");
	is(q1("SELECT nedb.get('c', 'brand-new')"), '', "brand-new was not written");
}

# a rolled-back transaction gives back its seq, nonce and idem key, also to a
# writer that was waiting for the chain lock meanwhile
my $sa = $node->background_psql('postgres', on_error_stop => 0);
my $sb = $node->background_psql('postgres', on_error_stop => 0);
$_->query_safe("\\set VERBOSITY verbose") for ($sa, $sb);

my $b_pid = $sb->query_safe("SELECT pg_backend_pid()");

sub wait_for_lock_waiter
{
	my ($label) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $b_pid"),
		"$label: the second writer waits for the chain lock");
}

{
	my $next = count_ops();
	my $en   = q1("SELECT last_nonce FROM nedb.clients WHERE client = 'e2'");
	is( $sa->query_safe(
			"BEGIN; SELECT nedb.put('c', 'lock-a', '{}', client => 'e2', nonce => " . ($en + 1) . ", idem => 'lock-idem') ->> '_seq'"),
		$next, "A: the put in an open transaction takes the next seq");
	$sb->query_until(qr/started/,
		    "\\echo started\nSELECT nedb.put('c', 'lock-b', '{}', client => 'e2', nonce => "
		  . ($en + 1)
		  . ", idem => 'lock-idem') ->> '_seq';\n");
	wait_for_lock_waiter("rollback");
	is(count_ops(), $next, "an uncommitted put is not visible");
	$sa->query_safe("ROLLBACK");
	my $out = $sb->query_safe("SELECT 'b-done'");
	is($out, "$next\nb-done", "B: after A's rollback, B's put took A's seq, nonce and idem key");
	is(q1("SELECT string_agg(id || ':' || nonce || ':' || idem, ',') FROM nedb.ops WHERE seq = $next"),
		"lock-b:" . ($en + 1) . ":lock-idem", "B's op holds the seq, nonce and idem key A gave back");
	is(q1("SELECT count(*) FROM nedb.ops WHERE id = 'lock-a'"), 0, "A's put is absent");

	# and after a commit, the waiter takes the following seq (a put whose
	# seq is known at the write: nedb.sequencing = write)
	$next++;
	is( $sa->query_safe(
			"BEGIN; SET LOCAL nedb.sequencing = write; SELECT nedb.put('c', 'lock-a2', '{}') ->> '_seq'"),
		$next, "A: put in an open transaction");
	$sb->query_until(qr/started/, "\\echo started\nSELECT nedb.put('c', 'lock-b2', '{}') ->> '_seq';\n");
	wait_for_lock_waiter("commit");
	$sa->query_safe("COMMIT");
	$out = $sb->query_safe("SELECT 'b-done'");
	is($out, ($next + 1) . "\nb-done", "B: after A's commit, B's put took the next seq");
	is(q1("SELECT string_agg(id, ',' ORDER BY seq) FROM nedb.ops WHERE seq >= $next"),
		"lock-a2,lock-b2", "commit order is seq order");
	$expect_ops += 3;
	is(count_ops(), $expect_ops, "the lock checks wrote exactly lock-b, lock-a2, lock-b2");

	# a put staged for COMMIT (the default in a block) holds no lock: B's
	# autocommit put goes first; A's takes the next seq at its COMMIT
	$next += 2;
	is($sa->query_safe("BEGIN; SELECT nedb.put('c', 'stage-a', '{}') ->> '_seq' IS NULL"),
		't', "A: a staged put's seq is not known yet");
	is($sb->query_safe("SELECT nedb.put('c', 'stage-b', '{}') ->> '_seq'"),
		$next, "B: does not wait for A's open transaction");
	$sa->query_safe("COMMIT");
	is(q1("SELECT string_agg(id, ',' ORDER BY seq) FROM nedb.ops WHERE seq >= $next"),
		"stage-b,stage-a", "A's staged put follows B's in seq order, as their commits");
	$expect_ops += 2;
	is(count_ops(), $expect_ops, "exactly stage-b and stage-a were written");
}

# REPEATABLE READ: a snapshot older than the chain head cannot write
{
	my $before = $expect_ops;
	$sa->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT nedb.seq()");
	$sb->query_safe("SELECT nedb.put('c', 'rr-b', '{}')");
	my ($out, $err) = $sa->query("SELECT nedb.put('c', 'rr-a', '{}')");
	ok($err, "REPEATABLE READ writer with a stale snapshot fails");
	like($sa->{stderr}, qr/ERROR:\s+40001: could not serialize access due to a concurrent NEDB write/,
		"... with SQLSTATE 40001");
	$sa->{stderr} = '';
	$sa->query_safe("ROLLBACK");
	is(count_ops(), $before + 1, "only the concurrent put was written");
	is(q1("SELECT count(*) FROM nedb.ops WHERE id = 'rr-a'"), 0, "the refused RR put is absent");

	# without a concurrent write, a REPEATABLE READ writer succeeds
	$sa->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT nedb.seq()");
	is($sa->query_safe("SELECT nedb.put('c', 'rr-a2', '{}') ->> '_seq'"),
		$before + 1, "REPEATABLE READ writer on a current snapshot gets the next seq");
	$sa->query_safe("COMMIT");
	$expect_ops += 2;
}

$sa->quit;
$sb->quit;

check_chain("final", $expect_ops);
is( q1("SELECT count(*) FROM nedb.clients c WHERE last_nonce <> (SELECT max(nonce) FROM nedb.ops o WHERE o.client = c.client)"),
	0, "final: every client's last_nonce is its last logged nonce");

my @bad = grep { /terminated by (?:signal|exception)|PANIC|TRAP:|exited with exit code/ }
  split /\n/, slurp_file($node->logfile);
is(scalar(@bad), 0, "no server process crashed") or diag join("\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)]);

$node->stop;
done_testing();
