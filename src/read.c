/*
 * read.c
 *	  The read path: documents (now and AS OF a seq), relations, history,
 *	  seq and head.
 *
 * AS OF s is inclusive, as in the reference: the version a key had right
 * after op s.  A point read is one backward index probe on
 * versions (coll, id, seq_from) either way, so AS OF costs what HEAD does.
 * Reads use the caller's snapshot and never wait for writers.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "acl.h"
#include "chain.h"
#include "util.h"
#include "versions.h"

PG_FUNCTION_INFO_V1(nedb_get);
PG_FUNCTION_INFO_V1(nedb_neighbors);
PG_FUNCTION_INFO_V1(nedb_inbound);
PG_FUNCTION_INFO_V1(nedb_history);
PG_FUNCTION_INFO_V1(nedb_seq);
PG_FUNCTION_INFO_V1(nedb_head);

/*
 * nedb.get(coll, id, as_of): the document, or NULL.  At HEAD an expired
 * document reads as gone (nedb.sweep() logs its delete); AS OF shows history
 * as it was, expired or not.
 */
Datum
nedb_get(PG_FUNCTION_ARGS)
{
	NedbSession s;
	const char *coll;
	const char *id;
	bool		has_as_of = !PG_ARGISNULL(2);
	int64		as_of = has_as_of ? PG_GETARG_INT64(2) : 0;
	int64		seq;
	Jsonb	   *doc = NULL;
	Datum		res = (Datum) 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (has_as_of && as_of < 0)
		PG_RETURN_NULL();
	coll = text_to_cstring(PG_GETARG_TEXT_PP(0));
	id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	nedb_acl_require_collection(GetUserId(), coll, NEDB_READ);

	nedb_begin(&s);
	if (store_latest(coll, id, has_as_of, as_of, false, &seq, &doc) && doc != NULL &&
		(has_as_of || !doc_expired(doc, op_now())))
		res = nedb_copy_out(&s, doc);
	nedb_end(&s);
	if (res == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(res);
}

static Datum
edges_common(FunctionCallInfo fcinfo, bool outbound)
{
	NedbSession s;
	TupleDesc	desc;
	Tuplestorestate *ts;
	bool		has_as_of = !PG_ARGISNULL(2);
	Datum		v[3];
	uint64		n;
	Oid			role = GetUserId();

	ts = nedb_srf_begin(fcinfo, &desc);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	/* the node's edges are its collection's to read */
	nedb_acl_require_node(role, text_to_cstring(PG_GETARG_TEXT_PP(0)), NEDB_READ);
	v[0] = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	v[1] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	v[2] = has_as_of ? PG_GETARG_DATUM(2) : (Datum) 0;
	if (has_as_of && PG_GETARG_INT64(2) < 0)
		return (Datum) 0;

	nedb_begin(&s);
	n = nedb_exec(outbound ? (has_as_of ? PLAN_NEIGHBORS_AS_OF : PLAN_NEIGHBORS)
				  : (has_as_of ? PLAN_INBOUND_AS_OF : PLAN_INBOUND),
				  v, NULL, true, 0);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		d = nedb_col(i, 1, &isnull);

		CHECK_FOR_INTERRUPTS();
		/* an incoming edge is also its source's: shown only if that is readable */
		if (!outbound && !nedb_acl_node(role, TextDatumGetCString(d), NEDB_READ))
			continue;
		tuplestore_putvalues(ts, desc, &d, &isnull);
	}
	nedb_end(&s);
	return (Datum) 0;
}

/* nedb.neighbors(node, rel, as_of): outgoing endpoints in link order */
Datum
nedb_neighbors(PG_FUNCTION_ARGS)
{
	return edges_common(fcinfo, true);
}

/* nedb.inbound(node, rel, as_of): incoming endpoints in link order */
Datum
nedb_inbound(PG_FUNCTION_ARGS)
{
	return edges_common(fcinfo, false);
}

/* nedb.history(coll, id): every version, deletes as (seq, 'delete', NULL) */
Datum
nedb_history(PG_FUNCTION_ARGS)
{
	NedbSession s;
	TupleDesc	desc;
	Tuplestorestate *ts;
	Datum		v[2];
	uint64		n;

	ts = nedb_srf_begin(fcinfo, &desc);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	v[0] = PointerGetDatum(PG_GETARG_TEXT_PP(0));
	v[1] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	nedb_acl_require_collection(GetUserId(), text_to_cstring(PG_GETARG_TEXT_PP(0)), NEDB_READ);

	nedb_begin(&s);
	n = nedb_exec(PLAN_HISTORY, v, NULL, true, 0);
	for (uint64 i = 0; i < n; i++)
	{
		Datum		out[3];
		bool		nulls[3] = {false, false, false};
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		out[0] = nedb_col(i, 1, &isnull);
		out[2] = nedb_col(i, 2, &nulls[2]);
		out[1] = CStringGetTextDatum(nulls[2] ? "delete" : "put");
		tuplestore_putvalues(ts, desc, out, nulls);
	}
	nedb_end(&s);
	return (Datum) 0;
}

/* nedb.seq(): the last seq, -1 for an empty database */
Datum
nedb_seq(PG_FUNCTION_ARGS)
{
	NedbSession s;
	char		hex[NEDB_HEX_LEN + 1];
	int64		seq;

	nedb_begin(&s);
	seq = chain_read_head(hex);
	nedb_end(&s);
	PG_RETURN_INT64(seq);
}

/* nedb.head(): the hash of the last op, 64 zeros for an empty database */
Datum
nedb_head(PG_FUNCTION_ARGS)
{
	NedbSession s;
	char		hex[NEDB_HEX_LEN + 1];

	nedb_begin(&s);
	(void) chain_read_head(hex);
	nedb_end(&s);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
