/*
 * nql_support.c
 *	  The planner support function of nql(): how many rows a query returns.
 *
 * Without it Postgres plans every nql() call as its prorows (1000 rows),
 * whatever the query.  When the query text is a constant the support
 * function reads it as nql() will and answers SupportRequestRows:
 *
 *	- GROUP BY: a few group rows (NQL_GROUP_ROWS), at most LIMIT;
 *	- TRAVERSE or TRACE: at most LIMIT, else none (their rows are other
 *	  documents than the collection's);
 *	- otherwise the collection's live documents, the figure the foreign
 *	  tables are planned with (nedb_fdw_live_rows), at most LIMIT, when the
 *	  caller may read the collection (a plan shows no size of one it may
 *	  not).
 *
 * A text that is not a constant, or not a query nql() runs, gets no
 * estimate: the error is nql()'s to raise when it runs, not the planner's.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "acl.h"
#include "fdw.h"
#include "nql_int.h"

/* the rows of a GROUP BY: a few groups */
#define NQL_GROUP_ROWS 10

PG_FUNCTION_INFO_V1(nedb_nql_support);

/*
 * The query, or NULL if the text is over the bound or does not parse.  The
 * parser only allocates and raises errors (no locks, buffers or other state
 * to undo), so its error can be caught here and dropped.
 */
NqlQuery *
nql_parse_quietly(text *t)
{
	MemoryContext cxt = CurrentMemoryContext;
	NqlQuery   *q = NULL;

	if (VARSIZE_ANY_EXHDR(t) > NQL_MAX_QUERY_LENGTH)
		return NULL;
	PG_TRY();
	{
		q = nql_parse(text_to_cstring(t));
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		/* a cancel or an out-of-memory is not the text's fault */
		if (e->sqlerrcode != ERRCODE_SYNTAX_ERROR &&
			e->sqlerrcode != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(e);
		q = NULL;
	}
	PG_END_TRY();
	return q;
}

/* the rows nql(q) returns, or -1 for no estimate */
static double
query_rows(NqlQuery *q)
{
	double		rows = -1;

	if (q->group_by)
		rows = NQL_GROUP_ROWS;
	/* TRAVERSE and TRACE return other documents than the collection's */
	else if (!q->traverse && !q->trace &&
			 nedb_acl_collection(GetUserId(), q->from, NEDB_READ))
	{
		NedbTable	t = {0};
		NedbSizeSource source;

		t.coll = q->from;
		t.has_as_of = q->has_as_of;
		t.as_of = q->as_of;
		rows = nedb_fdw_live_rows(&t, 0, 0, &source);
	}
	/* LIMIT is a Python slice: a negative one drops rows from the end */
	if (q->has_limit && q->limit >= 0 && (rows < 0 || q->limit < rows))
		rows = (double) q->limit;
	return rows;
}

Datum
nedb_nql_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestRows *req;
	Node	   *arg;
	NqlQuery   *q;
	double		rows;

	if (!IsA(rawreq, SupportRequestRows))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestRows *) rawreq;
	if (!is_funcclause(req->node))
		PG_RETURN_POINTER(NULL);
	arg = linitial(((FuncExpr *) req->node)->args);
	if (!IsA(arg, Const) || ((Const *) arg)->constisnull)
		PG_RETURN_POINTER(NULL);
	q = nql_parse_quietly(DatumGetTextPP(((Const *) arg)->constvalue));
	if (q == NULL || (rows = query_rows(q)) < 0)
		PG_RETURN_POINTER(NULL);
	req->rows = rows;
	PG_RETURN_POINTER(req);
}
