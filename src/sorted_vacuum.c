/*
 * sorted_vacuum.c
 *	  nedb_sorted: VACUUM, page deletion and recycling.
 *
 * Bulk delete walks the index in block order, takes a cleanup lock on each
 * leaf (waiting for scans that still hold the page's pin, so none can return
 * a removed entry's TID after the heap reuses it) and removes the dead
 * entries in one generic WAL record per page.  Entries that scans marked
 * LP_DEAD (sorted_scan.c) go only when the callback names them too: the
 * table's VACUUM has pruned their rows by then, and that pruning's WAL
 * record is what cancels a hot standby's queries that could still see them
 * (generic WAL carries no such conflict), so a mark alone does not do.
 * While it walks, the metapage
 * says so and splits take new pages at the end of the relation instead of
 * recycled ones, so re-reading the length until it stops growing visits
 * every entry that moved right during the walk.
 *
 * Then it deletes the leaves it found empty.  Under the structure lock (no
 * split or other deletion runs), a leaf that is not its parent's rightmost
 * child, and that no scan has pinned, is unlinked in one generic WAL record
 * of four pages: its left sibling's right-link and its right sibling's
 * left-link skip it, the parent's downlink to it now names the right
 * sibling and the right sibling's own downlink goes, so the right sibling
 * takes over its key range (child j keeps separator j).  A reader holding a
 * stale link to the page finds it marked deleted and moves right.  The
 * rightmost child of a parent stays (it would take the parent with it, and
 * internal pages are never deleted), so an emptied index keeps about one
 * leaf per parent.
 *
 * The deleted page records the next transaction id of the moment.  A later
 * VACUUM hands it to the free space map once no snapshot can precede that
 * id (GlobalVisCheckRemovableFullXid), i.e. once no scan that might hold a
 * link to it can still be running, as nbtree does; a split then reuses it.
 * On a hot standby the same guarantee needs hot_standby_feedback, since
 * generic WAL cannot carry nbtree's recovery conflict.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/transam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "sorted.h"

/* set or clear the metapage's "bulk delete walking" mark */
static void
set_vacuum_active(Relation index, bool active)
{
	Buffer		metabuf;
	GenericXLogState *state;
	Page		page;

	/* splits in flight finish first; later ones see the mark */
	LockPage(index, SORTED_METAPAGE_BLKNO, ExclusiveLock);
	metabuf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, metabuf, 0);
	SortedPageGetMeta(page)->vacuum_active = active ? 1 : 0;
	/* a metapage written before the field existed: cover it */
	((PageHeader) page)->pd_lower =
		Max(((PageHeader) page)->pd_lower,
			(char *) SortedPageGetMeta(page) + sizeof(SortedMetaData) - (char *) page);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
	UnlockPage(index, SORTED_METAPAGE_BLKNO, ExclusiveLock);
}

static bool
leaf_is_empty(Page page)
{
	return SortedFirstData(page) > PageGetMaxOffsetNumber(page);
}

/*
 * Under the structure lock: the level-1 page and offset of the downlink to
 * leaf blkno, whose high key is hikey.  Internal pages only change under
 * that lock, so the walk sees a still level.  False if there is none.
 */
static bool
find_parent(Relation index, SortedCmp *cmp, BlockNumber blkno, IndexTuple hikey,
			BlockNumber *parent, OffsetNumber *parent_off)
{
	Buffer		metabuf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	SortedMetaData meta;
	SortedKey	key;
	BlockNumber cur;

	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = *SortedPageGetMeta(BufferGetPage(metabuf));
	UnlockReleaseBuffer(metabuf);
	if (meta.level == 0)
		return false;

	key.inf = 0;
	key.cross = NULL;
	key.value = index_getattr(hikey, 1, RelationGetDescr(index), &key.isnull);
	cur = meta.root;
	for (uint32 level = meta.level;; level--)
	{
		Buffer		buf = ReadBuffer(index, cur);
		Page		page;
		OffsetNumber off;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		/* the last downlink whose separator is < hikey: the leaf's or left of it */
		off = sorted_binsearch(index, cmp, page, &key, false);
		if (level > 1)
		{
			cur = sorted_downlink((IndexTuple) PageGetItem(page, PageGetItemId(page, off)));
			UnlockReleaseBuffer(buf);
			continue;
		}
		/* equal separators may put it further right, even on a right sibling */
		for (;;)
		{
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

			for (; off <= maxoff; off++)
			{
				IndexTuple	it = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));

				if (sorted_downlink(it) == blkno)
				{
					*parent = BufferGetBlockNumber(buf);
					*parent_off = off;
					UnlockReleaseBuffer(buf);
					return true;
				}
				if (off > SortedFirstData(page) &&
					sorted_compare_key(index, cmp, &key, it) < 0)
				{
					UnlockReleaseBuffer(buf);
					return false;
				}
			}
			if (SortedPageIsRightmost(page))
			{
				UnlockReleaseBuffer(buf);
				return false;
			}
			cur = SortedPageGetOpaque(page)->right;
			UnlockReleaseBuffer(buf);
			buf = ReadBuffer(index, cur);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			off = SortedFirstData(page);
		}
	}
}

/*
 * Unlink the empty leaf blkno if it may go (see the file header).  Takes
 * the cleanup lock on the leaf first, holding no other page: the only
 * processes that hold a page while locking another are splitters and
 * deleters, and the structure lock keeps them out.  Links that do not
 * agree leave the page in place with a warning, so that a damaged index
 * never stops VACUUM of its table.  True if deleted.
 */
static bool
delete_leaf(Relation index, SortedCmp *cmp, BlockNumber blkno)
{
	Buffer		buf;
	Page		page;
	IndexTuple	hikey;
	bool		found;
	BlockNumber parent;
	OffsetNumber parent_off;
	BlockNumber left,
				right;
	Buffer		lbuf = InvalidBuffer,
				rbuf = InvalidBuffer,
				pbuf = InvalidBuffer;
	Page		ppage;
	IndexTuple	next;
	GenericXLogState *state;
	const char *fault = NULL;
	bool		deleted = false;

	LockPage(index, SORTED_METAPAGE_BLKNO, ExclusiveLock);

	/* its high key names it in the parent */
	buf = ReadBuffer(index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (PageIsNew(page) || !SortedPageIsLeaf(page) || SortedPageIsDeleted(page) ||
		SortedPageIsRightmost(page) || !leaf_is_empty(page))
	{
		UnlockReleaseBuffer(buf);
		goto out;
	}
	hikey = CopyIndexTuple((IndexTuple) PageGetItem(page, PageGetItemId(page, SORTED_HIKEY)));
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	found = find_parent(index, cmp, blkno, hikey, &parent, &parent_off);
	pfree(hikey);
	if (!found)
	{
		ReleaseBuffer(buf);
		fault = "no downlink to the page";
		goto out;
	}

	if (!ConditionalLockBufferForCleanup(buf))
	{
		ReleaseBuffer(buf);		/* a scan is on it: next VACUUM */
		goto out;
	}
	/* an insert may have come in meanwhile (splits cannot: we hold the lock) */
	if (!leaf_is_empty(page))
		goto release;
	left = SortedPageGetOpaque(page)->left;
	right = SortedPageGetOpaque(page)->right;

	pbuf = ReadBuffer(index, parent);
	LockBuffer(pbuf, BUFFER_LOCK_EXCLUSIVE);
	ppage = BufferGetPage(pbuf);
	if (parent_off >= PageGetMaxOffsetNumber(ppage))
		goto release;			/* the parent's rightmost child: stays */
	next = (IndexTuple) PageGetItem(ppage, PageGetItemId(ppage, OffsetNumberNext(parent_off)));
	if (sorted_downlink(next) != right)
	{
		fault = "the parent's next downlink is not the right sibling";
		goto release;
	}
	if (left != InvalidBlockNumber)
	{
		lbuf = ReadBuffer(index, left);
		LockBuffer(lbuf, BUFFER_LOCK_EXCLUSIVE);
		if (SortedPageGetOpaque(BufferGetPage(lbuf))->right != blkno)
		{
			fault = "the left sibling does not link to it";
			goto release;
		}
	}
	rbuf = ReadBuffer(index, right);
	LockBuffer(rbuf, BUFFER_LOCK_EXCLUSIVE);
	if (SortedPageGetOpaque(BufferGetPage(rbuf))->left != blkno)
	{
		fault = "the right sibling does not link back to it";
		goto release;
	}

	state = sorted_generic_start(index);
	{
		Page		dpage = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		Page		rpage = sorted_register_buffer(state, rbuf, 0);
		Page		gpage = GenericXLogRegisterBuffer(state, pbuf, 0);
		IndexTuple	down;

		if (BufferIsValid(lbuf))
			SortedPageGetOpaque(sorted_register_buffer(state, lbuf, 0))->right = right;
		SortedPageGetOpaque(rpage)->left = left;
		/* the right sibling takes over the key range: separator j, its block */
		down = (IndexTuple) PageGetItem(gpage, PageGetItemId(gpage, parent_off));
		sorted_set_downlink(down, right);
		PageIndexTupleDelete(gpage, OffsetNumberNext(parent_off));
		/* the deleted page keeps its links for readers still on the way */
		sorted_init_page(dpage, SORTED_LEAF | SORTED_DELETED, 0);
		SortedPageGetOpaque(dpage)->left = left;
		SortedPageGetOpaque(dpage)->right = right;
		SortedPageGetDeleted(dpage)->safexid = ReadNextFullTransactionId();
		((PageHeader) dpage)->pd_lower += sizeof(SortedDeletedData);
	}
	sorted_generic_finish(state);
	deleted = true;

release:
	if (BufferIsValid(lbuf))
		UnlockReleaseBuffer(lbuf);
	if (BufferIsValid(rbuf))
		UnlockReleaseBuffer(rbuf);
	if (BufferIsValid(pbuf))
		UnlockReleaseBuffer(pbuf);
	UnlockReleaseBuffer(buf);
out:
	UnlockPage(index, SORTED_METAPAGE_BLKNO, ExclusiveLock);
	if (fault)
		ereport(WARNING,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is corrupted: VACUUM leaves its empty block %u in place",
						RelationGetRelationName(index), blkno),
				 errdetail("%s.", fault),
				 errhint("nedb.sorted_check('%s') names the first fault; REINDEX INDEX rebuilds the index.",
						 RelationGetRelationName(index))));
	return deleted;
}

/*
 * Visit every page: remove dead leaf entries when callback is given, count
 * the rest, note empty leaves, and give recyclable pages to the free space
 * map.  Then delete the empty leaves.
 */
static void
vacuum_scan(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber blkno = SORTED_METAPAGE_BLKNO + 1;
	BlockNumber nblocks;
	List	   *empty = NIL;
	ListCell   *lc;
	SortedCmp	cmp;

	stats->num_index_tuples = 0;
	stats->pages_deleted = 0;
	stats->pages_free = 0;
	for (;;)
	{
		nblocks = RelationGetNumberOfBlocks(index);
		if (blkno >= nblocks)
			break;
		for (; blkno < nblocks; blkno++)
		{
			Buffer		buf;
			Page		page;
			OffsetNumber dead[MaxIndexTuplesPerPage];
			int			ndead = 0;
			OffsetNumber maxoff;

			vacuum_delay_point();
			buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
									 info->strategy);
			if (callback)
				LockBufferForCleanup(buf);
			else
				LockBuffer(buf, BUFFER_LOCK_SHARE);
			page = BufferGetPage(buf);
			if (PageIsNew(page) || SortedPageIsDeleted(page))
			{
				if (!PageIsNew(page))
					stats->pages_deleted++;
				if (sorted_page_recyclable(page))
				{
					RecordFreeIndexPage(index, blkno);
					stats->pages_free++;
				}
				UnlockReleaseBuffer(buf);
				continue;
			}
			if (!SortedPageIsLeaf(page))
			{
				UnlockReleaseBuffer(buf);
				continue;
			}
			maxoff = PageGetMaxOffsetNumber(page);
			for (OffsetNumber off = SortedFirstData(page); off <= maxoff; off++)
			{
				IndexTuple	itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));

				if (callback && callback(&itup->t_tid, callback_state))
					dead[ndead++] = off;
				else
					stats->num_index_tuples++;
			}
			if (ndead > 0)
			{
				GenericXLogState *state = sorted_generic_start(index);
				Page		gpage = sorted_register_buffer(state, buf, 0);

				PageIndexMultiDelete(gpage, dead, ndead);
				sorted_generic_finish(state);
				stats->tuples_removed += ndead;
			}
			if (leaf_is_empty(page) && !SortedPageIsRightmost(page))
				empty = lappend_int(empty, (int) blkno);
			UnlockReleaseBuffer(buf);
		}
	}
	stats->num_pages = nblocks;
	stats->estimated_count = false;

	if (empty != NIL)
		sorted_cmp_init(index, &cmp);
	foreach(lc, empty)
	{
		vacuum_delay_point();
		if (delete_leaf(index, &cmp, (BlockNumber) lfirst_int(lc)))
		{
			stats->pages_deleted++;
			stats->pages_newly_deleted++;
		}
	}
	list_free(empty);
}

IndexBulkDeleteResult *
sorted_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	set_vacuum_active(info->index, true);
	vacuum_scan(info, stats, callback, callback_state);
	set_vacuum_active(info->index, false);
	return stats;
}

IndexBulkDeleteResult *
sorted_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	/* no bulk delete ran: count the entries, delete and recycle pages */
	if (stats == NULL)
	{
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		vacuum_scan(info, stats, NULL, NULL);
	}
	/* a bulk delete that failed left its mark: none runs now (we have the table) */
	if (sorted_vacuum_active(info->index))
		set_vacuum_active(info->index, false);
	IndexFreeSpaceMapVacuum(info->index);
	return stats;
}
