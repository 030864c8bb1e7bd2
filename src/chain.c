/*
 * chain.c
 *	  The chain append: its lock, head, nonces and idempotency keys.
 *
 * Appends to one database's chain are serialized by a transaction-scoped
 * heavyweight lock with a tag of our own.  It is taken at the first write of
 * a transaction and held to its end, so seq is known at once, is dense and
 * follows commit order: the next writer can only read the head after the
 * previous one committed (locks are released after the commit is visible).
 * A rolled-back transaction leaves nothing behind; its seqs, nonces and idem
 * keys were never visible.
 *
 * While the lock is held the head and the clients' last nonces cannot change
 * under us, so they are cached for the rest of the transaction; a
 * subtransaction abort throws the cache away (and may have released the
 * lock), and the next write reads both again.
 *
 * A database that follows another (nedb.subscribe) refuses local writes: only
 * its apply worker appends.  Every writing transaction NOTIFYs the channel
 * nedb_ops at commit, which wakes the apply workers that follow this one.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "chain_notify.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "chain.h"
#include "group_commit.h"
#include "log_tree.h"
#include "repl.h"
#include "store.h"
#include "util.h"

/* lock tag: advisory lock space, our own field4 so user advisory locks never collide */
#define NEDB_LOCK_CLASS 0x4E45		/* "NE" */
#define NEDB_LOCK_KEY	0x44424348	/* "DBCH" */
/* an idempotency key's lock: its hash, then this */
#define NEDB_IDEM_KEY	0x4944454D	/* "IDEM" */


/* per-transaction chain state */
static bool chain_valid = false;
static int64 chain_seq;
static char chain_head[NEDB_HEX_LEN + 1];
/*
 * Clients' nonce high-water marks seen by this transaction.  A transaction
 * writes as one or a few clients: a short array in TopTransactionContext.
 */
typedef struct NonceEntry
{
	char	   *client;
	int64		last;
} NonceEntry;

static NonceEntry *nonces = NULL;
static int	n_nonces = 0;
static int	max_nonces = 0;

static NonceEntry *
nonce_entry(const char *client)
{
	for (int i = 0; i < n_nonces; i++)
		if (strcmp(nonces[i].client, client) == 0)
			return &nonces[i];
	return NULL;
}

static NonceEntry *
nonce_add(const char *client, int64 last)
{
	if (n_nonces == max_nonces)
	{
		max_nonces = max_nonces ? max_nonces * 2 : 4;
		nonces = nonces
			? repalloc(nonces, sizeof(NonceEntry) * max_nonces)
			: MemoryContextAlloc(TopTransactionContext, sizeof(NonceEntry) * max_nonces);
	}
	nonces[n_nonces].client = MemoryContextStrdup(TopTransactionContext, client);
	nonces[n_nonces].last = last;
	return &nonces[n_nonces++];
}

static void
nonces_forget(void)
{
	nonces = NULL;				/* freed with TopTransactionContext */
	n_nonces = max_nonces = 0;
}


/* ------------------------------------------------------------------------
 * The chain
 * ------------------------------------------------------------------------ */

/* Last seq (-1 when empty) and head hex, as the current snapshot sees them. */
int64
chain_read_head(char *hex)
{
	bool		isnull;
	bytea	   *h;

	/* a head a reader learns (and may publish) must survive a crash */
	group_commit_durable();
	if (nedb_exec(PLAN_HEAD, NULL, NULL, true, 1) == 0)
	{
		strcpy(hex, NEDB_GENESIS);
		return -1;
	}
	h = DatumGetByteaPP(nedb_col(0, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(h) != NEDB_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the hash of the last op is not %d bytes", NEDB_HASH_LEN)));
	hash_to_hex((uint8 *) VARDATA_ANY(h), hex);
	return DatumGetInt64(nedb_col(0, 1, &isnull));
}

/*
 * Refuse a write where the database cannot take one: during recovery, in a
 * read-only transaction and (with subscription) when it follows another.
 * The subscription check is final only under the chain lock.
 */
void
chain_check_writable(bool subscription)
{
	char	   *name;

	if (!subscription)
	{
		if (RecoveryInProgress())
			ereport(ERROR,
					(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
					 errmsg("cannot write to NEDB during recovery"),
					 errhint("Write on the primary server.")));
		PreventCommandIfReadOnly("a NEDB write");
		return;
	}
	if (!nedb_repl_applying && (name = store_subscription()) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot write to a NEDB database that follows another"),
				 errdetail("This database follows the subscription \"%s\"; only its apply worker appends ops.",
						   name),
				 errhint("Write on the primary, or call nedb.unsubscribe('%s') to make this database writable.",
						 name)));
}

/* this transaction holds the chain lock and knows the head */
bool
chain_locked(void)
{
	return chain_valid;
}

void
chain_lock(void)
{
	uint8		h[NEDB_HASH_LEN];
	TransactionId xmin;
	char	   *last_client;
	int64		last_nonce;

	if (chain_valid)
		return;

	chain_check_writable(false);

	/* whatever needs no lock is done before waiting for it */
	store_prepare();

	chain_wait_writers();

	/* after the lock: a subscription committed before it is seen */
	chain_check_writable(true);

	/* the latest snapshot sees every op committed before we got the lock */
	if (store_last_op(&chain_seq, h, &xmin, &last_client, &last_nonce))
	{
		hash_to_hex(h, chain_head);

		/* a client's nonces rise with seq: the last op's is its high-water mark */
		if (nonce_entry(last_client) == NULL)
			nonce_add(last_client, last_nonce);
	}
	else
	{
		chain_seq = -1;
		strcpy(chain_head, NEDB_GENESIS);
	}

	/*
	 * Under REPEATABLE READ or SERIALIZABLE the transaction snapshot may
	 * predate ops committed while we waited for the lock; building on it
	 * would fork what this transaction sees from the chain.  Refuse, as
	 * Postgres does for a concurrent update.
	 */
	if (chain_seq >= 0 && IsolationUsesXactSnapshot() &&
		!TransactionIdIsCurrentTransactionId(xmin) &&
		XidInMVCCSnapshot(xmin, GetTransactionSnapshot()))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent NEDB write"),
				 errdetail("The chain advanced to seq %lld after this transaction's snapshot was taken.",
						   (long long) chain_seq),
				 errhint("Retry the transaction.")));
	chain_valid = true;
}

/*
 * Take the chain lock (to the end of the transaction) without reading the
 * head: whoever holds it has committed or rolled back when this returns.
 */
static void
chain_tag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, NEDB_LOCK_KEY, 0, NEDB_LOCK_CLASS);
}

/* does this transaction hold the chain lock (whether or not chain_valid)? */
static bool
chain_lock_held(void)
{
	LOCKTAG		tag;

	chain_tag(&tag);
#if PG_VERSION_NUM >= 170000
	return LockHeldByMe(&tag, ExclusiveLock, false);
#else
	return LockHeldByMe(&tag, ExclusiveLock);
#endif
}

void
chain_wait_writers(void)
{
	LOCKTAG		tag;

	chain_tag(&tag);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	group_commit_note_writer();
}

int64
chain_next_seq(void)
{
	Assert(chain_valid);
	return chain_seq + 1;
}

const char *
chain_head_hex(void)
{
	Assert(chain_valid);
	return chain_head;
}

/* the client's nonce high-water mark, read once per transaction */
static NonceEntry *
nonce_last(const char *client)
{
	NonceEntry *e;

	Assert(chain_valid);
	e = nonce_entry(client);
	if (e == NULL)
		e = nonce_add(client, store_last_nonce(client));
	return e;
}

static void
nonce_replayed(const char *client, int64 nonce, int64 last)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("replay/stale nonce for client '%s': %lld <= %lld",
					client, (long long) nonce, (long long) last),
			 errhint("Each nonce of a client must be greater than its last one; omit the nonce to have the next one assigned.")));
}

/*
 * The nonce to use for a live write's op: the given one if it is above the
 * client's high-water mark (else a replay error), or the next one.  Unlike
 * the reference, the automatic nonce follows the stored high-water mark, so
 * explicit nonces never make it stale.  A given nonce may be at most
 * NEDB_MAX_NONCE (2^53 - 1): one write must not be able to use up a
 * client's nonces (automatic ones go on above it, for 2^63 - 2^53 more).
 */
int64
chain_take_nonce(const char *client, bool given, int64 nonce)
{
	NonceEntry *e;

	if (given && nonce > NEDB_MAX_NONCE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("nonce %lld of client '%s' is out of range", (long long) nonce, client),
				 errdetail("A write's nonce may be at most %lld (2^53 - 1).",
						   (long long) NEDB_MAX_NONCE),
				 errhint("Omit the nonce to have the next one assigned, or use a counter or epoch milliseconds.")));
	e = nonce_last(client);
	if (!given)
	{
		if (e->last == PG_INT64_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("nonces of client '%s' are exhausted", client),
					 errdetail("Its last nonce is %lld, the largest there is.", (long long) e->last),
					 errhint("Write as another client.")));
		nonce = e->last + 1;
	}
	else if (nonce <= e->last)
		nonce_replayed(client, nonce, e->last);
	e->last = nonce;
	return nonce;
}

/*
 * The prologue of a live write's op, the same for every kind: the chain lock
 * (a no-op when the transaction holds it), the client's nonce, the next seq
 * and the time, in that order.  What decides whether the write happens at
 * all (a known idempotency key, an insert's live document) is checked under
 * chain_lock() before this, so that a write not done takes no nonce.
 */
void
chain_op_begin(NedbOp *op, const char *kind, const char *client,
			   bool has_nonce, int64 nonce)
{
	chain_lock();
	op->op = kind;
	op->client = client;
	op->nonce = chain_take_nonce(client, has_nonce, nonce);
	op->seq = chain_next_seq();
	op->ts = op_now();
}

/*
 * The nonce of a replayed op (an imported or replicated log): any nonce
 * above the client's high-water mark, as the reference accepts it.
 */
void
chain_take_replayed_nonce(const char *client, int64 nonce)
{
	NonceEntry *e = nonce_last(client);

	if (nonce <= e->last)
		nonce_replayed(client, nonce, e->last);
	e->last = nonce;
}

/*
 * Lock an idempotency key to the end of the transaction: whoever writes an
 * op with it holds it, so a put staged for COMMIT with a key (staging.c)
 * owns the key from the put on, and no one else can register it before
 * that COMMIT.  A transaction that holds the chain lock must not wait for
 * it (the holder would wait for the chain at its COMMIT): it fails at once,
 * to be retried.  Returns whether this transaction held it already.
 */
bool
chain_idem_lock(const char *idem)
{
	LOCKTAG		tag;
	LockAcquireResult r;

	nedb_check_idem(idem);
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId,
						 hash_bytes((const unsigned char *) idem, strlen(idem)),
						 NEDB_IDEM_KEY, NEDB_LOCK_CLASS);
	r = LockAcquire(&tag, ExclusiveLock, false, chain_valid || chain_lock_held());
	if (r == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("idempotency key \"%s\" is being written by a concurrent transaction", idem),
				 errdetail("That transaction appends its op at its COMMIT, after this one, which holds the chain."),
				 errhint("Retry the transaction: the key then answers with that op.")));
	return r == LOCKACQUIRE_ALREADY_HELD || r == LOCKACQUIRE_ALREADY_CLEAR;
}

/* seq of the op that registered this idempotency key, or -1 */
int64
chain_idem_seq(const char *idem)
{
	(void) chain_idem_lock(idem);
	return store_idem_seq(idem);
}

static Datum
text_or_null(const char *s, bool *null)
{
	*null = (s == NULL);
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Append op (op->seq must be chain_next_seq()) and advance the head. */
void
chain_append(NedbOp *op)
{
	StringInfoData body;
	uint8		hash[NEDB_HASH_LEN];
	bytea	   *hb;
	Datum		v[16];
	bool		n[16];

	Assert(chain_valid && op->seq == chain_seq + 1);

	if (op->hash)
		memcpy(hash, op->hash, NEDB_HASH_LEN);	/* checked against our head */
	else
	{
		initStringInfo(&body);
		if (op->body)
			appendStringInfoString(&body, op->body);
		else
			op_build_body(&body, op);
		op_hash(chain_head, body.data, body.len, hash);
		pfree(body.data);
	}

	hb = palloc(VARHDRSZ + NEDB_HASH_LEN);
	SET_VARSIZE(hb, VARHDRSZ + NEDB_HASH_LEN);
	memcpy(VARDATA(hb), hash, NEDB_HASH_LEN);

	memset(n, 0, sizeof(n));
	v[0] = Int64GetDatum(op->seq);
	v[1] = PointerGetDatum(hb);
	v[2] = Float8GetDatum(op->ts);
	v[3] = CStringGetTextDatum(op->client);
	v[4] = Int64GetDatum(op->nonce);
	v[5] = CStringGetTextDatum(op->op);
	v[6] = text_or_null(op->coll, &n[6]);
	v[7] = text_or_null(op->id, &n[7]);
	v[8] = op->payload ? JsonbPGetDatum(op->payload) : (Datum) 0;
	n[8] = op->payload == NULL;
	v[9] = text_or_null(op->idem, &n[9]);
	v[10] = op->caused_by ? PointerGetDatum(op->caused_by) : (Datum) 0;
	n[10] = op->caused_by == NULL;
	v[11] = text_or_null(op->evidence, &n[11]);
	v[12] = Float8GetDatum(op->confidence);
	n[12] = !op->has_confidence;
	v[13] = text_or_null(op->valid_from, &n[13]);
	v[14] = text_or_null(op->valid_to, &n[14]);
	v[15] = text_or_null(op->body, &n[15]);

	store_append_op(v, n);
	log_tree_append(op->seq, chain_head, hash);
	/* followers and listeners wake at our commit; nothing if we roll back */
	chain_notify_op(op->coll, op->seq);

	chain_seq = op->seq;
	hash_to_hex(hash, chain_head);
}

static void
chain_xact_callback(XactEvent event, void *arg)
{
	/* writes staged for COMMIT are appended at pre-commit, under the lock */
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE ||
		event == XACT_EVENT_PARALLEL_PRE_COMMIT)
		return;
	/* the lock and the cache end with the transaction */
	chain_valid = false;
	nonces_forget();
}

static void
chain_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		chain_valid = false;
		nonces_forget();
	}
}

void
nedb_chain_init(void)
{
	RegisterXactCallback(chain_xact_callback, NULL);
	RegisterSubXactCallback(chain_subxact_callback, NULL);
	nedb_chain_notify_init();
}
