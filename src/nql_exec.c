/*
 * nql_exec.c
 *	  Running an NQL query: nql(text) RETURNS SETOF jsonb, and
 *	  nedb.explain(text), the path it takes.
 *
 * The reference's pipeline, in its order: candidates (the collection's
 * documents live at AS OF, in id order: a stable order, unlike the
 * reference's hash order), WHERE and SEARCH with Python's comparison
 * semantics, ORDER BY (stable; missing and null last ascending, first
 * descending; mixed types compared as str()), TRAVERSE, TRACE, then - our
 * fix - VALID AS OF before LIMIT (Python slice), then GROUP BY.  Under AS OF
 * every clause sees the historical versions (SEARCH included).  When no
 * clause needs the whole set, rows go out as they are found and the scan
 * stops at LIMIT.
 *
 * Candidates come from the planner (nql_plan.c): a direct index scan in
 * ORDER BY order, or the candidate SQL statement through a cursor.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "acl.h"
#include "auto_index.h"
#include "chain.h"
#include "nql_int.h"
#include "op.h"
#include "util.h"
#include "versions.h"

PG_FUNCTION_INFO_V1(nedb_nql);

/* ------------------------------------------------------------------------
 * nql()
 * ------------------------------------------------------------------------ */

static void
emit(Tuplestorestate *ts, TupleDesc desc, Jsonb *doc)
{
	Datum		d = JsonbPGetDatum(doc);
	bool		isnull = false;

	tuplestore_putvalues(ts, desc, &d, &isnull);
}

/*
 * Where candidates come from: a direct index scan in ORDER BY order, or the
 * planned SQL statement through a cursor.
 */
typedef struct Source
{
	NqlScan    *scan;			/* the direct path, or NULL */
	Portal		portal;
	uint64		k;				/* the next row of the fetched batch */
	uint64		n;
} Source;

/* a query text, refused before it is copied if it is over the bound */
char *
nql_text_cstring(text *t)
{
	nql_check_length(VARSIZE_ANY_EXHDR(t));
	return text_to_cstring(t);
}

static bool
source_next(Source *src, char **id, Jsonb **doc)
{
	bool		isnull;

	if (src->scan)
		return nql_scan_next(src->scan, id, doc);
	if (src->k >= src->n)
	{
		/* SPI_cursor_fetch returns in SPI's procedure context: come back */
		MemoryContext cxt = CurrentMemoryContext;

		if (src->n > 0)
			SPI_freetuptable(SPI_tuptable);
		SPI_cursor_fetch(src->portal, true, 1000);
		MemoryContextSwitchTo(cxt);
		src->n = SPI_processed;
		src->k = 0;
		if (src->n == 0)
			return false;
	}
	*id = TextDatumGetCString(nedb_col(src->k, 1, &isnull));
	*doc = DatumGetJsonbP(nedb_col(src->k, 2, &isnull));
	src->k++;
	return true;
}

/* the planned SQL statement through a cursor */
static void
open_sql_source(NqlExec *ex, NqlPlan *pl, Source *src)
{
	nql_plan_query(ex, pl);

	/*
	 * Rows are consumed in order and often not all: plan for a fast start;
	 * but a rare SEARCH's few matches are all read (and sorted here).
	 */
	src->portal = SPI_cursor_open(NULL, nedb_plan_by_text(pl->sql.data, pl->nparams, pl->types,
														ex->rare_search ? 0 : CURSOR_OPT_FAST_PLAN),
								  pl->values, NULL, true);
}

/*
 * Whether the candidates are all collected before any row goes out: to be
 * sorted in memory (not in ORDER BY order as they come), traversed, traced,
 * grouped or sliced from the end.
 */
static bool
needs_whole_set(NqlExec *ex, NqlPlan *pl, Source *src)
{
	NqlQuery   *q = ex->q;

	return (q->order_by && !src->scan && !pl->index_order) || ex->rare_search ||
		q->traverse || q->trace || q->group_by || (q->has_limit && q->limit < 0);
}

/*
 * A direct scan gives way before any of its rows went out: the SQL path
 * starts over (the index conditions it had are gone with it).
 */
static void
give_way_to_sql(NqlExec *ex, NqlPlan *pl, Source *src)
{
	nql_scan_end(src->scan);
	src->scan = NULL;
	ex->bound = ex->done = NULL;
	ex->direct_eq = false;
	open_sql_source(ex, pl, src);
}

/* id order (bytewise, as COLLATE "C"): the candidates' order before ORDER BY */
static int
cmp_row_ids(const void *a, const void *b)
{
	return strcmp((*(NqlRow *const *) a)->id, (*(NqlRow *const *) b)->id);
}

/*
 * The query text nql_run parsed last, and its tree (which nothing after
 * the parser changes): a statement runs one text again and again, and a
 * top-10 spent a few percent of its time parsing it.  A parse error leaves
 * nothing kept.
 */
static MemoryContext parsed_cxt;
static char *parsed_text;
static NqlQuery *parsed;

static NqlQuery *
parse_once(const char *query)
{
	MemoryContext old;
	NqlQuery   *q;

	if (parsed && strcmp(parsed_text, query) == 0)
		return parsed;
	if (parsed_cxt == NULL)
		parsed_cxt = AllocSetContextCreate(TopMemoryContext, "nql parsed query",
										   ALLOCSET_SMALL_SIZES);
	parsed = NULL;
	MemoryContextReset(parsed_cxt);
	old = MemoryContextSwitchTo(parsed_cxt);
	q = nql_parse(query);
	parsed_text = pstrdup(query);
	MemoryContextSwitchTo(old);
	parsed = q;
	return q;
}

/*
 * Run query text into ts (rows of desc: one jsonb); stats, if not NULL,
 * counts the candidates read and those the checks removed.
 */
void
nql_run(const char *query, Tuplestorestate *ts, TupleDesc desc, NqlRunStats *stats)
{
	NqlExec		ex = {0};
	NqlQuery   *q;
	NedbSession s;
	Source		src = {0};
	NqlPlan		pl = {0};
	bool		whole_set;
	NqlRow	  **rows;
	int			n = 0;
	int			cap = 64;
	int64		emitted = 0;
	bool		on_probation;
	int64		budget = 0;
	int			i;
	ListCell   *lc;
	MemoryContext rowcxt;
	char	   *id;
	Jsonb	   *doc;

	q = parse_once(query);
	ex.q = q;
	ex.role = GetUserId();
	nedb_acl_require_collection(ex.role, q->from, NEDB_READ);

	/* numeric literals, once */
	ex.lit_num = palloc0(sizeof(Numeric) * Max(list_length(q->where), 1));
	i = 0;
	foreach(lc, q->where)
	{
		NqlPred    *p = lfirst(lc);

		if (p->value.kind == NQLV_INT || p->value.kind == NQLV_FLOAT)
			ex.lit_num[i] = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(p->value.text),
																ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
		else if (p->value.kind == NQLV_TRUE || p->value.kind == NQLV_FALSE)
			ex.lit_num[i] = int64_to_numeric(p->value.kind == NQLV_TRUE);
		i++;
	}
	ex.now = op_now();

	/* an empty result needs no storage: LIMIT 0, or before the first op */
	if ((q->has_limit && q->limit == 0 && !q->group_by) || (q->has_as_of && q->as_of < 0))
		return;

	nedb_begin(&s);

	if (nedb_auto_index)
		nql_auto_index_misses(q);
	src.scan = nql_direct_scan(&ex, NULL);

	/*
	 * A direct scan with SEARCH holds its rows back until LIMIT is met: if
	 * the budget of candidates runs out first, the SQL path starts over.
	 */
	on_probation = src.scan && q->search;
	if (on_probation)
		budget = NQL_SEARCH_BUDGET(q->limit);
	if (src.scan && ex.direct_eq)
		nql_scan_set_max_run(src.scan, NQL_EQ_MAX_RUN);
	if (src.scan == NULL)
		open_sql_source(&ex, &pl, &src);
	whole_set = needs_whole_set(&ex, &pl, &src);
	rows = palloc(sizeof(NqlRow *) * cap);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nql row", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		keep = true;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		/* a row's detoasted copy and its checks live until the next row */
		MemoryContextReset(rowcxt);
		if (on_probation && budget-- == 0)
		{
			/* the matches are rare: the search index finds them, sorted below */
			ex.rare_search = true;
			give_way_to_sql(&ex, &pl, &src);
			if (stats)
				stats->search_gave_way++;
			on_probation = false;
			n = 0;
			emitted = 0;
			whole_set = needs_whole_set(&ex, &pl, &src);
		}
		old = MemoryContextSwitchTo(rowcxt);
		if (!source_next(&src, &id, &doc))
		{
			MemoryContextSwitchTo(old);
			if (src.scan && nql_scan_overflowed(src.scan))
			{
				/* an equality with many matches: nothing went out yet */
				give_way_to_sql(&ex, &pl, &src);
				if (stats)
					stats->eq_gave_way++;
				whole_set = needs_whole_set(&ex, &pl, &src);
				continue;
			}
			break;
		}
		if (stats)
			stats->read++;
		/* at HEAD an expired document is gone, as for nedb.get */
		if (!q->has_as_of && doc_expired(doc, ex.now))
			keep = false;
		i = 0;
		foreach(lc, q->where)
		{
			if (keep && !(ex.done && ex.done[i]) && !nql_pred_holds(&ex, i, lfirst(lc), doc))
				keep = false;
			i++;
		}
		if (keep)
			keep = nql_search_holds(&ex, doc);
		if (keep && !whole_set && q->valid_as_of)
			keep = nql_valid_at(doc, q->valid_as_of);
		MemoryContextSwitchTo(old);
		if (!keep)
		{
			if (stats)
				stats->removed++;
			continue;
		}
		if (on_probation)
		{
			if (n == cap)
			{
				cap *= 2;
				rows = repalloc(rows, sizeof(NqlRow *) * cap);
			}
			rows[n++] = nql_new_row(q->from, id, doc);
			if (++emitted >= q->limit)
				break;
		}
		else if (!whole_set)
		{
			emit(ts, desc, doc);
			if (q->has_limit && ++emitted >= q->limit)
				break;
		}
		else
		{
			if (n == cap)
			{
				cap *= 2;
				rows = repalloc(rows, sizeof(NqlRow *) * cap);
			}
			rows[n++] = nql_new_row(q->from, id, doc);
		}
	}
	if (src.scan)
		nql_scan_end(src.scan);
	else
		SPI_cursor_close(src.portal);
	/* the direct scan with SEARCH met its LIMIT (or read every candidate) */
	if (on_probation)
		for (int k = 0; k < n; k++)
		{
			CHECK_FOR_INTERRUPTS();
			emit(ts, desc, rows[k]->doc);
		}

	if (whole_set)
	{
		if (ex.rare_search)
			qsort(rows, n, sizeof(NqlRow *), cmp_row_ids);
		if (q->order_by && !pl.index_order)
			nql_order_rows(rows, n, q->order_by, q->order_desc);
		if (q->traverse)
			rows = nql_traverse(&ex, rows, n, &n);
		if (q->trace)
			rows = q->trace_reverse ? nql_trace_forward(&ex, rows, n, &n) : nql_trace_back(&ex, rows, n, &n);
		if (q->valid_as_of)
		{
			int			m = 0;

			for (int k = 0; k < n; k++)
			{
				CHECK_FOR_INTERRUPTS();
				if (nql_valid_at(rows[k]->doc, q->valid_as_of))
					rows[m++] = rows[k];
			}
			n = m;
		}
		if (q->has_limit)
		{
			/* a Python slice: [:limit] */
			int64		lim = q->limit >= 0 ? Min(q->limit, n) : Max(n + q->limit, 0);

			n = (int) lim;
		}
		if (q->group_by)
		{
			foreach(lc, nql_group_rows(q, rows, n))
			{
				CHECK_FOR_INTERRUPTS();
				emit(ts, desc, lfirst(lc));
			}
		}
		else
			for (int k = 0; k < n; k++)
			{
				CHECK_FOR_INTERRUPTS();
				emit(ts, desc, rows[k]->doc);
			}
	}
	nedb_end(&s);
}

Datum
nedb_nql(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *ts;
	char	   *query;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	query = nql_text_cstring(PG_GETARG_TEXT_PP(0));
	ts = nedb_srf_begin(fcinfo, &desc);
	nql_run(query, ts, desc, NULL);
	return (Datum) 0;
}

/*
 * The access path nql() takes for query text, allocated in the caller's
 * memory: the direct index scan's index, direction, conditions and filter,
 * or the candidate SQL with Postgres's plan of it.
 */
void
nql_describe(const char *query, NqlDescription *d)
{
	NqlExec		ex = {0};
	NqlQuery   *q;
	NedbSession s;
	NqlPlan		pl;
	NqlScan    *scan;
	char	   *index_name;
	MemoryContext old;

	memset(d, 0, sizeof(*d));
	q = ex.q = nql_parse(query);
	ex.role = GetUserId();
	nedb_acl_require_collection(ex.role, q->from, NEDB_READ);
	ex.now = op_now();
	d->has_limit = q->has_limit;
	d->limit = q->limit;
	nedb_begin(&s);

	scan = nql_direct_scan(&ex, &index_name);
	if (scan)
	{
		StringInfoData cond;
		StringInfoData filter;
		ListCell   *lc;
		int			i = 0;

		nql_scan_end(scan);
		old = MemoryContextSwitchTo(s.caller_cxt);
		d->direct = true;
		d->backward = q->order_desc;
		d->index_name = pstrdup(index_name);
		if (ex.direct_ids)
			d->access = psprintf("candidates in id order through the collection's key, stopping at LIMIT "
								 INT64_FORMAT, q->limit);
		else if (ex.direct_eq)
			d->access = q->has_limit
				? psprintf("equality on %s through its index, rows in id order (more than %d matches: the SQL path), stopping at LIMIT " INT64_FORMAT,
						   ex.direct_field, NQL_EQ_MAX_RUN, q->limit)
				: psprintf("equality on %s through its index, rows in id order (more than %d matches: the SQL path)",
						   ex.direct_field, NQL_EQ_MAX_RUN);
		else
			d->access = q->has_limit
				? psprintf("ORDER BY %s %s through its index, stopping at LIMIT " INT64_FORMAT,
						   q->order_by, q->order_desc ? "DESC" : "ASC", q->limit)
				: psprintf("ORDER BY %s %s through its index",
						   q->order_by, q->order_desc ? "DESC" : "ASC");
		if (q->search)
			d->access = psprintf("%s; SEARCH checked per row, giving way to the search index after "
								 INT64_FORMAT " candidates", d->access,
								 (int64) NQL_SEARCH_BUDGET(q->limit));
		initStringInfo(&cond);
		initStringInfo(&filter);
		if (q->has_as_of)
			appendStringInfo(&filter, "the version live at seq " INT64_FORMAT, q->as_of);
		else
			appendStringInfoString(&filter, "the live version, not expired");
		foreach(lc, q->where)
		{
			NqlPred    *p = lfirst(lc);
			const char *op = p->op == NQL_EQ ? "=" : p->op == NQL_NE ? "!=" :
				p->op == NQL_LT ? "<" : p->op == NQL_LE ? "<=" :
				p->op == NQL_GT ? ">" : ">=";

			if (ex.bound[i])
				appendStringInfo(&cond, "%s%s %s %s", cond.len ? " AND " : "",
								 p->field, op, p->value.text);
			if (!ex.done[i])
				appendStringInfo(&filter, " AND %s %s %s", p->field, op, p->value.text);
			i++;
		}
		if (q->search)
			appendStringInfo(&filter, " AND SEARCH %s", quote_literal_cstr(q->search));
		if (q->valid_as_of)
			appendStringInfo(&filter, " AND VALID AS OF %s", q->valid_as_of);
		d->index_cond = cond.len ? cond.data : NULL;
		d->filter = filter.data;
		MemoryContextSwitchTo(old);
	}
	else
	{
		nql_plan_query(&ex, &pl);
		if (SPI_execute_with_args(psprintf("EXPLAIN (COSTS OFF) %s", pl.sql.data), pl.nparams, pl.types,
								  pl.values, NULL, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "EXPLAIN failed");
		old = MemoryContextSwitchTo(s.caller_cxt);
		d->access = pstrdup(pl.note);
		d->sql = pstrdup(pl.sql.data);
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			CHECK_FOR_INTERRUPTS();
			d->sql_plan = lappend(d->sql_plan,
								  SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1));
		}
		MemoryContextSwitchTo(old);
	}
	nedb_end(&s);
}

/*
 * nedb.explain(query): the access path nql() takes, and Postgres's plan of
 * it, as lines.
 */
PG_FUNCTION_INFO_V1(nedb_explain);

static void
put_line(Tuplestorestate *ts, TupleDesc desc, const char *line)
{
	Datum		d = CStringGetTextDatum(line);
	bool		isnull = false;

	tuplestore_putvalues(ts, desc, &d, &isnull);
	pfree(DatumGetPointer(d));
}

Datum
nedb_explain(PG_FUNCTION_ARGS)
{
	char	   *query = nql_text_cstring(PG_GETARG_TEXT_PP(0));
	NqlDescription d;
	TupleDesc	desc;
	Tuplestorestate *ts;
	ListCell   *lc;

	nql_describe(query, &d);
	ts = nedb_srf_begin(fcinfo, &desc);
	put_line(ts, desc, psprintf("NQL: %s", d.access));
	if (d.direct)
	{
		put_line(ts, desc, psprintf("Index Scan%s using %s on nedb.versions (direct, no SQL)",
									d.backward ? " Backward" : "", d.index_name));
		if (d.index_cond)
			put_line(ts, desc, psprintf("  Index Cond: %s", d.index_cond));
		put_line(ts, desc, psprintf("  Filter: %s", d.filter));
	}
	else
	{
		put_line(ts, desc, psprintf("SQL: %s", d.sql));
		foreach(lc, d.sql_plan)
			put_line(ts, desc, lfirst(lc));
	}
	return (Datum) 0;
}
