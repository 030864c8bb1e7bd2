/*
 * sorted_insert.c
 *	  nedb_sorted: inserting one entry, and page splits.
 *
 * An insert first tries the cheap way: descend as a reader does (or, for
 * ascending keys, go straight to the rightmost leaf), lock the leaf
 * exclusively, add the entry if it fits (one WAL record: our own resource
 * manager's when nedb is preloaded, generic WAL otherwise; sorted_xlog.c).
 * A full leaf first loses the entries scans marked LP_DEAD, when nedb is
 * preloaded (the removal's record must carry a standby conflict, which
 * generic WAL cannot).
 * Otherwise it takes the structure lock (a heavyweight lock on block 0, so
 * splitters run one at a time while readers and other inserters go on) and
 * descends again holding the parent of the page it is on, splitting every
 * page on the way that could not take one more downlink.  Each split changes
 * the page, its new right sibling, its parent and its old right sibling's
 * left-link (or, for the root, the new root and the metapage) in one generic
 * WAL record, so a crash never leaves half a split behind.
 */
#include "postgres.h"

#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "sorted.h"

#define USABLE_SPACE \
	(BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(SortedPageOpaqueData)))

/* the largest downlink the index can need: varlena keys may be big */
static Size
max_downlink_size(Relation index)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(index), 0);

	if (att->attlen < 0)
		return SORTED_MAX_ITEM + sizeof(ItemIdData);
	return MAXALIGN(sizeof(IndexTupleData) + sizeof(IndexAttributeBitMapData)) +
		MAXALIGN(att->attlen) + sizeof(ItemIdData);
}

static Size
item_space(IndexTuple itup)
{
	return MAXALIGN(IndexTupleSize(itup)) + sizeof(ItemIdData);
}

/*
 * Where to split n items: the left half gets items [0, s), a high key equal
 * to items[s]'s key, the right half the rest and the old high key.  Normally
 * halves by bytes; a page split by appending at the right end of the index
 * (ascending keys) keeps the left page SORTED_LEAF_FILL% full, as btree does.
 */
static int
choose_split(IndexTuple *items, int n, IndexTuple oldhikey, bool append)
{
	Size		total = 0;
	Size		acc = 0;
	Size		target;
	int			s;

	for (int i = 0; i < n; i++)
		total += item_space(items[i]);
	target = append ? USABLE_SPACE * SORTED_LEAF_FILL / 100 : total / 2;
	for (s = 0; s < n - 1; s++)
	{
		if (acc + item_space(items[s]) + item_space(items[s + 1]) > target && s > 0)
			break;
		acc += item_space(items[s]);
	}
	s = Max(s, 1);
	s = Min(s, n - 1);
	/* both halves must fit, high keys included */
	for (;;)
	{
		Size		left = item_space(items[s]);
		Size		right = oldhikey ? item_space(oldhikey) : 0;

		for (int i = 0; i < n; i++)
			if (i < s)
				left += item_space(items[i]);
			else
				right += item_space(items[i]);
		if (left > USABLE_SPACE && s > 1)
			s--;
		else if (right > USABLE_SPACE && s < n - 1)
			s++;
		else if (left > USABLE_SPACE || right > USABLE_SPACE)
			elog(ERROR, "nedb_sorted: no split point fits");
		else
			return s;
	}
}

/* a copy of itup's key with the downlink child */
static IndexTuple
downlink_tuple(IndexTuple itup, BlockNumber child)
{
	IndexTuple	d = CopyIndexTuple(itup);

	sorted_set_downlink(d, child);
	return d;
}

/*
 * Split the exclusively locked page buf.  parentbuf is its exclusively
 * locked parent, with room for one more downlink after parent_off (the
 * downlink to buf), or InvalidBuffer if buf is the root.  A leaf split adds
 * newitem at newoff in the same record and returns InvalidBuffer; an
 * internal split returns the half a search for key (nextkey) belongs to,
 * still locked, and releases the other.  parentbuf stays locked.
 */
static Buffer
split_page(Relation index, SortedCmp *cmp, Buffer buf, Buffer parentbuf,
		   OffsetNumber parent_off, const SortedKey *key,
		   IndexTuple newitem, OffsetNumber newoff)
{
	Page		page = BufferGetPage(buf);
	SortedPageOpaque op = SortedPageGetOpaque(page);
	BlockNumber blkno = BufferGetBlockNumber(buf);
	BlockNumber oldright = op->right;
	uint16		level = op->level;
	uint16		flags = op->flags;
	OffsetNumber first = SortedFirstData(page);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	IndexTuple	oldhikey = NULL;
	IndexTuple *items;
	IndexTuple	sep;
	int			n = 0;
	int			s;
	bool		append;
	Buffer		rbuf,
				sbuf = InvalidBuffer,
				rootbuf = InvalidBuffer,
				metabuf = InvalidBuffer;
	GenericXLogState *state;
	Page		lpage,
				rpage,
				temp;
	BlockNumber rblkno;
	Buffer		keep;

	if (oldright != InvalidBlockNumber)
		oldhikey = CopyIndexTuple((IndexTuple) PageGetItem(page, PageGetItemId(page, SORTED_HIKEY)));
	items = palloc(sizeof(IndexTuple) * (maxoff + 2));
	for (OffsetNumber off = first; off <= maxoff + 1; off++)
	{
		if (newitem && off == newoff)
			items[n++] = newitem;
		if (off <= maxoff)
			items[n++] = CopyIndexTuple((IndexTuple) PageGetItem(page, PageGetItemId(page, off)));
	}
	if (newitem)
		append = (oldright == InvalidBlockNumber && newoff == maxoff + 1);
	else
		append = (oldright == InvalidBlockNumber &&
				  sorted_compare_key(index, cmp, key, items[n - 1]) >= 0);
	s = choose_split(items, n, oldhikey, append);
	sep = CopyIndexTuple(items[s]);

	rbuf = sorted_alloc_buffer(index);
	rblkno = BufferGetBlockNumber(rbuf);
	if (oldright != InvalidBlockNumber)
	{
		sbuf = ReadBuffer(index, oldright);
		LockBuffer(sbuf, BUFFER_LOCK_EXCLUSIVE);
	}
	if (!BufferIsValid(parentbuf))
	{
		rootbuf = sorted_alloc_buffer(index);
		metabuf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	}

	state = sorted_generic_start(index);
	lpage = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	rpage = GenericXLogRegisterBuffer(state, rbuf, GENERIC_XLOG_FULL_IMAGE);

	/* left: same block, new high key, items [0, s) */
	temp = PageGetTempPageCopySpecial(lpage);
	SortedPageGetOpaque(temp)->right = rblkno;
	sorted_page_add(temp, sep, SORTED_HIKEY);
	for (int i = 0; i < s; i++)
		sorted_page_add(temp, items[i], InvalidOffsetNumber);
	memcpy(lpage, temp, BLCKSZ);
	pfree(temp);

	/* right: the old high key, items [s, n) */
	sorted_init_page(rpage, flags, level);
	SortedPageGetOpaque(rpage)->left = blkno;
	SortedPageGetOpaque(rpage)->right = oldright;
	if (oldhikey)
		sorted_page_add(rpage, oldhikey, SORTED_HIKEY);
	for (int i = s; i < n; i++)
		sorted_page_add(rpage, items[i], InvalidOffsetNumber);

	if (BufferIsValid(sbuf))
	{
		Page		spage = sorted_register_buffer(state, sbuf, 0);

		SortedPageGetOpaque(spage)->left = rblkno;
	}
	if (BufferIsValid(parentbuf))
	{
		Page		ppage = GenericXLogRegisterBuffer(state, parentbuf, 0);

		sorted_page_add(ppage, downlink_tuple(sep, rblkno), OffsetNumberNext(parent_off));
	}
	else
	{
		Page		tpage = GenericXLogRegisterBuffer(state, rootbuf, GENERIC_XLOG_FULL_IMAGE);
		Page		mpage = GenericXLogRegisterBuffer(state, metabuf, 0);
		SortedMetaData *meta = SortedPageGetMeta(mpage);

		sorted_init_page(tpage, 0, level + 1);
		sorted_page_add(tpage, downlink_tuple(items[0], blkno), InvalidOffsetNumber);
		sorted_page_add(tpage, downlink_tuple(sep, rblkno), InvalidOffsetNumber);
		meta->root = BufferGetBlockNumber(rootbuf);
		meta->level = level + 1;
	}
	sorted_generic_finish(state);

	if (BufferIsValid(sbuf))
		UnlockReleaseBuffer(sbuf);
	if (BufferIsValid(rootbuf))
	{
		UnlockReleaseBuffer(metabuf);
		UnlockReleaseBuffer(rootbuf);
	}
	if (newitem)
	{
		UnlockReleaseBuffer(rbuf);
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	/* the half a search with nextkey goes to (see sorted_move_right) */
	if (sorted_compare_key(index, cmp, key, sep) >= 0)
	{
		UnlockReleaseBuffer(buf);
		keep = rbuf;
	}
	else
	{
		UnlockReleaseBuffer(rbuf);
		keep = buf;
	}
	return keep;
}

/* add itup at its place on an exclusively locked leaf with room for it */
static void
leaf_add(Relation index, SortedCmp *cmp, Buffer buf, const SortedKey *key,
		 IndexTuple itup)
{
	OffsetNumber off = sorted_binsearch(index, cmp, BufferGetPage(buf), key, true);

	sorted_leaf_insert(index, buf, itup, off);
}

/*
 * The rightmost-leaf fast path (nbtree's too): when this backend's last
 * insert went to the rightmost leaf, and the key is not below that leaf's
 * first entry and the leaf still is the rightmost with room, the entry
 * belongs there: the leaf's key range is [its left neighbour's high key,
 * +infinity] and its first entry is in it.  Ascending keys skip the descent.
 * The block is only a hint: the page may have been deleted since (then it
 * is not the rightmost), or recycled (then only as the true rightmost leaf
 * does it pass); everything is checked under its lock, taken without
 * waiting as nbtree does, and any doubt drops the hint.
 */
static bool
insert_rightmost(Relation index, SortedCmp *cmp, const SortedKey *key,
				 IndexTuple itup)
{
	BlockNumber blkno = sorted_cached_rightmost(index);
	Buffer		buf;

	if (blkno == InvalidBlockNumber)
		return false;
	buf = ReadBuffer(index, blkno);
	if (ConditionalLockBuffer(buf))
	{
		Page		page = BufferGetPage(buf);

		if (!PageIsNew(page) &&
			SortedPageIsLeaf(page) && SortedPageIsRightmost(page) &&
			PageGetMaxOffsetNumber(page) >= FirstOffsetNumber &&
			PageGetFreeSpace(page) >= MAXALIGN(IndexTupleSize(itup)) &&
			sorted_compare_key(index, cmp, key,
							   (IndexTuple) PageGetItem(page, PageGetItemId(page, FirstOffsetNumber))) >= 0)
		{
			leaf_add(index, cmp, buf, key, itup);
			UnlockReleaseBuffer(buf);
			return true;
		}
		UnlockReleaseBuffer(buf);
	}
	else
		ReleaseBuffer(buf);
	sorted_cache_rightmost(index, InvalidBlockNumber);
	return false;
}

/*
 * Make room on the exclusively locked full leaf buf by removing the entries
 * scans marked LP_DEAD (sorted_scan.c), if there are any and that can be
 * logged (sorted_leaf_delete, sorted_xlog.c), instead of splitting it.
 */
static void
delete_killed(Relation index, Relation heap, Buffer buf)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber dead[MaxIndexTuplesPerPage];
	int			ndead = 0;

	if (heap == NULL || !sorted_can_delete(index))
		return;
	for (OffsetNumber off = SortedFirstData(page); off <= maxoff; off++)
	{
		if (ItemIdIsDead(PageGetItemId(page, off)))
			dead[ndead++] = off;
	}
	if (ndead > 0)
		sorted_leaf_delete(index, heap, buf, dead, ndead);
}

static bool
insert_optimistic(Relation index, Relation heap, SortedCmp *cmp,
				  const SortedKey *key, IndexTuple itup)
{
	Buffer		buf;
	Page		page;
	bool		done = false;

	if (insert_rightmost(index, cmp, key, itup))
		return true;
	buf = sorted_descend(index, cmp, key, true, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	if (PageGetFreeSpace(page) < MAXALIGN(IndexTupleSize(itup)))
		delete_killed(index, heap, buf);
	if (PageGetFreeSpace(page) >= MAXALIGN(IndexTupleSize(itup)))
	{
		leaf_add(index, cmp, buf, key, itup);
		if (SortedPageIsRightmost(page))
			sorted_cache_rightmost(index, BufferGetBlockNumber(buf));
		done = true;
	}
	UnlockReleaseBuffer(buf);
	return done;
}

/* with the structure lock: top-down, splitting ahead of time */
static void
insert_splitting(Relation index, SortedCmp *cmp, const SortedKey *key,
				 IndexTuple itup)
{
	Size		maxdown = max_downlink_size(index);
	Buffer		parent = InvalidBuffer;
	OffsetNumber parent_off = InvalidOffsetNumber;
	Buffer		buf;
	Buffer		metabuf;
	Page		page;

	LockPage(index, SORTED_METAPAGE_BLKNO, ExclusiveLock);
	/* splits are ours alone now: the root and every downlink are current */
	metabuf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	buf = ReadBuffer(index, SortedPageGetMeta(BufferGetPage(metabuf))->root);
	UnlockReleaseBuffer(metabuf);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);

	for (;;)
	{
		OffsetNumber off;
		Buffer		child;

		page = BufferGetPage(buf);
		if (SortedPageIsLeaf(page))
		{
			off = sorted_binsearch(index, cmp, page, key, true);
			if (PageGetFreeSpace(page) >= MAXALIGN(IndexTupleSize(itup)))
			{
				leaf_add(index, cmp, buf, key, itup);
				UnlockReleaseBuffer(buf);
			}
			else
				split_page(index, cmp, buf, parent, parent_off, key, itup, off);
			break;
		}
		if (PageGetFreeSpace(page) + sizeof(ItemIdData) < maxdown)
		{
			buf = split_page(index, cmp, buf, parent, parent_off, key, NULL, InvalidOffsetNumber);
			page = BufferGetPage(buf);
		}
		off = sorted_binsearch(index, cmp, page, key, true);
		child = ReadBuffer(index, sorted_downlink((IndexTuple) PageGetItem(page, PageGetItemId(page, off))));
		if (BufferIsValid(parent))
			UnlockReleaseBuffer(parent);
		parent = buf;
		parent_off = off;
		buf = child;
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	}
	if (BufferIsValid(parent))
		UnlockReleaseBuffer(parent);
	UnlockPage(index, SORTED_METAPAGE_BLKNO, ExclusiveLock);
}

/* what a statement's inserts share: the comparison, a per-insert context */
typedef struct InsertCache
{
	SortedCmp	cmp;
	MemoryContext tmp;
} InsertCache;

bool
sorted_insert(Relation index, Datum *values, bool *isnull, ItemPointer ht_ctid,
			  Relation heapRel, IndexUniqueCheck checkUnique, bool indexUnchanged,
			  IndexInfo *indexInfo)
{
	InsertCache *ic = (InsertCache *) indexInfo->ii_AmCache;
	SortedCmp  *cmp;
	MemoryContext old;
	IndexTuple	itup;
	SortedKey	key;

	if (ic == NULL)
	{
		old = MemoryContextSwitchTo(indexInfo->ii_Context);
		ic = palloc(sizeof(InsertCache));
		sorted_cmp_init(index, &ic->cmp);
		ic->tmp = AllocSetContextCreate(indexInfo->ii_Context, "nedb_sorted insert",
										ALLOCSET_SMALL_SIZES);
		indexInfo->ii_AmCache = ic;
		MemoryContextSwitchTo(old);
	}
	cmp = &ic->cmp;
	old = MemoryContextSwitchTo(ic->tmp);
	itup = sorted_form_tuple(index, cmp, values[0], isnull[0], ht_ctid);
	key.inf = 0;
	key.cross = NULL;
	key.value = index_getattr(itup, 1, RelationGetDescr(index), &key.isnull);
	/* before the entry: whoever sees it sees its class on the metapage */
	sorted_note_key_class(index, sorted_key_class(cmp, key.value, key.isnull));
	if (!insert_optimistic(index, heapRel, cmp, &key, itup))
		insert_splitting(index, cmp, &key, itup);
	MemoryContextSwitchTo(old);
	MemoryContextReset(ic->tmp);
	return false;
}
