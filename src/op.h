/*
 * op.h
 *	  One op of the chain: its fields, its canonical body and its hash.
 */
#ifndef NEDB_OP_H
#define NEDB_OP_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#define NEDB_HASH_LEN 32
#define NEDB_HEX_LEN 64
#define NEDB_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* longest coll, id, client, relation name or endpoint we accept, in bytes */
#define NEDB_MAX_NAME 1024

/*
 * An edge's frm, rel and "to" together (edges_live indexes all three: a
 * btree entry holds at most 2704 bytes); each is also at most NEDB_MAX_NAME.
 */
#define NEDB_MAX_EDGE 2048

/*
 * Largest nonce a live write may give: 2^53 - 1, the largest integer every
 * JSON client keeps exactly.  Automatic nonces go on above it (a client's
 * nonces cannot be exhausted by one write), and imported logs keep theirs.
 */
#define NEDB_MAX_NONCE ((INT64CONST(1) << 53) - 1)

typedef struct NedbOp
{
	int64		seq;
	double		ts;
	const char *client;
	int64		nonce;
	const char *op;				/* put, delete, link, unlink, put_file, ... */
	const char *coll;			/* put, delete */
	const char *id;				/* put, delete */
	Jsonb	   *doc;			/* put: the payload document */
	bool		doc_has_seq;	/* doc is a stored version: skip its _seq */
	const char *doc_canon;		/* put: doc's canonical JSON without _seq, if known */
	int			doc_canon_len;
	Jsonb	   *payload;		/* any other op: its payload */
	const char *idem;
	ArrayType  *caused_by;		/* bigint[] or NULL */
	const char *evidence;
	bool		has_confidence;
	double		confidence;
	const char *valid_from;
	const char *valid_to;
	const char *body;			/* exact canonical body when not rebuildable */
	const uint8 *hash;			/* its hash, when already computed and checked */
} NedbOp;

/*
 * An op read back from storage: the columns of PLAN_OP_ROW (ops joined to
 * the put's version).  *hash points at the stored 32 bytes (or NULL).
 */
extern void op_from_row(HeapTuple row, TupleDesc desc, NedbOp *op,
						const uint8 **hash);
extern void op_from_values(Datum *values, bool *nulls, Datum doc, bool doc_null,
						   NedbOp *op, const uint8 **hash);
/* a stored hash read back as NULL (not 32 bytes): the op is damaged (XX001) */
extern void op_require_hash(int64 seq, const uint8 *hash);

/* its canonical body: the stored one if any, else rebuilt */
extern void op_body(StringInfo out, const NedbOp *op);

/* canonical body of the op, rebuilt from its fields (ignores op->body) */
extern void op_build_body(StringInfo out, const NedbOp *op);

/* hash = BLAKE2b-256(prev_hex || body) */
extern void op_hash(const char *prev_hex, const char *body, size_t len,
					uint8 *out);
extern void hash_to_hex(const uint8 *hash, char *hex);
extern bool hex_to_hash(const char *hex, uint8 *hash);

/* the time now as the reference writes it: float epoch seconds */
extern double op_now(void);

#endif
