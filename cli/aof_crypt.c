/*
 * aof_crypt.c
 *	  Encrypted reference AOF lines, decrypted so that verify-aof can check
 *	  them (the chain is computed over the plaintext).
 *
 * The reference (SEMANTICS.md section 17) writes each line as
 * {"enc":1,"ct":base64(nonce(12) || ciphertext || tag(16))}, AES-256-GCM
 * under the database's DEK with AAD "NEDB-data-v1".  The DEK is wrapped in
 * key.enc ({"v":1,"alg":"AES-256-GCM","n":<nonce hex>,"ct":<ct||tag hex>},
 * AAD "NEDB-DEK-v1") under HKDF-SHA256(TMK, salt "NEDB-hkdf-v1", info
 * "nedb-key", 32 bytes).  libsodium does both (its AES-GCM needs AES-NI).
 */
#include "nedb_cli.h"

#include <sodium.h>

#define GCM_NONCE 12
#define GCM_TAG 16

static uint8 dek[32];
static bool have_dek = false;

bool
aof_have_key(void)
{
	return have_dek;
}

/* HKDF-SHA256 with one output block, the 32 bytes the reference takes */
static void
hkdf_sha256(const uint8 *ikm, size_t ikmlen, const char *salt, const char *info, uint8 *out)
{
	crypto_auth_hmacsha256_state st;
	uint8		prk[crypto_auth_hmacsha256_BYTES];
	const uint8 one = 1;

	crypto_auth_hmacsha256_init(&st, (const uint8 *) salt, strlen(salt));
	crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
	crypto_auth_hmacsha256_final(&st, prk);
	crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
	crypto_auth_hmacsha256_update(&st, (const uint8 *) info, strlen(info));
	crypto_auth_hmacsha256_update(&st, &one, 1);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(prk, sizeof(prk));
}

static bool
gcm_available(void)
{
	if (crypto_aead_aes256gcm_is_available())
		return true;
	cli_error("this CPU has no AES-NI: libsodium cannot decrypt AES-256-GCM here");
	return false;
}

/* hex of any length (upper or lower case) into bytes; false if not hex */
static bool
any_hex(const char *hex, uint8 *out, size_t max, size_t *len)
{
	size_t		bin_len;

	if (sodium_hex2bin(out, max, hex, strlen(hex), NULL, &bin_len, NULL) != 0 ||
		bin_len * 2 != strlen(hex))
		return false;
	*len = bin_len;
	return true;
}

bool
aof_set_dek(const char *hex)
{
	size_t		n;

	if (!any_hex(hex, dek, sizeof(dek), &n) || n != sizeof(dek))
	{
		cli_error("--dek must be the data key as 64 hex digits");
		return false;
	}
	have_dek = true;
	return gcm_available();
}

/* unwrap key.enc's DEK with the TMK (hex, any length) */
bool
aof_set_tmk(const char *tmk_hex, const char *key_enc_path)
{
	uint8		tmk[1024];
	size_t		tmklen;
	uint8		kek[32];
	FILE	   *f;
	Buf			text;
	char		chunk[4096];
	size_t		n;
	JDoc		d;
	int			root;
	char	   *nonce_hex;
	char	   *ct_hex;
	uint8		nonce[GCM_NONCE];
	uint8		ct[sizeof(dek) + GCM_TAG];
	size_t		nlen,
				ctlen;
	unsigned long long dlen;

	if (!gcm_available())
		return false;
	if (!any_hex(tmk_hex, tmk, sizeof(tmk), &tmklen) || tmklen == 0)
	{
		cli_error("--tmk must be the master key in hex (as NEDB_TMK)");
		return false;
	}
	if (key_enc_path == NULL)
	{
		cli_error("--tmk needs --key-enc FILE (the database's key.enc)");
		return false;
	}
	if ((f = fopen(key_enc_path, "rb")) == NULL)
	{
		cli_error("could not open \"%s\": %m", key_enc_path);
		return false;
	}
	buf_init(&text);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_put(&text, chunk, n);
	fclose(f);
	jdoc_init(&d);
	root = json_parse(&d, text.data, text.len);
	nonce_hex = json_string(&d, json_member(&d, root, "n"));
	ct_hex = json_string(&d, json_member(&d, root, "ct"));
	if (root < 0 || nonce_hex == NULL || ct_hex == NULL ||
		!any_hex(nonce_hex, nonce, sizeof(nonce), &nlen) || nlen != GCM_NONCE ||
		!any_hex(ct_hex, ct, sizeof(ct), &ctlen) || ctlen != sizeof(ct))
	{
		cli_error("\"%s\" is not a key.enc ({\"v\": 1, \"alg\": \"AES-256-GCM\", \"n\": ..., \"ct\": ...})",
				  key_enc_path);
		return false;
	}
	hkdf_sha256(tmk, tmklen, "NEDB-hkdf-v1", "nedb-key", kek);
	sodium_memzero(tmk, sizeof(tmk));
	if (crypto_aead_aes256gcm_decrypt(dek, &dlen, NULL, ct, ctlen,
									  (const uint8 *) "NEDB-DEK-v1", strlen("NEDB-DEK-v1"),
									  nonce, kek) != 0 || dlen != sizeof(dek))
	{
		sodium_memzero(kek, sizeof(kek));
		cli_error("the master key does not open \"%s\" (wrong key, or the file is damaged)",
				  key_enc_path);
		return false;
	}
	sodium_memzero(kek, sizeof(kek));
	have_dek = true;
	return true;
}

/*
 * If line is an encrypted envelope, its plaintext into out (true); false
 * if it is not one.  *ok tells whether it decrypted.
 */
bool
aof_decrypt_line(JDoc *d, const char *line, size_t len, Buf *out, bool *ok)
{
	const char *p = line;
	int			root;
	int			ct;
	size_t		blen;
	unsigned long long mlen;

	*ok = false;
	while (p < line + len && (*p == ' ' || *p == '\t'))
		p++;
	/* the reference writes the envelope compactly, "enc" first */
	if ((size_t) (line + len - p) < 8 || memcmp(p, "{\"enc\"", 6) != 0)
		return false;
	root = json_parse(d, line, len);
	ct = json_member(d, root, "ct");
	if (ct < 0 || d->v[ct].kind != JV_STRING)
		return true;
	out->len = 0;
	buf_reserve(out, d->v[ct].len);
	if (sodium_base642bin((uint8 *) out->data, out->cap, d->v[ct].s, d->v[ct].len, NULL,
						  &blen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
		blen < GCM_NONCE + GCM_TAG)
		return true;
	/* decrypted in place, behind the nonce */
	if (crypto_aead_aes256gcm_decrypt((uint8 *) out->data + GCM_NONCE, &mlen, NULL,
									  (const uint8 *) out->data + GCM_NONCE, blen - GCM_NONCE,
									  (const uint8 *) "NEDB-data-v1", strlen("NEDB-data-v1"),
									  (const uint8 *) out->data, dek) != 0)
		return true;
	memmove(out->data, out->data + GCM_NONCE, mlen);
	out->len = mlen;
	*ok = true;
	return true;
}
