/*
 * util.h
 *	  Small helpers shared by the SQL-callable functions.
 */
#ifndef NEDB_UTIL_H
#define NEDB_UTIL_H

#include "fmgr.h"
#include "funcapi.h"
#include "nodes/pg_list.h"
#include "utils/tuplestore.h"

/* a required name argument: not NULL, not empty, not oversized */
extern const char *nedb_arg_name(FunctionCallInfo fcinfo, int argno,
								 const char *what);

/* materialized set-returning function: the tuplestore and its row shape */
extern Tuplestorestate *nedb_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc);

/* the reference's search tokens of a string (char *, sorted, unique) */
extern List *search_tokens(const char *str, int len);

#endif
