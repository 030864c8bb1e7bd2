/*
 * nql_fuzz.c
 *	  libFuzzer harness of the NQL lexer and parser (src/nql_parse.c, linked
 *	  unchanged with the stub layer in pgstub.c).
 *
 * Each input is a query text (skipped unless it is UTF-8 without NUL bytes,
 * as text in a UTF8 database always is).  A parse either succeeds or raises
 * an ERROR.  Findings, besides what ASan and UBSan catch:
 *	- an ERROR with any SQLSTATE but 42601 (syntax) and 54000 (a bound):
 *	  an XX000 from an allocation or an elog is a bug;
 *	- an error message over MAX_MESSAGE bytes, a shown query over
 *	  MAX_QUERY bytes, or a position outside the shown query;
 *	- a parsed number value that is not a JSON number (the executor hands
 *	  it to jsonb_in and numeric_in);
 *	- a parse tree without its collection, or a WHERE field NULL.
 */
#include "postgres.h"

#include <setjmp.h>

#include "mb/pg_wchar.h"

#include "nql.h"
#include "pgstub.h"

/* the backend's printf replacements live in libpgport: use the C library's */
#undef fprintf

#define MAX_MESSAGE 16384
#define MAX_QUERY	16384

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the five characters of a SQLSTATE */
static const char *
sqlstate_text(int sql_state)
{
	static char buf[12];

	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(sql_state);
		sql_state >>= 6;
	}
	buf[5] = '\0';
	return buf;
}

static void
finding(const char *what, const char *input)
{
	fprintf(stderr, "nql_fuzz: %s\n  input: %.300s\n", what, input);
	if (stub_error.message)
		fprintf(stderr, "  error %s at %s:%d: %.300s\n",
				sqlstate_text(stub_error.sqlstate), stub_error.file ? stub_error.file : "?",
				stub_error.line, stub_error.message);
	abort();
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)? */
static bool
json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return false;
	if (*s == '.')
	{
		s++;
		if (!(*s >= '0' && *s <= '9'))
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jmp_buf		jb;
	char	   *text;
	NqlQuery   *volatile q = NULL;

	if (size > NQL_MAX_QUERY_LENGTH || !stub_valid_utf8(data, size))
		return 0;
	memset(&stub_error, 0, sizeof(stub_error));
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	stub_jmp = &jb;
	if (setjmp(jb) == 0)
	{
		ListCell   *lc;

		q = nql_parse(text);
		if (q == NULL || q->from == NULL)
			finding("parse tree without a collection", text);
		foreach(lc, q->where)
		{
			NqlPred    *p = lfirst(lc);

			if (p->field == NULL || p->value.text == NULL)
			{
				if (p->field == NULL ||
					p->value.kind == NQLV_INT || p->value.kind == NQLV_FLOAT ||
					p->value.kind == NQLV_STRING)
					finding("WHERE condition without its field or value", text);
			}
			else if ((p->value.kind == NQLV_INT || p->value.kind == NQLV_FLOAT) &&
					 !json_number(p->value.text))
				finding("number value that is not JSON", text);
		}
	}
	else
	{
		int			st = stub_error.sqlstate;

		if (st != ERRCODE_SYNTAX_ERROR && st != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
			finding("an error that is neither 42601 nor 54000", text);
		if (stub_error.message == NULL || strlen(stub_error.message) > MAX_MESSAGE)
			finding("error message missing or too long", text);
		if (stub_error.query)
		{
			int			chars = pg_mbstrlen_with_len(stub_error.query, strlen(stub_error.query));

			if (strlen(stub_error.query) > MAX_QUERY)
				finding("error query too long", text);
			if (stub_error.position < 1 || stub_error.position > chars + 1)
				finding("error position outside the query", text);
		}
	}
	stub_jmp = NULL;
	stub_reset();
	free(text);
	return 0;
}
