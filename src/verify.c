/*
 * verify.c
 *	  Proving the chain: every op's hash recomputed from what is stored.
 *
 * The body of a put is rebuilt from its stored document version, so
 * verify() proves both the log and the documents that reads return: a
 * changed document, op field or hash is reported at its seq.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "utils/fmgroids.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "acl.h"
#include "canon.h"
#include "chain.h"
#include "op.h"

PG_FUNCTION_INFO_V1(nedb_verify_report);
PG_FUNCTION_INFO_V1(nedb_op_body);
PG_FUNCTION_INFO_V1(nedb_canonical);

static const char *
val_text(Datum *v, bool *n, int i)
{
	return n[i] ? NULL : TextDatumGetCString(v[i]);
}

/*
 * An op from the 16 columns of nedb.ops (in table order) and the put's
 * stored document (or NULL).
 */
void
op_from_values(Datum *v, bool *n, Datum doc, bool doc_null, NedbOp *op,
			   const uint8 **hash)
{
	memset(op, 0, sizeof(NedbOp));
	op->seq = DatumGetInt64(v[0]);
	*hash = NULL;
	if (!n[1])
	{
		bytea	   *h = DatumGetByteaPP(v[1]);

		if (VARSIZE_ANY_EXHDR(h) == NEDB_HASH_LEN)
			*hash = (const uint8 *) VARDATA_ANY(h);
	}
	op->ts = DatumGetFloat8(v[2]);
	op->client = val_text(v, n, 3);
	op->nonce = DatumGetInt64(v[4]);
	op->op = val_text(v, n, 5);
	op->coll = val_text(v, n, 6);
	op->id = val_text(v, n, 7);
	op->payload = n[8] ? NULL : DatumGetJsonbP(v[8]);
	op->idem = val_text(v, n, 9);
	op->caused_by = n[10] ? NULL : DatumGetArrayTypeP(v[10]);
	op->evidence = val_text(v, n, 11);
	op->has_confidence = !n[12];
	op->confidence = n[12] ? 0 : DatumGetFloat8(v[12]);
	op->valid_from = val_text(v, n, 13);
	op->valid_to = val_text(v, n, 14);
	op->body = val_text(v, n, 15);
	op->doc = doc_null ? NULL : DatumGetJsonbP(doc);
	op->doc_has_seq = true;
}

/* the same from a row of PLAN_OP_ROW: the 16 columns, then the doc */
void
op_from_row(HeapTuple row, TupleDesc desc, NedbOp *op, const uint8 **hash)
{
	Datum		v[17];
	bool		n[17];

	heap_deform_tuple(row, desc, v, n);
	op_from_values(v, n, v[16], n[16], op, hash);
}

void
op_body(StringInfo out, const NedbOp *op)
{
	if (op->body)
		appendStringInfoString(out, op->body);
	else
		op_build_body(out, op);
}

/*
 * The next op in seq order: from the sequential heap scan while it delivers
 * seq `expect`, else from the primary key starting at `expect`.
 */
static bool
next_op(TableScanDesc *heap, IndexScanDesc *index, Relation ops, Relation ops_pk,
		Snapshot snap, TupleTableSlot *slot, int64 expect)
{
	if (*heap)
	{
		if (table_scan_getnextslot(*heap, ForwardScanDirection, slot))
		{
			bool		isnull;

			if (DatumGetInt64(slot_getattr(slot, 1, &isnull)) == expect)
				return true;
		}
		else
		{
			/* the heap is done: the index confirms nothing is left out */
		}
		table_endscan(*heap);
		*heap = NULL;
	}
	if (*index == NULL)
	{
		ScanKeyData sk;

		ScanKeyInit(&sk, 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(expect));
		*index = index_beginscan(ops, ops_pk, snap, 1, 0);
		index_rescan(*index, &sk, 1, NULL, 0);
	}
	return index_getnext_slot(*index, ForwardScanDirection, slot);
}

/*
 * nedb.verify_report(): (ok, checked, first_bad_seq, detail).  Walks the
 * log in seq order from genesis and stops at the first op that is missing,
 * out of place, or whose hash does not match.  The log and the versions are
 * read with two ordered scans of their primary keys, merged here.
 */
Datum
nedb_verify_report(PG_FUNCTION_ARGS)
{
	NedbSession s;
	TupleDesc	tupdesc;
	MemoryContext rowcxt;
	StringInfoData body;
	char		prev[NEDB_HEX_LEN + 1];
	int64		expect = 0;
	int64		bad = -1;
	char	   *detail = NULL;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Oid			nsp;
	Relation	ops;
	Relation	ops_pk;
	Relation	ver;
	Relation	ver_pk;
	TableScanDesc ops_heap;
	IndexScanDesc ops_scan = NULL;
	IndexScanDesc ver_scan;
	TupleTableSlot *ops_slot;
	TupleTableSlot *ver_slot;
	Snapshot	snap = GetActiveSnapshot();
	bool		ver_more;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	nedb_begin(&s);
	nsp = get_namespace_oid("nedb", false);
	ops = table_open(get_relname_relid("ops", nsp), AccessShareLock);
	ops_pk = index_open(get_relname_relid("ops_pkey", nsp), AccessShareLock);
	ver = table_open(get_relname_relid("versions", nsp), AccessShareLock);
	ver_pk = index_open(get_relname_relid("versions_pkey", nsp), AccessShareLock);
	/*
	 * Ops are appended in seq order and never updated, so the heap is
	 * normally in seq order: read it sequentially, and should an op turn
	 * up out of place, go on from the expected seq through the primary key.
	 */
	ops_heap = table_beginscan_strat(ops, snap, 0, NULL, true, false);
	ver_scan = index_beginscan(ver, ver_pk, snap, 0, 0);
	index_rescan(ver_scan, NULL, 0, NULL, 0);
	ops_slot = table_slot_create(ops, NULL);
	ver_slot = table_slot_create(ver, NULL);
	ver_more = index_getnext_slot(ver_scan, ForwardScanDirection, ver_slot);

	strcpy(prev, NEDB_GENESIS);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb verify row",
								   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&body);
	while (bad < 0 && next_op(&ops_heap, &ops_scan, ops, ops_pk, snap, ops_slot, expect))
	{
		MemoryContext old;
		NedbOp		op;
		const uint8 *stored;
		uint8		h[NEDB_HASH_LEN];
		Datum		doc = (Datum) 0;
		bool		doc_null = true;
		bool		isnull;
		int64		seq;

		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(ops_slot);
		seq = DatumGetInt64(ops_slot->tts_values[0]);

		/*
		 * The version this op wrote, if any.  Scans advance outside rowcxt:
		 * they allocate state (btree's killed items) that must outlive a row.
		 */
		while (ver_more && DatumGetInt64(slot_getattr(ver_slot, 1, &isnull)) < seq)
			ver_more = index_getnext_slot(ver_scan, ForwardScanDirection, ver_slot);
		if (ver_more && DatumGetInt64(slot_getattr(ver_slot, 1, &isnull)) == seq)
			doc = slot_getattr(ver_slot, 5, &doc_null);

		old = MemoryContextSwitchTo(rowcxt);

		op_from_values(ops_slot->tts_values, ops_slot->tts_isnull, doc, doc_null, &op, &stored);
		if (op.seq != expect)
		{
			bad = expect;
			detail = psprintf("seq gap: expected seq " INT64_FORMAT ", found " INT64_FORMAT,
							  expect, op.seq);
		}
		else if (stored == NULL)
		{
			bad = op.seq;
			detail = psprintf("the stored hash of seq " INT64_FORMAT " is not %d bytes",
							  op.seq, NEDB_HASH_LEN);
		}
		else if (strcmp(op.op, "put") == 0 && op.doc == NULL && op.body == NULL)
		{
			bad = op.seq;
			detail = psprintf("the document version written by the put at seq " INT64_FORMAT " is missing",
							  op.seq);
		}
		else
		{
			resetStringInfo(&body);
			op_body(&body, &op);
			op_hash(prev, body.data, body.len, h);
			if (memcmp(h, stored, NEDB_HASH_LEN) != 0)
			{
				char		want[NEDB_HEX_LEN + 1];
				char		got[NEDB_HEX_LEN + 1];

				hash_to_hex(h, want);
				hash_to_hex(stored, got);
				bad = op.seq;
				detail = psprintf("hash mismatch at seq " INT64_FORMAT ": stored %s, computed %s",
								  op.seq, got, want);
			}
			else
			{
				hash_to_hex(stored, prev);
				expect++;
			}
		}
		MemoryContextSwitchTo(old);
		if (bad >= 0)
			detail = MemoryContextStrdup(s.caller_cxt, detail);
		MemoryContextReset(rowcxt);
	}

	ExecDropSingleTupleTableSlot(ops_slot);
	ExecDropSingleTupleTableSlot(ver_slot);
	if (ops_heap)
		table_endscan(ops_heap);
	if (ops_scan)
		index_endscan(ops_scan);
	index_endscan(ver_scan);
	index_close(ops_pk, AccessShareLock);
	index_close(ver_pk, AccessShareLock);
	table_close(ops, AccessShareLock);
	table_close(ver, AccessShareLock);
	nedb_end(&s);

	values[0] = BoolGetDatum(bad < 0);
	values[1] = Int64GetDatum(expect);
	if (bad >= 0)
	{
		values[2] = Int64GetDatum(bad);
		values[3] = CStringGetTextDatum(detail);
	}
	else
	{
		nulls[2] = true;
		nulls[3] = true;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* nedb.op_body(seq): the canonical body of one op, exactly as hashed */
Datum
nedb_op_body(PG_FUNCTION_ARGS)
{
	NedbSession s;
	Datum		arg = PG_GETARG_DATUM(0);
	StringInfoData body;
	text	   *res = NULL;

	nedb_begin(&s);
	if (nedb_exec(PLAN_OP_ROW, &arg, NULL, true, 1) > 0)
	{
		NedbOp		op;
		const uint8 *h;

		op_from_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &op, &h);
		nedb_acl_require_op(s.save_userid, &op);
		initStringInfo(&body);
		op_body(&body, &op);
		res = (text *) SPI_palloc(VARHDRSZ + body.len);
		SET_VARSIZE(res, VARHDRSZ + body.len);
		memcpy(VARDATA(res), body.data, body.len);
	}
	nedb_end(&s);
	if (res == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(res);
}

/* nedb.canonical(jsonb): the reference's canonical JSON of a value */
Datum
nedb_canonical(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	initStringInfo(&out);
	canon_jsonb(&out, PG_GETARG_JSONB_P(0), false, false);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
