/*
 * verify_range.c
 *	  Checking one seq range [lo, hi) of the chain.
 *
 * An op's hash is recomputed from its row and (for a put) its stored
 * document version, chained on the predecessor's stored hash; the range's
 * first op takes that hash from seq lo - 1's row.  If lo - 1 is missing or
 * its hash malformed, the range below reports it, so this one stops.
 *
 * The rows come as nedb.since reads them (feed_scan.c): both tables in heap
 * order from the range's first row, the primary keys wherever a row is out
 * of place, so what is checked (for every seq, the visible row that has it)
 * is what the primary keys alone would give, only read faster.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "feed_scan.h"
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
	FeedScan	f;
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

		if (!feed_probe(rels->ops, rels->ops_pk, snap, BTEqualStrategyNumber, lo - 1, probe_slot))
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
	ExecDropSingleTupleTableSlot(probe_slot);

	/* through a ring of buffers: a whole-chain read must not evict the cache */
	feed_begin(&f, rels->ops, rels->ops_pk, rels->ver, rels->ver_pk, snap, lo - 1, true);

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
		if (!feed_next(&f))
			break;				/* the chain ends here */
		if (is_put_without_body(f.ops_slot) && feed_version(&f, expect, &doc, &doc_null) &&
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
		op_from_values(f.ops_slot->tts_values, f.ops_slot->tts_isnull, doc, doc_null,
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

	feed_end(&f);
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
