/*
 * sorted.h
 *	  nedb_sorted: a B+-tree index access method of our own.
 *
 * Layout.  Block 0 is the metapage (root block and level).  Every other
 * block is a tree page: a standard page of IndexTuples with SortedPageOpaque
 * in the special space.  Level 0 pages are leaves (t_tid = heap TID); higher
 * levels hold downlinks (t_tid's block = the child).  A page that is not the
 * rightmost of its level keeps its high key, an upper bound of every key on
 * it and below it, as item 1.  On an internal page the first data item is
 * the downlink to the leftmost child and its key is not used (minus
 * infinity); every other downlink's key is the high key of the child to its
 * left, so child j holds keys in [key_j, key_j+1].  Equal keys may sit on
 * both sides of a separator.
 *
 * Concurrency: Lehman and Yao.  Pages have right-links and high keys, so a
 * reader that reached a page through a stale downlink moves right until its
 * key is within the page's high key; readers and inserters hold one page lock
 * at a time.  Splits (structure changes) are serialized by a heavyweight
 * lock on block 0 and done top-down: a splitter locks the path from the
 * root, splitting ahead of time any internal page that could not take one
 * more downlink, so every split is ONE generic WAL record holding the split
 * page, its new right sibling, the parent's new downlink and the old right
 * sibling's left-link (a root split: old root, new sibling, new root,
 * metapage).  There is never an incomplete split to finish after a crash,
 * and the tree is always exactly what sorted_check expects.
 *
 * Deletion (sorted_vacuum.c) is a structure change too: under the same
 * lock, an empty leaf that is not its parent's rightmost child is unlinked
 * in one generic WAL record (the leaf, its two siblings, the parent) and its
 * key range merged into its right sibling, so a reader that arrives at it
 * through a stale link moves right, as it would after a split.  The deleted
 * page keeps its links and the next transaction id of the moment; it is
 * recycled (through the free space map) only once every snapshot that could
 * still hold a link to it is gone.  Internal pages are never deleted.
 *
 * Keys: one column compared by the opclass's support function 1 (a btree
 * style 3-way comparison); SQL NULLs sort after every value.  The jsonb
 * opclass stores an array or object under a placeholder ([] or {}): under
 * NEDB ordering all arrays are equal, as are all objects, so the placeholder
 * orders exactly like the value and no document blocks a write.
 */
#ifndef NEDB_SORTED_H
#define NEDB_SORTED_H

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/itup.h"
#include "access/transam.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

#define SORTED_MAGIC		0x4E534F52	/* "NSOR" */
/* 2: the metapage records the classes of the keys (key_classes); 1 did not */
#define SORTED_VERSION		2
#define SORTED_METAPAGE_BLKNO	0
#define SORTED_CMP_PROC		1
#define SORTED_NPROC		1

/* page flags */
#define SORTED_META			(1 << 0)
#define SORTED_LEAF			(1 << 1)
#define SORTED_DELETED		(1 << 2)	/* unlinked leaf, see sorted_vacuum.c */

typedef struct SortedPageOpaqueData
{
	BlockNumber left;			/* InvalidBlockNumber: leftmost of its level */
	BlockNumber right;			/* InvalidBlockNumber: rightmost */
	uint16		level;			/* 0 = leaf */
	uint16		flags;
	uint16		unused;
	uint16		page_id;		/* SORTED_PAGE_ID, for pg_filedump */
} SortedPageOpaqueData;

typedef SortedPageOpaqueData *SortedPageOpaque;

#define SORTED_PAGE_ID		0xFF86

#define SortedPageGetOpaque(page) ((SortedPageOpaque) PageGetSpecialPointer(page))
#define SortedPageIsLeaf(page)	((SortedPageGetOpaque(page)->flags & SORTED_LEAF) != 0)
#define SortedPageIsRightmost(page) (SortedPageGetOpaque(page)->right == InvalidBlockNumber)
#define SortedPageIsDeleted(page) ((SortedPageGetOpaque(page)->flags & SORTED_DELETED) != 0)
/* the high key is item 1 on all but the rightmost page */
#define SORTED_HIKEY		((OffsetNumber) 1)
#define SortedFirstData(page) \
	(SortedPageIsRightmost(page) ? FirstOffsetNumber : OffsetNumberNext(SORTED_HIKEY))

typedef struct SortedMetaData
{
	uint32		magic;
	uint32		version;
	BlockNumber root;
	uint32		level;			/* the root's level */
	uint32		vacuum_active;	/* a bulk delete is walking: do not reuse pages */
	uint32		key_classes;	/* SORTED_KEYS_* of every key ever inserted (version 2) */
} SortedMetaData;

/*
 * The classes of jsonb keys, as NQL orders them: NEDB order is NQL's for a
 * field while its keys are all of one class (null aside).  A bit is set
 * before the first key of its class goes in and cleared only by a rebuild,
 * so a reader of the metapage knows the index's order without a probe.
 */
#define SORTED_KEYS_NUMBERS		0x01	/* numbers and booleans */
#define SORTED_KEYS_STRINGS		0x02
#define SORTED_KEYS_OTHER		0x04	/* arrays and objects */

/* the contents of a deleted page */
typedef struct SortedDeletedData
{
	FullTransactionId safexid;	/* recyclable once no snapshot precedes it */
} SortedDeletedData;

#define SortedPageGetDeleted(page) ((SortedDeletedData *) PageGetContents(page))

#define SortedPageGetMeta(page) ((SortedMetaData *) PageGetContents(page))

/*
 * Largest index tuple: three must fit on a page, so a split always leaves
 * both halves non-empty and a parent can always take a downlink.
 */
#define SORTED_MAX_ITEM \
	MAXALIGN_DOWN((BLCKSZ - SizeOfPageHeaderData - \
				   MAXALIGN(sizeof(SortedPageOpaqueData))) / 3 - sizeof(ItemIdData))

/* build fill: leave 10% free on leaves as btree does */
#define SORTED_LEAF_FILL	90

/* the comparison of one index: support function 1 and its collation */
typedef struct SortedCmp
{
	FmgrInfo	proc;
	Oid			collation;
	bool		jsonb;			/* the jsonb opclass: placeholders */
	bool		int8;			/* support 1 is btint8cmp: compared inline */
} SortedCmp;

/* a search key: a value (possibly NULL, which sorts last) or an infinity */
typedef struct SortedKey
{
	Datum		value;
	bool		isnull;
	int8		inf;			/* -1 minus infinity, +1 plus infinity, 0 value */
	FmgrInfo   *cross;			/* value of another type: cmp(index value, it) */
} SortedKey;

/* sorted_page.c */
extern void sorted_cmp_init(Relation index, SortedCmp *cmp);
extern int	sorted_compare_datums(SortedCmp *cmp, Datum a, bool anull,
								  Datum b, bool bnull);
extern int	sorted_compare_key(Relation index, SortedCmp *cmp,
							   const SortedKey *key, IndexTuple itup);
extern int	sorted_compare_tuples(Relation index, SortedCmp *cmp,
								  IndexTuple a, IndexTuple b);
extern void sorted_init_page(Page page, uint16 flags, uint16 level);
extern void sorted_init_metapage(Page page, BlockNumber root, uint32 level);
extern uint32 sorted_key_class(SortedCmp *cmp, Datum value, bool isnull);
extern void sorted_note_key_class(Relation index, uint32 key_class);
extern bool sorted_key_classes(Relation index, uint32 *classes);
extern Buffer sorted_new_buffer(Relation index);
extern Buffer sorted_alloc_buffer(Relation index);
extern bool sorted_page_recyclable(Page page);
extern bool sorted_vacuum_active(Relation index);
extern IndexTuple sorted_form_tuple(Relation index, SortedCmp *cmp,
									Datum value, bool isnull, ItemPointer tid);
extern BlockNumber sorted_downlink(IndexTuple itup);
extern void sorted_set_downlink(IndexTuple itup, BlockNumber child);
extern OffsetNumber sorted_binsearch(Relation index, SortedCmp *cmp, Page page,
									 const SortedKey *key, bool nextkey);
extern bool sorted_move_right(Relation index, SortedCmp *cmp, Page page,
							  const SortedKey *key, bool nextkey);
extern Buffer sorted_descend(Relation index, SortedCmp *cmp,
							 const SortedKey *key, bool nextkey, int leaf_lock);
extern void sorted_page_add(Page page, IndexTuple itup, OffsetNumber off);
extern BlockNumber sorted_cached_rightmost(Relation index);
extern void sorted_cache_rightmost(Relation index, BlockNumber blkno);
extern GenericXLogState *sorted_generic_start(Relation index);
extern Page sorted_register_buffer(GenericXLogState *state, Buffer buf, int flags);
extern XLogRecPtr sorted_generic_finish(GenericXLogState *state);

/* sorted_xlog.c */
extern void sorted_xlog_init(void);
extern void sorted_leaf_insert(Relation index, Buffer buf, IndexTuple itup,
							   OffsetNumber off);
extern bool sorted_can_delete(Relation index);
extern void sorted_leaf_delete(Relation index, Relation heap, Buffer buf,
							   OffsetNumber *offs, int n);

/* sorted_insert.c */
extern bool sorted_insert(Relation index, Datum *values, bool *isnull,
						  ItemPointer ht_ctid, Relation heapRel,
						  IndexUniqueCheck checkUnique, bool indexUnchanged,
						  struct IndexInfo *indexInfo);

/* sorted_build.c */
extern IndexBuildResult *sorted_build(Relation heap, Relation index,
									  struct IndexInfo *indexInfo);
extern void sorted_buildempty(Relation index);

/* sorted_scan.c */
extern IndexScanDesc sorted_beginscan(Relation index, int nkeys, int norderbys);
extern void sorted_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
						  ScanKey orderbys, int norderbys);
extern bool sorted_gettuple(IndexScanDesc scan, ScanDirection dir);
extern int64 sorted_getbitmap(IndexScanDesc scan, TIDBitmap *tbm);
extern void sorted_endscan(IndexScanDesc scan);
extern bool sorted_edge_key(Relation index, const Datum *below, Datum *value,
							bool *isnull);

/* sorted_vacuum.c */
extern IndexBulkDeleteResult *sorted_bulkdelete(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats,
												IndexBulkDeleteCallback callback,
												void *callback_state);
extern IndexBulkDeleteResult *sorted_vacuumcleanup(IndexVacuumInfo *info,
												   IndexBulkDeleteResult *stats);

/* sorted_handler.c */
extern void sorted_costestimate(PlannerInfo *root, IndexPath *path,
								double loop_count, Cost *indexStartupCost,
								Cost *indexTotalCost,
								Selectivity *indexSelectivity,
								double *indexCorrelation, double *indexPages);

#endif
