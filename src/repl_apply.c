/*
 * repl_apply.c
 *	  The apply worker: this database follows another database's chain.
 *
 * One worker per following database.  It connects to the primary with libpq,
 * checks that its own head is on the primary's chain, LISTENs on the channel
 * every writing transaction of the primary NOTIFYs at commit, and asks for
 * the ops after its head in batches (nedb.export_bodies(since, max), one
 * statement, so the primary's seq comes from the same snapshot).  Each batch
 * is applied in one local transaction, each op checked against the head
 * exactly as nedb.import_aof checks a line (seq follows, prev_hash = head,
 * hash recomputed) and appended with its original seq, ts, client, nonce and
 * hash: the local log's head is the applied position, durable with the ops.
 * After a full batch the next one is asked for before this one is applied,
 * so the primary reads while we write.  Between batches the worker holds no
 * transaction and sleeps on its latch and the connection's socket; a slow
 * poll covers a lost notification.
 *
 * A bad op (hash, prev or seq mismatch: a tampered or diverged primary) stops
 * the worker: the batch holding it is rolled back and the ops before it are
 * applied again on their own, so nothing at or past it is applied, and the
 * error goes to nedb.subscription.  Connection and other errors are retried
 * with a growing pause.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "aof.h"
#include "canon.h"
#include "cascade.h"
#include "chain.h"
#include "repl.h"
#include "rounds.h"
#include "store.h"

/* waits for the primary longer than this are an error */
#define CONNECT_TIMEOUT_MS 30000
#define QUERY_TIMEOUT_MS 120000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000

bool		nedb_repl_applying = false;

static ReplSlot *my_slot = NULL;
static char *sub_name = NULL;
static char *sub_conninfo = NULL;
static PGconn *conn = NULL;
static PGresult *batch = NULL;
static int64 applied_seq = -1;
static bool in_apply = false;	/* an error now is the stream's fault */
static int	apply_index = 0;	/* the batch row being applied */
static bool fetch_pending = false;	/* the next batch asked for, not yet read */
static bool keys_checked = false;	/* store_track_written_keys was asked */
static long backoff_ms = 0;
static MemoryContext line_cxt = NULL;
static SPIPlanPtr sub_plan = NULL;

/* ------------------------------------------------------------------------
 * Our slot
 * ------------------------------------------------------------------------ */

static void
slot_set_state(ReplState state)
{
	SpinLockAcquire(&repl_shared->mutex);
	my_slot->state = state;
	SpinLockRelease(&repl_shared->mutex);
}

static bool
slot_stop_requested(void)
{
	bool		stop;

	SpinLockAcquire(&repl_shared->mutex);
	stop = my_slot->stop;
	SpinLockRelease(&repl_shared->mutex);
	return stop;
}

/* done here: free the slot, or leave it claimed for a fresh worker */
static void
slot_release(void)
{
	SpinLockAcquire(&repl_shared->mutex);
	if (my_slot->proc == MyProc)
		my_slot->proc = NULL;
	if (my_slot->reclaim)
	{
		my_slot->reclaim = false;
		my_slot->generation++;
	}
	else
		my_slot->in_use = false;
	SpinLockRelease(&repl_shared->mutex);
}

static void
slot_detach(int code, Datum arg)
{
	SpinLockAcquire(&repl_shared->mutex);
	if (my_slot->proc == MyProc)
		my_slot->proc = NULL;
	SpinLockRelease(&repl_shared->mutex);
	if (conn)
		PQfinish(conn);
	conn = NULL;
}

/* ------------------------------------------------------------------------
 * Local transactions
 * ------------------------------------------------------------------------ */

/* the subscription of this database: false if there is none to follow */
static bool
read_subscription(void)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	bool		found = false;
	bool		isnull;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* a database without NEDB (or without its replication) follows nothing */
	if (SPI_execute("SELECT pg_catalog.to_regclass('nedb.subscription') IS NOT NULL",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for nedb.subscription");
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		if (SPI_execute("SELECT name, conninfo FROM nedb.subscription WHERE state = 'enabled'",
						true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read nedb.subscription");
		if (SPI_processed == 1)
		{
			TupleDesc	desc = SPI_tuptable->tupdesc;

			sub_name = MemoryContextStrdup(TopMemoryContext,
										   SPI_getvalue(SPI_tuptable->vals[0], desc, 1));
			sub_conninfo = MemoryContextStrdup(TopMemoryContext,
											   SPI_getvalue(SPI_tuptable->vals[0], desc, 2));
			found = true;
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller_cxt);
	return found;
}

/* the stream is bad: say so in nedb.subscription, for good */
static void
record_error(const char *msg)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = CStringGetTextDatum(sub_name);
	args[1] = CStringGetTextDatum(msg);
	if (SPI_execute_with_args("UPDATE nedb.subscription SET state = 'error', last_error = $2,"
							  " error_at = pg_catalog.now() WHERE name = $1",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record the error of subscription \"%s\"", sub_name);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller_cxt);
}

/* our last seq and head */
static int64
read_head(char *hex)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	NedbSession s;
	int64		seq;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	nedb_begin(&s);
	seq = chain_read_head(hex);
	nedb_end(&s);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller_cxt);
	return seq;
}

/* the file of the put_file op at seq, from its bytes as bytea text */
static void
apply_file(int64 seq, const char *text)
{
	size_t		len;
	unsigned char *bytes = PQunescapeBytea((const unsigned char *) text, &len);

	if (bytes == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory decoding the file of op " INT64_FORMAT, seq)));
	PG_TRY();
	{
		cascade_apply_file(seq, bytes, len);
	}
	PG_FINALLY();
	{
		PQfreemem(bytes);
	}
	PG_END_TRY();
}

/*
 * While a batch is applied, take in what the primary has sent of the next
 * one: it writes into the socket only as fast as we read, so a batch read
 * only after the last one was applied would keep it waiting half the time.
 * (A broken connection shows at fetch_recv.)
 */
static inline void
drain_primary(int i)
{
	if (fetch_pending && (i & 31) == 0)
		(void) PQconsumeInput(conn);
}

/*
 * Apply the first n rows of batch (columns 2 and 3: each op's hash and
 * canonical body, 4: a put_file's bytes) in one transaction.
 * False if the subscription is gone (nothing applied).
 */
static bool
apply_batch(int n)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	NedbSession s;
	Oid			type = TEXTOID;
	Datum		arg;
	int64		seq = applied_seq;
	double		ts = 0;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	nedb_begin(&s);

	/* holds off a concurrent nedb.unsubscribe until we commit */
	if (sub_plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT 1 FROM nedb.subscription WHERE name = $1"
									" AND state = 'enabled' FOR SHARE", 1, &type);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		sub_plan = p;
	}
	arg = CStringGetTextDatum(sub_name);
	if (SPI_execute_plan(sub_plan, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read subscription \"%s\"", sub_name);
	if (SPI_processed == 0)
	{
		nedb_end(&s);
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(caller_cxt);
		return false;
	}

	chain_lock();
	if (!keys_checked)
	{
		int64		primary_seq;

		/*
		 * From an empty database (nothing else writes while we follow) every
		 * version is ours: a put of a key we never wrote has none to close.
		 */
		SpinLockAcquire(&repl_shared->mutex);
		primary_seq = my_slot->primary_seq;
		SpinLockRelease(&repl_shared->mutex);
		keys_checked = true;
		if (applied_seq < 0)
			(void) store_track_written_keys(primary_seq - applied_seq);
	}
	in_apply = true;
	for (apply_index = 0; apply_index < n; apply_index++)
	{
		MemoryContext old;
		int			i = apply_index;

		CHECK_FOR_INTERRUPTS();
		drain_primary(i);
		old = MemoryContextSwitchTo(line_cxt);
		seq = aof_apply_body(PQgetvalue(batch, i, 3), PQgetlength(batch, i, 3),
							 PQgetvalue(batch, i, 2), &ts);
		if (!PQgetisnull(batch, i, 4))
			apply_file(seq, PQgetvalue(batch, i, 4));
		MemoryContextSwitchTo(old);
		MemoryContextReset(line_cxt);
	}
	in_apply = false;

	nedb_end(&s);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller_cxt);

	applied_seq = seq;
	SpinLockAcquire(&repl_shared->mutex);
	my_slot->applied_seq = seq;
	my_slot->applied_ts = ts;
	my_slot->applied_at = GetCurrentTimestamp();
	SpinLockRelease(&repl_shared->mutex);
	return true;
}

/* ------------------------------------------------------------------------
 * The primary (libpq, waiting on our latch and its socket)
 * ------------------------------------------------------------------------ */

static void
conn_error(const char *what)
{
	char	   *msg = pstrdup(conn ? PQerrorMessage(conn) : "out of memory");
	int			len = strlen(msg);

	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("%s: %s", what, msg)));
}

/* wait for events on the primary's socket (or our latch); 0 on timeout */
static int
conn_wait(int events, long timeout_ms)
{
	int			rc;

	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
						   PQsocket(conn), timeout_ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return rc & (events | WL_TIMEOUT);
}

static void
primary_connect(void)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {sub_conninfo, "nedb apply worker", NULL};
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   CONNECT_TIMEOUT_MS);

	conn = PQconnectStartParams(keys, vals, true);
	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD)
		conn_error("could not connect to the primary");
	while (st != PGRES_POLLING_OK)
	{
		int			rc;

		if (st == PGRES_POLLING_FAILED)
			conn_error("could not connect to the primary");
		rc = conn_wait(st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE,
					   1000);
		if (rc & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			st = PQconnectPoll(conn);
		else if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not connect to the primary: timed out")));
	}
}

/* the result of the statement sent last; the caller's to PQclear */
static PGresult *
primary_result(void)
{
	PGresult   *res;
	PGresult   *last = NULL;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   QUERY_TIMEOUT_MS);

	for (;;)
	{
		while (PQisBusy(conn))
		{
			if (conn_wait(WL_SOCKET_READABLE, 1000) & WL_SOCKET_READABLE)
			{
				if (!PQconsumeInput(conn))
					conn_error("lost the connection to the primary");
			}
			else if (GetCurrentTimestamp() >= deadline)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("the primary did not answer within %d s", QUERY_TIMEOUT_MS / 1000)));
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		if (last)
			PQclear(last);
		last = res;
	}
	if (last == NULL ||
		(PQresultStatus(last) != PGRES_TUPLES_OK && PQresultStatus(last) != PGRES_COMMAND_OK))
	{
		char	   *msg = pstrdup(last ? PQresultErrorMessage(last) : PQerrorMessage(conn));
		int			len = strlen(msg);

		if (last)
			PQclear(last);
		while (len > 0 && msg[len - 1] == '\n')
			msg[--len] = '\0';
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("the primary failed a query: %s", msg)));
	}
	return last;
}

static void
primary_send(const char *sql, int nparams, const char *const *params)
{
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		conn_error("could not send a query to the primary");
}

/* run one statement on the primary; the result is the caller's to PQclear */
static PGresult *
primary_query(const char *sql, int nparams, const char *const *params)
{
	primary_send(sql, nparams, params);
	return primary_result();
}

/* read pending notifications; true if there were any */
static bool
primary_notified(void)
{
	PGnotify   *nf;
	bool		any = false;

	if (!PQconsumeInput(conn))
		conn_error("lost the connection to the primary");
	while ((nf = PQnotifies(conn)) != NULL)
	{
		any = true;
		PQfreemem(nf);
	}
	return any;
}

/* ask for at most max ops after since (answered by fetch_recv) */
static void
fetch_send(int64 since, int max)
{
	char		since_s[32];
	char		max_s[32];
	const char *params[2] = {since_s, max_s};

	snprintf(since_s, sizeof(since_s), INT64_FORMAT, since);
	snprintf(max_s, sizeof(max_s), "%d", max);
	if (!PQsendQueryPrepared(conn, "nedb_fetch", 2, params, NULL, NULL, 0))
		conn_error("could not send a query to the primary");
}

/* the answer to fetch_send, in batch; returns how many ops */
static int
fetch_recv(int64 *primary_seq)
{
	int			n;

	apply_index = 0;
	batch = primary_result();
	n = PQntuples(batch);
	if (n < 1 || PQnfields(batch) != 5)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the primary answered %d rows of %d columns for a batch",
						n, PQnfields(batch))));
	*primary_seq = strtoi64(PQgetvalue(batch, 0, 0), NULL, 10);
	if (n == 1 && PQgetisnull(batch, 0, 3))
		n = 0;

	SpinLockAcquire(&repl_shared->mutex);
	my_slot->primary_seq = *primary_seq;
	my_slot->last_contact = GetCurrentTimestamp();
	SpinLockRelease(&repl_shared->mutex);
	return n;
}

/* our head must be on the primary's chain: the op at our seq has our hash */
static void
check_prefix(void)
{
	char		head[NEDB_HEX_LEN + 1];
	int64		primary_seq;
	int			n;

	applied_seq = read_head(head);
	SpinLockAcquire(&repl_shared->mutex);
	my_slot->applied_seq = applied_seq;
	SpinLockRelease(&repl_shared->mutex);
	if (applied_seq < 0)
		return;

	fetch_send(applied_seq - 1, 1);
	n = fetch_recv(&primary_seq);
	in_apply = true;
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the primary's log is shorter than this database's"),
				 errdetail("This database's last seq is " INT64_FORMAT ", the primary's " INT64_FORMAT ".",
						   applied_seq, primary_seq)));
	else if (strcmp(PQgetvalue(batch, 0, 2), head) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("this database's chain diverged from the primary's at seq " INT64_FORMAT,
						applied_seq),
				 errdetail("This database's op has hash %s, the primary's %s.",
						   head, PQgetvalue(batch, 0, 2))));
	in_apply = false;
	PQclear(batch);
	batch = NULL;
}

/* follow the primary until the subscription is gone */
static void
follow(void)
{
	slot_set_state(REPL_CONNECTING);
	primary_connect();
	/* the primary's role and database settings must not resolve our names */
	PQclear(primary_query("SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)",
						  0, NULL));
	/*
	 * The batch query, planned once: the primary's seq from the same
	 * snapshot as the ops, each op's hash and canonical body (what the hash
	 * is computed over: nothing to reformat on either side), and with each
	 * put_file op the bytes of the file version it logged (its body carries
	 * only their root).
	 */
	if (!PQsendPrepare(conn, "nedb_fetch",
					   "SELECT s, b.seq, b.hash, b.body, CASE WHEN strpos(b.body, '\"op\":\"put_file\"') > 0 THEN"
					   " (SELECT nedb.get_file(f.name, f.version, f.tier) FROM nedb.files f WHERE f.seq = b.seq)"
					   " END FROM nedb.seq() s"
					   " LEFT JOIN LATERAL nedb.export_bodies($1, $2) b ON true",
					   2, NULL))
		conn_error("could not send a query to the primary");
	PQclear(primary_result());
	check_prefix();
	PQclear(primary_query("LISTEN " NEDB_NOTIFY_CHANNEL, 0, NULL));
	backoff_ms = 0;
	SpinLockAcquire(&repl_shared->mutex);
	my_slot->state = REPL_CATCHUP;
	my_slot->last_error[0] = '\0';		/* connected again: that is over */
	SpinLockRelease(&repl_shared->mutex);

	for (;;)
	{
		int64		primary_seq;
		int			max = nedb_repl_batch;
		int			n;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (slot_stop_requested())
			return;

		if (!fetch_pending)
			fetch_send(applied_seq, max);
		n = fetch_recv(&primary_seq);
		fetch_pending = false;
		if (n >= max)
		{
			/* more to come: the primary reads the next batch while we apply */
			fetch_send(applied_seq + n, max);
			fetch_pending = true;
		}
		if (n > 0 && !apply_batch(n))
			return;
		PQclear(batch);
		batch = NULL;
		slot_set_state(applied_seq >= primary_seq ? REPL_STREAMING : REPL_CATCHUP);
		if (fetch_pending)
			continue;

		/* a notification that came with the answer may be for a later commit */
		if (primary_notified())
			continue;
		if (conn_wait(WL_SOCKET_READABLE, nedb_repl_poll_ms) & WL_SOCKET_READABLE)
			(void) primary_notified();
	}
}

/* errors that a bad stream raises while we check and apply it */
static bool
stream_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_DATA_CORRUPTED ||
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_DATA_EXCEPTION ||
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_FEATURE_NOT_SUPPORTED;
}

void
nedb_repl_apply_main(Datum arg)
{
	int			slotno = DatumGetInt32(arg);
	Oid			dboid;
	bool		done = false;
	MemoryContext worker_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	my_slot = &repl_shared->slots[slotno];
	SpinLockAcquire(&repl_shared->mutex);
	if (!my_slot->in_use || my_slot->proc != NULL)
	{
		/* not ours: nobody wants it, or another worker has it */
		SpinLockRelease(&repl_shared->mutex);
		proc_exit(0);
	}
	my_slot->proc = MyProc;
	my_slot->stop = false;
	my_slot->reclaim = false;
	my_slot->state = REPL_STARTING;
	dboid = my_slot->dboid;
	SpinLockRelease(&repl_shared->mutex);
	before_shmem_exit(slot_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("nedb apply worker");
	/* a database's own search_path (ALTER DATABASE ... SET) never reaches us */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	if (!read_subscription())
	{
		slot_release();
		proc_exit(0);
	}
	nedb_repl_applying = true;

	/*
	 * As Postgres's logical replication workers: the primary keeps the ops,
	 * so a batch lost in a crash here is simply asked for again.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	worker_cxt = AllocSetContextCreate(TopMemoryContext, "nedb apply worker",
									   ALLOCSET_DEFAULT_SIZES);
	line_cxt = AllocSetContextCreate(TopMemoryContext, "nedb apply line",
									 ALLOCSET_DEFAULT_SIZES);
	ereport(LOG,
			(errmsg("nedb apply worker for subscription \"%s\" started", sub_name)));

	while (!done)
	{
		/* what one connection allocated outside transactions */
		MemoryContextSwitchTo(worker_cxt);
		MemoryContextReset(worker_cxt);
		PG_TRY();
		{
			follow();
			done = true;
		}
		PG_CATCH();
		{
			char	   *msg;
			ErrorData  *edata = rounds_caught_error(worker_cxt, &msg);
			bool		permanent;

			MemoryContextReset(line_cxt);

			permanent = in_apply && stream_error(edata->sqlerrcode);
			in_apply = false;
			if (permanent && batch && apply_index > 0)
			{
				/* the ops before the bad one were good: keep them */
				int			good = apply_index;

				PG_TRY();
				{
					(void) apply_batch(good);
				}
				PG_CATCH();
				{
					HOLD_INTERRUPTS();
					FlushErrorState();
					AbortOutOfAnyTransaction();
					RESUME_INTERRUPTS();
				}
				PG_END_TRY();
				MemoryContextSwitchTo(worker_cxt);
			}
			if (batch)
				PQclear(batch);
			batch = NULL;
			if (conn)
				PQfinish(conn);
			conn = NULL;
			fetch_pending = false;

			SpinLockAcquire(&repl_shared->mutex);
			strlcpy(my_slot->last_error, msg, NEDB_ERROR_LEN);
			my_slot->state = REPL_RETRYING;
			SpinLockRelease(&repl_shared->mutex);
			ereport(permanent ? WARNING : LOG,
					(errcode(edata->sqlerrcode),
					 errmsg("nedb apply worker for subscription \"%s\": %s",
							sub_name, edata->message),
					 edata->detail ? errdetail("%s", edata->detail) : 0,
					 permanent ? errhint("The subscription stopped; nothing at or past the bad op was applied.") : 0));
			FreeErrorData(edata);

			if (permanent)
			{
				record_error(msg);
				done = true;
			}
			else
			{
				/* pause before trying again, longer each time */
				TimestampTz until;

				backoff_ms = backoff_ms ? Min(backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
				until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff_ms);
				while (!slot_stop_requested() && GetCurrentTimestamp() < until)
				{
					(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until) + 1,
									 PG_WAIT_EXTENSION);
					ResetLatch(MyLatch);
					CHECK_FOR_INTERRUPTS();
				}
				if (slot_stop_requested())
					done = true;
			}
		}
		PG_END_TRY();
	}

	ereport(LOG,
			(errmsg("nedb apply worker for subscription \"%s\" stopped", sub_name)));
	slot_release();
	proc_exit(0);
}
