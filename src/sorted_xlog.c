/*
 * sorted_xlog.c
 *	  nedb_sorted: the WAL of a plain leaf insert.
 *
 * Everything nedb_sorted changes is WAL-logged with generic WAL (build page
 * images, splits, VACUUM) except the commonest change of all, one entry
 * added to a leaf that has room for it.  GenericXLogRegisterBuffer and
 * GenericXLogFinish find what changed by copying the 8 kB page and
 * comparing the copy with the result byte by byte; perf put 40-50% of an
 * insert's CPU there, with the leaf's exclusive lock held, which is what
 * kept inserts at up to 2.4x btree's cost.  We know exactly what
 * PageAddItem changed, so we log it directly, in one of two ways:
 *
 * 1. nedb preloaded (shared_preload_libraries): a record of our own custom
 *	  WAL resource manager (PostgreSQL 15's RegisterCustomRmgr), as nbtree
 *	  logs its inserts: XLOG_SORTED_INSERT_LEAF, block 0 = the leaf
 *	  (standard page: a full page image when it is the first change after a
 *	  checkpoint), its block data = the index tuple, main data = the offset.
 *	  Redo adds the tuple at that offset when the page's LSN is older than
 *	  the record (XLogReadBufferForRedo).
 *
 * 2. Otherwise (CREATE EXTENSION without preloading, the default): a
 *	  generic WAL record whose delta we write ourselves (see
 *	  generic_insert_delta): the same CPU cost as 1., but the delta holds
 *	  the line pointers that moved, so a random-key insert writes a few
 *	  hundred bytes more WAL than 1. (100k random int8 keys: 191 MB of WAL
 *	  against 148 MB, btree 144 MB, full page images included).
 *
 * The resource manager has a second record, XLOG_SORTED_DELETE: an insert
 * removing entries marked LP_DEAD from a full leaf instead of splitting it
 * (sorted_leaf_delete, below), which must carry a recovery conflict for hot
 * standbys as nbtree's delete record does; generic WAL cannot, so that
 * removal happens only with the resource manager registered.
 *
 * Why both: a custom resource manager can only exist in a server that
 * loaded it at preload time, since redo (crash recovery, a standby) needs
 * it before reading the first record; so the record is written only when
 * this process registered it at preload time, and an un-preloaded server
 * never writes a record it could not replay.  The other way round is the
 * operator's part, as for any custom resource manager: a server that wrote
 * such records, and every standby replaying them, must keep nedb in
 * shared_preload_libraries until a checkpoint has passed them, or recovery
 * stops at the first one ("resource manager with ID 128 not registered").
 * Rejected: logging a full page image per insert (8 kB of WAL a row), and
 * writing nbtree's INSERT_LEAF record (its redo is the same PageAddItem, but
 * pg_waldump and wal_consistency_checking would treat our pages as btree's).
 *
 * The ID: NEDB_SORTED_RMGR_ID is RM_EXPERIMENTAL_ID (128), the one the
 * PostgreSQL documentation asks extensions to use until they reserve their
 * own on https://wiki.postgresql.org/wiki/CustomWALResourceManagers; nedb
 * has not reserved one yet.  Another preloaded library using 128 makes the
 * server refuse to start (RegisterCustomRmgr's error), never a silent mix.
 */
#include "postgres.h"

#include "access/bufmask.h"
#include "access/genam.h"
#include "access/rmgr.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/standby.h"
#include "utils/rel.h"

#include "sorted.h"

/* the custom WAL resource manager's ID; see the header comment */
#define NEDB_SORTED_RMGR_ID		RM_EXPERIMENTAL_ID
#define NEDB_SORTED_RMGR_NAME	"nedb_sorted"

/* record types (xl_info's high bits) */
#define XLOG_SORTED_INSERT_LEAF	0x00
#define XLOG_SORTED_DELETE		0x10

/* XLOG_SORTED_INSERT_LEAF's main data; the tuple is block 0's data */
typedef struct xl_sorted_insert
{
	OffsetNumber offnum;
} xl_sorted_insert;

#define SizeOfSortedInsert	(offsetof(xl_sorted_insert, offnum) + sizeof(OffsetNumber))

/*
 * XLOG_SORTED_DELETE's main data: entries marked LP_DEAD removed from a full
 * leaf by an insert (sorted_leaf_delete); block 0 = the leaf, its data the
 * offsets removed.  Redo first cancels the standby's queries whose
 * snapshots could still see a row the entries lead to, as nbtree's
 * XLOG_BTREE_DELETE does.
 */
typedef struct xl_sorted_delete
{
	TransactionId latestRemovedXid;
	uint16		ndeleted;
} xl_sorted_delete;

#define SizeOfSortedDelete	(offsetof(xl_sorted_delete, ndeleted) + sizeof(uint16))

/* set at preload time in the postmaster and inherited by every backend */
static bool sorted_rmgr_registered = false;

static void
sorted_redo_delete(XLogReaderState *record)
{
	xl_sorted_delete *xlrec = (xl_sorted_delete *) XLogRecGetData(record);
	Buffer		buf;

	if (InHotStandby)
	{
		RelFileNode rnode;

		XLogRecGetBlockTag(record, 0, &rnode, NULL, NULL);
		ResolveRecoveryConflictWithSnapshot(xlrec->latestRemovedXid, rnode);
	}
	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		len;
		OffsetNumber *offs = (OffsetNumber *) XLogRecGetBlockData(record, 0, &len);

		if (len != xlrec->ndeleted * sizeof(OffsetNumber))
			elog(PANIC, "nedb_sorted redo: a delete record of %u entries holds %zu bytes",
				 xlrec->ndeleted, len);
		PageIndexMultiDelete(page, offs, xlrec->ndeleted);
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

static void
sorted_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	xl_sorted_insert *xlrec;
	Buffer		buf;

	if (info == XLOG_SORTED_DELETE)
	{
		sorted_redo_delete(record);
		return;
	}
	if (info != XLOG_SORTED_INSERT_LEAF)
		elog(PANIC, "nedb_sorted redo: unknown record type %u", info);
	xlrec = (xl_sorted_insert *) XLogRecGetData(record);
	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		len;
		char	   *itup = XLogRecGetBlockData(record, 0, &len);

		if (PageAddItem(page, (Item) itup, len, xlrec->offnum, false, false)
			== InvalidOffsetNumber)
			elog(PANIC, "nedb_sorted redo: failed to add item at offset %u",
				 xlrec->offnum);
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

static void
sorted_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	if (info == XLOG_SORTED_INSERT_LEAF)
		appendStringInfo(buf, "off: %u",
						 ((xl_sorted_insert *) XLogRecGetData(record))->offnum);
	else if (info == XLOG_SORTED_DELETE)
	{
		xl_sorted_delete *xlrec = (xl_sorted_delete *) XLogRecGetData(record);

		appendStringInfo(buf, "ndeleted: %u, latestRemovedXid: %u",
						 xlrec->ndeleted, xlrec->latestRemovedXid);
	}
}

static const char *
sorted_identify(uint8 info)
{
	if ((info & ~XLR_INFO_MASK) == XLOG_SORTED_INSERT_LEAF)
		return "INSERT_LEAF";
	if ((info & ~XLR_INFO_MASK) == XLOG_SORTED_DELETE)
		return "DELETE";
	return NULL;
}

/*
 * For wal_consistency_checking: as generic WAL's mask, plus hint bits,
 * including a leaf's LP_DEAD marks (sorted_scan.c), which are never logged
 * (btree_mask masks them too).
 */
static void
sorted_mask(char *pagedata, BlockNumber blkno)
{
	Page		page = (Page) pagedata;

	mask_page_lsn_and_checksum(page);
	mask_page_hint_bits(page);
	mask_unused_space(page);
	if (!PageIsNew(page) &&
		PageGetSpecialSize(page) == MAXALIGN(sizeof(SortedPageOpaqueData)) &&
		SortedPageIsLeaf(page) && !SortedPageIsDeleted(page))
		mask_lp_flags(page);
}

static RmgrData sorted_rmgr = {
	.rm_name = NEDB_SORTED_RMGR_NAME,
	.rm_redo = sorted_redo,
	.rm_desc = sorted_desc,
	.rm_identify = sorted_identify,
	.rm_mask = sorted_mask,
};

/* _PG_init: register the resource manager when nedb is preloaded */
void
sorted_xlog_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	RegisterCustomRmgr(NEDB_SORTED_RMGR_ID, &sorted_rmgr);
	sorted_rmgr_registered = true;
}

/*
 * Without our resource manager, the same insert as a generic WAL record
 * whose delta we write ourselves instead of having GenericXLogFinish find
 * it by comparing page copies: we know exactly which bytes PageAddItem
 * changed.  The delta is generic_xlog.c's format, a sequence of fragments
 * (OffsetNumber offset, OffsetNumber length, length bytes), which
 * generic_redo copies onto the page before zeroing the hole between
 * pd_lower and pd_upper (ours is zero: PageAddItem writes only its line
 * pointer and tuple, and every other change zeroes it or starts from a
 * zeroed page); the format has not changed since generic WAL appeared in
 * 9.6, and t/004_sorted_standby.pl replays these records under
 * wal_consistency_checking, which compares every page with the primary's.
 * Three fragments: the page header (pd_lower, pd_upper, pd_flags), the line
 * pointers from off on (the ones after off moved one slot up) and the
 * tuple, which PageAddItem put at the new pd_upper.  The line pointers
 * start earlier if one before off is marked LP_DEAD: those marks are not
 * logged when set (sorted_scan.c), and generic WAL's mask function does not
 * mask them, so the record carries them (see sorted_generic_finish).
 */
static char generic_delta[BLCKSZ + 3 * 2 * sizeof(OffsetNumber)];

static char *
put_fragment(char *p, Page page, Size from, Size to)
{
	OffsetNumber offset = (OffsetNumber) from;
	OffsetNumber length = (OffsetNumber) (to - from);

	memcpy(p, &offset, sizeof(offset));
	p += sizeof(offset);
	memcpy(p, &length, sizeof(length));
	p += sizeof(length);
	memcpy(p, (char *) page + from, length);
	return p + length;
}

static Size
generic_insert_delta(Page page, OffsetNumber off)
{
	PageHeader	ph = (PageHeader) page;
	ItemId		iid = PageGetItemId(page, off);
	Size		linp;
	char	   *p = generic_delta;
	OffsetNumber from = off;

	for (OffsetNumber o = FirstOffsetNumber; o < off; o++)
	{
		if (ItemIdIsDead(PageGetItemId(page, o)))
		{
			from = o;
			break;
		}
	}
	linp = (char *) PageGetItemId(page, from) - (char *) page;
	p = put_fragment(p, page, 0, SizeOfPageHeaderData);
	p = put_fragment(p, page, linp, ph->pd_lower);
	p = put_fragment(p, page, ItemIdGetOffset(iid),
					 ItemIdGetOffset(iid) + MAXALIGN(ItemIdGetLength(iid)));
	return p - generic_delta;
}

/*
 * Add itup at off on the exclusively locked leaf buf, which has room for
 * it, and WAL-log the change: our record when the resource manager is
 * registered, a generic WAL record otherwise.
 */
void
sorted_leaf_insert(Relation index, Buffer buf, IndexTuple itup, OffsetNumber off)
{
	Page		page = BufferGetPage(buf);

	START_CRIT_SECTION();
	sorted_page_add(page, itup, off);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	recptr;

		XLogBeginInsert();
		if (sorted_rmgr_registered)
		{
			xl_sorted_insert xlrec;

			xlrec.offnum = off;
			XLogRegisterData((char *) &xlrec, SizeOfSortedInsert);
			XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
			XLogRegisterBufData(0, (char *) itup, IndexTupleSize(itup));
			recptr = XLogInsert(NEDB_SORTED_RMGR_ID, XLOG_SORTED_INSERT_LEAF);
		}
		else
		{
			XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
			XLogRegisterBufData(0, generic_delta, generic_insert_delta(page, off));
			recptr = XLogInsert(RM_GENERIC_ID, 0);
		}
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
}

/*
 * May an insert remove entries marked LP_DEAD from a full leaf instead of
 * splitting it (sorted_leaf_delete)?  Only when the removal can reach a
 * standby with its recovery conflict, which only our resource manager's
 * record carries (generic WAL cannot), or when nothing is logged at all.
 */
bool
sorted_can_delete(Relation index)
{
	return sorted_rmgr_registered || !RelationNeedsWAL(index);
}

/*
 * Remove the entries at offs[0 .. n), every one marked LP_DEAD (a scan found
 * every row version it leads to dead to all), from the exclusively locked
 * leaf buf, as nbtree's simple deletion does.  A standby's snapshots may
 * still see those rows: the record names the newest transaction that wrote
 * any of them (from the table: index_compute_xid_horizon_for_tuples), and
 * redo cancels the standby queries that could see it first.  Scans that
 * still hold the leaf's pin keep their copies of the TIDs; the table cannot
 * reuse a TID before a VACUUM, which waits for that pin; their marks find
 * the entries they noted gone, or moved left, and set none.
 */
void
sorted_leaf_delete(Relation index, Relation heap, Buffer buf,
				   OffsetNumber *offs, int n)
{
	Page		page = BufferGetPage(buf);
	xl_sorted_delete xlrec;

	Assert(sorted_can_delete(index));
	xlrec.latestRemovedXid = InvalidTransactionId;
	xlrec.ndeleted = n;
	if (RelationNeedsWAL(index) && XLogStandbyInfoActive())
		xlrec.latestRemovedXid = index_compute_xid_horizon_for_tuples(index, heap, buf, offs, n);

	START_CRIT_SECTION();
	PageIndexMultiDelete(page, offs, n);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	recptr;

		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfSortedDelete);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBufData(0, (char *) offs, n * sizeof(OffsetNumber));
		recptr = XLogInsert(NEDB_SORTED_RMGR_ID, XLOG_SORTED_DELETE);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
}
