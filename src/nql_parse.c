/*
 * nql_parse.c
 *	  NQL lexer and parser: the reference grammar, its error messages.
 *
 * Tokens, tried in this order at each position (whitespace skipped):
 * "..." and '...' strings (no escapes), numbers -?\d+(\.\d+)?, the
 * operators <= >= != = < >, identifiers [A-Za-z_][A-Za-z0-9_]*; an
 * identifier whose lowercase is a keyword is a keyword.  Clauses come in a
 * fixed order, each at most once.  Error messages are the reference's, with
 * its Python spelling of values (None, 'text', 5, 1.5); the position of the
 * offending token is reported as the error's internal position.
 *
 * Bounds (nql.h): a query text over NQL_MAX_QUERY_LENGTH bytes and a number
 * literal over NQL_MAX_NUMBER_LENGTH characters are refused with
 * ERRCODE_PROGRAM_LIMIT_EXCEEDED before anything grows with them; a message
 * quotes at most NQL_MAX_QUOTED_CHARS characters of a token and lists at
 * most NQL_MAX_QUOTED_TOKENS trailing tokens, each cut followed by "...".
 * Numbers are read as Python's int() and float() read the reference's
 * number tokens: leading zeros are dropped (007 is 7), so the value text
 * handed on is always valid JSON.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

#include "canon.h"
#include "nql.h"

typedef enum TokKind
{
	TK_STR,
	TK_NUM,
	TK_OP,
	TK_WORD,
	TK_KW,
	TK_EOF
} TokKind;

typedef struct Token
{
	TokKind		kind;
	char	   *value;			/* string, number text, operator, word, keyword (lowercase) */
	char	   *raw;			/* as written (a keyword used as a name keeps its case) */
	int			pos;			/* 0-based character offset */
} Token;

typedef struct Parser
{
	const char *text;
	Token	   *toks;
	int			ntoks;
	int			i;
} Parser;

static const char *const keywords[] = {
	"from", "as", "of", "where", "and", "search", "order", "by", "asc", "desc",
	"traverse", "trace", "reverse", "limit", "valid", "true", "false", "null",
	"group", "count", "sum", "avg", "min", "max", NULL
};

/*
 * Python's repr() of a str, of at most maxchars characters of it: a longer
 * string is cut there and followed by "..." after the closing quote.
 */
static void
py_repr_str(StringInfo out, const char *s, int maxchars)
{
	char		q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
	const unsigned char *end = (const unsigned char *) s;
	bool		cut = false;

	for (int c = 0; *end; c++)
	{
		if (c == maxchars)
		{
			cut = true;
			break;
		}
		end += pg_mblen((const char *) end);
	}

	appendStringInfoChar(out, q);
	for (const unsigned char *p = (const unsigned char *) s; p < end; p++)
	{
		if (*p == '\\' || *p == q)
			appendStringInfo(out, "\\%c", *p);
		else if (*p == '\n')
			appendStringInfoString(out, "\\n");
		else if (*p == '\r')
			appendStringInfoString(out, "\\r");
		else if (*p == '\t')
			appendStringInfoString(out, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			appendStringInfo(out, "\\x%02x", *p);
		else
			appendStringInfoChar(out, *p);
	}
	appendStringInfoChar(out, q);
	if (cut)
		appendStringInfoString(out, "...");
}

/* a token's value as Python prints it: None, 'word', 5, 1.5 */
static void
py_repr_value(StringInfo out, Token *t)
{
	if (t->kind == TK_EOF)
		appendStringInfoString(out, "None");
	else if (t->kind == TK_NUM)
	{
		if (strchr(t->value, '.'))
			canon_float(out, strtod(t->value, NULL));
		else
		{
			/* Python's int(): no leading zeros, no negative zero */
			const char *d = t->value + (t->value[0] == '-');
			int			len;

			while (d[0] == '0' && d[1] != '\0')
				d++;
			if (t->value[0] == '-' && strcmp(d, "0") != 0)
				appendStringInfoChar(out, '-');
			len = strlen(d);
			appendBinaryStringInfo(out, d, Min(len, NQL_MAX_QUOTED_CHARS));
			if (len > NQL_MAX_QUOTED_CHARS)
				appendStringInfoString(out, "...");
		}
	}
	else
		py_repr_str(out, t->value, NQL_MAX_QUOTED_CHARS);
}

static const char *
kind_name(TokKind k)
{
	switch (k)
	{
		case TK_STR:
			return "str";
		case TK_NUM:
			return "num";
		case TK_OP:
			return "op";
		case TK_KW:
			return "kw";
		default:
			return "word";
	}
}

/*
 * The query an error shows, and the error's (1-based, in characters)
 * position in it: the whole text up to NQL_ERROR_QUERY_WHOLE bytes, else
 * NQL_ERROR_QUERY_CHARS characters either side of the position, with "..."
 * where the text is cut.
 */
#define NQL_ERROR_QUERY_WHOLE	8192
#define NQL_ERROR_QUERY_CHARS	1000

static const char *
error_query(const char *text, int pos, int *cpos)
{
	int			len = strlen(text);
	int			before = pg_mbstrlen_with_len(text, pos);
	int			from = 0;
	int			to = pos;
	StringInfoData q;

	*cpos = before + 1;
	if (len <= NQL_ERROR_QUERY_WHOLE)
		return text;

	/* from: the first byte of the window, to: the byte after it */
	for (int c = 0; c < before - NQL_ERROR_QUERY_CHARS; c++)
		from += pg_mblen(text + from);
	for (int c = 0; c < NQL_ERROR_QUERY_CHARS && to < len; c++)
		to += pg_mblen(text + to);
	initStringInfo(&q);
	if (from > 0)
		appendStringInfoString(&q, "...");
	appendBinaryStringInfo(&q, text + from, to - from);
	if (to < len)
		appendStringInfoString(&q, "...");
	*cpos = pg_mbstrlen_with_len(text + from, pos - from) + 1 + (from > 0 ? 3 : 0);
	return q.data;
}

static void pg_attribute_noreturn()
nql_error(Parser *p, int code, int pos, const char *msg)
{
	int			cpos;
	const char *query = error_query(p->text, pos, &cpos);

	/* positions count characters, not bytes */
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s", msg),
			 internalerrposition(cpos),
			 internalerrquery(query)));
	pg_unreachable();
}

static void pg_attribute_noreturn()
syntax_error(Parser *p, int pos, const char *msg)
{
	nql_error(p, ERRCODE_SYNTAX_ERROR, pos, msg);
}

void
nql_check_length(size_t len)
{
	if (len > NQL_MAX_QUERY_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("NQL query is %zu bytes long, more than the limit of %d bytes",
						len, NQL_MAX_QUERY_LENGTH),
				 errhint("Shorten the query; long values belong in documents, not in query text.")));
}

static Token *
peek(Parser *p)
{
	return &p->toks[p->i];
}

static bool
at_kw(Parser *p, const char *kw)
{
	Token	   *t = peek(p);

	return t->kind == TK_KW && strcmp(t->value, kw) == 0;
}

/* "NQL: <prefix><repr of the current token's value>" */
static void pg_attribute_noreturn()
error_got(Parser *p, const char *prefix)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, prefix);
	py_repr_value(&s, peek(p));
	syntax_error(p, peek(p)->pos, s.data);
}

static void
expect_kw(Parser *p, const char *kw)
{
	char		upper[16];

	if (at_kw(p, kw))
	{
		p->i++;
		return;
	}
	for (int k = 0; kw[k] && k < 15; k++)
		upper[k] = toupper((unsigned char) kw[k]);
	upper[Min(strlen(kw), 15)] = '\0';
	error_got(p, psprintf("NQL: expected '%s', got ", upper));
}

/* ------------------------------------------------------------------------
 * Lexer
 * ------------------------------------------------------------------------ */

static void
lex(Parser *p)
{
	const char *s = p->text;
	int			n = strlen(s);
	int			i = 0;
	int			cap = 16;

	p->toks = palloc(sizeof(Token) * cap);
	p->ntoks = 0;
	for (;;)
	{
		Token		t;
		int			start;

		while (i < n && isspace((unsigned char) s[i]))
			i++;
		if (p->ntoks + 1 >= cap)
		{
			cap *= 2;
			p->toks = repalloc(p->toks, sizeof(Token) * cap);
		}
		start = i;
		t.pos = i;
		if (i >= n)
		{
			t.kind = TK_EOF;
			t.value = t.raw = NULL;
			p->toks[p->ntoks++] = t;
			return;
		}
		if (s[i] == '"' || s[i] == '\'')
		{
			const char *close = strchr(s + i + 1, s[i]);

			if (close != NULL)
			{
				t.kind = TK_STR;
				t.value = t.raw = pnstrdup(s + i + 1, close - (s + i + 1));
				i = close - s + 1;
				p->toks[p->ntoks++] = t;
				continue;
			}
		}
		else if (isdigit((unsigned char) s[i]) ||
				 (s[i] == '-' && i + 1 < n && isdigit((unsigned char) s[i + 1])))
		{
			int			digits;
			bool		is_float = false;

			i++;
			while (i < n && isdigit((unsigned char) s[i]))
				i++;
			if (i + 1 < n && s[i] == '.' && isdigit((unsigned char) s[i + 1]))
			{
				is_float = true;
				i++;
				while (i < n && isdigit((unsigned char) s[i]))
					i++;
			}
			if (i - start > NQL_MAX_NUMBER_LENGTH)
				nql_error(p, ERRCODE_PROGRAM_LIMIT_EXCEEDED, start,
						  psprintf("NQL: number literal of %d characters, more than the limit of %d",
								   i - start, NQL_MAX_NUMBER_LENGTH));
			t.kind = TK_NUM;
			t.raw = pnstrdup(s + start, i - start);

			/*
			 * The value as int() or float() reads it, spelled as JSON: no
			 * leading zeros (007 is 7), and an integer has no negative zero.
			 */
			digits = start + (s[start] == '-');
			while (s[digits] == '0' && digits + 1 < i && isdigit((unsigned char) s[digits + 1]))
				digits++;
			if (s[start] == '-' && !(!is_float && digits + 1 == i && s[digits] == '0'))
				t.value = psprintf("-%.*s", i - digits, s + digits);
			else
				t.value = pnstrdup(s + digits, i - digits);
			p->toks[p->ntoks++] = t;
			continue;
		}
		else if (s[i] == '<' || s[i] == '>' || s[i] == '!' || s[i] == '=')
		{
			int			len = (s[i] != '=' && i + 1 < n && s[i + 1] == '=') ? 2 : 1;

			if (!(s[i] == '!' && len == 1))
			{
				t.kind = TK_OP;
				t.value = t.raw = pnstrdup(s + i, len);
				i += len;
				p->toks[p->ntoks++] = t;
				continue;
			}
		}
		else if (isalpha((unsigned char) s[i]) || s[i] == '_')
		{
			char	   *lower;

			while (i < n && (isalnum((unsigned char) s[i]) || s[i] == '_'))
				i++;
			t.raw = pnstrdup(s + start, i - start);
			lower = pstrdup(t.raw);
			for (char *c = lower; *c; c++)
				*c = tolower((unsigned char) *c);
			t.kind = TK_WORD;
			t.value = t.raw;
			for (const char *const *k = keywords; *k; k++)
				if (strcmp(*k, lower) == 0)
				{
					t.kind = TK_KW;
					t.value = lower;
				}
			p->toks[p->ntoks++] = t;
			continue;
		}

		/* nothing matches here: show the next 20 characters */
		{
			StringInfoData m;
			int			bytes = 0;

			for (int c = 0; c < 20 && i + bytes < n; c++)
				bytes += pg_mblen(s + i + bytes);
			initStringInfo(&m);
			appendStringInfoString(&m, "NQL: cannot tokenize near: ");
			py_repr_str(&m, pnstrdup(s + i, bytes), 20);
			syntax_error(p, i, m.data);
		}
	}
}

/* ------------------------------------------------------------------------
 * Parser
 * ------------------------------------------------------------------------ */

/* a name: an identifier or a keyword (as written) */
static char *
name(Parser *p, const char *msg)
{
	Token	   *t = peek(p);

	if (t->kind != TK_WORD && t->kind != TK_KW)
		syntax_error(p, t->pos, msg);
	p->i++;
	return t->raw;
}

/* int() of a number token, clamped to int64 */
static int64
int_of(Token *t)
{
	double		d = strtod(t->value, NULL);

	if (!strchr(t->value, '.'))
	{
		char	   *end;
		int64		v;

		errno = 0;
		v = strtoi64(t->value, &end, 10);
		if (errno == 0)
			return v;
	}
	if (d >= 9.2e18)
		return PG_INT64_MAX;
	if (d <= -9.2e18)
		return PG_INT64_MIN;
	return (int64) trunc(d);
}

static NqlValue
value(Parser *p)
{
	Token	   *t = peek(p);
	NqlValue	v = {0};

	switch (t->kind)
	{
		case TK_NUM:
			v.kind = strchr(t->value, '.') ? NQLV_FLOAT : NQLV_INT;
			v.text = t->value;
			v.num = strtod(t->value, NULL);
			break;
		case TK_STR:
		case TK_WORD:
			v.kind = NQLV_STRING;
			v.text = t->value;
			break;
		case TK_KW:
			if (strcmp(t->value, "true") == 0)
			{
				v.kind = NQLV_TRUE;
				v.num = 1;
			}
			else if (strcmp(t->value, "false") == 0)
				v.kind = NQLV_FALSE;
			else if (strcmp(t->value, "null") == 0)
				v.kind = NQLV_NULL;
			else
				error_got(p, "NQL: expected value, got ");
			break;
		default:
			error_got(p, "NQL: expected value, got ");
	}
	p->i++;
	return v;
}

static bool
valid_clause(Parser *p, NqlQuery *q)
{
	if (!at_kw(p, "valid"))
		return false;
	p->i++;
	if (at_kw(p, "as"))
		p->i++;
	if (at_kw(p, "of"))
		p->i++;
	if (peek(p)->kind != TK_STR)
		syntax_error(p, peek(p)->pos, "NQL: VALID AS OF expects a quoted date string");
	q->valid_as_of = peek(p)->value;
	p->i++;
	return true;
}

NqlQuery *
nql_parse(const char *text)
{
	Parser		p = {text, NULL, 0, 0};
	NqlQuery   *q;

	nql_check_length(strlen(text));
	q = palloc0(sizeof(NqlQuery));
	lex(&p);

	expect_kw(&p, "from");
	q->from = name(&p, "NQL: expected collection after FROM");

	if (at_kw(&p, "as"))
	{
		p.i++;
		expect_kw(&p, "of");
		if (peek(&p)->kind != TK_NUM)
			syntax_error(&p, peek(&p)->pos, "NQL: AS OF expects an integer seq");
		q->has_as_of = true;
		q->as_of = int_of(peek(&p));
		p.i++;
	}

	(void) valid_clause(&p, q);

	if (at_kw(&p, "where"))
	{
		p.i++;
		for (;;)
		{
			NqlPred    *pr = palloc0(sizeof(NqlPred));
			Token	   *op;

			pr->field = name(&p, "NQL: expected field in WHERE");
			op = peek(&p);
			if (op->kind != TK_OP)
				syntax_error(&p, op->pos, "NQL: expected operator in WHERE");
			pr->op = strcmp(op->value, "=") == 0 ? NQL_EQ :
				strcmp(op->value, "!=") == 0 ? NQL_NE :
				strcmp(op->value, "<") == 0 ? NQL_LT :
				strcmp(op->value, "<=") == 0 ? NQL_LE :
				strcmp(op->value, ">") == 0 ? NQL_GT : NQL_GE;
			p.i++;
			pr->value = value(&p);
			q->where = lappend(q->where, pr);
			if (!at_kw(&p, "and"))
				break;
			p.i++;
		}
	}

	if (q->valid_as_of == NULL)
		(void) valid_clause(&p, q);

	if (at_kw(&p, "search"))
	{
		p.i++;
		if (peek(&p)->kind != TK_STR)
			syntax_error(&p, peek(&p)->pos, "NQL: SEARCH expects a quoted string");
		q->search = peek(&p)->value;
		p.i++;
	}

	if (at_kw(&p, "order"))
	{
		p.i++;
		expect_kw(&p, "by");
		q->order_by = name(&p, "NQL: expected field after ORDER BY");
		if (at_kw(&p, "asc"))
			p.i++;
		else if (at_kw(&p, "desc"))
		{
			p.i++;
			q->order_desc = true;
		}
	}

	if (at_kw(&p, "traverse"))
	{
		p.i++;
		q->traverse = name(&p, "NQL: expected relation after TRAVERSE");
	}

	if (at_kw(&p, "trace"))
	{
		p.i++;
		q->trace = name(&p, "NQL: expected field name after TRACE");
		if (at_kw(&p, "reverse"))
		{
			p.i++;
			q->trace_reverse = true;
		}
	}

	if (at_kw(&p, "limit"))
	{
		p.i++;
		if (peek(&p)->kind != TK_NUM)
			syntax_error(&p, peek(&p)->pos, "NQL: LIMIT expects an integer");
		q->has_limit = true;
		q->limit = int_of(peek(&p));
		p.i++;
	}

	if (at_kw(&p, "group"))
	{
		p.i++;
		expect_kw(&p, "by");
		q->group_by = name(&p, "NQL: expected field after GROUP BY");
		if (at_kw(&p, "count"))
		{
			p.i++;
			q->agg = NQL_AGG_COUNT;
		}
		else if (at_kw(&p, "sum") || at_kw(&p, "avg") || at_kw(&p, "min") || at_kw(&p, "max"))
		{
			const char *fn = peek(&p)->value;
			char		upper[4];

			q->agg = strcmp(fn, "sum") == 0 ? NQL_AGG_SUM :
				strcmp(fn, "avg") == 0 ? NQL_AGG_AVG :
				strcmp(fn, "min") == 0 ? NQL_AGG_MIN : NQL_AGG_MAX;
			for (int k = 0; k < 3; k++)
				upper[k] = toupper((unsigned char) fn[k]);
			upper[3] = '\0';
			p.i++;
			q->agg_field = name(&p, psprintf("NQL: %s expects a field name", upper));
		}
	}

	if (peek(&p)->kind != TK_EOF)
	{
		StringInfoData s;
		int			first = p.i;

		initStringInfo(&s);
		appendStringInfoString(&s, "NQL: unexpected trailing tokens: [");
		for (int k = first; p.toks[k].kind != TK_EOF; k++)
		{
			if (k > first)
				appendStringInfoString(&s, ", ");
			if (k - first == NQL_MAX_QUOTED_TOKENS)
			{
				appendStringInfoString(&s, "...");
				break;
			}
			appendStringInfo(&s, "('%s', ", kind_name(p.toks[k].kind));
			py_repr_value(&s, &p.toks[k]);
			appendStringInfoChar(&s, ')');
		}
		appendStringInfoChar(&s, ']');
		syntax_error(&p, p.toks[first].pos, s.data);
	}
	return q;
}
