/*
 * util.h
 *	  Small helpers shared by the SQL-callable functions.
 */
#ifndef NEDB_UTIL_H
#define NEDB_UTIL_H

#include "fmgr.h"
#include "funcapi.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

/* a required name argument: not NULL, not empty, not oversized */
extern const char *nedb_arg_name(FunctionCallInfo fcinfo, int argno,
								 const char *what);

/* limits of the names that land in btree indexes (54000 above them) */
extern void nedb_check_idem(const char *idem);
extern void nedb_check_edge(const char *frm, const char *rel, const char *to);

/*
 * The client of a live write: names beginning with "__" are the engine's
 * (__ttl__, __snapshot__), refused unless the current user is a NEDB admin
 * (superuser, or has the privileges of schema nedb's owner): 42501.
 */
extern void nedb_check_client(const char *client);

/* materialized set-returning function: the tuplestore and its row shape */
extern Tuplestorestate *nedb_srf_begin(FunctionCallInfo fcinfo, TupleDesc *desc);
extern Tuplestorestate *nedb_srf_begin_mem(FunctionCallInfo fcinfo, TupleDesc *desc,
										   int max_kb);
extern Tuplestorestate *nedb_srf_begin_in(FunctionCallInfo fcinfo, TupleDesc *desc,
										  int max_kb, MemoryContext rows_cxt);

/* a member of a JSON object (NULL if absent), and pushing a key */
extern JsonbValue *nedb_member(JsonbContainer *obj, const char *key);
extern void nedb_push_key(JsonbParseState **st, const char *key);
/* a member key: string (copied) or integer value */
extern void nedb_push_string(JsonbParseState **st, const char *key, const char *s);
extern void nedb_push_int(JsonbParseState **st, const char *key, int64 i);

/* a JSON string of 64 hex digits into a 32-byte hash; false if not one */
extern bool nedb_json_hash(JsonbValue *v, uint8 *hash);

/* the index nedb.create_index built for (coll, field, kind) (indexes.c) */
extern Oid	nedb_index_oid(const char *coll, const char *field, const char *kind);

/* the reference's search tokens of a string (char *, sorted, unique) */
extern List *search_tokens(const char *str, int len);

#endif
