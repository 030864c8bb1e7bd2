/*
 * session.c
 *	  Storage sessions: SPI as the owner of schema nedb, with names resolved
 *	  in pg_catalog only, and the plans they run.
 *
 * Every entry point reads and writes the storage tables through a session,
 * so that EXECUTE on our functions and NEDB's own collection privileges
 * (acl.c), not privileges on the tables, govern use.  The statements of a
 * session are cached plans: a fixed set (plan_defs) and those built from a
 * query's shape (nedb_plan_by_text: NQL's and the foreign tables').
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "session.h"
#include "staging.h"

typedef struct PlanDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[16];
} PlanDef;

static const PlanDef plan_defs[NEDB_NUM_PLANS] = {
	[PLAN_HEAD] = {"SELECT seq, hash FROM nedb.ops ORDER BY seq DESC LIMIT 1", 0},
	[PLAN_LATEST] = {
		"SELECT seq_from, doc FROM nedb.versions WHERE coll = $1 AND id = $2"
		" ORDER BY seq_from DESC LIMIT 1", 2, {TEXTOID, TEXTOID}},
	[PLAN_LATEST_AS_OF] = {
		"SELECT seq_from, doc FROM nedb.versions WHERE coll = $1 AND id = $2 AND seq_from <= $3"
		" ORDER BY seq_from DESC LIMIT 1", 3, {TEXTOID, TEXTOID, INT8OID}},
	[PLAN_EDGE_LINK] = {
		"INSERT INTO nedb.edges (seq_from, frm, rel, \"to\") VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (frm, rel, \"to\") WHERE seq_to IS NULL DO NOTHING",
		4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}},
	[PLAN_EDGE_UNLINK] = {
		"UPDATE nedb.edges SET seq_to = $1"
		" WHERE frm = $2 AND rel = $3 AND \"to\" = $4 AND seq_to IS NULL",
		4, {INT8OID, TEXTOID, TEXTOID, TEXTOID}},
	[PLAN_NEIGHBORS] = {
		"SELECT \"to\" FROM nedb.edges WHERE frm = $1 AND rel = $2 AND seq_to IS NULL"
		" ORDER BY seq_from", 2, {TEXTOID, TEXTOID}},
	[PLAN_NEIGHBORS_AS_OF] = {
		"SELECT \"to\" FROM nedb.edges WHERE frm = $1 AND rel = $2 AND seq_from <= $3"
		" AND (seq_to IS NULL OR seq_to > $3) ORDER BY seq_from", 3, {TEXTOID, TEXTOID, INT8OID}},
	[PLAN_INBOUND] = {
		"SELECT frm FROM nedb.edges WHERE \"to\" = $1 AND rel = $2 AND seq_to IS NULL"
		" ORDER BY seq_from", 2, {TEXTOID, TEXTOID}},
	[PLAN_INBOUND_AS_OF] = {
		"SELECT frm FROM nedb.edges WHERE \"to\" = $1 AND rel = $2 AND seq_from <= $3"
		" AND (seq_to IS NULL OR seq_to > $3) ORDER BY seq_from", 3, {TEXTOID, TEXTOID, INT8OID}},
	[PLAN_HISTORY] = {
		"SELECT seq_from, doc FROM nedb.versions WHERE coll = $1 AND id = $2 ORDER BY seq_from",
		2, {TEXTOID, TEXTOID}},
	[PLAN_OP_ROW] = {
		"SELECT o.seq, o.hash, o.ts, o.client, o.nonce, o.op, o.coll, o.id, o.payload, o.idem,"
		"       o.caused_by, o.evidence, o.confidence, o.valid_from, o.valid_to, o.body, v.doc"
		"  FROM nedb.ops o LEFT JOIN nedb.versions v ON o.op = 'put' AND v.seq_from = o.seq"
		" WHERE o.seq = $1", 1, {INT8OID}},
};

static SPIPlanPtr plans[NEDB_NUM_PLANS];

#define PLAN_KEY_LEN 2048
#define PLAN_CACHE_MAX 256

typedef struct TextPlan
{
	char		sql[PLAN_KEY_LEN];
	SPIPlanPtr	plan;
} TextPlan;

static HTAB *text_plans = NULL;

SPIPlanPtr
nedb_plan_by_text(const char *sql, int nargs, Oid *types, int cursor_options)
{
	TextPlan   *e;
	bool		found;
	SPIPlanPtr	plan;
	bool		keep = strlen(sql) < PLAN_KEY_LEN;

	if (text_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = PLAN_KEY_LEN;
		ctl.entrysize = sizeof(TextPlan);
		text_plans = hash_create("nedb statements", 64, &ctl, HASH_ELEM | HASH_STRINGS);
	}
	if (keep)
	{
		e = hash_search(text_plans, sql, HASH_FIND, NULL);
		if (e)
			return e->plan;
	}
	plan = SPI_prepare_cursor(sql, nargs, types, cursor_options);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	if (keep && hash_get_num_entries(text_plans) < PLAN_CACHE_MAX)
	{
		SPI_keepplan(plan);
		e = hash_search(text_plans, sql, HASH_ENTER, &found);
		e->plan = plan;
	}
	return plan;
}

/* ------------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------------ */

void
nedb_begin(NedbSession *s)
{
	Oid			nsp = get_namespace_oid("nedb", false);
	HeapTuple	tup;
	Oid			owner;

	/*
	 * The transaction's own staged puts come first: it reads its writes.  A
	 * snapshot taken before they were appended (this statement's) cannot see
	 * them: the session reads with a new one.
	 */
	if (staging_pending())
		staging_flush();
	s->fresh_snapshot = staging_unseen_by(ActiveSnapshotSet() ? GetActiveSnapshot() : NULL);
	if (s->fresh_snapshot)
	{
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
	}

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema nedb");
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);

	s->caller_cxt = CurrentMemoryContext;
	GetUserIdAndSecContext(&s->save_userid, &s->save_sec);
	SetUserIdAndSecContext(owner, s->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	nedb_safe_names_push(&s->guc_level);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
nedb_end(NedbSession *s)
{
	SPI_finish();
	nedb_safe_names_pop(s->guc_level);
	SetUserIdAndSecContext(s->save_userid, s->save_sec);
	if (s->fresh_snapshot)
		PopActiveSnapshot();
}

/*
 * What runs with the owner's rights must not resolve a name through the
 * caller's search_path: a function, operator, cast or type of the caller's
 * (in a schema they own, or their temp schema) would run as the owner.  So
 * a session resolves names in pg_catalog alone (the temp schema is not
 * searched at all), and every name of ours is schema-qualified.  Up to
 * PostgreSQL 16 an override search path does that without the GUC
 * machinery (a put or get sets it twice); from 17 on, search_path is set as
 * for a SECURITY DEFINER function with SET search_path.  Either is undone by
 * nedb_safe_names_pop, or by the (sub)transaction abort on error.
 */
void
nedb_safe_names_push(int *guc_level)
{
#if PG_VERSION_NUM < 170000
	OverrideSearchPath path = {0};

	path.schemas = NIL;
	path.addCatalog = true;
	path.addTemp = false;
	PushOverrideSearchPath(&path);
	*guc_level = 0;
#else
	*guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
#endif
}

void
nedb_safe_names_pop(int guc_level)
{
#if PG_VERSION_NUM < 170000
	PopOverrideSearchPath();
#else
	AtEOXact_GUC(true, guc_level);
#endif
}

Datum
nedb_copy_out(NedbSession *s, Jsonb *jb)
{
	Jsonb	   *copy = MemoryContextAlloc(s->caller_cxt, VARSIZE(jb));

	memcpy(copy, jb, VARSIZE(jb));
	return JsonbPGetDatum(copy);
}

uint64
nedb_exec(NedbPlanId id, Datum *values, const char *nulls, bool read_only, long limit)
{
	int			rc;

	if (plans[id] == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(plan_defs[id].sql, plan_defs[id].nargs,
									(Oid *) plan_defs[id].argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 plan_defs[id].sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plans[id] = p;
	}
	rc = SPI_execute_plan(plans[id], values, nulls, read_only, limit);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

Datum
nedb_col(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

