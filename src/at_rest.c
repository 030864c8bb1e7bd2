/*
 * at_rest.c
 *	  Encryption at rest, as the reference's crypto.py does it, so its
 *	  encrypted databases import and our exports load there.
 *
 * The operator's master key (TMK) is the contents of the file that
 * nedb.tmk_file names (superuser only; the file readable by its owner
 * alone), white space at either end stripped: what the reference reads from
 * NEDB_TMK_FILE.  At least 16 bytes of it, stretched to 32 by HKDF-SHA256
 * with salt "NEDB-hkdf-v1" and info "nedb-key", give the key-encryption key
 * (KEK).  A database's data key (DEK) is stored wrapped by the KEK as
 * key.enc, {"v":1,"alg":"AES-256-GCM","n":"<nonce hex>","ct":"<ciphertext ‖
 * tag hex>"}, additional data "NEDB-DEK-v1".  Data is sealed under the DEK
 * with AES-256-GCM as nonce(12) ‖ ciphertext ‖ tag(16), a fresh random
 * nonce per item, additional data "NEDB-data-v1".
 *
 * OpenSSL does the cryptography.  Its contexts are freed before any error
 * is raised, and every buffer that held key material is wiped.
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "at_rest.h"
#include "canon.h"
#include "keyfile.h"
#include "session.h"

char	   *nedb_tmk_file = NULL;

#define TMK_MIN_LEN 16
#define TMK_MAX_LEN 4096
#define HKDF_SALT "NEDB-hkdf-v1"
#define HKDF_INFO "nedb-key"

void
nedb_at_rest_init(void)
{
	DefineCustomStringVariable("nedb.tmk_file",
							   "File with the master key (TMK) that wraps encrypted databases' data keys.",
							   "Its bytes, white space at either end stripped, as the reference's NEDB_TMK_FILE; at least 16. "
							   "The file must be readable by its owner alone.",
							   &nedb_tmk_file, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

void
at_rest_kek(uint8 kek[AT_REST_KEY_LEN])
{
	char	   *tmk = palloc(TMK_MAX_LEN + 1);
	size_t		len;
	EVP_PKEY_CTX *ctx;
	size_t		outlen = AT_REST_KEY_LEN;
	bool		ok;

	len = keyfile_read(nedb_tmk_file, "nedb.tmk_file", "master key", tmk, TMK_MAX_LEN + 1);
	if (len < TMK_MIN_LEN)
	{
		explicit_bzero(tmk, TMK_MAX_LEN + 1);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("master key file \"%s\" holds %zu bytes, fewer than %d", nedb_tmk_file, len, TMK_MIN_LEN),
				 errhint("The file holds the key's bytes themselves, as the reference's NEDB_TMK_FILE. "
						 "For a key given to the reference as NEDB_TMK (hex), write its decoded bytes.")));
	}
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	ok = ctx != NULL &&
		EVP_PKEY_derive_init(ctx) > 0 &&
		EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
		EVP_PKEY_CTX_set1_hkdf_salt(ctx, (const unsigned char *) HKDF_SALT, strlen(HKDF_SALT)) > 0 &&
		EVP_PKEY_CTX_set1_hkdf_key(ctx, (const unsigned char *) tmk, (int) len) > 0 &&
		EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *) HKDF_INFO, strlen(HKDF_INFO)) > 0 &&
		EVP_PKEY_derive(ctx, kek, &outlen) > 0 && outlen == AT_REST_KEY_LEN;
	EVP_PKEY_CTX_free(ctx);
	explicit_bzero(tmk, TMK_MAX_LEN + 1);
	pfree(tmk);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not derive the key-encryption key with HKDF-SHA256")));
}

/* AES-256-GCM one way or the other; false if OpenSSL fails or the tag does not match */
static bool
gcm(bool seal, const uint8 key[AT_REST_KEY_LEN], const uint8 *nonce, const char *aad,
	const uint8 *in, int len, uint8 *out, uint8 tag[AT_REST_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int			n;
	bool		ok;

	ok = ctx != NULL &&
		EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, seal ? 1 : 0) > 0 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, AT_REST_NONCE_LEN, NULL) > 0 &&
		EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, seal ? 1 : 0) > 0 &&
		EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *) aad, (int) strlen(aad)) > 0 &&
		(len == 0 || EVP_CipherUpdate(ctx, out, &n, in, len) > 0);
	if (ok && !seal)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AT_REST_TAG_LEN, tag) > 0;
	ok = ok && EVP_CipherFinal_ex(ctx, out + len, &n) > 0;
	if (ok && seal)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AT_REST_TAG_LEN, tag) > 0;
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

void
at_rest_seal(const uint8 key[AT_REST_KEY_LEN], const char *aad,
			 const char *plain, int len, StringInfo out)
{
	uint8	   *p;

	enlargeStringInfo(out, AT_REST_NONCE_LEN + len + AT_REST_TAG_LEN + 16);
	p = (uint8 *) out->data + out->len;
	if (!pg_strong_random(p, AT_REST_NONCE_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random nonce")));
	if (!gcm(true, key, p, aad, (const uint8 *) plain, len, p + AT_REST_NONCE_LEN,
			 p + AT_REST_NONCE_LEN + len))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not encrypt with AES-256-GCM")));
	out->len += AT_REST_NONCE_LEN + len + AT_REST_TAG_LEN;
	out->data[out->len] = '\0';
}

bool
at_rest_open(const uint8 key[AT_REST_KEY_LEN], const char *aad,
			 const char *blob, int len, StringInfo out)
{
	const uint8 *b = (const uint8 *) blob;
	int			n = len - AT_REST_NONCE_LEN - AT_REST_TAG_LEN;
	uint8		tag[AT_REST_TAG_LEN];

	if (n < 0)
		return false;
	memcpy(tag, b + AT_REST_NONCE_LEN + n, AT_REST_TAG_LEN);
	enlargeStringInfo(out, n + 16);
	if (!gcm(false, key, b, aad, b + AT_REST_NONCE_LEN, n,
			 (uint8 *) out->data + out->len, tag))
	{
		explicit_bzero(out->data + out->len, n);
		return false;
	}
	out->len += n;
	out->data[out->len] = '\0';
	return true;
}

/* a key.enc member, a string; NULL if absent or not a string */
static const char *
key_enc_str(CanonNode *obj, const char *k)
{
	CanonNode  *n = canon_member(obj, k);

	return n != NULL && n->kind == CN_STRING ? n->str : NULL;
}

void
at_rest_unwrap(const uint8 kek[AT_REST_KEY_LEN], const char *key_enc, int len,
			   const char *what, uint8 dek[AT_REST_KEY_LEN])
{
	CanonNode  *k = canon_parse(key_enc, len, what);
	CanonNode  *v = canon_member(k, "v");
	const char *alg = key_enc_str(k, "alg");
	const char *n = key_enc_str(k, "n");
	const char *ct = key_enc_str(k, "ct");
	uint8		blob[AT_REST_NONCE_LEN + AT_REST_KEY_LEN + AT_REST_TAG_LEN];
	StringInfoData plain;

	if (k->kind != CN_OBJECT || v == NULL || v->kind != CN_INT || strcmp(v->str, "1") != 0 ||
		alg == NULL || strcmp(alg, "AES-256-GCM") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a version 1 AES-256-GCM key file", what),
				 errdetail("It must be {\"v\":1,\"alg\":\"AES-256-GCM\",\"n\":\"<nonce hex>\",\"ct\":\"<ciphertext and tag hex>\"}.")));
	if (n == NULL || ct == NULL ||
		!hex_to_bytes(n, strlen(n), blob, AT_REST_NONCE_LEN) ||
		!hex_to_bytes(ct, strlen(ct), blob + AT_REST_NONCE_LEN, AT_REST_KEY_LEN + AT_REST_TAG_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not hold a wrapped 32-byte key", what),
				 errdetail("\"n\" must be %d hex digits and \"ct\" %d.",
						   2 * AT_REST_NONCE_LEN, 2 * (AT_REST_KEY_LEN + AT_REST_TAG_LEN))));
	initStringInfo(&plain);
	if (!at_rest_open(kek, AT_REST_AAD_DEK, (const char *) blob, sizeof(blob), &plain))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the master key does not open %s", what),
				 errdetail("Either nedb.tmk_file holds another master key than the one that wrapped it, or it was altered."),
				 strcmp(what, "key.enc") != 0 ?
				 errhint("Set nedb.tmk_file to the master key's file it was made or last rewrapped with (nedb.rewrap_key).") : 0));
	Assert(plain.len == AT_REST_KEY_LEN);
	memcpy(dek, plain.data, AT_REST_KEY_LEN);
	explicit_bzero(plain.data, plain.len);
	pfree(plain.data);
}

char *
at_rest_wrap(const uint8 kek[AT_REST_KEY_LEN], const uint8 dek[AT_REST_KEY_LEN])
{
	StringInfoData blob;
	char	   *s;

	initStringInfo(&blob);
	at_rest_seal(kek, AT_REST_AAD_DEK, (const char *) dek, AT_REST_KEY_LEN, &blob);
	s = psprintf("{\"v\":1,\"alg\":\"AES-256-GCM\",\"n\":\"%s\",\"ct\":\"%s\"}",
				 bytes_to_hex((uint8 *) blob.data, AT_REST_NONCE_LEN),
				 bytes_to_hex((uint8 *) blob.data + AT_REST_NONCE_LEN, blob.len - AT_REST_NONCE_LEN));
	pfree(blob.data);
	return s;
}

PG_FUNCTION_INFO_V1(nedb_new_key_enc);

/* nedb.new_key_enc(): a fresh DEK wrapped by the master key, as key.enc text */
Datum
nedb_new_key_enc(PG_FUNCTION_ARGS)
{
	uint8		kek[AT_REST_KEY_LEN];
	uint8		dek[AT_REST_KEY_LEN];
	char	   *key_enc;

	if (!pg_strong_random(dek, sizeof(dek)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random data key")));
	at_rest_kek(kek);
	key_enc = at_rest_wrap(kek, dek);
	explicit_bzero(kek, sizeof(kek));
	explicit_bzero(dek, sizeof(dek));
	PG_RETURN_TEXT_P(cstring_to_text(key_enc));
}

/* ------------------------------------------------------------------------
 * Cascade's data key: one per database, in nedb.data_key wrapped by the
 * master key (README: Encryption at rest).
 * ------------------------------------------------------------------------ */

static uint8 cached_dek[AT_REST_KEY_LEN];
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static SubTransactionId cached_subxid = InvalidSubTransactionId;
static char *cached_tmk_file = NULL;

/* the stored key.enc, or NULL (SPI connected) */
static char *
stored_key_enc(bool fresh)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *key_enc = NULL;

	/* fresh: not read-only, so in READ COMMITTED a new snapshot sees a concurrent first key */
	if (SPI_execute("SELECT key_enc FROM nedb.data_key", !fresh, 1) != SPI_OK_SELECT)
		elog(ERROR, "nedb: could not read nedb.data_key");
	MemoryContextSwitchTo(cxt);
	if (SPI_processed > 0)
		key_enc = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	return key_enc;
}

bool
at_rest_data_key(uint8 dek[AT_REST_KEY_LEN], bool create)
{
	uint8		kek[AT_REST_KEY_LEN];
	char	   *key_enc;

	if (nedb_tmk_file == NULL || nedb_tmk_file[0] == '\0')
		return false;
	/*
	 * The cache is good within one subtransaction only: a key made in one
	 * that rolled back must not seal later chunks.
	 */
	if (cached_lxid == MyProc->lxid && cached_subxid == GetCurrentSubTransactionId() &&
		cached_tmk_file != NULL &&
		strcmp(cached_tmk_file, nedb_tmk_file) == 0)
	{
		memcpy(dek, cached_dek, AT_REST_KEY_LEN);
		return true;
	}
	key_enc = stored_key_enc(create);
	if (key_enc == NULL && !create)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("Cascade has encrypted chunks but no data key"),
				 errdetail("nedb.data_key is empty.")));
	at_rest_kek(kek);
	PG_TRY();
	{
		if (key_enc == NULL)
		{
			Oid			argt = TEXTOID;
			Datum		arg;

			if (!pg_strong_random(dek, AT_REST_KEY_LEN))
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not generate a random data key")));
			arg = CStringGetTextDatum(at_rest_wrap(kek, dek));
			/* a concurrent first upload may have stored one: then it is the key */
			if (SPI_execute_with_args("INSERT INTO nedb.data_key (key_enc) VALUES ($1) ON CONFLICT DO NOTHING",
									  1, &argt, &arg, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "nedb: could not store the data key");
			if (SPI_processed == 0)
			{
				key_enc = stored_key_enc(true);
				/* a snapshot older than that key cannot see it */
				if (key_enc == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to a concurrent first upload"),
							 errdetail("Another transaction stored Cascade's data key after this one's snapshot."),
							 errhint("Retry the transaction.")));
			}
		}
		if (key_enc != NULL)
			at_rest_unwrap(kek, key_enc, strlen(key_enc), "nedb.data_key", dek);
	}
	PG_FINALLY();
	{
		explicit_bzero(kek, sizeof(kek));
	}
	PG_END_TRY();
	memcpy(cached_dek, dek, AT_REST_KEY_LEN);
	cached_lxid = MyProc->lxid;
	cached_subxid = GetCurrentSubTransactionId();
	if (cached_tmk_file)
		pfree(cached_tmk_file);
	cached_tmk_file = MemoryContextStrdup(TopMemoryContext, nedb_tmk_file);
	return true;
}

PG_FUNCTION_INFO_V1(nedb_rewrap_key);

/*
 * nedb.rewrap_key(old_tmk_file): Cascade's data key, opened with the master
 * key in old_tmk_file, wrapped again by the one nedb.tmk_file names now.
 * The chunks are not touched.  Superusers only (it reads a file it is told).
 */
Datum
nedb_rewrap_key(PG_FUNCTION_ARGS)
{
	char	   *old_file = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint8		old_kek[AT_REST_KEY_LEN];
	uint8		new_kek[AT_REST_KEY_LEN];
	uint8		dek[AT_REST_KEY_LEN];
	char	   *current = nedb_tmk_file;
	char	   *key_enc;
	char	   *rewrapped;
	NedbSession s;
	Oid			argt = TEXTOID;
	Datum		arg;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may rewrap the data key"),
				 errdetail("It reads the old master key from a file of the server's.")));
	nedb_begin(&s);
	key_enc = stored_key_enc(true);
	if (key_enc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("there is no data key to rewrap"),
				 errdetail("Cascade makes one at the first upload with nedb.tmk_file set.")));
	PG_TRY();
	{
		nedb_tmk_file = old_file;
		at_rest_kek(old_kek);
		nedb_tmk_file = current;
		at_rest_kek(new_kek);
		at_rest_unwrap(old_kek, key_enc, strlen(key_enc), "nedb.data_key", dek);
		rewrapped = at_rest_wrap(new_kek, dek);
	}
	PG_FINALLY();
	{
		nedb_tmk_file = current;
		explicit_bzero(old_kek, sizeof(old_kek));
		explicit_bzero(new_kek, sizeof(new_kek));
		explicit_bzero(dek, sizeof(dek));
	}
	PG_END_TRY();
	arg = CStringGetTextDatum(rewrapped);
	if (SPI_execute_with_args("UPDATE nedb.data_key SET key_enc = $1, rewrapped_at = pg_catalog.now()",
							  1, &argt, &arg, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "nedb: could not store the rewrapped data key");
	nedb_end(&s);
	cached_lxid = InvalidLocalTransactionId;
	PG_RETURN_VOID();
}
