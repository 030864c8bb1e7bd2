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
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

/* the body's keys in canonical order */
static const struct
{
	const char *key;
	int			len;
	bool		optional;
}			body_keys[] = {
	{"caused_by", 9, true}, {"client", 6, false}, {"confidence", 10, true},
	{"evidence", 8, true}, {"idem", 4, false}, {"nonce", 5, false}, {"op", 2, false},
	{"payload", 7, false}, {"seq", 3, false}, {"ts", 2, false},
	{"valid_from", 10, true}, {"valid_to", 8, true},
	/* not in the body: looked up in the same pass */
	{"hash", 4, false}, {"prev_hash", 9, false}, {"enc", 3, false},
};

#define N_KEYS lengthof(body_keys)
#define N_BODY_KEYS (N_KEYS - 3)
#define K_SEQ 8
#define K_HASH (N_BODY_KEYS)
#define K_PREV (N_BODY_KEYS + 1)
#define K_ENC (N_BODY_KEYS + 2)

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
hash_member(JDoc *d, int v, uint8 *out, char *hex)
{
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
 * The top-level members named in body_keys, in one pass over the object
 * (the last of a repeated key wins, as in Python).
 */
static void
body_members(JDoc *d, int obj, int *found)
{
	int			k = d->v[obj].first;

	for (int i = 0; i < (int) N_KEYS; i++)
		found[i] = -1;
	for (int i = 0; i < d->v[obj].n; i++)
	{
		Jv		   *kv = &d->v[k];

		if (kv->plain)
		{
			for (int j = 0; j < (int) N_KEYS; j++)
				if (kv->len == body_keys[j].len && kv->s[0] == body_keys[j].key[0] &&
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
	int			found[N_KEYS];
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
	body_members(d, root, found);
	if (found[K_ENC] >= 0 && found[K_SEQ] < 0)
	{
		snprintf(lc->detail, sizeof(lc->detail),
				 "an encrypted line ({\"enc\": 1, \"ct\": ...}): give --tmk HEX --key-enc FILE, or --dek HEX");
		return LINE_ENCRYPTED;
	}
	if (!json_int64(d, found[K_SEQ], &lc->seq) || lc->seq < 0)
	{
		lc->seq = -1;
		snprintf(lc->detail, sizeof(lc->detail), "\"seq\" is not a non-negative integer");
		return LINE_BAD_JSON;
	}
	if (!hash_member(d, found[K_HASH], lc->hash, NULL))
	{
		snprintf(lc->detail, sizeof(lc->detail), "\"hash\" is not 64 lowercase hex digits");
		return LINE_BAD_JSON;
	}
	if (!hash_member(d, found[K_PREV], prev_bin, lc->prev))
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
	if (prev_hex && memcmp(lc->prev, prev_hex, HEX_LEN) != 0)
	{
		snprintf(lc->detail, sizeof(lc->detail),
				 "prev_hash %.16s... is not the hash of the op before (%.16s...)",
				 lc->prev, prev_hex);
		return LINE_BAD_PREV;
	}

	/* the body, from the fields */
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
		buf_put(&lc->body, body_keys[i].key, body_keys[i].len);
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
	crypto_generichash_update(&st, (const unsigned char *) lc->prev, HEX_LEN);
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
 *
 * Each line's hash depends only on the line (its stated prev_hash is hashed,
 * and compared with the line before), so the file is cut at newlines into
 * one chunk per worker thread; every worker checks its lines and their
 * links, and the chunks are joined in order: each chunk's first line must
 * continue the chunk before.  The first bad line reported is the one a
 * single pass would report.  The leaves of the Merkle tree are hashed in
 * the workers, the tree's nodes afterwards (one hash per op, amortized).
 * ------------------------------------------------------------------------ */

#define MAX_JOBS 16

typedef struct Chunk
{
	const char *start;
	const char *end;
	/* results */
	int64		lines;			/* lines read (all, when ok) */
	int64		ops;			/* good ops, in order */
	uint8	   *leaves;			/* their Merkle leaves */
	int64		first_seq;		/* of its first op (-1: none) */
	char		first_prev[HEX_LEN + 1];	/* that op's stated prev_hash */
	char		last_hash[HEX_LEN + 1];
	LineStatus	status;			/* of the line that stopped it */
	int64		bad_line;		/* local line number (1-based) */
	int64		bad_seq;
	char		detail[256];
} Chunk;

static bool
blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return false;
	return true;
}

static void *
check_chunk(void *arg)
{
	Chunk	   *ch = arg;
	LineCheck	lc;
	const char *p = ch->start;
	int64		cap = 1024;
	char		prev[HEX_LEN + 1];
	JDoc		env;
	Buf			plain;

	prev[0] = '\0';
	line_check_init(&lc);
	jdoc_init(&env);
	buf_init(&plain);
	ch->leaves = pg_malloc(cap * HASH_LEN);
	ch->lines = ch->ops = 0;
	ch->first_seq = -1;
	ch->status = LINE_OK;
	while (p < ch->end)
	{
		const char *nl = memchr(p, '\n', ch->end - p);
		const char *le = nl ? nl : ch->end;
		size_t		len = le - p;
		LineStatus	s;
		const char *text;
		size_t		tlen;
		bool		opened;

		ch->lines++;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		/* blank lines carry no op (the reference skips them too) */
		if (blank(p, len))
		{
			p = le + 1;
			continue;
		}
		text = p;
		tlen = len;
		if (aof_have_key() && aof_decrypt_line(&env, p, len, &plain, &opened))
		{
			if (!opened)
			{
				ch->status = LINE_BAD_CRYPT;
				ch->bad_line = ch->lines;
				ch->bad_seq = -1;
				snprintf(ch->detail, sizeof(ch->detail),
						 "the encrypted line does not decrypt with the key (wrong key, or damaged)");
				break;
			}
			text = plain.data;
			tlen = plain.len;
		}
		s = line_check(&lc, text, tlen, ch->first_seq < 0 ? -1 : ch->first_seq + ch->ops,
					   ch->first_seq < 0 ? NULL : prev);
		if (s != LINE_OK)
		{
			ch->status = s;
			ch->bad_line = ch->lines;
			ch->bad_seq = lc.seq;
			memcpy(ch->detail, lc.detail, sizeof(ch->detail));
			break;
		}
		if (ch->first_seq < 0)
		{
			ch->first_seq = lc.seq;
			memcpy(ch->first_prev, lc.prev, sizeof(ch->first_prev));
		}
		to_hex(lc.hash, HASH_LEN, prev);
		if (ch->ops == cap)
		{
			cap *= 2;
			ch->leaves = pg_realloc(ch->leaves, cap * HASH_LEN);
		}
		mk_leaf(lc.hash, ch->leaves + ch->ops * HASH_LEN);
		ch->ops++;
		p = le + 1;
	}
	memcpy(ch->last_hash, prev, sizeof(prev));
	return NULL;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
report(const char *path, int64 line, int64 seq, const char *detail, LineStatus s)
{
	/* not a verdict: the file cannot be checked without its key */
	if (s == LINE_ENCRYPTED)
	{
		cli_error("%s: line " INT64_FORMAT ": %s", path, line, detail);
		return EXIT_USAGE;
	}
	if (seq >= 0)
		printf("FAILED: %s: line " INT64_FORMAT " (seq " INT64_FORMAT "): %s\n",
			   path, line, seq, detail);
	else
		printf("FAILED: %s: line " INT64_FORMAT ": %s\n", path, line, detail);
	return s == LINE_ENCRYPTED ? EXIT_USAGE : EXIT_BAD;
}

int
cmd_verify_aof(int argc, char **argv)
{
	const char *path = NULL;
	const char *dek_hex = NULL;
	const char *tmk_hex = NULL;
	const char *key_enc = NULL;
	bool		quiet = false;
	int			jobs;
	int			fd;
	struct stat sb;
	const char *data;
	Chunk		ch[MAX_JOBS];
	pthread_t	tid[MAX_JOBS];
	Frontier	fr;
	char		prev[HEX_LEN + 1];
	int64		lines = 0;
	int64		ops = 0;
	int64		first_seq = -1;
	double		t0;
	double		secs;
	uint8		root[HASH_LEN];
	char		roothex[HEX_LEN + 1];

	/* two workers per core would only contend: one each, a few at most */
	jobs = (int) sysconf(_SC_NPROCESSORS_ONLN);
	jobs = Max(1, Min(jobs, 4));
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			quiet = true;
		else if ((strcmp(argv[i], "-j") == 0 || strcmp(argv[i], "--jobs") == 0) && i + 1 < argc)
		{
			jobs = atoi(argv[++i]);
			if (jobs < 1 || jobs > MAX_JOBS)
			{
				cli_error("verify-aof: --jobs must be between 1 and %d", MAX_JOBS);
				return EXIT_USAGE;
			}
		}
		else if (strcmp(argv[i], "--dek") == 0 && i + 1 < argc)
			dek_hex = argv[++i];
		else if (strcmp(argv[i], "--tmk") == 0 && i + 1 < argc)
			tmk_hex = argv[++i];
		else if (strcmp(argv[i], "--key-enc") == 0 && i + 1 < argc)
			key_enc = argv[++i];
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
		cli_error("verify-aof: which file? (nedb verify-aof FILE)");
		return EXIT_USAGE;
	}
	if ((dek_hex && !aof_set_dek(dek_hex)) || (tmk_hex && !aof_set_tmk(tmk_hex, key_enc)))
		return EXIT_USAGE;
	if (key_enc && !tmk_hex)
	{
		cli_error("verify-aof: --key-enc needs --tmk");
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

	/* small files are not worth a thread */
	if (sb.st_size < 1024 * 1024)
		jobs = 1;
	t0 = now_seconds();
	for (int j = 0; j < jobs; j++)
	{
		const char *end = data + sb.st_size;

		ch[j].start = j == 0 ? data : ch[j - 1].end;
		if (j < jobs - 1)
		{
			/*
			 * The main thread's chunk is a tenth smaller: it then builds
			 * that chunk's part of the tree while the workers finish.
			 */
			off_t		first = sb.st_size / jobs * 9 / 10;
			const char *cut = data + first + (sb.st_size - first) / (jobs - 1) * j;
			const char *nl;

			if (cut < ch[j].start)
				cut = ch[j].start;
			nl = memchr(cut, '\n', end - cut);
			end = nl ? nl + 1 : end;
		}
		ch[j].end = end;
	}
	for (int j = 1; j < jobs; j++)
		if (pthread_create(&tid[j], NULL, check_chunk, &ch[j]) != 0)
		{
			cli_error("could not start a thread: %m");
			return EXIT_USAGE;
		}
	check_chunk(&ch[0]);
	/* the first chunk continues nothing: its leaves go in at once */
	fr_init(&fr);
	if (ch[0].status == LINE_OK)
		for (int64 i = 0; i < ch[0].ops; i++)
			fr_append_leaf(&fr, ch[0].leaves + i * HASH_LEN);
	for (int j = 1; j < jobs; j++)
		pthread_join(tid[j], NULL);

	/* join the chunks in order */
	strcpy(prev, GENESIS_HEX);
	for (int j = 0; j < jobs; j++)
	{
		Chunk	   *c = &ch[j];

		if (c->first_seq >= 0)
		{
			/* the chunk's first op: its local line number */
			int64		line = lines + 1;
			const char *p = c->start;

			for (; p < c->end; line++)
			{
				const char *nl = memchr(p, '\n', c->end - p);
				size_t		len = (nl ? nl : c->end) - p;

				if (len > 0 && p[len - 1] == '\r')
					len--;
				if (!blank(p, len))
					break;
				p = nl ? nl + 1 : c->end;
			}
			if (first_seq < 0)
			{
				first_seq = c->first_seq;
				if (first_seq == 0 && strcmp(c->first_prev, GENESIS_HEX) != 0)
					return report(path, line, 0,
								  "the first op's prev_hash is not the genesis (64 zeros)",
								  LINE_BAD_PREV);
			}
			else
			{
				char		detail[256];

				if (c->first_seq != first_seq + ops)
				{
					snprintf(detail, sizeof(detail),
							 "seq " INT64_FORMAT " where seq " INT64_FORMAT " was due%s",
							 c->first_seq, first_seq + ops,
							 c->first_seq > first_seq + ops ? " (ops are missing)" : "");
					return report(path, line, c->first_seq, detail, LINE_BAD_SEQ);
				}
				if (strcmp(c->first_prev, prev) != 0)
				{
					snprintf(detail, sizeof(detail),
							 "prev_hash %.16s... is not the hash of the op before (%.16s...)",
							 c->first_prev, prev);
					return report(path, line, c->first_seq, detail, LINE_BAD_PREV);
				}
			}
		}
		if (c->status != LINE_OK)
			return report(path, lines + c->bad_line, c->bad_seq, c->detail, c->status);
		for (int64 i = 0; j > 0 && i < c->ops; i++)
			fr_append_leaf(&fr, c->leaves + i * HASH_LEN);
		if (c->ops > 0)
			strcpy(prev, c->last_hash);
		ops += c->ops;
		lines += c->lines;
		pg_free(c->leaves);
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
	fprintf(stderr, "%s: " INT64_FORMAT " ops in %.3f s (%.0f ops/s, %d thread%s)\n",
			progname, ops, secs, secs > 0 ? ops / secs : 0.0, jobs, jobs > 1 ? "s" : "");
	return EXIT_OK;
}
