/*
 * nedb_cli.h
 *	  The nedb command-line tool: declarations shared by its files.
 *
 * The tool checks the server's claims with its own code: canonical JSON and
 * op hashes (json.c, aof_check.c), the Merkle tree and its proofs
 * (proof_check.c), signed digests (digest_check.c).  None of it calls the
 * server's verify_* functions.
 */
#ifndef NEDB_CLI_H
#define NEDB_CLI_H

#include "postgres_fe.h"

#define HASH_LEN 32
#define HEX_LEN 64
#define GENESIS_HEX "0000000000000000000000000000000000000000000000000000000000000000"

/* exit statuses */
#define EXIT_OK 0
#define EXIT_BAD 1				/* verification failed */
#define EXIT_USAGE 2			/* usage, connection or I/O error */

/* ------------------------------------------------------------------------
 * json.c: a growable buffer, a JSON parser that keeps each token's text,
 * and the reference's canonical JSON (Python's json.dumps(sort_keys=True,
 * separators=(",", ":"), ensure_ascii=True))
 * ------------------------------------------------------------------------ */

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void buf_init(Buf *b);
extern void buf_reserve(Buf *b, size_t more);
extern void buf_puts(Buf *b, const char *s);
extern void buf_free(Buf *b);

/* inline: the canonical writer appends a few bytes at a time */
static inline void
buf_put(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static inline void
buf_putc(Buf *b, char c)
{
	if (b->len + 1 >= b->cap)
		buf_reserve(b, 1);
	b->data[b->len++] = c;
}

typedef enum JvKind
{
	JV_NULL,
	JV_TRUE,
	JV_FALSE,
	JV_INT,
	JV_FLOAT,
	JV_STRING,
	JV_ARRAY,
	JV_OBJECT
} JvKind;

/*
 * One value of a parsed text.  s/len: a string's raw text between its
 * quotes (escapes not decoded), a number's token.  An object's children
 * alternate key, value; children are linked by next (-1 ends).
 */
typedef struct Jv
{
	JvKind		kind;
	bool		plain;			/* string: printable ASCII only, no escapes */
	const char *s;
	int			len;
	int			n;				/* array elements / object members */
	int			first;
	int			next;
} Jv;

typedef struct JDoc
{
	Jv		   *v;
	int			n;
	int			cap;
	const char *error;			/* why parsing failed */
	Buf			scratch;		/* decoded keys while canonicalizing */
} JDoc;

extern void json_init(void);
extern void jdoc_init(JDoc *d);
/* parse text[0..len) as one JSON value; its index (0) or -1 on error */
extern int	json_parse(JDoc *d, const char *text, size_t len);
/* an object's member by (plain) key: the last one, as Python keeps; -1 */
extern int	json_member(JDoc *d, int obj, const char *key);
/* a string member's decoded value (NUL-terminated, malloc'd), or NULL */
extern char *json_string(JDoc *d, int v);
/* an integral number member; false if it is not one or out of range */
extern bool json_int64(JDoc *d, int v, int64 *out);
/* append the canonical JSON of value v */
extern bool json_canon(JDoc *d, int v, Buf *out);
/* the same without the top-level member skip (an object) */
extern bool json_canon_without(JDoc *d, int v, const char *skip, Buf *out);
/* canonical leaves */
extern bool canon_string_text(const char *s, int len, bool plain, Buf *out, Buf *tmp);
extern void canon_number(const char *tok, int len, bool is_float, Buf *out);

/* ------------------------------------------------------------------------
 * proof_check.c: the log's Merkle tree (README "Log proofs")
 * ------------------------------------------------------------------------ */

#define MAX_LEVEL 64

extern void mk_leaf(const uint8 *op_hash, uint8 *out);
extern void mk_node(const uint8 *left, const uint8 *right, uint8 *out);
extern void mk_bound_root(int64 size, const uint8 *mth, uint8 *out);

/* the perfect subtree roots along the tree's right edge, one per set bit */
typedef struct Frontier
{
	int64		size;
	uint8		node[MAX_LEVEL][HASH_LEN];
} Frontier;

extern void fr_init(Frontier *f);
extern void fr_append(Frontier *f, const uint8 *op_hash);
extern void fr_append_leaf(Frontier *f, const uint8 *leaf);
extern void fr_root(const Frontier *f, uint8 *root);

extern bool check_inclusion(int64 index, int64 size, const uint8 *op_hash,
							const uint8 *path, int len, const uint8 *root);
extern bool check_consistency(int64 first, int64 second, const uint8 *first_root,
							  const uint8 *second_root, const uint8 *path, int len);

/* ------------------------------------------------------------------------
 * aof_check.c: one AOF line's hash, and whole files
 * ------------------------------------------------------------------------ */

typedef enum LineStatus
{
	LINE_OK,
	LINE_BAD_JSON,				/* not a JSON object, or fields of the wrong type */
	LINE_ENCRYPTED,				/* an {"enc": 1, ...} envelope */
	LINE_BAD_SEQ,				/* not the next seq */
	LINE_BAD_PREV,				/* prev_hash is not the previous op's hash */
	LINE_BAD_HASH,				/* hash is not the hash of its fields */
	LINE_BAD_CRYPT				/* an encrypted line the key does not open */
} LineStatus;

typedef struct LineCheck
{
	JDoc		doc;
	Buf			body;
	Buf			tmp;
	int64		seq;			/* the line's seq (when it has one) */
	uint8		hash[HASH_LEN];	/* its stated hash (LINE_OK: checked) */
	char		prev[HEX_LEN + 1];	/* its stated prev_hash */
	char		detail[256];	/* what is wrong */
} LineCheck;

extern void line_check_init(LineCheck *lc);

/*
 * Check one line: it is op expect_seq (any seq if expect_seq < 0), follows
 * prev_hex (not checked if NULL), and its hash is that of its fields.
 */
extern LineStatus line_check(LineCheck *lc, const char *line, size_t len,
							 int64 expect_seq, const char *prev_hex);
extern int	cmd_verify_aof(int argc, char **argv);

/* aof_crypt.c: encrypted reference AOF lines */
extern bool aof_set_dek(const char *hex);
extern bool aof_set_tmk(const char *tmk_hex, const char *key_enc_path);
extern bool aof_have_key(void);
extern bool aof_decrypt_line(JDoc *d, const char *line, size_t len, Buf *out, bool *ok);

/* ------------------------------------------------------------------------
 * digest_check.c
 * ------------------------------------------------------------------------ */
extern int	cmd_verify_digest(int argc, char **argv);

/* ------------------------------------------------------------------------
 * hex.c-ish helpers (in proof_check.c)
 * ------------------------------------------------------------------------ */
extern void hex_init(void);
extern void to_hex(const uint8 *b, size_t n, char *hex);
extern bool from_hex(const char *hex, size_t hexlen, uint8 *b, size_t n);
extern void blake2b_256(const void *data, size_t len, uint8 *out);

/* ------------------------------------------------------------------------
 * state.c: what `nedb verify --state FILE` trusted last time
 * ------------------------------------------------------------------------ */

#define OP_PREFIX_LEN 8			/* bytes of each op hash kept in FILE.ops */

typedef struct VerifyState
{
	int64		size;			/* ops in the verified tree */
	uint8		root[HASH_LEN];	/* its bound root */
	uint8		head[HASH_LEN];	/* hash of op size - 1 (zeros if empty) */
	Frontier	fr;				/* its frontier: the next runs extend it */
	char		verified_at[40];
} VerifyState;

/* false if FILE does not exist; exits (status 2) if it is malformed */
extern bool state_load(const char *path, VerifyState *st);
/* FILE.ops: the first OP_PREFIX_LEN bytes of op hashes 0..size-1 */
extern uint8 *state_load_prefixes(const char *path, int64 size);
/*
 * Save st; the op hash prefixes of seqs [keep, st->size) are in
 * prefixes, those before keep are kept from the previous FILE.ops.
 */
extern void state_save(const char *path, const VerifyState *st,
					   int64 keep, const uint8 *prefixes);

/* nedb.c */
extern const char *progname;
extern void cli_error(const char *fmt,...) pg_attribute_printf(1, 2);

#endif
