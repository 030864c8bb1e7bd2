/*
 * repl_launcher.c
 *	  Shared state of op-log replication and the launcher worker.
 *
 * The launcher connects to no database.  At start it claims a slot for
 * every database that accepts connections (as many at a time as there are
 * free slots), and the apply worker started for each looks for a
 * subscription there, releasing the slot at once if there is none.  nedb.subscribe claims the slot of its database at commit.  The
 * launcher keeps one apply worker running per claimed slot, starting it
 * again (after a pause) when it dies with the slot still claimed: a worker
 * that is done releases its slot before it exits.
 *
 * The launcher also runs the rounds of short-lived per-database workers
 * (rounds.c): the TTL sweeper's every nedb.sweep_interval (sweeper.c) and
 * the digest signer's every nedb.digest_interval (digest_worker.c), and
 * starts the index builder (index_worker.c) where builds wait.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "auto_index.h"
#include "repl.h"
#include "digest_worker.h"
#include "sweeper.h"

/* a worker that died is started again after this long */
#define RESTART_DELAY_MS 5000

ReplShared *repl_shared = NULL;
bool		nedb_notify = true;
int			nedb_repl_batch = 10000;
int			nedb_repl_poll_ms = 10000;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
repl_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(sizeof(ReplShared));
	RequestAddinShmemSpace(sweeper_shmem_size());
	auto_index_shmem_request();
}

static void
repl_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	repl_shared = ShmemInitStruct("nedb replication", sizeof(ReplShared), &found);
	if (!found)
	{
		memset(repl_shared, 0, sizeof(ReplShared));
		SpinLockInit(&repl_shared->mutex);
	}
	sweeper_shmem_init();
	auto_index_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

void
nedb_repl_init(void)
{
	BackgroundWorker bgw;

	DefineCustomBoolVariable("nedb.notify",
							 "Whether writing transactions NOTIFY the channel nedb_ops at commit.",
							 "Apply workers following this database wake on it; without it they poll.",
							 &nedb_notify, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nedb.replication_batch",
							"Most ops an apply worker asks its primary for at once.",
							NULL, &nedb_repl_batch, 10000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nedb.replication_poll_interval",
							"How long an idle apply worker waits for a notification before asking anyway.",
							NULL, &nedb_repl_poll_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = repl_shmem_request;
#else
	repl_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = repl_shmem_startup;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = RESTART_DELAY_MS / 1000;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nedb");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "nedb_repl_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "nedb replication launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "nedb replication launcher");
	RegisterBackgroundWorker(&bgw);
}

/* ------------------------------------------------------------------------
 * Slots
 * ------------------------------------------------------------------------ */

int
repl_find(Oid dboid)
{
	for (int i = 0; i < NEDB_MAX_SUBSCRIPTIONS; i++)
		if (repl_shared->slots[i].in_use && repl_shared->slots[i].dboid == dboid)
			return i;
	return -1;
}

/* claim the slot of dboid; false if every slot is taken */
static bool
repl_try_claim(Oid dboid)
{
	int			i;
	PGPROC	   *launcher;

	SpinLockAcquire(&repl_shared->mutex);
	i = repl_find(dboid);
	if (i >= 0)
	{
		/* its worker is on its way out or looking: it must look again */
		repl_shared->slots[i].reclaim = true;
	}
	else
	{
		for (i = 0; i < NEDB_MAX_SUBSCRIPTIONS; i++)
			if (!repl_shared->slots[i].in_use)
				break;
		if (i < NEDB_MAX_SUBSCRIPTIONS)
		{
			ReplSlot   *slot = &repl_shared->slots[i];

			uint32		gen = slot->generation;

			memset(slot, 0, sizeof(ReplSlot));
			slot->generation = gen + 1;
			slot->in_use = true;
			slot->dboid = dboid;
			slot->applied_seq = -1;
			slot->primary_seq = -1;
		}
	}
	launcher = repl_shared->launcher;
	SpinLockRelease(&repl_shared->mutex);

	if (i >= NEDB_MAX_SUBSCRIPTIONS)
		return false;
	if (launcher)
		SetLatch(&launcher->procLatch);
	return true;
}

void
repl_claim(Oid dboid)
{
	if (!repl_try_claim(dboid))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no free NEDB replication slot for database %u", dboid),
				 errdetail("At most %d databases of a server can follow another.",
						   NEDB_MAX_SUBSCRIPTIONS)));
}

void
repl_stop(Oid dboid)
{
	int			i;
	PGPROC	   *proc = NULL;

	SpinLockAcquire(&repl_shared->mutex);
	i = repl_find(dboid);
	if (i >= 0)
	{
		repl_shared->slots[i].stop = true;
		repl_shared->slots[i].reclaim = false;
		proc = repl_shared->slots[i].proc;
	}
	SpinLockRelease(&repl_shared->mutex);
	if (proc)
		SetLatch(&proc->procLatch);
}

/* ------------------------------------------------------------------------
 * The launcher
 * ------------------------------------------------------------------------ */

/*
 * Every database that accepts connections: each gets a slot in turn (its
 * worker frees it at once if there is no subscription), and each is swept.
 */
List *
nedb_all_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *dbs = NIL;
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dbs;
}

/* dropped (a worker could never connect to it again) */
static bool
database_gone(Oid dboid)
{
	bool		exists;

	StartTransactionCommand();
	exists = SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dboid));
	CommitTransactionCommand();
	return !exists;
}

static bool
start_worker(int slotno, BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nedb");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "nedb_repl_apply_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "nedb apply worker %d", slotno);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "nedb apply worker");
	bgw.bgw_main_arg = Int32GetDatum(slotno);
	bgw.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&bgw, handle);
}

void
nedb_repl_launcher_main(Datum arg)
{
	BackgroundWorkerHandle *handles[NEDB_MAX_SUBSCRIPTIONS] = {0};
	TimestampTz next_start[NEDB_MAX_SUBSCRIPTIONS] = {0};
	uint32		started_gen[NEDB_MAX_SUBSCRIPTIONS] = {0};
	List	   *to_probe;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("nedb replication launcher");

	SpinLockAcquire(&repl_shared->mutex);
	repl_shared->launcher = MyProc;
	SpinLockRelease(&repl_shared->mutex);

	to_probe = nedb_all_databases();

	for (;;)
	{
		long		wait_ms = 60 * 1000L;
		TimestampTz now = GetCurrentTimestamp();

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		while (to_probe != NIL && repl_try_claim(linitial_oid(to_probe)))
			to_probe = list_delete_first(to_probe);
		if (to_probe != NIL)
			wait_ms = Min(wait_ms, 1000);

		for (int i = 0; i < NEDB_MAX_SUBSCRIPTIONS; i++)
		{
			bool		in_use;
			uint32		gen;
			pid_t		pid;

			SpinLockAcquire(&repl_shared->mutex);
			in_use = repl_shared->slots[i].in_use;
			gen = repl_shared->slots[i].generation;
			SpinLockRelease(&repl_shared->mutex);

			if (handles[i] != NULL &&
				GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
				continue;		/* running (or starting) */
			if (handles[i] != NULL)
			{
				/*
				 * It died with its slot claimed (not handed on to a fresh
				 * worker): start it again after a pause.
				 */
				pfree(handles[i]);
				handles[i] = NULL;
				if (in_use && gen == started_gen[i])
					next_start[i] = TimestampTzPlusMilliseconds(now, RESTART_DELAY_MS);
			}
			if (!in_use)
				continue;
			if (now < next_start[i])
			{
				wait_ms = Min(wait_ms, TimestampDifferenceMilliseconds(now, next_start[i]) + 1);
				continue;
			}
			if (database_gone(repl_shared->slots[i].dboid))
			{
				SpinLockAcquire(&repl_shared->mutex);
				if (repl_shared->slots[i].generation == gen)
					repl_shared->slots[i].in_use = false;
				SpinLockRelease(&repl_shared->mutex);
				continue;
			}
			started_gen[i] = gen;
			if (!start_worker(i, &handles[i]))
			{
				/* no free worker process now: try again */
				handles[i] = NULL;
				next_start[i] = TimestampTzPlusMilliseconds(now, RESTART_DELAY_MS);
				wait_ms = Min(wait_ms, RESTART_DELAY_MS);
			}
		}

		{
			long		sweep_ms = sweeper_launcher_step(now);
			long		digest_ms = digest_launcher_step(now);
			long		index_ms = index_worker_launcher_step(now);

			if (sweep_ms >= 0)
				wait_ms = Min(wait_ms, sweep_ms);
			if (digest_ms >= 0)
				wait_ms = Min(wait_ms, digest_ms);
			if (index_ms >= 0)
				wait_ms = Min(wait_ms, index_ms);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
