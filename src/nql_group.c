/*
 * nql_group.c
 *	  NQL's GROUP BY with COUNT, SUM, AVG, MIN and MAX.
 *
 * Groups are Python's dict keys (1, 1.0 and True are one group) in the
 * order they were first seen; one hash probe per row.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "canon.h"
#include "nql_int.h"
#include "util.h"

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
	NqlPyClass	c = nql_py_class(v);

	switch (c)
	{
		case PY_NONE:
			appendStringInfoChar(out, 'n');
			break;
		case PY_NUM:
			appendStringInfoChar(out, '#');
			appendStringInfoString(out, numeric_normalize(nql_num(v)));
			break;
		case PY_STR:
			appendStringInfoChar(out, 's');
			appendBinaryStringInfo(out, v->val.string.val, v->val.string.len);
			break;
		default:
			appendStringInfoChar(out, c == PY_LIST ? 'l' : 'd');
			nql_py_str(out, v, true);
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
													  NumericGetDatum(nql_num(x))));
			if (res == NULL ||
				(q->agg == NQL_AGG_MIN && nql_numeric_cmp(nql_num(x), nql_num(res)) < 0) ||
				(q->agg == NQL_AGG_MAX && nql_numeric_cmp(nql_num(x), nql_num(res)) > 0))
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
List *
nql_group_rows(NqlQuery *q, NqlRow **rows, int n)
{
	List	   *groups = NIL;
	List	   *out = NIL;
	ListCell   *lc;
	HTAB	   *index = nql_keys_create("nql groups");
	StringInfoData key;

	initStringInfo(&key);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *k = nql_field(rows[i]->doc, q->group_by);
		NqlGroup   *g;
		NqlKeyEntry *e;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (nql_py_class(k) == PY_NONE)
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
			JsonbValue *x = nql_field(rows[i]->doc, q->agg_field);

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
