/*
 * nql_exec.c
 *	  Running an NQL query: nql(text) RETURNS SETOF jsonb.
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
 * This first version scans the collection's live versions; planning WHERE,
 * ORDER BY and SEARCH onto the collection's indexes comes next.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "acl.h"
#include "canon.h"
#include "chain.h"
#include "nql.h"
#include "op.h"
#include "util.h"
#include "write.h"

PG_FUNCTION_INFO_V1(nedb_nql);

typedef struct Row
{
	char	   *coll;
	char	   *id;				/* the storage key is coll:id */
	Jsonb	   *doc;
	int			pos;			/* arrival order, for stable sorts */
	JsonbValue *key;			/* ORDER BY key (NULL: None) */
	char	   *strkey;			/* ORDER BY key as str(), for mixed types */
} Row;

typedef struct Exec
{
	NqlQuery   *q;
	Numeric    *lit_num;		/* numeric literals of q->where, by position */
	List	   *search_terms;	/* tokens of SEARCH (char *) */
	List	   *search_fields;	/* the collection's search-indexed fields */
	bool		search_nothing; /* a SEARCH text without tokens, over indexes */
	bool	   *bound;			/* q->where conditions that are index quals */
	bool	   *done;			/* ... and exact: not checked again */
	double		now;
	Oid			role;			/* the caller: what it may read */
} Exec;

/* ------------------------------------------------------------------------
 * Python values
 * ------------------------------------------------------------------------ */

typedef enum PyClass
{
	PY_NONE,
	PY_NUM,						/* int, float and bool */
	PY_STR,
	PY_LIST,
	PY_DICT
} PyClass;

static JsonbValue *
field_of(Jsonb *doc, const char *field)
{
	return nedb_member(&doc->root, field);
}

static PyClass
py_class(JsonbValue *v)
{
	if (v == NULL || v->type == jbvNull)
		return PY_NONE;
	switch (v->type)
	{
		case jbvNumeric:
		case jbvBool:
			return PY_NUM;
		case jbvString:
			return PY_STR;
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? PY_LIST : PY_DICT;
		default:
			return PY_NONE;
	}
}

static int
numeric_cmp_internal(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a), NumericGetDatum(b)));
}

static Numeric
num_of(JsonbValue *v)
{
	if (v->type == jbvBool)
		return int64_to_numeric(v->val.boolean ? 1 : 0);
	return v->val.numeric;
}

static int
str_cmp(const char *a, int alen, const char *b, int blen)
{
	int			r = memcmp(a, b, Min(alen, blen));

	if (r != 0)
		return r;
	return (alen > blen) - (alen < blen);
}

/* Python's str() of a value; repr() inside containers */
static void py_str(StringInfo out, JsonbValue *v, bool repr);

static void
py_str_container(StringInfo out, JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		first = true;
	bool		is_obj = JsonContainerIsObject(c);

	appendStringInfoChar(out, is_obj ? '{' : '[');
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			if (!first)
				appendStringInfoString(out, ", ");
			first = false;
			py_str(out, &v, true);
			appendStringInfoString(out, ": ");
		}
		else if (tok == WJB_VALUE)
			py_str(out, &v, true);
		else if (tok == WJB_ELEM)
		{
			if (!first)
				appendStringInfoString(out, ", ");
			first = false;
			py_str(out, &v, true);
		}
	}
	appendStringInfoChar(out, is_obj ? '}' : ']');
}

static void
py_str(StringInfo out, JsonbValue *v, bool repr)
{
	if (v == NULL || v->type == jbvNull)
	{
		appendStringInfoString(out, "None");
		return;
	}
	switch (v->type)
	{
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "True" : "False");
			break;
		case jbvNumeric:
			canon_numeric_text(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																		NumericGetDatum(v->val.numeric))));
			break;
		case jbvString:
			if (repr)
			{
				appendStringInfoChar(out, '\'');
				for (int i = 0; i < v->val.string.len; i++)
				{
					char		c = v->val.string.val[i];

					if (c == '\'' || c == '\\')
						appendStringInfoChar(out, '\\');
					appendStringInfoChar(out, c);
				}
				appendStringInfoChar(out, '\'');
			}
			else
				appendBinaryStringInfo(out, v->val.string.val, v->val.string.len);
			break;
		case jbvBinary:
			py_str_container(out, v->val.binary.data);
			break;
		default:
			break;
	}
}

/* ------------------------------------------------------------------------
 * Byte-string keyed hash tables (GROUP BY groups, TRAVERSE and TRACE dedup)
 * ------------------------------------------------------------------------ */

typedef struct NqlKey
{
	const char *data;			/* lives as long as the table */
	int			len;
} NqlKey;

typedef struct NqlKeyEntry
{
	NqlKey		key;
	void	   *value;
} NqlKeyEntry;

static uint32
nql_key_hash(const void *key, Size keysize)
{
	const NqlKey *k = key;

	return hash_bytes((const unsigned char *) k->data, k->len);
}

static int
nql_key_match(const void *x, const void *y, Size keysize)
{
	const NqlKey *a = x;
	const NqlKey *b = y;

	return a->len == b->len && memcmp(a->data, b->data, a->len) == 0 ? 0 : 1;
}

/* a table in the current memory context */
static HTAB *
nql_keys_create(const char *name)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(NqlKey);
	ctl.entrysize = sizeof(NqlKeyEntry);
	ctl.hash = nql_key_hash;
	ctl.match = nql_key_match;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * The entry of key (data, len), entered with a NULL value (and the key
 * copied to the current context) if it was not there; *found says which.
 */
static NqlKeyEntry *
nql_keys_enter(HTAB *h, const char *data, int len, bool *found)
{
	NqlKey		k = {data, len};
	NqlKeyEntry *e = hash_search(h, &k, HASH_ENTER, found);

	if (!*found)
	{
		e->key.data = pnstrdup(data, len);
		e->key.len = len;
		e->value = NULL;
	}
	return e;
}

/* true if s was seen before; remembers it */
static bool
nql_seen(HTAB *h, const char *s)
{
	bool		found;

	(void) nql_keys_enter(h, s, strlen(s), &found);
	return found;
}

/* ------------------------------------------------------------------------
 * WHERE and SEARCH
 * ------------------------------------------------------------------------ */

static bool
pred_holds(Exec *ex, int i, NqlPred *p, Jsonb *doc)
{
	JsonbValue *a = field_of(doc, p->field);
	PyClass		ac = py_class(a);
	NqlValue   *b = &p->value;
	int			c;

	if (p->op == NQL_EQ || p->op == NQL_NE)
	{
		bool		eq;

		if (b->kind == NQLV_NULL)
			eq = (ac == PY_NONE);
		else if (ac == PY_NUM && b->kind != NQLV_STRING)
			eq = numeric_cmp_internal(num_of(a), ex->lit_num[i]) == 0;
		else if (ac == PY_STR && b->kind == NQLV_STRING)
			eq = a->val.string.len == strlen(b->text) &&
				memcmp(a->val.string.val, b->text, a->val.string.len) == 0;
		else
			eq = false;
		return p->op == NQL_EQ ? eq : !eq;
	}

	/* ordering: None, or types Python cannot order, compare false */
	if (ac == PY_NUM && b->kind != NQLV_STRING && b->kind != NQLV_NULL)
		c = numeric_cmp_internal(num_of(a), ex->lit_num[i]);
	else if (ac == PY_STR && b->kind == NQLV_STRING)
		c = str_cmp(a->val.string.val, a->val.string.len, b->text, strlen(b->text));
	else
		return false;
	switch (p->op)
	{
		case NQL_LT:
			return c < 0;
		case NQL_LE:
			return c <= 0;
		case NQL_GT:
			return c > 0;
		default:
			return c >= 0;
	}
}

static bool
search_holds(Exec *ex, Jsonb *doc)
{
	ListCell   *lc;

	if (ex->search_nothing)
		return false;
	if (ex->search_terms == NIL)
		return true;

	if (ex->search_fields != NIL)
	{
		/* every term is a token of some search-indexed field */
		List	   *toks = NIL;
		ListCell   *fc;

		/* each field tokenized once, not once per term */
		foreach(fc, ex->search_fields)
		{
			JsonbValue *v = field_of(doc, lfirst(fc));

			if (v != NULL && v->type == jbvString)
				toks = lappend(toks, search_tokens(v->val.string.val, v->val.string.len));
		}
		foreach(lc, ex->search_terms)
		{
			const char *term = lfirst(lc);
			bool		found = false;

			foreach(fc, toks)
			{
				ListCell   *tc;

				foreach(tc, (List *) lfirst(fc))
					if (strcmp(lfirst(tc), term) == 0)
					{
						found = true;
						break;
					}
				if (found)
					break;
			}
			if (!found)
				return false;
		}
		return true;
	}
	else
	{
		/* every term is a substring of the lowercased str() of the values */
		StringInfoData hay;
		JsonbIterator *it = JsonbIteratorInit(&doc->root);
		JsonbValue	v;
		JsonbIteratorToken tok;
		bool		first = true;

		initStringInfo(&hay);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_VALUE)
			{
				if (!first)
					appendStringInfoChar(&hay, ' ');
				first = false;
				py_str(&hay, &v, false);
			}
		for (char *c = hay.data; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c += 'a' - 'A';
		foreach(lc, ex->search_terms)
			if (strstr(hay.data, lfirst(lc)) == NULL)
				return false;
		return true;
	}
}

/* a document valid at date d: no bounds, or from <= d <= to (as strings) */
static bool
valid_at(Jsonb *doc, const char *d)
{
	JsonbValue *from = field_of(doc, "_valid_from");
	JsonbValue *to = field_of(doc, "_valid_to");
	int			dlen = strlen(d);

	if (from && from->type == jbvNull)
		from = NULL;
	if (to && to->type == jbvNull)
		to = NULL;
	if (from && (from->type != jbvString ||
				 str_cmp(d, dlen, from->val.string.val, from->val.string.len) < 0))
		return false;
	if (to && (to->type != jbvString ||
			   str_cmp(d, dlen, to->val.string.val, to->val.string.len) > 0))
		return false;
	return true;
}

/* ------------------------------------------------------------------------
 * ORDER BY
 * ------------------------------------------------------------------------ */

static bool order_desc;
static bool order_by_str;

static int
cmp_rows(const void *x, const void *y)
{
	const Row  *a = *(Row *const *) x;
	const Row  *b = *(Row *const *) y;
	int			c;

	if (order_by_str)
		c = strcmp(a->strkey, b->strkey);
	else if ((a->key == NULL) != (b->key == NULL))
		c = a->key == NULL ? 1 : -1;	/* None sorts last ascending */
	else if (a->key == NULL)
		c = 0;
	else if (a->key->type == jbvString)
		c = str_cmp(a->key->val.string.val, a->key->val.string.len,
					b->key->val.string.val, b->key->val.string.len);
	else
		c = numeric_cmp_internal(num_of(a->key), num_of(b->key));
	if (order_desc)
		c = -c;
	/* stable: equal keys keep their order, also descending (as Python's sort) */
	return c != 0 ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static void
order_rows(Row **rows, int n, const char *field, bool desc)
{
	int			classes = 0;
	int			ndict = 0;

	for (int i = 0; i < n; i++)
	{
		JsonbValue *v = field_of(rows[i]->doc, field);
		PyClass		c = py_class(v);

		CHECK_FOR_INTERRUPTS();
		rows[i]->key = c == PY_NONE ? NULL : v;
		rows[i]->pos = i;
		if (c != PY_NONE)
			classes |= 1 << c;
		if (c == PY_DICT)
			ndict++;
	}

	/* Python raises TypeError for mixed types, then sorts by str(value) */
	order_by_str = (classes & (classes - 1)) != 0 || ndict > 1 || (classes & (1 << PY_LIST));
	if (order_by_str)
		for (int i = 0; i < n; i++)
		{
			StringInfoData s;

			CHECK_FOR_INTERRUPTS();
			initStringInfo(&s);
			py_str(&s, rows[i]->key, false);
			rows[i]->strkey = s.data;
		}
	order_desc = desc;
	qsort(rows, n, sizeof(Row *), cmp_rows);
}

/* ------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------ */

/* the version of coll:id at as_of (HEAD if !has_as_of), or NULL */
static Jsonb *
load_doc(Exec *ex, const char *coll, const char *id)
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

static Row *
new_row(const char *coll, const char *id, Jsonb *doc)
{
	Row		   *r = palloc0(sizeof(Row));

	r->coll = pstrdup(coll);
	r->id = pstrdup(id);
	r->doc = palloc(VARSIZE(doc));
	memcpy(r->doc, doc, VARSIZE(doc));
	return r;
}

/* a growing array of rows */
typedef struct RowList
{
	Row		  **rows;
	int			n;
	int			cap;
} RowList;

static void
rows_add(RowList *l, Row *r)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 16;
		l->rows = l->rows ? repalloc(l->rows, sizeof(Row *) * l->cap)
			: palloc(sizeof(Row *) * l->cap);
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

static Row **
traverse(Exec *ex, Row **rows, int n, int *nout)
{
	RowList		out = {0};
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
			rows_add(&out, new_row(coll, id, doc));
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
	JsonbValue *v = field_of(doc, "_caused_by");
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
static Row **
trace_back(Exec *ex, Row **rows, int n, int *nout)
{
	List	   *frontier = NIL;
	HTAB	   *seen = nql_keys_create("nql trace");
	RowList		out = {0};

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
			rows_add(&out, new_row(coll, id, cause));
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
static Row **
trace_forward(Exec *ex, Row **rows, int n, int *nout)
{
	List	   *queue = NIL;
	HTAB	   *seen = nql_keys_create("nql trace");
	RowList		out = {0};
	Oid			types[2] = {TEXTOID, TEXTOID};

	for (int i = 0; i < n; i++)
	{
		JsonbValue *idv = field_of(rows[i]->doc, "_id");
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
			rows_add(&out, new_row(coll, id, doc));
			queue = lappend(queue, lfirst(lc));
		}
	}
	*nout = out.n;
	return out.rows;
}

/* ------------------------------------------------------------------------
 * GROUP BY
 * ------------------------------------------------------------------------ */

typedef struct NqlGroup
{
	JsonbValue *key;			/* first seen (NULL: None) */
	int			count;
	List	   *nums;			/* JsonbValue * of the aggregated field */
} NqlGroup;

/*
 * The group key of a value, as bytes: equal exactly when Python's dict
 * takes the values for one key (1, 1.0 and True are one key: numbers and
 * booleans by their normalized numeric value; strings by their bytes; lists
 * and objects by their repr()), a class letter first.
 */
static void
group_key(StringInfo out, JsonbValue *v)
{
	PyClass		c = py_class(v);

	switch (c)
	{
		case PY_NONE:
			appendStringInfoChar(out, 'n');
			break;
		case PY_NUM:
			appendStringInfoChar(out, '#');
			appendStringInfoString(out, numeric_normalize(num_of(v)));
			break;
		case PY_STR:
			appendStringInfoChar(out, 's');
			appendBinaryStringInfo(out, v->val.string.val, v->val.string.len);
			break;
		default:
			appendStringInfoChar(out, c == PY_LIST ? 'l' : 'd');
			py_str(out, v, true);
			break;
	}
}

static void
push_jv(JsonbParseState **st, JsonbIteratorToken tok, JsonbValue *v)
{
	JsonbValue	nullv;

	if (v == NULL)
	{
		nullv.type = jbvNull;
		v = &nullv;
	}
	pushJsonbValue(st, tok, v);
}

static Jsonb *
group_row(NqlQuery *q, NqlGroup *g)
{
	JsonbParseState *st = NULL;
	JsonbValue	v;
	const char *fn = q->agg == NQL_AGG_SUM ? "sum" : q->agg == NQL_AGG_AVG ? "avg" :
		q->agg == NQL_AGG_MIN ? "min" : "max";

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_key(&st, q->group_by);
	push_jv(&st, WJB_VALUE, g->key);
	nedb_push_key(&st, "count");
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(g->count);
	pushJsonbValue(&st, WJB_VALUE, &v);
	if (q->agg != NQL_AGG_NONE && q->agg != NQL_AGG_COUNT)
	{
		JsonbValue *res = NULL;
		ListCell   *lc;
		bool		any_float = false;
		Numeric		sum = int64_to_numeric(0);

		nedb_push_key(&st, psprintf("%s_%s", fn, q->agg_field));
		foreach(lc, g->nums)
		{
			JsonbValue *x = lfirst(lc);

			CHECK_FOR_INTERRUPTS();
			if (x->type == jbvNumeric &&
				strchr(DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(x->val.numeric))), '.'))
				any_float = true;
			sum = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(sum),
													  NumericGetDatum(num_of(x))));
			if (res == NULL ||
				(q->agg == NQL_AGG_MIN && numeric_cmp_internal(num_of(x), num_of(res)) < 0) ||
				(q->agg == NQL_AGG_MAX && numeric_cmp_internal(num_of(x), num_of(res)) > 0))
				res = x;
		}
		if (q->agg == NQL_AGG_SUM)
		{
			v.type = jbvNumeric;
			/* Python: a sum with a float in it is a float */
			v.val.numeric = any_float
				? DatumGetNumeric(canon_float_numeric(DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(sum)))))
				: sum;
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
		else if (q->agg == NQL_AGG_AVG)
		{
			if (g->nums == NIL)
				push_jv(&st, WJB_VALUE, NULL);
			else
			{
				double		avg = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(sum))) /
					list_length(g->nums);

				v.type = jbvNumeric;
				v.val.numeric = DatumGetNumeric(canon_float_numeric(avg));
				pushJsonbValue(&st, WJB_VALUE, &v);
			}
		}
		else
			push_jv(&st, WJB_VALUE, res);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/*
 * The group rows, in the order the groups were first seen: one hash probe
 * per row (the groups in a hash table by group_key), then one pass over the
 * groups.
 */
static List *
group_rows(NqlQuery *q, Row **rows, int n)
{
	List	   *groups = NIL;
	List	   *out = NIL;
	ListCell   *lc;
	HTAB	   *index = nql_keys_create("nql groups");
	StringInfoData key;

	initStringInfo(&key);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *k = field_of(rows[i]->doc, q->group_by);
		NqlGroup   *g;
		NqlKeyEntry *e;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (py_class(k) == PY_NONE)
			k = NULL;
		resetStringInfo(&key);
		group_key(&key, k);
		e = nql_keys_enter(index, key.data, key.len, &found);
		if (!found)
		{
			g = palloc0(sizeof(NqlGroup));
			g->key = k;
			groups = lappend(groups, g);
			e->value = g;
		}
		g = e->value;
		g->count++;
		if (q->agg_field)
		{
			JsonbValue *x = field_of(rows[i]->doc, q->agg_field);

			if (x && (x->type == jbvNumeric || x->type == jbvBool))
				g->nums = lappend(g->nums, x);
		}
	}
	hash_destroy(index);
	foreach(lc, groups)
	{
		CHECK_FOR_INTERRUPTS();
		out = lappend(out, group_row(q, lfirst(lc)));
	}
	return out;
}


/* ------------------------------------------------------------------------
 * Planning: the candidate query
 * ------------------------------------------------------------------------ */

/*
 * Conditions pushed into SQL are exact or supersets (every row is checked
 * again with Python's semantics), so a plan never changes a result.
 */
/* conditions, and SEARCH terms, that go into the candidate SQL at most */
#define NQL_MAX_SQL_CONDITIONS 32

typedef struct NqlPlan
{
	StringInfoData sql;			/* literal values are parameters: a stable text */
	int			nparams;
	Datum	   *values;
	Oid		   *types;
	bool		index_order;	/* rows come in ORDER BY order */
	char	   *note;			/* what the planner chose, for explain */
} NqlPlan;

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

static void
plan_query(Exec *ex, NqlPlan *pl)
{
	NqlQuery   *q = ex->q;
	const char *coll = quote_literal_cstr(q->from);
	ListCell   *lc;
	bool		pl_exact;
	int			pushed = 0;
	bool		nedb_order = false;

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
	pl->index_order = q->order_by && !(q->has_limit && q->limit < 0) &&
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

/*
 * The direct path: a query that wants its rows in the order of a field's
 * index and nothing that needs SQL (SEARCH needs the GIN index) or the
 * whole set.  Range and equality conditions on that field with number
 * values become index quals.
 */
static NqlScan *
direct_scan(Exec *ex, char **index_name)
{
	NqlQuery   *q = ex->q;
	List	   *bounds = NIL;
	ListCell   *lc;
	NqlScan    *scan;
	bool		exact;
	int			i = 0;

	if (!q->order_by || q->search || q->traverse || q->trace || q->group_by ||
		(q->has_limit && q->limit < 0))
		return NULL;
	ex->bound = palloc0(sizeof(bool) * Max(list_length(q->where), 1));
	ex->done = palloc0(sizeof(bool) * Max(list_length(q->where), 1));
	foreach(lc, q->where)
	{
		NqlPred    *p = lfirst(lc);

		if (strcmp(p->field, q->order_by) == 0 && is_number(&p->value) && p->op != NQL_NE)
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
	scan = nql_scan_begin(q->from, q->order_by, q->order_desc, bounds,
						  q->has_as_of, q->as_of, index_name, &exact);
	if (scan && exact)
		memcpy(ex->done, ex->bound, sizeof(bool) * list_length(q->where));
	return scan;
}

/* the query text argument, refused before it is copied if it is over the bound */
static char *
nql_text_arg(FunctionCallInfo fcinfo)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

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

Datum
nedb_nql(PG_FUNCTION_ARGS)
{
	Exec		ex = {0};
	NqlQuery   *q;
	NedbSession s;
	TupleDesc	desc;
	Tuplestorestate *ts;
	Source		src = {0};
	NqlPlan		pl = {0};
	bool		whole_set;
	Row		  **rows;
	int			n = 0;
	int			cap = 64;
	int64		emitted = 0;
	int			i;
	ListCell   *lc;
	MemoryContext rowcxt;
	char	   *id;
	Jsonb	   *doc;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	q = nql_parse(nql_text_arg(fcinfo));
	ex.q = q;
	ex.role = GetUserId();
	nedb_acl_require_collection(ex.role, q->from, NEDB_READ);
	ts = nedb_srf_begin(fcinfo, &desc);

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
		return (Datum) 0;

	nedb_begin(&s);

	src.scan = direct_scan(&ex, NULL);
	if (src.scan == NULL)
	{
		plan_query(&ex, &pl);
		/* rows are consumed in order and often not all: plan for a fast start */
		src.portal = SPI_cursor_open(NULL, nedb_plan_by_text(pl.sql.data, pl.nparams, pl.types,
													   CURSOR_OPT_FAST_PLAN),
									 pl.values, NULL, true);
	}
	whole_set = (q->order_by && !src.scan && !pl.index_order) || q->traverse || q->trace ||
		q->group_by || (q->has_limit && q->limit < 0);
	rows = palloc(sizeof(Row *) * cap);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nql row", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		keep = true;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		/* a row's detoasted copy and its checks live until the next row */
		MemoryContextReset(rowcxt);
		old = MemoryContextSwitchTo(rowcxt);
		if (!source_next(&src, &id, &doc))
		{
			MemoryContextSwitchTo(old);
			break;
		}
		/* at HEAD an expired document is gone, as for nedb.get */
		if (!q->has_as_of && doc_expired(doc, ex.now))
			keep = false;
		i = 0;
		foreach(lc, q->where)
		{
			if (keep && !(ex.done && ex.done[i]) && !pred_holds(&ex, i, lfirst(lc), doc))
				keep = false;
			i++;
		}
		if (keep)
			keep = search_holds(&ex, doc);
		if (keep && !whole_set && q->valid_as_of)
			keep = valid_at(doc, q->valid_as_of);
		MemoryContextSwitchTo(old);
		if (!keep)
			continue;
		if (!whole_set)
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
				rows = repalloc(rows, sizeof(Row *) * cap);
			}
			rows[n++] = new_row(q->from, id, doc);
		}
	}
	if (src.scan)
		nql_scan_end(src.scan);
	else
		SPI_cursor_close(src.portal);

	if (whole_set)
	{
		if (q->order_by && !pl.index_order)
			order_rows(rows, n, q->order_by, q->order_desc);
		if (q->traverse)
			rows = traverse(&ex, rows, n, &n);
		if (q->trace)
			rows = q->trace_reverse ? trace_forward(&ex, rows, n, &n) : trace_back(&ex, rows, n, &n);
		if (q->valid_as_of)
		{
			int			m = 0;

			for (int k = 0; k < n; k++)
			{
				CHECK_FOR_INTERRUPTS();
				if (valid_at(rows[k]->doc, q->valid_as_of))
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
			foreach(lc, group_rows(q, rows, n))
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
	return (Datum) 0;
}

/*
 * nedb.explain(query): the access path nql() takes, and Postgres's plan of it.
 *
 * Every line goes into the tuplestore (which copies it into the query's
 * memory) while the storage session is open: the plan text, the index name
 * and the planner's notes live in SPI memory, freed by nedb_end.
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
	Exec		ex = {0};
	NqlQuery   *q;
	NedbSession s;
	TupleDesc	desc;
	Tuplestorestate *ts;
	NqlPlan		pl;
	NqlScan    *scan;
	char	   *index_name;

	q = ex.q = nql_parse(nql_text_arg(fcinfo));
	ex.role = GetUserId();
	nedb_acl_require_collection(ex.role, q->from, NEDB_READ);
	ex.now = op_now();
	ts = nedb_srf_begin(fcinfo, &desc);
	nedb_begin(&s);

	scan = direct_scan(&ex, &index_name);
	if (scan)
	{
		StringInfoData cond;
		StringInfoData filter;
		ListCell   *lc;
		int			i = 0;

		nql_scan_end(scan);
		put_line(ts, desc, q->has_limit
				 ? psprintf("NQL: ORDER BY %s %s through its index, stopping at LIMIT " INT64_FORMAT,
							q->order_by, q->order_desc ? "DESC" : "ASC", q->limit)
				 : psprintf("NQL: ORDER BY %s %s through its index",
							q->order_by, q->order_desc ? "DESC" : "ASC"));
		put_line(ts, desc, psprintf("Index Scan%s using %s on nedb.versions (direct, no SQL)",
									q->order_desc ? " Backward" : "", index_name));
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
		if (q->valid_as_of)
			appendStringInfo(&filter, " AND VALID AS OF %s", q->valid_as_of);
		if (cond.len)
			put_line(ts, desc, psprintf("  Index Cond: %s", cond.data));
		put_line(ts, desc, psprintf("  Filter: %s", filter.data));
	}
	else
	{
		plan_query(&ex, &pl);
		if (SPI_execute_with_args(psprintf("EXPLAIN (COSTS OFF) %s", pl.sql.data), pl.nparams, pl.types,
								  pl.values, NULL, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "EXPLAIN failed");
		put_line(ts, desc, psprintf("NQL: %s", pl.note));
		put_line(ts, desc, psprintf("SQL: %s", pl.sql.data));
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			CHECK_FOR_INTERRUPTS();
			put_line(ts, desc, SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1));
		}
	}
	nedb_end(&s);
	return (Datum) 0;
}
