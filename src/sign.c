/*
 * sign.c
 *	  Signed digests (README: Signed digests): the log's digest signed with
 *	  Ed25519 by a key read from a file outside the database.
 *
 * The key file (nedb.signing_key_file, superuser only) holds the 32-byte
 * Ed25519 seed as 64 hex digits, and must be readable by its owner alone,
 * as Postgres asks of ssl_key_file.  The signed message is the digest's
 * fields, one per line, so any verifier can rebuild it:
 *
 *	  nedb-digest-v1\n<tree_size>\n<root hex>\n<head hex>\n<ts>\n
 *
 * tree_size is seq + 1 (the ops the tree holds), ts is UTC as
 * YYYY-MM-DDTHH:MM:SS.ffffffZ, key_id is the first 8 bytes of
 * BLAKE2b-256(public key) in hex.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "keyfile.h"
#include "session.h"
#include "sign.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_sign_digest);
PG_FUNCTION_INFO_V1(nedb_signing_key);
PG_FUNCTION_INFO_V1(nedb_verify_digest);

char	   *nedb_signing_key_file = NULL;

#define KEY_ID_LEN 8

void
nedb_sign_init(void)
{
	DefineCustomStringVariable("nedb.signing_key_file",
							   "File with the Ed25519 seed (64 hex digits) that signs digests.",
							   "Empty: no signing.  The file must be readable by its owner alone.",
							   &nedb_signing_key_file, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

/* the key pair from the key file; errors name what is wrong with it */
static void
load_key(uint8 pk[crypto_sign_PUBLICKEYBYTES], uint8 sk[crypto_sign_SECRETKEYBYTES])
{
	char		buf[256];
	size_t		len;
	uint8		seed[crypto_sign_SEEDBYTES];
	bool		ok;

	len = keyfile_read(nedb_signing_key_file, "nedb.signing_key_file", "signing key",
					   buf, sizeof(buf));
	ok = hex_to_bytes(buf, len, seed, sizeof(seed));
	sodium_memzero(buf, sizeof(buf));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("signing key file \"%s\" does not hold an Ed25519 seed", nedb_signing_key_file),
				 errdetail("It must hold exactly 64 hex digits (32 bytes), nothing else but white space.")));
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
}

static char *
key_id(const uint8 *pk)
{
	uint8		h[crypto_generichash_BYTES];

	crypto_generichash(h, sizeof(h), pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
	return bytes_to_hex(h, KEY_ID_LEN);
}

static char *
digest_message(int64 tree_size, const char *root, const char *head, const char *ts)
{
	return psprintf("nedb-digest-v1\n" INT64_FORMAT "\n%s\n%s\n%s\n",
					tree_size, root, head, ts);
}

/* nedb.sign_digest() returns jsonb */
Datum
nedb_sign_digest(PG_FUNCTION_ARGS)
{
	uint8		pk[crypto_sign_PUBLICKEYBYTES];
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	uint8		sig[crypto_sign_BYTES];
	NedbSession s;
	int64		seq;
	char	   *head,
			   *root,
			   *ts,
			   *msg;
	bool		isnull;
	JsonbParseState *st = NULL;

	load_key(pk, sk);
	nedb_begin(&s);
	if (SPI_execute("SELECT d.seq, d.head, d.root,"
					" pg_catalog.to_char(pg_catalog.timezone('UTC', pg_catalog.statement_timestamp()),"
					"                    'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
					" FROM nedb.digest() d", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "nedb: could not read the digest");
	seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	{
		MemoryContext old = MemoryContextSwitchTo(s.caller_cxt);

		head = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		root = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
		ts = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);
		MemoryContextSwitchTo(old);
	}
	nedb_end(&s);

	msg = digest_message(seq + 1, root, head, ts);
	crypto_sign_detached(sig, NULL, (const unsigned char *) msg, strlen(msg), sk);
	sodium_memzero(sk, sizeof(sk));

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_int(&st, "v", 1);
	nedb_push_string(&st, "alg", "ed25519");
	nedb_push_int(&st, "tree_size", seq + 1);
	nedb_push_string(&st, "root", root);
	nedb_push_string(&st, "head", head);
	nedb_push_string(&st, "ts", ts);
	nedb_push_string(&st, "key_id", key_id(pk));
	nedb_push_string(&st, "signature", bytes_to_hex(sig, sizeof(sig)));
	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
}

/* nedb.signing_key(OUT key_id text, OUT public_key text) */
Datum
nedb_signing_key(PG_FUNCTION_ARGS)
{
	uint8		pk[crypto_sign_PUBLICKEYBYTES];
	uint8		sk[crypto_sign_SECRETKEYBYTES];
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "nedb.signing_key must return a record");
	load_key(pk, sk);
	sodium_memzero(sk, sizeof(sk));
	values[0] = CStringGetTextDatum(key_id(pk));
	values[1] = CStringGetTextDatum(bytes_to_hex(pk, sizeof(pk)));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* a member of a digest as text (a string, or a number's digits), or NULL */
static char *
member(Jsonb *d, const char *key, enum jbvType type)
{
	JsonbValue	k,
			   *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&d->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != type)
		return NULL;
	if (type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * nedb.verify_digest(digest jsonb, public_key text) returns boolean: pure;
 * anything malformed is simply not a valid digest.
 */
Datum
nedb_verify_digest(PG_FUNCTION_ARGS)
{
	Jsonb	   *d = PG_GETARG_JSONB_P(0);
	char	   *pkhex = text_to_cstring(PG_GETARG_TEXT_PP(1));
	uint8		pk[crypto_sign_PUBLICKEYBYTES];
	uint8		sig[crypto_sign_BYTES];
	char	   *v,
			   *alg,
			   *size,
			   *root,
			   *head,
			   *ts,
			   *kid,
			   *sighex,
			   *end;
	int64		tree_size;
	char	   *msg;

	if (!JB_ROOT_IS_OBJECT(d))
		PG_RETURN_BOOL(false);
	v = member(d, "v", jbvNumeric);
	alg = member(d, "alg", jbvString);
	size = member(d, "tree_size", jbvNumeric);
	root = member(d, "root", jbvString);
	head = member(d, "head", jbvString);
	ts = member(d, "ts", jbvString);
	kid = member(d, "key_id", jbvString);
	sighex = member(d, "signature", jbvString);
	if (!v || strcmp(v, "1") != 0 || !alg || strcmp(alg, "ed25519") != 0 ||
		!size || !root || !head || !ts || !kid || !sighex)
		PG_RETURN_BOOL(false);
	if (!hex_to_bytes(pkhex, strlen(pkhex), pk, sizeof(pk)) ||
		!hex_to_bytes(sighex, strlen(sighex), sig, sizeof(sig)) ||
		strcmp(kid, key_id(pk)) != 0)
		PG_RETURN_BOOL(false);
	/* a whole number, written as the signer writes it (no 1.0, no 1e3) */
	errno = 0;
	tree_size = strtoll(size, &end, 10);
	if (errno != 0 || *end != '\0' || tree_size < 0 || size[0] == '\0' ||
		strcmp(size, psprintf(INT64_FORMAT, tree_size)) != 0)
		PG_RETURN_BOOL(false);
	msg = digest_message(tree_size, root, head, ts);
	PG_RETURN_BOOL(crypto_sign_verify_detached(sig, (const unsigned char *) msg,
											   strlen(msg), pk) == 0);
}
