/*
 * versions_scan.c
 *	  The ordered index scan of nedb.versions: a collection's live versions
 *	  (now or AS OF a seq) in the order of a field's index, without SQL.
 *
 * It serves NQL's direct path (nql_plan.c) and the foreign tables' ordered
 * scans (fdw_scan.c).  Its rows come in NQL's order, hence the nql_scan_*
 * names; it has no part in parsing or running NQL.  Declared in versions.h.
 *
 * "FROM c [WHERE f <op> n ...] ORDER BY f [DESC] LIMIT k" is the query the
 * block explorer runs most.  Through SPI it pays for a cursor, a portal and
 * the executor on every call, several times the index descent itself; here
 * it is one index scan of the field's index on nedb.versions, reading heap
 * tuples under the query's snapshot and stopping when the caller has its k
 * rows.
 *
 * Rows come in the index's order.  NQL's sort is stable over id order, so a
 * run of equal keys is collected and put in id order before it goes out;
 * the run is found by reading one row ahead.
 *
 * NQL compares values of mixed types as str(), so no index order is NQL's
 * for every collection.  nedb_sorted's NEDB order is NQL's while the field's
 * values are all numbers (booleans as 0 and 1) or all strings; a btree over
 * jsonb only while they are all numbers (jsonb ranks booleans above numbers
 * and compares strings by collation).  A nedb_sorted index keeps the
 * classes of every key it has held on its metapage (sorted.h), so its
 * verdict is one metapage read; for a btree (and a nedb_sorted index of
 * version 1) two one-row probes, the keys at each end of the index, check
 * this on every query.  Otherwise the caller sorts in memory.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "commands/defrem.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/numeric.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "sorted.h"
#include "util.h"
#include "versions.h"

/* nedb.versions (seq_from, seq_to, coll, id, doc) */
#define ATT_SEQ_FROM	1
#define ATT_SEQ_TO		2
#define ATT_ID			4
#define ATT_DOC			5

typedef struct ScanRow
{
	char	   *id;
	Jsonb	   *doc;
	JsonbValue *key;			/* doc's value of the field, NULL if missing */
} ScanRow;

struct NqlScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanDirection dir;
	const char *field;
	bool		has_as_of;
	int64		as_of;
	FmgrInfo	cmp;			/* the index's order (support function 1) */
	MemoryContext scan_cxt;		/* where the scan lives */
	Oid			collation;

	MemoryContext run_cxt;		/* the current run of equal keys */
	MemoryContext ahead_cxt;	/* the row read ahead */
	ScanRow   **run;
	int			run_n;
	int			run_cap;
	int			run_pos;
	ScanRow    *ahead;
	bool		done;
	int64		max_run;		/* 0, or the most rows a run may hold */
	bool		run_overflow;	/* a run went past it: the scan stopped */
};

/* the relation of coll.field's index of kind, if it exists */
static Oid
field_index(const char *coll, const char *field, const char *kind)
{
	return nedb_index_oid(coll, field, kind);
}

/* the next version live at the scan's point in time, or NULL */
static ScanRow *
fetch(NqlScan *s, MemoryContext cxt)
{
	for (;;)
	{
		bool		isnull;
		bool		to_null;
		int64		seq_to;
		MemoryContext old;
		ScanRow    *r;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		/* the index AM keeps state (btree's killed items) in the current context */
		old = MemoryContextSwitchTo(s->scan_cxt);
		found = index_getnext_slot(s->scan, s->dir, s->slot);
		MemoryContextSwitchTo(old);
		if (!found)
			break;
		seq_to = DatumGetInt64(slot_getattr(s->slot, ATT_SEQ_TO, &to_null));
		if (s->has_as_of)
		{
			if (DatumGetInt64(slot_getattr(s->slot, ATT_SEQ_FROM, &isnull)) > s->as_of ||
				(!to_null && seq_to <= s->as_of))
				continue;
		}
		else if (!to_null)
			continue;
		(void) slot_getattr(s->slot, ATT_DOC, &isnull);
		if (isnull)
			continue;			/* a delete */

		old = MemoryContextSwitchTo(cxt);
		r = palloc(sizeof(ScanRow));
		r->id = TextDatumGetCString(slot_getattr(s->slot, ATT_ID, &isnull));
		r->doc = DatumGetJsonbPCopy(slot_getattr(s->slot, ATT_DOC, &isnull));
		r->key = s->field ? nedb_member(&r->doc->root, s->field) : NULL;
		MemoryContextSwitchTo(old);
		return r;
	}
	return NULL;
}

/*
 * Equal in NQL's order: a missing value and a null are both None; numbers
 * directly; anything else by the index's comparison.
 */
static bool
same_key(NqlScan *s, ScanRow *a, ScanRow *b)
{
	JsonbValue *x = a->key;
	JsonbValue *y = b->key;
	bool		xnone = x == NULL || x->type == jbvNull;
	bool		ynone = y == NULL || y->type == jbvNull;

	/* in id order every row is a run of its own */
	if (s->field == NULL)
		return false;
	if (xnone || ynone)
		return xnone == ynone;
	if (x->type == jbvNumeric && y->type == jbvNumeric)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
												 NumericGetDatum(x->val.numeric),
												 NumericGetDatum(y->val.numeric))) == 0;
	return DatumGetInt32(FunctionCall2Coll(&s->cmp, s->collation,
										   JsonbPGetDatum(JsonbValueToJsonb(x)),
										   JsonbPGetDatum(JsonbValueToJsonb(y)))) == 0;
}

static int
row_id_cmp(const void *x, const void *y)
{
	return strcmp((*(ScanRow *const *) x)->id, (*(ScanRow *const *) y)->id);
}

static void
run_add(NqlScan *s, ScanRow *r)
{
	if (s->run_n == s->run_cap)
	{
		s->run_cap *= 2;
		s->run = repalloc(s->run, sizeof(ScanRow *) * s->run_cap);
	}
	s->run[s->run_n++] = r;
}

/* a copy of r in the current memory context */
static ScanRow *
copy_row(ScanRow *r, const char *field)
{
	ScanRow    *c = palloc(sizeof(ScanRow));

	c->id = pstrdup(r->id);
	c->doc = palloc(VARSIZE(r->doc));
	memcpy(c->doc, r->doc, VARSIZE(r->doc));
	c->key = nedb_member(&c->doc->root, field);
	return c;
}

/*
 * Read the next run of equal keys, in id order.  The row read ahead already
 * lives in ahead_cxt, so the contexts trade places instead of copying it;
 * only the further rows of a run (ties) are copied.
 */
static bool
next_run(NqlScan *s)
{
	MemoryContext swap;
	ScanRow    *first;
	ScanRow    *r;

	MemoryContextReset(s->run_cxt);
	swap = s->run_cxt;
	s->run_cxt = s->ahead_cxt;
	s->ahead_cxt = swap;
	first = s->ahead;
	s->ahead = NULL;

	s->run_n = 0;
	s->run_pos = 0;
	s->run_cap = 8;
	s->run = MemoryContextAlloc(s->run_cxt, sizeof(ScanRow *) * s->run_cap);
	if (s->done)
		return false;
	if (first == NULL)
		first = fetch(s, s->run_cxt);
	if (first == NULL)
	{
		s->done = true;
		return false;
	}
	run_add(s, first);
	while ((r = fetch(s, s->ahead_cxt)) != NULL)
	{
		MemoryContext old;

		if (!same_key(s, first, r))
		{
			s->ahead = r;
			break;
		}
		old = MemoryContextSwitchTo(s->run_cxt);
		run_add(s, copy_row(r, s->field));
		MemoryContextSwitchTo(old);
		MemoryContextReset(s->ahead_cxt);
		if (s->max_run > 0 && s->run_n > s->max_run)
		{
			s->run_overflow = true;
			s->done = true;
			s->run_n = 0;
			return false;
		}
	}
	if (r == NULL)
		s->done = true;
	if (s->run_n > 1)
		qsort(s->run, s->run_n, sizeof(ScanRow *), row_id_cmp);
	return true;
}

/* what the keys at one end of an index are */
typedef enum KeyClass
{
	KEYS_NONE,					/* no value (missing or null) */
	KEYS_NUMBERS,				/* numbers (and booleans, under NEDB order) */
	KEYS_STRINGS,
	KEYS_OTHER
} KeyClass;

/*
 * The class of the first key with a value in direction dir of a btree over
 * jsonb, read through the rows the snapshot sees.  Under jsonb's order a
 * JSON null is a value of its own (not a number).
 */
static KeyClass
btree_end_class(Relation heap, Relation index, const char *field, ScanDirection dir,
				TupleTableSlot *slot)
{
	ScanKeyData key;
	IndexScanDesc scan;
	KeyClass	c = KEYS_NONE;

	ScanKeyEntryInitialize(&key, SK_ISNULL | SK_SEARCHNOTNULL, 1,
						   InvalidStrategy, InvalidOid, InvalidOid, InvalidOid, (Datum) 0);
	scan = index_beginscan(heap, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, dir, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, ATT_DOC, &isnull);
		JsonbValue *v;

		CHECK_FOR_INTERRUPTS();
		v = isnull ? NULL : nedb_member(&DatumGetJsonbP(d)->root, field);
		if (v == NULL)
			continue;
		c = (v->type == jbvNumeric) ? KEYS_NUMBERS : KEYS_OTHER;
		break;
	}
	index_endscan(scan);
	return c;
}

/*
 * The class of the keys at one end of a nedb_sorted index, read off the
 * index entries alone: at the bottom the first entry, at the top the last
 * below JSON null.  Entries of rows the snapshot does not see (dead, not
 * yet committed, history) count too; that can only make the verdict say
 * "mixed", never hide a class.
 */
static KeyClass
sorted_end_class(Relation index, ScanDirection dir)
{
	static Datum null = (Datum) 0;	/* JSON null, made once */
	Datum		d;
	bool		isnull;
	Jsonb	   *jb;
	JsonbValue	v;

	if (null == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		null = DirectFunctionCall1(jsonb_in, CStringGetDatum("null"));
		MemoryContextSwitchTo(old);
	}
	if (!sorted_edge_key(index, ScanDirectionIsBackward(dir) ? &null : NULL, &d, &isnull) ||
		isnull)
		return KEYS_NONE;
	jb = DatumGetJsonbP(d);
	if (!JB_ROOT_IS_SCALAR(jb) || !JsonbExtractScalar(&jb->root, &v))
		return KEYS_OTHER;		/* an array or object placeholder */
	switch (v.type)
	{
		case jbvNull:
			return KEYS_NONE;
		case jbvNumeric:
		case jbvBool:
			return KEYS_NUMBERS;
		case jbvString:
			return KEYS_STRINGS;
		default:
			return KEYS_OTHER;
	}
}

/* The class of the keys at one end */
static KeyClass
end_class(NqlScan *s, ScanDirection dir, bool nedb_order)
{
	if (nedb_order)
		return sorted_end_class(s->index, dir);
	return btree_end_class(s->heap, s->index, s->field, dir, s->slot);
}

/*
 * Begin "ORDER BY field" over coll's live versions (at as_of if has_as_of)
 * through field's sorted or eq index, with bounds (NqlBound *: numbers)
 * as index quals.  NULL when no index orders like NQL; !in_order: the
 * caller wants only rows of equal keys (an equality bound), which go out in
 * id order whatever the index's order.
 * *exact: the quals select exactly the rows the bounds hold for (no recheck).
 */
NqlScan *
nql_scan_begin(const char *coll, const char *field, bool desc, bool in_order, List *bounds,
			   bool has_as_of, int64 as_of, char **index_name, bool *exact)
{
	Oid			indexoid = field_index(coll, field, "sorted");
	NqlScan    *s;
	Oid			opfamily;
	Oid			intype;
	Oid			sorted_am = get_index_am_oid("nedb_sorted", true);
	bool		nedb_order;
	uint32		classes;
	bool		numbers_only;
	KeyClass	lo;
	KeyClass	hi;
	ScanKeyData *keys;
	int			nkeys = 0;
	ListCell   *lc;

	if (!OidIsValid(indexoid))
		indexoid = field_index(coll, field, "eq");
	if (!OidIsValid(indexoid))
		return NULL;

	s = palloc0(sizeof(NqlScan));
	/* locks are kept to the end of the transaction, as the executor does */
	s->heap = table_open(get_relname_relid("versions", get_namespace_oid("nedb", false)),
						 AccessShareLock);
	s->index = index_open(indexoid, AccessShareLock);
	s->slot = table_slot_create(s->heap, NULL);
	nedb_order = OidIsValid(sorted_am) && s->index->rd_rel->relam == sorted_am;
	if (s->index->rd_index->indrelid != RelationGetRelid(s->heap) ||
		s->index->rd_index->indnkeyatts != 1 ||
		!(nedb_order || s->index->rd_rel->relam == BTREE_AM_OID))
		goto unusable;

	/*
	 * The index order is NQL's when all values are of one class: keys are
	 * grouped by class, so the two ends tell.  jsonb's order is NQL's only
	 * for numbers.
	 */
	s->field = field;
	numbers_only = false;
	if (!in_order)
	{
		/* rows of equal keys only, which go out in id order: any order serves */
	}
	else if (nedb_order && sorted_key_classes(s->index, &classes))
	{
		/* every key ever inserted is of one class, null aside */
		if ((classes & SORTED_KEYS_OTHER) ||
			classes == (SORTED_KEYS_NUMBERS | SORTED_KEYS_STRINGS))
			goto unusable;
		numbers_only = (classes == SORTED_KEYS_NUMBERS);
	}
	else
	{
		lo = end_class(s, ForwardScanDirection, nedb_order);
		hi = end_class(s, BackwardScanDirection, nedb_order);
		if (lo == KEYS_OTHER || hi == KEYS_OTHER ||
			(lo != KEYS_NONE && hi != KEYS_NONE && lo != hi))
			goto unusable;
		numbers_only = (lo == KEYS_NUMBERS && hi == KEYS_NUMBERS);
	}

	opfamily = s->index->rd_opfamily[0];
	intype = s->index->rd_opcintype[0];
	s->collation = s->index->rd_indcollation[0];
	fmgr_info(get_opfamily_proc(opfamily, intype, intype, BTORDER_PROC), &s->cmp);

	keys = palloc(sizeof(ScanKeyData) * Max(list_length(bounds), 1));
	foreach(lc, bounds)
	{
		NqlBound   *b = lfirst(lc);
		Oid			opr = get_opfamily_member(opfamily, intype, intype, b->strategy);

		ScanKeyEntryInitialize(&keys[nkeys++], 0, 1, b->strategy, intype, s->collation,
							   get_opcode(opr), JsonbPGetDatum(b->value));
	}

	s->field = field;
	s->has_as_of = has_as_of;
	s->as_of = as_of;
	s->dir = desc ? BackwardScanDirection : ForwardScanDirection;
	s->scan_cxt = CurrentMemoryContext;
	s->scan = index_beginscan(s->heap, s->index, GetActiveSnapshot(), nkeys, 0);
	index_rescan(s->scan, keys, nkeys, NULL, 0);
	s->run_cxt = AllocSetContextCreate(CurrentMemoryContext, "nql scan run",
									   ALLOCSET_DEFAULT_SIZES);
	s->ahead_cxt = AllocSetContextCreate(CurrentMemoryContext, "nql scan ahead",
										 ALLOCSET_DEFAULT_SIZES);
	if (index_name)
		*index_name = pstrdup(RelationGetRelationName(s->index));
	/*
	 * The quals select exactly what Python's comparisons do when every key
	 * is a number (booleans as 0 and 1 under NEDB order): always with
	 * jsonb's order; under NEDB order a JSON null sorts above every number,
	 * so only when an upper bound (or =) shuts the nulls out.
	 */
	*exact = !nedb_order;
	if (nedb_order && numbers_only)
	{
		foreach(lc, bounds)
		{
			StrategyNumber st = ((NqlBound *) lfirst(lc))->strategy;

			if (st == BTLessStrategyNumber || st == BTLessEqualStrategyNumber ||
				st == BTEqualStrategyNumber)
				*exact = true;
		}
	}

	/*
	 * A string bound orders against other classes by the index's order, not
	 * Python's (where they do not compare at all): under NEDB order
	 * "h < 'a'" holds for every number.  Its rows are checked again.
	 */
	foreach(lc, bounds)
	{
		JsonbValue	v;
		Jsonb	   *jb = ((NqlBound *) lfirst(lc))->value;

		if (!JsonbExtractScalar(&jb->root, &v) || v.type != jbvNumeric)
			*exact = false;
	}
	return s;

unusable:
	ExecDropSingleTupleTableSlot(s->slot);
	index_close(s->index, NoLock);
	table_close(s->heap, NoLock);
	return NULL;
}

/*
 * Begin coll's live versions (at as_of if has_as_of) in id order, through
 * the versions_key index (coll, id, seq_from): what a query without ORDER
 * BY reads.  *index_name: the index's.
 */
NqlScan *
nql_scan_ids_begin(const char *coll, bool has_as_of, int64 as_of, char **index_name)
{
	Oid			nsp = get_namespace_oid("nedb", false);
	Oid			indexoid = get_relname_relid("versions_key", nsp);
	NqlScan    *s;
	ScanKeyData key;

	if (!OidIsValid(indexoid))
		return NULL;
	s = palloc0(sizeof(NqlScan));
	s->heap = table_open(get_relname_relid("versions", nsp), AccessShareLock);
	s->index = index_open(indexoid, AccessShareLock);
	if (s->index->rd_index->indrelid != RelationGetRelid(s->heap) ||
		s->index->rd_rel->relam != BTREE_AM_OID)
	{
		index_close(s->index, NoLock);
		table_close(s->heap, NoLock);
		return NULL;
	}
	s->slot = table_slot_create(s->heap, NULL);
	s->field = NULL;
	s->has_as_of = has_as_of;
	s->as_of = as_of;
	s->dir = ForwardScanDirection;
	s->scan_cxt = CurrentMemoryContext;
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   C_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(coll));
	s->scan = index_beginscan(s->heap, s->index, GetActiveSnapshot(), 1, 0);
	index_rescan(s->scan, &key, 1, NULL, 0);
	s->run_cxt = AllocSetContextCreate(CurrentMemoryContext, "nql scan run",
									   ALLOCSET_DEFAULT_SIZES);
	s->ahead_cxt = AllocSetContextCreate(CurrentMemoryContext, "nql scan ahead",
										 ALLOCSET_DEFAULT_SIZES);
	if (index_name)
		*index_name = pstrdup(RelationGetRelationName(s->index));
	return s;
}

/*
 * A run (rows of equal keys, held in memory to go out in id order) may hold
 * at most n rows: past that the scan ends and nql_scan_overflowed says so.
 */
void
nql_scan_set_max_run(NqlScan *s, int64 n)
{
	s->max_run = n;
}

bool
nql_scan_overflowed(NqlScan *s)
{
	return s->run_overflow;
}

/* the next row in ORDER BY order; false at the end */
bool
nql_scan_next(NqlScan *s, char **id, Jsonb **doc)
{
	if (s->run_pos >= s->run_n && !next_run(s))
		return false;
	*id = s->run[s->run_pos]->id;
	*doc = s->run[s->run_pos]->doc;
	s->run_pos++;
	return true;
}

void
nql_scan_end(NqlScan *s)
{
	index_endscan(s->scan);
	ExecDropSingleTupleTableSlot(s->slot);
	index_close(s->index, NoLock);
	table_close(s->heap, NoLock);
	MemoryContextDelete(s->run_cxt);
	MemoryContextDelete(s->ahead_cxt);
}
