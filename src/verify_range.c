/*
 * verify_range.c
 *	  Checking one seq range [lo, hi) of the chain.
 *
 * An op's hash is recomputed from its row and (for a put) its stored
 * document version, chained on the predecessor's stored hash; the range's
 * first op takes that hash from seq lo - 1's row.  If lo - 1 is missing or
 * its hash malformed, the range below reports it, so this one stops.
 *
 * Both tables are read sequentially from the block that holds the range's
 * first row: ops are appended in seq order and never updated, and a version
 * row only moves when a later put supersedes it.  An op out of place makes
 * the rest of the range go through the primary key from the expected seq,
 * and a version out of place is looked up by its seq alone, so what is
 * checked (for every seq, the visible row that has it) is what the primary
 * keys alone would give, only read faster.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"

#include "op.h"
#include "verify.h"

#if defined(__GNUC__) || defined(__clang__)
#define pg_prefetch(p) __builtin_prefetch(p)
#else
#define pg_prefetch(p) ((void) 0)
#endif

/* ops checked between two looks at whether a lower range has failed */
#define LOOK_EVERY 1024

void
verify_open_rels(VerifyShared *sh, VerifyRels *rels)
{
	rels->ops = table_open(sh->ops_relid, AccessShareLock);
	rels->ops_pk = index_open(sh->ops_pk_relid, AccessShareLock);
	rels->ver = table_open(sh->ver_relid, AccessShareLock);
	rels->ver_pk = index_open(sh->ver_pk_relid, AccessShareLock);
}

void
verify_close_rels(VerifyRels *rels)
{
	index_close(rels->ops_pk, AccessShareLock);
	index_close(rels->ver_pk, AccessShareLock);
	table_close(rels->ops, AccessShareLock);
	table_close(rels->ver, AccessShareLock);
}

static int64
lowest_bad(VerifyShared *sh)
{
	int64		bad;

	SpinLockAcquire(&sh->mutex);
	bad = sh->bad;
	SpinLockRelease(&sh->mutex);
	return bad;
}

static void
record_bad(VerifyShared *sh, int64 seq, const char *detail)
{
	SpinLockAcquire(&sh->mutex);
	if (seq < sh->bad)
	{
		sh->bad = seq;
		strlcpy(sh->detail, detail, NEDB_VERIFY_DETAIL);
	}
	SpinLockRelease(&sh->mutex);
}

/* the first row of heap with key (strategy) seq by the index, into slot */
static bool
probe(Relation heap, Relation index, Snapshot snap, StrategyNumber strategy,
	  int64 seq, TupleTableSlot *slot)
{
	IndexScanDesc scan;
	ScanKeyData sk;
	bool		found;

	ScanKeyInit(&sk, 1, strategy,
				strategy == BTEqualStrategyNumber ? F_INT8EQ : F_INT8GE,
				Int64GetDatum(seq));
	scan = index_beginscan(heap, index, snap, 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/* a sequential read of rel from block start on, or NULL if not a heap */
static TableScanDesc
scan_from(Relation rel, Snapshot snap, BlockNumber start)
{
	TableScanDesc scan;
	BlockNumber nblocks;

	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		return NULL;
	scan = table_beginscan_strat(rel, snap, 0, NULL, true, false);
	nblocks = ((HeapScanDesc) scan)->rs_nblocks;
	if (start >= nblocks)
	{
		table_endscan(scan);
		return NULL;
	}
	heap_setscanlimits(scan, start, nblocks - start);
	return scan;
}

/* ops in seq order: sequentially while in order, then by the primary key */
typedef struct OpCursor
{
	VerifyRels *rels;
	Snapshot	snap;
	TableScanDesc heap;
	BlockNumber start;			/* its first block */
	IndexScanDesc index;
	TupleTableSlot *slot;
	int64		lo;
} OpCursor;

static bool
ops_next(OpCursor *c, int64 expect)
{
	while (c->heap)
	{
		bool		isnull;
		int64		seq;

		if (!table_scan_getnextslot(c->heap, ForwardScanDirection, c->slot))
		{
			/* the heap is done: the index confirms nothing is left out */
			table_endscan(c->heap);
			c->heap = NULL;
			break;
		}
		seq = DatumGetInt64(slot_getattr(c->slot, 1, &isnull));
		if (seq == expect)
			return true;
		/* the first block starts with the end of the range below */
		if (seq < c->lo && ItemPointerGetBlockNumber(&c->slot->tts_tid) == c->start)
			continue;
		table_endscan(c->heap);
		c->heap = NULL;
	}
	if (c->index == NULL)
	{
		ScanKeyData sk;

		ScanKeyInit(&sk, 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(expect));
		c->index = index_beginscan(c->rels->ops, c->rels->ops_pk, c->snap, 1, 0);
		index_rescan(c->index, &sk, 1, NULL, 0);
	}
	return index_getnext_slot(c->index, ForwardScanDirection, c->slot);
}

/*
 * Versions by seq_from: a sequential read that skips rows of earlier seqs,
 * and a lookup by the primary key for a version not where the read is.
 */
typedef struct VerCursor
{
	VerifyRels *rels;
	Snapshot	snap;
	TableScanDesc heap;
	TupleTableSlot *slot;		/* the read's current row, if have */
	bool		have;
	int64		cur;			/* its seq_from */
	int64		skips_left;		/* rows it may still skip before giving up */
	TupleTableSlot *probe_slot;
} VerCursor;

/* the doc of the version with seq_from = seq, if there is one */
static bool
ver_find(VerCursor *c, int64 seq, Datum *doc, bool *isnull)
{
	while (c->heap)
	{
		if (!c->have)
		{
			bool		n;

			if (!table_scan_getnextslot(c->heap, ForwardScanDirection, c->slot))
			{
				table_endscan(c->heap);
				c->heap = NULL;
				break;
			}
			c->cur = DatumGetInt64(slot_getattr(c->slot, 1, &n));
			c->have = true;
		}
		if (c->cur == seq)
		{
			/* valid until the next read: the caller is done with it by then */
			*doc = slot_getattr(c->slot, 5, isnull);
			c->have = false;
			return true;
		}
		if (c->cur > seq)
			break;				/* this one's is elsewhere, or absent */
		/* an earlier op's (a delete, or moved here by a later put) */
		c->have = false;
		if (--c->skips_left < 0)
		{
			/* badly out of order: the primary key alone is cheaper */
			table_endscan(c->heap);
			c->heap = NULL;
		}
	}
	if (probe(c->rels->ver, c->rels->ver_pk, c->snap, BTEqualStrategyNumber, seq,
			  c->probe_slot))
	{
		*doc = slot_getattr(c->probe_slot, 5, isnull);
		return true;
	}
	return false;
}

/* a put at the expected seq whose body is rebuilt: it needs its version */
static bool
is_put_without_body(TupleTableSlot *slot)
{
	Datum		op = slot->tts_values[5];

	return !slot->tts_isnull[5] && slot->tts_isnull[15] &&
		VARSIZE_ANY_EXHDR(DatumGetPointer(op)) == 3 &&
		memcmp(VARDATA_ANY(DatumGetPointer(op)), "put", 3) == 0;
}

/* Check [lo, hi); the first bad op found goes to sh. */
static void
verify_range(VerifyShared *sh, VerifyRels *rels, Snapshot snap, int64 lo, int64 hi)
{
	OpCursor	oc = {0};
	VerCursor	vc = {0};
	char		prev[NEDB_HEX_LEN + 1];
	int64		expect = lo;
	MemoryContext rowcxt;
	StringInfoData body;
	TupleTableSlot *probe_slot = table_slot_create(rels->ops, NULL);

	if (lo == 0)
		strcpy(prev, NEDB_GENESIS);
	else
	{
		bool		isnull;
		Datum		h;

		if (!probe(rels->ops, rels->ops_pk, snap, BTEqualStrategyNumber, lo - 1, probe_slot))
		{
			ExecDropSingleTupleTableSlot(probe_slot);
			return;
		}
		h = slot_getattr(probe_slot, 2, &isnull);
		if (isnull || VARSIZE_ANY_EXHDR(DatumGetByteaPP(h)) != NEDB_HASH_LEN)
		{
			ExecDropSingleTupleTableSlot(probe_slot);
			return;
		}
		hash_to_hex((const uint8 *) VARDATA_ANY(DatumGetByteaPP(h)), prev);
	}

	oc.rels = rels;
	oc.snap = snap;
	oc.lo = lo;
	oc.slot = table_slot_create(rels->ops, NULL);
	if (probe(rels->ops, rels->ops_pk, snap, BTGreaterEqualStrategyNumber, lo, probe_slot))
	{
		oc.start = ItemPointerGetBlockNumber(&probe_slot->tts_tid);
		oc.heap = scan_from(rels->ops, snap, oc.start);
	}

	vc.rels = rels;
	vc.snap = snap;
	vc.skips_left = hi - lo;
	vc.slot = table_slot_create(rels->ver, NULL);
	vc.probe_slot = table_slot_create(rels->ver, NULL);
	if (probe(rels->ver, rels->ver_pk, snap, BTGreaterEqualStrategyNumber, lo, vc.probe_slot))
		vc.heap = scan_from(rels->ver, snap,
							ItemPointerGetBlockNumber(&vc.probe_slot->tts_tid));
	ExecClearTuple(vc.probe_slot);
	ExecDropSingleTupleTableSlot(probe_slot);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb verify row",
								   ALLOCSET_DEFAULT_SIZES);
	/* one buffer for every body: it grows to the longest once */
	initStringInfo(&body);
	while (expect < hi)
	{
		MemoryContext old;
		NedbOp		op;
		const uint8 *stored;
		uint8		h[NEDB_HASH_LEN];
		Datum		doc = (Datum) 0;
		bool		doc_null = true;
		char	   *detail = NULL;

		CHECK_FOR_INTERRUPTS();
		/* a lower range has failed: what this one finds is past it */
		if ((expect - lo) % LOOK_EVERY == 0 && lowest_bad(sh) < lo)
			break;
		/* scans advance outside rowcxt: their state must outlive a row */
		if (!ops_next(&oc, expect))
			break;				/* the chain ends here */
		slot_getallattrs(oc.slot);
		if (is_put_without_body(oc.slot) && ver_find(&vc, expect, &doc, &doc_null) &&
			!doc_null && VARATT_IS_4B_U(DatumGetPointer(doc)))
		{
			/*
			 * The document is read a few steps from here, most likely from
			 * memory rather than cache (the kernel's copy of a page into its
			 * buffer does not leave it in cache): its lines asked for now.
			 * A whole page asked for at once stalls more than it saves.
			 */
			const char *d = DatumGetPointer(doc);
			Size		len = VARSIZE(d);

			for (Size off = 0; off < len; off += PG_CACHE_LINE_SIZE)
				pg_prefetch(d + off);
		}

		old = MemoryContextSwitchTo(rowcxt);
		op_from_values(oc.slot->tts_values, oc.slot->tts_isnull, doc, doc_null,
					   &op, &stored);
		if (op.seq != expect)
			detail = psprintf("seq gap: expected seq " INT64_FORMAT ", found " INT64_FORMAT,
							  expect, op.seq);
		else if (stored == NULL)
			detail = psprintf("the stored hash of seq " INT64_FORMAT " is not %d bytes",
							  op.seq, NEDB_HASH_LEN);
		else if (strcmp(op.op, "put") == 0 && op.doc == NULL && op.body == NULL)
			detail = psprintf("the document version written by the put at seq " INT64_FORMAT " is missing",
							  op.seq);
		else
		{
			resetStringInfo(&body);
			op_body(&body, &op);
			op_hash(prev, body.data, body.len, h);
			if (memcmp(h, stored, NEDB_HASH_LEN) != 0)
			{
				char		want[NEDB_HEX_LEN + 1];
				char		got[NEDB_HEX_LEN + 1];

				hash_to_hex(h, want);
				hash_to_hex(stored, got);
				detail = psprintf("hash mismatch at seq " INT64_FORMAT ": stored %s, computed %s",
								  op.seq, got, want);
			}
			else
				hash_to_hex(stored, prev);
		}
		MemoryContextSwitchTo(old);
		if (detail)
			record_bad(sh, expect, detail);
		MemoryContextReset(rowcxt);
		if (detail)
			break;
		expect++;
	}
	MemoryContextDelete(rowcxt);
	pfree(body.data);

	if (oc.heap)
		table_endscan(oc.heap);
	if (oc.index)
		index_endscan(oc.index);
	if (vc.heap)
		table_endscan(vc.heap);
	ExecDropSingleTupleTableSlot(oc.slot);
	ExecDropSingleTupleTableSlot(vc.slot);
	ExecDropSingleTupleTableSlot(vc.probe_slot);
}

/*
 * Claim ranges in ascending order until none is left, or every one left
 * starts past a bad seq already found (the serial walk stops there).
 */
void
verify_claim_ranges(VerifyShared *sh, VerifyRels *rels, Snapshot snap)
{
	for (;;)
	{
		uint64		i = pg_atomic_fetch_add_u64(&sh->next_range, 1);
		int64		lo;

		if (i >= (uint64) (sh->nops / sh->range + (sh->nops % sh->range != 0)))
			break;
		lo = (int64) i * sh->range;
		if (lo > lowest_bad(sh))
			break;
		verify_range(sh, rels, snap, lo,
					 sh->nops - lo <= sh->range ? sh->nops : lo + sh->range);
	}
}
