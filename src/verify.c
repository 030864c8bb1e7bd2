/*
 * verify.c
 *	  Proving the chain: every op's hash recomputed from what is stored.
 *
 * The body of a put is rebuilt from its stored document version, so
 * verify() proves both the log and the documents that reads return: a
 * changed document, op field or hash is reported at its seq.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "canon.h"
#include "chain.h"
#include "op.h"

PG_FUNCTION_INFO_V1(nedb_verify_report);
PG_FUNCTION_INFO_V1(nedb_op_body);
PG_FUNCTION_INFO_V1(nedb_canonical);

#define OP_ROW_QUERY \
	"SELECT o.seq, o.hash, o.ts, o.client, o.nonce, o.op, o.coll, o.id, o.payload, o.idem," \
	"       o.caused_by, o.evidence, o.confidence, o.valid_from, o.valid_to, o.body, v.doc" \
	"  FROM nedb.ops o LEFT JOIN nedb.versions v ON o.op = 'put' AND v.seq_from = o.seq"

static const char *
col_text(HeapTuple row, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

void
op_from_row(HeapTuple row, TupleDesc desc, NedbOp *op, const uint8 **hash)
{
	bool		isnull;
	Datum		d;

	memset(op, 0, sizeof(NedbOp));
	op->seq = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
	d = SPI_getbinval(row, desc, 2, &isnull);
	*hash = NULL;
	if (!isnull)
	{
		bytea	   *h = DatumGetByteaPP(d);

		if (VARSIZE_ANY_EXHDR(h) == NEDB_HASH_LEN)
			*hash = (const uint8 *) VARDATA_ANY(h);
	}
	op->ts = DatumGetFloat8(SPI_getbinval(row, desc, 3, &isnull));
	op->client = col_text(row, desc, 4);
	op->nonce = DatumGetInt64(SPI_getbinval(row, desc, 5, &isnull));
	op->op = col_text(row, desc, 6);
	op->coll = col_text(row, desc, 7);
	op->id = col_text(row, desc, 8);
	d = SPI_getbinval(row, desc, 9, &isnull);
	op->payload = isnull ? NULL : DatumGetJsonbP(d);
	op->idem = col_text(row, desc, 10);
	d = SPI_getbinval(row, desc, 11, &isnull);
	op->caused_by = isnull ? NULL : DatumGetArrayTypeP(d);
	op->evidence = col_text(row, desc, 12);
	d = SPI_getbinval(row, desc, 13, &isnull);
	op->has_confidence = !isnull;
	op->confidence = isnull ? 0 : DatumGetFloat8(d);
	op->valid_from = col_text(row, desc, 14);
	op->valid_to = col_text(row, desc, 15);
	op->body = col_text(row, desc, 16);
	d = SPI_getbinval(row, desc, 17, &isnull);
	op->doc = isnull ? NULL : DatumGetJsonbP(d);
	op->doc_has_seq = true;
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
 * nedb.verify_report(): (ok, checked, first_bad_seq, detail).  Walks the
 * log in seq order from genesis and stops at the first op that is missing,
 * out of place, or whose hash does not match.
 */
Datum
nedb_verify_report(PG_FUNCTION_ARGS)
{
	NedbSession s;
	TupleDesc	tupdesc;
	Portal		portal;
	MemoryContext rowcxt;
	StringInfoData body;
	char		prev[NEDB_HEX_LEN + 1];
	int64		expect = 0;
	int64		bad = -1;
	char	   *detail = NULL;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	nedb_begin(&s);
	strcpy(prev, NEDB_GENESIS);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb verify row",
								   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&body);
	portal = SPI_cursor_open_with_args(NULL, OP_ROW_QUERY " ORDER BY o.seq",
									   0, NULL, NULL, NULL, true, CURSOR_OPT_NO_SCROLL);
	while (bad < 0)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed && bad < 0; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(rowcxt);
			NedbOp		op;
			const uint8 *stored;
			uint8		h[NEDB_HASH_LEN];

			CHECK_FOR_INTERRUPTS();
			op_from_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &op, &stored);
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
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
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
