/*
 * nedb.c
 *	  The nedb command-line tool: reads a NEDB database through libpq and
 *	  checks what the server says with its own code.
 *
 * Commands that talk to the server use only its public functions
 * (nedb.digest, nedb.consistency, nedb.proof, nedb.export_aof, nedb.get,
 * nql); every verdict (hashes, Merkle roots, proofs, signatures) is
 * computed here, never asked of the server's verify_* functions.
 */
#include "nedb_cli.h"

#include <stdarg.h>

#include <sodium.h>

#include "libpq-fe.h"

const char *progname = "nedb";

/* ops fetched per nedb.export_aof call */
#define PAGE 20000

static const char *help_text =
"NAME\n"
"    nedb - query and verify a NEDB database (PostgreSQL extension) from the shell\n"
"\n"
"SYNOPSIS\n"
"    nedb [-d CONNINFO] status\n"
"    nedb [-d CONNINFO] head\n"
"    nedb [-d CONNINFO] get COLL ID [--as-of SEQ] [--verify --state FILE]\n"
"    nedb [-d CONNINFO] scan COLL [--limit N] [--as-of SEQ]\n"
"    nedb [-d CONNINFO] export [--from SEQ] [--to SEQ]\n"
"    nedb [-d CONNINFO] verify --state FILE [--full]\n"
"    nedb verify-digest DIGEST_JSON_FILE --key PUBHEX\n"
"    nedb verify-aof FILE [-j N] [-q] [--tmk HEX --key-enc FILE | --dek HEX]\n"
"\n"
"DESCRIPTION\n"
"    nedb reads a database with the nedb extension through libpq, and checks\n"
"    the log's integrity with its own implementation of the chain's hashing\n"
"    (BLAKE2b-256 over the reference's canonical JSON), the log's Merkle tree\n"
"    (RFC 6962 with a size-bound root) and Ed25519 signatures. It never asks\n"
"    the server whether the server is right.\n"
"\n"
"COMMANDS\n"
"    status      last seq, head, tree size and root, collections and documents.\n"
"    head        the last seq and the head hash, on one line.\n"
"    get COLL ID the current document (or as of seq SEQ) as JSON, or null.\n"
"                With --verify, the op that wrote it is fetched, re-hashed from\n"
"                its fields, compared with the document, and its inclusion proof\n"
"                (nedb.proof) is checked against the root verified in the state\n"
"                FILE (run nedb verify --state FILE first).\n"
"    scan COLL   the collection's documents, one JSON document per line\n"
"                (COLL must be an NQL name: letters, digits, _).\n"
"    export      the log as reference-format AOF lines (nedb.export_aof), ops\n"
"                SEQ (--from, default 0) to SEQ (--to, default the last).\n"
"    verify      trust on first use, then check every change. The first run\n"
"                re-hashes every op from its fields and saves the tree size,\n"
"                root, head and the tree's frontier in FILE (and the first 8\n"
"                bytes of every op hash in FILE.ops). Each later run checks a\n"
"                consistency proof (nedb.consistency) from the saved size to\n"
"                now against the saved root, re-hashes the ops added since then\n"
"                from their fields, chained from the saved head, extends the\n"
"                saved frontier with them and requires the server's root: work\n"
"                in proportion to the new ops. --full re-hashes every op. A\n"
"                rewritten history is named by its first changed seq.\n"
"    verify-digest\n"
"                checks a digest signed by nedb.sign_digest() (its JSON in a file)\n"
"                with the Ed25519 public key PUBHEX (nedb.signing_key()). Offline.\n"
"    verify-aof  checks a reference-format AOF file offline: dense seqs, each\n"
"                line's prev_hash, each line's hash recomputed from its fields;\n"
"                the first bad line is named with its line number and seq. Prints\n"
"                the head and, for a file from seq 0, the tree root (compare with\n"
"                nedb.digest()).\n"
"\n"
"OPTIONS\n"
"    -d, --dbname CONNINFO\n"
"                a libpq connection string or URI; by default the PG* environment\n"
"                variables apply, as for psql.\n"
"    --state FILE    the verification state (verify, get --verify); default\n"
"                    $NEDB_STATE.\n"
"    --full          verify: re-hash every op, not only the new ones.\n"
"    --as-of SEQ     get, scan: as the log was at seq SEQ.\n"
"    --verify        get: check the document against the verified tree.\n"
"    --limit N       scan: at most N documents.\n"
"    --from SEQ, --to SEQ\n"
"                export: the first and last seq to write.\n"
"    --key PUBHEX    verify-digest: the signer's public key, 64 hex digits.\n"
"    -j, --jobs N    verify-aof: worker threads (default: one per CPU, at most 4).\n"
"    --tmk HEX --key-enc FILE\n"
"                verify-aof: decrypt an encrypted reference AOF with its master\n"
"                key (NEDB_TMK) and the database's key.enc.\n"
"    --dek HEX       verify-aof: decrypt it with the data key itself.\n"
"    -q, --quiet     verify-aof, verify: no summary on success.\n"
"    -h, --help      this text.\n"
"\n"
"EXIT STATUS\n"
"    0   success (verified).\n"
"    1   verification failed: a message on stdout names the seq (and line).\n"
"    2   usage, connection, server or I/O error.\n";

void
cli_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage_error(const char *msg)
{
	cli_error("%s", msg);
	fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

/* ------------------------------------------------------------------------
 * libpq
 * ------------------------------------------------------------------------ */

static PGconn *
connect_db(const char *conninfo)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {conninfo, "nedb", NULL};
	PGconn	   *c = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(c) != CONNECTION_OK)
	{
		cli_error("could not connect: %s", PQerrorMessage(c));
		exit(EXIT_USAGE);
	}
	return c;
}

/*
 * Run a statement; a server error ends the program: status 1 if the server
 * itself reports its data damaged (XX001), else 2.
 */
static PGresult *
run(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult   *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);

	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		if (state && strcmp(state, "XX001") == 0)
		{
			printf("FAILED: the server reports damage: %s", PQresultErrorMessage(r));
			exit(EXIT_BAD);
		}
		cli_error("%s", PQresultErrorMessage(r));
		exit(EXIT_USAGE);
	}
	return r;
}

static int64
parse_int64_arg(const char *s, const char *what)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0')
	{
		cli_error("%s must be an integer, not \"%s\"", what, s);
		exit(EXIT_USAGE);
	}
	return v;
}

/* ------------------------------------------------------------------------
 * status, head, get, scan, export
 * ------------------------------------------------------------------------ */

static int
cmd_status(PGconn *c)
{
	PGresult   *r = run(c, "SELECT seq, head, root FROM nedb.digest()", 0, NULL);
	int64		seq = parse_int64_arg(PQgetvalue(r, 0, 0), "seq");

	printf("seq %s\nhead %s\ntree_size " INT64_FORMAT "\nroot %s\n",
		   PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), seq + 1, PQgetvalue(r, 0, 2));
	PQclear(r);

	/* the store's tables may be closed to this role: then say so */
	r = PQexec(c, "SELECT count(DISTINCT coll), count(*) FROM nedb.versions"
			   " WHERE seq_to IS NULL AND doc IS NOT NULL");
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		printf("collections %s\ndocuments %s\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
	else
		printf("collections (not readable: %s)\n", PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
	PQclear(r);
	return EXIT_OK;
}

static int
cmd_head(PGconn *c)
{
	PGresult   *r = run(c, "SELECT seq, hash FROM nedb.tip()", 0, NULL);

	printf("%s %s\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
	PQclear(r);
	return EXIT_OK;
}

static bool
nql_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
			  (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int
cmd_scan(PGconn *c, const char *coll, int64 limit, bool has_as_of, int64 as_of)
{
	char		q[256];
	const char *params[1];
	PGresult   *r;
	int			len;

	if (!nql_name(coll) || strlen(coll) > 100)
		usage_error("scan: COLL must be an NQL name (letters, digits, _)");
	len = snprintf(q, sizeof(q), "FROM %s", coll);
	if (has_as_of)
		len += snprintf(q + len, sizeof(q) - len, " AS OF " INT64_FORMAT, as_of);
	if (limit >= 0)
		snprintf(q + len, sizeof(q) - len, " LIMIT " INT64_FORMAT, limit);
	params[0] = q;
	r = run(c, "SELECT d::text FROM public.nql($1) d", 1, params);
	for (int i = 0; i < PQntuples(r); i++)
		printf("%s\n", PQgetvalue(r, i, 0));
	PQclear(r);
	return EXIT_OK;
}

/* one page of AOF lines: ops after seq since, at most max */
static PGresult *
export_page(PGconn *c, int64 since, int64 max)
{
	char		a[32],
				b[32];
	const char *params[2] = {a, b};

	snprintf(a, sizeof(a), INT64_FORMAT, since);
	snprintf(b, sizeof(b), INT64_FORMAT, max);
	return run(c, "SELECT l FROM nedb.export_aof($1::bigint, $2::bigint) l", 2, params);
}

static int
cmd_export(PGconn *c, int64 from, int64 to)
{
	int64		next = from;

	run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	for (;;)
	{
		int64		want = PAGE;
		PGresult   *r;
		int			n;

		if (to >= 0 && to - next + 1 < want)
			want = to - next + 1;
		if (want <= 0)
			break;
		r = export_page(c, next - 1, want);
		n = PQntuples(r);
		for (int i = 0; i < n; i++)
		{
			fputs(PQgetvalue(r, i, 0), stdout);
			fputc('\n', stdout);
		}
		PQclear(r);
		if (n < want)
			break;
		next += n;
	}
	run(c, "COMMIT", 0, NULL);
	if (fflush(stdout) != 0)
	{
		cli_error("could not write the AOF: %m");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* a proof or digest member: a 64-hex string */
static bool
jhash(JDoc *d, int obj, const char *key, uint8 *out)
{
	int			v = json_member(d, obj, key);

	return v >= 0 && d->v[v].kind == JV_STRING &&
		from_hex(d->v[v].s, d->v[v].len, out, HASH_LEN);
}

/* a proof's "path": its hashes, at most MAX_LEVEL of them */
static bool
jpath(JDoc *d, int obj, uint8 *path, int *len)
{
	int			a = json_member(d, obj, "path");
	int			e;

	if (a < 0 || d->v[a].kind != JV_ARRAY || d->v[a].n > MAX_LEVEL)
		return false;
	e = d->v[a].first;
	for (int i = 0; i < d->v[a].n; i++)
	{
		if (d->v[e].kind != JV_STRING ||
			!from_hex(d->v[e].s, d->v[e].len, path + i * HASH_LEN, HASH_LEN))
			return false;
		e = d->v[e].next;
	}
	*len = d->v[a].n;
	return true;
}

static int
cmd_get(PGconn *c, const char *coll, const char *id, bool has_as_of, int64 as_of,
		bool verify, const char *state_path)
{
	char		asof[32];
	const char *params[3] = {coll, id, has_as_of ? asof : NULL};
	PGresult   *r;
	char	   *text;
	JDoc		d;
	int			root;
	int64		seq;
	VerifyState st;
	LineCheck	lc;
	int			payload;
	char	   *s;
	Buf			served,
				logged;
	uint8		path[MAX_LEVEL * HASH_LEN];
	int			plen;
	int64		pseq,
				ptree;
	uint8		phash[HASH_LEN];
	char		rhex[HEX_LEN + 1];

	if (verify && state_path == NULL)
		usage_error("get --verify needs --state FILE (the state nedb verify saved)");
	if (verify && !state_load(state_path, &st))
	{
		cli_error("no state file \"%s\": run nedb verify --state %s first", state_path, state_path);
		return EXIT_USAGE;
	}
	snprintf(asof, sizeof(asof), INT64_FORMAT, as_of);
	run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	r = run(c, "SELECT nedb.get($1, $2, $3::bigint)::text", 3, params);
	if (PQgetisnull(r, 0, 0))
	{
		printf("null\n");
		return EXIT_OK;
	}
	text = pg_strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (!verify)
	{
		printf("%s\n", text);
		return EXIT_OK;
	}

	/* the op that wrote this version: _seq */
	jdoc_init(&d);
	root = json_parse(&d, text, strlen(text));
	if (root < 0 || !json_int64(&d, json_member(&d, root, "_seq"), &seq) || seq < 0)
	{
		printf("FAILED: the document served has no valid \"_seq\"\n");
		return EXIT_BAD;
	}
	if (seq >= st.size)
	{
		cli_error("op " INT64_FORMAT " is newer than the verified tree (" INT64_FORMAT
				  " ops): run nedb verify --state %s first", seq, st.size, state_path);
		return EXIT_USAGE;
	}

	/* its fields, re-hashed */
	r = export_page(c, seq - 1, 1);
	if (PQntuples(r) != 1)
	{
		printf("FAILED: seq " INT64_FORMAT ": the op that wrote the document is not in the log\n", seq);
		return EXIT_BAD;
	}
	line_check_init(&lc);
	if (line_check(&lc, PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0), seq, NULL) != LINE_OK)
	{
		printf("FAILED: seq " INT64_FORMAT ": %s\n", seq, lc.detail);
		return EXIT_BAD;
	}
	/* the document served is the one the op logged (without _seq) */
	payload = json_member(&lc.doc, 0, "payload");
	s = json_string(&lc.doc, json_member(&lc.doc, 0, "op"));
	if (s == NULL || strcmp(s, "put") != 0 || payload < 0)
	{
		printf("FAILED: seq " INT64_FORMAT ": the op is not a put\n", seq);
		return EXIT_BAD;
	}
	s = json_string(&lc.doc, json_member(&lc.doc, payload, "coll"));
	if (s == NULL || strcmp(s, coll) != 0 ||
		(s = json_string(&lc.doc, json_member(&lc.doc, payload, "id"))) == NULL ||
		strcmp(s, id) != 0)
	{
		printf("FAILED: seq " INT64_FORMAT ": the op is not a put of %s/%s\n", seq, coll, id);
		return EXIT_BAD;
	}
	buf_init(&served);
	buf_init(&logged);
	if (!json_canon_without(&d, root, "_seq", &served) ||
		json_member(&lc.doc, payload, "doc") < 0 ||
		!json_canon_without(&lc.doc, json_member(&lc.doc, payload, "doc"), "_seq", &logged) ||
		served.len != logged.len || memcmp(served.data, logged.data, served.len) != 0)
	{
		printf("FAILED: seq " INT64_FORMAT ": the document served is not the one the op logged\n", seq);
		return EXIT_BAD;
	}
	PQclear(r);

	/* and that op is in the verified tree */
	{
		char		a[32],
					b[32];
		const char *pp[2] = {a, b};

		snprintf(a, sizeof(a), INT64_FORMAT, seq);
		snprintf(b, sizeof(b), INT64_FORMAT, st.size - 1);
		r = run(c, "SELECT nedb.proof($1::bigint, $2::bigint)::text", 2, pp);
	}
	root = json_parse(&d, PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0));
	if (root < 0 || !json_int64(&d, json_member(&d, root, "seq"), &pseq) ||
		!json_int64(&d, json_member(&d, root, "tree_seq"), &ptree) ||
		!jhash(&d, root, "hash", phash) || !jpath(&d, root, path, &plen) ||
		pseq != seq || ptree != st.size - 1)
	{
		printf("FAILED: seq " INT64_FORMAT ": the server's inclusion proof is malformed\n", seq);
		return EXIT_BAD;
	}
	if (memcmp(phash, lc.hash, HASH_LEN) != 0 ||
		!check_inclusion(seq, st.size, lc.hash, path, plen, st.root))
	{
		printf("FAILED: seq " INT64_FORMAT ": the op is not in the verified tree of "
			   INT64_FORMAT " ops (its inclusion proof fails)\n", seq, st.size);
		return EXIT_BAD;
	}
	PQclear(r);
	run(c, "COMMIT", 0, NULL);
	printf("%s\n", text);
	to_hex(st.root, HASH_LEN, rhex);
	fprintf(stderr, "%s: verified: op " INT64_FORMAT " (hash of its fields) is in the tree of "
			INT64_FORMAT " ops with root %.16s... (verified %s)\n",
			progname, seq, st.size, rhex, st.verified_at);
	return EXIT_OK;
}

/* ------------------------------------------------------------------------
 * verify --state FILE
 * ------------------------------------------------------------------------ */

/*
 * The history before seq size was not the one verified: find the first op
 * whose hash differs from FILE.ops, to name it.
 */
static void
locate_rewrite(PGconn *c, const char *state_path, int64 size, const char *why)
{
	uint8	   *known = state_load_prefixes(state_path, size);
	LineCheck	lc;
	int64		next = 0;

	printf("FAILED: %s\n", why);
	if (known == NULL)
	{
		printf("(no usable %s.ops to name the first changed op)\n", state_path);
		exit(EXIT_BAD);
	}
	line_check_init(&lc);
	while (next < size)
	{
		PGresult   *r = export_page(c, next - 1, Min(PAGE, size - next));
		int			n = PQntuples(r);

		for (int i = 0; i < n; i++, next++)
		{
			int			h;
			uint8		hash[HASH_LEN];
			LineStatus	s = line_check(&lc, PQgetvalue(r, i, 0), PQgetlength(r, i, 0), -1, NULL);

			if (lc.seq != next)
			{
				printf("FAILED: seq " INT64_FORMAT ": the op verified before is missing from the log\n", next);
				exit(EXIT_BAD);
			}
			h = json_member(&lc.doc, 0, "hash");
			if (s == LINE_BAD_JSON || h < 0 ||
				!from_hex(lc.doc.v[h].s, lc.doc.v[h].len, hash, HASH_LEN) ||
				memcmp(hash, known + next * OP_PREFIX_LEN, OP_PREFIX_LEN) != 0)
			{
				printf("FAILED: seq " INT64_FORMAT ": the op's hash is not the one verified before: "
					   "the history was rewritten from seq " INT64_FORMAT "\n", next, next);
				exit(EXIT_BAD);
			}
		}
		PQclear(r);
		if (n == 0)
		{
			printf("FAILED: seq " INT64_FORMAT ": the op verified before is missing from the log\n", next);
			exit(EXIT_BAD);
		}
	}
	printf("(every op hash up to seq " INT64_FORMAT " is the one verified: the server's tree disagrees with its ops)\n",
		   size - 1);
	exit(EXIT_BAD);
}

static void
check_consistency_proof(PGconn *c, const char *state_path, const VerifyState *st,
						int64 size, const uint8 *root)
{
	char		a[32],
				b[32];
	const char *pp[2] = {a, b};
	PGresult   *r;
	JDoc		d;
	int			o;
	int64		old_seq,
				tree_seq;
	uint8		old_root[HASH_LEN],
				new_root[HASH_LEN];
	uint8		path[MAX_LEVEL * HASH_LEN];
	int			plen;

	snprintf(a, sizeof(a), INT64_FORMAT, st->size - 1);
	snprintf(b, sizeof(b), INT64_FORMAT, size - 1);
	r = run(c, "SELECT nedb.consistency($1::bigint, $2::bigint)::text", 2, pp);
	jdoc_init(&d);
	o = json_parse(&d, PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0));
	if (o < 0 || !json_int64(&d, json_member(&d, o, "old_seq"), &old_seq) ||
		!json_int64(&d, json_member(&d, o, "tree_seq"), &tree_seq) ||
		!jhash(&d, o, "old_root", old_root) || !jhash(&d, o, "root", new_root) ||
		!jpath(&d, o, path, &plen) || old_seq != st->size - 1 || tree_seq != size - 1)
		locate_rewrite(c, state_path, st->size, "the server's consistency proof is malformed");
	if (memcmp(old_root, st->root, HASH_LEN) != 0 ||
		!check_consistency(st->size, size, st->root, root, path, plen))
	{
		char		msg[256];

		snprintf(msg, sizeof(msg),
				 "the log of " INT64_FORMAT " ops verified at %s is not a prefix of today's "
				 "(the consistency proof to " INT64_FORMAT " ops fails)",
				 st->size, st->verified_at, size);
		locate_rewrite(c, state_path, st->size, msg);
	}
	PQclear(r);
}

static int
cmd_verify(PGconn *c, const char *state_path, bool full, bool quiet)
{
	VerifyState st;
	bool		known;
	PGresult   *r;
	int64		size;
	uint8		srv_head[HASH_LEN];
	uint8		srv_root[HASH_LEN];
	int64		start;
	Frontier	fr;
	char		prev[HEX_LEN + 1];
	LineCheck	lc;
	Buf			prefixes;
	uint8	   *old_prefixes = NULL;
	uint8		got_root[HASH_LEN];
	int64		next;
	VerifyState ns;
	char		hex[HEX_LEN + 1];

	if (state_path == NULL)
		usage_error("verify needs --state FILE");
	known = state_load(state_path, &st);

	/* one snapshot: the digest, the proof and every page agree */
	run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
	r = run(c, "SELECT seq, head, root FROM nedb.digest()", 0, NULL);
	size = parse_int64_arg(PQgetvalue(r, 0, 0), "the digest's seq") + 1;
	if (!from_hex(PQgetvalue(r, 0, 1), PQgetlength(r, 0, 1), srv_head, HASH_LEN) ||
		!from_hex(PQgetvalue(r, 0, 2), PQgetlength(r, 0, 2), srv_root, HASH_LEN))
	{
		printf("FAILED: the server's digest is malformed\n");
		return EXIT_BAD;
	}
	PQclear(r);

	if (known)
	{
		if (size < st.size)
		{
			char		msg[200];

			snprintf(msg, sizeof(msg), "the log has " INT64_FORMAT " ops, fewer than the "
					 INT64_FORMAT " verified at %s", size, st.size, st.verified_at);
			locate_rewrite(c, state_path, st.size, msg);
		}
		/* --full names a rewritten seq by re-hashing: the proof comes after */
		if (st.size > 0 && !full)
			check_consistency_proof(c, state_path, &st, size, srv_root);
		if (full)
			old_prefixes = state_load_prefixes(state_path, st.size);
	}

	/* the ops to re-hash: all of them, or those after the verified tree */
	if (!known || full)
	{
		start = 0;
		strcpy(prev, GENESIS_HEX);
		fr_init(&fr);
	}
	else
	{
		start = st.size;
		to_hex(st.head, HASH_LEN, prev);
		fr = st.fr;
	}
	line_check_init(&lc);
	buf_init(&prefixes);
	next = start;
	while (next < size)
	{
		int			n;

		r = export_page(c, next - 1, Min(PAGE, size - next));
		n = PQntuples(r);
		if (n == 0)
		{
			printf("FAILED: seq " INT64_FORMAT ": the op is missing from the log\n", next);
			return EXIT_BAD;
		}
		for (int i = 0; i < n; i++, next++)
		{
			LineStatus	s = line_check(&lc, PQgetvalue(r, i, 0), PQgetlength(r, i, 0), next, prev);

			if (s != LINE_OK)
			{
				if (s == LINE_BAD_PREV && next == start && known && !full)
				{
					char		msg[200];

					snprintf(msg, sizeof(msg), "op " INT64_FORMAT " no longer has the hash verified at %s",
							 st.size - 1, st.verified_at);
					locate_rewrite(c, state_path, st.size, msg);
				}
				printf("FAILED: seq " INT64_FORMAT ": %s\n", s == LINE_BAD_SEQ ? next : lc.seq,
					   lc.detail);
				return EXIT_BAD;
			}
			if (old_prefixes && next < st.size &&
				memcmp(lc.hash, old_prefixes + next * OP_PREFIX_LEN, OP_PREFIX_LEN) != 0)
			{
				printf("FAILED: seq " INT64_FORMAT ": the op's hash is not the one verified at %s: "
					   "the history was rewritten from seq " INT64_FORMAT "\n",
					   next, st.verified_at, next);
				return EXIT_BAD;
			}
			to_hex(lc.hash, HASH_LEN, prev);
			fr_append(&fr, lc.hash);
			buf_put(&prefixes, (const char *) lc.hash, OP_PREFIX_LEN);
			if (known && full && fr.size == st.size)
			{
				fr_root(&fr, got_root);
				if (memcmp(got_root, st.root, HASH_LEN) != 0)
				{
					printf("FAILED: the first " INT64_FORMAT " ops do not make the root verified at %s\n",
						   st.size, st.verified_at);
					return EXIT_BAD;
				}
			}
		}
		PQclear(r);
	}

	if (known && full && st.size > 0)
		check_consistency_proof(c, state_path, &st, size, srv_root);

	/* the server's root and head are those of the ops just checked */
	fr_root(&fr, got_root);
	if (memcmp(got_root, srv_root, HASH_LEN) != 0)
	{
		printf("FAILED: the tree root the server publishes for " INT64_FORMAT
			   " ops is not the root of their hashes\n", size);
		return EXIT_BAD;
	}
	if (!from_hex(prev, HEX_LEN, ns.head, HASH_LEN) || memcmp(ns.head, srv_head, HASH_LEN) != 0)
	{
		printf("FAILED: the head the server publishes is not the hash of op " INT64_FORMAT "\n", size - 1);
		return EXIT_BAD;
	}
	run(c, "COMMIT", 0, NULL);

	ns.size = size;
	memcpy(ns.root, got_root, HASH_LEN);
	ns.fr = fr;
	state_save(state_path, &ns, start, (const uint8 *) prefixes.data);
	if (!quiet)
	{
		to_hex(got_root, HASH_LEN, hex);
		if (!known)
			printf("ok: first run (trust on first use): " INT64_FORMAT " ops re-hashed, state saved in %s\n",
				   size, state_path);
		else
			printf("ok: " INT64_FORMAT " ops verified before are a prefix of today's " INT64_FORMAT
				   "; " INT64_FORMAT " ops re-hashed from their fields\n",
				   st.size, size, size - start);
		printf("tree_size " INT64_FORMAT "\nroot %s\n", size, hex);
		printf("head %s\n", prev);
	}
	return EXIT_OK;
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

int
main(int argc, char **argv)
{
	const char *conninfo = NULL;
	const char *state_path = NULL;
	const char *cmd = NULL;
	const char *pos[3] = {NULL, NULL, NULL};
	int			npos = 0;
	bool		full = false,
				verify = false,
				quiet = false,
				has_as_of = false;
	int64		as_of = 0,
				limit = -1,
				from = 0,
				to = -1;
	PGconn	   *c;
	int			rc;

	/* tables before any thread; libsodium picks its fastest BLAKE2b here */
	json_init();
	hex_init();
	if (sodium_init() < 0)
	{
		cli_error("could not initialize libsodium");
		return EXIT_USAGE;
	}
	if (argc < 2)
		usage_error("which command? (status, head, get, scan, export, verify, verify-digest, verify-aof)");
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
		{
			fputs(help_text, stdout);
			return EXIT_OK;
		}

	/* the offline commands parse their own arguments */
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "verify-aof") == 0)
			return cmd_verify_aof(argc - i, argv + i);
		if (strcmp(argv[i], "verify-digest") == 0)
			return cmd_verify_digest(argc - i, argv + i);
		if (argv[i][0] != '-')
			break;
		if (strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--dbname") == 0)
			i++;
	}

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		bool		more = i + 1 < argc;

		if ((strcmp(a, "-d") == 0 || strcmp(a, "--dbname") == 0) && more)
			conninfo = argv[++i];
		else if (strncmp(a, "--dbname=", 9) == 0)
			conninfo = a + 9;
		else if (strcmp(a, "--state") == 0 && more)
			state_path = argv[++i];
		else if (strncmp(a, "--state=", 8) == 0)
			state_path = a + 8;
		else if (strcmp(a, "--full") == 0)
			full = true;
		else if (strcmp(a, "--verify") == 0)
			verify = true;
		else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
			quiet = true;
		else if (strcmp(a, "--as-of") == 0 && more)
		{
			as_of = parse_int64_arg(argv[++i], "--as-of");
			has_as_of = true;
		}
		else if (strcmp(a, "--limit") == 0 && more)
			limit = parse_int64_arg(argv[++i], "--limit");
		else if (strcmp(a, "--from") == 0 && more)
			from = parse_int64_arg(argv[++i], "--from");
		else if (strcmp(a, "--to") == 0 && more)
			to = parse_int64_arg(argv[++i], "--to");
		else if (a[0] == '-' && a[1] != '\0')
		{
			cli_error("unknown option \"%s\" (or its value is missing)", a);
			fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
			return EXIT_USAGE;
		}
		else if (cmd == NULL)
			cmd = a;
		else if (npos < 3)
			pos[npos++] = a;
		else
			usage_error("too many arguments");
	}
	if (cmd == NULL)
		usage_error("which command? (status, head, get, scan, export, verify, verify-digest, verify-aof)");
	/* an auditor's state file need not be named at every call */
	if (state_path == NULL && getenv("NEDB_STATE") != NULL && getenv("NEDB_STATE")[0] != '\0')
		state_path = getenv("NEDB_STATE");
	if (limit < -1 || from < 0 || (to >= 0 && to < from) || (has_as_of && as_of < 0))
		usage_error("--limit, --from, --to and --as-of must not be negative (and --to not below --from)");

#define NEED_ARGS(n, what) \
	do { if (npos != (n)) usage_error("usage: nedb " what); } while (0)

	if (strcmp(cmd, "status") == 0)
		NEED_ARGS(0, "status");
	else if (strcmp(cmd, "head") == 0)
		NEED_ARGS(0, "head");
	else if (strcmp(cmd, "get") == 0)
		NEED_ARGS(2, "get COLL ID [--as-of SEQ] [--verify --state FILE]");
	else if (strcmp(cmd, "scan") == 0)
		NEED_ARGS(1, "scan COLL [--limit N] [--as-of SEQ]");
	else if (strcmp(cmd, "export") == 0)
		NEED_ARGS(0, "export [--from SEQ] [--to SEQ]");
	else if (strcmp(cmd, "verify") == 0)
		NEED_ARGS(0, "verify --state FILE [--full]");
	else
	{
		cli_error("unknown command \"%s\"", cmd);
		fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
		return EXIT_USAGE;
	}

	c = connect_db(conninfo);
	if (strcmp(cmd, "status") == 0)
		rc = cmd_status(c);
	else if (strcmp(cmd, "head") == 0)
		rc = cmd_head(c);
	else if (strcmp(cmd, "get") == 0)
		rc = cmd_get(c, pos[0], pos[1], has_as_of, as_of, verify, state_path);
	else if (strcmp(cmd, "scan") == 0)
		rc = cmd_scan(c, pos[0], limit, has_as_of, as_of);
	else if (strcmp(cmd, "export") == 0)
		rc = cmd_export(c, from, to);
	else
		rc = cmd_verify(c, state_path, full, quiet);
	PQfinish(c);
	fflush(stdout);
	return rc;
}
