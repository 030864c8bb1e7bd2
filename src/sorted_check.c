/*
 * sorted_check.c
 *	  nedb.sorted_check(index): verify a nedb_sorted index's structure.
 *
 * Checks, level by level from the root down: page kind and level, sibling
 * links both ways, keys in order on each page and within the page's bounds
 * (its left sibling's high key, its own high key), that the downlinks of
 * each internal page name exactly a run of siblings of the level below with
 * matching bounds (a child's high key is the next separator), that the runs
 * of neighbouring parents join up, that every leaf entry's heap TID is a
 * used line pointer of the table, and that every block no chain reaches is
 * free (deleted or never initialized).  The first violation is an error with
 * SQLSTATE XX002 (index_corrupted).
 *
 * Locks, as amcheck's bt_index_check: AccessShareLock on the table and the
 * index, so writers and VACUUM go on.  What the checks need still is taken
 * in small pieces:
 *
 *	- Structure (links, downlinks, high keys) changes only under the
 *	  heavyweight structure lock on block 0 (splits and page deletions take
 *	  it in ExclusiveLock, see sorted.h).  The checker takes it in ShareLock
 *	  for one parent at a time: the parent, its two siblings and its
 *	  children, read and compared while no split or deletion can run.  A
 *	  writer that must split waits for at most that (one page's fan-out of
 *	  page copies, no I/O beyond them), never for the whole walk; leaf
 *	  inserts without a split do not wait at all.  Between two parents the
 *	  tree may change: the next parent is the previous one's right sibling
 *	  as of the next piece, so pages split off meanwhile are walked too.
 *	- Keys within bounds: a leaf insert puts a key in the page whose bounds
 *	  it is within, under the page's lock, and bounds change only under the
 *	  structure lock, so a page copied under that lock agrees with the
 *	  bounds read with it.
 *	- Heap TIDs are checked with the leaf locked (share): VACUUM removes an
 *	  entry from its leaf before it marks the heap line pointer unused, and
 *	  cannot remove it while we hold the leaf, so a used line pointer is
 *	  required exactly.  Leaf lock, then heap page lock: the order btree's
 *	  unique check uses.
 *	- A block no walk reached (a page split off after its level was walked)
 *	  must be linked from its left sibling, or be the leftmost of its level,
 *	  checked under the structure lock; otherwise it must be free.
 *	- A page deleted meanwhile is not recycled while the check runs: the
 *	  check holds a registered snapshot, and recycling waits for every
 *	  snapshot older than the deletion.
 *
 * The entry count is exact when nothing writes meanwhile; with concurrent
 * writers it is the sum of each leaf's entries when that leaf was checked.
 * On a standby (WAL replay changes pages without the structure lock) the
 * check is refused: run it on the primary, whose pages the standby's are.
 *
 * Privileges: the index's owner, or a role with the privileges of
 * pg_stat_scan_tables (pg_monitor has them; superusers pass), as
 * pgstattuple's functions require: "monitoring functions that may take
 * ACCESS SHARE locks on tables, potentially for a long time".
 *
 * nedb.sorted_stats(index) counts pages by kind in one pass over the
 * blocks, under the ordinary read lock: a snapshot of a moving index.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

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
	Bitmapset  *reached;		/* tree pages the walk checked */
	bool		classes_known;	/* the metapage records key classes (version 2) */
	uint32		key_classes;	/* ... as last read */
} CheckState;

static void
corrupt(CheckState *cs, BlockNumber blkno, OffsetNumber off, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is corrupted", RelationGetRelationName(cs->index)),
			 errdetail("Block %u, item %u: %s.", blkno, off, what)));
}

static void
structure_lock(CheckState *cs)
{
	LockPage(cs->index, SORTED_METAPAGE_BLKNO, ShareLock);
}

static void
structure_unlock(CheckState *cs)
{
	UnlockPage(cs->index, SORTED_METAPAGE_BLKNO, ShareLock);
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

	if (blk >= cs->heap_blocks)
		cs->heap_blocks = RelationGetNumberOfBlocks(cs->heap);	/* it grew */
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

static bool
page_is_free(Page page)
{
	return PageIsNew(page) ||
		(SortedPageGetOpaque(page)->page_id == SORTED_PAGE_ID && SortedPageIsDeleted(page));
}

/* a copy of block blkno, read under its share lock */
static void
read_copy(CheckState *cs, BlockNumber blkno, Page dst)
{
	Buffer		buf;

	if (blkno == SORTED_METAPAGE_BLKNO || blkno >= RelationGetNumberOfBlocks(cs->index))
		corrupt(cs, blkno, 0, "link to a block outside the tree");
	buf = ReadBuffer(cs->index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	memcpy(dst, BufferGetPage(buf), BLCKSZ);
	UnlockReleaseBuffer(buf);
}

/* a live tree page of the level; read under the structure lock */
static void
check_tree_page(CheckState *cs, BlockNumber blkno, Page page, uint32 level)
{
	SortedPageOpaque op = SortedPageGetOpaque(page);

	if (PageIsNew(page) || op->page_id != SORTED_PAGE_ID || (op->flags & SORTED_META))
		corrupt(cs, blkno, 0, "not a tree page");
	if (SortedPageIsDeleted(page))
		corrupt(cs, blkno, 0, "link to a deleted page");
	if (op->level != level || SortedPageIsLeaf(page) != (level == 0))
		corrupt(cs, blkno, 0, psprintf("page at level %u where level %u is expected", op->level, level));
	if (!SortedPageIsRightmost(page) && PageGetMaxOffsetNumber(page) < SORTED_HIKEY)
		corrupt(cs, blkno, 0, "no high key");
	if (level > 0 && SortedFirstData(page) > PageGetMaxOffsetNumber(page))
		corrupt(cs, blkno, 0, "internal page without downlinks");
}

static IndexTuple
high_key(Page page)
{
	return SortedPageIsRightmost(page) ? NULL : item(page, SORTED_HIKEY);
}

/*
 * The page's keys are in order, within [lowkey, its high key] (NULL: no
 * bound), and its high key is the bound its parent gives (NULL: rightmost).
 */
static void
check_keys(CheckState *cs, BlockNumber blkno, Page page, IndexTuple lowkey,
		   IndexTuple bound)
{
	IndexTuple	hikey = high_key(page);
	OffsetNumber first = SortedFirstData(page);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	bool		leaf = SortedPageIsLeaf(page);

	if ((bound == NULL) != (hikey == NULL) ||
		(bound && sorted_compare_tuples(cs->index, &cs->cmp, hikey, bound) != 0))
		corrupt(cs, blkno, SORTED_HIKEY, "high key differs from the parent's separator");
	for (OffsetNumber off = first; off <= maxoff; off++)
	{
		IndexTuple	it = item(page, off);

		if (!leaf && off == first)
			continue;			/* minus infinity */
		if (off > first && !(!leaf && off == first + 1) &&
			sorted_compare_tuples(cs->index, &cs->cmp, item(page, off - 1), it) > 0)
			corrupt(cs, blkno, off, "key out of order on the page");
		if (hikey && sorted_compare_tuples(cs->index, &cs->cmp, it, hikey) > 0)
			corrupt(cs, blkno, off, "key above the page's high key");
		if (lowkey && sorted_compare_tuples(cs->index, &cs->cmp, it, lowkey) < 0)
			corrupt(cs, blkno, off, "key below the left sibling's high key");
	}
}

static SortedMetaData read_meta(CheckState *cs);

/*
 * Every entry of a leaf names a used line pointer, and its key's class is
 * on the metapage (the order verdict of NQL's direct path rests on it);
 * counts them.
 */
static void
check_leaf_tids(CheckState *cs, BlockNumber blkno)
{
	Buffer		buf = ReadBuffer(cs->index, blkno);
	Page		page;
	OffsetNumber unrecorded = InvalidOffsetNumber;
	uint32		unrecorded_class = 0;

	CHECK_FOR_INTERRUPTS();
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	/* deleted since its parent was checked: its entries had gone */
	if (!page_is_free(page) && SortedPageGetOpaque(page)->page_id == SORTED_PAGE_ID &&
		SortedPageIsLeaf(page))
	{
		for (OffsetNumber off = SortedFirstData(page); off <= PageGetMaxOffsetNumber(page); off++)
		{
			IndexTuple	it = item(page, off);

			if (!heap_tid_used(cs, &it->t_tid))
				corrupt(cs, blkno, off,
						psprintf("heap TID (%u,%u) is not a used line pointer of \"%s\"",
								 ItemPointerGetBlockNumberNoCheck(&it->t_tid),
								 ItemPointerGetOffsetNumberNoCheck(&it->t_tid),
								 RelationGetRelationName(cs->heap)));
			if (cs->classes_known && unrecorded == InvalidOffsetNumber)
			{
				bool		isnull;
				Datum		key = index_getattr(it, 1, RelationGetDescr(cs->index), &isnull);
				uint32		c = sorted_key_class(&cs->cmp, key, isnull);

				if ((cs->key_classes & c) != c)
				{
					unrecorded = off;
					unrecorded_class = c;
				}
			}
			cs->entries++;
		}
	}
	UnlockReleaseBuffer(buf);

	/* an insert sets the bit before its entry goes in: read it again */
	if (unrecorded != InvalidOffsetNumber)
	{
		(void) read_meta(cs);
		if ((cs->key_classes & unrecorded_class) != unrecorded_class)
			corrupt(cs, blkno, unrecorded,
					psprintf("key of class 0x%x not recorded on the metapage (key classes 0x%x)",
							 unrecorded_class, cs->key_classes));
	}
}

/* the metapage, checked; under the structure lock */
static SortedMetaData
read_meta(CheckState *cs)
{
	Buffer		metabuf = ReadBuffer(cs->index, SORTED_METAPAGE_BLKNO);
	SortedMetaData meta;

	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	meta = *SortedPageGetMeta(BufferGetPage(metabuf));
	UnlockReleaseBuffer(metabuf);
	if (meta.magic != SORTED_MAGIC || meta.version < 1 || meta.version > SORTED_VERSION)
		corrupt(cs, SORTED_METAPAGE_BLKNO, 0, "bad metapage magic or version");
	cs->classes_known = meta.version >= 2;
	cs->key_classes = meta.key_classes;
	return meta;
}

/* the leftmost page of a level now, or InvalidBlockNumber; under the structure lock */
static BlockNumber
leftmost_of_level(CheckState *cs, uint32 level, Page scratch)
{
	SortedMetaData meta = read_meta(cs);
	BlockNumber blkno = meta.root;

	if (level > meta.level)
		return InvalidBlockNumber;
	for (uint32 l = meta.level; l > level; l--)
	{
		read_copy(cs, blkno, scratch);
		check_tree_page(cs, blkno, scratch, l);
		blkno = sorted_downlink(item(scratch, SortedFirstData(scratch)));
	}
	return blkno;
}

/*
 * Check one internal page at level (> 0) and its children, under the
 * structure lock.  left is the page's left sibling (InvalidBlockNumber: the
 * leftmost).  Returns the page's block (its right sibling is the next) and
 * appends its children to *leaves when they are leaves.
 */
static BlockNumber
check_parent(CheckState *cs, uint32 level, BlockNumber left, BlockNumber blkno,
			 List **leaves, BlockNumber *first_child, Page ppage, Page lpage,
			 Page rpage, Page cpage)
{
	IndexTuple	lowkey = NULL;
	BlockNumber left_last = InvalidBlockNumber;
	BlockNumber right_first = InvalidBlockNumber;
	BlockNumber prev_child;
	OffsetNumber first,
				maxoff;
	SortedPageOpaque op;

	read_copy(cs, blkno, ppage);
	check_tree_page(cs, blkno, ppage, level);
	op = SortedPageGetOpaque(ppage);
	if (op->left != left)
		corrupt(cs, blkno, 0, psprintf("left-link %u, expected %u", op->left, left));
	if (left != InvalidBlockNumber)
	{
		read_copy(cs, left, lpage);
		check_tree_page(cs, left, lpage, level);
		if (SortedPageGetOpaque(lpage)->right != blkno)
			corrupt(cs, left, 0, psprintf("right-link %u, but block %u links back to it",
										  SortedPageGetOpaque(lpage)->right, blkno));
		lowkey = high_key(lpage);
		if (lowkey == NULL)
			corrupt(cs, left, 0, "a page with a right sibling has no high key");
		left_last = sorted_downlink(item(lpage, PageGetMaxOffsetNumber(lpage)));
	}
	if (op->right != InvalidBlockNumber)
	{
		read_copy(cs, op->right, rpage);
		check_tree_page(cs, op->right, rpage, level);
		if (SortedPageGetOpaque(rpage)->left != blkno)
			corrupt(cs, op->right, 0, psprintf("left-link %u, expected %u",
											   SortedPageGetOpaque(rpage)->left, blkno));
		right_first = sorted_downlink(item(rpage, SortedFirstData(rpage)));
	}

	first = SortedFirstData(ppage);
	maxoff = PageGetMaxOffsetNumber(ppage);
	prev_child = left_last;
	*first_child = sorted_downlink(item(ppage, first));
	for (OffsetNumber off = first; off <= maxoff; off++)
	{
		BlockNumber child = sorted_downlink(item(ppage, off));
		BlockNumber next = off < maxoff ? sorted_downlink(item(ppage, off + 1)) : right_first;
		SortedPageOpaque cop;

		read_copy(cs, child, cpage);
		check_tree_page(cs, child, cpage, level - 1);
		cop = SortedPageGetOpaque(cpage);
		if (cop->left != prev_child)
			corrupt(cs, child, 0, psprintf("left-link %u, expected %u", cop->left, prev_child));
		if (cop->right != next)
			corrupt(cs, child, 0,
					psprintf("right-link %u, but the next downlink at level %u names %u",
							 cop->right, level, next));
		/* child j holds keys in [key j (the parent's lower bound for j = 0), key j+1] */
		check_keys(cs, child, cpage, off == first ? lowkey : item(ppage, off),
				   off < maxoff ? item(ppage, off + 1) : high_key(ppage));
		/* a leaf reached before came under this parent by a split meanwhile */
		if (level == 1 && !bms_is_member((int) child, cs->reached))
			*leaves = lappend_int(*leaves, (int) child);
		cs->reached = bms_add_member(cs->reached, (int) child);
		prev_child = child;
	}
	return blkno;
}

/* a live page no walk reached: split off meanwhile (linked) or an orphan */
static void
check_unreached(CheckState *cs, BlockNumber blkno, Page page, Page scratch)
{
	SortedPageOpaque op;
	bool		linked;

	read_copy(cs, blkno, page);
	if (page_is_free(page))
		return;
	structure_lock(cs);
	read_copy(cs, blkno, page);
	op = SortedPageGetOpaque(page);
	if (page_is_free(page))
		linked = true;
	else if (op->page_id != SORTED_PAGE_ID || (op->flags & SORTED_META))
		linked = false;
	else if (op->left != InvalidBlockNumber)
	{
		read_copy(cs, op->left, scratch);
		linked = !page_is_free(scratch) &&
			SortedPageGetOpaque(scratch)->page_id == SORTED_PAGE_ID &&
			SortedPageGetOpaque(scratch)->level == op->level &&
			SortedPageGetOpaque(scratch)->right == blkno;
	}
	else
		linked = leftmost_of_level(cs, op->level, scratch) == blkno;
	structure_unlock(cs);
	if (!linked)
		corrupt(cs, blkno, 0, "a live page no sibling chain reaches");
}

/*
 * The index's table, with the checks every caller needs before any lock:
 * that the relation exists and is a nedb_sorted index's kind of relation,
 * and (check) that the user may check it.
 */
static Oid
heap_of_index(Oid indexoid, const char *fn)
{
	char		relkind = get_rel_relkind(indexoid);
	Oid			heapoid;

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", indexoid)));
	if (relkind == RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partitioned index", get_rel_name(indexoid)),
				 errdetail("A partitioned index has no pages of its own."),
				 errhint("Run %s on the index of each partition.", fn)));
	if (relkind != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexoid))));
	if (!pg_class_ownercheck(indexoid, GetUserId()) &&
		!has_privs_of_role(GetUserId(), ROLE_PG_STAT_SCAN_TABLES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for index \"%s\"", get_rel_name(indexoid)),
				 errdetail("%s needs the index's owner or a member of pg_stat_scan_tables (pg_monitor is one).", fn)));
	heapoid = IndexGetRelation(indexoid, true);
	if (!OidIsValid(heapoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", indexoid)));
	return heapoid;
}

static void
open_sorted_index(Oid indexoid, Oid heapoid, const char *fn,
				  Relation *heap, Relation *index)
{
	Oid			amoid;

	*heap = table_open(heapoid, AccessShareLock);
	*index = index_open(indexoid, AccessShareLock);
	/* dropped and its OID reused before we locked it: as amcheck does */
	if (IndexGetRelation(indexoid, true) != heapoid)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("could not open the table of index \"%s\"", RelationGetRelationName(*index)),
				 errhint("The index was dropped or recreated meanwhile; run %s again.", fn)));
	if ((*index)->rd_indam->ambuild != sorted_build)
	{
		amoid = (*index)->rd_rel->relam;
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a nedb_sorted index", RelationGetRelationName(*index)),
				 errdetail("It is a %s index; %s checks nedb_sorted indexes only.",
						   get_am_name(amoid), fn)));
	}
	if (RELATION_IS_OTHER_TEMP(*index))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary index \"%s\" of another session",
						RelationGetRelationName(*index))));
}

Datum
nedb_sorted_check(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Oid			heapoid = heap_of_index(indexoid, "nedb.sorted_check");
	CheckState	cs;
	SortedMetaData meta;
	Snapshot	snap;
	Page		ppage = palloc(BLCKSZ);
	Page		lpage = palloc(BLCKSZ);
	Page		rpage = palloc(BLCKSZ);
	Page		cpage = palloc(BLCKSZ);
	BlockNumber leftmost;
	BlockNumber nblocks;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nedb.sorted_check cannot run during recovery"),
				 errdetail("WAL replay changes the index's pages without the locks the check relies on."),
				 errhint("Run it on the primary: a standby's index is the primary's, page for page.")));
	open_sorted_index(indexoid, heapoid, "nedb.sorted_check", &cs.heap, &cs.index);
	/* pages deleted from now on stay unrecycled until we are done */
	snap = RegisterSnapshot(GetTransactionSnapshot());
	cs.heap_blocks = RelationGetNumberOfBlocks(cs.heap);
	cs.entries = 0;
	cs.reached = NULL;
	sorted_cmp_init(cs.index, &cs.cmp);

	/* the root */
	structure_lock(&cs);
	meta = read_meta(&cs);
	read_copy(&cs, meta.root, ppage);
	check_tree_page(&cs, meta.root, ppage, meta.level);
	if (SortedPageGetOpaque(ppage)->left != InvalidBlockNumber ||
		SortedPageGetOpaque(ppage)->right != InvalidBlockNumber)
		corrupt(&cs, meta.root, 0, "the root has siblings");
	check_keys(&cs, meta.root, ppage, NULL, NULL);
	cs.reached = bms_add_member(cs.reached, (int) meta.root);
	structure_unlock(&cs);
	if (meta.level == 0)
		check_leaf_tids(&cs, meta.root);

	/* each level: one parent at a time, its children with it */
	leftmost = meta.root;
	for (uint32 level = meta.level; level >= 1; level--)
	{
		BlockNumber left = InvalidBlockNumber;
		BlockNumber next_leftmost = InvalidBlockNumber;

		for (;;)
		{
			List	   *leaves = NIL;
			BlockNumber blkno;
			BlockNumber first_child;
			ListCell   *lc;

			CHECK_FOR_INTERRUPTS();
			structure_lock(&cs);
			if (left == InvalidBlockNumber)
				blkno = leftmost;
			else
			{
				/* the right sibling of the last one as it is now */
				read_copy(&cs, left, lpage);
				blkno = SortedPageGetOpaque(lpage)->right;
			}
			if (blkno == InvalidBlockNumber)
			{
				structure_unlock(&cs);
				break;
			}
			check_parent(&cs, level, left, blkno, &leaves, &first_child,
						 ppage, lpage, rpage, cpage);
			structure_unlock(&cs);
			if (left == InvalidBlockNumber)
				next_leftmost = first_child;
			foreach(lc, leaves)
				check_leaf_tids(&cs, (BlockNumber) lfirst_int(lc));
			list_free(leaves);
			left = blkno;
		}
		leftmost = next_leftmost;
	}

	/* every other block is free (deleted or never initialized), or linked */
	nblocks = RelationGetNumberOfBlocks(cs.index);
	for (BlockNumber blkno = SORTED_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		if (bms_is_member((int) blkno, cs.reached))
			continue;
		CHECK_FOR_INTERRUPTS();
		check_unreached(&cs, blkno, ppage, cpage);
	}

	UnregisterSnapshot(snap);
	index_close(cs.index, AccessShareLock);
	table_close(cs.heap, AccessShareLock);
	PG_RETURN_INT64(cs.entries);
}

Datum
nedb_sorted_stats(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Oid			heapoid = heap_of_index(indexoid, "nedb.sorted_stats");
	Relation	heap;
	Relation	index;
	BlockNumber nblocks;
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

	open_sorted_index(indexoid, heapoid, "nedb.sorted_stats", &heap, &index);
	nblocks = RelationGetNumberOfBlocks(index);
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
