/*
 * feed_scan.c
 *	  The ops after a seq, in seq order, and the versions their puts wrote:
 *	  what nedb.since and nedb.export_bodies page through.
 *
 * Both tables are read in heap order, a page at a time, from the block of
 * the first row wanted: ops are appended in seq order and never updated,
 * and a put's version lands behind the one before it unless it was moved
 * since (a later put or delete of its key rewrites it).  Each row read that
 * way is taken only when it is the one the primary key would give next: an
 * op with the seq after the last one, a version with the put's seq.  Past
 * an op that is not (a gap in the seqs, a row placed elsewhere) the rest
 * goes by the primary key, and a version not where the read is, is looked
 * up by its seq; too many versions of earlier puts in the way, and the rest
 * are merged from the primary key.  What comes out is what the primary
 * keys alone give, only without a descent and a buffer lock per row.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "executor/tuptable.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "feed_scan.h"

/* versions of earlier seqs a read may pass over, beyond one per version found */
#define VER_SKIPS 1024

/* the versions' doc column */
#define VER_DOC 5

bool
feed_probe(Relation heap, Relation index, Snapshot snap, StrategyNumber strategy,
		   int64 seq, TupleTableSlot *slot)
{
	IndexScanDesc scan;
	ScanKeyData sk;
	bool		found;

	ScanKeyInit(&sk, 1, strategy,
				strategy == BTEqualStrategyNumber ? F_INT8EQ :
				strategy == BTGreaterStrategyNumber ? F_INT8GT : F_INT8GE,
				Int64GetDatum(seq));
	scan = index_beginscan(heap, index, snap, 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/* an index scan of the rows with key >= seq */
static IndexScanDesc
index_from(Relation heap, Relation index, Snapshot snap, int64 seq)
{
	IndexScanDesc scan;
	ScanKeyData sk;

	ScanKeyInit(&sk, 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(seq));
	scan = index_beginscan(heap, index, snap, 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	return scan;
}

/*
 * A read of rel in heap order from block start on, or NULL if rel is not a
 * heap.  No synchronized start; a ring of buffers only if ring (else pages
 * read stay cached, as an index scan's do).
 */
static TableScanDesc
heap_from(Relation rel, Snapshot snap, BlockNumber start, bool ring)
{
	TableScanDesc scan;
	BlockNumber nblocks;

	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		return NULL;
	scan = table_beginscan_strat(rel, snap, 0, NULL, ring, false);
	nblocks = ((HeapScanDesc) scan)->rs_nblocks;
	if (start >= nblocks)
	{
		table_endscan(scan);
		return NULL;
	}
	heap_setscanlimits(scan, start, nblocks - start);
	return scan;
}

static int64
slot_seq(TupleTableSlot *slot)
{
	bool		isnull;

	return DatumGetInt64(slot_getattr(slot, 1, &isnull));
}

void
feed_open(FeedScan *f, int64 after)
{
	Oid			nsp = get_namespace_oid("nedb", false);

	feed_begin(f, table_open(get_relname_relid("ops", nsp), AccessShareLock),
			   index_open(get_relname_relid("ops_pkey", nsp), AccessShareLock),
			   table_open(get_relname_relid("versions", nsp), AccessShareLock),
			   index_open(get_relname_relid("versions_pkey", nsp), AccessShareLock),
			   GetActiveSnapshot(), after, false);
}

void
feed_begin(FeedScan *f, Relation ops, Relation ops_pk, Relation ver, Relation ver_pk,
		   Snapshot snap, int64 after, bool ring)
{
	memset(f, 0, sizeof(FeedScan));
	f->snap = snap;
	f->ops = ops;
	f->ops_pk = ops_pk;
	f->ver = ver;
	f->ver_pk = ver_pk;
	f->ops_slot = table_slot_create(f->ops, NULL);
	f->ver_slot = table_slot_create(f->ver, NULL);
	f->ver_probe_slot = table_slot_create(f->ver, NULL);

	/* the first op after the cursor: where the read starts, and its seq */
	if (!feed_probe(f->ops, f->ops_pk, f->snap, BTGreaterStrategyNumber, after, f->ops_slot))
	{
		f->ops_done = true;
		return;
	}
	f->next = slot_seq(f->ops_slot);
	f->ops_start = ItemPointerGetBlockNumber(&f->ops_slot->tts_tid);
	f->ops_heap = heap_from(f->ops, f->snap, f->ops_start, ring);
	ExecClearTuple(f->ops_slot);

	f->ver_skips = VER_SKIPS;
	if (feed_probe(f->ver, f->ver_pk, f->snap, BTGreaterStrategyNumber, after, f->ver_probe_slot))
		f->ver_heap = heap_from(f->ver, f->snap,
								ItemPointerGetBlockNumber(&f->ver_probe_slot->tts_tid), ring);
	ExecClearTuple(f->ver_probe_slot);
	/* no heap read: the primary key from the start */
	if (f->ver_heap == NULL)
		f->ver_index = index_from(f->ver, f->ver_pk, f->snap, after + 1);
}

bool
feed_next(FeedScan *f)
{
	if (f->ops_done)
		return false;
	while (f->ops_heap)
	{
		int64		seq;

		if (!table_scan_getnextslot(f->ops_heap, ForwardScanDirection, f->ops_slot))
		{
			/* the heap is done: the index says whether anything is left */
			table_endscan(f->ops_heap);
			f->ops_heap = NULL;
			break;
		}
		seq = slot_seq(f->ops_slot);
		if (seq == f->next)
		{
			f->next++;
			slot_getallattrs(f->ops_slot);
			return true;
		}
		/* the first block may start with ops before the first one wanted */
		if (seq < f->next && ItemPointerGetBlockNumber(&f->ops_slot->tts_tid) == f->ops_start)
			continue;
		table_endscan(f->ops_heap);
		f->ops_heap = NULL;
	}
	if (f->ops_index == NULL)
		f->ops_index = index_from(f->ops, f->ops_pk, f->snap, f->next);
	if (!index_getnext_slot(f->ops_index, ForwardScanDirection, f->ops_slot))
	{
		f->ops_done = true;
		return false;
	}
	slot_getallattrs(f->ops_slot);
	f->next = slot_seq(f->ops_slot) + 1;
	return true;
}

/* the primary key merged from seq on, instead of the heap read */
static void
ver_to_index(FeedScan *f, int64 seq)
{
	if (f->ver_heap)
		table_endscan(f->ver_heap);
	f->ver_heap = NULL;
	f->ver_have = false;
	f->ver_index = index_from(f->ver, f->ver_pk, f->snap, seq);
}

bool
feed_version(FeedScan *f, int64 seq, Datum *doc, bool *isnull)
{
	while (f->ver_heap)
	{
		if (!f->ver_have)
		{
			if (!table_scan_getnextslot(f->ver_heap, ForwardScanDirection, f->ver_slot))
			{
				/* past the heap's end: versions moved before where it started */
				table_endscan(f->ver_heap);
				f->ver_heap = NULL;
				break;
			}
			f->ver_cur = slot_seq(f->ver_slot);
			f->ver_have = true;
		}
		if (f->ver_cur == seq)
		{
			f->ver_have = false;
			f->ver_skips++;
			/* valid until the next call: the caller is done with it by then */
			*doc = slot_getattr(f->ver_slot, VER_DOC, isnull);
			return true;
		}
		if (f->ver_cur > seq)
			break;				/* this one's is elsewhere, or absent */
		/* an earlier put's (moved here by a later write): passed over */
		f->ver_have = false;
		if (--f->ver_skips < 0)
			ver_to_index(f, seq);
	}
	if (f->ver_index)
	{
		/* merged: the primary key's rows up to seq */
		while (!f->ver_index_done &&
			   (!f->ver_have || f->ver_cur < seq))
		{
			f->ver_have = index_getnext_slot(f->ver_index, ForwardScanDirection, f->ver_slot);
			if (!f->ver_have)
				f->ver_index_done = true;
			else
				f->ver_cur = slot_seq(f->ver_slot);
		}
		if (f->ver_have && f->ver_cur == seq)
		{
			*doc = slot_getattr(f->ver_slot, VER_DOC, isnull);
			return true;
		}
		return false;
	}
	/* not where the heap read is: by its seq */
	if (feed_probe(f->ver, f->ver_pk, f->snap, BTEqualStrategyNumber, seq, f->ver_probe_slot))
	{
		*doc = slot_getattr(f->ver_probe_slot, VER_DOC, isnull);
		return true;
	}
	return false;
}

void
feed_end(FeedScan *f)
{
	if (f->ops_heap)
		table_endscan(f->ops_heap);
	if (f->ops_index)
		index_endscan(f->ops_index);
	if (f->ver_heap)
		table_endscan(f->ver_heap);
	if (f->ver_index)
		index_endscan(f->ver_index);
	ExecDropSingleTupleTableSlot(f->ver_probe_slot);
	ExecDropSingleTupleTableSlot(f->ver_slot);
	ExecDropSingleTupleTableSlot(f->ops_slot);
}

void
feed_close(FeedScan *f)
{
	feed_end(f);
	index_close(f->ver_pk, AccessShareLock);
	table_close(f->ver, AccessShareLock);
	index_close(f->ops_pk, AccessShareLock);
	table_close(f->ops, AccessShareLock);
}
