/*
 * sorted_scan.c
 *	  nedb_sorted: index scans (forward and backward), bitmap scans.
 *
 * A scan reads a leaf page at a time: under a share lock it copies the
 * matching entries of the page, in scan order, with the page's right (or
 * left) link, then unlocks it but keeps its pin until it moves on, so that
 * VACUUM (which takes a cleanup lock on every leaf) cannot remove an entry
 * the scan is about to return.  Going right follows the saved right-link:
 * anything that moved right of it since was on the page when it was read.
 * A deleted page it meets on the way is passed on the right: its key range
 * went there.  Going left keeps the pin on the page just read, so VACUUM
 * cannot delete it, reads its current left-link and moves right from there
 * to the page whose right-link is it (a page that split in between has its
 * new half in between).  Quals are
 * reduced to the tightest lower and upper bound: the scan starts at one and
 * stops at the first entry beyond the other, so ORDER BY ... LIMIT k reads
 * O(log n + k) entries.
 *
 * Killed entries, as nbtree's: when the table says that every version an
 * entry we returned leads to is dead to every transaction
 * (kill_prior_tuple), we note it, and when the scan leaves the page (or is
 * rescanned or ended) we share-lock the page again and mark those entries
 * LP_DEAD, a hint: MarkBufferDirtyHint, no WAL.  Later scans skip them
 * without comparing their keys or visiting the table, until VACUUM removes
 * them (a split of their page rewrites it without the marks).  The pin we
 * kept since reading the page makes this safe without comparing page LSNs:
 * VACUUM cannot have removed an entry from the page (it needs a cleanup
 * lock), nor finished and let the table reuse a TID we hold; an insert only
 * moves entries to higher offsets and a split moves them to the right
 * sibling, so each noted entry is at its offset or after it, or gone, and
 * is found by its heap TID.  A transaction
 * started during recovery neither sets nor trusts the marks
 * (scan->ignore_killed_tuples): they are not WAL-logged, and a standby's
 * snapshots may still see what the primary found dead.  See
 * sorted_generic_finish (sorted_page.c) for how generic WAL keeps them
 * consistent on a standby.
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/stratnum.h"
#include "miscadmin.h"
#include "nodes/tidbitmap.h"
#include "pgstat.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "sorted.h"

typedef enum ItemVerdict
{
	ITEM_MATCH,
	ITEM_SKIP,
	ITEM_STOP
} ItemVerdict;

typedef struct SortedScanOpaqueData
{
	SortedCmp	cmp;
	bool		qual_ok;		/* false: a NULL operand, nothing matches */
	bool		has_lower;
	bool		lower_strict;
	SortedKey	lower;
	bool		has_upper;
	bool		upper_strict;
	SortedKey	upper;

	bool		started;
	bool		backward;
	bool		done;			/* no page left in the scan's direction */
	Buffer		buf;			/* pinned: the page items came from */
	BlockNumber curblk;
	BlockNumber nextblk;		/* its right (forward) or left link */
	FmgrInfo   *keyprocs;		/* per scan key: cmp(index value, argument) */
	int			nitems;
	int			cur;
	int			nkilled;		/* entries of items[] to mark LP_DEAD */
	ItemPointerData tids[MaxIndexTuplesPerPage];
	OffsetNumber itemoff[MaxIndexTuplesPerPage];	/* where tids[i] was read */
	int			killed[MaxIndexTuplesPerPage];	/* indexes into tids[] */
	OffsetNumber tupoff[MaxIndexTuplesPerPage];
	char	   *tuples;			/* copies for index-only scans */
} SortedScanOpaqueData;

typedef SortedScanOpaqueData *SortedScanOpaque;

IndexScanDesc
sorted_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	SortedScanOpaque so = palloc0(sizeof(SortedScanOpaqueData));

	sorted_cmp_init(index, &so->cmp);
	so->keyprocs = palloc0(sizeof(FmgrInfo) * Max(nkeys, 1));
	so->buf = InvalidBuffer;
	so->tuples = palloc(BLCKSZ);
	scan->opaque = so;
	scan->xs_itupdesc = RelationGetDescr(index);
	return scan;
}

/*
 * Mark LP_DEAD the entries of the page we still pin that the table found
 * dead (see the header comment).  Share lock only: setting LP_DEAD in a
 * line pointer is a hint, as nbtree's _bt_killitems sets it.
 */
static void
kill_items(IndexScanDesc scan)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;
	Page		page;
	OffsetNumber maxoff;
	bool		killed = false;

	if (so->nkilled == 0 || !BufferIsValid(so->buf))
	{
		so->nkilled = 0;
		return;
	}
	LockBuffer(so->buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(so->buf);
	maxoff = PageGetMaxOffsetNumber(page);
	if (SortedPageIsLeaf(page) && !SortedPageIsDeleted(page))
	{
		for (int k = 0; k < so->nkilled; k++)
		{
			ItemPointer tid = &so->tids[so->killed[k]];
			OffsetNumber start = so->itemoff[so->killed[k]];

			/* never the high key (a split gives a rightmost page one) */
			start = Max(start, SortedFirstData(page));
			for (OffsetNumber off = start; off <= maxoff; off++)
			{
				ItemId		iid = PageGetItemId(page, off);
				IndexTuple	itup = (IndexTuple) PageGetItem(page, iid);

				if (ItemPointerEquals(&itup->t_tid, tid))
				{
					if (!ItemIdIsDead(iid))
					{
						ItemIdMarkDead(iid);
						killed = true;
					}
					break;
				}
			}
		}
	}
	if (killed)
		MarkBufferDirtyHint(so->buf, true);
	LockBuffer(so->buf, BUFFER_LOCK_UNLOCK);
	so->nkilled = 0;
}

static void
release_page(IndexScanDesc scan)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;

	kill_items(scan);
	if (BufferIsValid(so->buf))
		ReleaseBuffer(so->buf);
	so->buf = InvalidBuffer;
}

/* tighter of the current bound and key k (a lower bound if lower) */
static void
note_bound(SortedScanOpaque so, ScanKey k, FmgrInfo *proc, bool lower, bool strict)
{
	bool	   *has = lower ? &so->has_lower : &so->has_upper;
	bool	   *cur_strict = lower ? &so->lower_strict : &so->upper_strict;
	SortedKey  *b = lower ? &so->lower : &so->upper;

	if (*has)
	{
		int			c;

		/* a cross-type bound is not compared with others: the first will do */
		if (proc || b->cross)
			return;
		c = sorted_compare_datums(&so->cmp, k->sk_argument, (k->sk_flags & SK_ISNULL) != 0,
								  b->value, b->isnull);
		if (lower ? c < 0 : c > 0)
			return;
		if (c == 0 && !strict)
			return;
	}
	*has = true;
	*cur_strict = strict;
	b->value = k->sk_argument;
	b->isnull = (k->sk_flags & SK_ISNULL) != 0;
	b->inf = 0;
	b->cross = proc;
}

void
sorted_rescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
			  int norderbys)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;

	release_page(scan);
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	so->qual_ok = true;
	so->has_lower = so->has_upper = false;
	for (int i = 0; i < scan->numberOfKeys; i++)
	{
		ScanKey		k = &scan->keyData[i];
		Relation	index = scan->indexRelation;
		FmgrInfo   *proc = NULL;

		/* IS NULL: NULLs sort last, so it is "= NULL"; IS NOT NULL "< NULL" */
		if (k->sk_flags & SK_SEARCHNULL)
		{
			note_bound(so, k, NULL, true, false);
			note_bound(so, k, NULL, false, false);
			continue;
		}
		if (k->sk_flags & SK_SEARCHNOTNULL)
		{
			note_bound(so, k, NULL, false, true);
			continue;
		}
		if (k->sk_flags & SK_ISNULL)
		{
			so->qual_ok = false;	/* our operators are strict */
			continue;
		}
		/* an argument of another type (int8 > 5): the family's cross-type comparison */
		if (OidIsValid(k->sk_subtype) && k->sk_subtype != index->rd_opcintype[0])
		{
			Oid			procid = get_opfamily_proc(index->rd_opfamily[0],
												   index->rd_opcintype[0],
												   k->sk_subtype, SORTED_CMP_PROC);

			if (!OidIsValid(procid))
				elog(ERROR, "nedb_sorted: no comparison for type %u", k->sk_subtype);
			fmgr_info(procid, &so->keyprocs[i]);
			proc = &so->keyprocs[i];
		}
		else
			so->keyprocs[i].fn_oid = InvalidOid;
		switch (k->sk_strategy)
		{
			case BTLessStrategyNumber:
			case BTLessEqualStrategyNumber:
				note_bound(so, k, proc, false, k->sk_strategy == BTLessStrategyNumber);
				break;
			case BTEqualStrategyNumber:
				note_bound(so, k, proc, true, false);
				note_bound(so, k, proc, false, false);
				break;
			case BTGreaterEqualStrategyNumber:
			case BTGreaterStrategyNumber:
				note_bound(so, k, proc, true, k->sk_strategy == BTGreaterStrategyNumber);
				break;
			default:
				elog(ERROR, "nedb_sorted: unexpected strategy %d", k->sk_strategy);
		}
	}
	so->started = false;
	so->done = false;
	so->nitems = 0;
	so->cur = 0;
	so->nkilled = 0;
}

void
sorted_endscan(IndexScanDesc scan)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;

	release_page(scan);
	pfree(so->tuples);
	pfree(so);
}

/* does the entry match; if not, can anything further in the scan match? */
static ItemVerdict
check_item(IndexScanDesc scan, IndexTuple itup)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;
	bool		isnull;
	Datum		d;

	if (scan->numberOfKeys == 0)
		return ITEM_MATCH;
	d = index_getattr(itup, 1, scan->xs_itupdesc, &isnull);
	for (int i = 0; i < scan->numberOfKeys; i++)
	{
		ScanKey		k = &scan->keyData[i];
		int			c;
		bool		ok;
		bool		upper_kind;

		/* NULLs sort last: IS NULL is a lower bound, IS NOT NULL an upper */
		if (k->sk_flags & SK_SEARCHNULL)
		{
			if (isnull)
				continue;
			return so->backward ? ITEM_STOP : ITEM_SKIP;
		}
		if (isnull)				/* beyond every value: no operator matches */
			return so->backward ? ITEM_SKIP : ITEM_STOP;
		if (k->sk_flags & SK_SEARCHNOTNULL)
			continue;
		if (OidIsValid(so->keyprocs[i].fn_oid))
		{
			int32		r = DatumGetInt32(FunctionCall2Coll(&so->keyprocs[i],
															so->cmp.collation,
															d, k->sk_argument));

			c = (r > 0) - (r < 0);
		}
		else
			c = sorted_compare_datums(&so->cmp, d, false, k->sk_argument, false);
		switch (k->sk_strategy)
		{
			case BTLessStrategyNumber:
				ok = c < 0;
				break;
			case BTLessEqualStrategyNumber:
				ok = c <= 0;
				break;
			case BTEqualStrategyNumber:
				ok = c == 0;
				break;
			case BTGreaterEqualStrategyNumber:
				ok = c >= 0;
				break;
			default:
				ok = c > 0;
				break;
		}
		if (ok)
			continue;
		/* beyond an upper bound going forward, or a lower one going back */
		if (k->sk_strategy == BTEqualStrategyNumber)
			upper_kind = (c > 0);
		else
			upper_kind = (k->sk_strategy < BTEqualStrategyNumber);
		return (upper_kind != so->backward) ? ITEM_STOP : ITEM_SKIP;
	}
	return ITEM_MATCH;
}

/*
 * Copy the matching entries of the locked leaf in buf, from start in the
 * scan's direction, then unlock it (keeping the pin).
 */
static void
read_page(IndexScanDesc scan, Buffer buf, OffsetNumber start)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;
	Page		page = BufferGetPage(buf);
	SortedPageOpaque op = SortedPageGetOpaque(page);
	OffsetNumber first = SortedFirstData(page);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	int			step = so->backward ? -1 : 1;
	int			last = so->backward ? first : maxoff;
	bool		skip_killed = scan->ignore_killed_tuples;
	Size		used = 0;

	so->buf = buf;
	so->curblk = BufferGetBlockNumber(buf);
	so->nextblk = so->backward ? op->left : op->right;
	if (so->nextblk == InvalidBlockNumber)
		so->done = true;
	so->nitems = 0;
	so->cur = 0;
	so->nkilled = 0;
	for (int off = start; off >= first && off <= maxoff; off += step)
	{
		ItemId		iid;
		IndexTuple	itup;
		ItemVerdict v;

		/*
		 * Killed entries are passed without a look at their keys, except the
		 * last one of the page in the scan's direction: if it is beyond the
		 * bound, the scan ends here instead of reading the next page.
		 */
		if (skip_killed)
		{
			while (off != last && ItemIdIsDead(PageGetItemId(page, off)))
				off += step;
		}
		iid = PageGetItemId(page, off);
		itup = (IndexTuple) PageGetItem(page, iid);
		v = check_item(scan, itup);
		if (v == ITEM_STOP)
		{
			so->done = true;
			break;
		}
		if (v == ITEM_SKIP || (skip_killed && ItemIdIsDead(iid)))
			continue;
		so->tids[so->nitems] = itup->t_tid;
		so->itemoff[so->nitems] = off;
		if (scan->xs_want_itup)
		{
			Size		sz = IndexTupleSize(itup);

			memcpy(so->tuples + used, itup, sz);
			so->tupoff[so->nitems] = used;
			used += MAXALIGN(sz);
		}
		so->nitems++;
	}
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
}

/* the first page of the scan, positioned at its first bound */
static void
first_page(IndexScanDesc scan)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;
	SortedKey	key;
	bool		nextkey;
	Buffer		buf;
	OffsetNumber off;

	pgstat_count_index_scan(scan->indexRelation);
	if (!so->backward)
	{
		if (so->has_lower)
		{
			key = so->lower;
			nextkey = so->lower_strict;
		}
		else
		{
			key.inf = -1;
			nextkey = false;
		}
	}
	else
	{
		if (so->has_upper)
		{
			key = so->upper;
			nextkey = !so->upper_strict;
		}
		else
		{
			key.inf = 1;
			nextkey = false;
		}
	}
	buf = sorted_descend(scan->indexRelation, &so->cmp, &key, nextkey, BUFFER_LOCK_SHARE);
	off = sorted_binsearch(scan->indexRelation, &so->cmp, BufferGetPage(buf), &key, nextkey);
	if (so->backward)
		off--;
	read_page(scan, buf, off);
}

/* the page right of buf's (a locked page), locked; buf is released */
static Buffer
step_right(Relation index, Buffer buf)
{
	BlockNumber right = SortedPageGetOpaque(BufferGetPage(buf))->right;

	UnlockReleaseBuffer(buf);
	buf = ReadBuffer(index, right);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	return buf;
}

/*
 * The live page left of the pinned page cur, share-locked; InvalidBuffer if
 * cur is the leftmost.  cur's left-link is current under its lock (splits
 * and deletions update it), and cur cannot be deleted while we hold its pin
 * (deletion needs a cleanup lock).  The page it names may split before we
 * get there (move right to the page whose right-link is cur) or be deleted
 * (read cur's left-link again).
 */
static Buffer
live_left_of(Relation index, Buffer cur)
{
	BlockNumber curblk = BufferGetBlockNumber(cur);

	for (int tries = 0;; tries++)
	{
		BlockNumber left;
		Buffer		buf;
		Page		page;

		LockBuffer(cur, BUFFER_LOCK_SHARE);
		left = SortedPageGetOpaque(BufferGetPage(cur))->left;
		LockBuffer(cur, BUFFER_LOCK_UNLOCK);
		if (left == InvalidBlockNumber)
			return InvalidBuffer;
		buf = ReadBuffer(index, left);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		while (!SortedPageIsDeleted(page) &&
			   SortedPageGetOpaque(page)->right != curblk &&
			   SortedPageGetOpaque(page)->right != InvalidBlockNumber)
		{
			CHECK_FOR_INTERRUPTS();
			buf = step_right(index, buf);
			page = BufferGetPage(buf);
		}
		if (!SortedPageIsDeleted(page) && SortedPageGetOpaque(page)->right == curblk)
			return buf;
		UnlockReleaseBuffer(buf);
		if (!SortedPageIsDeleted(page) || tries >= 100)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\": block %u is not reachable from its left-link",
							RelationGetRelationName(index), curblk)));
	}
}

/* the next page in the scan's direction; false at the end */
static bool
next_page(IndexScanDesc scan)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	Buffer		buf;
	Page		page;

	/* before another page is locked: pages are locked left to right */
	kill_items(scan);
	if (so->done)
		return false;
	CHECK_FOR_INTERRUPTS();
	if (so->backward)
	{
		/* keep the pin on the page read until its left neighbour is found */
		buf = live_left_of(index, so->buf);
		release_page(scan);
		if (!BufferIsValid(buf))
			return false;
		read_page(scan, buf, PageGetMaxOffsetNumber(BufferGetPage(buf)));
		return true;
	}
	release_page(scan);
	buf = ReadBuffer(index, so->nextblk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	/* deleted since its left neighbour was read: its key range went right */
	while (SortedPageIsDeleted(page))
	{
		buf = step_right(index, buf);
		page = BufferGetPage(buf);
	}
	read_page(scan, buf, SortedFirstData(page));
	return true;
}

bool
sorted_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;

	if (!so->qual_ok)
		return false;
	if (!so->started)
	{
		so->backward = ScanDirectionIsBackward(dir);
		so->started = true;
		first_page(scan);
	}
	else
	{
		if (ScanDirectionIsBackward(dir) != so->backward)
			elog(ERROR, "nedb_sorted: a scan cannot change direction");
		/* the entry returned last leads only to dead rows: mark it later */
		if (scan->kill_prior_tuple && so->cur < so->nitems &&
			(so->nkilled == 0 || so->killed[so->nkilled - 1] != so->cur))
			so->killed[so->nkilled++] = so->cur;
		so->cur++;
	}
	while (so->cur >= so->nitems)
	{
		if (!next_page(scan))
			return false;
	}
	scan->xs_heaptid = so->tids[so->cur];
	scan->xs_recheck = false;
	if (scan->xs_want_itup)
		scan->xs_itup = (IndexTuple) (so->tuples + so->tupoff[so->cur]);
	return true;
}

int64
sorted_getbitmap(IndexScanDesc scan, TIDBitmap *tbm)
{
	SortedScanOpaque so = (SortedScanOpaque) scan->opaque;
	int64		ntids = 0;

	if (!so->qual_ok)
		return 0;
	so->backward = false;
	so->started = true;
	first_page(scan);
	do
	{
		tbm_add_tuples(tbm, so->tids, so->nitems, false);
		ntids += so->nitems;
	} while (next_page(scan));
	release_page(scan);
	return ntids;
}

/* a copy of the key of item off of the locked leaf in buf, which is released */
static void
take_key(Relation index, Buffer buf, OffsetNumber off, Datum *value, bool *isnull)
{
	Page		page = BufferGetPage(buf);
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(index), 0);
	Datum		d = index_getattr((IndexTuple) PageGetItem(page, PageGetItemId(page, off)),
								  1, RelationGetDescr(index), isnull);

	*value = *isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
	UnlockReleaseBuffer(buf);
}

/*
 * The key of the lowest entry (below is NULL) or of the highest entry below
 * *below, whether its row is visible or not, copied into the caller's
 * memory context; false if there is none.  For callers that only ask what
 * kind of keys an end of the index holds (versions_scan.c): one descent, no
 * table access, no scan.
 */
bool
sorted_edge_key(Relation index, const Datum *below, Datum *value, bool *isnull)
{
	SortedCmp	cmp;
	SortedKey	key;
	Buffer		buf;

	sorted_cmp_init(index, &cmp);
	key.cross = NULL;
	key.isnull = false;
	if (below == NULL)
	{
		key.inf = -1;
		key.value = (Datum) 0;
		buf = sorted_descend(index, &cmp, &key, false, BUFFER_LOCK_SHARE);
		for (;;)
		{
			Page		page = BufferGetPage(buf);

			if (!SortedPageIsDeleted(page) && SortedFirstData(page) <= PageGetMaxOffsetNumber(page))
			{
				take_key(index, buf, SortedFirstData(page), value, isnull);
				return true;
			}
			if (SortedPageIsRightmost(page))
			{
				UnlockReleaseBuffer(buf);
				return false;
			}
			CHECK_FOR_INTERRUPTS();
			buf = step_right(index, buf);
		}
	}
	key.inf = 0;
	key.value = *below;
	buf = sorted_descend(index, &cmp, &key, false, BUFFER_LOCK_SHARE);
	for (;;)
	{
		Page		page = BufferGetPage(buf);
		OffsetNumber off = sorted_binsearch(index, &cmp, page, &key, false);
		Buffer		left;

		if (off > SortedFirstData(page))
		{
			take_key(index, buf, OffsetNumberPrev(off), value, isnull);
			return true;
		}
		/* nothing below it here: the live page to the left */
		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		left = live_left_of(index, buf);
		ReleaseBuffer(buf);
		if (!BufferIsValid(left))
			return false;
		buf = left;
	}
}
