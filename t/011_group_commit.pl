# Group commit and durability.  A NEDB writer releases the chain lock before
# its commit's WAL flush and flushes after (src/group_commit.c); that must
# not weaken what synchronous replication promises.  With a synchronous
# standby named, a put's commit waits for the standby as any commit does:
# while it waits, its op is not visible to other sessions and the next
# writer waits for the chain, so nothing a session sees can be lost by a
# failover.  Without one, group commit is on: an acknowledged put is flushed
# (t/001_crash.pl kills the server under load), and the next writer does not
# wait for the previous writer's flush.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('gc_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'nedb'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION nedb');
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('gc_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

$primary->append_conf('postgresql.conf', "synchronous_standby_names = '*'\n");
$primary->reload;
$primary->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_replication WHERE sync_state = 'sync'")
  or die "the standby did not become synchronous";

is($primary->safe_psql('postgres', "SELECT nedb.put('c', 'a', '{}') ->> '_seq'"),
	'0', 'a put commits with its synchronous standby up');
$standby->poll_query_until('postgres', "SELECT nedb.seq() = 0")
  or die "the standby did not replay seq 0";

# the standby goes away: the next put's commit waits for it
$standby->stop;
my $w1 = $primary->background_psql('postgres', on_error_stop => 0);
my $w1_pid = $w1->query_safe('SELECT pg_backend_pid()');
$w1->query_until(qr/started/, "\\echo started\nSELECT nedb.put('c', 'b', '{}') ->> '_seq';\n");
ok( $primary->poll_query_until(
		'postgres', "SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = $w1_pid"),
	'the put waits for the synchronous standby');
is($primary->safe_psql('postgres', 'SELECT nedb.seq()'),
	'0', 'while it waits its op is not visible');

# and holds the chain: a second writer waits for the first
my $w2 = $primary->background_psql('postgres', on_error_stop => 0);
my $w2_pid = $w2->query_safe('SELECT pg_backend_pid()');
$w2->query_until(qr/started/, "\\echo started\nSELECT nedb.put('c', 'd', '{}') ->> '_seq';\n");
ok( $primary->poll_query_until(
		'postgres',
		"SELECT wait_event IN ('advisory', 'SyncRep') FROM pg_stat_activity WHERE pid = $w2_pid"),
	'a second writer waits too');
is($primary->safe_psql('postgres', 'SELECT nedb.seq()'), '0', 'still nothing visible');

# the standby is back: both commit, in order, and it has both
$standby->start;
is($w1->query_safe("SELECT 'w1-done'"), "1\nw1-done", 'the first put commits once the standby has it');
is($w2->query_safe("SELECT 'w2-done'"), "2\nw2-done", 'then the second');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', "SELECT nedb.seq(), nedb.verify()"),
	"2|t", 'the standby holds both ops and its chain verifies');
$w1->quit;
$w2->quit;

# without a synchronous standby, group commit: an acknowledged put is durable
# at once (its WAL is flushed up to its commit record before COMMIT returns)
$primary->append_conf('postgresql.conf', "synchronous_standby_names = ''\n");
$primary->reload;
$primary->poll_query_until('postgres', "SELECT current_setting('synchronous_standby_names') = ''")
  or die "reload did not take";
is($primary->safe_psql('postgres', "SELECT nedb.put('c', 'e', '{}') ->> '_seq'"),
	'3', 'a put without a synchronous standby');
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', "SELECT nedb.seq(), nedb.get('c', 'e') ->> '_seq', nedb.verify()"),
	"3|3|t", 'and it survives an immediate stop');

# two-phase commit: PREPARE appends a block's staged puts and keeps the
# chain until COMMIT PREPARED (or ROLLBACK PREPARED leaves nothing).  A
# writing transaction NOTIFYs its followers at commit, which Postgres cannot
# prepare: one that prepares sends nothing (chain_notify.c).
$primary->append_conf('postgresql.conf', "max_prepared_transactions = 2\n");
$primary->restart;
my ($ret, $out, $err) = $primary->psql('postgres',
	"BEGIN; SELECT nedb.put('c', 'p0', '{}'); PREPARE TRANSACTION 'p0'");
is($ret, 0, 'with nedb.notify on, a writing transaction can be prepared')
  or diag($err);
$primary->safe_psql('postgres', "ROLLBACK PREPARED 'p0'");
my $p1 = $primary->background_psql('postgres', on_error_stop => 0);
is( $p1->query_safe(
		"BEGIN; SELECT nedb.put('c', 'p1', '{}') ->> '_seq' IS NULL; PREPARE TRANSACTION 'p1'"),
	't', 'a staged put in a transaction that is prepared');
is($primary->safe_psql('postgres', 'SELECT nedb.seq()'), '3', 'a prepared put is not visible');
my $w3 = $primary->background_psql('postgres', on_error_stop => 0);
my $w3_pid = $w3->query_safe('SELECT pg_backend_pid()');
$w3->query_until(qr/started/, "\\echo started\nSELECT nedb.put('c', 'after-p1', '{}') ->> '_seq';\n");
ok( $primary->poll_query_until(
		'postgres', "SELECT wait_event = 'advisory' FROM pg_stat_activity WHERE pid = $w3_pid"),
	'the prepared transaction holds the chain');
$primary->safe_psql('postgres', "COMMIT PREPARED 'p1'");
is($w3->query_safe("SELECT 'w3-done'"), "5\nw3-done", 'after COMMIT PREPARED the next writer goes on');
is($primary->safe_psql('postgres', "SELECT string_agg(id, ',' ORDER BY seq) FROM nedb.ops WHERE seq >= 4"),
	'p1,after-p1', 'the prepared put took seq 4');
$p1->query_safe("BEGIN; SELECT nedb.put('c', 'p2', '{}'); PREPARE TRANSACTION 'p2'");
$primary->safe_psql('postgres', "ROLLBACK PREPARED 'p2'");
is($primary->safe_psql('postgres', "SELECT nedb.seq(), nedb.get('c', 'p2') IS NULL, nedb.verify()"),
	'5|t|t', 'ROLLBACK PREPARED leaves nothing');
$p1->quit;
$w3->quit;

done_testing();
