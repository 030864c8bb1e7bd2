/*
 * index_worker.c
 *	  The index builder: indexes built without holding up writers.
 *
 * A plain CREATE INDEX on nedb.versions takes a ShareLock on it, which
 * stops every put to every collection until the build ends.  CREATE INDEX
 * CONCURRENTLY takes ShareUpdateExclusiveLock, which puts do not conflict
 * with, but it commits and starts transactions of its own, so it refuses to
 * run inside a function or a transaction block (PreventInTransactionBlock),
 * and nedb.create_index cannot run it.  A background worker can: it is at
 * the top level, outside any transaction block, so it runs the statement
 * the way exec_simple_query does: parsed in a memory context that outlives
 * the transactions, through ProcessUtility with PROCESS_UTILITY_TOPLEVEL,
 * with a transaction started for it and committed after it.  (A libpq
 * connection back to the server, as pg_cron's workers use, would need a
 * pg_hba entry and a password or trust; this needs nothing.)
 *
 * The launcher starts the builder for one database at a time (two
 * concurrent builds on nedb.versions would wait for each other anyway: each
 * holds ShareUpdateExclusiveLock on it) when auto_index.c says that
 * database has work: an automatic index wanted (a field queried
 * nedb.auto_index_threshold times without an index), or a request of
 * nedb.create_index(..., concurrently => true) committed.  It also visits
 * every database once at server start, for the requests a restart cut off.
 *
 * The builder runs as the extension's owner with search_path pg_catalog,
 * pg_temp (rounds_worker_start).  Each build is a row of
 * nedb.index_build_log: queued, building (with the builder's pid, which
 * pg_stat_progress_create_index shows the build's phase under: the view
 * nedb.index_builds), then built, failed (with the error) or skipped (the
 * index was there already).  An index is recorded in nedb.indexes only
 * when its build ended valid; a build that failed leaves an INVALID index,
 * which the builder drops (DROP INDEX CONCURRENTLY, again not holding up
 * writers) before it records the error.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/dest.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "auto_index.h"
#include "repl.h"
#include "rounds.h"
#include "util.h"

#define BUILDER_TYPE "nedb index builder"
#define BUILDER_POLL_MS 1000

/* ------------------------------------------------------------------------
 * The launcher's side
 * ------------------------------------------------------------------------ */

static BackgroundWorkerHandle *builder = NULL;
static List *probe_todo = NIL;
static bool probed = false;

long
index_worker_launcher_step(TimestampTz now)
{
	pid_t		pid;
	Oid			dboid;

	if (ai_shared == NULL)
		return -1;
	if (builder != NULL)
	{
		if (GetBackgroundWorkerPid(builder, &pid) != BGWH_STOPPED)
			return BUILDER_POLL_MS; /* one build at a time */
		pfree(builder);
		builder = NULL;
	}
	if (!probed)
	{
		/* requests a restart cut off: every database, once */
		probe_todo = nedb_all_databases();
		probed = true;
	}
	if (probe_todo != NIL)
	{
		dboid = linitial_oid(probe_todo);
		probe_todo = list_delete_first(probe_todo);
	}
	else
		dboid = auto_index_next_pending();
	if (!OidIsValid(dboid))
		return -1;
	if (!rounds_start_worker("nedb_index_worker_main", BUILDER_TYPE, dboid, &builder))
	{
		/* no free worker process now: the same database in a moment */
		builder = NULL;
		auto_index_poke(dboid);
	}
	return BUILDER_POLL_MS;
}

/* ------------------------------------------------------------------------
 * The worker
 * ------------------------------------------------------------------------ */

static Oid	owner = InvalidOid;
static char *my_dbname = NULL;
static Oid	worker_user;
static int	worker_sec;
static MemoryContext cmd_cxt;

/* a transaction as the extension's owner, with a snapshot and SPI */
static void
xact_begin(void)
{
	/* now() is the time of the transaction's first statement */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SetUserIdAndSecContext(owner, worker_sec | SECURITY_LOCAL_USERID_CHANGE);
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
xact_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	SetUserIdAndSecContext(worker_user, worker_sec);
}

/* a statement with text parameters; returns SPI_processed */
static uint64
exec(const char *sql, int nargs, const char **args, int expect)
{
	Oid			types[8];
	Datum		values[8];
	char		nulls[8] = {0};
	int			rc;

	Assert(nargs <= 8);
	for (int i = 0; i < nargs; i++)
	{
		types[i] = TEXTOID;
		values[i] = args[i] ? CStringGetTextDatum(args[i]) : (Datum) 0;
		nulls[i] = args[i] ? ' ' : 'n';
	}
	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != expect)
		elog(ERROR, "nedb index builder: failed (%d): %s", rc, sql);
	return SPI_processed;
}

static char *
col(int row, int colno)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, colno);
}

/*
 * sql at the top level, as exec_simple_query runs a statement: parsed into
 * a context of ours (CREATE INDEX CONCURRENTLY commits the transaction it
 * was called in, and reads its statement after that), in a transaction of
 * its own, as the extension's owner.
 */
static void
run_toplevel(const char *sql)
{
	MemoryContext old;
	List	   *raw;
	RawStmt    *rs;
	PlannedStmt *ps;

	MemoryContextReset(cmd_cxt);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SetUserIdAndSecContext(owner, worker_sec | SECURITY_LOCAL_USERID_CHANGE);
	old = MemoryContextSwitchTo(cmd_cxt);
	sql = pstrdup(sql);
	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		elog(ERROR, "nedb index builder: one statement expected: %s", sql);
	rs = linitial_node(RawStmt, raw);
	ps = makeNode(PlannedStmt);
	ps->commandType = CMD_UTILITY;
	ps->canSetTag = false;
	ps->utilityStmt = rs->stmt;
	ps->stmt_location = rs->stmt_location;
	ps->stmt_len = rs->stmt_len;
	pgstat_report_activity(STATE_RUNNING, sql);
	PushActiveSnapshot(GetTransactionSnapshot());
	ProcessUtility(ps, sql, false, PROCESS_UTILITY_TOPLEVEL, NULL, NULL,
				   None_Receiver, NULL);
	/* the concurrent builds and drops pop it themselves */
	if (ActiveSnapshotSet())
		PopActiveSnapshot();
	MemoryContextSwitchTo(old);
	CommitTransactionCommand();
	SetUserIdAndSecContext(worker_user, worker_sec);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * What a build of name left behind, if it is not an index nedb.indexes
 * records: dropped without holding up writers.  The name was free when the
 * build took it, so an index by that name on nedb.versions is the build's.
 */
static void
drop_leftover(const char *name)
{
	const char *args[1] = {name};
	bool		leftover;

	xact_begin();
	leftover = exec("SELECT 1 FROM pg_catalog.pg_index i"
					" WHERE i.indexrelid = pg_catalog.to_regclass(pg_catalog.format('nedb.%I', $1))"
					"   AND i.indrelid = 'nedb.versions'::pg_catalog.regclass"
					"   AND NOT EXISTS (SELECT 1 FROM nedb.indexes x WHERE x.index_name = $1::name)",
					1, args, SPI_OK_SELECT) > 0;
	xact_end();
	if (leftover)
		run_toplevel(psprintf("DROP INDEX CONCURRENTLY IF EXISTS nedb.%s", quote_identifier(name)));
}

/* an error caught in the builder: its text, the builder's state restored */
static char *
catch_error(MemoryContext cxt)
{
	char	   *msg;

	FreeErrorData(rounds_caught_error(cxt, &msg));
	SetUserIdAndSecContext(worker_user, worker_sec);
	pgstat_report_activity(STATE_IDLE, NULL);
	return msg;
}

/* the builds a restart or a stop cut off: leftovers dropped, failed */
static void
finish_interrupted(MemoryContext cxt)
{
	uint64		n;
	List	   *ids = NIL;
	List	   *names = NIL;
	ListCell   *lc,
			   *lc2;

	xact_begin();
	n = exec("SELECT id, index_name FROM nedb.index_build_log"
			 " WHERE state = 'building'"
			 "   AND pid NOT IN (SELECT a.pid FROM pg_catalog.pg_stat_activity a WHERE a.pid IS NOT NULL)",
			 0, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		ids = lappend(ids, pstrdup(col(i, 1)));
		names = lappend(names, col(i, 2) ? pstrdup(col(i, 2)) : NULL);
		MemoryContextSwitchTo(old);
	}
	xact_end();

	forboth(lc, ids, lc2, names)
	{
		const char *args[1] = {lfirst(lc)};

		CHECK_FOR_INTERRUPTS();
		if (lfirst(lc2))
			drop_leftover(lfirst(lc2));
		xact_begin();
		exec("UPDATE nedb.index_build_log SET state = 'failed', finished_at = pg_catalog.now(), pid = NULL,"
			 " error = 'interrupted: the server restarted or the index builder stopped before the build ended'"
			 " WHERE id = $1::bigint",
			 1, args, SPI_OK_UPDATE);
		xact_end();
	}
}

/*
 * The wanted automatic indexes become queued builds, unless the index is
 * there, a build of it is queued, or the collection is below the size
 * floor of the query that wanted it.
 */
static void
queue_wanted(MemoryContext cxt)
{
	AiEntry    *w = MemoryContextAlloc(cxt, sizeof(AiEntry) * AI_MAX_ENTRIES);
	int			n = auto_index_take_wanted(w, AI_MAX_ENTRIES);

	for (int i = 0; i < n; i++)
	{
		AiEntry    *e = &w[i];
		const char *args[4] = {e->coll, e->field, e->kind, NULL};
		AiState		st = AI_BUILDING;

		CHECK_FOR_INTERRUPTS();
		args[3] = psprintf(INT64_FORMAT, e->min_docs);
		PG_TRY();
		{
			xact_begin();
			if (exec("SELECT 1 FROM nedb.indexes WHERE coll = $1 AND field = $2 AND kind = $3"
					 "   AND pg_catalog.to_regclass(pg_catalog.format('nedb.%I', index_name)) IS NOT NULL",
					 3, args, SPI_OK_SELECT) > 0)
				st = AI_BUILT;
			else if (exec("SELECT 1 FROM nedb.index_build_log WHERE coll = $1 AND field = $2 AND kind = $3"
						  "   AND state IN ('queued', 'building')",
						  3, args, SPI_OK_SELECT) > 0)
				st = AI_BUILDING;
			else
			{
				bool		isnull;

				/* at most min_docs rows read */
				exec("SELECT count(*) FROM (SELECT 1 FROM nedb.versions"
					 " WHERE coll = $1 AND seq_to IS NULL AND doc IS NOT NULL"
					 " LIMIT $4::bigint) x",
					 4, args, SPI_OK_SELECT);
				if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))
					< e->min_docs)
					st = AI_SMALL;
				else
					exec("INSERT INTO nedb.index_build_log (coll, field, kind, auto, state, requested_by)"
						 " VALUES ($1, $2, $3, true, 'queued', 'nedb.auto_index')",
						 3, args, SPI_OK_INSERT);
			}
			xact_end();
		}
		PG_CATCH();
		{
			char	   *msg = catch_error(cxt);

			st = AI_FAILED;
			ereport(WARNING,
					(errmsg("nedb index builder in database \"%s\": could not queue the %s index on %s.%s: %s",
							my_dbname, e->kind, e->coll, e->field, msg)));
		}
		PG_END_TRY();
		auto_index_set_state(e->coll, e->field, e->kind, st);
	}
}

/* the oldest queued build, done; false if there is none */
static bool
build_next(MemoryContext cxt)
{
	char	   *id;
	char	   *coll;
	char	   *field;
	char	   *kind;
	bool		is_auto;
	char	   *name = NULL;
	bool		record = true;
	bool		skip = false;
	char	   *error = NULL;
	MemoryContext old;

	xact_begin();
	if (exec("SELECT id, coll, field, kind, auto FROM nedb.index_build_log"
			 " WHERE state = 'queued' ORDER BY id LIMIT 1", 0, NULL, SPI_OK_SELECT) == 0)
	{
		xact_end();
		return false;
	}
	old = MemoryContextSwitchTo(cxt);
	id = pstrdup(col(0, 1));
	coll = pstrdup(col(0, 2));
	field = pstrdup(col(0, 3));
	kind = pstrdup(col(0, 4));
	is_auto = strcmp(col(0, 5), "t") == 0;
	MemoryContextSwitchTo(old);
	{
		const char *args[3] = {coll, field, kind};

		if (exec("SELECT index_name, pg_catalog.to_regclass(pg_catalog.format('nedb.%I', index_name)) IS NOT NULL"
				 "  FROM nedb.indexes WHERE coll = $1 AND field = $2 AND kind = $3",
				 3, args, SPI_OK_SELECT) > 0)
		{
			/* recorded: there, or lost in a dump and restore (built again) */
			skip = strcmp(col(0, 2), "t") == 0;
			name = MemoryContextStrdup(cxt, col(0, 1));
			record = false;
		}
		else
			name = MemoryContextStrdup(cxt, nedb_free_index_name(coll, field, kind));
	}
	{
		const char *args[4] = {id, name, skip ? "skipped" : "building", NULL};

		exec("UPDATE nedb.index_build_log SET state = $3, index_name = $2,"
			 " started_at = pg_catalog.now(),"
			 " finished_at = CASE WHEN $3 = 'skipped' THEN pg_catalog.now() END,"
			 " pid = CASE WHEN $3 = 'building' THEN pg_catalog.pg_backend_pid() END"
			 " WHERE id = $1::bigint",
			 3, args, SPI_OK_UPDATE);
	}
	xact_end();
	if (skip)
	{
		if (is_auto)
			auto_index_set_state(coll, field, kind, AI_BUILT);
		return true;
	}

	PG_TRY();
	{
		const char *args[5] = {coll, field, kind, name, id};

		run_toplevel(nedb_index_build_sql(coll, field, kind, name, true));
		xact_begin();
		if (exec("SELECT 1 FROM pg_catalog.pg_index"
				 " WHERE indexrelid = pg_catalog.to_regclass(pg_catalog.format('nedb.%I', $1)) AND indisvalid",
				 1, &args[3], SPI_OK_SELECT) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index nedb.%s is not valid after its build", name)));
		if (record)
			exec(is_auto
				 ? "INSERT INTO nedb.indexes (coll, field, kind, index_name, auto) VALUES ($1, $2, $3, $4, true)"
				 : "INSERT INTO nedb.indexes (coll, field, kind, index_name, auto) VALUES ($1, $2, $3, $4, false)",
				 4, args, SPI_OK_INSERT);
		exec("UPDATE nedb.index_build_log SET state = 'built', finished_at = pg_catalog.now(), pid = NULL"
			 " WHERE id = $5::bigint",
			 5, args, SPI_OK_UPDATE);
		xact_end();
	}
	PG_CATCH();
	{
		error = catch_error(cxt);
	}
	PG_END_TRY();

	if (error == NULL)
	{
		if (is_auto)
			auto_index_set_state(coll, field, kind, AI_BUILT);
		ereport(LOG,
				(errmsg("nedb index builder built the %s%s index %s on %s.%s in database \"%s\"",
						is_auto ? "automatic " : "", kind, name, coll, field, my_dbname)));
		return true;
	}

	/* an INVALID index (or a valid one not recorded) is dropped, then reported */
	PG_TRY();
	{
		drop_leftover(name);
	}
	PG_CATCH();
	{
		char	   *msg = catch_error(cxt);

		ereport(WARNING,
				(errmsg("nedb index builder in database \"%s\": could not drop the invalid index nedb.%s: %s",
						my_dbname, name, msg),
				 errhint("DROP INDEX CONCURRENTLY nedb.%s", quote_identifier(name))));
	}
	PG_END_TRY();
	{
		const char *args[2] = {id, error};

		xact_begin();
		exec("UPDATE nedb.index_build_log SET state = 'failed', finished_at = pg_catalog.now(),"
			 " pid = NULL, error = $2 WHERE id = $1::bigint",
			 2, args, SPI_OK_UPDATE);
		xact_end();
	}
	if (is_auto)
		auto_index_set_state(coll, field, kind, AI_FAILED);
	ereport(WARNING,
			(errmsg("nedb index builder in database \"%s\": the %s index on %s.%s failed: %s",
					my_dbname, kind, coll, field, error),
			 errhint("The error is in nedb.index_builds; nothing was recorded in nedb.indexes.")));
	return true;
}

/* NEDB 1.1 with the builder's log, in this database */
static bool
builder_wanted(void)
{
	bool		have;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	my_dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	have = OidIsValid(owner) &&
		OidIsValid(get_namespace_oid("nedb", true)) &&
		OidIsValid(get_relname_relid("index_build_log", get_namespace_oid("nedb", true)));
	PopActiveSnapshot();
	CommitTransactionCommand();
	return have;
}

void
nedb_index_worker_main(Datum arg)
{
	MemoryContext worker_cxt;

	owner = rounds_worker_start(DatumGetObjectId(arg), BUILDER_TYPE);
	if (!builder_wanted())
		proc_exit(0);
	GetUserIdAndSecContext(&worker_user, &worker_sec);
	worker_cxt = AllocSetContextCreate(TopMemoryContext, "nedb index builder",
									   ALLOCSET_DEFAULT_SIZES);
	cmd_cxt = AllocSetContextCreate(TopMemoryContext, "nedb index builder statement",
									ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		finish_interrupted(worker_cxt);
	}
	PG_CATCH();
	{
		char	   *msg = catch_error(worker_cxt);

		ereport(WARNING,
				(errmsg("nedb index builder in database \"%s\": %s", my_dbname, msg)));
	}
	PG_END_TRY();

	for (;;)
	{
		bool		more = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(worker_cxt);
		queue_wanted(worker_cxt);
		PG_TRY();
		{
			more = build_next(worker_cxt);
		}
		PG_CATCH();
		{
			char	   *msg = catch_error(worker_cxt);

			ereport(WARNING,
					(errmsg("nedb index builder in database \"%s\": %s", my_dbname, msg)));
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(worker_cxt);
		if (!more)
			break;
	}
	proc_exit(0);
}
