/*
 * track.c
 *	  Tracked tables (README: Tracked tables): nedb.track backfills a
 *	  table's rows into a collection and installs statement-level triggers
 *	  with transition tables that chain every later change in the same
 *	  transaction; nedb.untrack removes them and keeps the history.
 *
 *	  The trigger takes the collection and key from nedb.tracked, never from
 *	  its arguments: anyone may attach nedb.track_trigger() to a table of
 *	  theirs, and it must not let them write a collection they were not
 *	  allowed to.
 */
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "access/genam.h"
#include "catalog/pg_index.h"
#include "utils/syscache.h"
#include "acl.h"
#include "session.h"
#include "util.h"
#include "write.h"

PG_FUNCTION_INFO_V1(nedb_track);
PG_FUNCTION_INFO_V1(nedb_untrack);
PG_FUNCTION_INFO_V1(nedb_track_trigger);

#define TRACK_CLIENT "track"

/* SQL text of the id of row alias t, and of "some key column is NULL" */
static void
key_exprs(List *keys, StringInfo id, StringInfo isnull)
{
	ListCell   *lc;
	bool		first = true;

	if (list_length(keys) == 1)
		appendStringInfo(id, "(t.%s)::pg_catalog.text",
						 quote_identifier(strVal(linitial(keys))));
	else
	{
		appendStringInfoString(id, "(pg_catalog.jsonb_build_array(");
		foreach(lc, keys)
		{
			appendStringInfo(id, "%st.%s", first ? "" : ", ",
							 quote_identifier(strVal(lfirst(lc))));
			first = false;
		}
		appendStringInfoString(id, "))::pg_catalog.text");
	}
	first = true;
	appendStringInfoChar(isnull, '(');
	foreach(lc, keys)
	{
		appendStringInfo(isnull, "%st.%s IS NULL", first ? "" : " OR ",
						 quote_identifier(strVal(lfirst(lc))));
		first = false;
	}
	appendStringInfoChar(isnull, ')');
}

static List *
text_array_list(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *res = NIL;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("key must be a one-dimensional list of column names")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("key column names must not be NULL")));
		res = lappend(res, makeString(TextDatumGetCString(elems[i])));
	}
	return res;
}

static ArrayType *
list_text_array(List *l)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(l), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, l)
		d[i++] = CStringGetTextDatum(strVal(lfirst(lc)));
	return construct_array(d, i, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * Chain the rows of query q (columns: id text, key_null bool, doc jsonb)
 * run on the current SPI connection, in a storage session.  The query's
 * result is read first: the session's own statements replace SPI_tuptable.
 */
static uint64
chain_rows(const char *coll, const char *q, const char *evidence, const char *rel)
{
	SPITupleTable *tt;
	uint64		n;
	NedbSession s;
	MemoryContext rowcxt;

	if (SPI_execute(q, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "nedb: could not read rows of %s", rel);
	tt = SPI_tuptable;
	n = SPI_processed;
	nedb_begin(&s);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb tracked row",
								   ALLOCSET_DEFAULT_SIZES);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d;
		PutArgs		a = {0};
		int64		seq;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(rowcxt);
		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
		if (isnull || DatumGetBool(d))
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("a key column of a row of tracked table %s is NULL", rel),
					 errdetail("Tracked rows are chained under their key; it must not be NULL.")));
		a.coll = coll;
		a.id = TextDatumGetCString(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		a.doc = DatumGetJsonbP(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		a.client = TRACK_CLIENT;
		a.evidence = evidence;
		(void) write_put(&a, &seq);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	nedb_end(&s);
	return n;
}

/* deletes of the ids (column 1) query q returns */
static void
chain_deletes(const char *coll, const char *q, const char *rel)
{
	SPITupleTable *tt;
	uint64		n;
	NedbSession s;

	if (SPI_execute(q, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "nedb: could not read rows of %s", rel);
	tt = SPI_tuptable;
	n = SPI_processed;
	if (n == 0)
		return;
	nedb_begin(&s);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);

		CHECK_FOR_INTERRUPTS();
		if (isnull)
			continue;			/* a NULL key was never chained */
		(void) write_delete(coll, TextDatumGetCString(d), TRACK_CLIENT, false, 0, NULL);
	}
	nedb_end(&s);
}

/* the tracking of relid: coll and key columns; false if not tracked */
static bool
tracked_lookup(Oid relid, char **coll, List **keys)
{
	NedbSession s;
	Oid			argt[1] = {OIDOID};
	Datum		argv[1] = {ObjectIdGetDatum(relid)};
	bool		found = false;
	MemoryContext cxt = CurrentMemoryContext;

	nedb_begin(&s);
	if (SPI_execute_with_args("SELECT coll, key FROM nedb.tracked WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, argt, argv, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "nedb: could not read nedb.tracked");
	if (SPI_processed == 1)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(s.caller_cxt);

		*coll = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*keys = text_array_list(DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)));
		MemoryContextSwitchTo(old);
		found = true;
	}
	nedb_end(&s);
	(void) cxt;
	return found;
}

static const char *
rel_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* nedb.track(tbl regclass, coll text, key text[]) returns bigint (rows backfilled) */
Datum
nedb_track(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	char	   *coll;
	List	   *keys = NIL;
	const char *qname;
	StringInfoData id, isnull, q;
	char	   *ocoll;
	List	   *okeys;
	uint64		n;
	static const char *const trig[] = {
		"CREATE TRIGGER nedb_track_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS nedb_new FOR EACH STATEMENT EXECUTE FUNCTION nedb.track_trigger()",
		"CREATE TRIGGER nedb_track_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS nedb_old NEW TABLE AS nedb_new FOR EACH STATEMENT EXECUTE FUNCTION nedb.track_trigger()",
		"CREATE TRIGGER nedb_track_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS nedb_old FOR EACH STATEMENT EXECUTE FUNCTION nedb.track_trigger()",
		"CREATE TRIGGER nedb_track_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION nedb.track_trigger()",
	};

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("table must not be NULL")));
	/* no writes between the backfill and the triggers (CREATE TRIGGER's lock) */
	rel = table_open(relid, ShareRowExclusiveLock);
	qname = rel_name(relid);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("%s is not a table", qname),
						errdetail("Only ordinary tables can be tracked.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	coll = PG_ARGISNULL(1) ? pstrdup(RelationGetRelationName(rel)) :
		(char *) nedb_arg_name(fcinfo, 1, "collection");
	nedb_acl_require_collection(GetUserId(), coll, NEDB_WRITE);

	if (!PG_ARGISNULL(2))
	{
		ListCell   *lc;

		keys = text_array_list(PG_GETARG_ARRAYTYPE_P(2));
		if (keys == NIL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("key must name at least one column")));
		foreach(lc, keys)
		{
			AttrNumber	att = get_attnum(relid, strVal(lfirst(lc)));

			if (att == InvalidAttrNumber || att < 0)
				ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
								errmsg("column \"%s\" of %s does not exist",
									   strVal(lfirst(lc)), qname)));
		}
	}
	else
	{
		Oid			pk = RelationGetPrimaryKeyIndex(rel);
		Relation	irel;

		if (!OidIsValid(pk))
			ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
							errmsg("%s has no primary key", qname),
							errhint("Give the key columns: nedb.track(table, key => ARRAY['col', ...]).")));
		irel = index_open(pk, AccessShareLock);
		for (int i = 0; i < irel->rd_index->indnkeyatts; i++)
			keys = lappend(keys, makeString(get_attname(relid, irel->rd_index->indkey.values[i], false)));
		index_close(irel, AccessShareLock);
	}

	if (tracked_lookup(relid, &ocoll, &okeys))
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
						errmsg("%s is already tracked into collection %s", qname, ocoll),
						errhint("nedb.untrack() it first.")));

	/* the catalog row (its unique coll refuses a collection tracked twice) */
	{
		NedbSession s;
		Oid			argt[3] = {OIDOID, TEXTOID, TEXTARRAYOID};
		Datum		argv[3] = {ObjectIdGetDatum(relid), CStringGetTextDatum(coll),
		PointerGetDatum(list_text_array(keys))};

		nedb_begin(&s);
		if (SPI_execute_with_args("SELECT 1 FROM nedb.tracked WHERE coll OPERATOR(pg_catalog.=) $1",
								  1, &argt[1], &argv[1], NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "nedb: could not read nedb.tracked");
		if (SPI_processed > 0)
			ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
							errmsg("collection %s already tracks another table", coll)));
		if (SPI_execute_with_args("INSERT INTO nedb.tracked (relid, coll, key) VALUES ($1::pg_catalog.regclass, $2, $3)",
								  3, argt, argv, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "nedb: could not record the tracking");
		nedb_end(&s);
	}

	/* as the caller, the table's owner: its triggers and its rows */
	SPI_connect();
	for (int i = 0; i < lengthof(trig); i++)
	{
		initStringInfo(&q);
		appendStringInfo(&q, trig[i], qname);
		if (SPI_execute(q.data, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "nedb: could not create a trigger on %s", qname);
	}
	initStringInfo(&id);
	initStringInfo(&isnull);
	key_exprs(keys, &id, &isnull);
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT %s, %s, pg_catalog.to_jsonb(t) FROM ONLY %s t ORDER BY 1",
					 id.data, isnull.data, qname);
	n = chain_rows(coll, q.data, "backfill", qname);
	SPI_finish();
	table_close(rel, NoLock);
	PG_RETURN_INT64((int64) n);
}

/* nedb.untrack(tbl regclass): drop the triggers and the catalog row */
Datum
nedb_untrack(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	const char *qname;
	char	   *coll;
	List	   *keys;
	static const char *const trig[] = {"nedb_track_insert", "nedb_track_update",
	"nedb_track_delete", "nedb_track_truncate"};

	rel = table_open(relid, ShareRowExclusiveLock);
	qname = rel_name(relid);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	if (!tracked_lookup(relid, &coll, &keys))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("%s is not tracked", qname)));
	SPI_connect();
	for (int i = 0; i < lengthof(trig); i++)
	{
		StringInfoData q;

		initStringInfo(&q);
		appendStringInfo(&q, "DROP TRIGGER IF EXISTS %s ON %s", trig[i], qname);
		if (SPI_execute(q.data, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "nedb: could not drop a trigger on %s", qname);
	}
	SPI_finish();
	{
		NedbSession s;
		Oid			argt[1] = {OIDOID};
		Datum		argv[1] = {ObjectIdGetDatum(relid)};

		nedb_begin(&s);
		if (SPI_execute_with_args("DELETE FROM nedb.tracked WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								  1, argt, argv, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "nedb: could not remove the tracking");
		nedb_end(&s);
	}
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}

/*
 * The trigger: statement level, transition tables nedb_old / nedb_new.
 * An UPDATE puts every new row and deletes the old ids no new row has (a
 * key change); rows are not paired, so a key swap is two puts.
 */
Datum
nedb_track_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			relid;
	const char *qname;
	char	   *coll;
	List	   *keys;
	StringInfoData id, isnull, q;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "nedb.track_trigger: not called as a trigger");
	relid = RelationGetRelid(td->tg_relation);
	qname = rel_name(relid);
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot TRUNCATE tracked table %s", qname),
				 errdetail("A TRUNCATE would not be chained: its rows would stay current in the collection."),
				 errhint("DELETE the rows, or nedb.untrack() the table first.")));
	if (!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || !TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "nedb.track_trigger: must be an AFTER ... FOR EACH STATEMENT trigger");
	if (!tracked_lookup(relid, &coll, &keys))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("%s is not tracked", qname),
						errhint("Install tracking with nedb.track().")));

	initStringInfo(&id);
	initStringInfo(&isnull);
	key_exprs(keys, &id, &isnull);
	SPI_connect();
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "nedb: could not register the transition tables");
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		initStringInfo(&q);
		if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
			appendStringInfo(&q, "SELECT %s FROM nedb_old t ORDER BY 1", id.data);
		else
			appendStringInfo(&q, "SELECT %s FROM nedb_old t EXCEPT SELECT %s FROM nedb_new t ORDER BY 1",
							 id.data, id.data);
		chain_deletes(coll, q.data, qname);
	}
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		initStringInfo(&q);
		appendStringInfo(&q, "SELECT %s, %s, pg_catalog.to_jsonb(t) FROM nedb_new t ORDER BY 1",
						 id.data, isnull.data);
		(void) chain_rows(coll, q.data, NULL, qname);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
