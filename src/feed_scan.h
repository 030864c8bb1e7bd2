/*
 * feed_scan.h
 *	  The ops after a seq in seq order, and their puts' versions.
 */
#ifndef NEDB_FEED_SCAN_H
#define NEDB_FEED_SCAN_H

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "executor/tuptable.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

typedef struct FeedScan
{
	Snapshot	snap;
	Relation	ops;
	Relation	ops_pk;
	Relation	ver;
	Relation	ver_pk;

	/* ops: in heap order while each is the next seq, then by the key */
	TableScanDesc ops_heap;
	BlockNumber ops_start;		/* the heap read's first block */
	IndexScanDesc ops_index;
	int64		next;			/* the seq the heap read must give next */
	bool		ops_done;
	TupleTableSlot *ops_slot;	/* the current op, all columns deformed */

	/* versions: in heap order, by seq where not, or merged from the key */
	TableScanDesc ver_heap;
	IndexScanDesc ver_index;
	bool		ver_index_done;
	TupleTableSlot *ver_slot;	/* the row read last, if ver_have */
	bool		ver_have;
	int64		ver_cur;		/* its seq_from */
	int64		ver_skips;		/* earlier versions the heap read may still pass */
	TupleTableSlot *ver_probe_slot;
} FeedScan;

/* the ops with seq > after, as the current (MVCC) snapshot sees them */
extern void feed_open(FeedScan *f, int64 after);

/*
 * The same over relations the caller has open, as snap sees them; ring: the
 * heaps read through a ring of buffers (a read of the whole chain that
 * must not push everything else out of shared buffers).
 */
extern void feed_begin(FeedScan *f, Relation ops, Relation ops_pk, Relation ver,
					   Relation ver_pk, Snapshot snap, int64 after, bool ring);

/*
 * The next op into f->ops_slot, false past the last.  Call outside any
 * per-row memory context: the reads keep state that outlives a row.
 */
extern bool feed_next(FeedScan *f);

/*
 * The doc of the version whose seq_from is seq (a put's seq), if there is
 * one: ask in increasing seq, at most once an op; *doc is valid until the
 * next call.
 */
extern bool feed_version(FeedScan *f, int64 seq, Datum *doc, bool *isnull);

/* feed_open's end (the relations closed), feed_begin's (left open) */
extern void feed_close(FeedScan *f);
extern void feed_end(FeedScan *f);

/* the first row of heap whose int8 key compares (strategy) to seq, into slot */
extern bool feed_probe(Relation heap, Relation index, Snapshot snap,
					   StrategyNumber strategy, int64 seq, TupleTableSlot *slot);

#endif
