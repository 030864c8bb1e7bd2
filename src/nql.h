/*
 * nql.h
 *	  NQL, NEDB's query language: its parse tree.
 */
#ifndef NEDB_NQL_H
#define NEDB_NQL_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

typedef enum NqlOp
{
	NQL_EQ,
	NQL_NE,
	NQL_LT,
	NQL_LE,
	NQL_GT,
	NQL_GE
} NqlOp;

typedef enum NqlValueKind
{
	NQLV_INT,
	NQLV_FLOAT,
	NQLV_STRING,
	NQLV_TRUE,
	NQLV_FALSE,
	NQLV_NULL
} NqlValueKind;

typedef struct NqlValue
{
	NqlValueKind kind;
	char	   *text;			/* the string, or the number as written */
	double		num;			/* numbers and booleans as a double */
} NqlValue;

typedef struct NqlPred
{
	char	   *field;
	NqlOp		op;
	NqlValue	value;
} NqlPred;

typedef enum NqlAgg
{
	NQL_AGG_NONE,
	NQL_AGG_COUNT,
	NQL_AGG_SUM,
	NQL_AGG_AVG,
	NQL_AGG_MIN,
	NQL_AGG_MAX
} NqlAgg;

typedef struct NqlQuery
{
	char	   *from;
	bool		has_as_of;
	int64		as_of;
	char	   *valid_as_of;	/* NULL: none */
	List	   *where;			/* of NqlPred *, ANDed */
	char	   *search;			/* NULL: none */
	char	   *order_by;		/* NULL: none */
	bool		order_desc;
	char	   *traverse;
	char	   *trace;
	bool		trace_reverse;
	bool		has_limit;
	int64		limit;			/* Python slice [:limit]: may be negative */
	char	   *group_by;
	NqlAgg		agg;
	char	   *agg_field;
} NqlQuery;

/*
 * Bounds: the query text (bytes), a number literal (characters), and what an
 * error message quotes of a token (characters) or lists of trailing tokens.
 */
#define NQL_MAX_QUERY_LENGTH	(1024 * 1024)
#define NQL_MAX_NUMBER_LENGTH	1000
#define NQL_MAX_QUOTED_CHARS	64
#define NQL_MAX_QUOTED_TOKENS	10

/* a query text of len bytes may be parsed: else ERRCODE_PROGRAM_LIMIT_EXCEEDED */
extern void nql_check_length(size_t len);

/*
 * parse; a syntax error is ERRCODE_SYNTAX_ERROR with the reference's text,
 * a text or number over the bounds ERRCODE_PROGRAM_LIMIT_EXCEEDED
 */
extern NqlQuery *nql_parse(const char *text);

/* the planner hook and custom scan node of nql() in FROM (nql_scan_node.c) */
extern void nedb_nql_scan_init(void);

#endif
