/*
 * json.c
 *	  JSON for the nedb tool: a parser that keeps every token's text, and
 *	  the reference's canonical form, which the chain hashes.
 *
 * Canonical JSON is Python's json.dumps(sort_keys=True, separators=(",",
 * ":"), ensure_ascii=True): keys in code-point order, \uXXXX for anything
 * outside printable ASCII, ints as written, floats in Python repr.  The
 * parser does not build strings or numbers: a value points into the text,
 * so a line whose strings are plain ASCII is canonicalized by copying.
 * That is what makes verify-aof fast.
 */
#include "nedb_cli.h"

#include <float.h>
#include <math.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/shortest_dec.h"
#include "port/pg_bswap.h"

/* nesting deeper than this is refused, not recursed into */
#define MAX_DEPTH 1000

/* ------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------ */

void
buf_init(Buf *b)
{
	b->cap = 1024;
	b->len = 0;
	b->data = pg_malloc(b->cap);
}

void
buf_reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap *= 2;
	b->data = pg_realloc(b->data, b->cap);
}

void
buf_puts(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void
buf_free(Buf *b)
{
	pg_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

/* printable ASCII but " and \: written by ensure_ascii as is */
static bool plain_byte[256];

/* powers of ten, exact in x87's 64-bit mantissa up to 10^27 */
static long double p10[28];
/* long double arithmetic really keeps 64 bits (not so under valgrind) */
static bool ld_extended = false;

/* the tables, filled before any worker thread starts */
void
json_init(void)
{
	long double t = 1;
	volatile long double one = 1;

	for (int c = 0x20; c < 0x7f; c++)
		plain_byte[c] = (c != '"' && c != '\\');

	for (int i = 0; i < 28; i++, t *= 10)
		p10[i] = t;
	/* 1 + 2^-60 is 1 at double precision (x87 precision control, emulators) */
	ld_extended = (one + 0x1p-60L) != one;
}

void
jdoc_init(JDoc *d)
{
	d->cap = 256;
	d->n = 0;
	d->v = pg_malloc(sizeof(Jv) * d->cap);
	d->error = NULL;
	buf_init(&d->scratch);
}

typedef struct Parser
{
	JDoc	   *d;
	const char *p;
	const char *end;
} Parser;

static int
new_value(JDoc *d, JvKind kind)
{
	Jv		   *v;

	if (d->n == d->cap)
	{
		d->cap *= 2;
		d->v = pg_realloc(d->v, sizeof(Jv) * d->cap);
	}
	v = &d->v[d->n];
	v->kind = kind;
	v->plain = true;
	v->s = NULL;
	v->len = 0;
	v->n = 0;
	v->first = -1;
	v->next = -1;
	return d->n++;
}

static void
skip_ws(Parser *ps)
{
	while (ps->p < ps->end &&
		   (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int	parse_value(Parser *ps, int depth);

static int
fail(Parser *ps, const char *why)
{
	if (ps->d->error == NULL)
		ps->d->error = why;
	return -1;
}

static int
parse_string(Parser *ps)
{
	const unsigned char *p = (const unsigned char *) ps->p + 1;
	const unsigned char *end = (const unsigned char *) ps->end;
	int			i = new_value(ps->d, JV_STRING);
	bool		plain = true;

	ps->d->v[i].s = (const char *) p;
	for (;;)
	{
#ifdef __SSE2__
		/* 16 bytes at a time to the first byte that is not plain */
		while (end - p >= 16)
		{
			__m128i		v = _mm_loadu_si128((const __m128i *) p);
			__m128i		m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
													  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
										 _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
													  _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
			int			bits = _mm_movemask_epi8(m);

			if (bits != 0)
			{
				p += __builtin_ctz(bits);
				break;
			}
			p += 16;
		}
#endif
		while (p < end && plain_byte[*p])
			p++;
		if (p >= end)
			return fail(ps, "unterminated string");
		if (*p == '"')
			break;
		if (*p < 0x20)
			return fail(ps, "control character in a string");
		plain = false;
		if (*p == '\\')
		{
			if (p + 1 >= end)
				return fail(ps, "unterminated string");
			p += 2;
		}
		else
			p++;
	}
	ps->d->v[i].len = (const char *) p - ps->d->v[i].s;
	ps->d->v[i].plain = plain;
	ps->p = (const char *) p + 1;
	return i;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
parse_number(Parser *ps)
{
	const char *start = ps->p;
	const char *p = ps->p;
	bool		is_float = false;
	int			i;

	if (p < ps->end && *p == '-')
		p++;
	if (ps->end - p >= 8 && memcmp(p, "Infinity", 8) == 0)
	{
		/* Python writes (and reads) non-finite floats as bare words */
		p += 8;
		is_float = true;
	}
	else
	{
		if (p >= ps->end || !is_digit(*p))
			return fail(ps, "invalid number");
		if (*p == '0')
			p++;
		else
			while (p < ps->end && is_digit(*p))
				p++;
		if (p < ps->end && *p == '.')
		{
			p++;
			if (p >= ps->end || !is_digit(*p))
				return fail(ps, "invalid number");
			while (p < ps->end && is_digit(*p))
				p++;
			is_float = true;
		}
		if (p < ps->end && (*p == 'e' || *p == 'E'))
		{
			p++;
			if (p < ps->end && (*p == '+' || *p == '-'))
				p++;
			if (p >= ps->end || !is_digit(*p))
				return fail(ps, "invalid number");
			while (p < ps->end && is_digit(*p))
				p++;
			is_float = true;
		}
	}
	i = new_value(ps->d, is_float ? JV_FLOAT : JV_INT);
	ps->d->v[i].s = start;
	ps->d->v[i].len = p - start;
	ps->p = p;
	return i;
}

static bool
word(Parser *ps, const char *w)
{
	size_t		n = strlen(w);

	if ((size_t) (ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0)
	{
		ps->p += n;
		return true;
	}
	return false;
}

/* link child after prev (or as parent's first child) */
static void
link_child(JDoc *d, int parent, int *prev, int child)
{
	if (*prev < 0)
		d->v[parent].first = child;
	else
		d->v[*prev].next = child;
	*prev = child;
}

static int
parse_container(Parser *ps, int depth, bool object)
{
	int			i = new_value(ps->d, object ? JV_OBJECT : JV_ARRAY);
	int			prev = -1;
	char		close = object ? '}' : ']';

	if (depth > MAX_DEPTH)
		return fail(ps, "nested too deeply");
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close)
	{
		ps->p++;
		return i;
	}
	for (;;)
	{
		int			c;

		skip_ws(ps);
		if (object)
		{
			int			k;

			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, "expected a member name");
			if ((k = parse_string(ps)) < 0)
				return -1;
			link_child(ps->d, i, &prev, k);
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, "expected ':'");
			ps->p++;
		}
		if ((c = parse_value(ps, depth + 1)) < 0)
			return -1;
		link_child(ps->d, i, &prev, c);
		ps->d->v[i].n++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',')
		{
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close)
		{
			ps->p++;
			return i;
		}
		return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int
parse_value(Parser *ps, int depth)
{
	int			i;

	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "unexpected end of text");
	switch (*ps->p)
	{
		case '{':
			return parse_container(ps, depth, true);
		case '[':
			return parse_container(ps, depth, false);
		case '"':
			return parse_string(ps);
		case 't':
			if (word(ps, "true"))
				return new_value(ps->d, JV_TRUE);
			break;
		case 'f':
			if (word(ps, "false"))
				return new_value(ps->d, JV_FALSE);
			break;
		case 'n':
			if (word(ps, "null"))
				return new_value(ps->d, JV_NULL);
			break;
		case 'N':
			if (word(ps, "NaN"))
			{
				i = new_value(ps->d, JV_FLOAT);
				ps->d->v[i].s = ps->p - 3;
				ps->d->v[i].len = 3;
				return i;
			}
			break;
		default:
			return parse_number(ps);
	}
	return fail(ps, "invalid literal");
}

int
json_parse(JDoc *d, const char *text, size_t len)
{
	Parser		ps;
	int			root;

	d->n = 0;
	d->error = NULL;
	ps.d = d;
	ps.p = text;
	ps.end = text + len;
	root = parse_value(&ps, 0);
	if (root < 0)
		return -1;
	skip_ws(&ps);
	if (ps.p != ps.end)
		return fail(&ps, "trailing characters after the value");
	return root;
}

/* ------------------------------------------------------------------------
 * Strings: decoding escapes to UTF-8, writing the canonical form
 * ------------------------------------------------------------------------ */

static int
hex4(const char *s)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		char		c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static void
put_utf8(Buf *out, unsigned int cp)
{
	char		b[4];
	int			n;

	if (cp < 0x80)
	{
		b[0] = cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		b[0] = 0xC0 | (cp >> 6);
		b[1] = 0x80 | (cp & 0x3F);
		n = 2;
	}
	else if (cp < 0x10000)
	{
		/* lone surrogates too: Python keeps them as code points */
		b[0] = 0xE0 | (cp >> 12);
		b[1] = 0x80 | ((cp >> 6) & 0x3F);
		b[2] = 0x80 | (cp & 0x3F);
		n = 3;
	}
	else
	{
		b[0] = 0xF0 | (cp >> 18);
		b[1] = 0x80 | ((cp >> 12) & 0x3F);
		b[2] = 0x80 | ((cp >> 6) & 0x3F);
		b[3] = 0x80 | (cp & 0x3F);
		n = 4;
	}
	buf_put(out, b, n);
}

/*
 * Decode one UTF-8 sequence at p (before end); its code point, or -1 if it
 * is not valid UTF-8 (Python would not have read the file).  Encoded
 * surrogates come from our own decoding of \ud800-style escapes.
 */
static int
utf8_next(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	unsigned int cp;
	int			n;

	if (*p < 0x80)
	{
		*pp = p + 1;
		return *p;
	}
	else if ((*p & 0xE0) == 0xC0)
	{
		cp = *p & 0x1F;
		n = 2;
	}
	else if ((*p & 0xF0) == 0xE0)
	{
		cp = *p & 0x0F;
		n = 3;
	}
	else if ((*p & 0xF8) == 0xF0)
	{
		cp = *p & 0x07;
		n = 4;
	}
	else
		return -1;
	if (end - p < n)
		return -1;
	for (int i = 1; i < n; i++)
	{
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	/* overlong forms and values past U+10FFFF */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		(n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return -1;
	*pp = p + n;
	return cp;
}

/* the raw text of a string (between its quotes) decoded to UTF-8 */
static bool
decode_string(const char *s, int len, Buf *out)
{
	const char *end = s + len;

	while (s < end)
	{
		if (*s != '\\')
		{
			buf_putc(out, *s++);
			continue;
		}
		s++;
		switch (*s)
		{
			case '"':
			case '\\':
			case '/':
				buf_putc(out, *s);
				break;
			case 'b':
				buf_putc(out, '\b');
				break;
			case 'f':
				buf_putc(out, '\f');
				break;
			case 'n':
				buf_putc(out, '\n');
				break;
			case 'r':
				buf_putc(out, '\r');
				break;
			case 't':
				buf_putc(out, '\t');
				break;
			case 'u':
				{
					int			cp;

					if (end - s < 5 || (cp = hex4(s + 1)) < 0)
						return false;
					s += 4;
					/* a high surrogate followed by a low one is one character */
					if (cp >= 0xD800 && cp < 0xDC00 && end - s >= 7 &&
						s[1] == '\\' && s[2] == 'u')
					{
						int			lo = hex4(s + 3);

						if (lo >= 0xDC00 && lo < 0xE000)
						{
							cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
							s += 6;
						}
					}
					put_utf8(out, cp);
				}
				break;
			default:
				return false;
		}
		s++;
	}
	return true;
}

static void
put_u_escape(Buf *out, unsigned int cu)
{
	static const char hex[] = "0123456789abcdef";
	char		b[6] = {'\\', 'u', hex[(cu >> 12) & 0xF], hex[(cu >> 8) & 0xF],
	hex[(cu >> 4) & 0xF], hex[cu & 0xF]};

	buf_put(out, b, 6);
}

/* UTF-8 text as Python's ensure_ascii writes it, quoted */
static bool
canon_utf8(const char *s, size_t len, Buf *out)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	buf_putc(out, '"');
	while (p < end)
	{
		const unsigned char *run = p;
		int			cp;

		while (p < end && plain_byte[*p])
			p++;
		if (p > run)
			buf_put(out, (const char *) run, p - run);
		if (p == end)
			break;
		if ((cp = utf8_next(&p, end)) < 0)
			return false;
		switch (cp)
		{
			case '"':
				buf_put(out, "\\\"", 2);
				break;
			case '\\':
				buf_put(out, "\\\\", 2);
				break;
			case '\n':
				buf_put(out, "\\n", 2);
				break;
			case '\r':
				buf_put(out, "\\r", 2);
				break;
			case '\t':
				buf_put(out, "\\t", 2);
				break;
			case '\b':
				buf_put(out, "\\b", 2);
				break;
			case '\f':
				buf_put(out, "\\f", 2);
				break;
			default:
				if (cp >= 0x10000)
				{
					cp -= 0x10000;
					put_u_escape(out, 0xD800 | (cp >> 10));
					put_u_escape(out, 0xDC00 | (cp & 0x3FF));
				}
				else
					put_u_escape(out, cp);
		}
	}
	buf_putc(out, '"');
	return true;
}

/* a string token's canonical form; tmp is scratch space */
bool
canon_string_text(const char *s, int len, bool plain, Buf *out, Buf *tmp)
{
	if (plain)
	{
		/* nothing to escape: the common case, copied */
		buf_reserve(out, len + 2);
		out->data[out->len++] = '"';
		memcpy(out->data + out->len, s, len);
		out->len += len;
		out->data[out->len++] = '"';
		return true;
	}
	tmp->len = 0;
	if (!decode_string(s, len, tmp))
		return false;
	return canon_utf8(tmp->data, tmp->len, out);
}

/* ------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------ */

/*
 * Write 0.digits * 10^decpt as CPython's repr of a float: exponent form
 * when the decimal exponent (decpt - 1) is below -4 or at least 16, else
 * positional with at least one fractional digit.
 */
static void
float_layout(Buf *out, bool neg, const char *digits, int nd, int decpt)
{
	char		e[16];

	if (neg)
		buf_putc(out, '-');
	if (nd == 0)
	{
		buf_puts(out, "0.0");
		return;
	}
	if (decpt - 1 < -4 || decpt - 1 >= 16)
	{
		int			x = decpt - 1;

		buf_putc(out, digits[0]);
		if (nd > 1)
		{
			buf_putc(out, '.');
			buf_put(out, digits + 1, nd - 1);
		}
		snprintf(e, sizeof(e), "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
		buf_puts(out, e);
	}
	else if (decpt <= 0)
	{
		buf_puts(out, "0.");
		for (int i = 0; i < -decpt; i++)
			buf_putc(out, '0');
		buf_put(out, digits, nd);
	}
	else if (decpt < nd)
	{
		buf_put(out, digits, decpt);
		buf_putc(out, '.');
		buf_put(out, digits + decpt, nd - decpt);
	}
	else
	{
		buf_put(out, digits, nd);
		for (int i = nd; i < decpt; i++)
			buf_putc(out, '0');
		buf_puts(out, ".0");
	}
}

/*
 * The significant digits of a decimal token (leading and trailing zeros
 * dropped) and the position of its point: value = 0.digits * 10^decpt.
 * Returns the digit count, or -1 if there are more than maxd.
 */
static int
sig_digits(const char *tok, int len, char *digits, int maxd, int *decpt, bool *neg)
{
	const char *p = tok;
	const char *end = tok + len;
	const char *ip;
	const char *fp = NULL;
	int			ilen;
	int			flen = 0;
	int			nd;
	long		x = 0;

	*neg = (p < end && *p == '-');
	if (*neg)
		p++;
	/* the integer part, the fraction and the exponent, found at once */
	for (ip = p; p < end && *p >= '0' && *p <= '9'; p++)
		;
	ilen = p - ip;
	if (p < end && *p == '.')
	{
		for (fp = ++p; p < end && *p >= '0' && *p <= '9'; p++)
			;
		flen = p - fp;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		x = strtol(p + 1, NULL, 10);
		if (x > 100000 || x < -100000)
			return -1;
	}
	/* leading zeros are not significant; in the fraction they move the point */
	while (ilen > 0 && *ip == '0')
		ip++, ilen--;
	*decpt = ilen + (int) x;
	if (ilen == 0)
		while (flen > 0 && *fp == '0')
			fp++, flen--, (*decpt)--;
	/* nor are trailing ones */
	while (flen > 0 && fp[flen - 1] == '0')
		flen--;
	if (flen == 0)
		while (ilen > 0 && ip[ilen - 1] == '0')
			ilen--;
	nd = ilen + flen;
	if (nd > maxd)
		return -1;
	memcpy(digits, ip, ilen);
	if (flen > 0)
		memcpy(digits + ilen, fp, flen);
	if (nd == 0)
		*decpt = 0;
	return nd;
}

/* a finite double in Python repr */
static void
canon_double(Buf *out, double d)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];
	int			nd;
	int			decpt;
	bool		neg;

	if (isnan(d))
	{
		buf_puts(out, "NaN");
		return;
	}
	if (isinf(d))
	{
		buf_puts(out, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	double_to_shortest_decimal_buf(d, buf);
	nd = sig_digits(buf, strlen(buf), digits, sizeof(digits), &decpt, &neg);

	/*
	 * Postgres's Ryu refuses a candidate lying exactly on a rounding
	 * boundary and may answer 16 or 17 digits where CPython's repr, which
	 * accepts it, needs fewer.  So try one digit less while that still
	 * reads back as d (a decimal of at most DBL_DIG digits is always the
	 * only one of its length).  Below 2^53 that cannot happen: a boundary
	 * (the midpoint of two doubles) then has more than 53 - e fractional
	 * binary digits, so more than 17 significant decimal ones, and the
	 * costly strtod is skipped for the common floats (timestamps).
	 */
	while (nd > DBL_DIG && fabs(d) >= 9007199254740992.0)
	{
		char		r[DOUBLE_SHORTEST_DECIMAL_LEN];
		char		cand[DOUBLE_SHORTEST_DECIMAL_LEN + 32];
		int			rn = nd - 1;
		int			rdecpt = decpt;
		int			i;

		memcpy(r, digits, rn);
		if (digits[rn] >= '5')
		{
			for (i = rn - 1; i >= 0 && r[i] == '9'; i--)
				r[i] = '0';
			if (i >= 0)
				r[i]++;
			else
			{
				r[0] = '1';
				rdecpt++;
			}
		}
		while (rn > 0 && r[rn - 1] == '0')
			rn--;
		{
			char	   *c = cand;

			if (neg)
				*c++ = '-';
			*c++ = '0';
			*c++ = '.';
			memcpy(c, r, rn);
			c += rn;
			*c++ = 'e';
			sprintf(c, "%d", rdecpt);
		}
		if (strtod(cand, NULL) != d)
			break;
		memcpy(digits, r, rn);
		nd = rn;
		decpt = rdecpt;
	}
	float_layout(out, neg, digits, nd, decpt);
}

/*
 * w * 10^q as the nearest double without strtod, when that is certain:
 * w and 10^|q| (|q| <= 27) are exact in x87's 64-bit mantissa, one
 * multiplication or division rounds once, and the second rounding (to 53
 * bits) is right unless the first result lies next to a double midpoint
 * (its 11 low bits 0x3ff..0x401), which is left to strtod.
 */
static bool
fast_to_double(uint64 w, int q, double *out)
{
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
	long double x;
	union
	{
		long double ld;
		uint64		mant;
	}			u;
	unsigned int low;

	if (!ld_extended || q < -27 || q > 27 || w == 0)
		return false;
	x = (long double) w;
	x = q >= 0 ? x * p10[q] : x / p10[-q];
	memset(&u, 0, sizeof(u));
	u.ld = x;
	low = (unsigned int) (u.mant & 0x7ff);
	if (low >= 0x3ff && low <= 0x401)
		return false;
	*out = (double) x;
	return true;
#else
	return false;
#endif
}

/*
 * A number token as Python writes the value it reads: an int as written
 * (at full precision; int("-0") is 0), a float in repr.
 */
void
canon_number(const char *tok, int len, bool is_float, Buf *out)
{
	char		digits[20];
	char		cbuf[512];
	int			nd;
	int			decpt;
	bool		neg;

	if (!is_float)
	{
		if (len == 2 && tok[0] == '-' && tok[1] == '0')
			buf_putc(out, '0');
		else
			buf_put(out, tok, len);
		return;
	}
	if (tok[len - 1] == 'N' || tok[len - 1] == 'y')
	{
		/* NaN, Infinity, -Infinity: written back as read */
		buf_put(out, tok, len);
		return;
	}

	/*
	 * At most DBL_DIG significant digits, well inside the range of normal
	 * doubles: the decimal is the shortest that reads back as its double,
	 * so its digits are repr's.  Anything else goes through the double.
	 */
	nd = sig_digits(tok, len, digits, 19, &decpt, &neg);
	if (nd >= 0 && nd <= DBL_DIG && decpt > -290 && decpt < 290)
	{
		float_layout(out, neg, digits, nd, decpt);
		return;
	}
	if (nd > 0)
	{
		/* 16 to 19 digits (a timestamp, a random float): skip strtod */
		uint64		w = 0;
		double		d;

		for (int i = 0; i < nd; i++)
			w = w * 10 + (digits[i] - '0');
		if (fast_to_double(w, decpt - nd, &d))
		{
			canon_double(out, neg ? -d : d);
			return;
		}
	}
	if (len >= (int) sizeof(cbuf))
	{
		char	   *big = pg_malloc(len + 1);

		memcpy(big, tok, len);
		big[len] = '\0';
		canon_double(out, strtod(big, NULL));
		pg_free(big);
		return;
	}
	memcpy(cbuf, tok, len);
	cbuf[len] = '\0';
	canon_double(out, strtod(cbuf, NULL));
}

/* ------------------------------------------------------------------------
 * Canonical values
 * ------------------------------------------------------------------------ */

typedef struct Member
{
	uint64		pfx;			/* its first 8 bytes, big-endian: most compares */
	const char *key;			/* decoded UTF-8 (or the raw plain text) */
	size_t		keylen;
	size_t		off;			/* in scratch, when decoded */
	bool		decoded;
	int			keyv;
	int			val;
	int			pos;
} Member;

/* code-point order is UTF-8 byte order; a prefix sorts first */
static int
cmp_member(const void *a, const void *b)
{
	const Member *x = a;
	const Member *y = b;
	int			r;

	if (x->pfx != y->pfx)
		return x->pfx < y->pfx ? -1 : 1;
	r = memcmp(x->key, y->key, Min(x->keylen, y->keylen));

	if (r != 0)
		return r;
	if (x->keylen != y->keylen)
		return x->keylen < y->keylen ? -1 : 1;
	return x->pos - y->pos;
}

static bool canon_value(JDoc *d, int v, Buf *out, int depth);

static bool
canon_object(JDoc *d, int v, Buf *out, int depth, const char *skip)
{
	int			n = d->v[v].n;
	Member		small[16];
	Member	   *m = n <= 16 ? small : pg_malloc(sizeof(Member) * n);
	size_t		mark = d->scratch.len;
	bool		ok = true;
	int			k = d->v[v].first;
	bool		first = true;

	for (int i = 0; i < n; i++)
	{
		Jv		   *kv = &d->v[k];

		m[i].keyv = k;
		m[i].val = kv->next;
		m[i].pos = i;
		m[i].decoded = !kv->plain;
		if (kv->plain)
		{
			m[i].key = kv->s;
			m[i].keylen = kv->len;
		}
		else
		{
			m[i].off = d->scratch.len;
			if (!decode_string(kv->s, kv->len, &d->scratch))
			{
				ok = false;
				goto done;
			}
			m[i].keylen = d->scratch.len - m[i].off;
		}
		k = d->v[kv->next].next;
	}
	/* decoded keys point into scratch only now that it stopped moving */
	for (int i = 0; i < n; i++)
	{
		uint64		pfx = 0;

		if (m[i].decoded)
			m[i].key = d->scratch.data + m[i].off;
		if (m[i].keylen >= 8)
		{
			memcpy(&pfx, m[i].key, 8);
			pfx = pg_ntoh64(pfx);
		}
		else
			for (size_t b = 0; b < 8; b++)
				pfx = pfx << 8 | (b < m[i].keylen ? (unsigned char) m[i].key[b] : 0);
		m[i].pfx = pfx;
	}
	if (n <= 16)
	{
		/* insertion sort: stable, and quick for the usual few members */
		for (int i = 1; i < n; i++)
		{
			Member		t = m[i];
			int			j = i - 1;

			while (j >= 0 && cmp_member(&m[j], &t) > 0)
			{
				m[j + 1] = m[j];
				j--;
			}
			m[j + 1] = t;
		}
	}
	else
		qsort(m, n, sizeof(Member), cmp_member);

	buf_putc(out, '{');
	for (int i = 0; i < n && ok; i++)
	{
		/* nested values may have moved scratch: keys by offset again */
		const char *key = m[i].decoded ? d->scratch.data + m[i].off : m[i].key;

		/* a repeated key: Python keeps the last one */
		if (i + 1 < n && m[i].keylen == m[i + 1].keylen &&
			memcmp(key, m[i + 1].decoded ? d->scratch.data + m[i + 1].off : m[i + 1].key,
				   m[i].keylen) == 0)
			continue;
		if (skip && strlen(skip) == m[i].keylen && memcmp(key, skip, m[i].keylen) == 0)
			continue;
		if (!first)
			buf_putc(out, ',');
		first = false;
		if (m[i].decoded)
			ok = canon_utf8(key, m[i].keylen, out);
		else
			ok = canon_string_text(key, m[i].keylen, true, out, NULL);
		buf_putc(out, ':');
		ok = ok && canon_value(d, m[i].val, out, depth + 1);
	}
	buf_putc(out, '}');
done:
	d->scratch.len = mark;
	if (m != small)
		pg_free(m);
	return ok;
}

static bool
canon_value(JDoc *d, int v, Buf *out, int depth)
{
	Jv		   *j = &d->v[v];

	switch (j->kind)
	{
		case JV_NULL:
			buf_put(out, "null", 4);
			return true;
		case JV_TRUE:
			buf_put(out, "true", 4);
			return true;
		case JV_FALSE:
			buf_put(out, "false", 5);
			return true;
		case JV_INT:
		case JV_FLOAT:
			canon_number(j->s, j->len, j->kind == JV_FLOAT, out);
			return true;
		case JV_STRING:
			if (j->plain)
				return canon_string_text(j->s, j->len, true, out, NULL);
			else
			{
				/* decode after the keys of enclosing objects in scratch */
				size_t		mark = d->scratch.len;
				bool		ok;
				Buf			tmp;

				if (!decode_string(j->s, j->len, &d->scratch))
					return false;
				tmp.data = d->scratch.data + mark;
				tmp.len = d->scratch.len - mark;
				tmp.cap = 0;
				ok = canon_utf8(tmp.data, tmp.len, out);
				d->scratch.len = mark;
				return ok;
			}
		case JV_ARRAY:
			{
				int			c = j->first;

				buf_putc(out, '[');
				for (int i = 0; i < j->n; i++)
				{
					if (i > 0)
						buf_putc(out, ',');
					if (!canon_value(d, c, out, depth + 1))
						return false;
					c = d->v[c].next;
				}
				buf_putc(out, ']');
				return true;
			}
		case JV_OBJECT:
			return canon_object(d, v, out, depth, NULL);
	}
	return false;
}

bool
json_canon(JDoc *d, int v, Buf *out)
{
	return canon_value(d, v, out, 0);
}

bool
json_canon_without(JDoc *d, int v, const char *skip, Buf *out)
{
	if (d->v[v].kind != JV_OBJECT)
		return canon_value(d, v, out, 0);
	return canon_object(d, v, out, 0, skip);
}

/* ------------------------------------------------------------------------
 * Looking things up
 * ------------------------------------------------------------------------ */

int
json_member(JDoc *d, int obj, const char *key)
{
	size_t		klen = strlen(key);
	int			found = -1;
	int			k;

	if (obj < 0 || d->v[obj].kind != JV_OBJECT)
		return -1;
	k = d->v[obj].first;
	for (int i = 0; i < d->v[obj].n; i++)
	{
		Jv		   *kv = &d->v[k];

		if (kv->plain && (size_t) kv->len == klen && memcmp(kv->s, key, klen) == 0)
			found = kv->next;
		k = d->v[kv->next].next;
	}
	return found;
}

char *
json_string(JDoc *d, int v)
{
	Buf			b;

	if (v < 0 || d->v[v].kind != JV_STRING)
		return NULL;
	buf_init(&b);
	if (!decode_string(d->v[v].s, d->v[v].len, &b))
	{
		buf_free(&b);
		return NULL;
	}
	b.data[b.len] = '\0';
	return b.data;
}

bool
json_int64(JDoc *d, int v, int64 *out)
{
	char		buf[32];
	char	   *end;

	if (v < 0 || d->v[v].kind != JV_INT || d->v[v].len >= (int) sizeof(buf))
		return false;
	memcpy(buf, d->v[v].s, d->v[v].len);
	buf[d->v[v].len] = '\0';
	errno = 0;
	*out = strtoll(buf, &end, 10);
	return errno == 0 && *end == '\0';
}
