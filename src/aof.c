/*
 * aof.c
 *	  Interchange with the reference: its AOF, one JSON op per line.
 *
 * Import checks every line (dense seq, prev_hash = our head, hash = the
 * hash of its canonical body, nonce rules, unique idem keys) and replays it
 * with its original seq, ts, client and nonce, all in one statement: any bad
 * line rolls everything back.  The body is canonicalized from the line's own
 * text, so Python's int/float spellings survive; where the stored rows cannot
 * reproduce a body exactly (jsonb reads 1e+16 as an int) the body is kept
 * beside the op.  Export writes lines the reference loads and verifies.
 *
 * A database the reference encrypted at rest has envelope lines,
 * {"enc":1,"ct":"<base64 of nonce ‖ ciphertext ‖ tag>"}, sealed under its
 * data key, which its key.enc wraps under the operator's master key
 * (src/at_rest.c).  Import opens them with the key.enc given and the master
 * key from nedb.tmk_file (plain lines may sit between them, as the
 * reference tolerates); export seals every line when given a key.enc.
 */
#include "postgres.h"

#include "common/base64.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "acl.h"
#include "aof.h"
#include "at_rest.h"
#include "canon.h"
#include "chain.h"
#include "group_commit.h"
#include "util.h"
#include "write.h"

PG_FUNCTION_INFO_V1(nedb_export_aof);
PG_FUNCTION_INFO_V1(nedb_import_aof);

static SPIPlanPtr export_plan = NULL;

/* the op body's keys in canonical order; the optional ones only when set */
static const struct
{
	const char *key;
	bool		optional;
}			body_keys[] = {
	{"caused_by", true}, {"client", false}, {"confidence", true}, {"evidence", true},
	{"idem", false}, {"nonce", false}, {"op", false}, {"payload", false},
	{"seq", false}, {"ts", false}, {"valid_from", true}, {"valid_to", true},
};

/* the reference's AOF field order */
static const char *const aof_keys[] = {
	"seq", "client", "nonce", "op", "payload", "ts", "idem", "prev_hash", "hash",
	"caused_by", "evidence", "confidence", "valid_from", "valid_to", NULL
};

static bool
is_set(CanonNode *n)
{
	return n != NULL && n->kind != CN_NULL;
}

/* ------------------------------------------------------------------------
 * Export
 * ------------------------------------------------------------------------ */

static void
aof_line(StringInfo out, CanonNode *body, const char *prev, const char *hash)
{
	bool		first = true;

	appendStringInfoChar(out, '{');
	for (int i = 0; aof_keys[i]; i++)
	{
		const char *k = aof_keys[i];
		CanonNode  *v = canon_member(body, k);

		if (strcmp(k, "prev_hash") != 0 && strcmp(k, "hash") != 0 && v == NULL)
			continue;
		if (!first)
			appendStringInfoString(out, ", ");
		first = false;
		canon_string(out, k, strlen(k));
		appendStringInfoString(out, ": ");
		if (strcmp(k, "prev_hash") == 0)
			canon_string(out, prev, NEDB_HEX_LEN);
		else if (strcmp(k, "hash") == 0)
			canon_string(out, hash, NEDB_HEX_LEN);
		else
			canon_node(out, v, true);
	}
	appendStringInfoChar(out, '}');
}

/* the data key a key.enc argument wraps under the master key */
static void
open_key_enc(text *key_enc, uint8 dek[AT_REST_KEY_LEN])
{
	uint8		kek[AT_REST_KEY_LEN];

	at_rest_kek(kek);
	PG_TRY();
	{
		at_rest_unwrap(kek, VARDATA_ANY(key_enc), VARSIZE_ANY_EXHDR(key_enc), "key.enc", dek);
	}
	PG_FINALLY();
	{
		explicit_bzero(kek, sizeof(kek));
	}
	PG_END_TRY();
}

/* a line replaced by its envelope, {"enc":1,"ct":"<base64>"}, as the reference writes it */
static void
seal_line(const uint8 dek[AT_REST_KEY_LEN], StringInfo line)
{
	StringInfoData blob;
	int			n;

	initStringInfo(&blob);
	at_rest_seal(dek, AT_REST_AAD_DATA, line->data, line->len, &blob);
	resetStringInfo(line);
	appendStringInfoString(line, "{\"enc\":1,\"ct\":\"");
	enlargeStringInfo(line, pg_b64_enc_len(blob.len) + 3);
	n = pg_b64_encode(blob.data, blob.len, line->data + line->len, pg_b64_enc_len(blob.len));
	if (n < 0)
		elog(ERROR, "nedb: could not encode an envelope in base64");
	line->len += n;
	appendStringInfoString(line, "\"}");
	pfree(blob.data);
}

/*
 * The line an envelope holds: its ct opened under the data key (NULL: no
 * key.enc was given).  Any fault names the line; nothing is imported.
 */
static CanonNode *
open_line(CanonNode *line, const uint8 *dek, int lineno)
{
	CanonNode  *enc = canon_member(line, "enc");
	CanonNode  *ct = canon_member(line, "ct");
	char	   *blob;
	int			n;
	StringInfoData plain;

	if (dek == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("AOF line %d is encrypted, and no key.enc was given", lineno),
				 errdetail("Nothing was imported."),
				 errhint("Pass the database's key.enc, nedb.import_aof(lines, key_enc => ...), with nedb.tmk_file naming the file of its master key.")));
	if (enc->kind != CN_INT || strcmp(enc->str, "1") != 0 || ct == NULL ||
		ct->kind != CN_STRING || line->n != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("AOF line %d is not an encryption envelope", lineno),
				 errdetail("An encrypted line is {\"enc\":1,\"ct\":\"<base64>\"} and nothing else. Nothing was imported.")));
	blob = palloc(pg_b64_dec_len(ct->len) + 1);
	n = pg_b64_decode(ct->str, ct->len, blob, pg_b64_dec_len(ct->len));
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the ciphertext of AOF line %d is not base64", lineno),
				 errdetail("Nothing was imported.")));
	if (n < AT_REST_NONCE_LEN + AT_REST_TAG_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the ciphertext of AOF line %d is truncated", lineno),
				 errdetail("It has %d bytes, fewer than a nonce and a tag (%d). Nothing was imported.",
						   n, AT_REST_NONCE_LEN + AT_REST_TAG_LEN)));
	initStringInfo(&plain);
	if (!at_rest_open(dek, AT_REST_AAD_DATA, blob, n, &plain))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the ciphertext of AOF line %d does not authenticate", lineno),
				 errdetail("A byte of its nonce, ciphertext or tag was changed, it was cut short, or it was sealed under another data key. Nothing was imported.")));
	pfree(blob);
	return canon_parse(plain.data, plain.len, "the decrypted line");
}

/*
 * nedb.export_aof(since, max [, key_enc]): one reference AOF line per op
 * after seq since, at most max of them (all when NULL), sealed under the
 * data key of key_enc when given
 */
Datum
nedb_export_aof(PG_FUNCTION_ARGS)
{
	int64		since = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT64(0);
	bool		has_max = PG_NARGS() > 1 && !PG_ARGISNULL(1);
	int64		max = has_max ? PG_GETARG_INT64(1) : 0;
	NedbSession s;
	TupleDesc	desc;
	Tuplestorestate *ts;
	Portal		portal;
	Datum		args[2];
	Oid			argtypes[2] = {INT8OID, INT8OID};
	char		nulls[2] = {' ', ' '};
	char		prev[NEDB_HEX_LEN + 1];
	MemoryContext rowcxt;

	bool		sealed = PG_NARGS() > 2 && !PG_ARGISNULL(2);
	uint8		dek[AT_REST_KEY_LEN];

	ts = nedb_srf_begin(fcinfo, &desc);
	if (since < -1)
		since = -1;
	if (sealed)
		open_key_enc(PG_GETARG_TEXT_PP(2), dek);
	if (has_max && max < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max must not be negative")));
	strcpy(prev, NEDB_GENESIS);

	/* exported ops (a follower's, a backup's) must survive a crash here */
	group_commit_durable();
	nedb_begin(&s);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb export row",
								   ALLOCSET_DEFAULT_SIZES);
	args[0] = Int64GetDatum(since);
	/* the op at since itself (if any) gives the first prev_hash: one row more */
	args[1] = Int64GetDatum(since >= 0 ? max + 1 : max);
	if (!has_max || max == PG_INT64_MAX)
		nulls[1] = 'n';
	/* prepared once per backend: followers ask for a batch many times a second */
	if (export_plan == NULL)
	{
		/* the doc as a subquery: no join to plan at each call */
		SPIPlanPtr	p = SPI_prepare_cursor("SELECT o.seq, o.hash, o.ts, o.client, o.nonce, o.op, o.coll, o.id,"
										   "       o.payload, o.idem, o.caused_by, o.evidence, o.confidence,"
										   "       o.valid_from, o.valid_to, o.body,"
										   "       (SELECT v.doc FROM nedb.versions v"
										   "         WHERE o.op = 'put' AND v.seq_from = o.seq)"
										   "  FROM nedb.ops o"
										   " WHERE o.seq >= $1 ORDER BY o.seq LIMIT $2",
										   2, argtypes, CURSOR_OPT_NO_SCROLL);

		if (p == NULL)
			elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		export_plan = p;
	}
	portal = SPI_cursor_open(NULL, export_plan, args, nulls, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(rowcxt);
			NedbOp		op;
			const uint8 *h;
			char		hex[NEDB_HEX_LEN + 1];

			CHECK_FOR_INTERRUPTS();
			op_from_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &op, &h);
			op_require_hash(op.seq, h);
			hash_to_hex(h, hex);
			if (op.seq > since)
			{
				StringInfoData body;
				StringInfoData line;
				Datum		d;
				bool		isnull = false;

				initStringInfo(&body);
				op_body(&body, &op);
				initStringInfo(&line);
				aof_line(&line, canon_parse(body.data, body.len, "an op body"), prev, hex);
				if (sealed)
					seal_line(dek, &line);
				d = CStringGetTextDatum(line.data);
				tuplestore_putvalues(ts, desc, &d, &isnull);
			}
			strcpy(prev, hex);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	nedb_end(&s);
	explicit_bzero(dek, sizeof(dek));
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * Import
 * ------------------------------------------------------------------------ */

static void
aof_error_context(void *arg)
{
	errcontext("AOF line %d", *(int *) arg);
}

static void
bad_line(const char *fmt, const char *arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg(fmt, arg),
			 errdetail("Nothing was imported.")));
}

static const char *
node_str(CanonNode *obj, const char *k, bool required)
{
	CanonNode  *n = canon_member(obj, k);

	if (!is_set(n))
	{
		if (required)
			bad_line("field \"%s\" is missing", k);
		return NULL;
	}
	if (n->kind != CN_STRING)
		bad_line("field \"%s\" must be a string", k);
	if (strlen(n->str) != n->len)
		bad_line("field \"%s\" contains a NUL character", k);
	return n->str;
}

/* a name that lands in a btree index: at most NEDB_MAX_NAME bytes */
static const char *
node_name(CanonNode *obj, const char *k, bool required)
{
	const char *s = node_str(obj, k, required);

	if (s && strlen(s) > NEDB_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("field \"%s\" is %zu bytes long, more than the limit of %d",
						k, strlen(s), NEDB_MAX_NAME),
				 errdetail("Nothing was imported.")));
	return s;
}

static int64
node_int(CanonNode *obj, const char *k)
{
	CanonNode  *n = canon_member(obj, k);
	char	   *end;
	int64		v;

	if (!is_set(n) || n->kind != CN_INT)
		bad_line("field \"%s\" must be an integer", k);
	errno = 0;
	v = strtoi64(n->str, &end, 10);
	if (errno != 0 || *end != '\0')
		bad_line("field \"%s\" is out of range", k);
	return v;
}

static double
node_float(CanonNode *n, const char *k)
{
	if (n->kind != CN_INT && n->kind != CN_FLOAT)
		bad_line("field \"%s\" must be a number", k);
	return strtod(n->str, NULL);
}

/* the canonical body of a parsed AOF line */
static void
line_body(StringInfo out, CanonNode *line)
{
	bool		first = true;

	appendStringInfoChar(out, '{');
	for (int i = 0; i < lengthof(body_keys); i++)
	{
		CanonNode  *v = canon_member(line, body_keys[i].key);

		if (body_keys[i].optional && !is_set(v))
			continue;
		if (!first)
			appendStringInfoChar(out, ',');
		first = false;
		canon_string(out, body_keys[i].key, strlen(body_keys[i].key));
		appendStringInfoChar(out, ':');
		if (v)
			canon_node(out, v, false);
		else
			appendStringInfoString(out, "null");
	}
	appendStringInfoChar(out, '}');
}

static ArrayType *
node_seq_list(CanonNode *n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n->n, 1));

	if (n->kind != CN_ARRAY)
		bad_line("field \"%s\" must be a list of seqs", "caused_by");
	for (int i = 0; i < n->n; i++)
	{
		char	   *end;

		if (n->items[i]->kind != CN_INT)
			bad_line("field \"%s\" must be a list of seqs", "caused_by");
		errno = 0;
		elems[i] = Int64GetDatum(strtoi64(n->items[i]->str, &end, 10));
		if (errno != 0)
			bad_line("field \"%s\" is out of range", "caused_by");
	}
	return construct_array(elems, n->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * A line that does not continue the chain: in an imported file (lineno > 0)
 * that is bad input, 22023 like every other bad line, named by its line;
 * from a primary (replication) it is a damaged or diverged log, XX001.
 */
#define chain_errcode(lineno) \
	((lineno) > 0 ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_DATA_CORRUPTED)
#define line_prefix(lineno) \
	((lineno) > 0 ? psprintf("AOF line %d: ", (lineno)) : "")

static void import_fields(CanonNode *line, const char *body, int body_len,
						  const uint8 *hash, double *ts, bool check_canonical);

static void
import_line(CanonNode *line, double *ts, int lineno)
{
	StringInfoData body;
	NedbOp		op = {0};
	const char *hash;
	const char *prev;
	uint8		want[NEDB_HASH_LEN];
	uint8		got[NEDB_HASH_LEN];

	if (line->kind != CN_OBJECT)
		bad_line("%s", "an AOF line must be a JSON object");
	/* (nedb_import_aof opens envelopes; one inside another, or in a feed, is refused) */
	if (canon_member(line, "enc") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%san encrypted line is not an op", line_prefix(lineno)),
				 errdetail("Nothing was imported.")));

	/* its place in the chain */
	op.seq = node_int(line, "seq");
	if (op.seq != chain_next_seq())
		ereport(ERROR,
				(errcode(chain_errcode(lineno)),
				 errmsg("%sseq " INT64_FORMAT " does not follow the head (expected seq " INT64_FORMAT ")",
						line_prefix(lineno), op.seq, chain_next_seq()),
				 errdetail("Nothing was imported."),
				 lineno > 0 ? errhint("Import a log from its first line into an empty database, or only the lines after seq " INT64_FORMAT ", in order.",
									  chain_next_seq() - 1) : 0));
	prev = node_str(line, "prev_hash", true);
	if (strcmp(prev, chain_head_hex()) != 0)
		ereport(ERROR,
				(errcode(chain_errcode(lineno)),
				 errmsg("%sprev_hash of seq " INT64_FORMAT " does not match the head",
						line_prefix(lineno), op.seq),
				 errdetail("The line has %s, the head is %s. Nothing was imported.",
						   prev, chain_head_hex())));
	hash = node_str(line, "hash", true);
	if (!hex_to_hash(hash, want))
		bad_line("hash \"%s\" is not 64 lowercase hex characters", hash);
	initStringInfo(&body);
	line_body(&body, line);
	op_hash(prev, body.data, body.len, got);
	if (memcmp(got, want, NEDB_HASH_LEN) != 0)
	{
		char		hex[NEDB_HEX_LEN + 1];

		hash_to_hex(got, hex);
		ereport(ERROR,
				(errcode(chain_errcode(lineno)),
				 errmsg("%shash mismatch at seq " INT64_FORMAT, line_prefix(lineno), op.seq),
				 errdetail("The line says %s, its content hashes to %s. Nothing was imported.",
						   hash, hex)));
	}
	import_fields(line, body.data, body.len, got, ts, false);
}

/*
 * Append the op whose canonical body (its text: body) was parsed as line
 * and whose hash, checked against the head, is hash.  check_canonical: the
 * body came as text (not printed from line here), and must be exactly what
 * line prints as canonically: one spelling per op.
 */
static void
import_fields(CanonNode *line, const char *body, int body_len, const uint8 *hash,
			  double *ts, bool check_canonical)
{
	StringInfoData rebuilt;
	NedbOp		op = {0};
	CanonNode  *payload;
	CanonNode  *n;
	Jsonb	   *stored = NULL;
	bool		is_put;
	bool		is_del;
	uint8		got[NEDB_HASH_LEN];

	memcpy(got, hash, NEDB_HASH_LEN);
	op.seq = chain_next_seq();

	/* the op's fields */
	op.client = node_name(line, "client", true);
	op.nonce = node_int(line, "nonce");
	op.op = node_str(line, "op", true);
	n = canon_member(line, "ts");
	if (n == NULL)
		bad_line("field \"%s\" is missing", "ts");
	op.ts = node_float(n, "ts");
	op.idem = node_name(line, "idem", false);
	n = canon_member(line, "caused_by");
	if (is_set(n))
		op.caused_by = node_seq_list(n);
	op.evidence = node_str(line, "evidence", false);
	n = canon_member(line, "confidence");
	if (is_set(n))
	{
		op.has_confidence = true;
		op.confidence = node_float(n, "confidence");
	}
	op.valid_from = node_str(line, "valid_from", false);
	op.valid_to = node_str(line, "valid_to", false);

	payload = canon_member(line, "payload");
	if (payload == NULL || payload->kind != CN_OBJECT)
		bad_line("field \"%s\" must be a JSON object", "payload");
	is_put = strcmp(op.op, "put") == 0;
	is_del = strcmp(op.op, "delete") == 0;
	if (is_put || is_del)
	{
		op.coll = node_name(payload, "coll", true);
		op.id = node_name(payload, "id", true);
		if (is_put)
		{
			n = canon_member(payload, "doc");
			if (n == NULL || n->kind != CN_OBJECT)
				bad_line("the payload of a put needs a JSON object \"%s\"", "doc");
			/* the stored version: the doc with _seq, built once */
			stored = canon_object_to_jsonb_with(n, "_seq", op.seq);
			op.doc = stored;
			op.doc_has_seq = true;
		}
	}
	else
		op.payload = canon_node_to_jsonb(payload);
	if (strcmp(op.op, "link") == 0 || strcmp(op.op, "unlink") == 0)
	{
		nedb_check_edge(node_name(payload, "frm", true), node_name(payload, "rel", true),
						node_name(payload, "to", true));
	}

	/* keep the exact body where the stored rows cannot rebuild it */
	initStringInfo(&rebuilt);
	op_build_body(&rebuilt, &op);
	if (rebuilt.len != body_len || memcmp(rebuilt.data, body, body_len) != 0)
	{
		/* (the rebuilt body is canonical: only one kept needs the check) */
		if (check_canonical)
		{
			StringInfoData canon;

			initStringInfo(&canon);
			line_body(&canon, line);
			if (canon.len != body_len || memcmp(canon.data, body, body_len) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the body of seq " INT64_FORMAT " is not canonical", op.seq),
						 errdetail("Nothing was imported.")));
		}
		op.body = body;
	}

	if (op.idem && chain_idem_seq(op.idem) >= 0)
		bad_line("idempotency key \"%s\" is used twice", op.idem);
	chain_take_replayed_nonce(op.client, op.nonce);
	/* the hash of prev (the head) and this body, checked above */
	op.hash = got;
	chain_append(&op);

	if (is_put)
		version_put(op.seq, op.coll, op.id, stored);
	else if (is_del)
		version_put(op.seq, op.coll, op.id, NULL);
	else if (strcmp(op.op, "link") == 0 || strcmp(op.op, "unlink") == 0)
		edge_put(strcmp(op.op, "link") == 0, op.seq,
				 node_str(payload, "frm", true), node_str(payload, "rel", true),
				 node_str(payload, "to", true));
	/* put_file and checkpoint ops carry no state we can rebuild */
	*ts = op.ts;
}

/*
 * Check one AOF line against the chain (its seq follows the head, its
 * prev_hash is the head, its hash is its body's) and append it with its
 * original seq, ts, client, nonce and hash.  Needs a storage session and the
 * chain lock.  Returns the op's seq; *ts gets its ts.
 */
static int64
apply_line(const char *line, int len, double *ts, int lineno)
{
	int64		seq = chain_next_seq();

	import_line(canon_parse(line, len, "the line"), ts, lineno);
	return seq;
}

int64
aof_apply_line(const char *line, int len, double *ts)
{
	return apply_line(line, len, ts, 0);
}

/*
 * The same for an op as nedb.export_bodies gives it (replication): its
 * canonical body must be exactly canonical (what its fields print as), follow
 * the head (seq) and hash with the head to hash_hex.  Returns
 * the op's seq; *ts gets its ts.  Errors: XX001 for a body that is not the
 * next op of this chain, 22023 for one that is not an op at all.
 */
int64
aof_apply_body(const char *body, int len, const char *hash_hex, double *ts)
{
	CanonNode  *node = canon_parse(body, len, "the op's body");
	int64		seq;
	uint8		want[NEDB_HASH_LEN];
	uint8		got[NEDB_HASH_LEN];

	if (node->kind != CN_OBJECT)
		bad_line("%s", "an op body must be a JSON object");
	seq = node_int(node, "seq");
	if (seq != chain_next_seq())
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("seq " INT64_FORMAT " does not follow the head (expected seq " INT64_FORMAT ")",
						seq, chain_next_seq()),
				 errdetail("Nothing was imported.")));
	if (!hex_to_hash(hash_hex, want))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the hash of seq " INT64_FORMAT " is not 64 lowercase hex characters", seq),
				 errdetail("Nothing was imported.")));
	op_hash(chain_head_hex(), body, len, got);
	if (memcmp(got, want, NEDB_HASH_LEN) != 0)
	{
		char		hex[NEDB_HEX_LEN + 1];

		hash_to_hex(got, hex);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("hash mismatch at seq " INT64_FORMAT, seq),
				 errdetail("The primary says %s, its body after our head hashes to %s. Nothing was imported.",
						   hash_hex, hex)));
	}
	import_fields(node, body, len, got, ts, true);
	return seq;
}

/* nedb.import_aof(lines [, key_enc]): replay reference AOF lines; returns the count */
Datum
nedb_import_aof(PG_FUNCTION_ARGS)
{
	text	   *t;
	char	   *data;
	char	   *p;
	char	   *end;
	int			lineno = 0;
	int64		count = 0;
	NedbSession s;
	ErrorContextCallback ctx;
	MemoryContext linecxt;
	bool		keyed = PG_NARGS() > 1 && !PG_ARGISNULL(1);
	uint8		dek[AT_REST_KEY_LEN];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("nedb.import_aof needs the AOF text")));
	t = PG_GETARG_TEXT_PP(0);
	data = VARDATA_ANY(t);
	end = data + VARSIZE_ANY_EXHDR(t);
	/* a log writes every collection, as any client */
	nedb_acl_require_collection(GetUserId(), NULL, NEDB_WRITE);
	nedb_acl_require_files(GetUserId(), NEDB_WRITE);
	if (keyed)
		open_key_enc(PG_GETARG_TEXT_PP(1), dek);

	nedb_begin(&s);
	chain_lock();
	linecxt = AllocSetContextCreate(CurrentMemoryContext, "nedb import line",
									ALLOCSET_DEFAULT_SIZES);
	ctx.callback = aof_error_context;
	ctx.arg = &lineno;
	ctx.previous = error_context_stack;
	error_context_stack = &ctx;

	for (p = data; p < end;)
	{
		char	   *nl = memchr(p, '\n', end - p);
		char	   *stop = nl ? nl : end;
		int			len;
		MemoryContext old;

		lineno++;
		CHECK_FOR_INTERRUPTS();
		len = stop - p;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0)
		{
			double		ts;

			CanonNode  *node;

			old = MemoryContextSwitchTo(linecxt);
			node = canon_parse(p, len, "the line");
			if (node->kind == CN_OBJECT && canon_member(node, "enc") != NULL)
				node = open_line(node, keyed ? dek : NULL, lineno);
			import_line(node, &ts, lineno);
			MemoryContextSwitchTo(old);
			MemoryContextReset(linecxt);
			count++;
		}
		p = stop + 1;
	}

	error_context_stack = ctx.previous;
	nedb_end(&s);
	explicit_bzero(dek, sizeof(dek));
	PG_RETURN_INT64(count);
}
