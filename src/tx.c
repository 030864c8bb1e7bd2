/*
 * tx.c
 *	  nedb.tx(ops): several writes, all or nothing, with if_seq preconditions.
 *
 * Unlike the reference, every failure is atomic: the whole list is checked
 * for shape before anything is written, preconditions are checked under the
 * chain lock against the latest committed state, and a failure part-way
 * (a stale nonce, say) raises an error that rolls the statement back.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "acl.h"
#include "canon.h"
#include "chain.h"
#include "util.h"
#include "versions.h"
#include "write.h"

PG_FUNCTION_INFO_V1(nedb_tx);

typedef enum TxKind
{
	TX_PUT,
	TX_DEL,
	TX_LINK,
	TX_UNLINK
} TxKind;

typedef struct TxOp
{
	TxKind		kind;
	PutArgs		put;			/* put; coll, id, client, nonce, idem for del */
	const char *frm;
	const char *rel;
	const char *to;
	bool		has_if_seq;
	int64		if_seq;
} TxOp;

static const char *const put_keys[] = {"op", "coll", "id", "doc", "if_seq", "idem", "client",
	"nonce", "caused_by", "ttl_s", "evidence", "confidence", "valid_from", "valid_to", NULL};
static const char *const del_keys[] = {"op", "coll", "id", "if_seq", "idem", "client", "nonce", NULL};
static const char *const link_keys[] = {"op", "frm", "rel", "to", "client", "nonce", NULL};

static void
bad_op(int i, const char *fmt, const char *arg)
{
	char		msg[256];

	snprintf(msg, sizeof(msg), fmt, arg);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("nedb.tx op %d: %s", i, msg),
			 errdetail("Nothing was written.")));
}

static const char *
get_str(JsonbContainer *obj, int i, const char *k, bool required)
{
	JsonbValue *v = nedb_member(obj, k);

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			bad_op(i, "\"%s\" is required", k);
		return NULL;
	}
	if (v->type != jbvString)
		bad_op(i, "\"%s\" must be a string", k);
	if (v->val.string.len == 0 && required)
		bad_op(i, "\"%s\" must not be empty", k);
	if (v->val.string.len > NEDB_MAX_NAME)
		bad_op(i, "\"%s\" is too long", k);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static bool
get_num(JsonbContainer *obj, int i, const char *k, double *out)
{
	JsonbValue *v = nedb_member(obj, k);

	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type != jbvNumeric)
		bad_op(i, "\"%s\" must be a number", k);
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	return true;
}

/* an integral numeric that fits int64 (written without a fraction) */
static bool
numeric_to_int64(Numeric num, int64 *out)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	char	   *end;

	if (strchr(s, '.') != NULL)
		return false;
	errno = 0;
	*out = strtoi64(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool
get_int(JsonbContainer *obj, int i, const char *k, int64 *out)
{
	JsonbValue *v = nedb_member(obj, k);

	if (v == NULL || v->type == jbvNull)
		return false;
	if (v->type != jbvNumeric || !numeric_to_int64(v->val.numeric, out))
		bad_op(i, "\"%s\" must be an integer", k);
	return true;
}

static void
check_keys(JsonbContainer *obj, int i, const char *const *allowed)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		ok = false;

		if (tok != WJB_KEY)
			continue;
		for (const char *const *a = allowed; *a; a++)
			if (strlen(*a) == v.val.string.len &&
				memcmp(*a, v.val.string.val, v.val.string.len) == 0)
				ok = true;
		if (!ok)
			bad_op(i, "unknown field \"%s\"", pnstrdup(v.val.string.val, v.val.string.len));
	}
}

static void
parse_op(JsonbContainer *obj, int i, TxOp *t)
{
	const char *kind = get_str(obj, i, "op", true);
	double		d;
	JsonbValue *v;

	if (strcmp(kind, "put") == 0)
		t->kind = TX_PUT;
	else if (strcmp(kind, "del") == 0 || strcmp(kind, "delete") == 0)
		t->kind = TX_DEL;
	else if (strcmp(kind, "link") == 0)
		t->kind = TX_LINK;
	else if (strcmp(kind, "unlink") == 0)
		t->kind = TX_UNLINK;
	else
		bad_op(i, "unknown op \"%s\" (expected put, del, link or unlink)", kind);

	t->put.client = get_str(obj, i, "client", false);
	if (t->put.client == NULL)
		t->put.client = "local";
	nedb_check_client(t->put.client);
	t->put.has_nonce = get_int(obj, i, "nonce", &t->put.nonce);

	if (t->kind == TX_LINK || t->kind == TX_UNLINK)
	{
		check_keys(obj, i, link_keys);
		t->frm = get_str(obj, i, "frm", true);
		t->rel = get_str(obj, i, "rel", true);
		t->to = get_str(obj, i, "to", true);
		return;
	}

	check_keys(obj, i, t->kind == TX_PUT ? put_keys : del_keys);
	t->put.coll = get_str(obj, i, "coll", true);
	t->put.id = get_str(obj, i, "id", true);
	t->put.idem = get_str(obj, i, "idem", false);
	t->has_if_seq = get_int(obj, i, "if_seq", &t->if_seq);
	if (t->has_if_seq && t->if_seq < -1)
		bad_op(i, "\"if_seq\" must be -1 (absent) or a seq, not %s",
			   psprintf(INT64_FORMAT, t->if_seq));
	if (t->kind == TX_DEL)
		return;

	v = nedb_member(obj, "doc");
	if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_op(i, "\"%s\" must be a JSON object", "doc");
	t->put.doc = JsonbValueToJsonb(v);
	if (get_num(obj, i, "ttl_s", &d))
	{
		t->put.has_ttl = true;
		t->put.ttl_s = d;
	}
	t->put.evidence = get_str(obj, i, "evidence", false);
	t->put.valid_from = get_str(obj, i, "valid_from", false);
	t->put.valid_to = get_str(obj, i, "valid_to", false);
	if (get_num(obj, i, "confidence", &d))
	{
		t->put.has_confidence = true;
		t->put.confidence = d;
	}
	v = nedb_member(obj, "caused_by");
	if (v != NULL && v->type != jbvNull)
	{
		JsonbIterator *it;
		JsonbIteratorToken tok;
		JsonbValue	e;
		Datum	   *elems;
		int			n = 0;

		if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
			bad_op(i, "\"%s\" must be a list of seqs", "caused_by");
		elems = palloc(sizeof(Datum) * (JsonContainerSize(v->val.binary.data) + 1));
		it = JsonbIteratorInit(v->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			int64		seq;

			if (tok != WJB_ELEM)
				continue;		/* the array's begin/end tokens */
			if (e.type != jbvNumeric || !numeric_to_int64(e.val.numeric, &seq))
				bad_op(i, "\"%s\" must be a list of seqs", "caused_by");
			elems[n++] = Int64GetDatum(seq);
		}
		t->put.caused_by = construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	}
}

Datum
nedb_tx(PG_FUNCTION_ARGS)
{
	Jsonb	   *ops;
	int			n;
	TxOp	   *txops;
	NedbSession s;
	StringInfoData fail;
	StringInfoData out;
	int			nfail = 0;
	Datum		res;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("nedb.tx needs a list of ops")));
	ops = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(ops) || JB_ROOT_IS_SCALAR(ops))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nedb.tx needs a JSON array of ops")));

	/* phase 0: every op well-formed, or nothing happens */
	n = JB_ROOT_COUNT(ops);
	txops = palloc0(sizeof(TxOp) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&ops->root, i);

		CHECK_FOR_INTERRUPTS();
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			bad_op(i, "%s", "must be a JSON object");
		parse_op(v->val.binary.data, i, &txops[i]);
		if (txops[i].kind == TX_LINK || txops[i].kind == TX_UNLINK)
			nedb_acl_require_node(GetUserId(), txops[i].frm, NEDB_WRITE);
		else
			nedb_acl_require_collection(GetUserId(), txops[i].put.coll, NEDB_WRITE);
	}

	initStringInfo(&out);		/* in the caller's context: it outlives SPI */
	nedb_begin(&s);
	chain_lock();

	/* phase 1: every precondition, against the latest committed state */
	initStringInfo(&fail);
	for (int i = 0; i < n; i++)
	{
		TxOp	   *t = &txops[i];
		int64		last = -1;
		Jsonb	   *doc = NULL;
		bool		exists;
		bool		ok;

		CHECK_FOR_INTERRUPTS();
		if (!t->has_if_seq)
			continue;
		exists = store_latest(t->put.coll, t->put.id, false, 0, true, &last, &doc);
		if (t->if_seq == -1)
			ok = !exists || doc == NULL;
		else
			ok = exists && last == t->if_seq;
		if (ok)
			continue;
		appendStringInfoString(&fail, nfail++ ? ", " : "[");
		appendStringInfo(&fail, "{\"index\": %d, \"coll\": ", i);
		canon_string(&fail, t->put.coll, strlen(t->put.coll));
		appendStringInfoString(&fail, ", \"id\": ");
		canon_string(&fail, t->put.id, strlen(t->put.id));
		appendStringInfo(&fail, ", \"expected\": " INT64_FORMAT ", \"actual\": ", t->if_seq);
		if (exists)
			appendStringInfo(&fail, INT64_FORMAT, last);
		else
			appendStringInfoString(&fail, "null");
		appendStringInfoChar(&fail, '}');
	}
	if (nfail > 0)
	{
		appendStringInfoChar(&fail, ']');
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("precondition_failed: %d of %d if_seq checks failed", nfail, n),
				 errdetail("%s", fail.data),
				 errhint("Nothing was written. Read the current seqs and retry.")));
	}

	/* phase 2: apply in order */
	appendStringInfoString(&out, "{\"results\": [");
	for (int i = 0; i < n; i++)
	{
		TxOp	   *t = &txops[i];
		int64		seq;

		CHECK_FOR_INTERRUPTS();
		if (i > 0)
			appendStringInfoString(&out, ", ");
		switch (t->kind)
		{
			case TX_PUT:
				{
					Jsonb	   *doc = write_put(&t->put, &seq);

					appendStringInfoString(&out, "{\"op\": \"put\", \"id\": ");
					canon_string(&out, t->put.id, strlen(t->put.id));
					appendStringInfo(&out, ", \"seq\": " INT64_FORMAT ", \"doc\": ", seq);
					if (doc)
						canon_jsonb(&out, doc, false, true);
					else
						appendStringInfoString(&out, "null");
					appendStringInfoChar(&out, '}');
				}
				break;
			case TX_DEL:
				seq = write_delete(t->put.coll, t->put.id, t->put.client,
								   t->put.has_nonce, t->put.nonce, t->put.idem);
				appendStringInfoString(&out, "{\"op\": \"del\", \"id\": ");
				canon_string(&out, t->put.id, strlen(t->put.id));
				appendStringInfo(&out, ", \"seq\": " INT64_FORMAT "}", seq);
				break;
			case TX_LINK:
			case TX_UNLINK:
				seq = write_link(t->kind == TX_LINK, t->frm, t->rel, t->to, t->put.client,
								 t->put.has_nonce, t->put.nonce);
				appendStringInfo(&out, "{\"op\": \"%s\", \"seq\": " INT64_FORMAT "}",
								 t->kind == TX_LINK ? "link" : "unlink", seq);
				break;
		}
	}
	appendStringInfo(&out, "], \"count\": %d, \"seq\": " INT64_FORMAT "}", n,
					 chain_next_seq() - 1);
	nedb_end(&s);
	res = DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
	PG_RETURN_DATUM(res);
}
