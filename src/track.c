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
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "acl.h"
#include "session.h"
#include "track_rows.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_track);
PG_FUNCTION_INFO_V1(nedb_untrack);
PG_FUNCTION_INFO_V1(nedb_track_trigger);
PG_FUNCTION_INFO_V1(nedb_track_ddl);

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

static const char *
rel_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* nedb.track(tbl regclass, coll text, key text[]) returns bigint (rows backfilled) */
/*
 * Whether a valid, immediate unique index of rel (no predicate, no
 * expressions) has exactly the key columns, in any order: otherwise two rows
 * could share an id, and the chain could not say which one it holds.
 */
static bool
key_is_unique(Relation rel, List *keys)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		Relation	irel = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ix = irel->rd_index;

		if (ix->indisunique && ix->indisvalid && ix->indimmediate &&
			ix->indnkeyatts == list_length(keys) &&
			heap_attisnull(irel->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(irel->rd_indextuple, Anum_pg_index_indexprs, NULL))
		{
			ListCell   *kc;

			found = true;
			foreach(kc, keys)
			{
				AttrNumber	att = get_attnum(RelationGetRelid(rel), strVal(lfirst(kc)));
				bool		in_index = false;

				for (int i = 0; i < ix->indnkeyatts; i++)
					in_index |= ix->indkey.values[i] == att;
				found &= in_index;
			}
		}
		index_close(irel, AccessShareLock);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

Datum
nedb_track(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	char	   *coll;
	List	   *keys = NIL;
	const char *qname;
	StringInfoData q;
	TrackInfo  *ti;
	TrackChain *chain;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			level;
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
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("cannot track partitioned table %s", qname),
						errdetail("A statement on a partition does not fire its parent's triggers: its rows would not be chained."),
						errhint("Track each partition as a table of its own.")));
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
			for (ListCell *prev = list_head(keys); prev != lc; prev = lnext(keys, prev))
				if (strcmp(strVal(lfirst(prev)), strVal(lfirst(lc))) == 0)
					ereport(ERROR, (errcode(ERRCODE_DUPLICATE_COLUMN),
									errmsg("key column \"%s\" is given twice", strVal(lfirst(lc)))));
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

	if (!key_is_unique(rel, keys))
		ereport(ERROR, (errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
						errmsg("the key columns of %s are not unique", qname),
						errdetail("No valid unique index or constraint of the table has exactly the key columns, without a predicate or expressions."),
						errhint("A key must name one row: add a unique constraint on the key columns, or give the columns of one.")));

	if ((ti = track_info(rel)) != NULL)
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
						errmsg("%s is already tracked into collection %s", qname, ti->coll),
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
	SPI_finish();
	CommandCounterIncrement();

	/*
	 * The backfill: every row as of now (the lock is held since before the
	 * triggers, so the latest snapshot has every row they will not see).
	 * The heap itself, not a query: row security does not hide rows here.
	 */
	ti = track_info(rel);
	if (ti == NULL)
		elog(ERROR, "nedb: tracking of %s not found after it was recorded", qname);
	level = track_output_push();
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	chain = track_chain_begin(ti, qname, "backfill", false);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		track_chain_put(chain, slot);
	}
	n = track_chain_end(chain);
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	track_output_pop(level);
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
	static const char *const trig[] = {"nedb_track_insert", "nedb_track_update",
	"nedb_track_delete", "nedb_track_truncate"};

	rel = table_open(relid, ShareRowExclusiveLock);
	qname = rel_name(relid);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	if (track_info(rel) == NULL)
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

/* read ts from its start with a read pointer of our own */
static void
store_rewind(Tuplestorestate *ts)
{
	tuplestore_select_read_pointer(ts, tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND));
	tuplestore_rescan(ts);
}

static int
cmp_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* the ids of the rows of ts, sorted, in the current memory context */
static char **
sorted_ids(TrackInfo *ti, Tuplestorestate *ts, TupleTableSlot *slot, int *n)
{
	int			max = 64;
	char	  **ids = palloc(sizeof(char *) * max);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb tracked id",
												 ALLOCSET_SMALL_SIZES);
	MemoryContext keep = CurrentMemoryContext;

	*n = 0;
	store_rewind(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		char	   *id;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(rowcxt);
		id = track_row_id(ti, slot);
		MemoryContextSwitchTo(keep);
		if (id != NULL)
		{
			if (*n == max)
				ids = repalloc(ids, sizeof(char *) * (max *= 2));
			ids[(*n)++] = pstrdup(id);
		}
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	qsort(ids, *n, sizeof(char *), cmp_ids);
	return ids;
}

/*
 * The trigger: statement level, transition tables nedb_old / nedb_new.
 * An UPDATE puts every new row and deletes the old ids no new row has (a
 * key change), first; rows are not paired, so a key swap is two puts.
 */
Datum
nedb_track_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	const char *qname;
	TrackInfo  *ti;
	TrackChain *chain;
	TupleTableSlot *slot;
	int			level;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "nedb.track_trigger: not called as a trigger");
	rel = td->tg_relation;
	qname = rel_name(RelationGetRelid(rel));
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot TRUNCATE tracked table %s", qname),
				 errdetail("A TRUNCATE would not be chained: its rows would stay current in the collection."),
				 errhint("DELETE the rows, or nedb.untrack() the table first.")));
	if (!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || !TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "nedb.track_trigger: must be an AFTER ... FOR EACH STATEMENT trigger");
	if ((ti = track_info(rel)) == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("%s is not tracked", qname),
						errhint("Install tracking with nedb.track().")));
	if ((TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)) &&
		td->tg_oldtable == NULL)
		elog(ERROR, "nedb.track_trigger: needs REFERENCING OLD TABLE AS nedb_old");
	if ((TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)) &&
		td->tg_newtable == NULL)
		elog(ERROR, "nedb.track_trigger: needs REFERENCING NEW TABLE AS nedb_new");

	level = track_output_push();
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	chain = track_chain_begin(ti, qname, NULL, true);
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		int			n_old,
					n_new = 0;
		char	  **old_ids = sorted_ids(ti, td->tg_oldtable, slot, &n_old);
		char	  **new_ids = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
			sorted_ids(ti, td->tg_newtable, slot, &n_new) : NULL;

		for (int i = 0; i < n_old; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (n_new == 0 ||
				bsearch(&old_ids[i], new_ids, n_new, sizeof(char *), cmp_ids) == NULL)
				track_chain_delete(chain, old_ids[i]);
		}
	}
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		store_rewind(td->tg_newtable);
		while (tuplestore_gettupleslot(td->tg_newtable, true, false, slot))
		{
			CHECK_FOR_INTERRUPTS();
			track_chain_put(chain, slot);
		}
	}
	(void) track_chain_end(chain);
	ExecDropSingleTupleTableSlot(slot);
	track_output_pop(level);
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------------------
 * Schema changes (event triggers): a key column renamed is followed, one
 * dropped is refused, a dropped table's tracking ends.
 * ------------------------------------------------------------------------ */

typedef struct DdlKeys
{
	Oid			relid;
	int			nkeys;
	AttrNumber *att;			/* InvalidAttrNumber: not found at the start */
	char	  **names;
	char	   *coll;
} DdlKeys;

typedef struct DdlFrame
{
	LocalTransactionId lxid;
	List	   *tables;			/* of DdlKeys */
} DdlFrame;

/*
 * One frame per ALTER TABLE running, pushed at its start and popped at its
 * end (nested ones are popped first).  A command that failed leaves its
 * frame; a frame of another transaction is dropped.
 */
static List *ddl_frames = NIL;

static void
ddl_start(void)
{
	NedbSession s;
	DdlFrame   *f;
	MemoryContext old;

	if (ddl_frames != NIL &&
		((DdlFrame *) llast(ddl_frames))->lxid != MyProc->lxid)
		ddl_frames = NIL;		/* leaked, in TopMemoryContext: a few bytes */
	old = MemoryContextSwitchTo(TopMemoryContext);
	f = palloc0(sizeof(DdlFrame));
	f->lxid = MyProc->lxid;
	MemoryContextSwitchTo(old);

	nedb_begin(&s);
	if (SPI_execute("SELECT relid::pg_catalog.oid, key, coll FROM nedb.tracked", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "nedb: could not read nedb.tracked");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		ArrayType  *arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull));
		Datum	   *names;
		int			n;
		DdlKeys    *k;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			continue;
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &n);
		old = MemoryContextSwitchTo(TopMemoryContext);
		k = palloc0(sizeof(DdlKeys));
		k->relid = relid;
		k->nkeys = n;
		k->att = palloc(sizeof(AttrNumber) * n);
		k->names = palloc(sizeof(char *) * n);
		k->coll = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
		for (int i = 0; i < n; i++)
		{
			k->names[i] = TextDatumGetCString(names[i]);
			k->att[i] = get_attnum(relid, k->names[i]);
		}
		f->tables = lappend(f->tables, k);
		MemoryContextSwitchTo(old);
	}
	nedb_end(&s);
	old = MemoryContextSwitchTo(TopMemoryContext);
	ddl_frames = lappend(ddl_frames, f);
	MemoryContextSwitchTo(old);
}

static void
ddl_end(void)
{
	DdlFrame   *f;
	ListCell   *lc;

	if (ddl_frames == NIL)
		return;
	f = llast(ddl_frames);
	ddl_frames = list_delete_last(ddl_frames);
	if (f->lxid != MyProc->lxid)
		return;
	foreach(lc, f->tables)
	{
		DdlKeys    *k = lfirst(lc);
		bool		renamed = false;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(k->relid)))
			continue;
		for (int i = 0; i < k->nkeys; i++)
		{
			HeapTuple	tp;
			Form_pg_attribute att;

			if (k->att[i] == InvalidAttrNumber)
				continue;
			tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(k->relid), Int16GetDatum(k->att[i]));
			if (!HeapTupleIsValid(tp))
				continue;
			att = (Form_pg_attribute) GETSTRUCT(tp);
			if (att->attisdropped)
				ereport(ERROR,
						(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
						 errmsg("cannot drop column \"%s\" of %s: it is a key of its tracking into collection %s",
								k->names[i], rel_name(k->relid), k->coll),
						 errhint("nedb.untrack() the table first.")));
			if (strcmp(NameStr(att->attname), k->names[i]) != 0)
			{
				k->names[i] = pstrdup(NameStr(att->attname));
				renamed = true;
			}
			ReleaseSysCache(tp);
		}
		if (renamed)
		{
			NedbSession s;
			List	   *l = NIL;
			Oid			argt[2] = {OIDOID, TEXTARRAYOID};
			Datum		argv[2];

			for (int i = 0; i < k->nkeys; i++)
				l = lappend(l, makeString(k->names[i]));
			argv[0] = ObjectIdGetDatum(k->relid);
			argv[1] = PointerGetDatum(list_text_array(l));
			nedb_begin(&s);
			if (SPI_execute_with_args("UPDATE nedb.tracked SET key = $2 WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
									  2, argt, argv, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "nedb: could not update nedb.tracked");
			nedb_end(&s);
		}
	}
}

static void
ddl_drop(void)
{
	NedbSession s;

	nedb_begin(&s);
	if (SPI_execute("DELETE FROM nedb.tracked WHERE relid::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ("
					" SELECT d.objid FROM pg_catalog.pg_event_trigger_dropped_objects() d"
					"  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					"    AND d.objsubid OPERATOR(pg_catalog.=) 0)", false, 0) != SPI_OK_DELETE)
		elog(ERROR, "nedb: could not update nedb.tracked");
	nedb_end(&s);
}

/* nedb.track_ddl(): event trigger of ALTER TABLE (start, end) and drops */
Datum
nedb_track_ddl(PG_FUNCTION_ARGS)
{
	EventTriggerData *ev = (EventTriggerData *) fcinfo->context;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "nedb.track_ddl: not called as an event trigger");
	if (strcmp(ev->event, "ddl_command_start") == 0)
		ddl_start();
	else if (strcmp(ev->event, "ddl_command_end") == 0)
		ddl_end();
	else if (strcmp(ev->event, "sql_drop") == 0)
		ddl_drop();
	PG_RETURN_VOID();
}
