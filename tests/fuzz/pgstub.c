/*
 * pgstub.c
 *	  The little of the backend that src/nql_parse.c uses, for a standalone
 *	  fuzzing binary: allocation (palloc and friends, in one arena freed
 *	  after each input), StringInfo, psprintf, UTF-8 character lengths,
 *	  lappend, canon_float, and ereport, whose ERROR longjmps back to the
 *	  harness with the SQLSTATE, message and internal query recorded.
 *
 * Written for this harness only; it follows the backend's declarations
 * (postgres.h) so that nql_parse.c compiles unchanged.
 */
#include "postgres.h"

#include <setjmp.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"

#include "canon.h"
#include "pgstub.h"

/* the backend's printf replacements live in libpgport: use the C library's */
#undef vsnprintf
#undef snprintf
#undef fprintf

/* ------------------------------------------------------------------------
 * Allocation: every chunk is on one list, freed by stub_reset
 * ------------------------------------------------------------------------ */

typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	size_t		size;
	/* 16-byte aligned payload follows */
} Chunk;

#define CHUNK_HDR	MAXALIGN(sizeof(Chunk) + 8)

static Chunk arena = {&arena, &arena, 0};

jmp_buf    *stub_jmp;
StubError	stub_error;

static void
oom(size_t size)
{
	fprintf(stderr, "pgstub: out of memory (%zu bytes)\n", size);
	abort();
}

static void *
chunk_alloc(size_t size, bool zero)
{
	Chunk	   *c;

	/* the backend refuses this with XX000: for us it is a finding */
	if (!AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	c = zero ? calloc(1, CHUNK_HDR + size) : malloc(CHUNK_HDR + size);
	if (c == NULL)
		oom(size);
	c->size = size;
	c->next = arena.next;
	c->prev = &arena;
	arena.next->prev = c;
	arena.next = c;
	return (char *) c + CHUNK_HDR;
}

void
stub_reset(void)
{
	Chunk	   *c = arena.next;

	while (c != &arena)
	{
		Chunk	   *next = c->next;

		free(c);
		c = next;
	}
	arena.next = arena.prev = &arena;
}

void *
palloc(Size size)
{
	return chunk_alloc(size, false);
}

void *
palloc0(Size size)
{
	return chunk_alloc(size, true);
}

void *
palloc_extended(Size size, int flags)
{
	return chunk_alloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void *
repalloc(void *pointer, Size size)
{
	Chunk	   *c = (Chunk *) ((char *) pointer - CHUNK_HDR);
	Chunk	   *n;

	if (!AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	n = realloc(c, CHUNK_HDR + size);
	if (n == NULL)
		oom(size);
	n->size = size;
	n->next = arena.next;
	n->prev = &arena;
	arena.next->prev = n;
	arena.next = n;
	return (char *) n + CHUNK_HDR;
}

void
pfree(void *pointer)
{
	Chunk	   *c = (Chunk *) ((char *) pointer - CHUNK_HDR);

	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *out;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	out = palloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(out, n + 1, fmt, ap);
	va_end(ap);
	return out;
}

/* ------------------------------------------------------------------------
 * StringInfo
 * ------------------------------------------------------------------------ */

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0 || (size_t) needed >= MaxAllocSize - (size_t) str->len)
		elog(ERROR, "out of memory: cannot enlarge a string buffer by %d more bytes", needed);
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	appendBinaryStringInfo(str, &ch, 1);
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	enlargeStringInfo(str, n);
	va_start(ap, fmt);
	vsnprintf(str->data + str->len, n + 1, fmt, ap);
	va_end(ap);
	str->len += n;
}

/* ------------------------------------------------------------------------
 * UTF-8 (the harness passes only valid UTF-8, as a UTF8 database does)
 * ------------------------------------------------------------------------ */

int
pg_mblen(const char *mbstr)
{
	unsigned char c = (unsigned char) *mbstr;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

int
pg_mbstrlen_with_len(const char *mbstr, int limit)
{
	int			n = 0;

	while (limit > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		limit -= l;
		mbstr += l;
		n++;
	}
	return n;
}

bool
stub_valid_utf8(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;)
	{
		int			l = pg_mblen((const char *) s + i);

		if (s[i] == 0 || (s[i] >= 0x80 && l == 1) || i + l > len)
			return false;
		for (int k = 1; k < l; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += l;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * Lists: lappend only (the parser's one use)
 * ------------------------------------------------------------------------ */

List *
lappend(List *list, void *datum)
{
	if (list == NIL)
	{
		list = palloc(offsetof(List, initial_elements) + 4 * sizeof(ListCell));
		list->type = T_List;
		list->length = 0;
		list->max_length = 4;
		list->elements = list->initial_elements;
	}
	else if (list->length == list->max_length)
	{
		ListCell   *e = palloc(sizeof(ListCell) * list->max_length * 2);

		memcpy(e, list->elements, sizeof(ListCell) * list->length);
		list->elements = e;
		list->max_length *= 2;
	}
	list->elements[list->length++].ptr_value = datum;
	return list;
}

/* ------------------------------------------------------------------------
 * canon.c: only what the parser prints of a float (not the reference's
 * exact repr(), which the SQL tests check)
 * ------------------------------------------------------------------------ */

void
canon_float(StringInfo out, double d)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%.17g", d);
	appendStringInfoString(out, buf);
}

/* ------------------------------------------------------------------------
 * ereport: ERROR longjmps to the harness; lower levels are dropped
 * ------------------------------------------------------------------------ */

static int	cur_elevel;

bool
errstart(int elevel, const char *domain)
{
	cur_elevel = elevel;
	if (elevel >= ERROR)
	{
		memset(&stub_error, 0, sizeof(stub_error));
		stub_error.sqlstate = ERRCODE_INTERNAL_ERROR;
	}
	return elevel >= ERROR;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (cur_elevel >= ERROR)
	{
		stub_error.file = filename;
		stub_error.line = lineno;
		if (stub_jmp == NULL)
			abort();
		longjmp(*stub_jmp, 1);
	}
}

int
errcode(int sqlerrcode)
{
	stub_error.sqlstate = sqlerrcode;
	return 0;
}

static int
set_message(char **dst, const char *fmt, va_list ap)
{
	int			n;
	va_list		ap2;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	*dst = palloc(n + 1);
	vsnprintf(*dst, n + 1, fmt, ap);
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_message(&stub_error.message, fmt, ap);
	va_end(ap);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_message(&stub_error.message, fmt, ap);
	va_end(ap);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	return 0;
}

int
errhint(const char *fmt,...)
{
	return 0;
}

int
internalerrposition(int cursorpos)
{
	stub_error.position = cursorpos;
	return 0;
}

int
internalerrquery(const char *query)
{
	stub_error.query = query ? pstrdup(query) : NULL;
	return 0;
}
