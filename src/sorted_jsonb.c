/*
 * sorted_jsonb.c
 *	  NEDB ordering of jsonb values: the comparison behind nedb_jsonb_ops
 *	  (nedb_sorted) and nedb_jsonb_btree_ops, and operators nedb.< <= = >= >.
 *
 * jsonb's own < orders by type first and strings by collation; NQL orders
 * numbers by value whatever their spelling, booleans as 0 and 1 (Python's
 * bool is an int, so true = 1), strings by code point, and puts null and
 * missing last (SEMANTICS.md 12.5, 12.6).  Values of different kinds, which
 * the reference cannot order, get a fixed rank: numbers and booleans <
 * strings < arrays < objects < null.  Arrays compare equal to each other, as
 * do objects: NQL only ever compares scalars, and it lets an index store any
 * array or object as a small placeholder, so no document is ever too big
 * to be indexed because of an array or object in the field.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(nedb_jsonb_cmp);
PG_FUNCTION_INFO_V1(nedb_jsonb_lt);
PG_FUNCTION_INFO_V1(nedb_jsonb_le);
PG_FUNCTION_INFO_V1(nedb_jsonb_eq);
PG_FUNCTION_INFO_V1(nedb_jsonb_ge);
PG_FUNCTION_INFO_V1(nedb_jsonb_gt);

enum
{
	RANK_NUMBER,
	RANK_STRING,
	RANK_ARRAY,
	RANK_OBJECT,
	RANK_NULL
};

static int
rank_of(Jsonb *jb, JsonbValue *v)
{
	if (!JB_ROOT_IS_SCALAR(jb))
		return JB_ROOT_IS_ARRAY(jb) ? RANK_ARRAY : RANK_OBJECT;
	if (!JsonbExtractScalar(&jb->root, v))
		elog(ERROR, "invalid jsonb scalar");
	switch (v->type)
	{
		case jbvNumeric:
		case jbvBool:
			return RANK_NUMBER;
		case jbvString:
			return RANK_STRING;
		default:
			return RANK_NULL;
	}
}

static Numeric
as_numeric(JsonbValue *v)
{
	static Numeric zero = NULL;
	static Numeric one = NULL;

	if (v->type == jbvNumeric)
		return v->val.numeric;
	if (zero == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		zero = int64_to_numeric(0);
		one = int64_to_numeric(1);
		MemoryContextSwitchTo(old);
	}
	return v->val.boolean ? one : zero;
}

static int
nedb_jsonb_order(Jsonb *a, Jsonb *b)
{
	JsonbValue	va,
				vb;
	int			ra = rank_of(a, &va);
	int			rb = rank_of(b, &vb);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra == RANK_NUMBER)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
												 NumericGetDatum(as_numeric(&va)),
												 NumericGetDatum(as_numeric(&vb))));
	if (ra == RANK_STRING)
	{
		int			c = memcmp(va.val.string.val, vb.val.string.val,
							   Min(va.val.string.len, vb.val.string.len));

		if (c != 0)
			return c < 0 ? -1 : 1;
		return (va.val.string.len > vb.val.string.len) - (va.val.string.len < vb.val.string.len);
	}
	return 0;
}

#define JSONB_ORDER(fcinfo) \
	nedb_jsonb_order(PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1))

Datum
nedb_jsonb_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(JSONB_ORDER(fcinfo));
}

Datum
nedb_jsonb_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(JSONB_ORDER(fcinfo) < 0);
}

Datum
nedb_jsonb_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(JSONB_ORDER(fcinfo) <= 0);
}

Datum
nedb_jsonb_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(JSONB_ORDER(fcinfo) == 0);
}

Datum
nedb_jsonb_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(JSONB_ORDER(fcinfo) >= 0);
}

Datum
nedb_jsonb_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(JSONB_ORDER(fcinfo) > 0);
}
