/*
 * auto_index.c
 *	  Counting the queries an index would have served (nedb.auto_index).
 *
 * When nql() or a foreign-table scan filters with equality (eq), or with a
 * range or ORDER BY (sorted), on a field of a collection that has no such
 * index, and nedb.auto_index is on, the miss is counted here, in a fixed
 * table in shared memory keyed by (database, collection, field, kind).  The
 * lock is only tried: a query never waits for it, and when it is busy or
 * the table is full the miss is dropped.  The query that brings a count to
 * nedb.auto_index_threshold marks the entry wanted and tells the launcher,
 * which starts the index builder (index_worker.c) in that database; the
 * builder checks the size floor (nedb.auto_index_min_docs) and builds the
 * index without holding up writers.
 *
 * SEARCH names no field (it looks in every string), so it is not counted:
 * a search index is on a field the user chooses.
 *
 * The settings are PGC_SUSET: an index the server builds on its own costs
 * disk and every later put to the collection, and is built with the
 * extension owner's rights, so turning it on (ALTER DATABASE or ROLE ...
 * SET) is the administrator's decision, not any reader's.
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "auto_index.h"
#include "repl.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_index_candidates_status);

AiShared   *ai_shared = NULL;

bool		nedb_auto_index = false;
int			nedb_auto_index_threshold = 5;
int			nedb_auto_index_min_docs = 10000;

/* a small collection is looked at again this long after it was found small */
#define AI_SMALL_RECHECK_MS (60 * 1000)

static bool poke_at_commit = false;

static void
ai_xact_callback(XactEvent event, void *arg)
{
	if (!poke_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT)
	{
		poke_at_commit = false;
		auto_index_poke(MyDatabaseId);
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
		poke_at_commit = false;
}

void
nedb_auto_index_init(void)
{
	DefineCustomBoolVariable("nedb.auto_index",
							 "Whether queries that an index would serve count towards building it in the background.",
							 "Needs nedb in shared_preload_libraries. Set it per database or role with ALTER DATABASE or ALTER ROLE ... SET.",
							 &nedb_auto_index, false, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nedb.auto_index_threshold",
							"How many queries on a field without an index have the index built.",
							NULL, &nedb_auto_index_threshold, 5, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nedb.auto_index_min_docs",
							"Fewest live documents a collection needs for an automatic index.",
							"Smaller collections are read faster without one.",
							&nedb_auto_index_min_docs, 10000, 0, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	RegisterXactCallback(ai_xact_callback, NULL);
}

void
auto_index_shmem_request(void)
{
	RequestAddinShmemSpace(sizeof(AiShared));
	RequestNamedLWLockTranche("nedb auto index", 1);
}

/* called with AddinShmemInitLock held */
void
auto_index_shmem_init(void)
{
	bool		found;

	ai_shared = ShmemInitStruct("nedb auto index", sizeof(AiShared), &found);
	if (!found)
	{
		memset(ai_shared, 0, sizeof(AiShared));
		ai_shared->lock = &(GetNamedLWLockTranche("nedb auto index"))->lock;
	}
}

/* the entry of the key, or NULL; lock held */
static AiEntry *
entry_find(const char *coll, const char *field, const char *kind)
{
	for (int i = 0; i < AI_MAX_ENTRIES; i++)
	{
		AiEntry    *e = &ai_shared->entries[i];

		if (e->in_use && e->dboid == MyDatabaseId &&
			strcmp(e->coll, coll) == 0 && strcmp(e->field, field) == 0 &&
			strcmp(e->kind, kind) == 0)
			return e;
	}
	return NULL;
}

/* a free entry, or one whose story is over (built, small); lock held */
static AiEntry *
entry_new(void)
{
	AiEntry    *reuse = NULL;

	for (int i = 0; i < AI_MAX_ENTRIES; i++)
	{
		AiEntry    *e = &ai_shared->entries[i];

		if (!e->in_use)
			return e;
		if ((e->state == AI_BUILT || e->state == AI_SMALL) &&
			(reuse == NULL || e->last_miss < reuse->last_miss))
			reuse = e;
	}
	return reuse;
}

/* add dboid to the databases with work; lock held */
static void
pending_add(Oid dboid)
{
	for (int i = 0; i < ai_shared->npending; i++)
		if (ai_shared->pending[i] == dboid)
			return;
	if (ai_shared->npending < AI_MAX_PENDING)
		ai_shared->pending[ai_shared->npending++] = dboid;
}

static void
wake_launcher(void)
{
	PGPROC	   *launcher;

	if (repl_shared == NULL)
		return;
	SpinLockAcquire(&repl_shared->mutex);
	launcher = repl_shared->launcher;
	SpinLockRelease(&repl_shared->mutex);
	if (launcher)
		SetLatch(&launcher->procLatch);
}

void
nedb_auto_index_miss(const char *coll, const char *field, const char *kind)
{
	bool		wake = false;
	AiEntry    *e;
	TimestampTz now;

	if (!nedb_auto_index || ai_shared == NULL)
		return;
	if (strlen(coll) >= AI_NAMELEN || strlen(field) >= AI_NAMELEN)
		return;
	/* is there an index that serves it? */
	if (OidIsValid(nedb_index_oid(coll, field, "sorted")) ||
		(strcmp(kind, "eq") == 0 && OidIsValid(nedb_index_oid(coll, field, "eq"))))
		return;

	if (!LWLockConditionalAcquire(ai_shared->lock, LW_EXCLUSIVE))
		return;
	now = GetCurrentStatementStartTimestamp();
	e = entry_find(coll, field, kind);
	if (e == NULL && (e = entry_new()) != NULL)
	{
		memset(e, 0, sizeof(AiEntry));
		e->in_use = true;
		e->dboid = MyDatabaseId;
		strlcpy(e->coll, coll, AI_NAMELEN);
		strlcpy(e->field, field, AI_NAMELEN);
		strlcpy(e->kind, kind, sizeof(e->kind));
		e->state = AI_COUNTING;
		e->first_miss = now;
	}
	if (e != NULL)
	{
		/* built and dropped since, or found small a while ago: count again */
		if (e->state == AI_BUILT ||
			(e->state == AI_SMALL &&
			 TimestampDifferenceExceeds(e->checked_at, now, AI_SMALL_RECHECK_MS)))
		{
			e->state = AI_COUNTING;
			e->misses = 0;
			e->first_miss = now;
		}
		if (e->state == AI_COUNTING || e->state == AI_SMALL)
		{
			e->misses++;
			e->last_miss = now;
			if (e->state == AI_COUNTING && e->misses >= nedb_auto_index_threshold)
			{
				e->state = AI_WANTED;
				e->min_docs = nedb_auto_index_min_docs;
				pending_add(MyDatabaseId);
				wake = true;
			}
		}
	}
	LWLockRelease(ai_shared->lock);
	if (wake)
		wake_launcher();
}

void
auto_index_poke(Oid dboid)
{
	if (ai_shared == NULL)
		return;
	LWLockAcquire(ai_shared->lock, LW_EXCLUSIVE);
	pending_add(dboid);
	LWLockRelease(ai_shared->lock);
	wake_launcher();
}

void
auto_index_poke_at_commit(void)
{
	poke_at_commit = true;
}

Oid
auto_index_next_pending(void)
{
	Oid			dboid = InvalidOid;

	if (ai_shared == NULL)
		return InvalidOid;
	LWLockAcquire(ai_shared->lock, LW_EXCLUSIVE);
	if (ai_shared->npending > 0)
	{
		dboid = ai_shared->pending[0];
		memmove(&ai_shared->pending[0], &ai_shared->pending[1],
				sizeof(Oid) * (ai_shared->npending - 1));
		ai_shared->npending--;
	}
	LWLockRelease(ai_shared->lock);
	return dboid;
}

static const char *
state_name(AiState s)
{
	switch (s)
	{
		case AI_COUNTING:
			return "counting";
		case AI_WANTED:
			return "wanted";
		case AI_BUILDING:
			return "building";
		case AI_BUILT:
			return "built";
		case AI_SMALL:
			return "too small";
		case AI_FAILED:
			return "failed";
	}
	return "?";
}

/* nedb.index_candidates_status(): this database's entries */
Datum
nedb_index_candidates_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Tuplestorestate *ts = nedb_srf_begin(fcinfo, &desc);
	AiEntry    *copy;
	int			n = 0;

	if (ai_shared == NULL)
		return (Datum) 0;
	copy = palloc(sizeof(AiEntry) * AI_MAX_ENTRIES);
	LWLockAcquire(ai_shared->lock, LW_SHARED);
	for (int i = 0; i < AI_MAX_ENTRIES; i++)
		if (ai_shared->entries[i].in_use && ai_shared->entries[i].dboid == MyDatabaseId)
			copy[n++] = ai_shared->entries[i];
	LWLockRelease(ai_shared->lock);

	for (int i = 0; i < n; i++)
	{
		AiEntry    *e = &copy[i];
		Datum		v[8];
		bool		nulls[8] = {0};

		v[0] = CStringGetTextDatum(e->coll);
		v[1] = CStringGetTextDatum(e->field);
		v[2] = CStringGetTextDatum(e->kind);
		v[3] = Int64GetDatum(e->misses);
		v[4] = CStringGetTextDatum(state_name(e->state));
		v[5] = TimestampTzGetDatum(e->first_miss);
		nulls[5] = e->first_miss == 0;
		v[6] = TimestampTzGetDatum(e->last_miss);
		nulls[6] = e->last_miss == 0;
		v[7] = TimestampTzGetDatum(e->checked_at);
		nulls[7] = e->checked_at == 0;
		tuplestore_putvalues(ts, desc, v, nulls);
	}
	return (Datum) 0;
}

/* in the builder: this database's wanted entries, now its to build */
int
auto_index_take_wanted(AiEntry *out, int max)
{
	int			n = 0;

	if (ai_shared == NULL)
		return 0;
	LWLockAcquire(ai_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < AI_MAX_ENTRIES && n < max; i++)
	{
		AiEntry    *e = &ai_shared->entries[i];

		if (e->in_use && e->dboid == MyDatabaseId && e->state == AI_WANTED)
		{
			e->state = AI_BUILDING;
			out[n++] = *e;
		}
	}
	LWLockRelease(ai_shared->lock);
	return n;
}

/* in the builder: what became of an entry (none: nothing to say) */
void
auto_index_set_state(const char *coll, const char *field, const char *kind, AiState state)
{
	AiEntry    *e;

	if (ai_shared == NULL || strlen(coll) >= AI_NAMELEN || strlen(field) >= AI_NAMELEN)
		return;
	LWLockAcquire(ai_shared->lock, LW_EXCLUSIVE);
	e = entry_find(coll, field, kind);
	if (e != NULL)
	{
		e->state = state;
		e->checked_at = GetCurrentTimestamp();
		if (state == AI_SMALL)
			e->misses = 0;
	}
	LWLockRelease(ai_shared->lock);
}
