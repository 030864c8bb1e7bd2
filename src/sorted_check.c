/*
 * sorted_check.c
 *	  nedb.sorted_check(index): verify a nedb_sorted index's structure.
 *
 * Walks every level from the root down, left to right along the
 * right-links, and checks: page kind and level, left-links, keys in order on
 * each page and across pages (every key within [left sibling's high key,
 * own high key]), that the downlinks of a level name exactly the pages of
 * the level below in sibling order with matching bounds (the child's high
 * key is the next separator), that every leaf entry's heap TID is a
 * used line pointer of the table, and that every block no chain reaches is
 * free (deleted or never initialized).  The first violation is an error with
 * SQLSTATE XX002 (index_corrupted).  Takes ShareLock on the table and the
 * index (writers wait; readers do not), so the walk sees a still tree.
 *
 * nedb.sorted_stats(index) counts pages by kind in one pass over the
 * blocks, under the ordinary read lock: a snapshot of a moving index.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "sorted.h"

PG_FUNCTION_INFO_V1(nedb_sorted_check);
PG_FUNCTION_INFO_V1(nedb_sorted_stats);

typedef struct CheckState
{
	Relation	index;
	Relation	heap;
	BlockNumber heap_blocks;
	SortedCmp	cmp;
	int64		entries;
	Bitmapset  *reached;		/* tree pages on the sibling chains */
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
		if (SortedPageIsDeleted(page))
			corrupt(cs, blkno, 0, "link to a deleted page");
		cs->reached = bms_add_member(cs->reached, (int) blkno);
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

static Oid
heap_of_index(Oid indexoid)
{
	Oid			heapoid = IndexGetRelation(indexoid, true);

	if (!OidIsValid(heapoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexoid))));
	return heapoid;
}

static Relation
open_sorted_index(Oid indexoid, LOCKMODE mode)
{
	Relation	index = index_open(indexoid, mode);

	if (index->rd_indam->ambuild != sorted_build)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a nedb_sorted index", RelationGetRelationName(index))));
	return index;
}

Datum
nedb_sorted_check(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	CheckState	cs;
	Buffer		metabuf;
	SortedMetaData meta;
	List	   *expected;
	List	   *bounds;

	cs.heap = table_open(heap_of_index(indexoid), ShareLock);
	cs.index = open_sorted_index(indexoid, ShareLock);
	cs.heap_blocks = RelationGetNumberOfBlocks(cs.heap);
	cs.entries = 0;
	cs.reached = NULL;
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

	/* every other block is free: deleted (unlinked) or never initialized */
	for (BlockNumber blkno = SORTED_METAPAGE_BLKNO + 1;
		 blkno < RelationGetNumberOfBlocks(cs.index); blkno++)
	{
		Buffer		buf;
		bool		free_page;

		if (bms_is_member((int) blkno, cs.reached))
			continue;
		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(cs.index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		free_page = PageIsNew(BufferGetPage(buf)) || SortedPageIsDeleted(BufferGetPage(buf));
		UnlockReleaseBuffer(buf);
		if (!free_page)
			corrupt(&cs, blkno, 0, "a live page no sibling chain reaches");
	}

	index_close(cs.index, ShareLock);
	table_close(cs.heap, ShareLock);
	PG_RETURN_INT64(cs.entries);
}

Datum
nedb_sorted_stats(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	heap = table_open(heap_of_index(indexoid), AccessShareLock);
	Relation	index = open_sorted_index(indexoid, AccessShareLock);
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	int64		internal = 0,
				leaves = 0,
				empty = 0,
				deleted = 0,
				free = 0,
				entries = 0;
	uint32		level;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {0};
	Buffer		buf;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	buf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	level = SortedPageGetMeta(BufferGetPage(buf))->level;
	UnlockReleaseBuffer(buf);

	for (BlockNumber blkno = SORTED_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (sorted_page_recyclable(page))
			free++;
		else if (SortedPageIsDeleted(page))
			deleted++;
		else if (!SortedPageIsLeaf(page))
			internal++;
		else
		{
			int			n = PageGetMaxOffsetNumber(page) - SortedFirstData(page) + 1;

			leaves++;
			entries += n;
			if (n == 0)
				empty++;
		}
		UnlockReleaseBuffer(buf);
	}

	values[0] = Int32GetDatum(level + 1);
	values[1] = Int64GetDatum(nblocks);
	values[2] = Int64GetDatum(internal);
	values[3] = Int64GetDatum(leaves);
	values[4] = Int64GetDatum(empty);
	values[5] = Int64GetDatum(deleted);
	values[6] = Int64GetDatum(free);
	values[7] = Int64GetDatum(entries);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
