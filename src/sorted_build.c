/*
 * sorted_build.c
 *	  nedb_sorted: bulk build (sort, then fill pages bottom-up) and the init
 *	  fork of an unlogged index.
 *
 * The heap's keys are sorted by the opclass's "<" (a btree ordering
 * operator, so its sort support applies): in an array of (key, heap TID)
 * while that fits in maintenance_work_mem (equal keys in heap order), else
 * through a tuplesort that spills to disk.  Leaves are then filled left to
 * right to SORTED_LEAF_FILL%, each level above built from the first keys of
 * the level below.  Pages are written through shared buffers in block order and
 * WAL-logged as full images at the end, as btree and GiST sorted builds do.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/smgr.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sortsupport.h"
#include "utils/tuplesort.h"

#include "sorted.h"

typedef struct BuildItem
{
	Datum		key;
	ItemPointerData tid;
	bool		isnull;
} BuildItem;

typedef struct BuildState
{
	Relation	index;
	SortedCmp	cmp;
	double		indtuples;
	/* in memory while it fits */
	BuildItem  *items;
	int64		nitems;
	int64		maxitems;
	MemoryContext keycxt;		/* copies of by-reference keys */
	Size		limit;
	SortSupportData ssup;
	bool		byval;
	int16		typlen;
	/* else a tuplesort */
	Tuplesortstate *sort;
	TupleDesc	sortdesc;
	Oid			ltop;
	TupleTableSlot *slot;		/* virtual: into the sort */
	TupleTableSlot *sorted;		/* minimal: out of it */
	uint32		key_classes;	/* SORTED_KEYS_* of the keys */
} BuildState;

/* one level being filled left to right */
typedef struct LevelBuild
{
	Relation	index;
	uint16		level;
	Page		page;			/* the current page, not yet written */
	BlockNumber blkno;			/* its block (pages are written in order) */
	IndexTuple	first;			/* its first data item */
	List	   *downlinks;		/* (first key, block) of every page written */
	Size		leave_free;
} LevelBuild;

static int
compare_items(const void *a, const void *b, void *arg)
{
	const BuildItem *x = a;
	const BuildItem *y = b;
	int			c = ApplySortComparator(x->key, x->isnull, y->key, y->isnull,
										(SortSupport) arg);

	return c != 0 ? c : ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

static void
sort_put(BuildState *bs, Datum key, bool isnull, ItemPointer tid)
{
	ExecClearTuple(bs->slot);
	bs->slot->tts_values[0] = key;
	bs->slot->tts_isnull[0] = isnull;
	bs->slot->tts_values[1] = PointerGetDatum(tid);
	bs->slot->tts_isnull[1] = false;
	ExecStoreVirtualTuple(bs->slot);
	tuplesort_puttupleslot(bs->sort, bs->slot);
}

/* the keys no longer fit in memory: move them to a tuplesort */
static void
spill(BuildState *bs)
{
	Oid			collation = bs->index->rd_indcollation[0];
	AttrNumber	attno = 1;
	bool		nullsfirst = false;

	bs->sort = tuplesort_begin_heap(bs->sortdesc, 1, &attno, &bs->ltop, &collation,
									&nullsfirst, maintenance_work_mem, NULL,
									TUPLESORT_NONE);
	for (int64 i = 0; i < bs->nitems; i++)
		sort_put(bs, bs->items[i].key, bs->items[i].isnull, &bs->items[i].tid);
	pfree(bs->items);
	bs->items = NULL;
	MemoryContextDelete(bs->keycxt);
}

/*
 * The key goes into the sort as it is: the placeholder of the jsonb opclass
 * orders like the value, so tuples are formed (and checked for size) on the
 * way out.
 */
static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	BuildState *bs = (BuildState *) state;
	BuildItem  *it;

	bs->indtuples++;
	bs->key_classes |= sorted_key_class(&bs->cmp, values[0], isnull[0]);
	if (bs->sort)
	{
		sort_put(bs, values[0], isnull[0], tid);
		return;
	}
	if (bs->nitems == bs->maxitems)
	{
		bs->maxitems *= 2;
		bs->items = repalloc_huge(bs->items, sizeof(BuildItem) * bs->maxitems);
	}
	it = &bs->items[bs->nitems++];
	it->key = values[0];
	it->isnull = isnull[0];
	it->tid = *tid;
	if (!isnull[0] && !bs->byval)
	{
		MemoryContext old = MemoryContextSwitchTo(bs->keycxt);

		it->key = datumCopy(values[0], false, bs->typlen);
		MemoryContextSwitchTo(old);
	}
	if ((bs->nitems & 1023) == 0 &&
		sizeof(BuildItem) * bs->maxitems + MemoryContextMemAllocated(bs->keycxt, true) > bs->limit)
		spill(bs);
}

static void
write_page(Relation index, Page page, BlockNumber expected)
{
	Buffer		buf = ReadBuffer(index, P_NEW);

	if (BufferGetBlockNumber(buf) != expected)
		elog(ERROR, "nedb_sorted build: got block %u, expected %u",
			 BufferGetBlockNumber(buf), expected);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	memcpy(BufferGetPage(buf), page, BLCKSZ);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

static void
level_start(LevelBuild *lb, BlockNumber blkno, BlockNumber left)
{
	sorted_init_page(lb->page, lb->level == 0 ? SORTED_LEAF : 0, lb->level);
	SortedPageGetOpaque(lb->page)->left = left;
	lb->blkno = blkno;
	lb->first = NULL;
}

static void
level_init(LevelBuild *lb, Relation index, uint16 level, BlockNumber blkno)
{
	lb->index = index;
	lb->level = level;
	lb->page = palloc(BLCKSZ);
	lb->downlinks = NIL;
	lb->leave_free = (BLCKSZ - SizeOfPageHeaderData -
					  MAXALIGN(sizeof(SortedPageOpaqueData))) * (100 - SORTED_LEAF_FILL) / 100;
	level_start(lb, blkno, InvalidBlockNumber);
}

static void
level_note_downlink(LevelBuild *lb)
{
	IndexTuple	d = CopyIndexTuple(lb->first);

	sorted_set_downlink(d, lb->blkno);
	lb->downlinks = lappend(lb->downlinks, d);
}

static void
level_add_here(LevelBuild *lb, IndexTuple itup)
{
	sorted_page_add(lb->page, itup, InvalidOffsetNumber);
	if (lb->first == NULL)
		lb->first = CopyIndexTuple(itup);
}

/*
 * Close the current page because next does not go on it: the high key is
 * next's key, or that of the last items moved over to make room for it.
 */
static void
level_next_page(LevelBuild *lb, IndexTuple next)
{
	List	   *carry = NIL;
	IndexTuple	hikey = next;
	ListCell   *lc;

	while (PageGetFreeSpace(lb->page) < MAXALIGN(IndexTupleSize(hikey)))
	{
		OffsetNumber last = PageGetMaxOffsetNumber(lb->page);

		if (last <= FirstOffsetNumber)
			elog(ERROR, "nedb_sorted build: no room for a high key");
		hikey = CopyIndexTuple((IndexTuple) PageGetItem(lb->page, PageGetItemId(lb->page, last)));
		carry = lcons(hikey, carry);
		PageIndexTupleDelete(lb->page, last);
	}
	sorted_page_add(lb->page, hikey, SORTED_HIKEY);
	SortedPageGetOpaque(lb->page)->right = lb->blkno + 1;
	write_page(lb->index, lb->page, lb->blkno);
	level_note_downlink(lb);
	level_start(lb, lb->blkno + 1, lb->blkno);
	foreach(lc, carry)
		level_add_here(lb, lfirst(lc));
}

static void
level_add(LevelBuild *lb, IndexTuple itup)
{
	if (lb->first != NULL &&
		(Size) PageGetFreeSpace(lb->page) < MAXALIGN(IndexTupleSize(itup)) + lb->leave_free)
		level_next_page(lb, itup);
	level_add_here(lb, itup);
}

/* write the last (rightmost) page; the downlinks for the level above */
static List *
level_finish(LevelBuild *lb)
{
	write_page(lb->index, lb->page, lb->blkno);
	if (lb->first == NULL)
	{
		/* an empty index: one empty leaf; its downlink key is never used */
		bool		isnull = true;
		Datum		d = (Datum) 0;

		lb->first = index_form_tuple(RelationGetDescr(lb->index), &d, &isnull);
	}
	level_note_downlink(lb);
	return lb->downlinks;
}

IndexBuildResult *
sorted_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	BuildState	bs;
	Form_pg_attribute keyatt;
	Oid			collation = index->rd_indcollation[0];
	double		reltuples;
	LevelBuild	lb;
	List	   *downlinks;
	uint16		level = 0;
	BlockNumber nblocks;
	Buffer		metabuf;
	Page		page;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	if (index->rd_indoption[0] != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("nedb_sorted does not support DESC or NULLS FIRST"),
				 errhint("The index scans backward as well as forward.")));

	memset(&bs, 0, sizeof(bs));
	sorted_cmp_init(index, &bs.cmp);
	bs.index = index;
	bs.ltop = get_opfamily_member(index->rd_opfamily[0], index->rd_opcintype[0],
								  index->rd_opcintype[0], BTLessStrategyNumber);
	if (!OidIsValid(bs.ltop))
		elog(ERROR, "nedb_sorted: operator class has no < operator");
	keyatt = TupleDescAttr(RelationGetDescr(index), 0);
	bs.byval = keyatt->attbyval;
	bs.typlen = keyatt->attlen;
	bs.maxitems = 1024;
	bs.items = palloc(sizeof(BuildItem) * bs.maxitems);
	bs.keycxt = AllocSetContextCreate(CurrentMemoryContext, "nedb_sorted build keys",
									  ALLOCSET_DEFAULT_SIZES);
	bs.limit = (Size) maintenance_work_mem * 1024;
	bs.ssup.ssup_cxt = CurrentMemoryContext;
	bs.ssup.ssup_collation = collation;
	bs.ssup.ssup_nulls_first = false;
	PrepareSortSupportFromOrderingOp(bs.ltop, &bs.ssup);
	bs.sortdesc = CreateTemplateTupleDesc(2);
	TupleDescInitEntry(bs.sortdesc, 1, "key", keyatt->atttypid, -1, 0);
	TupleDescInitEntryCollation(bs.sortdesc, 1, collation);
	TupleDescInitEntry(bs.sortdesc, 2, "tid", TIDOID, -1, 0);
	bs.slot = MakeSingleTupleTableSlot(bs.sortdesc, &TTSOpsVirtual);
	bs.sorted = MakeSingleTupleTableSlot(bs.sortdesc, &TTSOpsMinimalTuple);

	/* block 0 is the metapage, filled in at the end */
	page = palloc0(BLCKSZ);
	sorted_init_metapage(page, InvalidBlockNumber, 0);
	write_page(index, page, SORTED_METAPAGE_BLKNO);

	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, &bs, NULL);

	level_init(&lb, index, 0, 1);
	if (bs.sort == NULL)
	{
		qsort_arg(bs.items, bs.nitems, sizeof(BuildItem), compare_items, &bs.ssup);
		for (int64 i = 0; i < bs.nitems; i++)
		{
			IndexTuple	itup;

			if ((i & 4095) == 0)
				CHECK_FOR_INTERRUPTS();
			itup = sorted_form_tuple(index, &bs.cmp, bs.items[i].key, bs.items[i].isnull,
									 &bs.items[i].tid);
			level_add(&lb, itup);
			pfree(itup);
		}
		pfree(bs.items);
		MemoryContextDelete(bs.keycxt);
	}
	else
	{
		tuplesort_performsort(bs.sort);
		while (tuplesort_gettupleslot(bs.sort, true, false, bs.sorted, NULL))
		{
			bool		isnull;
			Datum		key;
			ItemPointer tid;
			IndexTuple	itup;

			CHECK_FOR_INTERRUPTS();
			slot_getallattrs(bs.sorted);
			key = bs.sorted->tts_values[0];
			isnull = bs.sorted->tts_isnull[0];
			tid = (ItemPointer) DatumGetPointer(bs.sorted->tts_values[1]);
			itup = sorted_form_tuple(index, &bs.cmp, key, isnull, tid);
			level_add(&lb, itup);
			pfree(itup);
		}
		tuplesort_end(bs.sort);
	}
	downlinks = level_finish(&lb);

	/* the levels above, until one page holds them all */
	while (list_length(downlinks) > 1)
	{
		List	   *below = downlinks;
		ListCell   *lc;

		level++;
		level_init(&lb, index, level, RelationGetNumberOfBlocks(index));
		foreach(lc, below)
			level_add(&lb, lfirst(lc));
		downlinks = level_finish(&lb);
	}

	metabuf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	sorted_init_metapage(BufferGetPage(metabuf),
						 sorted_downlink(linitial(downlinks)), level);
	SortedPageGetMeta(BufferGetPage(metabuf))->key_classes = bs.key_classes;
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	nblocks = RelationGetNumberOfBlocks(index);
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, nblocks, true);

	ExecDropSingleTupleTableSlot(bs.slot);
	ExecDropSingleTupleTableSlot(bs.sorted);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/* the init fork of an unlogged index: a metapage and an empty root leaf */
void
sorted_buildempty(Relation index)
{
	Page		page = palloc0(BLCKSZ);

	sorted_init_metapage(page, 1, 0);
	PageSetChecksumInplace(page, SORTED_METAPAGE_BLKNO);
	smgrextend(RelationGetSmgr(index), INIT_FORKNUM, SORTED_METAPAGE_BLKNO,
			   (char *) page, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				SORTED_METAPAGE_BLKNO, page, true);

	sorted_init_page(page, SORTED_LEAF, 0);
	PageSetChecksumInplace(page, 1);
	smgrextend(RelationGetSmgr(index), INIT_FORKNUM, 1, (char *) page, true);
	log_newpage(&(RelationGetSmgr(index))->smgr_rnode.node, INIT_FORKNUM,
				1, page, true);
	smgrimmedsync(RelationGetSmgr(index), INIT_FORKNUM);
}
