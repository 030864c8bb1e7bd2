/*
 * rounds.c
 *	  Rounds of short-lived per-database workers, run by the launcher.
 *
 * The launcher (repl_launcher.c) calls rounds_step for each kind of round
 * at each wake-up.  A round visits every database that accepts connections,
 * one worker at a time (so a round costs at most one worker process), and
 * the next round starts an interval after the last one started.  A worker
 * that finds no NEDB in its database exits at once.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "repl.h"
#include "rounds.h"

/* a worker that could not be started is tried again after this long */
#define ROUNDS_RETRY_MS 1000

bool
rounds_start_worker(const char *function, const char *type, Oid dboid,
					BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "nedb");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s for database %u", type, dboid);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", type);
	bgw.bgw_main_arg = ObjectIdGetDatum(dboid);
	/* its start and its end set our latch */
	bgw.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&bgw, handle);
}

long
rounds_step(WorkerRounds *r, TimestampTz now)
{
	pid_t		pid;

	if (r->handle != NULL)
	{
		if (GetBackgroundWorkerPid(r->handle, &pid) != BGWH_STOPPED)
			return ROUNDS_RETRY_MS; /* still running: one at a time */
		pfree(r->handle);
		r->handle = NULL;
	}
	if (*r->interval_ms <= 0 || (r->enabled != NULL && !r->enabled()))
	{
		list_free(r->todo);
		r->todo = NIL;
		r->round_start = 0;
		return -1;
	}
	if (r->todo == NIL)
	{
		TimestampTz next = TimestampTzPlusMilliseconds(r->round_start, *r->interval_ms);

		if (r->round_start != 0 && now < next)
			return TimestampDifferenceMilliseconds(now, next) + 1;
		r->round_start = now;
		r->todo = nedb_all_databases();
		if (r->todo == NIL)
			return *r->interval_ms;
	}
	if (!rounds_start_worker(r->function, r->type, linitial_oid(r->todo), &r->handle))
	{
		/* no free worker process now: the same database in a moment */
		r->handle = NULL;
		return ROUNDS_RETRY_MS;
	}
	r->todo = list_delete_first(r->todo);
	return ROUNDS_RETRY_MS;
}

/* the owner of extension nedb, InvalidOid if the database has none */
static Oid
extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("nedb"));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

Oid
rounds_worker_start(Oid dboid, const char *appname)
{
	Oid			owner;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(appname);

	/* nothing a database or role setting says may change what we run */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	owner = extension_owner();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return owner;
}

ErrorData *
rounds_caught_error(MemoryContext cxt, char **text)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	RESUME_INTERRUPTS();
	if (text)
		*text = psprintf("%s%s%s", edata->message,
						 edata->detail ? " " : "", edata->detail ? edata->detail : "");
	return edata;
}
