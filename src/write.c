/*
 * write.c
 *	  The write path: put, delete, link, unlink, expire, sweep.
 *
 * Every write is one op appended to the chain (chain.c) plus the derived
 * state it implies: a new document version (closing the previous one), a
 * tombstone, or an edge.  Order of checks follows the reference: the
 * idempotency key first (a known key returns the earlier result and writes
 * nothing, whatever the nonce), then the nonce.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "canon.h"
#include "chain.h"
#include "staging.h"
#include "store.h"
#include "util.h"
#include "versions.h"
#include "write.h"

PG_FUNCTION_INFO_V1(nedb_put);
PG_FUNCTION_INFO_V1(nedb_delete);
PG_FUNCTION_INFO_V1(nedb_link);
PG_FUNCTION_INFO_V1(nedb_unlink);
PG_FUNCTION_INFO_V1(nedb_expire);
PG_FUNCTION_INFO_V1(nedb_sweep);

/* ------------------------------------------------------------------------
 * Building documents
 * ------------------------------------------------------------------------ */

static void
push_numeric(JsonbParseState **st, const char *k, Datum num)
{
	JsonbValue	v;

	nedb_push_key(st, k);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(num);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* push the members of object doc (values that follow override them) */
static void
push_members(JsonbParseState **st, Jsonb *doc)
{
	JsonbIterator *it = JsonbIteratorInit(&doc->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(st, tok, &v);
}

static bool
has_member(Jsonb *doc, const char *k)
{
	return nedb_member(&doc->root, k) != NULL;
}

/*
 * The document as the put op carries it: the user's fields, _id unless the
 * user gave one, _expires_at and the mirrored provenance fields; with
 * seq >= 0, the stored version: the same plus _seq.
 */
static JsonbValue *
build_doc_value(PutArgs *a, double now, int64 seq)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_members(&st, a->doc);
	if (!has_member(a->doc, "_id"))
		nedb_push_string(&st, "_id", a->id);
	if (a->has_ttl)
		push_numeric(&st, "_expires_at", canon_float_numeric(now + a->ttl_s));
	if (a->caused_by)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(a->caused_by, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &nulls, &n);
		nedb_push_key(&st, "_caused_by");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < n; i++)
		{
			JsonbValue	v;

			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt64(elems[i]));
			pushJsonbValue(&st, WJB_ELEM, &v);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	if (a->evidence)
		nedb_push_string(&st, "_evidence", a->evidence);
	if (a->has_confidence)
		push_numeric(&st, "_confidence", canon_float_numeric(a->confidence));
	if (a->valid_from)
		nedb_push_string(&st, "_valid_from", a->valid_from);
	if (a->valid_to)
		nedb_push_string(&st, "_valid_to", a->valid_to);
	if (seq >= 0)
		nedb_push_int(&st, "_seq", seq);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return res;
}

static Jsonb *
build_doc(PutArgs *a, double now, int64 seq)
{
	return JsonbValueToJsonb(build_doc_value(a, now, seq));
}

/* the value of member k of an object built by pushJsonbValue */
static JsonbValue *
object_member(JsonbValue *obj, const char *k)
{
	int			len = strlen(k);

	Assert(obj->type == jbvObject);
	for (int i = 0; i < obj->val.object.nPairs; i++)
	{
		JsonbPair  *p = &obj->val.object.pairs[i];

		if (p->key.val.string.len == len && memcmp(p->key.val.string.val, k, len) == 0)
			return &p->value;
	}
	elog(ERROR, "built document lacks its %s", k);
	return NULL;				/* keep compiler quiet */
}

/* the stored version: the payload document with _seq */
Jsonb *
stored_doc(Jsonb *payload, int64 seq)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_members(&st, payload);
	nedb_push_int(&st, "_seq", seq);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* ------------------------------------------------------------------------
 * Ops
 * ------------------------------------------------------------------------ */

void
version_put(int64 seq, const char *coll, const char *id, Jsonb *doc)
{
	store_put_version(seq, CStringGetTextDatum(coll), CStringGetTextDatum(id),
					  doc ? JsonbPGetDatum(doc) : (Datum) 0, doc == NULL);
}

/*
 * Without a TTL (its _expires_at follows the op's time) or a _seq of the
 * user's (see put_append), the version depends on the chain only through its
 * _seq: it and the canonical JSON the body hashes (which skips _seq) can be
 * built before the chain lock, and under the lock only _seq is set.
 */
bool
put_prebuildable(PutArgs *a)
{
	return JB_ROOT_IS_OBJECT(a->doc) && !JB_ROOT_IS_SCALAR(a->doc) &&
		!a->has_ttl && !has_member(a->doc, "_seq");
}

/*
 * What a put can do before the chain lock: check the document and, where
 * put_prebuildable, build the version and its canonical JSON.
 * pushJsonbValue has ordered the members already, and where _seq sits does
 * not depend on its value, so the Jsonb is the one build_doc gives.
 */
void
put_build(PutArgs *a, PutBuilt *b)
{
	if (!JB_ROOT_IS_OBJECT(a->doc) || JB_ROOT_IS_SCALAR(a->doc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("document for %s:%s must be a JSON object", a->coll, a->id),
				 errdetail("Got a JSON %s.", JB_ROOT_IS_ARRAY(a->doc) && !JB_ROOT_IS_SCALAR(a->doc)
						   ? "array" : "scalar")));
	b->tree = b->tree_seq = NULL;
	if (put_prebuildable(a))
	{
		b->tree = build_doc_value(a, 0, 0);
		b->tree_seq = object_member(b->tree, "_seq");
		initStringInfo(&b->canon);
		canon_built_object(&b->canon, b->tree, true, false);
	}
}

/* the prebuilt version with _seq null: what a put staged for COMMIT returns */
Jsonb *
put_built_unsequenced(PutBuilt *b)
{
	JsonbValue	saved = *b->tree_seq;
	Jsonb	   *res;

	Assert(b->tree);
	b->tree_seq->type = jbvNull;
	res = JsonbValueToJsonb(b->tree);
	*b->tree_seq = saved;
	return res;
}

/*
 * The put's op and version, under the chain lock (taken here if need be):
 * the op prologue, then the version built now or finished from b.
 */
Jsonb *
put_append(PutArgs *a, PutBuilt *b, int64 *seq_out)
{
	NedbOp		op = {0};
	Jsonb	   *stored;

	chain_op_begin(&op, "put", a->client, a->has_nonce, a->nonce);
	op.coll = a->coll;
	op.id = a->id;
	op.idem = a->idem;
	op.caused_by = a->caused_by;
	op.evidence = a->evidence;
	op.has_confidence = a->has_confidence;
	op.confidence = a->confidence;
	op.valid_from = a->valid_from;
	op.valid_to = a->valid_to;

	/* the body hashes the stored version without its _seq */
	if (b->tree)
	{
		b->tree_seq->type = jbvNumeric;
		b->tree_seq->val.numeric = int64_to_numeric(op.seq);
		stored = JsonbValueToJsonb(b->tree);
		op.doc_canon = b->canon.data;
		op.doc_canon_len = b->canon.len;
	}
	else
		stored = build_doc(a, op.ts, op.seq);
	op.doc = stored;
	op.doc_has_seq = true;

	/*
	 * A user-supplied _seq is part of the hashed payload but cannot be
	 * rebuilt from the version (ours replaced it), so keep the exact body.
	 */
	if (has_member(a->doc, "_seq"))
	{
		StringInfoData body;

		op.doc = build_doc(a, op.ts, -1);
		op.doc_has_seq = false;
		initStringInfo(&body);
		op_build_body(&body, &op);
		op.body = body.data;
	}

	chain_append(&op);
	version_put(op.seq, a->coll, a->id, stored);
	*seq_out = op.seq;
	return stored;
}

/*
 * The put of a (write_put), or with if_absent the insert: when a->coll has
 * a live document a->id (not deleted, not expired), *exists is set and
 * nothing is written (no nonce or seq taken).  The check reads the latest
 * version under the chain lock, so no other writer can slip in between it
 * and the append.  A known idempotency key still answers first, as for a
 * put: a retried insert returns its earlier result.
 */
static Jsonb *
put_common(PutArgs *a, int64 *seq_out, bool if_absent, bool *exists)
{
	PutBuilt	b;

	put_build(a, &b);
	/* the key first: waiting for it while holding the chain could deadlock */
	if (a->idem)
		(void) chain_idem_lock(a->idem);
	chain_lock();
	if (a->idem)
	{
		int64		prior = chain_idem_seq(a->idem);

		if (prior >= 0)
		{
			/* as the reference: the current version of the named key */
			int64		s;
			Jsonb	   *cur = NULL;

			*seq_out = prior;
			if (store_latest(a->coll, a->id, false, 0, true, &s, &cur))
				return cur;
			return NULL;
		}
	}
	if (if_absent)
	{
		Jsonb	   *cur;

		*exists = store_latest_doc(CStringGetTextDatum(a->coll), CStringGetTextDatum(a->id),
								   &cur) &&
			cur != NULL && !doc_expired(cur, op_now());
		if (*exists)
			return NULL;
	}
	return put_append(a, &b, seq_out);
}

Jsonb *
write_put(PutArgs *a, int64 *seq_out)
{
	return put_common(a, seq_out, false, NULL);
}

Jsonb *
write_insert(PutArgs *a, int64 *seq_out, bool *exists)
{
	*exists = false;
	return put_common(a, seq_out, true, exists);
}

int64
write_delete(const char *coll, const char *id, const char *client,
			 bool has_nonce, int64 nonce, const char *idem)
{
	NedbOp		op = {0};

	if (idem)
		(void) chain_idem_lock(idem);
	chain_lock();
	if (idem)
	{
		int64		prior = chain_idem_seq(idem);

		if (prior >= 0)
			return prior;
	}
	chain_op_begin(&op, "delete", client, has_nonce, nonce);
	op.coll = coll;
	op.id = id;
	op.idem = idem;
	chain_append(&op);
	version_put(op.seq, coll, id, NULL);
	return op.seq;
}

int64
write_link(bool link, const char *frm, const char *rel, const char *to,
		   const char *client, bool has_nonce, int64 nonce)
{
	NedbOp		op = {0};
	JsonbParseState *st = NULL;

	chain_op_begin(&op, link ? "link" : "unlink", client, has_nonce, nonce);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_string(&st, "frm", frm);
	nedb_push_string(&st, "rel", rel);
	nedb_push_string(&st, "to", to);
	op.payload = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));

	chain_append(&op);
	edge_put(link, op.seq, frm, rel, to);
	return op.seq;
}

void
edge_put(bool link, int64 seq, const char *frm, const char *rel, const char *to)
{
	Datum		v[4];

	nedb_check_edge(frm, rel, to);
	v[0] = Int64GetDatum(seq);
	v[1] = CStringGetTextDatum(frm);
	v[2] = CStringGetTextDatum(rel);
	v[3] = CStringGetTextDatum(to);
	nedb_exec(link ? PLAN_EDGE_LINK : PLAN_EDGE_UNLINK, v, NULL, false, 0);
}

/* ------------------------------------------------------------------------
 * SQL functions
 * ------------------------------------------------------------------------ */

static const char *
opt_text(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static double
interval_seconds(Interval *iv)
{
	return (double) iv->time / USECS_PER_SEC +
		(double) iv->day * SECS_PER_DAY +
		(double) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;
}

Datum
nedb_put(PG_FUNCTION_ARGS)
{
	PutArgs		a = {0};
	NedbSession s;
	Jsonb	   *res;
	int64		seq;

	a.coll = nedb_arg_name(fcinfo, 0, "collection");
	a.id = nedb_arg_name(fcinfo, 1, "document id");
	nedb_acl_require_collection(GetUserId(), a.coll, NEDB_WRITE);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("document for %s:%s must not be NULL", a.coll, a.id),
				 errhint("Use nedb.delete() to remove a document.")));
	a.doc = PG_GETARG_JSONB_P(2);
	a.client = nedb_arg_name(fcinfo, 3, "client");
	nedb_check_client(a.client);
	a.has_nonce = !PG_ARGISNULL(4);
	a.nonce = a.has_nonce ? PG_GETARG_INT64(4) : 0;
	a.idem = opt_text(fcinfo, 5);
	if (!PG_ARGISNULL(6))
	{
		a.has_ttl = true;
		a.ttl_s = interval_seconds(PG_GETARG_INTERVAL_P(6));
	}
	if (!PG_ARGISNULL(7))
	{
		a.caused_by = PG_GETARG_ARRAYTYPE_P(7);
		if (ARR_NDIM(a.caused_by) > 1 || array_contains_nulls(a.caused_by))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("caused_by must be a one-dimensional list of seqs without NULLs")));
	}
	a.evidence = opt_text(fcinfo, 8);
	a.has_confidence = !PG_ARGISNULL(9);
	a.confidence = a.has_confidence ? PG_GETARG_FLOAT8(9) : 0;
	if (a.has_confidence && (isnan(a.confidence) || isinf(a.confidence)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confidence must be a finite number")));
	a.valid_from = opt_text(fcinfo, 10);
	a.valid_to = opt_text(fcinfo, 11);

	/* appended at COMMIT (staging.c): nothing to do under the lock now */
	if (staging_wanted(&a) && (res = staging_put(&a)) != NULL)
		PG_RETURN_JSONB_P(res);

	nedb_begin(&s);
	res = write_put(&a, &seq);
	if (res == NULL)
	{
		nedb_end(&s);
		PG_RETURN_NULL();
	}
	{
		Datum		d = nedb_copy_out(&s, res);

		nedb_end(&s);
		PG_RETURN_DATUM(d);
	}
}

Datum
nedb_delete(PG_FUNCTION_ARGS)
{
	const char *coll = nedb_arg_name(fcinfo, 0, "collection");
	const char *id = nedb_arg_name(fcinfo, 1, "document id");
	const char *client = nedb_arg_name(fcinfo, 2, "client");
	NedbSession s;
	int64		seq;

	nedb_acl_require_collection(GetUserId(), coll, NEDB_WRITE);
	nedb_check_client(client);
	nedb_begin(&s);
	seq = write_delete(coll, id, client, !PG_ARGISNULL(3),
					   PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3), opt_text(fcinfo, 4));
	nedb_end(&s);
	PG_RETURN_INT64(seq);
}

static Datum
link_common(FunctionCallInfo fcinfo, bool link)
{
	const char *frm = nedb_arg_name(fcinfo, 0, "frm");
	const char *rel = nedb_arg_name(fcinfo, 1, "rel");
	const char *to = nedb_arg_name(fcinfo, 2, "to");
	const char *client = nedb_arg_name(fcinfo, 3, "client");
	NedbSession s;
	int64		seq;

	/* an edge belongs to the document it starts from */
	nedb_acl_require_node(GetUserId(), frm, NEDB_WRITE);
	nedb_check_client(client);
	nedb_begin(&s);
	seq = write_link(link, frm, rel, to, client, !PG_ARGISNULL(4),
					 PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4));
	nedb_end(&s);
	PG_RETURN_INT64(seq);
}

Datum
nedb_link(PG_FUNCTION_ARGS)
{
	return link_common(fcinfo, true);
}

Datum
nedb_unlink(PG_FUNCTION_ARGS)
{
	return link_common(fcinfo, false);
}

Datum
nedb_expire(PG_FUNCTION_ARGS)
{
	PutArgs		a = {0};
	NedbSession s;
	int64		seq;
	Jsonb	   *cur;
	bool		ok = false;

	a.coll = nedb_arg_name(fcinfo, 0, "collection");
	a.id = nedb_arg_name(fcinfo, 1, "document id");
	nedb_acl_require_collection(GetUserId(), a.coll, NEDB_WRITE);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ttl must not be NULL")));
	a.has_ttl = true;
	a.ttl_s = interval_seconds(PG_GETARG_INTERVAL_P(2));
	a.client = "local";

	nedb_begin(&s);
	chain_lock();
	if (store_latest(a.coll, a.id, false, 0, true, &seq, &cur) && cur != NULL &&
		!doc_expired(cur, op_now()))
	{
		/*
		 * Re-put the stored version as it is, _seq included (hashed, as the
		 * reference puts store.get(key)); build_doc's _expires_at follows the
		 * old one, and the later value of a key wins.
		 */
		a.doc = cur;
		write_put(&a, &seq);
		ok = true;
	}
	nedb_end(&s);
	PG_RETURN_BOOL(ok);
}

/*
 * Delete current documents whose _expires_at has passed, as __ttl__: at
 * most lim of them (lim <= 0: all), in seq order of their versions, after
 * the version at *after_seq (-1: from the start; set to the last one
 * looked at, so that batches of a run read the versions once).  Needs a
 * storage session; returns how many were deleted, and in *found how many
 * candidates there were (fewer than lim: none is left after them).
 *
 * The candidates are found before the chain lock is taken (a scan of the
 * current versions, which must not hold writers up), and each is checked
 * again under it with a fresh snapshot: still the same version, still
 * expired.  So a document re-put, deleted or swept by someone else since is
 * left alone, and a document is deleted once however many sweeps run.
 */
uint64
sweep_expired(int64 lim, int64 *after_seq, uint64 *found)
{
	double		now = op_now();
	Datum		args[3];
	Oid			argtypes[3] = {FLOAT8OID, INT8OID, INT8OID};
	uint64		n;
	uint64		deleted = 0;
	char	  **colls;
	char	  **ids;
	int64	   *seqs;

	/* refused where a write is, also with nothing to delete */
	chain_check_writable(false);
	chain_check_writable(true);

	args[0] = Float8GetDatum(now);
	args[1] = Int64GetDatum(lim);
	args[2] = Int64GetDatum(*after_seq);
	if (SPI_execute_with_args("SELECT coll, id, seq_from FROM nedb.versions"
							  " WHERE seq_to IS NULL AND doc IS NOT NULL AND seq_from > $3"
							  "   AND CASE WHEN jsonb_typeof(doc -> '_expires_at') = 'number'"
							  "       THEN (doc -> '_expires_at')::numeric < $1::numeric ELSE false END"
							  " ORDER BY seq_from"
							  " LIMIT CASE WHEN $2 > 0 THEN $2 END",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "sweep query failed");
	n = SPI_processed;
	*found = n;
	colls = palloc(sizeof(char *) * Max(n, 1));
	ids = palloc(sizeof(char *) * Max(n, 1));
	seqs = palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		colls[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		ids[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		seqs[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 3, &isnull));
	}
	if (n == 0)
		return 0;
	*after_seq = seqs[n - 1];

	chain_lock();
	for (uint64 i = 0; i < n; i++)
	{
		int64		seq;
		Jsonb	   *cur;

		CHECK_FOR_INTERRUPTS();
		if (!store_latest(colls[i], ids[i], false, 0, true, &seq, &cur) ||
			seq != seqs[i] || cur == NULL || !doc_expired(cur, now))
			continue;
		write_delete(colls[i], ids[i], "__ttl__", false, 0, NULL);
		deleted++;
	}
	return deleted;
}

/*
 * nedb.sweep() deletes every expired document, nedb.sweep(lim) at most lim
 * of them; both as __ttl__, returning how many.
 */
Datum
nedb_sweep(PG_FUNCTION_ARGS)
{
	NedbSession s;
	int64		lim = 0;
	int64		after = -1;
	uint64		found;
	uint64		n;

	if (PG_NARGS() > 0)
	{
		if (PG_ARGISNULL(0))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("lim must not be NULL")));
		lim = PG_GETARG_INT32(0);
		if (lim < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lim must be at least 1, not " INT64_FORMAT, lim)));
	}
	/* it deletes in every collection */
	nedb_acl_require_collection(GetUserId(), NULL, NEDB_WRITE);
	nedb_begin(&s);
	n = sweep_expired(lim, &after, &found);
	nedb_end(&s);
	PG_RETURN_INT32((int32) n);
}
