/*
 * rounds.h
 *	  Rounds of short-lived per-database workers, run by the launcher: the
 *	  TTL sweeper (sweeper.c) and the digest signer (digest_worker.c).
 */
#ifndef NEDB_ROUNDS_H
#define NEDB_ROUNDS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "postmaster/bgworker.h"

/*
 * One kind of round: every *interval_ms (0: off) a worker running function
 * (in library nedb, with the database's OID as its argument) for each
 * database that accepts connections, one after the other.
 */
typedef struct WorkerRounds
{
	const char *function;		/* the worker's entry point */
	const char *type;			/* its bgw_type ("nedb sweeper") */
	int		   *interval_ms;	/* the GUC */
	bool		(*enabled) (void);	/* NULL, or whether rounds may run at all */
	BackgroundWorkerHandle *handle; /* the worker running now, or NULL */
	List	   *todo;			/* databases still to visit this round */
	TimestampTz round_start;
} WorkerRounds;

/*
 * One step (in the launcher): start the next database's worker when it is
 * time; returns how long the launcher may sleep (ms), -1 when turned off.
 */
extern long rounds_step(WorkerRounds *r, TimestampTz now);

/*
 * Start a short-lived worker running function (in library nedb) for dboid,
 * notifying us at its start and end; false if no worker slot is free.
 */
extern bool rounds_start_worker(const char *function, const char *type, Oid dboid,
								BackgroundWorkerHandle **handle);

/*
 * In a worker, connected: the owner of extension nedb (InvalidOid if the
 * database has none), read in a transaction of its own; search_path and
 * transaction settings fixed first, so that no database or role setting
 * changes what the worker runs.
 */
extern Oid	rounds_worker_start(Oid dboid, const char *appname);

/*
 * In a worker's PG_CATCH: the error, copied into cxt, with the error state
 * flushed and any transaction aborted; *text (if not NULL) its message and
 * detail in one line, palloc'd in cxt.
 */
extern ErrorData *rounds_caught_error(MemoryContext cxt, char **text);

#endif
