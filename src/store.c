/*
 * store.c
 *	  Direct writes to the log and the document versions.
 *
 * Every op appends one row to nedb.ops and (for put and delete) one row to
 * nedb.versions, closing the key's previous version.  Running those through
 * SPI costs an executor start and finish per statement, several times the
 * work itself, so the hot path writes rows the way logical replication's
 * apply worker does: simple_heap_insert / simple_heap_update plus
 * ExecInsertIndexTuples, which maintains every index (including the users'
 * expression and partial indexes and unique checks).
 *
 * The relations, their indexes and an EState are opened once per
 * transaction under the top transaction's resource owner (so a subtransaction
 * abort does not close them under us) and closed before commit.  A relcache
 * invalidation of either table (say CREATE INDEX from nedb.create_index)
 * marks them stale and they are opened again at the next write.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "lib/bloomfilter.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "store.h"

/* nedb.ops and nedb.versions columns, as created by nedb--1.0.sql */
#define OPS_NATTS 16
#define VERSIONS_NATTS 5
#define V_SEQ_FROM 0
#define V_SEQ_TO 1
#define V_COLL 2
#define V_ID 3
#define V_DOC 4

typedef struct Writer
{
	Oid			relid;
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* rows we form */
	TupleTableSlot *scanslot;	/* rows an index scan returns */
} Writer;

static void writers_open(void);

static Writer w_ops;
static Writer w_versions;
static Relation ops_pkey = NULL;	/* index (seq) */
static Relation ops_client_nonce = NULL;	/* index (client, nonce) */
static Relation ops_idem = NULL;	/* partial index (idem) */
static Relation versions_key = NULL;	/* index (coll, id, seq_from) */
static EState *w_estate = NULL;
static bool w_open = false;
static bool w_stale = false;

/*
 * Every key this backend has given a version, where it knows that no other
 * version exists: a follower that started from an empty database is the
 * only writer of its versions, so a key the filter lacks has none to close
 * and its put skips the latest-version probe (a tenth of a catch-up).  A
 * false positive costs the probe; rows of an aborted batch stay in the
 * filter, which costs the same.
 */
static bloom_filter *written_keys = NULL;

static void
writer_open(Writer *w, Oid nsp, const char *relname, int natts)
{
	w->relid = get_relname_relid(relname, nsp);
	if (!OidIsValid(w->relid))
		elog(ERROR, "relation nedb.%s does not exist", relname);
	w->rel = table_open(w->relid, RowExclusiveLock);
	if (RelationGetDescr(w->rel)->natts != natts)
		elog(ERROR, "nedb.%s has %d columns, expected %d: reinstall the extension",
			 relname, RelationGetDescr(w->rel)->natts, natts);
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	ExecOpenIndices(w->rri, false);
	w->slot = MakeSingleTupleTableSlot(RelationGetDescr(w->rel), &TTSOpsHeapTuple);
	w->scanslot = table_slot_create(w->rel, NULL);
}

static void
writer_close(Writer *w)
{
	ExecDropSingleTupleTableSlot(w->slot);
	ExecDropSingleTupleTableSlot(w->scanslot);
	ExecCloseIndices(w->rri);
	table_close(w->rel, NoLock);
}

static void
writers_close(void)
{
	ResourceOwner save = CurrentResourceOwner;

	if (!w_open)
		return;
	CurrentResourceOwner = TopTransactionResourceOwner;
	writer_close(&w_ops);
	writer_close(&w_versions);
	FreeExecutorState(w_estate);
	CurrentResourceOwner = save;
	w_open = false;
	ops_pkey = ops_client_nonce = ops_idem = versions_key = NULL;
}

static Relation
find_index(Writer *w, Oid nsp, const char *name)
{
	Oid			id = get_relname_relid(name, nsp);

	for (int i = 0; i < w->rri->ri_NumIndices; i++)
		if (RelationGetRelid(w->rri->ri_IndexRelationDescs[i]) == id)
			return w->rri->ri_IndexRelationDescs[i];
	elog(ERROR, "index nedb.%s is missing: reinstall the extension", name);
	return NULL;				/* keep compiler quiet */
}

void
store_prepare(void)
{
	writers_open();
}

/*
 * Close what the writers keep open, so that DDL on nedb.versions in the same
 * transaction (nedb.create_index after a put: migrations, psql -1) does not
 * find the table in use; the next write opens them again.
 */
void
store_release(void)
{
	writers_close();
}

static void
writers_open(void)
{
	MemoryContext old;
	ResourceOwner save;
	Oid			nsp;

	if (w_open && !w_stale)
		return;
	writers_close();

	nsp = get_namespace_oid("nedb", false);
	old = MemoryContextSwitchTo(TopTransactionContext);
	save = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	w_stale = false;
	w_estate = CreateExecutorState();
	writer_open(&w_ops, nsp, "ops", OPS_NATTS);
	writer_open(&w_versions, nsp, "versions", VERSIONS_NATTS);
	CurrentResourceOwner = save;
	MemoryContextSwitchTo(old);
	w_open = true;
	ops_pkey = find_index(&w_ops, nsp, "ops_pkey");
	ops_client_nonce = find_index(&w_ops, nsp, "ops_client_nonce");
	ops_idem = find_index(&w_ops, nsp, "ops_idem");
	versions_key = find_index(&w_versions, nsp, "versions_key");
}

/*
 * The last entry of an index among those whose first nkeys columns equal
 * keys (text), as the latest snapshot sees it, into w->scanslot; false if
 * there is none.  Writers read this way under the chain lock: one backward
 * probe.
 */
static bool
last_entry(Writer *w, Relation index, int nkeys, const Datum *keys)
{
	ScanKeyData sk[2];
	IndexScanDesc scan;
	Snapshot	snap;
	bool		found;

	Assert(nkeys <= lengthof(sk));
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = index_beginscan(w->rel, index, snap, nkeys, 0);
	for (int i = 0; i < nkeys; i++)
	{
		ScanKeyInit(&sk[i], i + 1, BTEqualStrategyNumber, F_TEXTEQ, keys[i]);
		sk[i].sk_collation = index->rd_indcollation[i];
	}
	index_rescan(scan, nkeys ? sk : NULL, nkeys, NULL, 0);
	found = index_getnext_slot(scan, BackwardScanDirection, w->scanslot);
	if (found)
		ExecMaterializeSlot(w->scanslot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
	return found;
}

bool
store_last_op(int64 *seq, uint8 *hash, TransactionId *xmin, char **client, int64 *nonce)
{
	bool		isnull;
	bytea	   *h;
	bool		should_free;
	HeapTuple	tup;

	writers_open();
	if (!last_entry(&w_ops, ops_pkey, 0, NULL))
		return false;
	tup = ExecFetchSlotHeapTuple(w_ops.scanslot, false, &should_free);
	*xmin = HeapTupleHeaderGetXmin(tup->t_data);
	*seq = DatumGetInt64(slot_getattr(w_ops.scanslot, 1, &isnull));
	h = DatumGetByteaPP(slot_getattr(w_ops.scanslot, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(h) != 32)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the hash of op " INT64_FORMAT " is not 32 bytes", *seq)));
	memcpy(hash, VARDATA_ANY(h), 32);
	*client = TextDatumGetCString(slot_getattr(w_ops.scanslot, 4, &isnull));
	*nonce = DatumGetInt64(slot_getattr(w_ops.scanslot, 5, &isnull));
	ExecClearTuple(w_ops.scanslot);
	return true;
}

/* column attno (int8) of the last entry of ops index for text key, or dflt (writers open) */
static int64
last_int8(Relation index, const char *key, int attno, int64 dflt)
{
	bool		isnull;
	int64		v = dflt;
	Datum		k = CStringGetTextDatum(key);

	if (last_entry(&w_ops, index, 1, &k))
		v = DatumGetInt64(slot_getattr(w_ops.scanslot, attno, &isnull));
	ExecClearTuple(w_ops.scanslot);
	return v;
}

int64
store_last_nonce(const char *client)
{
	writers_open();
	return last_int8(ops_client_nonce, client, 5, 0);
}

/*
 * The seq of the op that registered idempotency key idem, as the latest
 * snapshot sees it (under the chain lock: every committed op, and ours), or
 * -1: one probe of ops_idem, without SPI.
 */
int64
store_idem_seq(const char *idem)
{
	writers_open();
	return last_int8(ops_idem, idem, 1, -1);
}

/*
 * The hash of op seq as the latest snapshot sees it (under the chain lock:
 * every committed op, and ours), one probe of ops_pkey: false if there is
 * none.
 */
bool
store_op_hash(int64 seq, uint8 *hash)
{
	ScanKeyData sk;
	IndexScanDesc scan;
	Snapshot	snap;
	bool		found;

	writers_open();
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&sk, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(seq));
	scan = index_beginscan(w_ops.rel, ops_pkey, snap, 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, w_ops.scanslot);
	if (found)
	{
		bool		isnull;
		bytea	   *h = DatumGetByteaPP(slot_getattr(w_ops.scanslot, 2, &isnull));

		found = !isnull && VARSIZE_ANY_EXHDR(h) == 32;
		if (found)
			memcpy(hash, VARDATA_ANY(h), 32);
	}
	ExecClearTuple(w_ops.scanslot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
	return found;
}

/*
 * The name of the subscription this database follows, or NULL: the first
 * row of nedb.subscription (it has at most one), as a non-read-only SPI
 * query would see it (after a command counter increment, with the
 * transaction snapshot: under the chain lock in READ COMMITTED, every
 * committed subscription).  A sequential scan of a table that is nearly
 * always empty, without an executor.
 */
char *
store_subscription(void)
{
	Oid			relid;
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snap;
	char	   *name = NULL;

	relid = get_relname_relid("subscription", get_namespace_oid("nedb", false));
	if (!OidIsValid(relid))
		elog(ERROR, "relation nedb.subscription does not exist: reinstall the extension");
	rel = table_open(relid, AccessShareLock);
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, 1, &isnull);

		if (!isnull)
			name = TextDatumGetCString(d);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return name;
}

/*
 * The latest version of coll:id as the latest snapshot sees it (under the
 * chain lock: every committed write), one backward probe of versions_key:
 * false if the key never had one; *doc a copy of its document, NULL for a
 * tombstone.  What an insert checks per row, without SPI's executor.
 */
bool
store_latest_doc(Datum coll, Datum id, Jsonb **doc)
{
	Datum		keys[2] = {coll, id};
	bool		found;

	writers_open();
	found = last_entry(&w_versions, versions_key, 2, keys);
	*doc = NULL;
	if (found)
	{
		bool		isnull;
		Datum		d = slot_getattr(w_versions.scanslot, V_DOC + 1, &isnull);

		if (!isnull)
			*doc = DatumGetJsonbPCopy(d);
	}
	ExecClearTuple(w_versions.scanslot);
	return found;
}

/* insert a heap tuple and its index entries */
static void
insert_row(Writer *w, Datum *values, bool *nulls)
{
	HeapTuple	tup = heap_form_tuple(RelationGetDescr(w->rel), values, nulls);

	simple_heap_insert(w->rel, tup);
	ExecStoreHeapTuple(tup, w->slot, false);
	if (w->rri->ri_NumIndices > 0)
#if PG_VERSION_NUM >= 160000
		ExecInsertIndexTuples(w->rri, w->slot, w_estate, false, false, NULL, NIL, false);
#else
		ExecInsertIndexTuples(w->rri, w->slot, w_estate, false, false, NULL, NIL);
#endif
	ExecClearTuple(w->slot);
	ResetPerTupleExprContext(w_estate);
	heap_freetuple(tup);
}

void
store_append_op(Datum *values, bool *nulls)
{
	writers_open();
	insert_row(&w_ops, values, nulls);
}

/*
 * Whether no versions exist: then every key this backend gives one from now
 * on, while it is the database's only writer of versions (the caller's
 * promise), goes into a filter sized for about expected keys, and a put of a
 * key not in it skips the probe for a version to close.
 */
bool
store_track_written_keys(int64 expected)
{
	MemoryContext old;

	writers_open();
	if (last_entry(&w_versions, versions_key, 0, NULL))
		return false;
	ExecClearTuple(w_versions.scanslot);
	if (written_keys)
		bloom_free(written_keys);
	old = MemoryContextSwitchTo(TopMemoryContext);
	/* (at most 32 MB: past about 16M keys it lets more probes through) */
	written_keys = bloom_create(Max(expected, 1024), 32 * 1024, 0);
	MemoryContextSwitchTo(old);
	return true;
}

/* false if coll:id surely has no version yet; remembers it has one now */
static bool
maybe_written(Datum coll, Datum id)
{
	text	   *c = DatumGetTextPP(coll);
	text	   *i = DatumGetTextPP(id);
	int			clen = VARSIZE_ANY_EXHDR(c);
	int			ilen = VARSIZE_ANY_EXHDR(i);
	char		buf[256];
	char	   *key = clen + ilen + 1 <= sizeof(buf) ? buf : palloc(clen + ilen + 1);
	bool		maybe;

	/* (collection names have no NUL: the pair is one key) */
	memcpy(key, VARDATA_ANY(c), clen);
	key[clen] = '\0';
	memcpy(key + clen + 1, VARDATA_ANY(i), ilen);
	maybe = !bloom_lacks_element(written_keys, (unsigned char *) key, clen + ilen + 1);
	if (!maybe)
		bloom_add_element(written_keys, (unsigned char *) key, clen + ilen + 1);
	if (key != buf)
		pfree(key);
	return maybe;
}

/* close coll:id's open version, if it has one, at seq */
static void
close_latest_version(int64 seq, Datum coll, Datum id)
{
	ScanKeyData sk[2];
	IndexScanDesc scan;
	Snapshot	snap;
	Datum		values[VERSIONS_NATTS];
	bool		nulls[VERSIONS_NATTS] = {false, false, false, false, false};

	/* the latest version of the key: the last entry of (coll, id, seq_from) */
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&sk[0], 1, BTEqualStrategyNumber, F_TEXTEQ, coll);
	sk[0].sk_collation = versions_key->rd_indcollation[0];
	ScanKeyInit(&sk[1], 2, BTEqualStrategyNumber, F_TEXTEQ, id);
	sk[1].sk_collation = versions_key->rd_indcollation[1];
	scan = index_beginscan(w_versions.rel, versions_key, snap, 2, 0);
	index_rescan(scan, sk, 2, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, w_versions.scanslot))
	{
		bool		isnull;

		(void) slot_getattr(w_versions.scanslot, V_SEQ_TO + 1, &isnull);
		if (isnull)
		{
			bool		should_free;
			HeapTuple	oldtup = ExecFetchSlotHeapTuple(w_versions.scanslot, true, &should_free);
			bool		repl[VERSIONS_NATTS] = {false, true, false, false, false};
			HeapTuple	newtup;

			values[V_SEQ_TO] = Int64GetDatum(seq);
			newtup = heap_modify_tuple(oldtup, RelationGetDescr(w_versions.rel),
									   values, nulls, repl);
			simple_heap_update(w_versions.rel, &oldtup->t_self, newtup);
			/*
			 * Not HOT: index the new tuple.  update = false, as for a catalog
			 * update: the "unchanged by update" hint needs a range table this
			 * bare EState does not have; without it btree just skips an
			 * optimization.
			 */
			if (!HeapTupleIsHeapOnly(newtup) && w_versions.rri->ri_NumIndices > 0)
			{
				ExecStoreHeapTuple(newtup, w_versions.slot, false);
#if PG_VERSION_NUM >= 160000
				ExecInsertIndexTuples(w_versions.rri, w_versions.slot, w_estate, false, false, NULL, NIL, false);
#else
				ExecInsertIndexTuples(w_versions.rri, w_versions.slot, w_estate, false, false, NULL, NIL);
#endif
				ExecClearTuple(w_versions.slot);
				ResetPerTupleExprContext(w_estate);
			}
			if (should_free)
				heap_freetuple(oldtup);
			heap_freetuple(newtup);
		}
	}
	ExecClearTuple(w_versions.scanslot);
	index_endscan(scan);
	UnregisterSnapshot(snap);
}

/*
 * A new version of coll:id from seq on (doc NULL: a tombstone), closing the
 * open one.  The caller holds the chain lock, so nobody else writes versions.
 */
void
store_put_version(int64 seq, Datum coll, Datum id, Datum doc, bool doc_null)
{
	Datum		values[VERSIONS_NATTS];
	bool		nulls[VERSIONS_NATTS] = {false, false, false, false, false};

	writers_open();
	if (written_keys == NULL || maybe_written(coll, id))
		close_latest_version(seq, coll, id);

	values[V_SEQ_FROM] = Int64GetDatum(seq);
	nulls[V_SEQ_TO] = true;
	values[V_COLL] = coll;
	values[V_ID] = id;
	values[V_DOC] = doc;
	nulls[V_DOC] = doc_null;
	insert_row(&w_versions, values, nulls);
	CommandCounterIncrement();
}

static void
store_relcache_callback(Datum arg, Oid relid)
{
	if (!w_open)
		return;
	if (relid == InvalidOid || relid == w_ops.relid || relid == w_versions.relid)
		w_stale = true;
}

static void
store_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			writers_close();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the resource owner has released everything already */
			w_open = false;
			ops_pkey = ops_client_nonce = ops_idem = versions_key = NULL;
			break;
		default:
			break;
	}
}

void
nedb_store_init(void)
{
	CacheRegisterRelcacheCallback(store_relcache_callback, (Datum) 0);
	RegisterXactCallback(store_xact_callback, NULL);
}
