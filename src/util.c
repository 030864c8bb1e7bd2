/*
 * util.c
 *	  Small helpers shared by the SQL-callable functions.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "op.h"
#include "util.h"

/* A required name argument: not NULL, not empty, not oversized. */
const char *
nedb_arg_name(FunctionCallInfo fcinfo, int argno, const char *what)
{
	text	   *t;
	int			len;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	if (len > NEDB_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is %d bytes long, more than the limit of %d", what, len, NEDB_MAX_NAME)));
	return text_to_cstring(t);
}

Tuplestorestate *
nedb_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	Tuplestorestate *ts;
	TupleDesc	td;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	switch (get_call_result_type(fcinfo, NULL, &td))
	{
		case TYPEFUNC_COMPOSITE:
			td = CreateTupleDescCopy(td);
			break;
		case TYPEFUNC_SCALAR:
			td = CreateTemplateTupleDesc(1);
			TupleDescInitEntry(td, 1, "value",
							   get_fn_expr_rettype(fcinfo->flinfo), -1, 0);
			break;
		default:
			elog(ERROR, "unexpected result type of a set-returning function");
	}
	ts = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = ts;
	rsinfo->setDesc = td;
	MemoryContextSwitchTo(old);
	*desc = td;
	return ts;
}

JsonbValue *
nedb_member(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

void
nedb_push_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

void
nedb_push_string(JsonbParseState **st, const char *key, const char *s)
{
	JsonbValue	v;

	/* pushJsonbValue keeps a reference until the Jsonb is built: copy */
	nedb_push_key(st, key);
	v.type = jbvString;
	v.val.string.val = pstrdup(s);
	v.val.string.len = strlen(s);
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
nedb_push_int(JsonbParseState **st, const char *key, int64 i)
{
	JsonbValue	v;

	nedb_push_key(st, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(i);
	pushJsonbValue(st, WJB_VALUE, &v);
}

bool
nedb_json_hash(JsonbValue *v, uint8 *hash)
{
	char		hex[NEDB_HEX_LEN + 1];

	if (v == NULL || v->type != jbvString || v->val.string.len != NEDB_HEX_LEN)
		return false;
	memcpy(hex, v->val.string.val, NEDB_HEX_LEN);
	hex[NEDB_HEX_LEN] = '\0';
	return hex_to_hash(hex, hash);
}
