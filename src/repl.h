/*
 * repl.h
 *	  Op-log replication: a database follows another database's chain.
 *
 * A launcher background worker (shared_preload_libraries = 'nedb') starts
 * one apply worker per database that has a subscription.  The apply worker
 * pulls ops from the primary over libpq, checks each against its own head
 * and appends it with its original seq, ts, client, nonce and hash.  Live
 * state is in shared memory, one slot per following database; the
 * subscription itself is the row in that database's nedb.subscription.
 */
#ifndef NEDB_REPL_H
#define NEDB_REPL_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/spin.h"

#define NEDB_NOTIFY_CHANNEL "nedb_ops"
#define NEDB_MAX_SUBSCRIPTIONS 16
#define NEDB_ERROR_LEN 512

typedef enum ReplState
{
	REPL_STARTING,
	REPL_CONNECTING,
	REPL_CATCHUP,
	REPL_STREAMING,
	REPL_RETRYING				/* waiting to reconnect after an error */
} ReplState;

typedef struct ReplSlot
{
	/* set by the slot's claimer and the worker, under the mutex */
	bool		in_use;
	bool		reclaim;		/* claimed again while its worker runs */
	bool		stop;			/* the subscription is gone: worker exits */
	uint32		generation;		/* bumped when the slot wants a fresh worker */
	Oid			dboid;
	PGPROC	   *proc;			/* the apply worker, NULL when none */
	/* live state, written by the worker */
	ReplState	state;
	int64		primary_seq;	/* the primary's last seq when last asked */
	int64		applied_seq;	/* our last seq */
	double		applied_ts;		/* ts of the op at applied_seq */
	TimestampTz applied_at;		/* when it was applied (0: before any) */
	TimestampTz last_contact;
	char		last_error[NEDB_ERROR_LEN];
} ReplSlot;

typedef struct ReplShared
{
	slock_t		mutex;
	PGPROC	   *launcher;
	ReplSlot	slots[NEDB_MAX_SUBSCRIPTIONS];
} ReplShared;

/* NULL unless loaded by shared_preload_libraries */
extern ReplShared *repl_shared;

/* true in an apply worker: the one writer a following database accepts */
extern bool nedb_repl_applying;

/* GUCs */
extern bool nedb_notify;
extern int	nedb_repl_batch;
extern int	nedb_repl_poll_ms;

extern void nedb_repl_init(void);
/* the OIDs of every database that accepts connections (own transaction) */
extern List *nedb_all_databases(void);
extern void repl_sql_init(void);

/* a following database: its slot (claimed if new), and the launcher told */
extern void repl_claim(Oid dboid);
/* the subscription of dboid is gone: its worker stops */
extern void repl_stop(Oid dboid);
/* the slot of dboid, or -1 (mutex not held; for a snapshot under it) */
extern int	repl_find(Oid dboid);

extern PGDLLEXPORT void nedb_repl_launcher_main(Datum arg);
extern PGDLLEXPORT void nedb_repl_apply_main(Datum arg);

#endif
