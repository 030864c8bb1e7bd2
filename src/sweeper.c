/*
 * sweeper.c
 *	  The TTL sweeper: the deletes of expired documents, in the background.
 *
 * Reads hide an expired document at once; its delete reaches the log when
 * something sweeps.  With the library in shared_preload_libraries and
 * nedb.sweep_interval > 0 the launcher (repl_launcher.c) runs a round every
 * interval: for each database that accepts connections, one after the
 * other, a short-lived sweeper worker.  In a database with NEDB (and no
 * subscription: a following database gets its deletes from its primary) the
 * worker, as the extension's owner with search_path pg_catalog, pg_temp,
 * logs the deletes nedb.sweep() would (sweep_expired, client __ttl__), in
 * transactions of at most nedb.sweep_batch deletes each, until none is
 * left, then exits; in any other database it exits at once.
 *
 * Each batch takes the chain lock only for its own deletes (the candidates
 * are found before it, and checked again under it), and commits on its own:
 * a crash or an immediate stop loses at most the batch in flight, whose
 * documents are still live and expired, so the next run deletes them, once.
 * What the runs did is kept in shared memory, one entry per database
 * (nedb.sweeper_status(), the view nedb.sweeper): lost at a restart, like
 * Postgres's activity statistics.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "repl.h"
#include "rounds.h"
#include "session.h"
#include "store.h"
#include "sweeper.h"
#include "util.h"
#include "write.h"

PG_FUNCTION_INFO_V1(nedb_sweeper_status);

int			nedb_sweep_interval_ms = 0;
int			nedb_sweep_batch = 1000;

typedef struct SweepEntry
{
	bool		in_use;
	Oid			dboid;
	pid_t		pid;			/* the worker sweeping it now, 0 if none */
	int64		runs;
	TimestampTz last_start;
	TimestampTz last_end;		/* 0 while the first run is going on */
	int64		last_deleted;	/* in the last run (so far, while running) */
	int64		total_deleted;	/* since the server started */
	TimestampTz error_at;
	char		last_error[NEDB_ERROR_LEN];
} SweepEntry;

typedef struct SweepShared
{
	slock_t		mutex;
	SweepEntry	dbs[NEDB_SWEEP_MAX_DBS];
} SweepShared;

static SweepShared *sweep_shared = NULL;

/* in a worker: our entry, and our database's name (for messages) */
static SweepEntry *my_entry = NULL;
static char *my_dbname = NULL;

void
nedb_sweeper_init(void)
{
	DefineCustomIntVariable("nedb.sweep_interval",
							"How often the background sweeper logs the deletes of expired documents.",
							"0 turns it off. Needs nedb in shared_preload_libraries.",
							&nedb_sweep_interval_ms, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("nedb.sweep_batch",
							"Most deletes the background sweeper logs in one transaction.",
							NULL, &nedb_sweep_batch, 1000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

Size
sweeper_shmem_size(void)
{
	return sizeof(SweepShared);
}

/* called with AddinShmemInitLock held */
void
sweeper_shmem_init(void)
{
	bool		found;

	sweep_shared = ShmemInitStruct("nedb sweeper", sizeof(SweepShared), &found);
	if (!found)
	{
		memset(sweep_shared, 0, sizeof(SweepShared));
		SpinLockInit(&sweep_shared->mutex);
	}
}

/* ------------------------------------------------------------------------
 * The launcher's rounds
 * ------------------------------------------------------------------------ */

static WorkerRounds sweep_rounds = {
	.function = "nedb_sweeper_main",
	.type = "nedb sweeper",
	.interval_ms = &nedb_sweep_interval_ms,
};

long
sweeper_launcher_step(TimestampTz now)
{
	return rounds_step(&sweep_rounds, now);
}

/* ------------------------------------------------------------------------
 * The worker
 * ------------------------------------------------------------------------ */

/* our database's entry (a free one, or the least recently used) */
static void
entry_claim(Oid dboid)
{
	SweepEntry *e = NULL;

	SpinLockAcquire(&sweep_shared->mutex);
	for (int i = 0; i < NEDB_SWEEP_MAX_DBS && e == NULL; i++)
		if (sweep_shared->dbs[i].in_use && sweep_shared->dbs[i].dboid == dboid)
			e = &sweep_shared->dbs[i];
	for (int i = 0; i < NEDB_SWEEP_MAX_DBS && e == NULL; i++)
		if (!sweep_shared->dbs[i].in_use)
		{
			e = &sweep_shared->dbs[i];
			memset(e, 0, sizeof(SweepEntry));
		}
	if (e == NULL)
	{
		/* more swept databases than entries: forget the one idle longest */
		for (int i = 0; i < NEDB_SWEEP_MAX_DBS; i++)
		{
			SweepEntry *c = &sweep_shared->dbs[i];

			if (c->pid == 0 && (e == NULL || c->last_start < e->last_start))
				e = c;
		}
		if (e != NULL)
			memset(e, 0, sizeof(SweepEntry));
	}
	if (e != NULL)
	{
		e->in_use = true;
		e->dboid = dboid;
		e->pid = MyProcPid;
		e->runs++;
		e->last_start = GetCurrentTimestamp();
		e->last_deleted = 0;
	}
	SpinLockRelease(&sweep_shared->mutex);
	my_entry = e;
}

static void
entry_detach(int code, Datum arg)
{
	if (my_entry == NULL)
		return;
	SpinLockAcquire(&sweep_shared->mutex);
	if (my_entry->pid == MyProcPid)
		my_entry->pid = 0;
	SpinLockRelease(&sweep_shared->mutex);
}

static void
entry_add(int64 n)
{
	if (my_entry == NULL)
		return;
	SpinLockAcquire(&sweep_shared->mutex);
	my_entry->last_deleted += n;
	my_entry->total_deleted += n;
	SpinLockRelease(&sweep_shared->mutex);
}

static void
entry_done(const char *error)
{
	if (my_entry == NULL)
		return;
	SpinLockAcquire(&sweep_shared->mutex);
	my_entry->last_end = GetCurrentTimestamp();
	if (error)
	{
		strlcpy(my_entry->last_error, error, NEDB_ERROR_LEN);
		my_entry->error_at = my_entry->last_end;
	}
	else
	{
		my_entry->last_error[0] = '\0';
		my_entry->error_at = 0;
	}
	SpinLockRelease(&sweep_shared->mutex);
}

/*
 * Whether to sweep this database, and as whom: it has NEDB and follows no
 * other database (whose apply worker appends the primary's deletes).
 */
static bool
sweep_wanted(Oid owner)
{
	bool		wanted = false;
	Oid			nsp;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	my_dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	nsp = get_namespace_oid("nedb", true);
	if (OidIsValid(owner) && OidIsValid(nsp))
		wanted = !OidIsValid(get_relname_relid("subscription", nsp)) ||
			store_subscription() == NULL;
	PopActiveSnapshot();
	CommitTransactionCommand();
	return wanted;
}

/*
 * One transaction of at most lim deletes, looking at the versions after
 * *after_seq; returns how many, and in *found the candidates.
 */
static uint64
sweep_batch(Oid owner, int lim, int64 *after_seq, uint64 *found)
{
	NedbSession s;
	Oid			save_user;
	int			save_sec;
	uint64		n;

	StartTransactionCommand();
	/* as the extension's owner (an abort gives the worker's identity back) */
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "nedb sweep");

	/* as nedb.sweep(): it deletes in every collection */
	nedb_acl_require_collection(GetUserId(), NULL, NEDB_WRITE);
	nedb_begin(&s);
	n = sweep_expired(lim, after_seq, found);
	nedb_end(&s);

	PopActiveSnapshot();
	SetUserIdAndSecContext(save_user, save_sec);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
	return n;
}

/*
 * Batches until one finds fewer candidates than it may delete, or the
 * sweeper is turned off.  Each batch goes on in seq order where the one
 * before stopped, so a run reads the current versions once.
 */
static int64
sweep_run(Oid owner, MemoryContext batch_cxt)
{
	int64		total = 0;
	int64		after_seq = -1;

	for (;;)
	{
		int			lim;
		uint64		n;
		uint64		found;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (nedb_sweep_interval_ms <= 0)
			break;
		lim = nedb_sweep_batch;
		MemoryContextSwitchTo(batch_cxt);
		n = sweep_batch(owner, lim, &after_seq, &found);
		MemoryContextSwitchTo(batch_cxt);
		MemoryContextReset(batch_cxt);
		total += n;
		entry_add(n);
		if (found < (uint64) lim)
			break;
	}
	return total;
}

void
nedb_sweeper_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	Oid			owner;
	MemoryContext worker_cxt;
	MemoryContext batch_cxt;

	owner = rounds_worker_start(dboid, "nedb sweeper");
	if (!sweep_wanted(owner))
		proc_exit(0);

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "nedb sweeper",
									   ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(TopMemoryContext, "nedb sweeper batch",
									  ALLOCSET_DEFAULT_SIZES);
	entry_claim(dboid);
	before_shmem_exit(entry_detach, (Datum) 0);

	PG_TRY();
	{
		int64		n = sweep_run(owner, batch_cxt);

		entry_done(NULL);
		if (n > 0)
			ereport(LOG,
					(errmsg("nedb sweeper logged the deletes of " INT64_FORMAT " expired documents in database \"%s\"",
							n, my_dbname)));
	}
	PG_CATCH();
	{
		char	   *msg;
		ErrorData  *edata = rounds_caught_error(worker_cxt, &msg);

		entry_done(msg);
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("nedb sweeper in database \"%s\": %s", my_dbname, edata->message),
				 edata->detail ? errdetail("%s", edata->detail) : 0,
				 errhint("The deletes committed before the error stay; the next run goes on.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	proc_exit(0);
}

/* ------------------------------------------------------------------------
 * nedb.sweeper_status(): the entries
 * ------------------------------------------------------------------------ */

Datum
nedb_sweeper_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *ts = nedb_srf_begin(fcinfo, &desc);

	if (sweep_shared == NULL)
		return (Datum) 0;
	for (int i = 0; i < NEDB_SWEEP_MAX_DBS; i++)
	{
		SweepEntry	e;
		Datum		v[9];
		bool		n[9] = {0};
		char	   *dbname;

		SpinLockAcquire(&sweep_shared->mutex);
		e = sweep_shared->dbs[i];
		SpinLockRelease(&sweep_shared->mutex);
		if (!e.in_use)
			continue;
		dbname = get_database_name(e.dboid);
		if (dbname == NULL)
			continue;			/* dropped */

		v[0] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
		v[1] = Int32GetDatum(e.pid);
		n[1] = e.pid == 0;
		v[2] = Int64GetDatum(e.runs);
		v[3] = TimestampTzGetDatum(e.last_start);
		v[4] = TimestampTzGetDatum(e.last_end);
		/* the run going on has no end yet */
		n[4] = e.last_end == 0 || e.last_end < e.last_start;
		v[5] = Int64GetDatum(e.last_deleted);
		v[6] = Int64GetDatum(e.total_deleted);
		v[7] = CStringGetTextDatum(e.last_error);
		n[7] = e.last_error[0] == '\0';
		v[8] = TimestampTzGetDatum(e.error_at);
		n[8] = e.error_at == 0;
		tuplestore_putvalues(ts, desc, v, n);
	}
	return (Datum) 0;
}
