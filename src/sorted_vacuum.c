/*
 * sorted_vacuum.c
 *	  nedb_sorted: VACUUM.
 *
 * Bulk delete walks the index in block order, takes a cleanup lock on each
 * leaf (waiting for scans that still hold the page's pin, so none can return
 * a removed entry's TID after the heap reuses it) and removes the dead
 * entries in one generic WAL record per page.  Splits only ever add pages
 * at the end of the relation, so re-reading the length until it stops
 * growing visits every entry that moved right during the walk.  Empty leaves
 * stay linked and are refilled by later inserts in their key range; pages
 * are not unlinked or recycled.
 */
#include "postgres.h"

#include "access/genam.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "sorted.h"

/* visit every tree page; remove dead leaf entries when callback is given */
static void
vacuum_scan(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber blkno = SORTED_METAPAGE_BLKNO + 1;
	BlockNumber nblocks;

	stats->num_index_tuples = 0;
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
			if (PageIsNew(page) || !SortedPageIsLeaf(page))
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
				GenericXLogState *state = GenericXLogStart(index);
				Page		gpage = GenericXLogRegisterBuffer(state, buf, 0);

				PageIndexMultiDelete(gpage, dead, ndead);
				GenericXLogFinish(state);
				stats->tuples_removed += ndead;
			}
			UnlockReleaseBuffer(buf);
		}
	}
	stats->num_pages = nblocks;
	stats->estimated_count = false;
}

IndexBulkDeleteResult *
sorted_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	vacuum_scan(info, stats, callback, callback_state);
	return stats;
}

IndexBulkDeleteResult *
sorted_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	/* no bulk delete ran: count the entries */
	if (stats == NULL)
	{
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		vacuum_scan(info, stats, NULL, NULL);
	}
	return stats;
}
