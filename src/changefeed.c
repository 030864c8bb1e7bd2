/*
 * changefeed.c
 *	  Reading the log after a cursor: nedb.since(after_seq, lim), one bounded
 *	  page for consumers, and nedb.export_bodies(since, max), what a
 *	  follower applies.
 *
 * Both read without an executor: the ops from the cursor in seq order and
 * beside them the versions their puts wrote (a put's version has seq_from =
 * its seq), both tables in heap order where that is seq order (feed_scan.c),
 * so an op costs no index probe of its own.  since's rows are nedb.log's (README: Changefeed): each
 * op's prev_hash is the hash of the row before it in the page (the op before
 * the first is looked up once) and text columns go out as stored.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "feed_payload.h"
#include "feed_scan.h"
#include "group_commit.h"
#include "op.h"
#include "session.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_since);
PG_FUNCTION_INFO_V1(nedb_export_bodies);

#define SINCE_DEFAULT_LIM 10000
#define SINCE_MAX_LIM 100000
/*
 * A default page of block documents is about 10 MB: kept in memory up to
 * this (or work_mem, if larger) rather than written to a temporary file and
 * read back; a larger page spills past it.
 */
#define SINCE_PAGE_KB (16 * 1024)

/*
 * A page's rows are kept in one context for the session rather than in the
 * query's memory: 10 MB allocated afresh per page comes back from malloc as
 * new pages of the kernel's (glibc returns blocks this large when they are
 * freed), and faulting them in cost more than copying the rows.  Its first
 * block of SINCE_PAGE_KB is kept by a reset; a reset happens when a page
 * starts and no query that holds an earlier one is still running.
 */
static MemoryContext page_cxt = NULL;
static int	page_users = 0;

static void
page_released(void *arg)
{
	page_users--;
}

/* the context for this call's page, counted until the query's memory goes */
static MemoryContext
page_context(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext query_cxt;
	MemoryContextCallback *cb;

	/* not called as a set: nedb_srf_begin_in says so */
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		return NULL;
	query_cxt = rsinfo->econtext->ecxt_per_query_memory;
	if (page_cxt == NULL)
		page_cxt = AllocSetContextCreate(TopMemoryContext, "nedb feed pages",
										 SINCE_PAGE_KB * 1024L, ALLOCSET_DEFAULT_INITSIZE,
										 SINCE_PAGE_KB * 1024L);
	else if (page_users == 0)
		MemoryContextReset(page_cxt);
	cb = MemoryContextAlloc(query_cxt, sizeof(MemoryContextCallback));
	cb->func = page_released;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(query_cxt, cb);
	page_users++;
	return page_cxt;
}

/* nedb.ops columns (table order) and nedb.since's */
enum
{
	O_SEQ, O_HASH, O_TS, O_CLIENT, O_NONCE, O_OP, O_COLL, O_ID, O_PAYLOAD,
	O_IDEM, O_CAUSED_BY, O_EVIDENCE, O_CONFIDENCE, O_VALID_FROM, O_VALID_TO,
	O_BODY, O_NATTS
};
enum
{
	S_SEQ, S_CLIENT, S_NONCE, S_OP, S_PAYLOAD, S_TS, S_IDEM, S_PREV_HASH,
	S_HASH, S_CAUSED_BY, S_EVIDENCE, S_CONFIDENCE, S_VALID_FROM, S_VALID_TO,
	S_HEAD_SEQ, S_NATTS
};

/* a stored 32-byte hash as hex text (anything else: its bytes in hex) */
static Datum
hash_text(Datum d)
{
	bytea	   *b = DatumGetByteaPP(d);
	int			len = VARSIZE_ANY_EXHDR(b);
	text	   *t = palloc(VARHDRSZ + 2 * len);

	hex_encode(VARDATA_ANY(b), len, VARDATA(t));
	SET_VARSIZE(t, VARHDRSZ + 2 * len);
	return PointerGetDatum(t);
}

/* a member that is the text of a column, or JSON null when it is NULL */
static void
push_text(JsonbParseState **st, const char *key, const char *s)
{
	JsonbValue	v;

	if (s)
	{
		nedb_push_string(st, key, s);
		return;
	}
	nedb_push_key(st, key);
	v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * The payload of a put, {key, coll, id, doc} with the version's doc without
 * its _seq, or of a delete (doc NULL, with_doc false): {key, coll, id}.
 */
static Jsonb *
key_payload(Datum *ov, bool *on, bool with_doc, Jsonb *doc)
{
	JsonbParseState *st = NULL;
	JsonbValue	v;
	char	   *c = on[O_COLL] ? NULL : TextDatumGetCString(ov[O_COLL]);
	char	   *i = on[O_ID] ? NULL : TextDatumGetCString(ov[O_ID]);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	push_text(&st, "key", c && i ? psprintf("%s:%s", c, i) : NULL);
	push_text(&st, "coll", c);
	push_text(&st, "id", i);
	if (with_doc)
	{
		nedb_push_key(&st, "doc");
		if (doc == NULL)
		{
			v.type = jbvNull;
			pushJsonbValue(&st, WJB_VALUE, &v);
		}
		else
		{
			JsonbIterator *it = JsonbIteratorInit(&doc->root);
			JsonbIteratorToken tok;
			bool		skip = false;

			/* the top level's members as they are (nested ones whole), but _seq */
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
				{
					skip = v.val.string.len == 4 && memcmp(v.val.string.val, "_seq", 4) == 0;
					if (skip)
						continue;
				}
				else if (tok == WJB_VALUE && skip)
				{
					skip = false;
					continue;
				}
				pushJsonbValue(&st, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
			}
		}
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* whether text datum d is the word w */
static bool
text_is(Datum d, const char *w)
{
	text	   *t = DatumGetTextPP(d);
	int			len = strlen(w);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), w, len) == 0;
}

/*
 * A put's or delete's payload into buf (reset): written directly when the
 * document is an object (always, for what nedb.put stores), else built.
 */
static Datum
put_delete_payload(StringInfo buf, Datum *ov, bool *on, bool with_doc, Jsonb *doc)
{
	text	   *c = on[O_COLL] ? NULL : DatumGetTextPP(ov[O_COLL]);
	text	   *i = on[O_ID] ? NULL : DatumGetTextPP(ov[O_ID]);

	if (doc != NULL && !JsonContainerIsObject(&doc->root))
		return JsonbPGetDatum(key_payload(ov, on, with_doc, doc));
	feed_key_payload(buf, c ? VARDATA_ANY(c) : NULL, c ? VARSIZE_ANY_EXHDR(c) : 0,
					 i ? VARDATA_ANY(i) : NULL, i ? VARSIZE_ANY_EXHDR(i) : 0,
					 with_doc, doc);
	return PointerGetDatum(buf->data);
}

/* an op kept with its exact body: the body's payload (NULL if it has none) */
static Jsonb *
body_payload(Datum body, bool *isnull)
{
	Jsonb	   *b = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													   CStringGetDatum(TextDatumGetCString(body))));
	JsonbValue *v = nedb_member(&b->root, "payload");

	*isnull = (v == NULL);
	return *isnull ? NULL : JsonbValueToJsonb(v);
}

/* the stored hash of the op at seq into *out (hex text); false if none */
static bool
hash_of(Relation ops, Relation ops_pk, Snapshot snap, int64 seq, Datum *out)
{
	TupleTableSlot *slot = table_slot_create(ops, NULL);
	bool		found = feed_probe(ops, ops_pk, snap, BTEqualStrategyNumber, seq, slot);

	if (found)
	{
		bool		isnull;
		Datum		h = slot_getattr(slot, O_HASH + 1, &isnull);

		found = !isnull;
		if (found)
			*out = hash_text(h);
	}
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/* the last seq (max(seq)), or -1 when the log is empty */
static int64
last_seq(Relation ops, Relation ops_pk, Snapshot snap)
{
	IndexScanDesc scan = index_beginscan(ops, ops_pk, snap, 0, 0);
	TupleTableSlot *slot = table_slot_create(ops, NULL);
	int64		seq = -1;

	index_rescan(scan, NULL, 0, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;

		seq = DatumGetInt64(slot_getattr(slot, O_SEQ + 1, &isnull));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return seq;
}

Datum
nedb_since(PG_FUNCTION_ARGS)
{
	int64		after = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT64(0);
	int64		lim = PG_ARGISNULL(1) ? SINCE_DEFAULT_LIM : PG_GETARG_INT32(1);
	NedbSession s;
	TupleDesc	desc;
	Tuplestorestate *ts;
	FeedScan	f;
	MemoryContext rowcxt;
	int64		head;
	int64		prev_seq = PG_INT64_MIN;
	StringInfoData prev;		/* prev_hash of the next row, when prev_seq is its seq - 1 */
	StringInfoData payload;		/* a put's or delete's payload, row by row */
	int64		n = 0;

	/* a page is always bounded, whatever lim says */
	lim = Min(Max(lim, 0), SINCE_MAX_LIM);
	ts = nedb_srf_begin_in(fcinfo, &desc, Max(work_mem, SINCE_PAGE_KB), page_context(fcinfo));
	if (lim == 0)
		return (Datum) 0;

	nedb_begin(&s);
	feed_open(&f, after);
	/* head_seq: the last seq in the same snapshot as the page */
	head = last_seq(f.ops, f.ops_pk, f.snap);

	initStringInfo(&prev);
	initStringInfo(&payload);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb since row",
								   ALLOCSET_DEFAULT_SIZES);
	while (n < lim && feed_next(&f))
	{
		MemoryContext old;
		Datum	   *ov = f.ops_slot->tts_values;
		bool	   *on = f.ops_slot->tts_isnull;
		Datum		values[S_NATTS];
		bool		nulls[S_NATTS];
		int64		seq = DatumGetInt64(ov[O_SEQ]);
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(rowcxt);
		memset(nulls, 0, sizeof(nulls));
		values[S_SEQ] = ov[O_SEQ];
		values[S_CLIENT] = ov[O_CLIENT];
		values[S_NONCE] = ov[O_NONCE];
		values[S_OP] = ov[O_OP];
		values[S_TS] = ov[O_TS];
		values[S_IDEM] = ov[O_IDEM];
		nulls[S_IDEM] = on[O_IDEM];
		values[S_CAUSED_BY] = ov[O_CAUSED_BY];
		nulls[S_CAUSED_BY] = on[O_CAUSED_BY];
		values[S_EVIDENCE] = ov[O_EVIDENCE];
		nulls[S_EVIDENCE] = on[O_EVIDENCE];
		values[S_CONFIDENCE] = ov[O_CONFIDENCE];
		nulls[S_CONFIDENCE] = on[O_CONFIDENCE];
		values[S_VALID_FROM] = ov[O_VALID_FROM];
		nulls[S_VALID_FROM] = on[O_VALID_FROM];
		values[S_VALID_TO] = ov[O_VALID_TO];
		nulls[S_VALID_TO] = on[O_VALID_TO];
		values[S_HEAD_SEQ] = Int64GetDatum(head);

		/* as the view: the exact body's payload, else rebuilt from the rows */
		if (!on[O_BODY])
		{
			Jsonb	   *p = body_payload(ov[O_BODY], &nulls[S_PAYLOAD]);

			values[S_PAYLOAD] = p ? JsonbPGetDatum(p) : (Datum) 0;
		}
		else if (text_is(ov[O_OP], "put"))
		{
			Datum		doc;
			bool		has_doc = feed_version(&f, seq, &doc, &isnull) && !isnull;

			values[S_PAYLOAD] = put_delete_payload(&payload, ov, on, true,
												   has_doc ? DatumGetJsonbP(doc) : NULL);
		}
		else if (text_is(ov[O_OP], "delete"))
			values[S_PAYLOAD] = put_delete_payload(&payload, ov, on, false, NULL);
		else
		{
			values[S_PAYLOAD] = ov[O_PAYLOAD];
			nulls[S_PAYLOAD] = on[O_PAYLOAD];
		}

		values[S_HASH] = hash_text(ov[O_HASH]);
		/* the op before: the last row, or (first row, or a gap) looked up */
		if (prev_seq != seq - 1)
		{
			Datum		h;

			resetStringInfo(&prev);
			if (hash_of(f.ops, f.ops_pk, f.snap, seq - 1, &h))
				appendBinaryStringInfo(&prev, VARDATA_ANY(h), VARSIZE_ANY_EXHDR(h));
			else
				appendStringInfoString(&prev, NEDB_GENESIS);
		}
		values[S_PREV_HASH] = PointerGetDatum(cstring_to_text_with_len(prev.data, prev.len));

		tuplestore_putvalues(ts, desc, values, nulls);

		/* this row's hash is the next one's prev_hash */
		resetStringInfo(&prev);
		appendBinaryStringInfo(&prev, VARDATA_ANY(values[S_HASH]),
							   VARSIZE_ANY_EXHDR(values[S_HASH]));
		MemoryContextSwitchTo(old);
		prev_seq = seq;
		MemoryContextReset(rowcxt);
		n++;
	}

	feed_close(&f);
	nedb_end(&s);
	return (Datum) 0;
}

/*
 * nedb.export_bodies(since, max): (seq, hash, body) of the ops after seq
 * since, at most max (all when NULL): the canonical body each hash is
 * computed over, stored or rebuilt, with nothing to reformat on either side.
 */
Datum
nedb_export_bodies(PG_FUNCTION_ARGS)
{
	int64		since = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT64(0);
	bool		has_max = !PG_ARGISNULL(1);
	int64		max = has_max ? PG_GETARG_INT64(1) : 0;
	NedbSession s;
	TupleDesc	desc;
	Tuplestorestate *ts;
	FeedScan	f;
	MemoryContext rowcxt;
	StringInfoData body;
	int64		n = 0;

	if (has_max && max < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max must not be negative")));
	ts = nedb_srf_begin_in(fcinfo, &desc, Max(work_mem, SINCE_PAGE_KB), page_context(fcinfo));
	if (has_max && max == 0)
		return (Datum) 0;

	/* exported ops (a follower's) must survive a crash here */
	group_commit_durable();
	nedb_begin(&s);
	feed_open(&f, Max(since, -1));
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb export row",
								   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&body);
	while ((!has_max || n < max) && feed_next(&f))
	{
		MemoryContext old;
		NedbOp		op;
		const uint8 *h;
		char		hex[NEDB_HEX_LEN + 1];
		Datum		doc = (Datum) 0;
		bool		doc_null = true;
		Datum		d[3];
		bool		isnull[3] = {false, false, false};

		CHECK_FOR_INTERRUPTS();
		/* a put's version: the only doc a body is built from */
		if (!f.ops_slot->tts_isnull[O_OP] && text_is(f.ops_slot->tts_values[O_OP], "put") &&
			!feed_version(&f, DatumGetInt64(f.ops_slot->tts_values[O_SEQ]), &doc, &doc_null))
			doc_null = true;
		old = MemoryContextSwitchTo(rowcxt);
		op_from_values(f.ops_slot->tts_values, f.ops_slot->tts_isnull, doc, doc_null, &op, &h);
		/* what op_from_row gives export_aof: a version only for a put */
		if (strcmp(op.op, "put") != 0)
			op.doc = NULL;
		op_require_hash(op.seq, h);
		hash_to_hex(h, hex);
		resetStringInfo(&body);
		op_body(&body, &op);
		d[0] = Int64GetDatum(op.seq);
		d[1] = PointerGetDatum(cstring_to_text_with_len(hex, NEDB_HEX_LEN));
		d[2] = PointerGetDatum(cstring_to_text_with_len(body.data, body.len));
		tuplestore_putvalues(ts, desc, d, isnull);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
		n++;
	}
	feed_close(&f);
	nedb_end(&s);
	return (Datum) 0;
}
