/*
 * canon.c
 *	  Canonical JSON, byte-compatible with the NEDB reference.
 *
 * The chain hashes Python's json.dumps(sort_keys=True, separators=(",",":"))
 * with ensure_ascii: keys in code-point order at every level, no spaces,
 * \uXXXX for everything outside printable ASCII, ints at full precision and
 * floats in Python repr (shortest round-trip, "1.0", "1e-07", "1e+16").
 * jsonb::text is none of that (it orders keys by length), hence this file.
 *
 * Two sources of values: jsonb (what users store; a numeric whose text has a
 * '.' is a float, otherwise an int) and JSON text parsed into a CanonNode
 * tree (AOF import, which must keep Python's own int/float spelling).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "common/jsonapi.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "canon.h"

/* ------------------------------------------------------------------------
 * Leaves
 * ------------------------------------------------------------------------ */

static void
append_u_escape(StringInfo out, unsigned int cu)
{
	static const char hex[] = "0123456789abcdef";
	char		buf[6];

	buf[0] = '\\';
	buf[1] = 'u';
	buf[2] = hex[(cu >> 12) & 0xF];
	buf[3] = hex[(cu >> 8) & 0xF];
	buf[4] = hex[(cu >> 4) & 0xF];
	buf[5] = hex[cu & 0xF];
	appendBinaryStringInfoNT(out, buf, 6);
}

/* bytes that Python's ensure_ascii writes as-is: printable ASCII but " and \\ */
static bool plain_byte[256];

static void
init_plain_bytes(void)
{
	for (int c = 0x20; c < 0x7f; c++)
		plain_byte[c] = (c != '"' && c != '\\');
}

/*
 * Whether any of the 8 bytes of w is one Python escapes (below 0x20, 0x7f
 * or above, '"' or '\\'): the zero-byte and less-than tricks of
 * "Bit Twiddling Hacks", which never miss one (they may only misplace it).
 */
static inline bool
word_needs_escape(uint64 w)
{
	const uint64 ones = UINT64CONST(0x0101010101010101);
	const uint64 highs = UINT64CONST(0x8080808080808080);
	uint64		quote = w ^ (ones * '"');
	uint64		bslash = w ^ (ones * '\\');
	uint64		del = w ^ (ones * 0x7f);

	return ((w - ones * 0x20) & ~w & highs) != 0 ||	/* < 0x20 */
		(w & highs) != 0 ||		/* >= 0x80 */
		((quote - ones) & ~quote & highs) != 0 ||
		((bslash - ones) & ~bslash & highs) != 0 ||
		((del - ones) & ~del & highs) != 0;
}

/* A JSON string as Python writes it with ensure_ascii=True. */
void
canon_string(StringInfo out, const char *s, int len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;
	const unsigned char *start = p;

	if (!plain_byte['a'])
		init_plain_bytes();
	if (out->len + len + 2 >= out->maxlen)
		enlargeStringInfo(out, len + 2);
	/*
	 * Most strings are plain ASCII all through: test them a word at a time
	 * (the last word overlapping) and copy them at once.
	 */
	if (len >= 8)
	{
		uint64		w;
		bool		plain = true;

		for (int i = 0; plain && i + 8 <= len; i += 8)
		{
			memcpy(&w, s + i, 8);
			plain = !word_needs_escape(w);
		}
		if (plain)
		{
			memcpy(&w, s + len - 8, 8);
			plain = !word_needs_escape(w);
		}
		if (plain)
			p = end;
	}
	else
	{
		/* a few bytes: the table (a padded word would stall on its store) */
		while (p < end && plain_byte[*p])
			p++;
		if (p != end)
			p = (const unsigned char *) s;
	}
	out->data[out->len++] = '"';
	if (p == end)
	{
		memcpy(out->data + out->len, start, len);
		out->len += len;
		out->data[out->len++] = '"';
		out->data[out->len] = '\0';
		return;
	}
	while (p < end)
	{
		const unsigned char *run = p;
		unsigned char c;

		/* copy a run of plain ASCII at once */
		while (p < end && plain_byte[*p])
			p++;
		if (p > run)
			appendBinaryStringInfoNT(out, (const char *) run, p - run);
		if (p == end)
			break;
		c = *p;
		if (c < 0x80)
		{
			switch (c)
			{
				case '"':
					appendBinaryStringInfoNT(out, "\\\"", 2);
					break;
				case '\\':
					appendBinaryStringInfoNT(out, "\\\\", 2);
					break;
				case '\n':
					appendBinaryStringInfoNT(out, "\\n", 2);
					break;
				case '\r':
					appendBinaryStringInfoNT(out, "\\r", 2);
					break;
				case '\t':
					appendBinaryStringInfoNT(out, "\\t", 2);
					break;
				case '\b':
					appendBinaryStringInfoNT(out, "\\b", 2);
					break;
				case '\f':
					appendBinaryStringInfoNT(out, "\\f", 2);
					break;
				default:
					append_u_escape(out, c);
			}
			p++;
		}
		else
		{
			int			l = pg_utf_mblen(p);
			pg_wchar	cp;

			if (p + l > end || !pg_utf8_islegal(p, l))
				ereport(ERROR,
						(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						 errmsg("invalid UTF-8 in a JSON string")));
			cp = utf8_to_unicode(p);
			if (cp > 0xFFFF)
			{
				cp -= 0x10000;
				append_u_escape(out, 0xD800 | (cp >> 10));
				append_u_escape(out, 0xDC00 | (cp & 0x3FF));
			}
			else
				append_u_escape(out, cp);
			p += l;
		}
	}
	appendStringInfoCharMacro(out, '"');
	out->data[out->len] = '\0';
}

/*
 * A double in Python repr: the shortest digits that round-trip (as Ryu
 * gives them), laid out the way CPython's float_repr_style 'short' does:
 * exponent form when the decimal exponent is < -4 or >= 16, else fixed
 * notation that always shows a fractional part.
 */
/*
 * Lay out a decimal value 0.digits * 10^decpt (no leading or trailing zeros
 * in digits) as CPython's float repr does.
 */
static void
python_float_layout(StringInfo out, bool neg, const char *digits, int nd, int decpt)
{
	if (neg)
		appendStringInfoCharMacro(out, '-');
	if (nd == 0)
	{
		appendStringInfoString(out, "0.0");
		return;
	}

	if (decpt <= -4 || decpt > 16)
	{
		int			e = decpt - 1;

		appendStringInfoCharMacro(out, digits[0]);
		if (nd > 1)
		{
			appendStringInfoCharMacro(out, '.');
			appendBinaryStringInfo(out, digits + 1, nd - 1);
		}
		appendStringInfo(out, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
	}
	else if (decpt <= 0)
	{
		appendStringInfoString(out, "0.");
		for (int i = 0; i < -decpt; i++)
			appendStringInfoCharMacro(out, '0');
		appendBinaryStringInfo(out, digits, nd);
	}
	else if (decpt < nd)
	{
		appendBinaryStringInfo(out, digits, decpt);
		appendStringInfoCharMacro(out, '.');
		appendBinaryStringInfo(out, digits + decpt, nd - decpt);
	}
	else
	{
		appendBinaryStringInfo(out, digits, nd);
		for (int i = nd; i < decpt; i++)
			appendStringInfoCharMacro(out, '0');
		appendStringInfoString(out, ".0");
	}
}

/*
 * Parse a plain decimal ([-]digits[.digits], or with an exponent when
 * allow_exp) into significant digits and decimal point position.  Returns
 * the number of significant digits, or -1 if it has more than maxd.
 */
static int
decimal_digits(const char *num, bool allow_exp, char *digits, int maxd, int *decpt, bool *neg)
{
	const char *p = num;
	bool		seen_point = false;
	int			nd = 0;

	*decpt = 0;
	*neg = false;
	if (*p == '-')
	{
		*neg = true;
		p++;
	}
	for (; *p; p++)
	{
		if (*p == '.')
		{
			seen_point = true;
			continue;
		}
		if (*p == 'e' || *p == 'E')
		{
			if (!allow_exp)
				return -1;
			*decpt += atoi(p + 1);
			break;
		}
		if (*p < '0' || *p > '9')
			return -1;
		if (nd == 0 && *p == '0')
		{
			/* a leading zero: after the point it moves the point */
			if (seen_point)
				(*decpt)--;
			continue;
		}
		if (nd == maxd)
		{
			/* only zeros may follow */
			if (*p != '0')
				return -1;
		}
		else
			digits[nd++] = *p;
		if (!seen_point)
			(*decpt)++;
	}
	while (nd > 0 && digits[nd - 1] == '0')
		nd--;
	return nd;
}

/*
 * A double in Python repr: the shortest digits that round-trip (as Ryu
 * gives them), laid out the way CPython's float_repr_style 'short' does:
 * exponent form when the decimal exponent is < -4 or >= 16, else fixed
 * notation that always shows a fractional part.
 */
static inline uint64
double_bits(double d)
{
	uint64		bits;

	memcpy(&bits, &d, sizeof(bits));
	return bits;
}

/*
 * Whether 0.digits * 10^decpt reads back as d, where that can be told
 * without strtod (*same then says): at most 15 digits are an integer a
 * double holds exactly, and so are the powers of ten up to 1e22, so one
 * multiplication or division, rounded once as IEEE rounds it, gives the
 * double nearest the decimal, as strtod does ("Clinger's fast path").
 */
static bool
reads_back_fast(const char *digits, int nd, int decpt, bool neg, double d, bool *same)
{
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
	};
	int			k = decpt - nd;		/* the value is digits * 10^k */
	uint64		m = 0;
	double		v;

	if (FLT_EVAL_METHOD != 0 || nd > DBL_DIG || k < -22 || k > 22)
		return false;
	for (int i = 0; i < nd; i++)
		m = m * 10 + (digits[i] - '0');
	v = (double) m;
	v = k >= 0 ? v * pow10[k] : v / pow10[-k];
	*same = (neg ? -v : v) == d;
	return true;
}

void
canon_float(StringInfo out, double d)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];
	int			nd;
	int			decpt;
	bool		neg;

	if (isnan(d))
	{
		appendStringInfoString(out, "NaN");
		return;
	}
	if (isinf(d))
	{
		appendStringInfoString(out, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	double_to_shortest_decimal_buf(d, buf);
	nd = decimal_digits(buf, true, digits, sizeof(digits), &decpt, &neg);
	Assert(nd >= 0);

	/*
	 * Postgres's Ryu does not accept a candidate lying exactly on a rounding
	 * boundary, where CPython (round-half-even) does, so it can give 17
	 * digits where repr() gives 15 (37170565924641696.0 is 3.71705659246417e+16).
	 * Shorten while the digits rounded to one fewer still read back as d;
	 * reading back is monotone in the number of digits.  With DBL_DIG (15)
	 * digits or fewer there is nothing to find: two such decimals never
	 * read back as the same double.  A boundary only counts for an even
	 * mantissa (round-half-even reads it back as d): with an odd one, Ryu's
	 * digits are repr()'s already, and half of all doubles skip the search.
	 */
	while (nd > DBL_DIG && (double_bits(d) & 1) == 0)
	{
		char		cand[DOUBLE_SHORTEST_DECIMAL_LEN + 16];
		char		rounded[DOUBLE_SHORTEST_DECIMAL_LEN];
		int			rnd = nd - 1;
		int			rdecpt = decpt;
		bool		same;

		memcpy(rounded, digits, rnd);
		if (digits[rnd] >= '5')
		{
			int			i = rnd - 1;

			while (i >= 0 && rounded[i] == '9')
				rounded[i--] = '0';
			if (i >= 0)
				rounded[i]++;
			else
			{
				/* 99..9 rounds up to 100..0 */
				rounded[0] = '1';
				rdecpt++;
			}
		}
		while (rnd > 0 && rounded[rnd - 1] == '0')
			rnd--;
		if (!reads_back_fast(rounded, rnd, rdecpt, neg, d, &same))
		{
			char	   *c = cand;

			if (neg)
				*c++ = '-';
			*c++ = '0';
			*c++ = '.';
			memcpy(c, rounded, rnd);
			c += rnd;
			*c++ = 'e';
			c += pg_ltoa(rdecpt, c);
			*c = '\0';
			same = strtod(cand, NULL) == d;
		}
		if (!same)
			break;
		memcpy(digits, rounded, rnd);
		nd = rnd;
		decpt = rdecpt;
	}
	python_float_layout(out, neg, digits, nd, decpt);
}

/*
 * A number written as text: an int (no '.', 'e' or 'E') is kept at full
 * precision, anything else is a Python float.
 */
void
canon_numeric_text(StringInfo out, const char *num)
{
	if (strpbrk(num, ".eE") == NULL)
	{
		/* Python's int() of "-0" is 0 */
		if (strcmp(num, "-0") == 0)
			num = "0";
		appendStringInfoString(out, num);
	}
	else
	{
		/*
		 * A decimal of at most 15 significant digits is its own shortest
		 * round-trip form (DBL_DIG): lay it out directly.  Longer ones go
		 * through the double, as Python reads them.
		 */
		char		digits[DBL_DIG];
		int			decpt;
		bool		neg;
		int			nd = decimal_digits(num, false, digits, DBL_DIG, &decpt, &neg);

		if (nd >= 0)
			python_float_layout(out, neg, digits, nd, decpt);
		else
			canon_float(out, strtod(num, NULL));
	}
}

/*
 * Numeric's own text (what numeric_out writes: no exponent, exactly dscale
 * fractional digits) into buf, read from its stored form, which is part of
 * the on-disk format; its length, or -1 if it does not fit (numeric_out
 * does it then).
 * A jsonb document is mostly numbers and strings, and numeric_out costs a
 * palloc'd copy and a conversion to a variable per number.
 */
#define NUM_SIGN_MASK 0xC000
#define NUM_NEG 0x4000
#define NUM_SHORT 0x8000
#define NUM_SPECIAL 0xC000
#define NUM_SHORT_SIGN 0x2000
#define NUM_SHORT_DSCALE_MASK 0x1F80
#define NUM_SHORT_DSCALE_SHIFT 7
#define NUM_SHORT_WEIGHT_SIGN 0x0040
#define NUM_SHORT_WEIGHT_MASK 0x003F
#define NUM_DSCALE_MASK 0x3FFF
#define NUM_TEXT_MAX 128

static int
numeric_text(Numeric num, char *buf)
{
	const char *data = VARDATA_ANY(num);
	int			size = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	int16		weight;
	int			dscale;
	bool		neg;
	const char *digits;
	int			ndigits;
	char	   *c = buf;

	if (size < (int) sizeof(uint16))
		return -1;
	memcpy(&header, data, sizeof(uint16));
	if ((header & NUM_SIGN_MASK) == NUM_SPECIAL)
		return -1;
	if ((header & NUM_SIGN_MASK) == NUM_SHORT)
	{
		neg = (header & NUM_SHORT_SIGN) != 0;
		dscale = (header & NUM_SHORT_DSCALE_MASK) >> NUM_SHORT_DSCALE_SHIFT;
		weight = (int16) (((header & NUM_SHORT_WEIGHT_SIGN) ? ~NUM_SHORT_WEIGHT_MASK : 0) |
						  (header & NUM_SHORT_WEIGHT_MASK));
		digits = data + sizeof(uint16);
	}
	else
	{
		if (size < (int) (2 * sizeof(uint16)))
			return -1;
		neg = (header & NUM_SIGN_MASK) == NUM_NEG;
		dscale = header & NUM_DSCALE_MASK;
		memcpy(&weight, data + sizeof(uint16), sizeof(int16));
		digits = data + 2 * sizeof(uint16);
	}
	ndigits = (size - (digits - data)) / (int) sizeof(int16);
	/* sign, 4 digits a group before the point, point, fraction (in groups), NUL */
	if (4 * (Max(weight, 0) + 1) + dscale + 8 > NUM_TEXT_MAX)
		return -1;

	if (neg)
		*c++ = '-';
	if (weight < 0)
		*c++ = '0';
	for (int i = 0; i <= weight; i++)
	{
		int16		d = 0;

		if (i < ndigits)
			memcpy(&d, digits + i * sizeof(int16), sizeof(int16));
		if (i == 0)
			c += pg_ltoa(d, c);
		else
		{
			c[0] = '0' + d / 1000;
			c[1] = '0' + d / 100 % 10;
			c[2] = '0' + d / 10 % 10;
			c[3] = '0' + d % 10;
			c += 4;
		}
	}
	if (dscale > 0)
	{
		char	   *frac;

		*c++ = '.';
		frac = c;
		/* group k of the fraction is digit weight + k */
		for (int k = 1; c - frac < dscale; k++)
		{
			int			i = weight + k;
			int16		d = 0;

			if (i >= 0 && i < ndigits)
				memcpy(&d, digits + i * sizeof(int16), sizeof(int16));
			c[0] = '0' + d / 1000;
			c[1] = '0' + d / 100 % 10;
			c[2] = '0' + d / 10 % 10;
			c[3] = '0' + d % 10;
			c += 4;
		}
		c = frac + dscale;
	}
	*c = '\0';
	return c - buf;
}

/* a jsonb number, an int or a float by its text */
static void
canon_numeric(StringInfo out, Numeric num)
{
	char		buf[NUM_TEXT_MAX];
	int			len = numeric_text(num, buf);

	/* an int (no point) is its own canonical text; "-0" is not stored */
	if (len > 0 && memchr(buf, '.', len) == NULL && !(len == 2 && buf[0] == '-' && buf[1] == '0'))
		appendBinaryStringInfo(out, buf, len);
	else if (len > 0)
		canon_numeric_text(out, buf);
	else
		canon_numeric_text(out,
						   DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(num))));
}

/* A float as a jsonb numeric whose text keeps a fractional part. */
Datum
canon_float_numeric(double d)
{
	StringInfoData s;

	if (isnan(d) || isinf(d))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cannot store non-finite number %g in a document", d)));
	initStringInfo(&s);
	canon_float(&s, d);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(s.data),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* ------------------------------------------------------------------------
 * jsonb
 * ------------------------------------------------------------------------ */

typedef struct KeyedValue
{
	char	   *key;
	int			keylen;
	JsonbValue	val;
} KeyedValue;

/* code-point order = byte order of UTF-8; a prefix sorts first */
static inline int
cmp_keys(const char *a, int alen, const char *b, int blen)
{
	int			r;

	/* keys mostly differ at their first byte */
	if (alen > 0 && blen > 0 && a[0] != b[0])
		return (unsigned char) a[0] - (unsigned char) b[0];
	r = memcmp(a, b, Min(alen, blen));

	if (r != 0)
		return r;
	return (alen > blen) - (alen < blen);
}

static int
cmp_keyed_value(const void *a, const void *b)
{
	const KeyedValue *x = a;
	const KeyedValue *y = b;

	return cmp_keys(x->key, x->keylen, y->key, y->keylen);
}

static void canon_jsonb_container(StringInfo out, JsonbContainer *c,
								  bool skip_seq, bool spaced);

/* the separator between members or elements */
static inline void
append_sep(StringInfo out, bool spaced)
{
	if (spaced)
		appendBinaryStringInfo(out, ", ", 2);
	else
		appendStringInfoCharMacro(out, ',');
}

/* the members of an object, sorted in place, written with write_value */
static void
canon_members(StringInfo out, KeyedValue *kv, int k, bool spaced,
			  void (*write_value) (StringInfo, JsonbValue *, bool))
{
	/* objects are small: insertion sort beats qsort's overhead */
	if (k > 16)
		qsort(kv, k, sizeof(KeyedValue), cmp_keyed_value);
	else
		for (int i = 1; i < k; i++)
		{
			KeyedValue	t = kv[i];
			int			j = i - 1;

			while (j >= 0 && cmp_keyed_value(&kv[j], &t) > 0)
			{
				kv[j + 1] = kv[j];
				j--;
			}
			kv[j + 1] = t;
		}

	appendStringInfoCharMacro(out, '{');
	for (int i = 0; i < k; i++)
	{
		if (i > 0)
			appendBinaryStringInfo(out, spaced ? ", " : ",", spaced ? 2 : 1);
		canon_string(out, kv[i].key, kv[i].keylen);
		appendBinaryStringInfo(out, spaced ? ": " : ":", spaced ? 2 : 1);
		write_value(out, &kv[i].val, spaced);
	}
	appendStringInfoCharMacro(out, '}');
}

static void
canon_jsonb_value(StringInfo out, JsonbValue *v, bool spaced)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(out, "null");
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvString:
			canon_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			canon_numeric(out, v->val.numeric);
			break;
		case jbvBinary:
			canon_jsonb_container(out, v->val.binary.data, false, spaced);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* where each child of a container starts, and how long it is */
typedef struct ChildSpan
{
	uint32		off;
	uint32		len;
} ChildSpan;

/* a child of c (data at base), as fillJsonbValue would read it */
static void
canon_child(StringInfo out, JsonbContainer *c, const char *base, int i,
			const ChildSpan *span, bool spaced)
{
	JEntry		e = c->children[i];

	switch (e & JENTRY_TYPEMASK)
	{
		case JENTRY_ISSTRING:
			canon_string(out, base + span->off, span->len);
			break;
		case JENTRY_ISNUMERIC:
			canon_numeric(out, (Numeric) (base + INTALIGN(span->off)));
			break;
		case JENTRY_ISBOOL_TRUE:
			appendBinaryStringInfo(out, "true", 4);
			break;
		case JENTRY_ISBOOL_FALSE:
			appendBinaryStringInfo(out, "false", 5);
			break;
		case JENTRY_ISNULL:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case JENTRY_ISCONTAINER:
			canon_jsonb_container(out, (JsonbContainer *) (base + INTALIGN(span->off)),
								  false, spaced);
			break;
		default:
			elog(ERROR, "unexpected jsonb entry type %u", e & JENTRY_TYPEMASK);
	}
}

#define SMALL_CONTAINER 32

typedef struct KeyOrder
{
	const char *base;
	const ChildSpan *span;
} KeyOrder;

static int
cmp_key_index(const void *a, const void *b, void *arg)
{
	const KeyOrder *ko = arg;
	const ChildSpan *x = &ko->span[*(const int *) a];
	const ChildSpan *y = &ko->span[*(const int *) b];

	return cmp_keys(ko->base + x->off, x->len, ko->base + y->off, y->len);
}

/*
 * Objects of one shape (the same keys) are sorted and their keys escaped the
 * same way every time: the last few shapes are kept, keyed by the keys'
 * lengths and bytes as stored (they lie together, in jsonb's order, before
 * the values; the bytes alone do not tell {"a","b","cdef"} from
 * {"ab","cd","ef"}), with the order and each member's text up to its value
 * (separator, key, colon).  Documents of a collection mostly share theirs.
 */
#define SHAPE_KEYS_MAX 512
#define SHAPE_TEXT_MAX 2048
#define SHAPES 4

typedef struct ObjectShape
{
	bool		valid;
	bool		skip_seq;
	bool		spaced;
	int			n;				/* members as stored */
	uint32		key_len[16];	/* their keys' lengths */
	uint32		keys_len;
	char		keys[SHAPE_KEYS_MAX];
	int			k;				/* members written */
	int			order[16];
	uint16		text_off[17];	/* member m's text: text[text_off[m] .. text_off[m + 1]) */
	char		text[SHAPE_TEXT_MAX];
} ObjectShape;

static ObjectShape shapes[SHAPES];
static int	next_shape;

static ObjectShape *
shape_find(int n, bool skip_seq, bool spaced, const char *keys, const ChildSpan *span,
		   uint32 keys_len)
{
	for (int i = 0; i < SHAPES; i++)
	{
		ObjectShape *sh = &shapes[i];
		int			m;

		if (!sh->valid || sh->n != n || sh->keys_len != keys_len ||
			sh->skip_seq != skip_seq || sh->spaced != spaced)
			continue;
		for (m = 0; m < n && sh->key_len[m] == span[m].len; m++)
			;
		if (m == n && memcmp(sh->keys, keys, keys_len) == 0)
			return sh;
	}
	return NULL;
}

/* keep the shape of an object just sorted, if it fits */
static void
shape_keep(int n, bool skip_seq, bool spaced, const char *base, const ChildSpan *span,
		   uint32 keys_len, const int *order, int k)
{
	ObjectShape *sh = &shapes[next_shape];
	StringInfoData t;
	uint16		off[17];

	if (keys_len > SHAPE_KEYS_MAX || k > 16)
		return;
	initStringInfo(&t);
	off[0] = 0;
	for (int m = 0; m < k; m++)
	{
		if (m > 0)
			append_sep(&t, spaced);
		canon_string(&t, base + span[order[m]].off, span[order[m]].len);
		appendBinaryStringInfo(&t, spaced ? ": " : ":", spaced ? 2 : 1);
		if (t.len > SHAPE_TEXT_MAX)
		{
			pfree(t.data);
			return;
		}
		off[m + 1] = t.len;
	}
	memcpy(sh->text_off, off, sizeof(uint16) * (k + 1));
	memcpy(sh->text, t.data, t.len);
	pfree(t.data);
	memcpy(sh->keys, base, keys_len);
	for (int m = 0; m < n; m++)
		sh->key_len[m] = span[m].len;
	memcpy(sh->order, order, sizeof(int) * k);
	sh->keys_len = keys_len;
	sh->n = n;
	sh->k = k;
	sh->skip_seq = skip_seq;
	sh->spaced = spaced;
	sh->valid = true;
	next_shape = (next_shape + 1) % SHAPES;
}

/*
 * A container, read straight from its entries (a JsonbIterator copies each
 * value out and allocates a frame per level).  Object members are written
 * in code-point order of their keys; jsonb keeps them by length first.
 */
static void
canon_jsonb_container(StringInfo out, JsonbContainer *c, bool skip_seq, bool spaced)
{
	int			n = JsonContainerSize(c);
	bool		object = JsonContainerIsObject(c);
	int			nchildren = object ? 2 * n : n;
	const char *base = (const char *) &c->children[nchildren];
	ChildSpan	small[SMALL_CONTAINER];
	ChildSpan  *span = nchildren <= SMALL_CONTAINER ? small : palloc(sizeof(ChildSpan) * nchildren);
	uint32		off = 0;

	check_stack_depth();

	for (int i = 0; i < nchildren; i++)
	{
		JEntry		e = c->children[i];
		uint32		end = JBE_HAS_OFF(e) ? JBE_OFFLENFLD(e) : off + JBE_OFFLENFLD(e);

		span[i].off = off;
		span[i].len = end - off;
		off = end;
	}

	if (JsonContainerIsScalar(c))
		canon_child(out, c, base, 0, &span[0], spaced);
	else if (!object)
	{
		appendStringInfoCharMacro(out, '[');
		for (int i = 0; i < n; i++)
		{
			if (i > 0)
				append_sep(out, spaced);
			canon_child(out, c, base, i, &span[i], spaced);
		}
		appendStringInfoCharMacro(out, ']');
	}
	else
	{
		int			osmall[SMALL_CONTAINER];
		int		   *order = n <= SMALL_CONTAINER ? osmall : palloc(sizeof(int) * n);
		int			k = 0;
		bool		first = true;

		KeyOrder	ko = {base, span};
		/* the keys' bytes end where the first value's start */
		uint32		keys_len = n > 0 ? span[n].off : 0;
		ObjectShape *sh = n <= 16 ? shape_find(n, skip_seq, spaced, base, span, keys_len) : NULL;

		if (sh)
		{
			/* a nested object may replace the entry: what it says, copied */
			int			sk = sh->k;
			int			sorder[16];
			uint16		soff[17];
			char		stext[SHAPE_TEXT_MAX];

			memcpy(sorder, sh->order, sizeof(int) * sk);
			memcpy(soff, sh->text_off, sizeof(uint16) * (sk + 1));
			memcpy(stext, sh->text, soff[sk]);
			appendStringInfoCharMacro(out, '{');
			for (int m = 0; m < sk; m++)
			{
				int			i = sorder[m];

				appendBinaryStringInfoNT(out, stext + soff[m], soff[m + 1] - soff[m]);
				canon_child(out, c, base, n + i, &span[n + i], spaced);
			}
			appendStringInfoCharMacro(out, '}');
			if (span != small)
				pfree(span);
			return;
		}

		for (int i = 0; i < n; i++)
		{
			if (skip_seq && span[i].len == 4 && memcmp(base + span[i].off, "_seq", 4) == 0)
				continue;
			order[k++] = i;
		}
		/*
		 * Key order by code point: qsort when large, else an insertion sort
		 * on the keys' first 8 bytes as a number (the order of the bytes,
		 * a shorter key's missing ones as zeros, which no key has), the
		 * keys themselves compared only where those are equal.
		 */
		if (k > 16)
			qsort_arg(order, k, sizeof(int), cmp_key_index, &ko);
		else
		{
			uint64		pfx[16];

			for (int i = 0; i < k; i++)
			{
				const unsigned char *key = (const unsigned char *) base + span[order[i]].off;
				int			len = Min(span[order[i]].len, 8);
				uint64		p = 0;

				for (int b = 0; b < len; b++)
					p |= (uint64) key[b] << (56 - 8 * b);
				pfx[i] = p;
			}
			for (int i = 1; i < k; i++)
			{
				int			t = order[i];
				uint64		tp = pfx[i];
				int			j = i - 1;

				while (j >= 0 && (pfx[j] > tp ||
								  (pfx[j] == tp && cmp_key_index(&order[j], &t, &ko) > 0)))
				{
					order[j + 1] = order[j];
					pfx[j + 1] = pfx[j];
					j--;
				}
				order[j + 1] = t;
				pfx[j + 1] = tp;
			}
			if (n <= 16)
				shape_keep(n, skip_seq, spaced, base, span, keys_len, order, k);
		}
		appendStringInfoCharMacro(out, '{');
		for (int m = 0; m < k; m++)
		{
			int			i = order[m];

			if (!first)
				append_sep(out, spaced);
			first = false;
			canon_string(out, base + span[i].off, span[i].len);
			if (spaced)
				appendBinaryStringInfo(out, ": ", 2);
			else
				appendStringInfoCharMacro(out, ':');
			canon_child(out, c, base, n + i, &span[n + i], spaced);
		}
		appendStringInfoCharMacro(out, '}');
		if (order != osmall)
			pfree(order);
	}
	if (span != small)
		pfree(span);
}

/* a value of an object or array built by pushJsonbValue */
static void
canon_built_value(StringInfo out, JsonbValue *v, bool spaced)
{
	check_stack_depth();

	if (v->type == jbvArray)
	{
		appendStringInfoCharMacro(out, '[');
		for (int i = 0; i < v->val.array.nElems; i++)
		{
			if (i > 0)
				appendBinaryStringInfo(out, spaced ? ", " : ",", spaced ? 2 : 1);
			canon_built_value(out, &v->val.array.elems[i], spaced);
		}
		appendStringInfoCharMacro(out, ']');
	}
	else if (v->type == jbvObject)
		canon_built_object(out, v, false, spaced);
	else
		canon_jsonb_value(out, v, spaced);
}

/*
 * An object built by pushJsonbValue (its keys unique, nested containers as
 * jbvBinary or built values), exactly as canon_jsonb writes the Jsonb that
 * JsonbValueToJsonb makes of it.
 */
void
canon_built_object(StringInfo out, JsonbValue *obj, bool skip_seq, bool spaced)
{
	int			n = obj->val.object.nPairs;
	KeyedValue *kv = palloc(sizeof(KeyedValue) * Max(n, 1));
	int			k = 0;

	Assert(obj->type == jbvObject);
	for (int i = 0; i < n; i++)
	{
		JsonbPair  *p = &obj->val.object.pairs[i];

		kv[k].key = p->key.val.string.val;
		kv[k].keylen = p->key.val.string.len;
		kv[k].val = p->value;
		if (skip_seq && kv[k].keylen == 4 && memcmp(kv[k].key, "_seq", 4) == 0)
			continue;
		k++;
	}
	canon_members(out, kv, k, spaced, canon_built_value);
	pfree(kv);
}

void
canon_jsonb(StringInfo out, Jsonb *jb, bool skip_seq, bool spaced)
{
	canon_jsonb_container(out, &jb->root, skip_seq, spaced);
}

/* ------------------------------------------------------------------------
 * JSON text -> CanonNode, with Postgres's own JSON lexer
 * ------------------------------------------------------------------------ */

#define MAX_DEPTH 512

typedef struct ParseState
{
	CanonNode  *root;
	CanonNode  *stack[MAX_DEPTH];
	int			depth;
	char	   *pending_key;
} ParseState;

#if PG_VERSION_NUM >= 160000
#define SEM_RETURN_TYPE JsonParseErrorType
#define SEM_RETURN return JSON_SUCCESS
#else
#define SEM_RETURN_TYPE void
#define SEM_RETURN return
#endif

static void
node_add(ParseState *ps, CanonNode *node)
{
	CanonNode  *parent;

	if (ps->depth == 0)
	{
		ps->root = node;
		return;
	}
	parent = ps->stack[ps->depth - 1];
	if (parent->n == parent->cap)
	{
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->items = parent->items
			? repalloc(parent->items, sizeof(CanonNode *) * parent->cap)
			: palloc(sizeof(CanonNode *) * parent->cap);
		if (parent->kind == CN_OBJECT)
			parent->keys = parent->keys
				? repalloc(parent->keys, sizeof(char *) * parent->cap)
				: palloc(sizeof(char *) * parent->cap);
	}
	if (parent->kind == CN_OBJECT)
		parent->keys[parent->n] = ps->pending_key;
	parent->items[parent->n++] = node;
}

static SEM_RETURN_TYPE
sem_container_start(ParseState *ps, CanonKind kind)
{
	CanonNode  *node = palloc0(sizeof(CanonNode));

	node->kind = kind;
	node_add(ps, node);
	if (ps->depth >= MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("JSON nesting deeper than %d levels", MAX_DEPTH)));
	ps->stack[ps->depth++] = node;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
sem_object_start(void *state)
{
	return sem_container_start(state, CN_OBJECT);
}

static SEM_RETURN_TYPE
sem_array_start(void *state)
{
	return sem_container_start(state, CN_ARRAY);
}

static SEM_RETURN_TYPE
sem_container_end(void *state)
{
	((ParseState *) state)->depth--;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
sem_field_start(void *state, char *fname, bool isnull)
{
	((ParseState *) state)->pending_key = fname;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
sem_scalar(void *state, char *token, JsonTokenType type)
{
	CanonNode  *node = palloc0(sizeof(CanonNode));

	switch (type)
	{
		case JSON_TOKEN_STRING:
			node->kind = CN_STRING;
			break;
		case JSON_TOKEN_NUMBER:
			node->kind = strpbrk(token, ".eE") ? CN_FLOAT : CN_INT;
			break;
		case JSON_TOKEN_TRUE:
			node->kind = CN_TRUE;
			break;
		case JSON_TOKEN_FALSE:
			node->kind = CN_FALSE;
			break;
		default:
			node->kind = CN_NULL;
	}
	node->str = token;
	node->len = token ? strlen(token) : 0;
	node_add(state, node);
	SEM_RETURN;
}

CanonNode *
canon_parse(const char *json, int len, const char *what)
{
	ParseState *ps;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType err;
	CanonNode  *fast = canon_scan(json, len);

	if (fast != NULL)
		return fast;
	ps = palloc0(sizeof(ParseState));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = ps;
	sem.object_start = sem_object_start;
	sem.object_end = sem_container_end;
	sem.array_start = sem_array_start;
	sem.array_end = sem_container_end;
	sem.object_field_start = sem_field_start;
	sem.scalar = sem_scalar;

#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, (char *) json, len, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen((char *) json, len, PG_UTF8, true);
#endif
	err = pg_parse_json(lex, &sem);
	/* valid JSON, and Python takes it, but no PostgreSQL text can hold it */
	if (err == JSON_UNICODE_CODE_POINT_ZERO)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("%s contains \\u0000, which PostgreSQL cannot store", what),
				 errhint("jsonb and text have no NUL character; such a document cannot be kept.")));
	if (err != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s is not valid JSON", what),
				 errdetail("%s", json_errdetail(err, lex))));
	return ps->root;
}

typedef struct NodeKey
{
	char	   *key;
	int			keylen;
	int			pos;
	CanonNode  *node;
} NodeKey;

static int
cmp_node_key(const void *a, const void *b)
{
	const NodeKey *x = a;
	const NodeKey *y = b;
	int			r = cmp_keys(x->key, x->keylen, y->key, y->keylen);

	return r != 0 ? r : (x->pos > y->pos) - (x->pos < y->pos);
}

void
canon_node(StringInfo out, CanonNode *node, bool spaced)
{
	check_stack_depth();

	switch (node->kind)
	{
		case CN_NULL:
			appendStringInfoString(out, "null");
			break;
		case CN_TRUE:
			appendStringInfoString(out, "true");
			break;
		case CN_FALSE:
			appendStringInfoString(out, "false");
			break;
		case CN_INT:
		case CN_FLOAT:
			canon_numeric_text(out, node->str);
			break;
		case CN_STRING:
			canon_string(out, node->str, node->len);
			break;
		case CN_ARRAY:
			appendStringInfoCharMacro(out, '[');
			for (int i = 0; i < node->n; i++)
			{
				if (i > 0)
					appendBinaryStringInfo(out, spaced ? ", " : ",", spaced ? 2 : 1);
				canon_node(out, node->items[i], spaced);
			}
			appendStringInfoCharMacro(out, ']');
			break;
		case CN_OBJECT:
			{
				NodeKey    *nk = palloc(sizeof(NodeKey) * Max(node->n, 1));
				bool		first = true;

				for (int i = 0; i < node->n; i++)
				{
					nk[i].key = node->keys[i];
					nk[i].keylen = strlen(node->keys[i]);
					nk[i].pos = i;
					nk[i].node = node->items[i];
				}
				qsort(nk, node->n, sizeof(NodeKey), cmp_node_key);
				appendStringInfoCharMacro(out, '{');
				for (int i = 0; i < node->n; i++)
				{
					/* a duplicated key: Python keeps the last one */
					if (i + 1 < node->n &&
						cmp_keys(nk[i].key, nk[i].keylen, nk[i + 1].key, nk[i + 1].keylen) == 0)
						continue;
					if (!first)
						appendBinaryStringInfo(out, spaced ? ", " : ",", spaced ? 2 : 1);
					first = false;
					canon_string(out, nk[i].key, nk[i].keylen);
					appendBinaryStringInfo(out, spaced ? ": " : ":", spaced ? 2 : 1);
					canon_node(out, nk[i].node, spaced);
				}
				appendStringInfoCharMacro(out, '}');
				pfree(nk);
			}
			break;
	}
}

/* The last member named key (Python keeps the last duplicate), or NULL. */
CanonNode *
canon_member(CanonNode *obj, const char *key)
{
	if (obj == NULL || obj->kind != CN_OBJECT)
		return NULL;
	for (int i = obj->n - 1; i >= 0; i--)
		if (strcmp(obj->keys[i], key) == 0)
			return obj->items[i];
	return NULL;
}

/* jsonb's member order: shorter keys first, then bytes; a later duplicate first */
static int
cmp_jsonb_pair(const void *a, const void *b)
{
	const JsonbPair *x = a;
	const JsonbPair *y = b;
	int			r;

	if (x->key.val.string.len != y->key.val.string.len)
		return x->key.val.string.len > y->key.val.string.len ? 1 : -1;
	r = memcmp(x->key.val.string.val, y->key.val.string.val, x->key.val.string.len);
	if (r != 0)
		return r;
	return x->order > y->order ? -1 : 1;
}

static bool
same_key(const JsonbPair *x, const JsonbPair *y)
{
	return x->key.val.string.len == y->key.val.string.len &&
		memcmp(x->key.val.string.val, y->key.val.string.val, x->key.val.string.len) == 0;
}

/*
 * Sort an object's members as jsonb keeps them and drop duplicated keys
 * (the last one written stays, as in jsonb_in): what pushJsonbValue does at
 * an object's end, without its per-value copies.
 */
static void
sort_pairs(JsonbValue *obj)
{
	JsonbPair  *p = obj->val.object.pairs;
	int			n = obj->val.object.nPairs;
	int			kept;

	if (n < 2)
		return;
	if (n <= 16)
	{
		for (int i = 1; i < n; i++)
		{
			JsonbPair	t = p[i];
			int			j = i;

			while (j > 0 && cmp_jsonb_pair(&p[j - 1], &t) > 0)
			{
				p[j] = p[j - 1];
				j--;
			}
			p[j] = t;
		}
	}
	else
		qsort(p, n, sizeof(JsonbPair), cmp_jsonb_pair);
	kept = 1;
	for (int i = 1; i < n; i++)
		if (!same_key(&p[kept - 1], &p[i]))
			p[kept++] = p[i];
	obj->val.object.nPairs = kept;
}

/* an int token of up to 18 digits as numeric, without numeric_in's text scan */
static bool
small_int_numeric(CanonNode *node, Numeric *out)
{
	const char *p = node->str;
	bool		neg = *p == '-';
	int64		v = 0;

	if (node->len - neg > 18)
		return false;
	for (p += neg; *p; p++)
		v = v * 10 + (*p - '0');
	*out = int64_to_numeric(neg ? -v : v);
	return true;
}

/*
 * node as a JsonbValue tree (objects sorted and unique as jsonb keeps them),
 * what jsonb_in would have built from its canonical text; extra (NULL if
 * none) is one more member of an object node, after its own.
 */
static void
node_value(CanonNode *node, JsonbValue *v, JsonbPair *extra)
{
	check_stack_depth();
	switch (node->kind)
	{
		case CN_OBJECT:
			v->type = jbvObject;
			v->val.object.nPairs = node->n + (extra != NULL);
			v->val.object.pairs = palloc(sizeof(JsonbPair) * Max(v->val.object.nPairs, 1));
			for (int i = 0; i < node->n; i++)
			{
				JsonbPair  *pair = &v->val.object.pairs[i];

				pair->key.type = jbvString;
				pair->key.val.string.val = node->keys[i];
				pair->key.val.string.len = strlen(node->keys[i]);
				pair->order = i;
				node_value(node->items[i], &pair->value, NULL);
			}
			if (extra)
			{
				v->val.object.pairs[node->n] = *extra;
				v->val.object.pairs[node->n].order = node->n;
			}
			sort_pairs(v);
			break;
		case CN_ARRAY:
			v->type = jbvArray;
			v->val.array.rawScalar = false;
			v->val.array.nElems = node->n;
			v->val.array.elems = palloc(sizeof(JsonbValue) * Max(node->n, 1));
			for (int i = 0; i < node->n; i++)
				node_value(node->items[i], &v->val.array.elems[i], NULL);
			break;
		case CN_NULL:
			v->type = jbvNull;
			break;
		case CN_TRUE:
		case CN_FALSE:
			v->type = jbvBool;
			v->val.boolean = node->kind == CN_TRUE;
			break;
		case CN_INT:
		case CN_FLOAT:
			v->type = jbvNumeric;
			if (node->kind == CN_FLOAT || !small_int_numeric(node, &v->val.numeric))
			{
				StringInfoData num;

				/* (initStringInfo's 1 kB would be most of the work) */
				num.maxlen = 64;
				num.data = palloc(num.maxlen);
				num.len = 0;
				num.data[0] = '\0';
				num.cursor = 0;
				canon_numeric_text(&num, node->str);
				v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																	 CStringGetDatum(num.data),
																	 ObjectIdGetDatum(InvalidOid),
																	 Int32GetDatum(-1)));
				pfree(num.data);
			}
			break;
		case CN_STRING:
			v->type = jbvString;
			v->val.string.val = node->str;
			v->val.string.len = node->len;
			break;
	}
}

/*
 * The jsonb of a parsed object or array: what jsonb_in makes of its
 * canonical text, built from the tree without printing and parsing it.
 */
Jsonb *
canon_node_to_jsonb(CanonNode *node)
{
	JsonbValue	v;

	if (node->kind != CN_OBJECT && node->kind != CN_ARRAY)
	{
		StringInfoData s;

		initStringInfo(&s);
		canon_node(&s, node, false);
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
	}
	node_value(node, &v, NULL);
	return JsonbValueToJsonb(&v);
}

/*
 * The jsonb of a parsed object with one more member, key: i (an int), last:
 * canon_node_to_jsonb's then that member pushed after the others (a member
 * of obj with the same key gives way to it), in one build.
 */
Jsonb *
canon_object_to_jsonb_with(CanonNode *obj, const char *key, int64 i)
{
	JsonbValue	v;
	JsonbPair	extra;

	Assert(obj->kind == CN_OBJECT);
	extra.key.type = jbvString;
	extra.key.val.string.val = (char *) key;
	extra.key.val.string.len = strlen(key);
	extra.value.type = jbvNumeric;
	extra.value.val.numeric = int64_to_numeric(i);
	node_value(obj, &v, &extra);
	return JsonbValueToJsonb(&v);
}
