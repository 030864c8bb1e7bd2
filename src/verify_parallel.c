/*
 * verify_parallel.c
 *	  nedb.verify() shared out among parallel workers.
 *
 * The leader cuts the chain into ranges of nedb.verify_range ops and, if
 * there are at least two, starts up to max_parallel_maintenance_workers
 * workers (a parallel context, as a parallel index build does) that claim
 * ranges with it from a shared counter.  Workers see the leader's snapshot
 * and run as its current user (the extension owner).  When no worker can
 * be had (max_parallel_workers = 0, no slot, already in parallel mode) the
 * leader claims every range itself: the result never depends on how many
 * took part, because it is the lowest bad seq any range found.
 *
 * A cancel or error ends the leader's transaction, which terminates the
 * workers; a worker's error is re-thrown in the leader.
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/shm_toc.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "verify.h"

#define NEDB_VERIFY_KEY UINT64CONST(0x4E45444256455249)

int			nedb_verify_range = 16384;

PGDLLEXPORT void nedb_verify_worker(dsm_segment *seg, shm_toc *toc);

void
nedb_verify_init(void)
{
	DefineCustomIntVariable("nedb.verify_range",
							"Ops that one participant of nedb.verify() checks at a time.",
							"The chain is cut into ranges of this many ops that parallel workers (up to max_parallel_maintenance_workers) and the leader claim in turn; a chain of one range is checked by the leader alone.",
							&nedb_verify_range, 16384, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

/* one past the highest seq (by the primary key), or 0 */
static int64
chain_end(VerifyRels *rels, Snapshot snap)
{
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rels->ops, NULL);
	int64		end = 0;

	scan = index_beginscan(rels->ops, rels->ops_pk, snap, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;
		int64		max = DatumGetInt64(slot_getattr(slot, 1, &isnull));

		/*
		 * A negative seq is no op of the chain's (the walk starts at 0);
		 * one at the very top is past a gap the walk reports first.
		 */
		end = max < 0 ? 0 : max == PG_INT64_MAX ? max : max + 1;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return end;
}

static void
shared_init(VerifyShared *sh, const VerifyShared *tmpl)
{
	memcpy(sh, tmpl, offsetof(VerifyShared, next_range));
	pg_atomic_init_u64(&sh->next_range, 0);
	SpinLockInit(&sh->mutex);
	sh->bad = PG_INT64_MAX;
	sh->detail[0] = '\0';
}

/*
 * Check the whole chain; result gets nops, bad (PG_INT64_MAX if none) and
 * its detail.  Runs in a session (nedb_begin), as the extension owner.
 */
void
verify_chain(VerifyShared *result)
{
	Oid			nsp = get_namespace_oid("nedb", false);
	Snapshot	snap = GetActiveSnapshot();
	VerifyShared tmpl;
	VerifyShared *sh = result;
	VerifyRels	rels;
	ParallelContext *pcxt = NULL;
	int64		nranges;
	int			nworkers = 0;

	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.ops_relid = get_relname_relid("ops", nsp);
	tmpl.ops_pk_relid = get_relname_relid("ops_pkey", nsp);
	tmpl.ver_relid = get_relname_relid("versions", nsp);
	tmpl.ver_pk_relid = get_relname_relid("versions_pkey", nsp);
	tmpl.range = nedb_verify_range;
	verify_open_rels(&tmpl, &rels);
	tmpl.nops = chain_end(&rels, snap);

	nranges = tmpl.nops / tmpl.range + (tmpl.nops % tmpl.range != 0);
	if (nranges > 1 && IsUnderPostmaster && !IsInParallelMode())
		nworkers = (int) Min((int64) max_parallel_maintenance_workers, nranges - 1);
	if (nworkers > 0)
	{
		EnterParallelMode();
		pcxt = CreateParallelContext("nedb", "nedb_verify_worker", nworkers);
		shm_toc_estimate_chunk(&pcxt->estimator, sizeof(VerifyShared));
		shm_toc_estimate_keys(&pcxt->estimator, 1);
		InitializeParallelDSM(pcxt);
		if (pcxt->seg == NULL)
		{
			/* no DSM to be had: alone, then */
			DestroyParallelContext(pcxt);
			ExitParallelMode();
			pcxt = NULL;
		}
		else
		{
			sh = shm_toc_allocate(pcxt->toc, sizeof(VerifyShared));
			shared_init(sh, &tmpl);
			shm_toc_insert(pcxt->toc, NEDB_VERIFY_KEY, sh);
			LaunchParallelWorkers(pcxt);
		}
	}
	if (pcxt == NULL)
		shared_init(sh, &tmpl);

	/* the leader takes part: with no worker launched it does it all */
	verify_claim_ranges(sh, &rels, snap);

	if (pcxt)
	{
		WaitForParallelWorkersToFinish(pcxt);
		ereport(DEBUG1,
				(errmsg_internal("nedb.verify: %lld ranges of %lld ops, %d of %d workers launched",
								 (long long) nranges, (long long) tmpl.range,
								 pcxt->nworkers_launched, nworkers)));
		shared_init(result, &tmpl);
		result->bad = sh->bad;
		memcpy(result->detail, sh->detail, NEDB_VERIFY_DETAIL);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
	}
	verify_close_rels(&rels);
}

/* a parallel worker: claim ranges with the leader until none is left */
void
nedb_verify_worker(dsm_segment *seg, shm_toc *toc)
{
	VerifyShared *sh = shm_toc_lookup(toc, NEDB_VERIFY_KEY, false);
	VerifyRels	rels;

	verify_open_rels(sh, &rels);
	verify_claim_ranges(sh, &rels, GetActiveSnapshot());
	verify_close_rels(&rels);
}
