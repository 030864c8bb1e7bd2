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
#include "verify.h"

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
op_require_hash(int64 seq, const uint8 *hash)
{
	if (hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the stored hash of seq " INT64_FORMAT " is not %d bytes",
						seq, NEDB_HASH_LEN)));
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
 * nedb.verify_report(): (ok, checked, first_bad_seq, detail).  Checks the
 * log in seq order from genesis up to the first op that is missing, out of
 * place, or whose hash does not match (verify_parallel.c shares the ranges
 * out among parallel workers; the report is the same however many).
 */
Datum
nedb_verify_report(PG_FUNCTION_ARGS)
{
	NedbSession s;
	TupleDesc	tupdesc;
	VerifyShared res;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	nedb_begin(&s);
	verify_chain(&res);
	nedb_end(&s);

	values[0] = BoolGetDatum(res.bad == PG_INT64_MAX);
	if (res.bad == PG_INT64_MAX)
	{
		values[1] = Int64GetDatum(res.nops);
		nulls[2] = true;
		nulls[3] = true;
	}
	else
	{
		/* the ops before the bad one were checked */
		values[1] = Int64GetDatum(res.bad);
		values[2] = Int64GetDatum(res.bad);
		values[3] = CStringGetTextDatum(res.detail);
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
