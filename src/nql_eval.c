/*
 * nql_eval.c
 *	  NQL's values and row checks: Python's comparison semantics, WHERE,
 *	  SEARCH, VALID AS OF and ORDER BY, and the byte-string keyed hash tables
 *	  GROUP BY, TRAVERSE and TRACE use.
 *
 * Numbers and booleans compare as Python compares them (1 = 1.0 = true),
 * ordering across types is false, a missing field is None; ORDER BY is a
 * stable sort, None last ascending and first descending, mixed types
 * compared by str() (as the reference, after Python's TypeError).
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "canon.h"
#include "nql_int.h"
#include "util.h"

/* ------------------------------------------------------------------------
 * Python values
 * ------------------------------------------------------------------------ */

JsonbValue *
nql_field(Jsonb *doc, const char *field)
{
	return nedb_member(&doc->root, field);
}

NqlPyClass
nql_py_class(JsonbValue *v)
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

int
nql_numeric_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a), NumericGetDatum(b)));
}

Numeric
nql_num(JsonbValue *v)
{
	if (v->type == jbvBool)
		return int64_to_numeric(v->val.boolean ? 1 : 0);
	return v->val.numeric;
}

int
nql_str_cmp(const char *a, int alen, const char *b, int blen)
{
	int			r = memcmp(a, b, Min(alen, blen));

	if (r != 0)
		return r;
	return (alen > blen) - (alen < blen);
}

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
			nql_py_str(out, &v, true);
			appendStringInfoString(out, ": ");
		}
		else if (tok == WJB_VALUE)
			nql_py_str(out, &v, true);
		else if (tok == WJB_ELEM)
		{
			if (!first)
				appendStringInfoString(out, ", ");
			first = false;
			nql_py_str(out, &v, true);
		}
	}
	appendStringInfoChar(out, is_obj ? '}' : ']');
}

/* Python's str() of a value; repr() inside containers */
void
nql_py_str(StringInfo out, JsonbValue *v, bool repr)
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
HTAB *
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
NqlKeyEntry *
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
bool
nql_seen(HTAB *h, const char *s)
{
	bool		found;

	(void) nql_keys_enter(h, s, strlen(s), &found);
	return found;
}

/* ------------------------------------------------------------------------
 * WHERE and SEARCH
 * ------------------------------------------------------------------------ */

bool
nql_pred_holds(NqlExec *ex, int i, NqlPred *p, Jsonb *doc)
{
	JsonbValue *a = nql_field(doc, p->field);
	NqlPyClass	ac = nql_py_class(a);
	NqlValue   *b = &p->value;
	int			c;

	if (p->op == NQL_EQ || p->op == NQL_NE)
	{
		bool		eq;

		if (b->kind == NQLV_NULL)
			eq = (ac == PY_NONE);
		else if (ac == PY_NUM && b->kind != NQLV_STRING)
			eq = nql_numeric_cmp(nql_num(a), ex->lit_num[i]) == 0;
		else if (ac == PY_STR && b->kind == NQLV_STRING)
			eq = a->val.string.len == strlen(b->text) &&
				memcmp(a->val.string.val, b->text, a->val.string.len) == 0;
		else
			eq = false;
		return p->op == NQL_EQ ? eq : !eq;
	}

	/* ordering: None, or types Python cannot order, compare false */
	if (ac == PY_NUM && b->kind != NQLV_STRING && b->kind != NQLV_NULL)
		c = nql_numeric_cmp(nql_num(a), ex->lit_num[i]);
	else if (ac == PY_STR && b->kind == NQLV_STRING)
		c = nql_str_cmp(a->val.string.val, a->val.string.len, b->text, strlen(b->text));
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

bool
nql_search_holds(NqlExec *ex, Jsonb *doc)
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
			JsonbValue *v = nql_field(doc, lfirst(fc));

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
				nql_py_str(&hay, &v, false);
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
bool
nql_valid_at(Jsonb *doc, const char *d)
{
	JsonbValue *from = nql_field(doc, "_valid_from");
	JsonbValue *to = nql_field(doc, "_valid_to");
	int			dlen = strlen(d);

	if (from && from->type == jbvNull)
		from = NULL;
	if (to && to->type == jbvNull)
		to = NULL;
	if (from && (from->type != jbvString ||
				 nql_str_cmp(d, dlen, from->val.string.val, from->val.string.len) < 0))
		return false;
	if (to && (to->type != jbvString ||
			   nql_str_cmp(d, dlen, to->val.string.val, to->val.string.len) > 0))
		return false;
	return true;
}

/* ------------------------------------------------------------------------
 * ORDER BY
 * ------------------------------------------------------------------------ */

/* how rows compare: qsort_arg's argument */
typedef struct NqlOrder
{
	bool		desc;
	bool		by_str;			/* by str(key): the keys' types are mixed */
} NqlOrder;

static int
cmp_rows(const void *x, const void *y, void *arg)
{
	const NqlOrder *o = arg;
	const NqlRow *a = *(NqlRow *const *) x;
	const NqlRow *b = *(NqlRow *const *) y;
	int			c;

	if (o->by_str)
		c = strcmp(a->strkey, b->strkey);
	else if ((a->key == NULL) != (b->key == NULL))
		c = a->key == NULL ? 1 : -1;	/* None sorts last ascending */
	else if (a->key == NULL)
		c = 0;
	else if (a->key->type == jbvString)
		c = nql_str_cmp(a->key->val.string.val, a->key->val.string.len,
						b->key->val.string.val, b->key->val.string.len);
	else
		c = nql_numeric_cmp(nql_num(a->key), nql_num(b->key));
	if (o->desc)
		c = -c;
	/* stable: equal keys keep their order, also descending (as Python's sort) */
	return c != 0 ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

void
nql_order_rows(NqlRow **rows, int n, const char *field, bool desc)
{
	NqlOrder	o;
	int			classes = 0;
	int			ndict = 0;

	for (int i = 0; i < n; i++)
	{
		JsonbValue *v = nql_field(rows[i]->doc, field);
		NqlPyClass	c = nql_py_class(v);

		CHECK_FOR_INTERRUPTS();
		rows[i]->key = c == PY_NONE ? NULL : v;
		rows[i]->pos = i;
		if (c != PY_NONE)
			classes |= 1 << c;
		if (c == PY_DICT)
			ndict++;
	}

	/* Python raises TypeError for mixed types, then sorts by str(value) */
	o.by_str = (classes & (classes - 1)) != 0 || ndict > 1 || (classes & (1 << PY_LIST));
	if (o.by_str)
		for (int i = 0; i < n; i++)
		{
			StringInfoData s;

			CHECK_FOR_INTERRUPTS();
			initStringInfo(&s);
			nql_py_str(&s, rows[i]->key, false);
			rows[i]->strkey = s.data;
		}
	o.desc = desc;
	qsort_arg(rows, n, sizeof(NqlRow *), cmp_rows, &o);
}
