/*
 * sorted_xlog.c
 *	  nedb_sorted: the WAL of a plain leaf insert.
 *
 * Everything nedb_sorted changes is WAL-logged with generic WAL (build page
 * images, splits, VACUUM) except the commonest change of all, one entry
 * added to a leaf that has room for it.  Generic WAL finds what changed by
 * copying the 8 kB page before the change and comparing it byte by byte
 * with the result afterwards; perf put 40-50% of an insert's CPU there, with
 * the leaf's exclusive lock held, which is what kept inserts at up to 2.4x
 * btree's cost.  nbtree logs the new tuple and its offset instead, and so
 * do we, through a custom WAL resource manager (PostgreSQL 15's
 * RegisterCustomRmgr) with one record:
 *
 *	XLOG_SORTED_INSERT_LEAF: block 0 = the leaf (standard page, so a full
 *	page image when it is the first change after a checkpoint), its block
 *	data = the index tuple, main data = the offset it went to.  Redo adds
 *	the tuple at that offset if the page's LSN is older than the record
 *	(XLogReadBufferForRedo), exactly as the insert did.
 *
 * The alternatives were worse: a smaller generic WAL region is not possible
 * (generic WAL always compares the page's whole used space), logging a full
 * page image per insert writes 8 kB per row, and writing another resource
 * manager's record (nbtree's INSERT_LEAF redoes the same PageAddItem) would
 * make pg_waldump and wal_consistency_checking treat our pages as btree's.
 *
 * A custom resource manager exists only in a server that loaded nedb
 * through shared_preload_libraries: redo (crash recovery, a standby) needs
 * it registered before the first record is read.  So the record is written
 * only when this process registered it at preload time; a server that
 * loads nedb on demand (CREATE EXTENSION without preloading, the default)
 * keeps logging leaf inserts with generic WAL and never writes a record it
 * could not replay.  The other way round is the operator's part, as for any
 * custom resource manager: a server that wrote such records (and every
 * standby replaying them) must keep nedb in shared_preload_libraries until
 * a checkpoint has passed them, or recovery stops at the first one
 * ("resource manager with ID 128 not registered").
 *
 * The ID: NEDB_SORTED_RMGR_ID is RM_EXPERIMENTAL_ID (128), the one the
 * PostgreSQL documentation asks extensions to use until they reserve their
 * own on https://wiki.postgresql.org/wiki/CustomWALResourceManagers; nedb
 * has not reserved one yet.  Another preloaded library using 128 makes the
 * server refuse to start (RegisterCustomRmgr's error), never a silent mix.
 */
#include "postgres.h"

#include "access/bufmask.h"
#include "access/rmgr.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/rel.h"

#include "sorted.h"

/* the custom WAL resource manager's ID; see the header comment */
#define NEDB_SORTED_RMGR_ID		RM_EXPERIMENTAL_ID
#define NEDB_SORTED_RMGR_NAME	"nedb_sorted"

/* record types (xl_info's high bits) */
#define XLOG_SORTED_INSERT_LEAF	0x00

/* XLOG_SORTED_INSERT_LEAF's main data; the tuple is block 0's data */
typedef struct xl_sorted_insert
{
	OffsetNumber offnum;
} xl_sorted_insert;

#define SizeOfSortedInsert	(offsetof(xl_sorted_insert, offnum) + sizeof(OffsetNumber))

/* set at preload time in the postmaster and inherited by every backend */
static bool sorted_rmgr_registered = false;

static void
sorted_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	xl_sorted_insert *xlrec;
	Buffer		buf;

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
}

static const char *
sorted_identify(uint8 info)
{
	if ((info & ~XLR_INFO_MASK) == XLOG_SORTED_INSERT_LEAF)
		return "INSERT_LEAF";
	return NULL;
}

/* for wal_consistency_checking: as generic WAL's mask, plus hint bits */
static void
sorted_mask(char *pagedata, BlockNumber blkno)
{
	mask_page_lsn_and_checksum(pagedata);
	mask_page_hint_bits(pagedata);
	mask_unused_space(pagedata);
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
 * Add itup at off on the exclusively locked leaf buf, which has room for
 * it, and WAL-log the change: our record when the resource manager is
 * registered, generic WAL otherwise.
 */
void
sorted_leaf_insert(Relation index, Buffer buf, IndexTuple itup, OffsetNumber off)
{
	Page		page = BufferGetPage(buf);

	if (!sorted_rmgr_registered)
	{
		GenericXLogState *state = GenericXLogStart(index);

		sorted_page_add(GenericXLogRegisterBuffer(state, buf, 0), itup, off);
		GenericXLogFinish(state);
		return;
	}

	START_CRIT_SECTION();
	sorted_page_add(page, itup, off);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(index))
	{
		xl_sorted_insert xlrec;
		XLogRecPtr	recptr;

		xlrec.offnum = off;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfSortedInsert);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBufData(0, (char *) itup, IndexTupleSize(itup));
		recptr = XLogInsert(NEDB_SORTED_RMGR_ID, XLOG_SORTED_INSERT_LEAF);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
}
