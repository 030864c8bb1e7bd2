/*
 * store.h
 *	  Direct writes to the log and the document versions.
 */
#ifndef NEDB_STORE_H
#define NEDB_STORE_H

#include "utils/jsonb.h"

/* open the tables and indexes for this transaction (before the chain lock) */
extern void store_prepare(void);
/* close the writers' relations before DDL on them */
extern void store_release(void);

/* one nedb.ops row, columns in table order */
extern void store_append_op(Datum *values, bool *nulls);

/* a new version of coll:id from seq on (doc_null: a tombstone) */
extern void store_put_version(int64 seq, Datum coll, Datum id, Datum doc, bool doc_null);
/* a follower from an empty database: puts of keys it never wrote skip the probe */
extern bool store_track_written_keys(int64 expected);

/* under the chain lock, as the latest snapshot sees them */
extern bool store_last_op(int64 *seq, uint8 *hash, TransactionId *xmin,
						  char **client, int64 *nonce);
extern int64 store_last_nonce(const char *client);
extern int64 store_idem_seq(const char *idem);
extern bool store_op_hash(int64 seq, uint8 *hash);
extern char *store_subscription(void);
extern bool store_latest_doc(Datum coll, Datum id, Jsonb **doc);

extern void nedb_store_init(void);

#endif
