# Crash safety of the NEDB chain.
#
# Four psql clients write concurrently (autocommit puts of new ids,
# overwrites, deletes, multi-put transactions, some of 41 puts, ROLLBACKs,
# ROLLBACK TO SAVEPOINT, idempotency keys; three writers' blocks stage their
# puts for COMMIT, the fourth sequences at the write) while the server is
# crashed: by an immediate shutdown, by SIGKILL of the postmaster, and by SIGKILL of one backend
# (restart_after_crash makes the postmaster reinitialize by itself).  After
# each crash, recovery must leave a chain that verifies, dense seqs, every
# acknowledged write present, no rolled-back write present, no torn
# transaction, each id's current document its last committed write,
# consistent version intervals and dense per-client nonces.  Rounds
# accumulate data on the same node.
#
# Every write carries a unique write id ("wid"): in the document ("k") for a
# put, as the idempotency key for a delete.  psql echoes DONE after each
# transaction returned, so the transactions up to the last DONE of a writer
# were acknowledged, the next one was in flight, and none after it was ever
# sent.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

# wait for a reinitializing server to answer; psql meeting it half-way can
# fail with a broken pipe, which poll_query_until does not survive: retry
sub server_back
{
	my ($node) = @_;
	for my $try (1 .. 20)
	{
		my $ok = eval { $node->poll_query_until('postgres', 'SELECT 1', '1') };
		return 1 if $ok;
		note "waiting for the server: $@" if $@;
		usleep(500_000);
	}
	return 0;
}
use FindBin;
use lib $FindBin::RealBin;
use NedbTest;
use Cwd ();

my $NCLIENTS = 4;
my $NTX      = 3000;    # transactions scripted per writer and round; never all run

my $seed = $ENV{NEDB_CRASH_SEED} // time();
srand($seed);
note "random seed $seed (set NEDB_CRASH_SEED to reproduce the crash timing)";

my $node = PostgreSQL::Test::Cluster->new('crash');
$NedbTest::node = $node;
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
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');

my $scratch = PostgreSQL::Test::Utils::tempdir;
my @pads = map { unpack('H*', pack('N*', map { int(rand(2**32)) } 1 .. 320)) } 1 .. 32;

# wid => 'ack' (must be present), 'never' (must be absent) or 'maybe' (in
# flight at the crash: either, but atomically with its transaction)
my %state;
my %is_del;      # wid => 1 for a delete
my %id_wids;     # id => [wids in script order]
my @groups;      # [wids] of one transaction meant to commit
my %idem_put;    # wid => 1 for a put carrying an idempotency key

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


# invariants of any state of the database
sub check_chain
{
	my ($label) = @_;

	my ($n, $maxseq, $minseq) = split /\|/,
	  q1("SELECT count(*), coalesce(max(seq), -1), coalesce(min(seq), 0) FROM nedb.ops");
	is($n, $maxseq + 1, "$label: count(ops) = max(seq)+1 (dense seq)");
	is($minseq, 0, "$label: first seq is 0");
	is(q1("SELECT nedb.seq()"), $maxseq, "$label: nedb.seq() is the last seq");
	is( q1(
			"SELECT nedb.head() = coalesce((SELECT encode(hash, 'hex') FROM nedb.ops ORDER BY seq DESC LIMIT 1), repeat('0', 64))"
		),
		't',
		"$label: nedb.head() is the hash of the last op");
	is(q1("SELECT nedb.verify()"), 't', "$label: nedb.verify() is true");
	is(q1("SELECT format('%s|%s|%s', ok, checked, coalesce(detail, '-')) FROM nedb.verify_report()"),
		"t|$n|-", "$label: verify_report() checked every op");

	# versions: one per put or delete, intervals [seq_from, seq_to) chained
	is(q1("SELECT count(*) FROM nedb.ops WHERE op NOT IN ('put', 'delete') OR coll <> 'c'"),
		0, "$label: only the scripted puts and deletes were logged");
	is(q1("SELECT count(*) FROM nedb.ops o JOIN nedb.versions v ON v.seq_from = o.seq AND v.id = o.id"),
		$n, "$label: one version per op");
	is(q1("SELECT count(*) FROM nedb.versions"), $n, "$label: no version without an op");
	is( q1(
			"SELECT count(*) FROM (SELECT seq_to, lead(seq_from) OVER (PARTITION BY coll, id ORDER BY seq_from) AS nxt"
			  . " FROM nedb.versions) s WHERE seq_to IS DISTINCT FROM nxt"),
		0, "$label: each version ends where the next begins, the last is open");
	is( q1(
			"SELECT count(*) FROM nedb.versions v WHERE v.doc IS NOT NULL"
			  . " AND nedb.get(v.coll, v.id, v.seq_from) ->> 'k' IS DISTINCT FROM v.doc ->> 'k'"),
		0, "$label: nedb.get AS OF each put's seq returns that put");
	is( q1(
			"SELECT count(*) FROM nedb.versions v WHERE v.doc IS NULL"
			  . " AND nedb.get(v.coll, v.id, v.seq_from) IS NOT NULL"),
		0, "$label: nedb.get AS OF each delete's seq returns nothing");

	# nonces: automatic per-client nonces are dense from 1, rollbacks and
	# crashes consume none, and the high-water mark matches the log
	is( q1(
			"SELECT count(*) FROM (SELECT client, count(*) AS n, min(nonce) AS lo, max(nonce) AS hi"
			  . "  FROM nedb.ops GROUP BY client) s"
			  . "  LEFT JOIN nedb.clients c USING (client)"
			  . " WHERE lo <> 1 OR hi <> n OR c.last_nonce IS DISTINCT FROM hi"),
		0, "$label: per-client nonces dense from 1 and last_nonce = max(nonce)");

	check_btree_indexes($label);

	# commit order: within one writer, puts follow the script order
	is( q1(
			"SELECT count(*) FROM (SELECT (v.doc->>'n')::int AS k,"
			  . "  lag((v.doc->>'n')::int) OVER (PARTITION BY o.client ORDER BY o.seq) AS prev"
			  . "  FROM nedb.ops o JOIN nedb.versions v ON v.seq_from = o.seq WHERE v.doc IS NOT NULL) s"
			  . " WHERE k <= prev"),
		0, "$label: each writer's puts are in its commit order");

	return $n;
}

sub check_data
{
	my ($label) = @_;

	my %present = map { $_ => 1 } split /\n/,
	  q1("SELECT doc ->> 'k' FROM nedb.versions WHERE doc IS NOT NULL"
		  . " UNION ALL SELECT idem FROM nedb.ops WHERE op = 'delete'");

	my @ack   = grep { $state{$_} eq 'ack' } sort keys %state;
	my @never = grep { $state{$_} eq 'never' } sort keys %state;
	my @missing = grep { !$present{$_} } @ack;
	is(scalar(@missing), 0, "$label: all " . scalar(@ack) . " acknowledged writes are in the log")
	  or diag "missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]";
	my @back = grep { $present{$_} } @never;
	is(scalar(@back), 0, "$label: none of " . scalar(@never) . " rolled-back writes is present")
	  or diag "present: @back[0 .. ($#back < 9 ? $#back : 9)]";
	my @strangers = grep { !exists $state{$_} } sort keys %present;
	is(scalar(@strangers), 0, "$label: no write that was never sent")
	  or diag "unexpected: @strangers[0 .. ($#strangers < 9 ? $#strangers : 9)]";

	# a transaction's writes are all there or none (in-flight ones included)
	my @torn;
	for my $g (@groups)
	{
		my $have = grep { $present{$_} } @$g;
		push @torn, "@$g" if $have != 0 && $have != scalar(@$g);
	}
	is(scalar(@torn), 0, "$label: no transaction is torn") or diag "torn: $torn[0]";

	# resolve the in-flight writes
	my ($in_present, $in_absent) = (0, 0);
	for my $wid (keys %state)
	{
		next unless $state{$wid} eq 'maybe';
		if   ($present{$wid}) { $state{$wid} = 'ack';   $in_present++ }
		else                  { $state{$wid} = 'never'; $in_absent++ }
	}
	note "$label: in-flight writes found committed: $in_present, lost: $in_absent";

	my $nack = grep { $state{$_} eq 'ack' } keys %state;
	is(q1("SELECT count(*) FROM nedb.ops"), $nack, "$label: the log holds exactly the $nack committed writes");

	# each id reads as its last committed write
	my (@ids, @want);
	for my $id (sort keys %id_wids)
	{
		my ($last) = grep { $state{$_} eq 'ack' } reverse @{ $id_wids{$id} };
		next unless defined $last;
		push @ids,  $id;
		push @want, $is_del{$last} ? undef : $last;
	}
	is( q1(
			"SELECT count(*) FROM unnest(" . sql_array(@ids) . ", " . sql_array(@want) . ") u(id, k)"
			  . " WHERE nedb.get('c', u.id) ->> 'k' IS DISTINCT FROM u.k"),
		0, "$label: nedb.get returns the last committed write of each of " . scalar(@ids) . " ids");
	is(q1("SELECT count(DISTINCT id) FROM nedb.versions"), scalar(@ids), "$label: no other id has versions");

	my $nidem = grep { $state{$_} eq 'ack' && ($idem_put{$_} || $is_del{$_}) } keys %state;
	is(q1("SELECT count(*) FROM nedb.ops WHERE idem IS NOT NULL"),
		$nidem, "$label: one logged idem key per committed idem put or delete");
}

# One writer's script for round $r: (text, [transactions]), a transaction
# being { tag, commit => [wids], never => [wids] }.
sub make_script
{
	my ($r, $w) = @_;
	my $client = "r$r-w$w";
	my $n      = 0;
	my @txs;
	my %writes;    # wid => [id, is_delete, has_idem]
	my $s = "\\set ON_ERROR_STOP 1\n\\o /dev/null\n";
	# the last writer's puts get their seqs at the write; the others' puts
	# in transaction blocks are staged and appended at COMMIT
	$s .= "SET nedb.sequencing = write;\n" if $w == $NCLIENTS;

	my $put = sub {
		my ($wid, $id, $idem) = @_;
		$n++;
		# now and then a document too big to stay inline (random hex: stored
		# out of line in the TOAST table, not compressed)
		my $pad = $n % 7 == 0 ? ', "pad": "' . $pads[ $n % @pads ] . '"' : '';
		$writes{$wid} = [ $id, 0, defined $idem ];
		return "SELECT nedb.put('c', '$id', '{\"k\": \"$wid\", \"n\": $n$pad}', client => '$client'"
		  . (defined $idem ? ", idem => '$idem'" : '') . ");\n";
	};
	my $del = sub {
		my ($wid, $id) = @_;
		$writes{$wid} = [ $id, 1, 1 ];
		return "SELECT nedb.delete('c', '$id', client => '$client', idem => '$wid');\n";
	};
	my $tx = sub {
		my ($tag, $sql, $commit, $never) = @_;
		$s .= $sql . "\\echo DONE $tag\n";
		push @txs, { tag => $tag, commit => $commit, never => $never // [] };
	};

	for my $i (1 .. $NTX)
	{
		my $b    = "r$r-w$w-$i";
		my $prev = sub { "r$r-w$w-" . ($i - $_[0]) };    # id of transaction i-k
		my $kind = $i % 10;
		if ($kind == 0 || $kind == 4 || $kind == 8)
		{
			# a new id, autocommit
			$tx->($i, $put->("$b-p", $b), ["$b-p"]);
		}
		elsif ($kind == 1)
		{
			# overwrite the id of transaction i-1
			$tx->($i, $put->("$b-o", $prev->(1)), ["$b-o"]);
		}
		elsif ($kind == 6)
		{
			# delete the id of transaction i-2
			$tx->($i, $del->("$b-d", $prev->(2)), ["$b-d"]);
		}
		elsif ($kind == 5 && $i % 20 == 15)
		{
			# a bigger block: 40 new ids and an overwrite, whose COMMIT
			# appends them all (a crash may hit it midway)
			my @w   = map { "$b-$_" } 1 .. 40;
			my $sql = "BEGIN;\n" . join('', map { $put->($_, $_) } @w);
			$sql .= $put->("$b-o", $prev->(1)) . "COMMIT;\n";
			$tx->($i, $sql, [ @w, "$b-o" ]);
		}
		elsif ($kind == 5)
		{
			# an explicit multi-put transaction: two new ids and an overwrite
			$tx->(
				$i,
				"BEGIN;\n"
				  . $put->("$b-1", "$b-1")
				  . $put->("$b-2", "$b-2")
				  . $put->("$b-3", $prev->(1))
				  . "COMMIT;\n",
				[ "$b-1", "$b-2", "$b-3" ]);
		}
		elsif ($kind == 2 || $kind == 7)
		{
			# ROLLBACK of a new id, an overwrite and a delete
			$tx->(
				$i,
				"BEGIN;\n"
				  . $put->("$b-r1", "$b-r1")
				  . $put->("$b-r2", $prev->(2) . ($kind == 7 ? '-1' : ''))
				  . $del->("$b-r3", $prev->(2) . ($kind == 7 ? '-2' : ''))
				  . "ROLLBACK;\n",
				[],
				[ "$b-r1", "$b-r2", "$b-r3" ]);
		}
		elsif ($kind == 9)
		{
			# ROLLBACK TO SAVEPOINT of an overwrite of a row written in the
			# same transaction
			$tx->(
				$i,
				"BEGIN;\n"
				  . $put->("$b-1", "$b-1")
				  . "SAVEPOINT s;\n"
				  . $put->("$b-2", "$b-1")
				  . "ROLLBACK TO SAVEPOINT s;\n"
				  . $put->("$b-3", "$b-3")
				  . "COMMIT;\n",
				[ "$b-1", "$b-3" ],
				["$b-2"]);
		}
		elsif ($kind == 3)
		{
			# an idempotency key, then the same key for another id: no write
			$tx->($i, $put->("$b-i", $b, "idem-$b"), ["$b-i"]);
			$tx->("${i}d", $put->("$b-x", "$b-x", "idem-$b"), [], ["$b-x"]);
		}
	}
	return ($s, \@txs, \%writes);
}

# server processes of this node: their working directory is the data directory
sub server_processes
{
	my $dir = Cwd::realpath($node->data_dir);
	my @pids;
	opendir(my $d, '/proc') or return ();
	for my $p (grep { /^\d+$/ } readdir $d)
	{
		my $cwd = readlink("/proc/$p/cwd");
		push @pids, $p if defined $cwd && $cwd eq $dir;
	}
	closedir $d;
	return @pids;
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
	my $mode   = $modes[ $r - 1 ];
	my $label  = "round $r ($mode)";
	my $before = q1("SELECT count(*) FROM nedb.ops");

	# write the scripts, then start the writers together
	my (@h, @txs, @writes, @out, @err);
	for my $w (1 .. $NCLIENTS)
	{
		my ($script, $txs, $writes) = make_script($r, $w);
		PostgreSQL::Test::Utils::append_to_file("$scratch/r$r-w$w.sql", $script);
		$txs[$w]    = $txs;
		$writes[$w] = $writes;
		$out[$w]    = "$scratch/r$r-w$w.out";
		$err[$w]    = "$scratch/r$r-w$w.err";
	}
	for my $w (1 .. $NCLIENTS)
	{
		$h[$w] = IPC::Run::start(
			[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', "$scratch/r$r-w$w.sql" ],
			'<', '/dev/null', '>', $out[$w], '2>', $err[$w],
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	}

	# let them write a while, then crash at a random moment
	my ($failed, $log_offset);
	my $want     = $before + 300 + int(rand(300));
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	while (1)
	{
		my ($ret, $got) = $node->psql('postgres', "SELECT count(*) >= $want FROM nedb.ops");
		last if $ret == 0 && $got eq 't';
		# psql writes to stderr only when something went wrong
		$failed = join('', map { -s $err[$_] ? "writer $_: " . slurp_file($err[$_]) : () } 1 .. $NCLIENTS);
		$failed = "the writers made no progress" if !$failed && time() > $deadline;
		last if $failed;
		usleep(100_000);
	}
	if ($failed)
	{
		# give the postmaster a moment to log what happened, then stop here
		usleep(2_000_000);
		my @bad = grep { /terminated by (?:signal|exception)|PANIC|TRAP:|ERROR:/ }
		  split /\n/, slurp_file($node->logfile);
		fail("$label: the writers ran until the planned crash");
		diag $failed . join("\n", "server log:", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
		$_->kill_kill for @h[ 1 .. $NCLIENTS ];
		last;
	}
	usleep(int(rand(300_000)));

	if ($mode eq 'immediate')
	{
		$node->stop('immediate');
	}
	elsif ($mode eq 'kill9-postmaster')
	{
		my @procs = server_processes();
		ok(grep({ $_ == $node->{_pid} } @procs), "$label: the postmaster is among the node's processes");
		note "$label: killing postmaster $node->{_pid} of " . scalar(@procs) . " server processes";
		my $pm = $node->{_pid};
		$node->kill9;
		# orphaned backends exit when they notice; wait for all of them, so
		# that the new postmaster can start (and any last commit is in WAL),
		# and for the old postmaster to be reaped
		my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
		while (my @left = (server_processes(), (kill(0, $pm) ? ($pm) : ())))
		{
			die "$label: orphaned server processes @left did not exit" if time() > $deadline;
			usleep(50_000);
		}
	}
	elsif ($mode eq 'kill9-backend')
	{
		# any writer: one in BEGIN, SAVEPOINT or COMMIT (where staged puts are
		# appended) is mid-write too, and all four can be there at once
		my $victim = q1(
			"SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
			  . " AND pid <> pg_backend_pid() AND datname = 'postgres'"
			  . " ORDER BY random() LIMIT 1");
		ok($victim =~ /^\d+$/, "$label: found a writer backend to kill");
		note "$label: SIGKILL backend $victim";
		$log_offset = -s $node->logfile;
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
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
		server_back($node)
		  or die "$label: the server did not come back after the backend crash";
		ok($node->log_contains(qr/terminated by signal 9/), "$label: the server log shows the backend crash");
	}
	else
	{
		$node->start;
	}

	# the only crashes are the ones we caused
	my @bad = grep { /terminated by (?:signal (?!9:)|exception)|PANIC|TRAP:|exited with exit code/ }
	  split /\n/, slurp_file($node->logfile);
	is(scalar(@bad), 0, "$label: no server process failed by itself") or diag join("\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)]);

	# register what each writer sent: acknowledged, in flight, rolled back
	my $round_acked = 0;
	for my $w (1 .. $NCLIENTS)
	{
		my $stderr = slurp_file($err[$w]);
		unlike($stderr, qr/ERROR:/, "$label: writer $w hit no SQL error before the crash");
		my @done = map { /^DONE (\S+)$/ ? ($1) : () } split /\n/, slurp_file($out[$w]);
		my $txs = $txs[$w];
		my @expect = map { $_->{tag} } @{$txs}[ 0 .. $#done ];
		is("@done", "@expect", "$label: writer $w acknowledged its transactions in order");
		cmp_ok(scalar(@done), '>', 0, "$label: writer $w had transactions acknowledged");
		cmp_ok(scalar(@done), '<', scalar(@$txs), "$label: writer $w was cut off by the crash");

		for my $p (0 .. scalar(@done))
		{
			last if $p > $#$txs;
			my $tx = $txs->[$p];
			for my $wid (@{ $tx->{commit} }, @{ $tx->{never} })
			{
				my ($id, $isdel, $hasidem) = @{ $writes[$w]{$wid} };
				$is_del{$wid} = 1 if $isdel;
				$idem_put{$wid} = 1 if $hasidem && !$isdel;
				push @{ $id_wids{$id} }, $wid;
			}
			$state{$_} = ($p < scalar(@done) ? 'ack' : 'maybe') for @{ $tx->{commit} };
			$state{$_} = 'never' for @{ $tx->{never} };
			push @groups, $tx->{commit} if @{ $tx->{commit} } > 1;
		}
		$round_acked += scalar(@done);
	}
	note "$label: $round_acked transactions acknowledged this round";

	check_data($label);
	my $n = check_chain($label);
	cmp_ok($n, '>', $before, "$label: the round added ops");
}

# the recovered chain takes new writes at the next seq
$node->start unless defined $node->{_pid};
my $n = q1("SELECT count(*) FROM nedb.ops");
is(q1("SELECT nedb.put('c', 'after', '{\"k\": \"after\"}', client => 'final') ->> '_seq'"),
	$n, "a put after the last recovery gets the next seq");
check_chain("final");
is( q1("SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE oid = 'nedb.versions'::regclass"),
	't', "final: some documents were stored out of line (TOAST), as intended");

$node->stop;
done_testing();
