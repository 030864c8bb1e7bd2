/*
 * fdw_scan.c
 *	  Reading a collection through its foreign table: the storage statement
 *	  and the scan.
 *
 * A scan is one parameterized statement over nedb.versions (two when it is
 * sorted by a typed field: the documents with a value, in index order, and
 * those without one, before or after them as NULLS FIRST/LAST says).
 * Collection and field names are quoted literals (they select the partial
 * indexes nedb.create_index makes), every value is a parameter, so the
 * statement's text depends only on the query's shape and its plan is kept
 * for the backend.  Rows are fetched from a cursor in growing batches, each
 * fetch in its own storage session (as the schema owner), so scans of
 * several foreign tables and writes interleave freely.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/plancache.h"
#include "utils/resowner.h"

#include "acl.h"
#include "auto_index.h"
#include "chain.h"
#include "fdw.h"
#include "op.h"
#include "util.h"
#include "versions.h"

/* ------------------------------------------------------------------------
 * The storage statement
 * ------------------------------------------------------------------------ */

/* the storage expression of a column */
static void
append_key(StringInfo sql, NedbColumn *c)
{
	ListCell   *lc;

	switch (c->kind)
	{
		case NEDB_COL_ID:
			appendStringInfoString(sql, "id");
			break;
		case NEDB_COL_SEQ:
			appendStringInfoString(sql, "seq_from");
			break;
		case NEDB_COL_DOC:
			appendStringInfoString(sql, "doc");
			break;
		case NEDB_COL_FIELD:
			appendStringInfoString(sql, "doc");
			foreach(lc, c->path)
				appendStringInfo(sql, " -> %s", quote_literal_cstr(lfirst(lc)));
			break;
	}
}

static const char *
strategy_op(int strategy)
{
	switch (strategy)
	{
		case BTLessStrategyNumber:
			return "<";
		case BTLessEqualStrategyNumber:
			return "<=";
		case BTEqualStrategyNumber:
			return "=";
		case BTGreaterEqualStrategyNumber:
			return ">=";
		case BTGreaterStrategyNumber:
			return ">";
	}
	elog(ERROR, "unexpected strategy %d", strategy);
	return NULL;
}

/* a typed field: JSON null reads as NULL, its order is not jsonb's */
static bool
typed_field(NedbColumn *c)
{
	return c->kind == NEDB_COL_FIELD && c->tclass != NEDB_TC_JSONB;
}

/*
 * A number column over a field with a sorted (nedb_sorted) index: its
 * conditions and order use NEDB order's operators, which the index serves
 * and which order numbers as jsonb's do, but put JSON null above them all.
 */
static bool
nedb_order_field(NedbTable *t, NedbColumn *c)
{
	if (c->kind != NEDB_COL_FIELD || list_length(c->path) != 1 ||
		(c->tclass != NEDB_TC_INT && c->tclass != NEDB_TC_NUMERIC))
		return false;
	/* looked up once per NedbTable (one planning, one scan) */
	if (c->sorted_index < 0)
		c->sorted_index =
			OidIsValid(nedb_index_oid(t->coll, linitial(c->path), "sorted"));
	return c->sorted_index != 0;
}

/* AND the column's key has a value (not missing, not JSON null) */
static void
append_has_value(StringInfo sql, NedbColumn *c, bool nedb_order)
{
	appendStringInfoString(sql, " AND ");
	append_key(sql, c);
	appendStringInfoString(sql, nedb_order ? " OPERATOR(nedb.<) 'null'" : " > 'null'");
}

/* a sort by a typed field that may meet rows without a value */
static bool
sort_meets_nulls(NedbTable *t, List *quals, int order_attno)
{
	bool		has_nulls = order_attno > 0 && typed_field(&t->cols[order_attno - 1]);

	/* a condition on the sort column leaves no row without a value */
	for (int i = 0; has_nulls && i + 1 < list_length(quals); i += 2)
		if (list_nth_int(quals, i) == order_attno)
			has_nulls = false;
	return has_nulls;
}

/*
 * NEDB order puts JSON null above every value and a sorted index keeps the
 * missing values after that: so ASC NULLS LAST and DESC NULLS FIRST are the
 * index's own order, one scan with the rows without a value in place.
 */
static bool
nulls_in_index_order(NedbTable *t, List *quals, int order_attno, int order_flags)
{
	return sort_meets_nulls(t, quals, order_attno) &&
		nedb_order_field(t, &t->cols[order_attno - 1]) &&
		((order_flags & NEDB_ORDER_DESC) != 0) == ((order_flags & NEDB_ORDER_NULLS_FIRST) != 0);
}

/*
 * A scan in the order of a number field's sorted index whose conditions are
 * all ranges on that field: NQL's direct index scan (versions_scan.c) reads it
 * without a statement, when the field's values are all numbers.
 */
static bool
direct_scan_ok(NedbTable *t, List *quals, int order_attno, int order_flags)
{
	if (order_attno <= 0 || !nedb_order_field(t, &t->cols[order_attno - 1]))
		return false;
	for (int i = 0; i + 1 < list_length(quals); i += 2)
		if (list_nth_int(quals, i) != order_attno ||
			list_nth_int(quals, i + 1) == NEDB_STRATEGY_ANY)
			return false;
	return !sort_meets_nulls(t, quals, order_attno) ||
		nulls_in_index_order(t, quals, order_attno, order_flags);
}

/* the scan's parts: 0 the sorted or only one, 1 the rows without a sort value */
int
nedb_scan_parts(NedbTable *t, List *quals, int order_attno, int order_flags, int *parts)
{
	if (sort_meets_nulls(t, quals, order_attno) &&
		!nulls_in_index_order(t, quals, order_attno, order_flags))
	{
		bool		nulls_first = (order_flags & NEDB_ORDER_NULLS_FIRST) != 0;

		parts[0] = nulls_first ? 1 : 0;
		parts[1] = nulls_first ? 0 : 1;
		return 2;
	}
	parts[0] = 0;
	return 1;
}

/*
 * The statement of one part of a scan.  quals is a flat integer list of
 * (attno, strategy) pairs, parameter $k+2 the value of the k-th; $1 is the
 * AS OF seq, or at HEAD the time that expires documents.  Pushed
 * conditions are exactly the columns' (fdw_convert.c): a range below a
 * value of a typed field also excludes JSON null, which jsonb sorts first.
 */
void
nedb_fdw_scan_sql(StringInfo sql, NedbTable *t, List *quals, int order_attno,
				  int order_flags, int64 limit, bool has_as_of, int part)
{
	int			k = 2;

	appendStringInfo(sql, "SELECT id, seq_from, doc FROM nedb.versions WHERE coll = %s",
					 quote_literal_cstr(t->coll));
	if (has_as_of)
		appendStringInfoString(sql, " AND seq_from <= $1 AND (seq_to IS NULL OR seq_to > $1)");
	else
		appendStringInfoString(sql, " AND seq_to IS NULL AND NOT (CASE WHEN jsonb_typeof(doc -> '_expires_at') = 'number'"
							   " THEN (doc -> '_expires_at')::numeric < $1 ELSE false END)");
	appendStringInfoString(sql, " AND doc IS NOT NULL");
	for (int i = 0; i + 1 < list_length(quals); i += 2)
	{
		NedbColumn *c = &t->cols[list_nth_int(quals, i) - 1];
		int			strategy = list_nth_int(quals, i + 1);
		bool		nedb_order = nedb_order_field(t, c);

		appendStringInfoString(sql, " AND ");
		append_key(sql, c);
		if (strategy == NEDB_STRATEGY_ANY)
			appendStringInfo(sql, " = ANY ($%d)", k++);
		else if (nedb_order)
			appendStringInfo(sql, " OPERATOR(nedb.%s) $%d", strategy_op(strategy), k++);
		else
			appendStringInfo(sql, " %s $%d", strategy_op(strategy), k++);
		/* JSON null is below every value in jsonb's order, above in NEDB's */
		if (typed_field(c) &&
			(nedb_order ? (strategy == BTGreaterStrategyNumber ||
						   strategy == BTGreaterEqualStrategyNumber) :
			 (strategy == BTLessStrategyNumber || strategy == BTLessEqualStrategyNumber)))
			append_has_value(sql, c, nedb_order);
	}
	if (order_attno > 0)
	{
		NedbColumn *c = &t->cols[order_attno - 1];
		bool		desc = (order_flags & NEDB_ORDER_DESC) != 0;

		if (typed_field(c) && part == 1)
		{
			appendStringInfoString(sql, " AND (");
			append_key(sql, c);
			appendStringInfoString(sql, " IS NULL OR ");
			append_key(sql, c);
			appendStringInfoString(sql, " = 'null')");
		}
		else
		{
			bool		nedb_order = nedb_order_field(t, c);
			bool		in_order = nulls_in_index_order(t, quals, order_attno, order_flags);

			if (typed_field(c) && !in_order)
				append_has_value(sql, c, nedb_order);
			appendStringInfoString(sql, " ORDER BY ");
			append_key(sql, c);
			if (nedb_order)
				appendStringInfoString(sql, desc ? " USING OPERATOR(nedb.>)" : " USING OPERATOR(nedb.<)");
			else
				appendStringInfoString(sql, desc ? " DESC" : " ASC");
			if (in_order)
				appendStringInfoString(sql, desc ? " NULLS FIRST" : " NULLS LAST");
			if (c->kind == NEDB_COL_FIELD && !typed_field(c))
				appendStringInfoString(sql, (order_flags & NEDB_ORDER_NULLS_FIRST)
									   ? " NULLS FIRST" : " NULLS LAST");
		}
	}
	/*
	 * The rows without a sort value are few or none: a LIMIT would make the
	 * planner hope to find them early in a sequential scan.
	 */
	if (limit >= 0 && !(order_attno > 0 && part == 1))
		appendStringInfo(sql, " LIMIT " INT64_FORMAT, limit);
}

/* the parameter types of a scan's statement */
static Oid *
param_types(NedbTable *t, List *quals, bool has_as_of)
{
	int			n = list_length(quals) / 2 + 1;
	Oid		   *types = palloc(sizeof(Oid) * n);

	types[0] = has_as_of ? INT8OID : NUMERICOID;
	for (int i = 0; i + 1 < list_length(quals); i += 2)
	{
		NedbColumn *c = &t->cols[list_nth_int(quals, i) - 1];

		types[i / 2 + 1] = c->kind == NEDB_COL_ID
			? (list_nth_int(quals, i + 1) == NEDB_STRATEGY_ANY ? TEXTARRAYOID : TEXTOID) :
			c->kind == NEDB_COL_SEQ ? INT8OID : JSONBOID;
	}
	return types;
}

/* sorted rows are often not all consumed: plan those for a fast start */
static SPIPlanPtr
storage_plan(const char *sql, int nargs, Oid *types, bool fast)
{
	return nedb_plan_by_text(sql, nargs, types, fast ? CURSOR_OPT_FAST_PLAN : 0);
}

/*
 * The rows and costs of the top node of a storage statement's generic
 * plan; false if it has none.  A statement the text cache did not keep (a
 * long one, or one past a full cache) is not saved, and its plan is then
 * not tracked by a resource owner.
 */
bool
nedb_storage_estimate(SPIPlanPtr plan, double *rows, Cost *startup, Cost *total)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	ResourceOwner owner;
	CachedPlan *cplan;
	Plan	   *top;

	if (list_length(sources) != 1)
		return false;
	owner = ((CachedPlanSource *) linitial(sources))->is_saved ? CurrentResourceOwner : NULL;
	cplan = SPI_plan_get_cached_plan(plan);
	if (cplan == NULL)
		return false;
	top = linitial_node(PlannedStmt, cplan->stmt_list)->planTree;
	*rows = top->plan_rows;
	*startup = top->startup_cost;
	*total = top->total_cost;
	ReleaseCachedPlan(cplan, owner);
	return true;
}

/*
 * Rows and costs of a scan by the storage statistics: the planner's
 * generic plan of the storage statement (kept, so this is cheap).  Its
 * costs are the scan's; its rows serve only for the selectivity of the
 * conditions when the statistics know the collection (fdw_plan.c), since
 * until an ANALYZE has seen the collection they are Postgres's defaults
 * (fdw_analyze.c sizes the collection).
 */
void
nedb_fdw_estimate(NedbTable *t, List *quals, int order_attno, int order_flags, int64 limit,
				  double *rows, Cost *startup, Cost *total)
{
	NedbSession s;
	int64		as_of;
	bool		has_as_of = nedb_read_as_of(t, &as_of);
	int			parts[2];
	int			nparts = nedb_scan_parts(t, quals, order_attno, order_flags, parts);

	*rows = 0;
	*startup = 0;
	*total = 0;
	nedb_begin(&s);
	for (int p = 0; p < nparts; p++)
	{
		StringInfoData sql;
		double		prows;
		Cost		pstartup;
		Cost		ptotal;

		initStringInfo(&sql);
		nedb_fdw_scan_sql(&sql, t, quals, order_attno, order_flags, limit, has_as_of, parts[p]);
		if (!nedb_storage_estimate(storage_plan(sql.data, list_length(quals) / 2 + 1,
												param_types(t, quals, has_as_of),
												order_attno > 0 && parts[p] == 0),
								   &prows, &pstartup, &ptotal))
			continue;
		if (p == 0)
			*startup = pstartup;
		*rows += prows;
		*total += ptotal;
	}
	nedb_end(&s);
}

/* ------------------------------------------------------------------------
 * The scan
 * ------------------------------------------------------------------------ */

typedef struct NedbScan
{
	NedbTable  *t;
	List	   *quals;			/* (attno, strategy) pairs */
	int			order_attno;
	int			order_flags;
	int64		limit;			/* -1: none */
	int64		offset;
	List	   *value_states;	/* ExprState per qual value */

	bool		started;
	bool		empty;			/* a NULL value: no row qualifies */
	bool		has_as_of;
	int64		as_of;
	Datum	   *params;
	int			nparams;
	Oid		   *types;
	int			parts[2];
	int			nparts;
	int			part;			/* index into parts */
	char	   *portal;			/* open cursor, NULL if none */
	bool		part_done;		/* the cursor returned its last batch */
	int64		seen;			/* rows passed (for OFFSET and LIMIT) */
	int			fetch;			/* next batch size */

	bool		direct_ok;		/* direct_scan_ok() */
	NqlScan    *direct;			/* the direct index scan, if it serves */
	bool		direct_done;
	double		now;			/* at HEAD: expiry time */

	MemoryContext param_cxt;	/* the values of one (re)scan */
	MemoryContext batch_cxt;
	MemoryContext row_cxt;
	int			nrows;
	int			next;
	char	  **ids;
	int64	   *seqs;
	Jsonb	  **docs;
} NedbScan;

/*
 * nedb.auto_index: the conditions (equality: eq; ranges: sorted) and the
 * order (sorted) on fields that no index serves, counted (auto_index.c).
 */
static void
count_misses(NedbScan *sc)
{
	for (int i = 0; i + 1 < list_length(sc->quals); i += 2)
	{
		NedbColumn *c = &sc->t->cols[list_nth_int(sc->quals, i) - 1];
		int			strategy = list_nth_int(sc->quals, i + 1);

		if (c->kind == NEDB_COL_FIELD && list_length(c->path) == 1)
			nedb_auto_index_miss(sc->t->coll, linitial(c->path),
								 strategy == BTEqualStrategyNumber ||
								 strategy == NEDB_STRATEGY_ANY ? "eq" : "sorted");
	}
	if (sc->order_attno > 0)
	{
		NedbColumn *c = &sc->t->cols[sc->order_attno - 1];

		if (c->kind == NEDB_COL_FIELD && list_length(c->path) == 1)
			nedb_auto_index_miss(sc->t->coll, linitial(c->path), "sorted");
	}
}

void
nedb_fdw_begin_scan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	NedbScan   *sc = palloc0(sizeof(NedbScan));
	List	   *priv = plan->fdw_private;

	node->fdw_state = sc;
	sc->t = nedb_table(RelationGetRelid(node->ss.ss_currentRelation));
	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
		nedb_acl_require_table(node->ss.ss_currentRelation, sc->t->coll, NEDB_READ);
	sc->quals = (List *) linitial(priv);
	sc->order_attno = intVal(lsecond(priv));
	sc->order_flags = intVal(lthird(priv));
	sc->limit = intVal(lfourth(priv));
	sc->offset = intVal(list_nth(priv, 4));
	sc->value_states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	sc->param_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb scan values",
										  ALLOCSET_SMALL_SIZES);
	sc->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb scan batch",
										  ALLOCSET_DEFAULT_SIZES);
	sc->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb scan row",
										ALLOCSET_DEFAULT_SIZES);
	sc->nparts = nedb_scan_parts(sc->t, sc->quals, sc->order_attno, sc->order_flags, sc->parts);
	sc->direct_ok = direct_scan_ok(sc->t, sc->quals, sc->order_attno, sc->order_flags);
	if (nedb_auto_index && !(eflags & EXEC_FLAG_EXPLAIN_ONLY))
		count_misses(sc);
}

static void
end_direct(NedbScan *sc)
{
	if (sc->direct)
		nql_scan_end(sc->direct);
	sc->direct = NULL;
}

/* start the direct index scan, if the index's order serves (else SQL) */
static void
begin_direct(NedbScan *sc)
{
	NedbColumn *c = &sc->t->cols[sc->order_attno - 1];
	MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(sc));
	List	   *bounds = NIL;
	bool		exact;

	for (int i = 0; i + 1 < list_length(sc->quals); i += 2)
	{
		NqlBound   *b = palloc(sizeof(NqlBound));

		b->strategy = list_nth_int(sc->quals, i + 1);
		b->value = DatumGetJsonbPCopy(sc->params[i / 2 + 1]);
		bounds = lappend(bounds, b);
	}
	sc->direct = nql_scan_begin(sc->t->coll, linitial(c->path),
								(sc->order_flags & NEDB_ORDER_DESC) != 0, true, bounds,
								sc->has_as_of, sc->as_of, NULL, &exact);
	sc->direct_done = false;
	MemoryContextSwitchTo(old);
}

/* the next batch from the direct scan: live, unexpired, with a value if bounded */
static bool
fetch_direct(NedbScan *sc)
{
	const char *field = linitial(sc->t->cols[sc->order_attno - 1].path);
	MemoryContext old;
	char	   *id;
	Jsonb	   *doc;
	int			n = 0;

	MemoryContextReset(sc->batch_cxt);
	sc->nrows = sc->next = 0;
	if (sc->direct_done)
		return false;
	old = MemoryContextSwitchTo(sc->batch_cxt);
	sc->ids = palloc(sizeof(char *) * sc->fetch);
	sc->seqs = palloc(sizeof(int64) * sc->fetch);
	sc->docs = palloc(sizeof(Jsonb *) * sc->fetch);
	while (n < sc->fetch)
	{
		JsonbValue *v;

		if (!nql_scan_next(sc->direct, &id, &doc))
		{
			sc->direct_done = true;
			break;
		}
		if (!sc->has_as_of && doc_expired(doc, sc->now))
			continue;
		/* a condition holds for no row without a value (JSON null sorts in range) */
		v = nedb_member(&doc->root, field);
		if (sc->quals != NIL && (v == NULL || v->type == jbvNull))
			continue;
		v = nedb_member(&doc->root, "_seq");
		sc->seqs[n] = v && v->type == jbvNumeric
			? DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric))) : -1;
		sc->ids[n] = pstrdup(id);
		sc->docs[n] = palloc(VARSIZE(doc));
		memcpy(sc->docs[n], doc, VARSIZE(doc));
		n++;
	}
	MemoryContextSwitchTo(old);
	sc->fetch = Min(sc->fetch * 2, 10000);
	sc->nrows = n;
	return n > 0 || !sc->direct_done;
}

/* the parameter values, AS OF and the cursor of the first part */
static void
start_scan(ForeignScanState *node, NedbScan *sc)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old;
	ListCell   *lc;
	int			k = 1;

	MemoryContextReset(sc->param_cxt);
	old = MemoryContextSwitchTo(sc->param_cxt);
	sc->has_as_of = nedb_read_as_of(sc->t, &sc->as_of);
	sc->nparams = list_length(sc->quals) / 2 + 1;
	sc->params = palloc(sizeof(Datum) * sc->nparams);
	sc->types = param_types(sc->t, sc->quals, sc->has_as_of);
	sc->now = op_now();
	sc->params[0] = sc->has_as_of ? Int64GetDatum(sc->as_of)
		: DirectFunctionCall1(float8_numeric, Float8GetDatum(sc->now));
	sc->empty = false;
	foreach(lc, sc->value_states)
	{
		ExprState  *es = lfirst(lc);
		NedbColumn *c = &sc->t->cols[list_nth_int(sc->quals, (k - 1) * 2) - 1];
		bool		isnull;
		Datum		v = ExecEvalExpr(es, econtext, &isnull);
		Oid			type = exprType((Node *) es->expr);

		if (isnull)
		{
			sc->empty = true;
			v = (Datum) 0;
		}
		else if (c->kind == NEDB_COL_ID)
			v = datumCopy(v, false, -1);
		else if (c->kind == NEDB_COL_SEQ)
			v = Int64GetDatum(type == INT8OID ? DatumGetInt64(v) :
							  type == INT4OID ? (int64) DatumGetInt32(v) : (int64) DatumGetInt16(v));
		else
			v = JsonbPGetDatum(nedb_datum_to_jsonb(v, type));
		sc->params[k++] = v;
	}
	MemoryContextSwitchTo(old);
	sc->part = 0;
	sc->portal = NULL;
	sc->part_done = false;
	sc->seen = 0;
	sc->fetch = sc->limit >= 0 ? (int) Min(sc->limit + sc->offset, 1000) : 64;
	sc->fetch = Max(sc->fetch, 1);
	sc->nrows = sc->next = 0;
	sc->started = true;
	if (sc->direct_ok && !sc->empty)
		begin_direct(sc);
}

static void
close_cursor(NedbScan *sc)
{
	if (sc->portal)
	{
		Portal		p = SPI_cursor_find(sc->portal);

		if (p)
			SPI_cursor_close(p);
		pfree(sc->portal);
		sc->portal = NULL;
	}
}

/* the next batch of rows; false at the end of the scan */
static bool
fetch_batch(NedbScan *sc)
{
	NedbSession s;
	Portal		portal;
	uint64		n;
	MemoryContext old;

	MemoryContextReset(sc->batch_cxt);
	sc->nrows = sc->next = 0;
	for (;;)
	{
		if (sc->part >= sc->nparts)
			return false;
		if (sc->part_done)
		{
			close_cursor(sc);
			sc->part++;
			sc->part_done = false;
			continue;
		}
		break;
	}

	nedb_begin(&s);
	if (sc->portal == NULL)
	{
		StringInfoData sql;
		int64		lim = sc->limit >= 0 ? sc->limit + sc->offset : -1;
		SPIPlanPtr	plan;

		initStringInfo(&sql);
		nedb_fdw_scan_sql(&sql, sc->t, sc->quals, sc->order_attno, sc->order_flags, lim,
						  sc->has_as_of, sc->parts[sc->part]);
		plan = storage_plan(sql.data, sc->nparams, sc->types,
							sc->order_attno > 0 && sc->parts[sc->part] == 0);
		if (lim >= 0)
		{
			/* a known number of rows: one execution, no cursor */
			if (SPI_execute_plan(plan, sc->params, NULL, true, Max(lim - sc->seen, 1)) != SPI_OK_SELECT)
				elog(ERROR, "nedb: the storage statement failed: %s", sql.data);
			sc->part_done = true;
		}
		else
		{
			portal = SPI_cursor_open(NULL, plan, sc->params, NULL, true);
			sc->portal = MemoryContextStrdup(GetMemoryChunkContext(sc), portal->name);
		}
	}
	if (sc->portal != NULL)
	{
		portal = SPI_cursor_find(sc->portal);
		if (portal == NULL)
			elog(ERROR, "cursor \"%s\" of a nedb foreign scan is gone", sc->portal);
		SPI_cursor_fetch(portal, true, sc->fetch);
		if (SPI_processed < (uint64) sc->fetch)
			sc->part_done = true;
		sc->fetch = Min(sc->fetch * 2, 10000);
	}
	n = SPI_processed;

	old = MemoryContextSwitchTo(sc->batch_cxt);
	sc->ids = palloc(sizeof(char *) * Max(n, 1));
	sc->seqs = palloc(sizeof(int64) * Max(n, 1));
	sc->docs = palloc(sizeof(Jsonb *) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		sc->ids[i] = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		sc->seqs[i] = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		sc->docs[i] = (Jsonb *) PG_DETOAST_DATUM_COPY(SPI_getbinval(tup, desc, 3, &isnull));
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	nedb_end(&s);
	sc->nrows = (int) n;
	return true;
}

TupleTableSlot *
nedb_fdw_iterate_scan(ForeignScanState *node)
{
	NedbScan   *sc = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	ExecClearTuple(slot);
	if (!sc->started)
		start_scan(node, sc);
	if (sc->empty)
		return slot;
	for (;;)
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (sc->limit >= 0 && sc->seen >= sc->limit + sc->offset)
			return slot;
		if (sc->next >= sc->nrows)
		{
			if (!(sc->direct ? fetch_direct(sc) : fetch_batch(sc)))
				return slot;
			continue;
		}
		if (sc->seen++ < sc->offset)
		{
			sc->next++;
			continue;
		}
		MemoryContextReset(sc->row_cxt);
		old = MemoryContextSwitchTo(sc->row_cxt);
		nedb_doc_to_values(sc->t, sc->ids[sc->next], sc->seqs[sc->next], sc->docs[sc->next],
						   slot->tts_values, slot->tts_isnull);
		MemoryContextSwitchTo(old);
		sc->next++;
		return ExecStoreVirtualTuple(slot);
	}
}

void
nedb_fdw_rescan(ForeignScanState *node)
{
	NedbScan   *sc = node->fdw_state;

	close_cursor(sc);
	end_direct(sc);
	sc->started = false;
	sc->nrows = sc->next = 0;
}

void
nedb_fdw_end_scan(ForeignScanState *node)
{
	NedbScan   *sc = node->fdw_state;

	if (sc)
	{
		close_cursor(sc);
		end_direct(sc);
	}
}

/* EXPLAIN: the collection, and with VERBOSE the storage statements */
void
nedb_fdw_explain_scan(ForeignScanState *node, ExplainState *es)
{
	NedbScan   *sc = node->fdw_state;
	int64		as_of;
	bool		has_as_of = nedb_read_as_of(sc->t, &as_of);

	ExplainPropertyText("NEDB Collection", sc->t->coll, es);
	if (has_as_of)
		ExplainPropertyInteger("NEDB AS OF", NULL, as_of, es);
	if (sc->order_attno > 0)
		ExplainPropertyText("NEDB Order",
							psprintf("%s %s NULLS %s", sc->t->cols[sc->order_attno - 1].name,
									 (sc->order_flags & NEDB_ORDER_DESC) ? "DESC" : "ASC",
									 (sc->order_flags & NEDB_ORDER_NULLS_FIRST) ? "FIRST" : "LAST"),
							es);
	if (sc->limit >= 0)
		ExplainPropertyInteger("NEDB Limit", NULL, sc->limit, es);
	if (sc->offset > 0)
		ExplainPropertyInteger("NEDB Offset", NULL, sc->offset, es);
	if (sc->direct_ok)
		ExplainPropertyText("NEDB Direct Scan",
							psprintf("%s of the sorted index on %s, without a statement, while its values are all numbers",
									 (sc->order_flags & NEDB_ORDER_DESC) ? "backward" : "forward",
									 sc->t->cols[sc->order_attno - 1].field),
							es);
	if (es->verbose && es->costs)
	{
		List	   *priv = ((ForeignScan *) node->ss.ps.plan)->fdw_private;

		ExplainPropertyText("NEDB Size Estimate",
							psprintf("%s live documents, from %s", strVal(list_nth(priv, 6)),
									 nedb_size_source_name(intVal(list_nth(priv, 5)))),
							es);
	}
	if (es->verbose)
	{
		for (int p = 0; p < sc->nparts; p++)
		{
			StringInfoData sql;

			initStringInfo(&sql);
			nedb_fdw_scan_sql(&sql, sc->t, sc->quals, sc->order_attno, sc->order_flags,
							  sc->limit >= 0 ? sc->limit + sc->offset : -1, has_as_of, sc->parts[p]);
			ExplainPropertyText(sc->parts[p] == 0 ? "NEDB Query" : "NEDB Query (sort key NULL)",
								sql.data, es);
		}
	}
}
