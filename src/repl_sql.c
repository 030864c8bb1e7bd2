/*
 * repl_sql.c
 *	  nedb.subscribe, nedb.unsubscribe and the live state behind the view
 *	  nedb.subscriptions.
 *
 * The subscription is a row of nedb.subscription (at most one per database:
 * one chain follows one other).  The apply worker is told at commit, so a
 * rolled-back subscribe starts nothing and a rolled-back unsubscribe stops
 * nothing.  While the row exists the database refuses local writes (see
 * chain_lock); deleting it (nedb.unsubscribe) makes the database writable,
 * continuing the same chain.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "chain.h"
#include "repl.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_subscribe);
PG_FUNCTION_INFO_V1(nedb_unsubscribe);
PG_FUNCTION_INFO_V1(nedb_subscription_worker);

/* what to tell the workers when this transaction commits */
static bool claim_at_commit = false;
static bool stop_at_commit = false;

static void
repl_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && repl_shared != NULL)
	{
		/* stop first: an unsubscribe + subscribe hands on to a fresh worker */
		if (stop_at_commit)
			repl_stop(MyDatabaseId);
		if (claim_at_commit)
			repl_claim(MyDatabaseId);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		claim_at_commit = stop_at_commit = false;
}

void
repl_sql_init(void)
{
	RegisterXactCallback(repl_xact_callback, NULL);
}

static void
check_conninfo(const char *conninfo)
{
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

	if (opts == NULL)
	{
		char	   *msg = pstrdup(err ? err : "out of memory");
		int			len = strlen(msg);

		if (err)
			PQfreemem(err);
		while (len > 0 && msg[len - 1] == '\n')
			msg[--len] = '\0';
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection string: %s", msg)));
	}
	PQconninfoFree(opts);
}

/*
 * nedb.subscribe(name, conninfo): this database follows the NEDB database
 * at conninfo.  Subscribing again under the name of a subscription that
 * stopped on an error starts it again (with the new conninfo).
 */
Datum
nedb_subscribe(PG_FUNCTION_ARGS)
{
	const char *name = nedb_arg_name(fcinfo, 0, "subscription name");
	const char *conninfo;
	NedbSession s;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("conninfo must not be NULL")));
	conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));

	/* the worker connects as the server's OS user with this conninfo */
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to subscribe to another NEDB database")));
	if (repl_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("NEDB replication needs the nedb library loaded at server start"),
				 errhint("Add nedb to shared_preload_libraries and restart the server.")));
	check_conninfo(conninfo);

	nedb_begin(&s);
	/* writers in flight finish first; the next ones see the subscription */
	chain_wait_writers();
	args[0] = CStringGetTextDatum(name);
	args[1] = CStringGetTextDatum(conninfo);
	if (SPI_execute("SELECT name, state FROM nedb.subscription FOR UPDATE", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read nedb.subscription");
	if (SPI_processed > 0)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *old = SPI_getvalue(SPI_tuptable->vals[0], desc, 1);
		char	   *state = SPI_getvalue(SPI_tuptable->vals[0], desc, 2);

		if (strcmp(old, name) != 0 || strcmp(state, "error") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("this database already follows the subscription \"%s\"", old),
					 errdetail("A NEDB database follows at most one other."),
					 errhint("Call nedb.unsubscribe('%s') first.", old)));
		if (SPI_execute_with_args("UPDATE nedb.subscription SET conninfo = $2, state = 'enabled',"
								  " last_error = NULL, error_at = NULL WHERE name = $1",
								  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update nedb.subscription");
	}
	else if (SPI_execute_with_args("INSERT INTO nedb.subscription (name, conninfo) VALUES ($1, $2)",
								   2, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into nedb.subscription");
	nedb_end(&s);

	claim_at_commit = true;
	PG_RETURN_VOID();
}

/* nedb.unsubscribe(name): stop following; the database becomes writable */
Datum
nedb_unsubscribe(PG_FUNCTION_ARGS)
{
	const char *name = nedb_arg_name(fcinfo, 0, "subscription name");
	NedbSession s;
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);

	nedb_begin(&s);
	/* waits for the apply worker's batch in flight (it holds the row) */
	if (SPI_execute_with_args("DELETE FROM nedb.subscription WHERE name = $1",
							  1, &type, &arg, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from nedb.subscription");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription \"%s\" does not exist", name)));
	nedb_end(&s);

	stop_at_commit = true;
	PG_RETURN_VOID();
}

static const char *
state_name(ReplState st)
{
	switch (st)
	{
		case REPL_STARTING:
			return "starting";
		case REPL_CONNECTING:
			return "connecting";
		case REPL_CATCHUP:
			return "catchup";
		case REPL_STREAMING:
			return "streaming";
		case REPL_RETRYING:
			return "retrying";
	}
	return "unknown";
}

/* float epoch seconds (an op's ts) as a timestamptz */
static TimestampTz
epoch_to_timestamptz(double ts)
{
	return (TimestampTz) ((ts - ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY))
						  * USECS_PER_SEC);
}

/*
 * The apply worker of this database, if one runs: (pid, state, primary_seq,
 * applied_seq, applied_at, lag_time, last_error, last_contact).
 *
 * lag_time: when caught up, how long the last applied op took from its ts
 * on the primary to its commit here; when behind, how old the last applied
 * op is now.
 */
Datum
nedb_subscription_worker(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *ts = nedb_srf_begin(fcinfo, &desc);
	ReplSlot	slot;
	int			i;
	Datum		v[8];
	bool		n[8] = {0};

	if (repl_shared == NULL)
		return (Datum) 0;
	SpinLockAcquire(&repl_shared->mutex);
	i = repl_find(MyDatabaseId);
	if (i >= 0)
		slot = repl_shared->slots[i];
	SpinLockRelease(&repl_shared->mutex);
	if (i < 0 || slot.proc == NULL)
		return (Datum) 0;

	v[0] = Int32GetDatum(slot.proc->pid);
	v[1] = CStringGetTextDatum(state_name(slot.state));
	v[2] = Int64GetDatum(slot.primary_seq);
	n[2] = slot.last_contact == 0;
	v[3] = Int64GetDatum(slot.applied_seq);
	v[4] = TimestampTzGetDatum(slot.applied_at);
	n[4] = slot.applied_at == 0;
	if (slot.applied_at != 0)
	{
		TimestampTz op_ts = epoch_to_timestamptz(slot.applied_ts);
		TimestampTz until = slot.applied_seq >= slot.primary_seq
			? slot.applied_at : GetCurrentTimestamp();
		Interval   *lag = palloc0(sizeof(Interval));

		lag->time = Max(until - op_ts, 0);
		v[5] = IntervalPGetDatum(lag);
	}
	else
		n[5] = true;
	v[6] = CStringGetTextDatum(slot.last_error);
	n[6] = slot.last_error[0] == '\0';
	v[7] = TimestampTzGetDatum(slot.last_contact);
	n[7] = slot.last_contact == 0;
	tuplestore_putvalues(ts, desc, v, n);
	return (Datum) 0;
}
