/*
 * log_tree.c
 *	  Maintaining the Merkle tree over the op log at append.
 *
 * Appending leaf n to a tree of n leaves completes one perfect subtree per
 * trailing one bit of n; their left halves are the tree's "frontier" (the
 * perfect subtree roots along its right edge, one per set bit of n).  Each
 * append therefore hashes 1 + (trailing ones of n) nodes, amortized 2, at
 * most log2(n) + 1, and an odd op writes them as one row (an even op
 * completes nothing, and its leaf follows from its hash in nedb.ops): one
 * row per two ops, nothing ever rewritten.
 *
 * The frontier is cached per backend with the tree size and the hash of the
 * last leaf.  The chain makes (size, last op hash) name the whole log, so a
 * cache that matches the chain's head is the frontier of exactly this log,
 * whatever transactions rolled back meanwhile; on a mismatch (another
 * backend wrote, or a rollback) it is read back with one index probe per set
 * bit of the size, except for the levels a cache of an earlier size of this
 * same log still holds (load_frontier).
 *
 * Rows are written like store.c writes ops: heap insert plus the primary key
 * entry, through a relation opened once per transaction.  They roll back
 * with the transaction.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "log_tree.h"
#include "store.h"

/* the per-backend frontier cache */
static int64 fr_size = -1;		/* leaves; -1: nothing cached */
static char fr_last[NEDB_HEX_LEN + 1];	/* hash of op fr_size - 1, hex */
static uint8 fr_nodes[LT_MAX_LEVEL][NEDB_HASH_LEN];	/* valid at set bits of fr_size */

/* nedb.log_tree, opened once per transaction */
static Oid	lt_relid = InvalidOid;
static Relation lt_rel = NULL;
static Relation lt_idx = NULL;
static IndexInfo *lt_idxinfo = NULL;
static bool lt_stale = false;

void
lt_leaf_hash(const uint8 *op_hash, uint8 *out)
{
	crypto_generichash_state st;
	const uint8 prefix = 0x00;

	crypto_generichash_init(&st, NULL, 0, NEDB_HASH_LEN);
	crypto_generichash_update(&st, &prefix, 1);
	crypto_generichash_update(&st, op_hash, NEDB_HASH_LEN);
	crypto_generichash_final(&st, out, NEDB_HASH_LEN);
}

void
lt_node_hash(const uint8 *left, const uint8 *right, uint8 *out)
{
	crypto_generichash_state st;
	const uint8 prefix = 0x01;

	crypto_generichash_init(&st, NULL, 0, NEDB_HASH_LEN);
	crypto_generichash_update(&st, &prefix, 1);
	crypto_generichash_update(&st, left, NEDB_HASH_LEN);
	crypto_generichash_update(&st, right, NEDB_HASH_LEN);
	crypto_generichash_final(&st, out, NEDB_HASH_LEN);
}

void
lt_empty_root(uint8 *out)
{
	crypto_generichash(out, NEDB_HASH_LEN, NULL, 0, NULL, 0);
}

void
lt_bound_root(int64 size, const uint8 *mth, uint8 *out)
{
	crypto_generichash_state st;
	uint8		buf[9];

	buf[0] = 0x02;
	for (int i = 0; i < 8; i++)
		buf[1 + i] = (uint8) ((uint64) size >> (56 - 8 * i));
	crypto_generichash_init(&st, NULL, 0, NEDB_HASH_LEN);
	crypto_generichash_update(&st, buf, sizeof(buf));
	crypto_generichash_update(&st, mth, NEDB_HASH_LEN);
	crypto_generichash_final(&st, out, NEDB_HASH_LEN);
}

static void
lt_close(void)
{
	ResourceOwner save = CurrentResourceOwner;

	if (lt_rel == NULL)
		return;
	CurrentResourceOwner = TopTransactionResourceOwner;
	index_close(lt_idx, NoLock);
	table_close(lt_rel, NoLock);
	CurrentResourceOwner = save;
	lt_rel = lt_idx = NULL;
	lt_idxinfo = NULL;
}

static void
lt_open(void)
{
	ResourceOwner save;
	MemoryContext old;
	List	   *indexes;

	if (lt_rel != NULL && !lt_stale)
		return;
	lt_close();

	old = MemoryContextSwitchTo(TopTransactionContext);
	save = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	lt_stale = false;
	lt_relid = get_relname_relid("log_tree", get_namespace_oid("nedb", false));
	if (!OidIsValid(lt_relid))
		elog(ERROR, "relation nedb.log_tree does not exist: reinstall the extension");
	lt_rel = table_open(lt_relid, RowExclusiveLock);
	indexes = RelationGetIndexList(lt_rel);
	if (list_length(indexes) != 1 || RelationGetDescr(lt_rel)->natts != 2)
		elog(ERROR, "nedb.log_tree must have two columns and only its primary key: reinstall the extension");
	lt_idx = index_open(linitial_oid(indexes), RowExclusiveLock);
	lt_idxinfo = BuildIndexInfo(lt_idx);
	CurrentResourceOwner = save;
	MemoryContextSwitchTo(old);
}

/* node at level of row seq, as the latest snapshot (and this transaction) sees it */
static void
read_node(int64 seq, int level, uint8 *out)
{
	ScanKeyData sk;
	IndexScanDesc scan;
	Snapshot	snap;
	TupleTableSlot *slot;
	bool		found;

	lt_open();
	slot = table_slot_create(lt_rel, NULL);
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&sk, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(seq));
	scan = index_beginscan(lt_rel, lt_idx, snap, 1, 0);
	index_rescan(scan, &sk, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		bool		isnull;
		bytea	   *nodes = DatumGetByteaPP(slot_getattr(slot, 2, &isnull));

		if (isnull || VARSIZE_ANY_EXHDR(nodes) < (level + 1) * NEDB_HASH_LEN)
			found = false;
		else
			memcpy(out, VARDATA_ANY(nodes) + level * NEDB_HASH_LEN, NEDB_HASH_LEN);
	}
	index_endscan(scan);
	UnregisterSnapshot(snap);
	ExecDropSingleTupleTableSlot(slot);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the log tree lacks the level %d node of op " INT64_FORMAT, level, seq),
				 errhint("nedb.log_tree must hold one row per op of nedb.ops.")));
}

/*
 * The frontier of the tree of the first n ops (the last one's hash in hex).
 * Its level-0 node, when there is one, is the leaf of op n - 1, whose hash
 * the chain head is; the others are stored (at odd rows).
 *
 * A cached frontier of m < n leaves still holds the nodes at the levels
 * where m and n agree from that level up (the same perfect subtree), if it
 * is the frontier of this log's first m ops: if op m - 1 here has the hash
 * it was cached with, which names those ops as the head names the log.
 * When writers take turns, the cache is a few ops behind: one probe for
 * that hash and the few low levels that changed replace one probe per set
 * bit of n.
 */
static void
load_frontier(int64 n, const char *last_hex)
{
	int64		m = fr_size;
	bool		reuse = false;

	if (m > 0 && m < n)
	{
		uint8		h[NEDB_HASH_LEN];
		char		hex[NEDB_HEX_LEN + 1];

		if (store_op_hash(m - 1, h))
		{
			hash_to_hex(h, hex);
			reuse = memcmp(hex, fr_last, NEDB_HEX_LEN) == 0;
		}
	}

	fr_size = -1;
	if (n & 1)
	{
		uint8		last[NEDB_HASH_LEN];

		if (!hex_to_hash(last_hex, last))
			elog(ERROR, "malformed chain head \"%s\"", last_hex);
		lt_leaf_hash(last, fr_nodes[0]);
	}
	for (int level = 1; level < LT_MAX_LEVEL - 1; level++)
	{
		if (n & ((int64) 1 << level))
		{
			int64		start = n & ~(((int64) 2 << level) - 1);

			if (reuse && (m & ((int64) 1 << level)) &&
				(m >> (level + 1)) == (n >> (level + 1)))
				continue;
			read_node(start + ((int64) 1 << level) - 1, level, fr_nodes[level]);
		}
	}
	memcpy(fr_last, last_hex, NEDB_HEX_LEN);
	fr_size = n;
}

void
log_tree_append(int64 seq, const char *prev_hex, const uint8 *hash)
{
	uint8		row[LT_MAX_LEVEL * NEDB_HASH_LEN + VARHDRSZ];
	uint8	   *nodes = row + VARHDRSZ;
	int			level = 0;
	int64		n = seq;		/* leaves before this one */
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tup;

	if (fr_size != n || memcmp(fr_last, prev_hex, NEDB_HEX_LEN) != 0)
		load_frontier(n, prev_hex);

	lt_leaf_hash(hash, nodes);
	while (n & ((int64) 1 << level))
	{
		lt_node_hash(fr_nodes[level], nodes + level * NEDB_HASH_LEN,
					 nodes + (level + 1) * NEDB_HASH_LEN);
		level++;
	}

	/* an even op completes nothing: its leaf is H(0x00 || its hash) anyway */
	if (level > 0)
	{
		lt_open();
		SET_VARSIZE(row, VARHDRSZ + (level + 1) * NEDB_HASH_LEN);
		values[0] = Int64GetDatum(seq);
		values[1] = PointerGetDatum(row);
		tup = heap_form_tuple(RelationGetDescr(lt_rel), values, nulls);
		simple_heap_insert(lt_rel, tup);
		index_insert(lt_idx, values, nulls, &tup->t_self, lt_rel, UNIQUE_CHECK_YES,
					 false, lt_idxinfo);
		heap_freetuple(tup);
	}

	/* the completed subtree joins the frontier; the ones it absorbed leave */
	memcpy(fr_nodes[level], nodes + level * NEDB_HASH_LEN, NEDB_HASH_LEN);
	hash_to_hex(hash, fr_last);
	fr_size = seq + 1;
}

static void
lt_relcache_callback(Datum arg, Oid relid)
{
	if (lt_rel != NULL && (relid == InvalidOid || relid == lt_relid))
		lt_stale = true;
}

static void
lt_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			lt_close();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the resource owner has closed them already */
			lt_rel = lt_idx = NULL;
			lt_idxinfo = NULL;
			break;
		default:
			break;
	}
}

void
nedb_log_tree_init(void)
{
	CacheRegisterRelcacheCallback(lt_relcache_callback, (Datum) 0);
	RegisterXactCallback(lt_xact_callback, NULL);
}
