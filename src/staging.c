/*
 * staging.c
 *	  Commit-time sequencing: puts staged as a transaction runs, appended to
 *	  the chain in one batch when it commits.
 *
 * The chain lock is held from a transaction's first append to its end.  A
 * transaction block that puts document after document would hold it across
 * every round trip to its client, and every other writer would wait for all
 * of them.  Instead, with nedb.sequencing = auto (in a transaction block, outside
 * subtransactions) or
 * commit (always), a put that needs nothing decided under the lock is only
 * checked and built (document, canonical JSON), and kept in the transaction;
 * at pre-commit the staged puts are appended in the order they were made,
 * under the lock, which is then held for the batch and the commit alone.
 *
 * A put needs nothing decided under the lock when its nonce is automatic
 * (a given nonce must be refused or accepted at the put), no TTL and no _seq
 * of its own (both depend on the op's time or seq), and the transaction runs
 * under READ COMMITTED (a snapshot transaction checks, at its first append,
 * that the chain has not moved since its snapshot: at the put, not at
 * COMMIT).  An idempotency key is decided at the put too: the put locks the
 * key to the end of its transaction (chain_idem_lock) and looks it up; a
 * known key is answered by the write path.  Everything else is appended at
 * once, as before.
 *
 * What a staged put returns is its document with "_seq": null: the seq is
 * not known until COMMIT.  Anything else NEDB does in the transaction
 * (a read, a non-staged write) first appends what is staged (nedb_begin
 * calls staging_flush), so the transaction reads its own writes with their
 * seqs, and from then on holds the lock as before.  A rolled-back
 * subtransaction takes its staged puts with it, and gives back to the
 * staging area the puts staged before it but appended inside it.  With
 * nedb.staging_limit puts staged the transaction appends them and writes on
 * under the lock (so too past nedb.staging_memory of documents): memory
 * stays bounded, no put ever fails for it.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "chain.h"
#include "session.h"
#include "store.h"
#include "staging.h"
#include "write.h"

int			nedb_sequencing = NEDB_SEQ_AUTO;
int			nedb_staging_limit = 10000;
int			nedb_staging_memory = 65536;	/* kB */

static const struct config_enum_entry sequencing_options[] = {
	{"write", NEDB_SEQ_WRITE, false},
	{"commit", NEDB_SEQ_COMMIT, false},
	{"auto", NEDB_SEQ_AUTO, false},
	{NULL, 0, false}
};

typedef struct StagedPut
{
	PutArgs		args;			/* copied into staging_cxt */
	PutBuilt	built;
	SubTransactionId staged_in;
	SubTransactionId appended_in;	/* InvalidSubTransactionId: still staged */
	Size		bytes;			/* what it holds, for nedb.staging_memory */
} StagedPut;

static MemoryContext staging_cxt = NULL;
static StagedPut *staged = NULL;
static int	n_staged = 0;			/* puts in the array */
static int	n_appended = 0;			/* staged[0 .. n_appended) are in the chain */
static int	max_staged = 0;
static Size staged_bytes = 0;	/* documents and canonical JSON held */
static bool appending = false;
/* a follower refuses the first staged put, not only its COMMIT */
static bool checked_writable = false;
/* the last append's command id: snapshots with curcid <= it do not see it */
static bool appended = false;
static CommandId appended_cid;

static void
staging_reset(void)
{
	staging_cxt = NULL;			/* a child of TopTransactionContext */
	staged = NULL;
	n_staged = n_appended = max_staged = 0;
	staged_bytes = 0;
	appending = appended = checked_writable = false;
}

bool
staging_wanted(PutArgs *a)
{
	/*
	 * auto: a transaction block's own statements, not a subtransaction's (a
	 * PL/pgSQL exception block looks like a transaction block from inside).
	 */
	if (nedb_sequencing == NEDB_SEQ_WRITE ||
		(nedb_sequencing == NEDB_SEQ_AUTO &&
		 (!IsTransactionBlock() || GetCurrentTransactionNestLevel() > 1)))
		return false;
	return !a->has_nonce && put_prebuildable(a) &&
		!IsolationUsesXactSnapshot() && !chain_locked() &&
		n_staged - n_appended < nedb_staging_limit &&
		staged_bytes < (Size) nedb_staging_memory * 1024 && !appending;
}

static char *
copy_str(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/*
 * Stage the put of a (staging_wanted said yes): checked and built now,
 * appended at COMMIT.  Returns the document with "_seq": null, in the
 * caller's memory context, or NULL when the put is not staged after all.
 */
Jsonb *
staging_put(PutArgs *a)
{
	MemoryContext caller = CurrentMemoryContext;
	StagedPut  *p;

	chain_check_writable(false);
	if (!checked_writable)
	{
		chain_check_writable(true);
		checked_writable = true;
	}

	/*
	 * An idempotency key is the transaction's from here to its end: a key it
	 * used already, or that names a committed op, is answered by the write
	 * path (NULL: not staged), which appends what is staged and finds it.
	 */
	if (a->idem && (chain_idem_lock(a->idem) || store_idem_seq(a->idem) >= 0))
		return NULL;

	if (staging_cxt == NULL)
		staging_cxt = AllocSetContextCreate(TopTransactionContext, "nedb staged puts",
											ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(staging_cxt);
	if (n_staged == max_staged)
	{
		max_staged = max_staged ? max_staged * 2 : 64;
		staged = staged ? repalloc(staged, sizeof(StagedPut) * max_staged)
			: palloc(sizeof(StagedPut) * max_staged);
	}
	p = &staged[n_staged];
	/* put_build keeps pointers into the strings and the document */
	p->args = *a;
	p->args.coll = copy_str(a->coll);
	p->args.id = copy_str(a->id);
	p->args.client = copy_str(a->client);
	p->args.idem = copy_str(a->idem);
	p->args.evidence = copy_str(a->evidence);
	p->args.valid_from = copy_str(a->valid_from);
	p->args.valid_to = copy_str(a->valid_to);
	p->args.doc = palloc(VARSIZE(a->doc));
	memcpy(p->args.doc, a->doc, VARSIZE(a->doc));
	if (a->caused_by)
	{
		p->args.caused_by = palloc(VARSIZE(a->caused_by));
		memcpy(p->args.caused_by, a->caused_by, VARSIZE(a->caused_by));
	}
	put_build(&p->args, &p->built);
	/* what the put keeps: its document twice (as given and built) and canon */
	p->bytes = 2 * VARSIZE(a->doc) + p->built.canon.maxlen;
	staged_bytes += p->bytes;
	p->staged_in = GetCurrentSubTransactionId();
	p->appended_in = InvalidSubTransactionId;
	n_staged++;

	MemoryContextSwitchTo(caller);
	return put_built_unsequenced(&p->built);
}

bool
staging_pending(void)
{
	return n_appended < n_staged && !appending;
}

/*
 * Append every staged put to the chain, in the order they were made, in a
 * storage session of our own.  Takes the chain lock to the end of the
 * transaction.
 */
void
staging_flush(void)
{
	NedbSession s;
	SubTransactionId sub = GetCurrentSubTransactionId();
	bool		snap = !ActiveSnapshotSet();
	MemoryContext opcxt;

	if (!staging_pending())
		return;
	appending = true;
	if (snap)
		PushActiveSnapshot(GetTransactionSnapshot());
	nedb_begin(&s);
	/* one op's garbage at a time: the batch runs under the chain lock */
	opcxt = AllocSetContextCreate(CurrentMemoryContext, "nedb staged put",
								  ALLOCSET_DEFAULT_SIZES);
	while (n_appended < n_staged)
	{
		StagedPut  *p = &staged[n_appended];
		MemoryContext old;
		int64		seq;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(opcxt);
		(void) put_append(&p->args, &p->built, &seq);
		MemoryContextSwitchTo(old);
		MemoryContextReset(opcxt);
		p->appended_in = sub;
		n_appended++;
	}
	MemoryContextDelete(opcxt);
	nedb_end(&s);
	appended = true;
	appended_cid = GetCurrentCommandId(false);
	CommandCounterIncrement();
	if (snap)
		PopActiveSnapshot();
	appending = false;
}

/* does snap predate the last append of staged puts? */
bool
staging_unseen_by(Snapshot snap)
{
	return appended && snap != NULL && snap->curcid <= appended_cid;
}

static void
staging_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			staging_flush();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			staging_reset();
			break;
		default:
			break;
	}
}

/*
 * A rolled-back subtransaction: subtransaction ids only grow within a
 * transaction, so what it staged (or its children did) is a suffix of the
 * array, and so is what was appended inside it (rows now gone).
 */
static void
staging_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB || staged == NULL)
		return;
	appending = false;
	while (n_staged > 0 && staged[n_staged - 1].staged_in >= mySubid)
		staged_bytes -= staged[--n_staged].bytes;
	while (n_appended > 0 && staged[n_appended - 1].appended_in >= mySubid)
		staged[--n_appended].appended_in = InvalidSubTransactionId;
	if (n_appended > n_staged)
		n_appended = n_staged;
}

/*
 * Registered after every other callback of ours: transaction callbacks run
 * newest first, and the staged puts must be appended before the store and
 * the log tree close their relations at pre-commit, and before group commit
 * decides how this transaction commits.
 */
void
nedb_staging_init(void)
{
	DefineCustomEnumVariable("nedb.sequencing",
							 "When a put gets its seq: at the write, or at COMMIT.",
							 "write: at the put, holding the chain lock to the end of the transaction.  commit: puts that need nothing decided under the lock are appended at COMMIT and return \"_seq\": null.  auto: commit in a transaction block, write otherwise.",
							 &nedb_sequencing, NEDB_SEQ_AUTO, sequencing_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nedb.staging_memory",
							"Memory a transaction's staged puts may hold before it appends them and writes on under the chain lock.",
							NULL,
							&nedb_staging_memory, 65536, 64, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("nedb.staging_limit",
							"Puts a transaction stages for COMMIT before it appends them and writes on under the chain lock.",
							NULL,
							&nedb_staging_limit, 10000, 1, 10000000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(staging_xact_callback, NULL);
	RegisterSubXactCallback(staging_subxact_callback, NULL);
}
