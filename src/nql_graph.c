/*
 * nql_graph.c
 *	  NQL's rows and the graph: loading a document at AS OF, TRAVERSE over
 *	  relations and TRACE over _caused_by, backward or REVERSE.
 *
 * TRAVERSE and TRACE reach other collections: only those the caller may
 * read show (nedb_acl_collection on each document loaded).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "acl.h"
#include "chain.h"
#include "nql_int.h"
#include "util.h"
#include "versions.h"

/* ------------------------------------------------------------------------
 * Loading, TRAVERSE and TRACE
 * ------------------------------------------------------------------------ */

/* the version of coll:id at as_of (HEAD if !has_as_of), or NULL */
static Jsonb *
load_doc(NqlExec *ex, const char *coll, const char *id)
{
	int64		seq;
	Jsonb	   *doc = NULL;

	if (ex->q->has_as_of && ex->q->as_of < 0)
		return NULL;
	/* TRAVERSE and TRACE reach other collections: only readable ones show */
	if (!nedb_acl_collection(ex->role, coll, NEDB_READ))
		return NULL;
	if (!store_latest(coll, id, ex->q->has_as_of, ex->q->as_of, false, &seq, &doc))
		return NULL;
	return doc;
}

NqlRow *
nql_new_row(const char *coll, const char *id, Jsonb *doc)
{
	NqlRow	   *r = palloc0(sizeof(NqlRow));

	r->coll = pstrdup(coll);
	r->id = pstrdup(id);
	r->doc = palloc(VARSIZE(doc));
	memcpy(r->doc, doc, VARSIZE(doc));
	return r;
}

/* a growing array of rows */
typedef struct NqlRowList
{
	NqlRow	  **rows;
	int			n;
	int			cap;
} NqlRowList;

static void
rows_add(NqlRowList *l, NqlRow *r)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 16;
		l->rows = l->rows ? repalloc(l->rows, sizeof(NqlRow *) * l->cap)
			: palloc(sizeof(NqlRow *) * l->cap);
	}
	l->rows[l->n++] = r;
}

/* split a relation endpoint "coll:id" at its first colon */
static bool
split_key(const char *key, char **coll, char **id)
{
	const char *c = strchr(key, ':');

	if (c == NULL)
		return false;
	*coll = pnstrdup(key, c - key);
	*id = pstrdup(c + 1);
	return true;
}

NqlRow **
nql_traverse(NqlExec *ex, NqlRow **rows, int n, int *nout)
{
	NqlRowList	out = {0};
	HTAB	   *seen = nql_keys_create("nql traverse");

	for (int i = 0; i < n; i++)
	{
		Datum		v[3];
		uint64		nb;
		char	  **ends;

		CHECK_FOR_INTERRUPTS();
		v[0] = CStringGetTextDatum(psprintf("%s:%s", rows[i]->coll, rows[i]->id));
		v[1] = CStringGetTextDatum(ex->q->traverse);
		v[2] = Int64GetDatum(ex->q->as_of);
		if (ex->q->has_as_of && ex->q->as_of < 0)
			continue;
		nb = nedb_exec(ex->q->has_as_of ? PLAN_NEIGHBORS_AS_OF : PLAN_NEIGHBORS, v, NULL, true, 0);
		ends = palloc(sizeof(char *) * Max(nb, 1));
		for (uint64 k = 0; k < nb; k++)
		{
			bool		isnull;

			ends[k] = TextDatumGetCString(nedb_col(k, 1, &isnull));
		}
		for (uint64 k = 0; k < nb; k++)
		{
			char	   *coll;
			char	   *id;
			Jsonb	   *doc;

			CHECK_FOR_INTERRUPTS();
			if (nql_seen(seen, ends[k]))
				continue;
			if (!split_key(ends[k], &coll, &id) || (doc = load_doc(ex, coll, id)) == NULL)
				continue;
			rows_add(&out, nql_new_row(coll, id, doc));
		}
	}
	*nout = out.n;
	return out.rows;
}

/* the document a put op wrote, or NULL if seq is no put */
static Jsonb *
version_of_op(int64 seq, char **coll, char **id)
{
	Oid			t = INT8OID;
	Datum		v = Int64GetDatum(seq);
	bool		isnull;

	if (SPI_execute_with_args("SELECT coll, id, doc FROM nedb.versions WHERE seq_from = $1 AND doc IS NOT NULL",
							  1, &t, &v, NULL, true, 1) != SPI_OK_SELECT || SPI_processed == 0)
		return NULL;
	*coll = TextDatumGetCString(nedb_col(0, 1, &isnull));
	*id = TextDatumGetCString(nedb_col(0, 2, &isnull));
	return DatumGetJsonbPCopy(nedb_col(0, 3, &isnull));
}

static List *
caused_by_of(Jsonb *doc)
{
	JsonbValue *v = nql_field(doc, "_caused_by");
	List	   *out = NIL;
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return NIL;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM && e.type == jbvNumeric)
		{
			/* seqs are ints: a float in _caused_by names no op */
			char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(e.val.numeric)));

			if (strchr(s, '.') == NULL)
				out = lappend(out, psprintf(INT64_FORMAT, strtoi64(s, NULL, 10)));
		}
	return out;
}

/*
 * TRACE backward: from the rows, depth-first over _caused_by, each cause that
 * is a put emitted as the version it wrote (the rows themselves are not).
 */
NqlRow **
nql_trace_back(NqlExec *ex, NqlRow **rows, int n, int *nout)
{
	List	   *frontier = NIL;
	HTAB	   *seen = nql_keys_create("nql trace");
	NqlRowList	out = {0};

	for (int i = 0; i < n; i++)
		frontier = lappend(frontier, rows[i]->doc);
	while (frontier != NIL)
	{
		Jsonb	   *doc = llast(frontier);
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		frontier = list_delete_last(frontier);
		foreach(lc, caused_by_of(doc))
		{
			char	   *coll;
			char	   *id;
			Jsonb	   *cause;

			CHECK_FOR_INTERRUPTS();
			if (nql_seen(seen, lfirst(lc)))
				continue;
			cause = version_of_op(strtoi64(lfirst(lc), NULL, 10), &coll, &id);
			if (cause == NULL || !nedb_acl_collection(ex->role, coll, NEDB_READ))
				continue;
			rows_add(&out, nql_new_row(coll, id, cause));
			frontier = lappend(frontier, cause);
		}
	}
	*nout = out.n;
	return out.rows;
}

/*
 * TRACE ... REVERSE: from the latest put of each row's key (the collection
 * and the document's _id, as the reference), breadth-first over the ops that
 * name it in caused_by, each put's document at AS OF.
 */
NqlRow **
nql_trace_forward(NqlExec *ex, NqlRow **rows, int n, int *nout)
{
	List	   *queue = NIL;
	HTAB	   *seen = nql_keys_create("nql trace");
	NqlRowList	out = {0};
	Oid			types[2] = {TEXTOID, TEXTOID};

	for (int i = 0; i < n; i++)
	{
		JsonbValue *idv = nql_field(rows[i]->doc, "_id");
		Datum		v[2];
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (idv == NULL || idv->type != jbvString)
			continue;
		v[0] = CStringGetTextDatum(ex->q->from);
		v[1] = PointerGetDatum(cstring_to_text_with_len(idv->val.string.val, idv->val.string.len));
		if (SPI_execute_with_args("SELECT seq_from FROM nedb.versions WHERE coll = $1 AND id = $2"
								  " AND doc IS NOT NULL ORDER BY seq_from DESC LIMIT 1",
								  2, types, v, NULL, true, 1) == SPI_OK_SELECT && SPI_processed > 0)
			queue = lappend(queue, psprintf(INT64_FORMAT, DatumGetInt64(nedb_col(0, 1, &isnull))));
	}
	/* breadth-first: the queue is walked in place (deleting its head is O(n)) */
	for (int qi = 0; qi < list_length(queue); qi++)
	{
		char	   *seq = list_nth(queue, qi);
		Oid			t = INT8OID;
		Datum		v = Int64GetDatum(strtoi64(seq, NULL, 10));
		List	   *deps = NIL;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (SPI_execute_with_args("SELECT seq FROM nedb.ops WHERE $1 = ANY (caused_by) ORDER BY seq",
								  1, &t, &v, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "trace query failed");
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			bool		isnull;

			CHECK_FOR_INTERRUPTS();
			deps = lappend(deps, psprintf(INT64_FORMAT, DatumGetInt64(nedb_col(k, 1, &isnull))));
		}
		foreach(lc, deps)
		{
			char	   *coll;
			char	   *id;
			Jsonb	   *doc;

			CHECK_FOR_INTERRUPTS();
			if (nql_seen(seen, lfirst(lc)))
				continue;
			if (version_of_op(strtoi64(lfirst(lc), NULL, 10), &coll, &id) == NULL)
				continue;
			doc = load_doc(ex, coll, id);
			if (doc == NULL)
				continue;
			rows_add(&out, nql_new_row(coll, id, doc));
			queue = lappend(queue, lfirst(lc));
		}
	}
	*nout = out.n;
	return out.rows;
}
