/*
 * nql_plan.c
 *	  NQL's planner: where a query's candidates come from.
 *
 * A query that wants its rows in the order of a field's index and nothing
 * that needs SQL is a direct index scan of that index (versions_scan.c).
 * Every other query is one parameterized SQL statement over nedb.versions,
 * with equality on eq indexes, SEARCH on search indexes and, in the order of
 * a sorted index, ranges on its field as index conditions.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "nodes/value.h"
#include "utils/jsonb.h"

#include "auto_index.h"
#include "canon.h"
#include "chain.h"
#include "nql_int.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * Planning: the candidate query
 * ------------------------------------------------------------------------ */

/*
 * Conditions pushed into SQL are exact or supersets (every row is checked
 * again with Python's semantics), so a plan never changes a result.
 */
/* conditions, and SEARCH terms, that go into the candidate SQL at most */
#define NQL_MAX_SQL_CONDITIONS 32

/* run a cached plan; returns SPI_processed */
static uint64
run_cached(const char *sql, int nargs, Oid *types, Datum *values, long limit)
{
	if (SPI_execute_plan(nedb_plan_by_text(sql, nargs, types, 0), values, NULL, true, limit) != SPI_OK_SELECT)
		elog(ERROR, "query failed: %s", sql);
	return SPI_processed;
}

/* a parameter of the candidate query: its placeholder */
static const char *
add_param(NqlPlan *pl, Datum v, Oid type)
{
	pl->values[pl->nparams] = v;
	pl->types[pl->nparams] = type;
	return psprintf("$%d", ++pl->nparams);
}

static Datum
jsonb_value(NqlValue *v)
{
	StringInfoData s;

	initStringInfo(&s);
	if (v->kind == NQLV_STRING)
		canon_string(&s, v->text, strlen(v->text));
	else
		appendStringInfoString(&s, v->text);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

static bool
is_number(NqlValue *v)
{
	return v->kind == NQLV_INT || v->kind == NQLV_FLOAT;
}

/*
 * ORDER BY field can go through field's index when the index's order is
 * NQL's order for every value the field holds in any version (or the field
 * is missing).  With a sorted (nedb_sorted, NEDB ordering) index that is:
 * no explicit null, and the largest value below null is a number or a
 * boolean, so every value is (NEDB ordering ranks numbers and booleans,
 * compared as Python compares them, before strings, arrays and objects):
 * two one-step index probes.  With only an eq (btree, jsonb order) index:
 * numbers only, as jsonb orders booleans after numbers: no explicit null,
 * the largest value is not above the numbers (booleans, arrays, objects),
 * the smallest non-null value is not a string.  One statement either way.
 * *nedb_order: the sorted index serves, so the SQL orders and compares with
 * OPERATOR(nedb.<) etc.
 */
static bool
sorted_path(const char *coll, const char *field, bool *nedb_order)
{
	const char *c = quote_literal_cstr(coll);
	const char *f = quote_literal_cstr(field);
	char	   *sql;
	bool		isnull;

	*nedb_order = false;
	sql = psprintf("SELECT CASE WHEN EXISTS (SELECT 1 FROM nedb.indexes WHERE coll = %s AND field = %s"
				   "                         AND kind = 'sorted')"
				   " THEN NOT EXISTS (SELECT 1 FROM nedb.versions WHERE coll = %s AND doc -> %s OPERATOR(nedb.=) 'null')"
				   "  AND NOT EXISTS (SELECT 1 FROM (SELECT doc -> %s AS v FROM nedb.versions"
				   "                  WHERE coll = %s AND doc -> %s OPERATOR(nedb.<) 'null'"
				   "                  ORDER BY doc -> %s USING OPERATOR(nedb.>) LIMIT 1) x"
				   "                  WHERE jsonb_typeof(v) NOT IN ('number', 'boolean'))"
				   " WHEN EXISTS (SELECT 1 FROM nedb.indexes WHERE coll = %s AND field = %s AND kind = 'eq')"
				   " THEN NOT EXISTS (SELECT 1 FROM nedb.versions WHERE coll = %s AND doc -> %s = 'null')"
				   "  AND NOT EXISTS (SELECT 1 FROM (SELECT doc -> %s AS v FROM nedb.versions"
				   "                  WHERE coll = %s AND doc -> %s IS NOT NULL"
				   "                  ORDER BY doc -> %s DESC LIMIT 1) x WHERE v >= 'false')"
				   "  AND NOT EXISTS (SELECT 1 FROM (SELECT doc -> %s AS v FROM nedb.versions"
				   "                  WHERE coll = %s AND doc -> %s > 'null'"
				   "                  ORDER BY doc -> %s LIMIT 1) x WHERE jsonb_typeof(v) <> 'number')"
				   " ELSE false END,"
				   " EXISTS (SELECT 1 FROM nedb.indexes WHERE coll = %s AND field = %s AND kind = 'sorted')",
				   c, f, c, f, f, c, f, f,
				   c, f, c, f, f, c, f, f, f, c, f, f,
				   c, f);
	if (run_cached(sql, 0, NULL, NULL, 1) != 1)
		return false;
	*nedb_order = DatumGetBool(nedb_col(0, 2, &isnull)) && !isnull;
	return DatumGetBool(nedb_col(0, 1, &isnull)) && !isnull;
}

/* SEARCH's terms and the collection's search-indexed fields, once per query */
static void
plan_search(NqlExec *ex)
{
	NqlQuery   *q = ex->q;

	if (ex->search_planned)
		return;
	ex->search_planned = true;
	if (q->search && q->search[0])
	{
		Oid			t = TEXTOID;
		Datum		v = CStringGetTextDatum(q->from);

		uint64		n;

		ex->search_terms = search_tokens(q->search, strlen(q->search));
		n = run_cached("SELECT field FROM nedb.indexes WHERE coll = $1 AND kind = 'search' ORDER BY field",
					   1, &t, &v, 0);
		for (uint64 k = 0; k < n; k++)
			ex->search_fields = lappend(ex->search_fields,
										SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1));

		/*
		 * Over search indexes the result is the intersection of the terms'
		 * postings, and of no terms the reference takes the empty set
		 * (without an index, every document has all of no substrings).
		 */
		ex->search_nothing = (ex->search_fields != NIL && ex->search_terms == NIL);
	}
}

void
nql_plan_query(NqlExec *ex, NqlPlan *pl)
{
	NqlQuery   *q = ex->q;
	const char *coll = quote_literal_cstr(q->from);
	ListCell   *lc;
	bool		pl_exact;
	int			pushed = 0;
	bool		nedb_order = false;

	plan_search(ex);

	initStringInfo(&pl->sql);
	pl->nparams = 0;
	pl->values = palloc(sizeof(Datum) * (list_length(q->where) + list_length(ex->search_terms) + 2));
	pl->types = palloc(sizeof(Oid) * (list_length(q->where) + list_length(ex->search_terms) + 2));
	appendStringInfo(&pl->sql, "SELECT id, doc FROM nedb.versions WHERE coll = %s", coll);
	if (q->has_as_of)
	{
		const char *s = add_param(pl, Int64GetDatum(q->as_of), INT8OID);

		appendStringInfo(&pl->sql, " AND seq_from <= %s AND (seq_to IS NULL OR seq_to > %s)", s, s);
	}
	else
	{
		/* at HEAD an expired document is gone (the same test as doc_expired) */
		appendStringInfo(&pl->sql, " AND seq_to IS NULL AND NOT (CASE WHEN jsonb_typeof(doc -> '_expires_at') = 'number'"
						 " THEN (doc -> '_expires_at')::numeric < %s ELSE false END)",
						 add_param(pl, DirectFunctionCall1(float8_numeric, Float8GetDatum(ex->now)),
								   NUMERICOID));
	}
	appendStringInfoString(&pl->sql, " AND doc IS NOT NULL");

	/* the sorted path: ORDER BY f through f's index, streaming (to LIMIT) */
	/* rare SEARCH matches: the search index's, sorted in memory */
	pl->index_order = q->order_by && !(q->has_limit && q->limit < 0) && !ex->rare_search &&
		!q->traverse && !q->trace && !q->group_by &&
		sorted_path(q->from, q->order_by, &nedb_order);

	/*
	 * exact: every condition is in the SQL, so the SQL may stop at LIMIT.
	 * At most NQL_MAX_SQL_CONDITIONS conditions and as many SEARCH terms go
	 * into the SQL (every row is checked against all of them anyway): the
	 * planner's work grows faster than linearly with their number.
	 */
	pl_exact = !q->valid_as_of && (ex->search_terms == NIL || ex->search_fields != NIL);
	foreach(lc, q->where)
	{
		NqlPred    *p = lfirst(lc);
		const char *f = quote_literal_cstr(p->field);
		int			before = pl->sql.len;

		if (pushed == NQL_MAX_SQL_CONDITIONS)
		{
			pl_exact = false;
			break;
		}
		/* equality: exact for strings and numbers other than 0 and 1 (booleans) */
		if (p->op == NQL_EQ &&
			(p->value.kind == NQLV_STRING ||
			 (is_number(&p->value) && p->value.num != 0 && p->value.num != 1)))
			appendStringInfo(&pl->sql, " AND doc -> %s = %s", f,
							 add_param(pl, jsonb_value(&p->value), JSONBOID));
		/* ranges on the sorted field, where only numbers live */
		else if (pl->index_order && strcmp(p->field, q->order_by) == 0 &&
				 is_number(&p->value) && p->op != NQL_EQ && p->op != NQL_NE)
			appendStringInfo(&pl->sql, " AND doc -> %s %s%s%s %s", f,
							 nedb_order ? "OPERATOR(nedb." : "",
							 p->op == NQL_LT ? "<" : p->op == NQL_LE ? "<=" :
							 p->op == NQL_GT ? ">" : ">=",
							 nedb_order ? ")" : "",
							 add_param(pl, jsonb_value(&p->value), JSONBOID));
		if (pl->sql.len == before)
			pl_exact = false;
		else
			pushed++;
	}

	if (ex->search_nothing)
		appendStringInfoString(&pl->sql, " AND false");
	/* SEARCH through the GIN indexes: each term a token of some indexed field */
	if (ex->search_terms != NIL && ex->search_fields != NIL)
	{
		ListCell   *tc;

		if (list_length(ex->search_terms) > NQL_MAX_SQL_CONDITIONS)
			pl_exact = false;
		foreach(tc, ex->search_terms)
		{
			ListCell   *fc;
			bool		first = true;
			const char *term;

			if (foreach_current_index(tc) == NQL_MAX_SQL_CONDITIONS)
				break;
			term = add_param(pl, CStringGetTextDatum(lfirst(tc)), TEXTOID);

			appendStringInfoString(&pl->sql, " AND (");
			foreach(fc, ex->search_fields)
			{
				appendStringInfo(&pl->sql, "%snedb.tokens(doc -> %s) @> ARRAY[%s]",
								 first ? "" : " OR ", quote_literal_cstr(lfirst(fc)), term);
				first = false;
			}
			appendStringInfoChar(&pl->sql, ')');
		}
	}

	if (pl->index_order)
	{
		appendStringInfo(&pl->sql, " ORDER BY doc -> %s %s, id",
						 quote_literal_cstr(q->order_by),
						 nedb_order ?
						 (q->order_desc ? "USING OPERATOR(nedb.>) NULLS FIRST" :
						  "USING OPERATOR(nedb.<) NULLS LAST") :
						 (q->order_desc ? "DESC NULLS FIRST" : "ASC NULLS LAST"));
		if (pl_exact && q->has_limit)
			appendStringInfo(&pl->sql, " LIMIT " INT64_FORMAT, q->limit);
		pl->note = q->has_limit
			? psprintf("ORDER BY %s %s through its index, stopping at LIMIT " INT64_FORMAT,
					   q->order_by, q->order_desc ? "DESC" : "ASC", q->limit)
			: psprintf("ORDER BY %s %s through its index", q->order_by, q->order_desc ? "DESC" : "ASC");
	}
	else if (ex->rare_search)
	{
		/* a few rows: the search index finds them in its order, nql_run sorts */
		pl->note = q->order_by
			? psprintf("the search index's few matches, then ORDER BY %s in memory", q->order_by)
			: pstrdup("the search index's few matches, then in id order in memory");
	}
	else
	{
		appendStringInfoString(&pl->sql, " ORDER BY id");
		/* id order is the result order when nothing reorders or regroups */
		if (pl_exact && q->has_limit && q->limit >= 0 && !q->order_by &&
			!q->traverse && !q->trace && !q->group_by)
			appendStringInfo(&pl->sql, " LIMIT " INT64_FORMAT, q->limit);
		pl->note = q->order_by
			? psprintf("all candidates, then ORDER BY %s in memory", q->order_by)
			: pstrdup("candidates in id order");
	}
}

/* ------------------------------------------------------------------------
 * Planning: the direct index scan
 * ------------------------------------------------------------------------ */

/*
 * The direct path: a query that wants its rows in the order of a field's
 * index and nothing that needs SQL (SEARCH needs the GIN index) or the
 * whole set.  Range and equality conditions on that field with number or
 * string values become index quals (a string bound is never exact: rows
 * are checked again, see nql_scan_begin); != stays a per-row check, as it
 * excludes a single key.
 *
 * Without ORDER BY, equality on an indexed field is the same scan: its rows
 * are one run of equal keys, which goes out in id order, the order of a
 * query without ORDER BY (ex->direct_eq; any index order serves).
 */
NqlScan *
nql_direct_scan(NqlExec *ex, char **index_name)
{
	NqlQuery   *q = ex->q;
	List	   *bounds = NIL;
	ListCell   *lc;
	NqlScan    *scan;
	bool		exact;
	int			i = 0;

	if (q->traverse || q->trace || q->group_by || (q->has_limit && q->limit < 0))
		return NULL;
	ex->direct_field = q->order_by;
	ex->direct_eq = false;
	if (ex->direct_field == NULL && q->search == NULL)
	{
		/* 0 and 1 equal false and true in Python, not in jsonb's btree */
		foreach(lc, q->where)
		{
			NqlPred    *p = lfirst(lc);

			if (p->op == NQL_EQ &&
				(p->value.kind == NQLV_STRING ||
				 (is_number(&p->value) && p->value.num != 0 && p->value.num != 1)))
			{
				ex->direct_field = p->field;
				ex->direct_eq = true;
				break;
			}
		}
	}
	/*
	 * SEARCH with a LIMIT: its terms are checked per row on the way down the
	 * index (or, with nothing to order by, the collection's key in id
	 * order), until the LIMIT is met or NQL_SEARCH_BUDGET says the matches
	 * are too rare for it (nql_run then takes the SQL path, the search
	 * index's).
	 */
	if (q->search)
	{
		if (!(q->has_limit && q->limit > 0))
			return NULL;
		plan_search(ex);
		if (ex->search_nothing)
			return NULL;
	}
	else if (ex->direct_field == NULL)
		return NULL;
	ex->bound = palloc0(sizeof(bool) * Max(list_length(q->where), 1));
	ex->done = palloc0(sizeof(bool) * Max(list_length(q->where), 1));
	if (ex->direct_field == NULL)
	{
		ex->direct_ids = true;
		return nql_scan_ids_begin(q->from, q->has_as_of, q->as_of, index_name);
	}
	foreach(lc, q->where)
	{
		NqlPred    *p = lfirst(lc);

		if (strcmp(p->field, ex->direct_field) == 0 &&
			(is_number(&p->value) || p->value.kind == NQLV_STRING) && p->op != NQL_NE)
		{
			NqlBound   *b = palloc(sizeof(NqlBound));

			b->strategy = p->op == NQL_LT ? BTLessStrategyNumber :
				p->op == NQL_LE ? BTLessEqualStrategyNumber :
				p->op == NQL_GT ? BTGreaterStrategyNumber :
				p->op == NQL_GE ? BTGreaterEqualStrategyNumber : BTEqualStrategyNumber;
			b->value = DatumGetJsonbP(jsonb_value(&p->value));
			bounds = lappend(bounds, b);
			ex->bound[i] = true;
		}
		i++;
	}
	scan = nql_scan_begin(q->from, ex->direct_field, q->order_desc, !ex->direct_eq, bounds,
						  q->has_as_of, q->as_of, index_name, &exact);
	if (scan && exact)
		memcpy(ex->done, ex->bound, sizeof(bool) * list_length(q->where));
	return scan;
}

/* ------------------------------------------------------------------------
 * nedb.auto_index: what an index would have served
 * ------------------------------------------------------------------------ */

/*
 * Equality on a field counts for an eq index, a range or ORDER BY for a
 * sorted one, each (field, kind) once per query; auto_index.c drops those
 * an index serves.  != reads every row anyway; SEARCH names no field.
 */
void
nql_auto_index_misses(NqlQuery *q)
{
	List	   *seen = NIL;
	ListCell   *lc;

	foreach(lc, q->where)
	{
		NqlPred    *p = lfirst(lc);
		const char *kind = p->op == NQL_EQ ? "eq" : "sorted";
		char	   *key;

		if (p->op == NQL_NE)
			continue;
		key = psprintf("%s:%s", kind, p->field);
		if (list_member(seen, makeString(key)))
			continue;
		seen = lappend(seen, makeString(key));
		nedb_auto_index_miss(q->from, p->field, kind);
	}
	if (q->order_by && !list_member(seen, makeString(psprintf("sorted:%s", q->order_by))))
		nedb_auto_index_miss(q->from, q->order_by, "sorted");
}
