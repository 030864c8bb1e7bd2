
# Copyright (c) NEDB authors
#
# Crash safety of the NEDB chain.
#
# Four psql clients write concurrently (autocommit puts, multi-put
# transactions, ROLLBACKs, ROLLBACK TO SAVEPOINT, idempotency keys) while the
# server is crashed: by an immediate shutdown, by SIGKILL of the postmaster,
# and by SIGKILL of one backend (restart_after_crash resets the cluster).
# After each crash, recovery must leave a chain that verifies, dense seqs,
# every acknowledged write present, no rolled-back write present, no torn
# multi-put transaction, per-client nonces dense and no write of a
# duplicate idempotency key.  Rounds accumulate data on the same node.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $NCLIENTS = 4;
my $NTX      = 4000;    # transactions scripted per client per round; never all run

my $seed = $ENV{NEDB_CRASH_SEED} // time();
srand($seed);
note "random seed $seed (set NEDB_CRASH_SEED to reproduce)";

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
restart_after_crash = on
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 20
log_statement = none
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nedb');

my $scratch = PostgreSQL::Test::Utils::tempdir;

# Every id ever scripted: 'ack' (commit acknowledged: must be present),
# 'never' (rolled back or a duplicate idem key: must be absent) or
# 'maybe' (in flight at the crash: either, but atomically with its group).
my %state;
my @groups;          # [ids...] written by one transaction that should commit
my %idem_of;         # id => idem key of a put that carried one
my $total_acked = 0;

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

sub q1
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

sub sql_array
{
	my @ids = @_;
	return "ARRAY[]::text[]" unless @ids;
	return "ARRAY[" . join(',', map { "'$_'" } @ids) . "]::text[]";
}

# The checks every state of the database must pass.
sub check_chain
{
	my ($label) = @_;

	my ($n, $maxseq, $minseq) = split /\|/,
	  q1("SELECT count(*), coalesce(max(seq), -1), coalesce(min(seq), 0) FROM nedb.ops");
	is($n, $maxseq + 1, "$label: count(ops) = max(seq)+1 (dense seq)");
	is($minseq, 0, "$label: first seq is 0");
	is(q1("SELECT nedb.seq()"), $maxseq, "$label: nedb.seq() is the last seq");
	is( q1("SELECT nedb.head() = coalesce((SELECT encode(hash, 'hex') FROM nedb.ops ORDER BY seq DESC LIMIT 1), repeat('0', 64))"),
		't', "$label: nedb.head() is the hash of the last op");
	is(q1("SELECT nedb.verify()"), 't', "$label: nedb.verify() is true");
	is(q1("SELECT format('%s|%s|%s', ok, checked, coalesce(detail, '-')) FROM nedb.verify_report()"),
		"t|$n|-", "$label: verify_report() checked every op");

	# every op is a put of a distinct, scripted id, with its version
	is(q1("SELECT count(*) FROM nedb.ops WHERE op <> 'put' OR coll <> 'c'"),
		0, "$label: only the scripted puts were logged");
	is(q1("SELECT count(DISTINCT id) FROM nedb.ops"), $n, "$label: no id was written twice");
	is(q1("SELECT count(*) FROM nedb.versions"), $n, "$label: one version per put");
	is(q1("SELECT count(*) FROM nedb.ops o JOIN nedb.versions v ON v.seq_from = o.seq AND v.id = o.id AND v.seq_to IS NULL"),
		$n, "$label: every put's version is the open version of its id");

	# nonces: automatic per-client nonces are dense from 1, rollbacks and crashes
	# consume none, and the high-water mark matches the log
	is( q1(
			"SELECT count(*) FROM (SELECT client, count(*) AS n, min(nonce) AS lo, max(nonce) AS hi"
			  . "  FROM nedb.ops GROUP BY client) s"
			  . "  LEFT JOIN nedb.clients c USING (client)"
			  . " WHERE lo <> 1 OR hi <> n OR c.last_nonce IS DISTINCT FROM hi"),
		0, "$label: per-client nonces dense from 1 and last_nonce = max(nonce)");
	is(q1("SELECT count(*) FROM nedb.clients c WHERE NOT EXISTS (SELECT 1 FROM nedb.ops o WHERE o.client = c.client)"),
		0, "$label: no nonce high-water mark without an op");

	# commit order: within one writer, seqs follow the script order
	is( q1(
			"SELECT count(*) FROM (SELECT (v.doc->>'n')::int AS k,"
			  . "  lag((v.doc->>'n')::int) OVER (PARTITION BY o.client, v.doc->>'r' ORDER BY o.seq) AS prev"
			  . "  FROM nedb.ops o JOIN nedb.versions v ON v.seq_from = o.seq) s WHERE k <= prev"),
		0, "$label: each writer's ops are in its commit order");

	return $n;
}

sub check_data
{
	my ($label) = @_;

	my @ack   = grep { $state{$_} eq 'ack' } sort keys %state;
	my @never = grep { $state{$_} eq 'never' } sort keys %state;

	is( q1(
			"SELECT count(*) FROM unnest(" . sql_array(@ack) . ") u(id)"
			  . " WHERE nedb.get('c', u.id) ->> '_id' IS DISTINCT FROM u.id"),
		0, "$label: all " . scalar(@ack) . " acknowledged puts are readable with nedb.get");
	is( q1(
			"SELECT count(*) FROM unnest(" . sql_array(@never) . ") u(id)"
			  . " WHERE nedb.get('c', u.id) IS NOT NULL"
			  . "    OR EXISTS (SELECT 1 FROM nedb.ops o WHERE o.id = u.id)"
			  . "    OR EXISTS (SELECT 1 FROM nedb.versions v WHERE v.id = u.id)"),
		0, "$label: none of " . scalar(@never) . " rolled-back or duplicate-idem puts is present");

	my %present = map { $_ => 1 } split /\n/, q1("SELECT id FROM nedb.ops");
	my @strangers = grep { !exists $state{$_} } sort keys %present;
	is(scalar(@strangers), 0, "$label: no op for an id that was never scripted")
	  or diag "unexpected ids: @strangers[0 .. ($#strangers < 9 ? $#strangers : 9)]";

	# a transaction's puts are all there or none (in-flight ones included)
	my @torn;
	for my $g (@groups)
	{
		my $have = grep { $present{$_} } @$g;
		push @torn, "@$g" if $have != 0 && $have != scalar(@$g);
	}
	is(scalar(@torn), 0, "$label: no multi-put transaction is torn")
	  or diag "torn: $torn[0]";

	# resolve the in-flight writes, so later rounds know exactly what is there
	my ($in_present, $in_absent) = (0, 0);
	for my $id (keys %state)
	{
		next unless $state{$id} eq 'maybe';
		if   ($present{$id}) { $state{$id} = 'ack';   $in_present++ }
		else                 { $state{$id} = 'never'; $in_absent++ }
	}
	note "$label: in-flight writes found committed: $in_present, lost: $in_absent";

	my $nack = grep { $state{$_} eq 'ack' } keys %state;
	is(scalar(keys %present), $nack, "$label: the log holds exactly the committed puts");

	# the idempotency keys of committed puts are in the log, once each
	my @idem_ids = grep { $state{$_} eq 'ack' && exists $idem_of{$_} } keys %state;
	is(q1("SELECT count(*) FROM nedb.ops WHERE idem IS NOT NULL"),
		scalar(@idem_ids), "$label: one logged idem key per committed idem put");
	is( q1(
			"SELECT count(*) FROM nedb.ops WHERE idem IS NOT NULL AND idem <> 'idem-' || id"),
		0, "$label: idem keys belong to the put that registered them");
}

# One writer's script for round $r.  Returns (script text, scripted ids by tx).
sub make_script
{
	my ($r, $w) = @_;
	my $client = "r$r-w$w";
	my $n      = 0;
	my @txs;    # { commit => [ids], never => [ids], idem => {id => key} }
	my $s = "\\set ON_ERROR_STOP 1\n\\o /dev/null\n";

	my $put = sub {
		my ($id, $extra) = @_;
		$n++;
		my $pad = $n % 7 == 0 ? ', "pad": "' . ('x' x 3000) . '"' : '';
		return "SELECT nedb.put('c', '$id', '{\"r\": $r, \"w\": $w, \"n\": $n$pad}', client => '$client'"
		  . ($extra // '') . ");\n";
	};

	for my $i (1 .. $NTX)
	{
		my $base = "r$r-w$w-$i";
		my $kind = $i % 10;
		my %tx = (commit => [], never => [], idem => {});
		if ($kind == 5)
		{
			# an explicit multi-put transaction
			my @ids = map { "$base-$_" } 1 .. 3;
			$s .= "BEGIN;\n" . join('', map { $put->($_) } @ids) . "COMMIT;\n";
			$tx{commit} = \@ids;
		}
		elsif ($kind == 2 || $kind == 7)
		{
			# a ROLLBACK: nothing of it may survive
			my @ids = map { "$base-$_" } 1 .. 2;
			$s .= "BEGIN;\n" . join('', map { $put->($_) } @ids) . "ROLLBACK;\n";
			$tx{never} = \@ids;
		}
		elsif ($kind == 9)
		{
			# ROLLBACK TO SAVEPOINT around the middle put
			my ($a, $b, $c) = map { "$base-$_" } 1 .. 3;
			$s .= "BEGIN;\n"
			  . $put->($a)
			  . "SAVEPOINT s;\n"
			  . $put->($b)
			  . "ROLLBACK TO SAVEPOINT s;\n"
			  . $put->($c)
			  . "COMMIT;\n";
			$tx{commit} = [ $a, $c ];
			$tx{never}  = [$b];
		}
		elsif ($kind == 3)
		{
			# an idempotency key, then the same key for another id: no write
			$s .= $put->($base, ", idem => 'idem-$base'") . "\\echo DONE $i\n";
			push @txs,
			  { tag => $i, commit => [$base], never => [], idem => { $base => "idem-$base" } };
			$s .= $put->("$base-dup", ", idem => 'idem-$base'") . "\\echo DONE ${i}d\n";
			push @txs, { tag => "${i}d", commit => [], never => ["$base-dup"], idem => {} };
			next;
		}
		else
		{
			# a single autocommit put
			$s .= $put->($base);
			$tx{commit} = [$base];
		}
		$tx{tag} = $i;
		push @txs, \%tx;
		$s .= "\\echo DONE $i\n";
	}
	return ($s, \@txs);
}

sub postmaster_children
{
	my ($ppid) = @_;
	my @kids;
	opendir(my $d, '/proc') or return ();
	for my $p (grep { /^\d+$/ } readdir $d)
	{
		open(my $fh, '<', "/proc/$p/stat") or next;
		my $st = <$fh>;
		close $fh;
		next unless defined $st && $st =~ /^\d+ \(.*\) \S+ (\d+) /s;
		push @kids, $p if $1 == $ppid;
	}
	closedir $d;
	return @kids;
}

# ---------------------------------------------------------------------------
# The empty chain, and a crash of it
# ---------------------------------------------------------------------------

is(q1("SELECT nedb.seq()"), -1, "empty: nedb.seq() is -1");
check_chain("empty");
$node->stop('immediate');
$node->start;
check_chain("empty after crash");

# ---------------------------------------------------------------------------
# Crash rounds
# ---------------------------------------------------------------------------

my @modes = ('immediate', 'kill9-postmaster', 'kill9-backend', 'immediate', 'kill9-postmaster');

for my $r (1 .. scalar(@modes))
{
	my $mode  = $modes[ $r - 1 ];
	my $label = "round $r ($mode)";
	my $before = q1("SELECT count(*) FROM nedb.ops");

	# start the writers
	my (@h, @txs, @out, @err);
	for my $w (1 .. $NCLIENTS)
	{
		my ($script, $txs) = make_script($r, $w);
		my $file = "$scratch/r$r-w$w.sql";
		PostgreSQL::Test::Utils::append_to_file($file, $script);
		$txs[$w] = $txs;
		$out[$w] = "$scratch/r$r-w$w.out";
		$err[$w] = "$scratch/r$r-w$w.err";
		$h[$w] = IPC::Run::start(
			[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $file ],
			'<', '/dev/null', '>', $out[$w], '2>', $err[$w],
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	}

	# let them write a while, then crash at a random moment
	my $want = $before + 300 + int(rand(300));
	$node->poll_query_until('postgres', "SELECT count(*) >= $want FROM nedb.ops")
	  or die "$label: the writers made no progress";
	usleep(int(rand(300_000)));

	if ($mode eq 'immediate')
	{
		$node->stop('immediate');
	}
	elsif ($mode eq 'kill9-postmaster')
	{
		my $pm   = $node->{_pid};
		my @kids = postmaster_children($pm);
		note "$label: killing postmaster $pm with " . scalar(@kids) . " children";
		$node->kill9;
		# orphaned backends exit when they notice; wait for all of them, so
		# that the new postmaster can start (and any last commit is in WAL)
		my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
		while (grep { kill(0, $_) } ($pm, @kids))
		{
			die "$label: orphaned server processes did not exit" if time() > $deadline;
			usleep(50_000);
		}
	}
	elsif ($mode eq 'kill9-backend')
	{
		my $victim = q1(
			"SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
			  . " AND pid <> pg_backend_pid() AND query LIKE '%nedb.put%' ORDER BY random() LIMIT 1");
		ok($victim =~ /^\d+$/, "$label: found a writer backend to kill");
		note "$label: SIGKILL backend $victim";
		kill 'KILL', $victim;
	}

	# collect the writers: psql exits on the lost connection
	for my $w (1 .. $NCLIENTS)
	{
		eval { $h[$w]->finish; };
		note "$label: writer $w: $@" if $@;
	}

	if ($mode eq 'kill9-backend')
	{
		# the postmaster reinitializes by itself (restart_after_crash = on)
		$node->poll_query_until('postgres', 'SELECT 1', '1')
		  or die "$label: the server did not come back after the backend crash";
		ok( $node->log_contains(qr/terminated by signal 9/),
			"$label: the server log shows the backend crash");
	}
	else
	{
		$node->start;
	}

	# What did each writer see acknowledged?  psql runs its script one
	# transaction at a time and echoes DONE after each one returned, so the
	# transactions up to the last DONE were acknowledged, the next one was in
	# flight, and none after it was ever sent (those ids are not registered:
	# finding one would be reported as a stranger).
	my $round_acked = 0;
	for my $w (1 .. $NCLIENTS)
	{
		my $stderr = slurp_file($err[$w]);
		unlike($stderr, qr/ERROR:/, "$label: writer $w hit no SQL error before the crash");
		my @done = map { /^DONE (\S+)$/ ? ($1) : () } split /\n/, slurp_file($out[$w]);
		my $txs  = $txs[$w];
		my @expect = map { $_->{tag} } @{$txs}[ 0 .. $#done ];
		is("@done", "@expect", "$label: writer $w acknowledged its transactions in order");
		for my $p (0 .. $#$txs)
		{
			my $tx = $txs->[$p];
			last if $p > scalar(@done);
			my $acked = $p < scalar(@done);
			$state{$_} = ($acked ? 'ack' : 'maybe') for @{ $tx->{commit} };
			$state{$_} = 'never' for @{ $tx->{never} };
			%idem_of = (%idem_of, %{ $tx->{idem} });
			push @groups, $tx->{commit} if @{ $tx->{commit} } > 1;
		}
		cmp_ok(scalar(@done), '>', 0, "$label: writer $w had transactions acknowledged");
		cmp_ok(scalar(@done), '<', scalar(@$txs), "$label: writer $w was cut off by the crash");
		$round_acked += scalar(@done);
	}
	$total_acked += $round_acked;
	note "$label: $round_acked transactions acknowledged this round";

	check_data($label);
	my $n = check_chain($label);
	cmp_ok($n, '>', $before, "$label: the round added ops");
}

# the recovered chain takes new writes at the next seq
my $n = q1("SELECT count(*) FROM nedb.ops");
is(q1("SELECT nedb.put('c', 'after', '{}', client => 'final') ->> '_seq'"),
	$n, "a put after the last recovery gets the next seq");
$state{after} = 'ack';
check_chain("final");

$node->stop;
done_testing();
