/*
 * sorted_page.c
 *	  nedb_sorted: key comparison, page layout and the descent of the tree.
 *
 * See sorted.h for the layout and the concurrency protocol.
 */
#include "postgres.h"

#include "access/relscan.h"
#include "catalog/pg_type.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "sorted.h"

void
sorted_cmp_init(Relation index, SortedCmp *cmp)
{
	fmgr_info_copy(&cmp->proc, index_getprocinfo(index, 1, SORTED_CMP_PROC),
				   CurrentMemoryContext);
	cmp->collation = index->rd_indcollation[0];
	cmp->jsonb = (index->rd_opcintype[0] == JSONBOID);
	cmp->int8 = (cmp->proc.fn_oid == F_BTINT8CMP);
}

/* a 3-way comparison of two key values; NULL sorts after every value */
int
sorted_compare_datums(SortedCmp *cmp, Datum a, bool anull, Datum b, bool bnull)
{
	int32		r;

	if (anull || bnull)
		return (anull ? 1 : 0) - (bnull ? 1 : 0);
	if (cmp->int8)
	{
		/* btint8cmp without the function call: every descent step needs it */
		int64		x = DatumGetInt64(a);
		int64		y = DatumGetInt64(b);

		return (x > y) - (x < y);
	}
	r = DatumGetInt32(FunctionCall2Coll(&cmp->proc, cmp->collation, a, b));
	return (r > 0) - (r < 0);
}

/* sign of (key - the tuple's key) */
int
sorted_compare_key(Relation index, SortedCmp *cmp, const SortedKey *key,
				   IndexTuple itup)
{
	bool		isnull;
	Datum		d;

	if (key->inf != 0)
		return key->inf;
	d = index_getattr(itup, 1, RelationGetDescr(index), &isnull);
	if (key->cross && !key->isnull && !isnull)
	{
		int32		r = DatumGetInt32(FunctionCall2Coll(key->cross, cmp->collation,
														d, key->value));

		return (r < 0) - (r > 0);
	}
	return sorted_compare_datums(cmp, key->value, key->isnull, d, isnull);
}

int
sorted_compare_tuples(Relation index, SortedCmp *cmp, IndexTuple a, IndexTuple b)
{
	SortedKey	k;

	k.inf = 0;
	k.cross = NULL;
	k.value = index_getattr(a, 1, RelationGetDescr(index), &k.isnull);
	return sorted_compare_key(index, cmp, &k, b);
}

void
sorted_init_page(Page page, uint16 flags, uint16 level)
{
	SortedPageOpaque op;

	PageInit(page, BLCKSZ, sizeof(SortedPageOpaqueData));
	op = SortedPageGetOpaque(page);
	op->left = InvalidBlockNumber;
	op->right = InvalidBlockNumber;
	op->level = level;
	op->flags = flags;
	op->page_id = SORTED_PAGE_ID;
}

void
sorted_init_metapage(Page page, BlockNumber root, uint32 level)
{
	SortedMetaData *meta;

	sorted_init_page(page, SORTED_META, 0);
	meta = SortedPageGetMeta(page);
	meta->magic = SORTED_MAGIC;
	meta->version = SORTED_VERSION;
	meta->root = root;
	meta->level = level;
	meta->key_classes = 0;
	/* so that generic WAL and full-page images keep the contents */
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(SortedMetaData)) - (char *) page;
}

/* a new, exclusively locked page at the end of the index */
Buffer
sorted_new_buffer(Relation index)
{
	Buffer		buf;

	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBuffer(index, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/* is a bulk delete walking the index (the metapage's mark)? */
bool
sorted_vacuum_active(Relation index)
{
	Buffer		metabuf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	bool		active;

	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	active = SortedPageGetMeta(BufferGetPage(metabuf))->vacuum_active != 0;
	UnlockReleaseBuffer(metabuf);
	return active;
}

/* may a free page (all zeros, or deleted long enough ago) be used again? */
bool
sorted_page_recyclable(Page page)
{
	if (PageIsNew(page))
		return true;
	return SortedPageGetOpaque(page)->page_id == SORTED_PAGE_ID &&
		SortedPageIsDeleted(page) &&
		GlobalVisCheckRemovableFullXid(NULL, SortedPageGetDeleted(page)->safexid);
}

/*
 * A page for a split, exclusively locked: a recycled one from the free space
 * map, or a new one.  Called under the structure lock, so no other split or
 * deletion runs; the free space map is only a hint, so the page itself must
 * say it is free.  While a bulk delete walks the index in block order, a
 * split must not move entries to a block it has passed: new pages only then.
 */
Buffer
sorted_alloc_buffer(Relation index)
{
	bool		vacuum_active = sorted_vacuum_active(index);

	while (!vacuum_active)
	{
		BlockNumber blkno = GetFreeIndexPage(index);
		Buffer		buf;

		if (blkno == InvalidBlockNumber)
			break;
		buf = ReadBuffer(index, blkno);
		if (ConditionalLockBuffer(buf))
		{
			if (sorted_page_recyclable(BufferGetPage(buf)))
				return buf;
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buf);
	}
	return sorted_new_buffer(index);
}

static void
check_meta(Relation index, Page page)
{
	SortedMetaData *meta = SortedPageGetMeta(page);

	if (!(SortedPageGetOpaque(page)->flags & SORTED_META) ||
		meta->magic != SORTED_MAGIC || meta->version < 1 || meta->version > SORTED_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a nedb_sorted index",
						RelationGetRelationName(index))));
}

/*
 * The root block and its level, as cached in the relcache entry.  A stale
 * root (split since) is still a page of the tree with a right-link: a
 * descent from it is correct (Lehman and Yao) and drops the cache.  Inserts
 * also keep there the rightmost leaf when their last entry went to it (see
 * sorted_insert.c); it is only a hint, checked under the page's lock.
 */
typedef struct SortedRootCache
{
	BlockNumber root;
	uint32		level;
	BlockNumber rightmost;		/* InvalidBlockNumber: none */
	uint32		key_classes;	/* known to be set on the metapage */
} SortedRootCache;

static BlockNumber
get_root_level(Relation index, uint32 *level)
{
	SortedRootCache *rc = (SortedRootCache *) index->rd_amcache;

	if (rc == NULL)
	{
		Buffer		buf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		check_meta(index, page);
		rc = MemoryContextAlloc(index->rd_indexcxt, sizeof(SortedRootCache));
		rc->root = SortedPageGetMeta(page)->root;
		rc->level = SortedPageGetMeta(page)->level;
		rc->rightmost = InvalidBlockNumber;
		/* a version 1 metapage records none: nothing to note */
		rc->key_classes = SortedPageGetMeta(page)->version >= 2
			? SortedPageGetMeta(page)->key_classes
			: SORTED_KEYS_NUMBERS | SORTED_KEYS_STRINGS | SORTED_KEYS_OTHER;
		UnlockReleaseBuffer(buf);
		index->rd_amcache = rc;
	}
	*level = rc->level;
	return rc->root;
}

static void
forget_root(Relation index)
{
	if (index->rd_amcache)
		pfree(index->rd_amcache);
	index->rd_amcache = NULL;
}

/* the SORTED_KEYS_* class of a key of index tuple form; 0 for none (null, JSON null, not jsonb) */
uint32
sorted_key_class(SortedCmp *cmp, Datum value, bool isnull)
{
	Jsonb	   *jb;
	JsonbValue	v;

	if (!cmp->jsonb || isnull)
		return 0;
	jb = DatumGetJsonbP(value);
	if (!JB_ROOT_IS_SCALAR(jb) || !JsonbExtractScalar(&jb->root, &v))
		return SORTED_KEYS_OTHER;	/* an array or object placeholder */
	switch (v.type)
	{
		case jbvNull:
			return 0;
		case jbvNumeric:
		case jbvBool:
			return SORTED_KEYS_NUMBERS;
		case jbvString:
			return SORTED_KEYS_STRINGS;
		default:
			return SORTED_KEYS_OTHER;
	}
}

/*
 * Before a key of class key_class goes in: set its bit on the metapage if
 * it is not set yet.  The bit is set (and WAL-logged) before the entry is
 * added, so a reader whose snapshot sees the entry's row sees the bit.
 * Once set a bit stays, so the backend remembers it and reads the metapage
 * again only for a class it has not seen set.
 */
void
sorted_note_key_class(Relation index, uint32 key_class)
{
	SortedRootCache *rc;
	uint32		level;
	Buffer		buf;
	SortedMetaData *meta;

	if (key_class == 0)
		return;
	(void) get_root_level(index, &level);
	rc = (SortedRootCache *) index->rd_amcache;
	if ((rc->key_classes & key_class) == key_class)
		return;
	buf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	check_meta(index, BufferGetPage(buf));
	meta = SortedPageGetMeta(BufferGetPage(buf));
	if (meta->version >= 2 && (meta->key_classes & key_class) != key_class)
	{
		GenericXLogState *state = sorted_generic_start(index);
		Page		page = sorted_register_buffer(state, buf, 0);

		SortedPageGetMeta(page)->key_classes |= key_class;
		sorted_generic_finish(state);
	}
	rc->key_classes = meta->version >= 2 ? meta->key_classes : rc->key_classes | key_class;
	UnlockReleaseBuffer(buf);
}

/*
 * The classes of every key the index has held (since its build); false for
 * a version 1 index, which does not record them.  Read off the metapage
 * each time: another backend may have set a bit since.
 */
bool
sorted_key_classes(Relation index, uint32 *classes)
{
	Buffer		buf = ReadBuffer(index, SORTED_METAPAGE_BLKNO);
	SortedMetaData *meta;
	bool		known;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	check_meta(index, BufferGetPage(buf));
	meta = SortedPageGetMeta(BufferGetPage(buf));
	known = meta->version >= 2;
	*classes = known ? meta->key_classes : 0;
	UnlockReleaseBuffer(buf);
	return known;
}

/* the rightmost leaf an insert last went to, InvalidBlockNumber if none */
BlockNumber
sorted_cached_rightmost(Relation index)
{
	SortedRootCache *rc = (SortedRootCache *) index->rd_amcache;

	return rc ? rc->rightmost : InvalidBlockNumber;
}

/* remember (or, with InvalidBlockNumber, forget) the rightmost leaf */
void
sorted_cache_rightmost(Relation index, BlockNumber blkno)
{
	SortedRootCache *rc = (SortedRootCache *) index->rd_amcache;

	if (rc)
		rc->rightmost = blkno;
}

/*
 * The index tuple for a key.  The jsonb opclass stores arrays and objects
 * as [] and {} (they compare equal to any array / object); a key too large
 * for a page is refused as btree refuses one.
 */
IndexTuple
sorted_form_tuple(Relation index, SortedCmp *cmp, Datum value, bool isnull,
				  ItemPointer tid)
{
	IndexTuple	itup;

	if (cmp->jsonb && !isnull)
	{
		Jsonb	   *jb = DatumGetJsonbP(value);

		if (!JB_ROOT_IS_SCALAR(jb))
		{
			JsonbValue	empty;

			memset(&empty, 0, sizeof(empty));
			empty.type = JB_ROOT_IS_ARRAY(jb) ? jbvArray : jbvObject;
			value = JsonbPGetDatum(JsonbValueToJsonb(&empty));
		}
	}
	itup = index_form_tuple(RelationGetDescr(index), &value, &isnull);
	if (IndexTupleSize(itup) > SORTED_MAX_ITEM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("index row size %zu exceeds nedb_sorted maximum %zu for index \"%s\"",
						(Size) IndexTupleSize(itup), (Size) SORTED_MAX_ITEM,
						RelationGetRelationName(index)),
				 errhint("Values larger than a third of a page cannot be indexed.")));
	itup->t_tid = *tid;
	return itup;
}

BlockNumber
sorted_downlink(IndexTuple itup)
{
	return ItemPointerGetBlockNumberNoCheck(&itup->t_tid);
}

void
sorted_set_downlink(IndexTuple itup, BlockNumber child)
{
	ItemPointerSet(&itup->t_tid, child, FirstOffsetNumber);
}

/*
 * The first offset in [low, high) whose key is > key (nextkey) or >= key
 * (!nextkey); high if there is none.
 */
static OffsetNumber
first_beyond(Relation index, SortedCmp *cmp, Page page, const SortedKey *key,
			 bool nextkey, OffsetNumber low, OffsetNumber high)
{
	while (low < high)
	{
		OffsetNumber mid = low + (high - low) / 2;
		IndexTuple	itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, mid));
		int			c = sorted_compare_key(index, cmp, key, itup);

		if (nextkey ? c >= 0 : c > 0)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

/*
 * On a leaf: the first offset whose key is > key (nextkey) or >= key,
 * maxoff + 1 if none.  On an internal page: the downlink to follow, the
 * last whose separator is <= key (nextkey) or < key.
 */
OffsetNumber
sorted_binsearch(Relation index, SortedCmp *cmp, Page page, const SortedKey *key,
				 bool nextkey)
{
	OffsetNumber first = SortedFirstData(page);
	OffsetNumber high = OffsetNumberNext(PageGetMaxOffsetNumber(page));

	if (SortedPageIsLeaf(page))
		return first_beyond(index, cmp, page, key, nextkey, first, high);
	Assert(first < high);
	return first_beyond(index, cmp, page, key, nextkey,
						OffsetNumberNext(first), high) - 1;
}

/* must a search for key go right of this page (Lehman and Yao)? */
bool
sorted_move_right(Relation index, SortedCmp *cmp, Page page, const SortedKey *key,
				  bool nextkey)
{
	IndexTuple	hikey;
	int			c;

	if (SortedPageIsDeleted(page))
		return true;				/* its key range went right */
	if (SortedPageIsRightmost(page))
		return false;
	hikey = (IndexTuple) PageGetItem(page, PageGetItemId(page, SORTED_HIKEY));
	c = sorted_compare_key(index, cmp, key, hikey);
	return nextkey ? c >= 0 : c > 0;
}

/*
 * Descend from the root to the leaf where the first key > key (nextkey) or
 * >= key belongs; returns it pinned and locked in leaf_lock mode.  Holds one
 * page lock at a time: a stale downlink is corrected by moving right.
 */
Buffer
sorted_descend(Relation index, SortedCmp *cmp, const SortedKey *key, bool nextkey,
			   int leaf_lock)
{
	uint32		level;
	BlockNumber blkno = get_root_level(index, &level);
	bool		first = true;

	for (;;)
	{
		int			mode = (level == 0) ? leaf_lock : BUFFER_LOCK_SHARE;
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;
		OffsetNumber off;
		IndexTuple	itup;

		LockBuffer(buf, mode);
		page = BufferGetPage(buf);
		if (first && (SortedPageGetOpaque(page)->right != InvalidBlockNumber ||
					  SortedPageGetOpaque(page)->left != InvalidBlockNumber))
			forget_root(index);
		first = false;
		while (sorted_move_right(index, cmp, page, key, nextkey))
		{
			BlockNumber right = SortedPageGetOpaque(page)->right;

			UnlockReleaseBuffer(buf);
			buf = ReadBuffer(index, right);
			LockBuffer(buf, mode);
			page = BufferGetPage(buf);
		}
		if (SortedPageGetOpaque(page)->level != level)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\": block %u is at level %u, expected %u",
							RelationGetRelationName(index), BufferGetBlockNumber(buf),
							SortedPageGetOpaque(page)->level, level)));
		if (level == 0)
			return buf;
		off = sorted_binsearch(index, cmp, page, key, nextkey);
		itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));
		blkno = sorted_downlink(itup);
		UnlockReleaseBuffer(buf);
		level--;
	}
}

void
sorted_page_add(Page page, IndexTuple itup, OffsetNumber off)
{
	if (PageAddItem(page, (Item) itup, IndexTupleSize(itup), off, false, false)
		== InvalidOffsetNumber)
		elog(ERROR, "failed to add item to nedb_sorted page");
}

/*
 * Generic WAL records that change leaves whose entries may be marked LP_DEAD
 * (sorted_scan.c) go through sorted_generic_start, sorted_register_buffer
 * and sorted_generic_finish.  The marks are hints, never logged when set,
 * so a standby's copy of a page may lack some of the primary's (never has
 * one the primary lacks: it gets them only from the primary's page
 * images, and from records that hold line pointers as they are on the
 * primary).  A generic WAL record without a full image holds only the bytes
 * the change made differ: a line pointer whose bytes the change left alone
 * is not in it, and a mark on it would stay as the standby has it, while
 * generic WAL's mask function, unlike btree_mask, does not mask line
 * pointer flags for wal_consistency_checking.  So, just before the record
 * is assembled, every marked line pointer of such a page that the change
 * would leave byte for byte as it is gets its mark cleared on the page
 * itself (the working copy keeps it): the record then carries it, and the
 * standby's line pointers are all the primary's again.  A line pointer
 * marked on the page that the change rewrote is in the record anyway.
 */
static struct
{
	Buffer		buf;
	Page		image;
}			generic_pages[MAX_GENERIC_XLOG_PAGES];
static int	n_generic_pages = 0;

GenericXLogState *
sorted_generic_start(Relation index)
{
	n_generic_pages = 0;
	return GenericXLogStart(index);
}

/* GenericXLogRegisterBuffer within sorted_generic_start / _finish */
Page
sorted_register_buffer(GenericXLogState *state, Buffer buf, int flags)
{
	Page		image = GenericXLogRegisterBuffer(state, buf, flags);

	if (!(flags & GENERIC_XLOG_FULL_IMAGE) && n_generic_pages < MAX_GENERIC_XLOG_PAGES)
	{
		generic_pages[n_generic_pages].buf = buf;
		generic_pages[n_generic_pages].image = image;
		n_generic_pages++;
	}
	return image;
}

XLogRecPtr
sorted_generic_finish(GenericXLogState *state)
{
	for (int i = 0; i < n_generic_pages; i++)
	{
		Page		page = BufferGetPage(generic_pages[i].buf);
		Page		image = generic_pages[i].image;
		OffsetNumber maxoff;
		OffsetNumber imaxoff;

		if (PageIsNew(page) ||
			PageGetSpecialSize(page) != MAXALIGN(sizeof(SortedPageOpaqueData)) ||
			!SortedPageIsLeaf(page) || SortedPageIsDeleted(page))
			continue;
		maxoff = PageGetMaxOffsetNumber(page);
		imaxoff = PageGetMaxOffsetNumber(image);
		for (OffsetNumber off = FirstOffsetNumber; off <= Min(maxoff, imaxoff); off++)
		{
			ItemId		iid = PageGetItemId(page, off);

			if (ItemIdIsDead(iid) &&
				memcmp(iid, PageGetItemId(image, off), sizeof(ItemIdData)) == 0)
				ItemIdSetNormal(iid, ItemIdGetOffset(iid), ItemIdGetLength(iid));
		}
	}
	n_generic_pages = 0;
	return GenericXLogFinish(state);
}
