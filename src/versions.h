/*
 * versions.h
 *	  The versions store: the latest version of a key and expiry.
 *
 * A row of nedb.versions (seq_from, seq_to, coll, id, doc) is one version of
 * coll:id, live for the seqs in [seq_from, seq_to) (seq_to NULL: still
 * live); a NULL doc is a tombstone (a delete).  Writes of versions are the
 * write path's (write.h, store.h); this is how they are read back.
 */
#ifndef NEDB_VERSIONS_H
#define NEDB_VERSIONS_H

#include "utils/jsonb.h"

/* the latest version of a key: false if it never existed (versions.c) */
extern bool store_latest(const char *coll, const char *id, bool has_as_of, int64 as_of,
						 bool for_write, int64 *seq, Jsonb **doc);
extern bool doc_expired(Jsonb *doc, double now);

#endif
