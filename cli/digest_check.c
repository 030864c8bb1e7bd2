/*
 * digest_check.c
 *	  `nedb verify-digest FILE --key PUBHEX`: a digest signed by
 *	  nedb.sign_digest(), checked with Ed25519 (libsodium), offline.
 *
 * The signed message is the digest's fields, one per line (src/sign.c):
 *   nedb-digest-v1\n<tree_size>\n<root>\n<head>\n<ts>\n
 * and key_id is the first 8 bytes of BLAKE2b-256(public key), in hex.
 */
#include "nedb_cli.h"

#include <ctype.h>
#include <sodium.h>

#define KEY_ID_LEN 8

static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	Buf			b;
	char		chunk[8192];
	size_t		n;

	if (f == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_put(&b, chunk, n);
	fclose(f);
	b.data[b.len] = '\0';
	*len = b.len;
	return b.data;
}

/* a string member, decoded, or NULL */
static char *
str_member(JDoc *d, int obj, const char *key)
{
	return json_string(d, json_member(d, obj, key));
}

int
cmd_verify_digest(int argc, char **argv)
{
	const char *path = NULL;
	const char *keyhex = NULL;
	char	   *text;
	size_t		len;
	JDoc		d;
	int			root;
	int64		v;
	int64		tree_size;
	char	   *alg,
			   *rootx,
			   *head,
			   *ts,
			   *kid,
			   *sig;
	char		keylower[2 * crypto_sign_PUBLICKEYBYTES + 1];
	uint8		pk[crypto_sign_PUBLICKEYBYTES];
	uint8		sigbin[crypto_sign_BYTES];
	uint8		h[HASH_LEN];
	char		want_kid[2 * KEY_ID_LEN + 1];
	Buf			msg;
	char		num[32];

	for (int i = 1; i < argc; i++)
	{
		if ((strcmp(argv[i], "--key") == 0 || strcmp(argv[i], "-k") == 0) && i + 1 < argc)
			keyhex = argv[++i];
		else if (strncmp(argv[i], "--key=", 6) == 0)
			keyhex = argv[i] + 6;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
		{
			cli_error("verify-digest: unknown option \"%s\"", argv[i]);
			return EXIT_USAGE;
		}
		else if (path == NULL)
			path = argv[i];
		else
		{
			cli_error("verify-digest: one digest file only");
			return EXIT_USAGE;
		}
	}
	if (path == NULL || keyhex == NULL)
	{
		cli_error("usage: nedb verify-digest DIGEST_JSON_FILE --key PUBHEX");
		return EXIT_USAGE;
	}
	if (strlen(keyhex) != 2 * crypto_sign_PUBLICKEYBYTES)
	{
		cli_error("--key must be the Ed25519 public key as 64 hex digits (nedb.signing_key())");
		return EXIT_USAGE;
	}
	for (int i = 0; keyhex[i]; i++)
		keylower[i] = tolower((unsigned char) keyhex[i]);
	keylower[2 * crypto_sign_PUBLICKEYBYTES] = '\0';
	if (!from_hex(keylower, strlen(keylower), pk, sizeof(pk)))
	{
		cli_error("--key must be the Ed25519 public key as 64 hex digits (nedb.signing_key())");
		return EXIT_USAGE;
	}
	if ((text = read_file(path, &len)) == NULL)
	{
		cli_error("could not read \"%s\": %m", path);
		return EXIT_USAGE;
	}

	jdoc_init(&d);
	root = json_parse(&d, text, len);
	if (root < 0 || d.v[root].kind != JV_OBJECT)
	{
		printf("FAILED: %s is not a digest (a JSON object): %s\n", path,
			   root < 0 ? d.error : "not an object");
		return EXIT_BAD;
	}
	alg = str_member(&d, root, "alg");
	rootx = str_member(&d, root, "root");
	head = str_member(&d, root, "head");
	ts = str_member(&d, root, "ts");
	kid = str_member(&d, root, "key_id");
	sig = str_member(&d, root, "signature");
	if (!json_int64(&d, json_member(&d, root, "v"), &v) || v != 1 ||
		alg == NULL || strcmp(alg, "ed25519") != 0)
	{
		printf("FAILED: %s: not a version 1 ed25519 digest\n", path);
		return EXIT_BAD;
	}

	/*
	 * tree_size exactly as the signer writes it: an integer token in its
	 * plain form, so that no other spelling of the number passes.
	 */
	if (!json_int64(&d, json_member(&d, root, "tree_size"), &tree_size) || tree_size < 0)
	{
		printf("FAILED: %s: \"tree_size\" is not a non-negative integer\n", path);
		return EXIT_BAD;
	}
	snprintf(num, sizeof(num), INT64_FORMAT, tree_size);
	{
		int			tv = json_member(&d, root, "tree_size");

		if ((size_t) d.v[tv].len != strlen(num) || memcmp(d.v[tv].s, num, d.v[tv].len) != 0)
		{
			printf("FAILED: %s: \"tree_size\" is not written as the signer writes it\n", path);
			return EXIT_BAD;
		}
	}
	if (!rootx || !head || !ts || !kid || !sig)
	{
		printf("FAILED: %s: a member is missing (root, head, ts, key_id, signature)\n", path);
		return EXIT_BAD;
	}
	blake2b_256(pk, sizeof(pk), h);
	to_hex(h, KEY_ID_LEN, want_kid);
	if (strcmp(kid, want_kid) != 0)
	{
		printf("FAILED: %s: signed by key %s, not by the given key (%s)\n", path, kid, want_kid);
		return EXIT_BAD;
	}
	if (!from_hex(sig, strlen(sig), sigbin, sizeof(sigbin)))
	{
		printf("FAILED: %s: \"signature\" is not 128 hex digits\n", path);
		return EXIT_BAD;
	}
	buf_init(&msg);
	buf_puts(&msg, "nedb-digest-v1\n");
	buf_puts(&msg, num);
	buf_putc(&msg, '\n');
	buf_puts(&msg, rootx);
	buf_putc(&msg, '\n');
	buf_puts(&msg, head);
	buf_putc(&msg, '\n');
	buf_puts(&msg, ts);
	buf_putc(&msg, '\n');
	if (crypto_sign_verify_detached(sigbin, (const unsigned char *) msg.data, msg.len, pk) != 0)
	{
		printf("FAILED: %s: the signature does not match the digest (tree_size " INT64_FORMAT
			   ", root %.16s..., ts %s)\n", path, tree_size, rootx, ts);
		return EXIT_BAD;
	}
	printf("ok: digest signed by key %s\n", kid);
	printf("tree_size " INT64_FORMAT "\nroot %s\nhead %s\nts %s\n", tree_size, rootx, head, ts);
	return EXIT_OK;
}
