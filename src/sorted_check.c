/*
 * sorted_check.c
 *	  nedb.sorted_check(index): verify a nedb_sorted index's structure.
 *
 * Walks every level from the root down, left to right along the
 * right-links, and checks: page kind and level, left-links, keys in order on
 * each page and across pages (every key within [left sibling's high key,
 * own high key]), that the downlinks of a level name exactly the pages of
 * the level below in sibling order with matching bounds (the child's high
 * key is the next separator), and that every leaf entry's heap TID is a
 * used line pointer of the table.  The first violation is an error with
 * SQLSTATE XX002 (index_corrupted).  Takes ShareLock on the table and the
 * index (writers wait; readers do not), so the walk sees a still tree.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "sorted.h"

PG_FUNCTION_INFO_V1(nedb_sorted_check);

typedef struct CheckState
{
	Relation	index;
	Relation	heap;
	BlockNumber heap_blocks;
	SortedCmp	cmp;
	int64		entries;
} CheckState;

static void
corrupt(CheckState *cs, BlockNumber blkno, OffsetNumber off, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is corrupted", RelationGetRelationName(cs->index)),
			 errdetail("Block %u, item %u: %s.", blkno, off, what)));
}

/* is tid a used line pointer (normal, redirect or dead) of the table? */
static bool
heap_tid_used(CheckState *cs, ItemPointer tid)
{
	BlockNumber blk = ItemPointerGetBlockNumberNoCheck(tid);
	OffsetNumber off = ItemPointerGetOffsetNumberNoCheck(tid);
	Buffer		buf;
	Page		page;
	bool		used;

	if (blk >= cs->heap_blocks || off == InvalidOffsetNumber)
		return false;
	buf = ReadBuffer(cs->heap, blk);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	used = off <= PageGetMaxOffsetNumber(page) && ItemIdIsUsed(PageGetItemId(page, off));
	UnlockReleaseBuffer(buf);
	return used;
}

static IndexTuple
item(Page page, OffsetNumber off)
{
	return (IndexTuple) PageGetItem(page, PageGetItemId(page, off));
}

/*
 * Check one level, whose pages must be exactly expected (blocks, in order)
 * with high keys bounds (NULL: rightmost).  Returns the level below's
 * expected pages and bounds through *children and *child_bounds.
 */
static void
check_level(CheckState *cs, uint32 level, List *expected, List *bounds,
			List **children, List **child_bounds)
{
	BlockNumber blkno = linitial_int(expected);
	BlockNumber prev = InvalidBlockNumber;
	IndexTuple	lowkey = NULL;	/* the left sibling's high key */
	Page		page = palloc(BLCKSZ);
	int			idx = 0;

	*children = NIL;
	*child_bounds = NIL;
	while (blkno != InvalidBlockNumber)
	{
		Buffer		buf;
		SortedPageOpaque op;
		IndexTuple	hikey = NULL;
		IndexTuple	bound;
		OffsetNumber first,
					maxoff;

		CHECK_FOR_INTERRUPTS();
		if (blkno >= RelationGetNumberOfBlocks(cs->index) || blkno == SORTED_METAPAGE_BLKNO)
			corrupt(cs, blkno, 0, "link to a block outside the tree");
		if (idx >= list_length(expected) || list_nth_int(expected, idx) != (int) blkno)
			corrupt(cs, blkno, 0, psprintf("page at level %u is not the one its parent's downlinks name next", level));
		buf = ReadBuffer(cs->index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		memcpy(page, BufferGetPage(buf), BLCKSZ);
		UnlockReleaseBuffer(buf);

		op = SortedPageGetOpaque(page);
		if (PageIsNew(page) || op->page_id != SORTED_PAGE_ID || (op->flags & SORTED_META))
			corrupt(cs, blkno, 0, "not a tree page");
		if (op->level != level || SortedPageIsLeaf(page) != (level == 0))
			corrupt(cs, blkno, 0, psprintf("page at level %u where level %u is expected", op->level, level));
		if (op->left != prev)
			corrupt(cs, blkno, 0, psprintf("left-link %u, expected %u", op->left, prev));
		first = SortedFirstData(page);
		maxoff = PageGetMaxOffsetNumber(page);
		if (!SortedPageIsRightmost(page))
		{
			if (maxoff < SORTED_HIKEY)
				corrupt(cs, blkno, 0, "no high key");
			hikey = CopyIndexTuple(item(page, SORTED_HIKEY));
		}
		bound = (IndexTuple) list_nth(bounds, idx);
		if ((bound == NULL) != (hikey == NULL) ||
			(bound && sorted_compare_tuples(cs->index, &cs->cmp, hikey, bound) != 0))
			corrupt(cs, blkno, SORTED_HIKEY, "high key differs from the parent's separator");
		if (level > 0 && first > maxoff)
			corrupt(cs, blkno, 0, "internal page without downlinks");

		for (OffsetNumber off = first; off <= maxoff; off++)
		{
			IndexTuple	it = item(page, off);
			bool		minus_inf = (level > 0 && off == first);

			if (!minus_inf)
			{
				if (off > first && !(level > 0 && off == first + 1) &&
					sorted_compare_tuples(cs->index, &cs->cmp, item(page, off - 1), it) > 0)
					corrupt(cs, blkno, off, "key out of order on the page");
				if (hikey && sorted_compare_tuples(cs->index, &cs->cmp, it, hikey) > 0)
					corrupt(cs, blkno, off, "key above the page's high key");
				if (lowkey && sorted_compare_tuples(cs->index, &cs->cmp, it, lowkey) < 0)
					corrupt(cs, blkno, off, "key below the left sibling's high key");
			}
			if (level == 0)
			{
				if (!heap_tid_used(cs, &it->t_tid))
					corrupt(cs, blkno, off,
							psprintf("heap TID (%u,%u) is not a used line pointer of \"%s\"",
									 ItemPointerGetBlockNumberNoCheck(&it->t_tid),
									 ItemPointerGetOffsetNumberNoCheck(&it->t_tid),
									 RelationGetRelationName(cs->heap)));
				cs->entries++;
			}
			else
			{
				*children = lappend_int(*children, (int) sorted_downlink(it));
				/* a child's high key is the next separator, or ours */
				*child_bounds = lappend(*child_bounds,
										off < maxoff ? CopyIndexTuple(item(page, off + 1)) : hikey);
			}
		}
		lowkey = hikey;
		prev = blkno;
		blkno = op->right;
		idx++;
	}
	if (idx != list_length(expected))
		corrupt(cs, list_nth_int(expected, idx), 0,
				psprintf("downlink to a page not on level %u's sibling chain", level));
	pfree(page);
}

Datum
nedb_sorted_check(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Oid			heapoid = IndexGetRelation(indexoid, true);
	CheckState	cs;
	Buffer		metabuf;
	SortedMetaData meta;
	List	   *expected;
	List	   *bounds;

	if (!OidIsValid(heapoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexoid))));
	cs.heap = table_open(heapoid, ShareLock);
	cs.index = index_open(indexoid, ShareLock);
	if (cs.index->rd_indam->ambuild != sorted_build)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a nedb_sorted index", RelationGetRelationName(cs.index))));
	cs.heap_blocks = RelationGetNumberOfBlocks(cs.heap);
	cs.entries = 0;
	sorted_cmp_init(cs.index, &cs.cmp);

	metabuf = ReadBuffer(cs.index, SORTED_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = *SortedPageGetMeta(BufferGetPage(metabuf));
	UnlockReleaseBuffer(metabuf);
	if (meta.magic != SORTED_MAGIC || meta.version != SORTED_VERSION)
		corrupt(&cs, SORTED_METAPAGE_BLKNO, 0, "bad metapage magic or version");

	expected = list_make1_int((int) meta.root);
	bounds = list_make1(NULL);
	for (int level = meta.level; level >= 0; level--)
	{
		List	   *children;
		List	   *child_bounds;

		check_level(&cs, level, expected, bounds, &children, &child_bounds);
		expected = children;
		bounds = child_bounds;
	}

	index_close(cs.index, ShareLock);
	table_close(cs.heap, ShareLock);
	PG_RETURN_INT64(cs.entries);
}
