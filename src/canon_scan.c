/*
 * canon_scan.c
 *	  One-pass parsing of plain JSON into a CanonNode tree.
 *
 * Every op a follower applies and every AOF line is parsed into a CanonNode
 * tree; through pg_parse_json and its callbacks that is a token at a time,
 * strings copied a byte at a time, each node and child array allocated on
 * its own: a sixth of a follower's time.  This scanner builds the same tree
 * in one pass into a few blocks of memory, for the JSON such text holds:
 * strings without \u escapes, numbers, literals, nesting under the depth
 * canon_parse allows.  Whatever else it meets (a \u escape, anything Postgres
 * would reject, nesting too deep) it gives up on, and canon_parse asks
 * pg_parse_json, which accepts or rejects the text with its own messages.
 * So where this scanner answers, its tree is the one pg_parse_json's
 * callbacks build (tests/fuzz/canon_fuzz.c compares the two); where it
 * does not, nothing changes.
 */
#include "postgres.h"

#include "canon.h"

/* canon_parse's limit: deeper text goes to it for its error */
#define SCAN_MAX_DEPTH 512

typedef struct Scan
{
	const char *p;				/* next input byte */
	const char *end;
	char	   *text;			/* where token text goes, NUL-terminated */
	char	   *text_end;
	CanonNode  *nodes;			/* the current block of nodes */
	int			nodes_left;
	CanonNode **kids;			/* children of open containers, innermost last */
	char	  **kid_keys;
	int			nkids;
	int			kids_cap;
	int			depth;
} Scan;

static bool scan_value(Scan *s, CanonNode **out);

static inline void
skip_space(Scan *s)
{
	while (s->p < s->end &&
		   (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

/* what ends a number or a literal for Postgres's lexer (else the token goes on) */
static inline bool
token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static CanonNode *
new_node(Scan *s, CanonKind kind)
{
	CanonNode  *n;

	if (s->nodes_left == 0)
	{
		/* about one node per 8 input bytes: a block or two for a small op */
		int			count = Max(16, Min(4096, (int) ((s->end - s->p) / 8)));

		s->nodes = palloc0(sizeof(CanonNode) * count);
		s->nodes_left = count;
	}
	n = s->nodes++;
	s->nodes_left--;
	n->kind = kind;
	return n;
}

/* copy a token's bytes [from, to) to the text area; NULL if it would not fit */
static char *
keep_text(Scan *s, const char *from, const char *to)
{
	char	   *t = s->text;
	Size		len = to - from;

	if (len + 1 > (Size) (s->text_end - t))
		return NULL;
	memcpy(t, from, len);
	t[len] = '\0';
	s->text = t + len + 1;
	return t;
}

/* a string at s->p (the opening quote); its unescaped text in the text area */
static bool
scan_string(Scan *s, char **out, int *outlen)
{
	const char *p = s->p + 1;
	char	   *t = s->text;
	char	   *start = t;

	for (;;)
	{
		const char *q = p;
		unsigned char c;

		/* a run of plain bytes */
		while (q < s->end && (c = (unsigned char) *q) != '"' && c != '\\' && c >= 0x20)
			q++;
		if (q >= s->end || (q - p) + 2 > s->text_end - t)
			return false;
		memcpy(t, p, q - p);
		t += q - p;
		p = q;
		if (*p == '"')
			break;
		if (*p != '\\' || p + 1 >= s->end)
			return false;		/* a control character: Postgres's error */
		switch (p[1])
		{
			case '"':
			case '\\':
			case '/':
				*t++ = p[1];
				break;
			case 'b':
				*t++ = '\b';
				break;
			case 'f':
				*t++ = '\f';
				break;
			case 'n':
				*t++ = '\n';
				break;
			case 'r':
				*t++ = '\r';
				break;
			case 't':
				*t++ = '\t';
				break;
			default:
				return false;	/* \u (surrogates, \u0000) and bad escapes */
		}
		p += 2;
	}
	*t = '\0';
	*out = start;
	*outlen = t - start;
	s->text = t + 1;
	s->p = p + 1;
	return true;
}

/* a number as Postgres's lexer reads one: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
scan_number(Scan *s, CanonNode **out)
{
	const char *p = s->p;
	const char *e = s->end;
	bool		is_float = false;
	CanonNode  *n;

	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (p < e && *p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (p < e && *p == '.')
	{
		is_float = true;
		p++;
		if (p >= e || *p < '0' || *p > '9')
			return false;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E'))
	{
		is_float = true;
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || *p < '0' || *p > '9')
			return false;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && token_char((unsigned char) *p))
		return false;			/* "01", "1x": one invalid token to Postgres */
	n = new_node(s, is_float ? CN_FLOAT : CN_INT);
	n->str = keep_text(s, s->p, p);
	if (n->str == NULL)
		return false;
	n->len = p - s->p;
	s->p = p;
	*out = n;
	return true;
}

static bool
scan_literal(Scan *s, const char *word, int len, CanonKind kind, CanonNode **out)
{
	CanonNode  *n;

	if (s->end - s->p < len || memcmp(s->p, word, len) != 0 ||
		(s->end - s->p > len && token_char((unsigned char) s->p[len])))
		return false;
	n = new_node(s, kind);
	n->str = keep_text(s, s->p, s->p + len);
	if (n->str == NULL)
		return false;
	n->len = len;
	s->p += len;
	*out = n;
	return true;
}

/* park a child of the innermost open container */
static void
push_kid(Scan *s, CanonNode *kid, char *key)
{
	if (s->nkids == s->kids_cap)
	{
		s->kids_cap *= 2;
		s->kids = repalloc(s->kids, sizeof(CanonNode *) * s->kids_cap);
		s->kid_keys = repalloc(s->kid_keys, sizeof(char *) * s->kids_cap);
	}
	s->kids[s->nkids] = kid;
	s->kid_keys[s->nkids] = key;
	s->nkids++;
}

/* the container's children are the kids parked since first: give them to it */
static void
adopt_kids(Scan *s, CanonNode *c, int first)
{
	int			n = s->nkids - first;

	c->n = c->cap = n;
	if (n > 0)
	{
		c->items = palloc(sizeof(CanonNode *) * n);
		memcpy(c->items, s->kids + first, sizeof(CanonNode *) * n);
		if (c->kind == CN_OBJECT)
		{
			c->keys = palloc(sizeof(char *) * n);
			memcpy(c->keys, s->kid_keys + first, sizeof(char *) * n);
		}
	}
	s->nkids = first;
}

static bool
scan_container(Scan *s, CanonNode **out)
{
	bool		object = *s->p == '{';
	char		close = object ? '}' : ']';
	CanonNode  *c;
	int			first = s->nkids;

	if (++s->depth > SCAN_MAX_DEPTH)
		return false;
	c = new_node(s, object ? CN_OBJECT : CN_ARRAY);
	s->p++;
	skip_space(s);
	if (s->p < s->end && *s->p == close)
		s->p++;
	else
	{
		for (;;)
		{
			char	   *key = NULL;
			CanonNode  *kid;

			if (object)
			{
				int			keylen;

				if (s->p >= s->end || *s->p != '"' || !scan_string(s, &key, &keylen))
					return false;
				skip_space(s);
				if (s->p >= s->end || *s->p != ':')
					return false;
				s->p++;
				skip_space(s);
			}
			if (!scan_value(s, &kid))
				return false;
			push_kid(s, kid, key);
			skip_space(s);
			if (s->p >= s->end)
				return false;
			if (*s->p == close)
			{
				s->p++;
				break;
			}
			if (*s->p != ',')
				return false;
			s->p++;
			skip_space(s);
		}
	}
	adopt_kids(s, c, first);
	s->depth--;
	*out = c;
	return true;
}

/* a value at s->p (no space before it) */
static bool
scan_value(Scan *s, CanonNode **out)
{
	if (s->p >= s->end)
		return false;
	switch (*s->p)
	{
		case '{':
		case '[':
			return scan_container(s, out);
		case '"':
			{
				CanonNode  *n = new_node(s, CN_STRING);

				*out = n;
				return scan_string(s, &n->str, &n->len);
			}
		case 't':
			return scan_literal(s, "true", 4, CN_TRUE, out);
		case 'f':
			return scan_literal(s, "false", 5, CN_FALSE, out);
		case 'n':
			return scan_literal(s, "null", 4, CN_NULL, out);
		default:
			return scan_number(s, out);
	}
}

/*
 * The tree of json[0..len), or NULL where pg_parse_json must decide (what it
 * allocated then is left to the caller's memory context).
 */
CanonNode *
canon_scan(const char *json, int len)
{
	Scan		s;
	CanonNode  *root;

	s.p = json;
	s.end = json + len;
	/* token text (unescaped, each NUL-terminated) never outgrows the input + 1 */
	s.text = palloc(len + 2);
	s.text_end = s.text + len + 2;
	s.nodes = NULL;
	s.nodes_left = 0;
	s.kids_cap = 64;
	s.kids = palloc(sizeof(CanonNode *) * s.kids_cap);
	s.kid_keys = palloc(sizeof(char *) * s.kids_cap);
	s.nkids = 0;
	s.depth = 0;

	skip_space(&s);
	if (!scan_value(&s, &root))
		return NULL;
	skip_space(&s);
	if (s.p != s.end)
		return NULL;
	pfree(s.kids);
	pfree(s.kid_keys);
	return root;
}
