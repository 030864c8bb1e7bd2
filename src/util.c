/*
 * util.c
 *	  Small helpers shared by the SQL-callable functions.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "acl.h"
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

/* An idempotency key lands in the unique btree ops_idem: at most 1 KiB. */
void
nedb_check_idem(const char *idem)
{
	size_t		len = strlen(idem);

	if (len > NEDB_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("idempotency key is %zu bytes long, more than the limit of %d",
						len, NEDB_MAX_NAME),
				 errhint("Use a shorter key, such as a hash of the request.")));
}

/* An edge's three names land together in the btree edges_live. */
void
nedb_check_edge(const char *frm, const char *rel, const char *to)
{
	size_t		len = strlen(frm) + strlen(rel) + strlen(to);

	if (strlen(frm) > NEDB_MAX_NAME || strlen(rel) > NEDB_MAX_NAME ||
		strlen(to) > NEDB_MAX_NAME || len > NEDB_MAX_EDGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("edge names are %zu bytes long together, more than the limit of %d",
						len, NEDB_MAX_EDGE),
				 errdetail("frm, rel and to are %zu, %zu and %zu bytes; each may have %d, and all three %d.",
						   strlen(frm), strlen(rel), strlen(to), NEDB_MAX_NAME, NEDB_MAX_EDGE)));
}

void
nedb_check_client(const char *client)
{
	if (strncmp(client, "__", 2) != 0)
		return;
	if (nedb_acl_is_admin(GetUserId()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to write as client \"%s\"", client),
			 errdetail("Client names beginning with \"__\" are reserved for the engine (nedb.sweep() deletes as __ttl__, the reference checkpoints as __snapshot__); only the extension's owner may use them."),
			 errhint("Use another client name.")));
}

Tuplestorestate *
nedb_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc)
{
	return nedb_srf_begin_mem(fcinfo, desc, work_mem);
}

/* the same, keeping up to max_kb in memory before spilling to a file */
Tuplestorestate *
nedb_srf_begin_mem(FunctionCallInfo fcinfo, TupleDesc *desc, int max_kb)
{
	return nedb_srf_begin_in(fcinfo, desc, max_kb, NULL);
}

/*
 * The same, the rows kept in rows_cxt (the query's memory when NULL), which
 * must outlive the query's reading them.
 */
Tuplestorestate *
nedb_srf_begin_in(FunctionCallInfo fcinfo, TupleDesc *desc, int max_kb,
				  MemoryContext rows_cxt)
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
	if (rows_cxt)
		MemoryContextSwitchTo(rows_cxt);
	ts = tuplestore_begin_heap(true, false, max_kb);
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
