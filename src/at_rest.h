/*
 * at_rest.h
 *	  Encryption at rest as the reference does it: a master key (TMK) from
 *	  a file, a data key (DEK) it wraps, AES-256-GCM envelopes.
 */
#ifndef NEDB_AT_REST_H
#define NEDB_AT_REST_H

#include "lib/stringinfo.h"

#define AT_REST_KEY_LEN 32
#define AT_REST_NONCE_LEN 12
#define AT_REST_TAG_LEN 16

/* additional authenticated data of the reference's envelopes */
#define AT_REST_AAD_DEK "NEDB-DEK-v1"
#define AT_REST_AAD_DATA "NEDB-data-v1"

extern char *nedb_tmk_file;

extern void nedb_at_rest_init(void);

/* the TMK from nedb.tmk_file, stretched by HKDF-SHA256 (salt NEDB-hkdf-v1, info nedb-key) */
extern void at_rest_kek(uint8 kek[AT_REST_KEY_LEN]);

/*
 * The DEK that a key.enc text wraps under kek; errors say what is wrong,
 * naming where the text came from ("key.enc", "nedb.data_key").
 */
extern void at_rest_unwrap(const uint8 kek[AT_REST_KEY_LEN], const char *key_enc, int len,
						   const char *what, uint8 dek[AT_REST_KEY_LEN]);
/* a key.enc text wrapping dek under kek, with a fresh nonce */
extern char *at_rest_wrap(const uint8 kek[AT_REST_KEY_LEN], const uint8 dek[AT_REST_KEY_LEN]);

/*
 * nonce ‖ ciphertext ‖ tag of plain under key and aad, appended to out
 * (a fresh random nonce each time).
 */
extern void at_rest_seal(const uint8 key[AT_REST_KEY_LEN], const char *aad,
						 const char *plain, int len, StringInfo out);
/*
 * The plaintext of a nonce ‖ ciphertext ‖ tag blob, appended to out; false
 * if it does not authenticate (altered, or sealed under another key or aad)
 * or is shorter than a nonce and a tag.
 */
extern bool at_rest_open(const uint8 key[AT_REST_KEY_LEN], const char *aad,
						 const char *blob, int len, StringInfo out);

/*
 * Cascade's data key (nedb.data_key, wrapped by the master key): false if
 * no master key is configured; else the key in dek, made and stored first
 * if create and there is none (inside a storage session).  Opened once per
 * transaction.
 */
extern bool at_rest_data_key(uint8 dek[AT_REST_KEY_LEN], bool create);

#endif
