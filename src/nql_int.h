/*
 * nql_int.h
 *	  NQL's executor, inside: the rows, the state of one query, and what the
 *	  files of the executor share.
 *
 * nql.h is the parse tree (the fuzzing harness builds the parser alone with
 * it); this header is for the files that run a query:
 *
 *	nql_eval.c	 Python's values, WHERE, SEARCH, VALID AS OF, ORDER BY, and
 *				 the byte-string keyed hash tables
 *	nql_graph.c	 loading documents, TRAVERSE and TRACE
 *	nql_group.c	 GROUP BY
 *	nql_plan.c	 the access path: the direct index scan or the candidate SQL
 *	nql_exec.c	 nql() and nedb.explain()
 */
#ifndef NEDB_NQL_INT_H
#define NEDB_NQL_INT_H

#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "nql.h"
#include "versions.h"

typedef struct NqlRow
{
	char	   *coll;
	char	   *id;				/* the storage key is coll:id */
	Jsonb	   *doc;
	int			pos;			/* arrival order, for stable sorts */
	JsonbValue *key;			/* ORDER BY key (NULL: None) */
	char	   *strkey;			/* ORDER BY key as str(), for mixed types */
} NqlRow;

typedef struct NqlExec
{
	NqlQuery   *q;
	Numeric    *lit_num;		/* numeric literals of q->where, by position */
	List	   *search_terms;	/* tokens of SEARCH (char *) */
	List	   *search_fields;	/* the collection's search-indexed fields */
	bool		search_nothing; /* a SEARCH text without tokens, over indexes */
	bool		search_planned; /* the two above are set */
	bool		rare_search;	/* a direct scan found SEARCH's matches rare */
	const char *direct_field;	/* the direct scan's index field */
	bool		direct_eq;		/* ... for an equality without ORDER BY */
	bool		direct_ids;		/* a direct scan in id order (SEARCH, LIMIT) */
	bool	   *bound;			/* q->where conditions that are index quals */
	bool	   *done;			/* ... and exact: not checked again */
	double		now;
	Oid			role;			/* the caller: what it may read */
} NqlExec;

/* Python values (nql_eval.c) */
typedef enum NqlPyClass
{
	PY_NONE,
	PY_NUM,						/* int, float and bool */
	PY_STR,
	PY_LIST,
	PY_DICT
} NqlPyClass;

extern JsonbValue *nql_field(Jsonb *doc, const char *field);
extern NqlPyClass nql_py_class(JsonbValue *v);
extern int	nql_numeric_cmp(Numeric a, Numeric b);
extern Numeric nql_num(JsonbValue *v);
extern int	nql_str_cmp(const char *a, int alen, const char *b, int blen);
extern void nql_py_str(StringInfo out, JsonbValue *v, bool repr);

/* byte-string keyed hash tables: GROUP BY groups, TRAVERSE and TRACE dedup */
typedef struct NqlKey
{
	const char *data;			/* lives as long as the table */
	int			len;
} NqlKey;

typedef struct NqlKeyEntry
{
	NqlKey		key;
	void	   *value;
} NqlKeyEntry;

extern HTAB *nql_keys_create(const char *name);
extern NqlKeyEntry *nql_keys_enter(HTAB *h, const char *data, int len, bool *found);
extern bool nql_seen(HTAB *h, const char *s);

/* WHERE, SEARCH, VALID AS OF and ORDER BY (nql_eval.c) */
extern bool nql_pred_holds(NqlExec *ex, int i, NqlPred *p, Jsonb *doc);
extern bool nql_search_holds(NqlExec *ex, Jsonb *doc);
extern bool nql_valid_at(Jsonb *doc, const char *d);
extern void nql_order_rows(NqlRow **rows, int n, const char *field, bool desc);

/* rows, TRAVERSE and TRACE (nql_graph.c) */
extern NqlRow *nql_new_row(const char *coll, const char *id, Jsonb *doc);
extern NqlRow **nql_traverse(NqlExec *ex, NqlRow **rows, int n, int *nout);
extern NqlRow **nql_trace_back(NqlExec *ex, NqlRow **rows, int n, int *nout);
extern NqlRow **nql_trace_forward(NqlExec *ex, NqlRow **rows, int n, int *nout);

/* GROUP BY (nql_group.c): the group rows, Jsonb * */
extern List *nql_group_rows(NqlQuery *q, NqlRow **rows, int n);

/* planning (nql_plan.c) */
typedef struct NqlPlan
{
	StringInfoData sql;			/* literal values are parameters: a stable text */
	int			nparams;
	Datum	   *values;
	Oid		   *types;
	bool		index_order;	/* rows come in ORDER BY order */
	char	   *note;			/* what the planner chose, for explain */
} NqlPlan;

extern NqlScan *nql_direct_scan(NqlExec *ex, char **index_name);

/*
 * The candidates a direct scan with SEARCH reads for a LIMIT of n before it
 * gives way to the SQL path: matches rarer than that are the search index's.
 */
#define NQL_SEARCH_BUDGET(n)	Max(1000, 20 * (n))

/*
 * The most rows an equality's direct scan holds in memory (its one run of
 * equal keys, put in id order before the first goes out); more matches are
 * the SQL path's, which streams them in id order.
 */
#define NQL_EQ_MAX_RUN			1000

/* nedb.auto_index: the fields the query filters or sorts on, counted */
extern void nql_auto_index_misses(NqlQuery *q);
extern void nql_plan_query(NqlExec *ex, NqlPlan *pl);

/* running a query (nql_exec.c) */
typedef struct NqlRunStats
{
	int64		read;			/* candidates read */
	int64		removed;		/* ... and removed by the query's checks */
	int64		search_gave_way; /* direct scans with SEARCH that gave way to the SQL path */
	int64		eq_gave_way;	/* ... and equalities with too many matches */
} NqlRunStats;

typedef struct NqlDescription
{
	char	   *access;			/* what the planner chose, in words */
	bool		has_limit;
	int64		limit;
	bool		direct;			/* a direct index scan: */
	char	   *index_name;
	bool		backward;
	char	   *index_cond;		/* NULL: none */
	char	   *filter;
	char	   *sql;			/* else the candidate SQL */
	List	   *sql_plan;		/* ... and Postgres's plan of it, lines */
} NqlDescription;

extern char *nql_text_cstring(text *t);
/* the query, or NULL if it is over the bound or does not parse (nql_support.c) */
extern NqlQuery *nql_parse_quietly(text *t);
extern void nql_run(const char *query, Tuplestorestate *ts, TupleDesc desc, NqlRunStats *stats);
extern void nql_describe(const char *query, NqlDescription *d);

#endif
