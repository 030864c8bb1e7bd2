/*
 * versions.h
 *	  The versions store: the latest version of a key, expiry, and the
 *	  ordered index scan of nedb.versions.
 *
 * A row of nedb.versions (seq_from, seq_to, coll, id, doc) is one version of
 * coll:id, live for the seqs in [seq_from, seq_to) (seq_to NULL: still
 * live); a NULL doc is a tombstone (a delete).  Writes of versions are the
 * write path's (write.h, store.h); this is how they are read back.
 */
#ifndef NEDB_VERSIONS_H
#define NEDB_VERSIONS_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* the latest version of a key: false if it never existed (versions.c) */
extern bool store_latest(const char *coll, const char *id, bool has_as_of, int64 as_of,
						 bool for_write, int64 *seq, Jsonb **doc);
extern bool doc_expired(Jsonb *doc, double now);

/* ORDER BY a field through its index, without SQL (versions_scan.c) */
typedef struct NqlScan NqlScan;

/* a condition on the field as an index qual: btree strategy, jsonb number */
typedef struct NqlBound
{
	uint16		strategy;
	Jsonb	   *value;
} NqlBound;

extern NqlScan *nql_scan_begin(const char *coll, const char *field, bool desc,
							   bool in_order, List *bounds, bool has_as_of, int64 as_of,
							   char **index_name, bool *exact);
extern NqlScan *nql_scan_ids_begin(const char *coll, bool has_as_of, int64 as_of,
									char **index_name);
extern bool nql_scan_next(NqlScan *s, char **id, Jsonb **doc);
extern void nql_scan_set_max_run(NqlScan *s, int64 n);
extern bool nql_scan_overflowed(NqlScan *s);
extern void nql_scan_end(NqlScan *s);

#endif
