/*
 * group_commit.c
 *	  Writers' commits share WAL flushes: the chain lock is released before
 *	  the flush, the writer waits for the flush after.
 *
 * The chain lock is held to the end of a writing transaction so that the
 * next writer reads the head only after the previous op is committed and
 * visible.  With synchronous_commit = on, Postgres would flush the commit
 * record while the lock is still held, so no two writers could ever share a
 * flush.  Instead, at pre-commit a NEDB writer switches its own commit to
 * asynchronous (the commit record is inserted, the transaction becomes
 * visible and releases its locks at once), and after its locks are released
 * it flushes the WAL up to its commit record and, where the setting asks for
 * it, waits for synchronous standbys, exactly as the synchronous commit would
 * have done, before the client hears that the commit succeeded.  A commit
 * that waits for a synchronous standby is left as Postgres makes it (see
 * sync_standbys): group commit is about the local flush.
 *
 * Crash safety holds because WAL is ordered: the next writer's commit record
 * follows ours, so whenever its commit is durable ours is too, and a crash
 * can only lose a suffix of the chain, never acknowledged ops (their writers
 * waited for the flush).  The price is that another session may see an op
 * for up to one flush before it is durable.  Whatever leaves the server in a
 * way that outlives a crash (the head, digests and proofs, the AOF export a
 * follower fetches) first waits until what it can see is durable:
 * group_commit_durable().  nedb.group_commit = off restores the plain
 * commit (flush under the lock).
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "utils/guc.h"
#include "utils/resowner.h"

#include "group_commit.h"

bool		nedb_group_commit = true;

/* this transaction writes the chain: commit it asynchronously, flush after */
static bool xact_writes = false;
/* synchronous_commit as the transaction had it, while we overrode it */
static int	saved_sync = -1;

void
group_commit_note_writer(void)
{
	xact_writes = true;
}

/*
 * Will this commit wait for a synchronous standby?  Then it commits as
 * Postgres does: the op becomes visible (and the lock free) only once the
 * standby has it, so that what any session sees is what a failover keeps.
 * Postgres waits whenever synchronous_standby_names names any.
 */
static bool
sync_standbys(void)
{
	return max_wal_senders > 0 &&
		synchronous_commit > SYNCHRONOUS_COMMIT_LOCAL_FLUSH &&
		SyncRepStandbyNames != NULL && SyncRepStandbyNames[0] != '\0';
}

static void
restore_sync(void)
{
	if (saved_sync >= 0)
	{
		synchronous_commit = saved_sync;
		saved_sync = -1;
	}
}

static void
gc_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (xact_writes && nedb_group_commit &&
				synchronous_commit > SYNCHRONOUS_COMMIT_OFF && !sync_standbys())
			{
				saved_sync = synchronous_commit;
				synchronous_commit = SYNCHRONOUS_COMMIT_OFF;
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_ABORT:
			restore_sync();
			xact_writes = false;
			break;
		default:
			break;
	}
}

/*
 * After the transaction's locks are released: the flush (and synchronous
 * replication wait) its commit skipped.  XactLastCommitEnd is the end of the
 * commit record just written.
 */
static void
gc_release_callback(ResourceReleasePhase phase, bool isCommit, bool isTopLevel,
					void *arg)
{
	int			asked;

	if (phase != RESOURCE_RELEASE_AFTER_LOCKS || !isTopLevel)
		return;
	xact_writes = false;
	if (saved_sync < 0)
		return;
	asked = saved_sync;
	restore_sync();
	if (!isCommit || XactLastCommitEnd == InvalidXLogRecPtr)
		return;
	XLogFlush(XactLastCommitEnd);

	/*
	 * As RecordTransactionCommit would have (a no-op unless asked for): a
	 * synchronous standby named since pre-commit is waited for here.
	 */
	if (asked > SYNCHRONOUS_COMMIT_LOCAL_FLUSH)
	{
		int			save = synchronous_commit;

		synchronous_commit = asked;
		SyncRepWaitForLSN(XactLastCommitEnd, true);
		synchronous_commit = save;
	}
}

/*
 * Wait until every commit this session can see is durable, so that what a
 * caller learns (a head, a proof, ops to replicate) survives a crash.  Free
 * when nothing is pending; otherwise one flush, shared with the writers.
 */
void
group_commit_durable(void)
{
	XLogRecPtr	upto;
	uint32		off;

	if (RecoveryInProgress())
		return;

	/*
	 * The insert position lies just past the header of a page nothing has
	 * been written to yet when the last record ended at the page boundary:
	 * flush to the boundary (asking for more would be asking for WAL that
	 * does not exist).
	 */
	upto = GetXLogInsertRecPtr();
	off = upto % XLOG_BLCKSZ;
	if (off == SizeOfXLogShortPHD ||
		(off == SizeOfXLogLongPHD && XLogSegmentOffset(upto, wal_segment_size) == off))
		upto -= off;
	XLogFlush(upto);
}

void
nedb_group_commit_init(void)
{
	DefineCustomBoolVariable("nedb.group_commit",
							 "Lets NEDB writers' commits share WAL flushes.",
							 "On: a writer releases the chain lock before its commit's WAL flush and waits for the flush after, so concurrent commits share flushes; another session may see an op up to one flush before it is durable.  Off: the flush happens under the chain lock.",
							 &nedb_group_commit, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(gc_xact_callback, NULL);
	RegisterResourceReleaseCallback(gc_release_callback, NULL);
}
