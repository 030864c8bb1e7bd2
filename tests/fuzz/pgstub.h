/*
 * pgstub.h
 *	  The backend stub layer of the NQL parser's fuzzing harness.
 */
#ifndef NEDB_PGSTUB_H
#define NEDB_PGSTUB_H

#include <setjmp.h>

/* the last ERROR ereport()ed: where errfinish longjmps to is stub_jmp */
typedef struct StubError
{
	int			sqlstate;		/* MAKE_SQLSTATE value */
	char	   *message;
	char	   *query;			/* internalerrquery, or NULL */
	int			position;		/* internalerrposition, 0 if none */
	const char *file;
	int			line;
} StubError;

extern jmp_buf *stub_jmp;
extern StubError stub_error;

/* free everything palloc'd since the last reset */
extern void stub_reset(void);

/* s[0..len) is UTF-8 without NUL bytes (what a UTF8 database's text holds) */
extern bool stub_valid_utf8(const unsigned char *s, size_t len);

#endif
