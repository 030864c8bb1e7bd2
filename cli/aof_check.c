/*
 * aof_check.c
 *	  An op's hash recomputed from its fields, one AOF line at a time, and
 *	  `nedb verify-aof FILE`, which checks a whole reference AOF offline.
 *
 * The hash of op n is BLAKE2b-256(hex(hash of op n-1) || body), the first
 * prev being 64 zeros, and body is the canonical JSON of the op's fields
 * {caused_by?, client, confidence?, evidence?, idem, nonce, op, payload,
 * seq, ts, valid_from?, valid_to?} (the optional ones only when set, idem
 * null when absent; prev_hash and hash themselves are not in it).  An AOF
 * line is json.dumps of the op with default separators, prev_hash and hash
 * included.
 */
#include "nedb_cli.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

/* the body's keys in canonical order */
static const struct
{
	const char *key;
	bool		optional;
}			body_keys[] = {
	{"caused_by", true}, {"client", false}, {"confidence", true}, {"evidence", true},
	{"idem", false}, {"nonce", false}, {"op", false}, {"payload", false},
	{"seq", false}, {"ts", false}, {"valid_from", true}, {"valid_to", true},
};

#define N_BODY_KEYS lengthof(body_keys)

void
line_check_init(LineCheck *lc)
{
	jdoc_init(&lc->doc);
	buf_init(&lc->body);
	buf_init(&lc->tmp);
	lc->seq = -1;
	lc->detail[0] = '\0';
}

/* a member that must be a 64-hex string */
static bool
hash_member(JDoc *d, int obj, const char *key, uint8 *out, char *hex)
{
	int			v = json_member(d, obj, key);

	if (v < 0 || d->v[v].kind != JV_STRING || !d->v[v].plain ||
		!from_hex(d->v[v].s, d->v[v].len, out, HASH_LEN))
		return false;
	if (hex)
	{
		memcpy(hex, d->v[v].s, HEX_LEN);
		hex[HEX_LEN] = '\0';
	}
	return true;
}

/*
 * The top-level members named by body_keys, in one pass over the object
 * (the last of a repeated key wins, as in Python).
 */
static void
body_members(JDoc *d, int obj, int *found)
{
	int			k = d->v[obj].first;

	for (int i = 0; i < (int) N_BODY_KEYS; i++)
		found[i] = -1;
	for (int i = 0; i < d->v[obj].n; i++)
	{
		Jv		   *kv = &d->v[k];

		if (kv->plain)
		{
			for (int j = 0; j < (int) N_BODY_KEYS; j++)
				if ((size_t) kv->len == strlen(body_keys[j].key) &&
					memcmp(kv->s, body_keys[j].key, kv->len) == 0)
				{
					found[j] = kv->next;
					break;
				}
		}
		k = d->v[kv->next].next;
	}
}

LineStatus
line_check(LineCheck *lc, const char *line, size_t len, int64 expect_seq,
		   const char *prev_hex)
{
	JDoc	   *d = &lc->doc;
	int			root;
	int			found[N_BODY_KEYS];
	char		prev_stated[HEX_LEN + 1];
	uint8		prev_bin[HASH_LEN];
	uint8		got[HASH_LEN];
	crypto_generichash_state st;
	bool		first = true;

	lc->seq = -1;
	lc->detail[0] = '\0';
	root = json_parse(d, line, len);
	if (root < 0)
	{
		snprintf(lc->detail, sizeof(lc->detail), "not valid JSON: %s", d->error);
		return LINE_BAD_JSON;
	}
	if (d->v[root].kind != JV_OBJECT)
	{
		snprintf(lc->detail, sizeof(lc->detail), "not a JSON object");
		return LINE_BAD_JSON;
	}
	if (json_member(d, root, "enc") >= 0 && json_member(d, root, "seq") < 0)
	{
		snprintf(lc->detail, sizeof(lc->detail),
				 "an encrypted line ({\"enc\": 1, \"ct\": ...}): decrypt the AOF first");
		return LINE_ENCRYPTED;
	}
	if (!json_int64(d, json_member(d, root, "seq"), &lc->seq) || lc->seq < 0)
	{
		lc->seq = -1;
		snprintf(lc->detail, sizeof(lc->detail), "\"seq\" is not a non-negative integer");
		return LINE_BAD_JSON;
	}
	if (!hash_member(d, root, "hash", lc->hash, NULL))
	{
		snprintf(lc->detail, sizeof(lc->detail), "\"hash\" is not 64 lowercase hex digits");
		return LINE_BAD_JSON;
	}
	if (!hash_member(d, root, "prev_hash", prev_bin, prev_stated))
	{
		snprintf(lc->detail, sizeof(lc->detail), "\"prev_hash\" is not 64 lowercase hex digits");
		return LINE_BAD_JSON;
	}
	if (expect_seq >= 0 && lc->seq != expect_seq)
	{
		snprintf(lc->detail, sizeof(lc->detail),
				 "seq " INT64_FORMAT " where seq " INT64_FORMAT " was due%s",
				 lc->seq, expect_seq,
				 lc->seq > expect_seq ? " (ops are missing)" : "");
		return LINE_BAD_SEQ;
	}
	if (prev_hex && memcmp(prev_stated, prev_hex, HEX_LEN) != 0)
	{
		snprintf(lc->detail, sizeof(lc->detail),
				 "prev_hash %.16s... is not the hash of the op before (%.16s...)",
				 prev_stated, prev_hex);
		return LINE_BAD_PREV;
	}

	/* the body, from the fields */
	body_members(d, root, found);
	lc->body.len = 0;
	buf_putc(&lc->body, '{');
	for (int i = 0; i < (int) N_BODY_KEYS; i++)
	{
		int			v = found[i];

		if (body_keys[i].optional && (v < 0 || d->v[v].kind == JV_NULL))
			continue;
		if (!first)
			buf_putc(&lc->body, ',');
		first = false;
		buf_putc(&lc->body, '"');
		buf_puts(&lc->body, body_keys[i].key);
		buf_put(&lc->body, "\":", 2);
		if (v < 0)
			buf_put(&lc->body, "null", 4);
		else if (!json_canon(d, v, &lc->body))
		{
			snprintf(lc->detail, sizeof(lc->detail),
					 "field \"%s\" has a bad string (escape or UTF-8)", body_keys[i].key);
			return LINE_BAD_JSON;
		}
	}
	buf_putc(&lc->body, '}');

	crypto_generichash_init(&st, NULL, 0, HASH_LEN);
	crypto_generichash_update(&st, (const unsigned char *) prev_stated, HEX_LEN);
	crypto_generichash_update(&st, (const unsigned char *) lc->body.data, lc->body.len);
	crypto_generichash_final(&st, got, HASH_LEN);
	if (memcmp(got, lc->hash, HASH_LEN) != 0)
	{
		char		want[HEX_LEN + 1];
		char		have[HEX_LEN + 1];

		to_hex(lc->hash, HASH_LEN, want);
		to_hex(got, HASH_LEN, have);
		snprintf(lc->detail, sizeof(lc->detail),
				 "its hash %.16s... is not the hash of its fields (%.16s...)", want, have);
		return LINE_BAD_HASH;
	}
	return LINE_OK;
}

/* ------------------------------------------------------------------------
 * nedb verify-aof FILE
 * ------------------------------------------------------------------------ */

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return false;
	return true;
}

int
cmd_verify_aof(int argc, char **argv)
{
	const char *path = NULL;
	bool		quiet = false;
	int			fd;
	struct stat sb;
	const char *data;
	const char *p;
	const char *end;
	LineCheck	lc;
	Frontier	fr;
	char		prev[HEX_LEN + 1];
	int64		lineno = 0;
	int64		ops = 0;
	int64		first_seq = -1;
	double		t0;
	double		secs;
	uint8		root[HASH_LEN];
	char		roothex[HEX_LEN + 1];

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			quiet = true;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
		{
			cli_error("verify-aof: unknown option \"%s\"", argv[i]);
			return EXIT_USAGE;
		}
		else if (path == NULL)
			path = argv[i];
		else
		{
			cli_error("verify-aof: one file only");
			return EXIT_USAGE;
		}
	}
	if (path == NULL)
	{
		cli_error("verify-aof: which file? (nedb verify-aof FILE, - for stdin is not supported)");
		return EXIT_USAGE;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) != 0)
	{
		cli_error("could not open \"%s\": %m", path);
		return EXIT_USAGE;
	}
	if (sb.st_size == 0)
		data = "";
	else
	{
		/* mapped, not read: lines are parsed where they lie */
		data = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (data == MAP_FAILED)
		{
			cli_error("could not map \"%s\": %m", path);
			return EXIT_USAGE;
		}
		(void) madvise((void *) data, sb.st_size, MADV_SEQUENTIAL);
	}

	line_check_init(&lc);
	fr_init(&fr);
	strcpy(prev, GENESIS_HEX);
	t0 = now_seconds();
	p = data;
	end = data + sb.st_size;
	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		const char *le = nl ? nl : end;
		size_t		len = le - p;
		LineStatus	s;

		lineno++;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		/* blank lines carry no op (the reference skips them too) */
		if (blank(p, len))
		{
			p = le + 1;
			continue;
		}
		s = line_check(&lc, p, len, first_seq < 0 ? -1 : first_seq + ops,
					   first_seq < 0 ? NULL : prev);
		if (s == LINE_OK && first_seq < 0)
		{
			first_seq = lc.seq;
			/* a file from seq 0 starts at the genesis */
			if (first_seq == 0)
			{
				int			pv = json_member(&lc.doc, 0, "prev_hash");

				if (memcmp(lc.doc.v[pv].s, GENESIS_HEX, HEX_LEN) != 0)
				{
					snprintf(lc.detail, sizeof(lc.detail),
							 "the first op's prev_hash is not the genesis (64 zeros)");
					s = LINE_BAD_PREV;
				}
			}
		}
		if (s != LINE_OK)
		{
			if (lc.seq >= 0)
				printf("FAILED: %s: line " INT64_FORMAT " (seq " INT64_FORMAT "): %s\n",
					   path, lineno, lc.seq, lc.detail);
			else
				printf("FAILED: %s: line " INT64_FORMAT ": %s\n", path, lineno, lc.detail);
			return s == LINE_ENCRYPTED ? EXIT_USAGE : EXIT_BAD;
		}
		to_hex(lc.hash, HASH_LEN, prev);
		fr_append(&fr, lc.hash);
		ops++;
		p = le + 1;
	}
	secs = now_seconds() - t0;
	fr_root(&fr, root);
	to_hex(root, HASH_LEN, roothex);
	if (!quiet)
	{
		if (ops == 0)
			printf("ok: %s: no ops\n", path);
		else
		{
			printf("ok: %s: " INT64_FORMAT " ops, seq " INT64_FORMAT " to " INT64_FORMAT "\n",
				   path, ops, first_seq, first_seq + ops - 1);
			printf("head %s\n", prev);
			if (first_seq == 0)
				printf("root %s\n", roothex);
			else
				printf("note: the file starts at seq " INT64_FORMAT
					   ": its first prev_hash is taken as given\n", first_seq);
		}
	}
	fprintf(stderr, "%s: " INT64_FORMAT " ops in %.3f s (%.0f ops/s)\n",
			progname, ops, secs, secs > 0 ? ops / secs : 0.0);
	return EXIT_OK;
}
