/*
 * sweeper.h
 *	  The TTL sweeper: expired documents' deletes logged in the background.
 *
 * With the library in shared_preload_libraries and nedb.sweep_interval set,
 * the launcher (repl_launcher.c) starts a short-lived sweeper worker for
 * each database in turn, once per interval.  A database with NEDB gets the
 * deletes nedb.sweep() would log, in transactions of at most
 * nedb.sweep_batch deletes; any other database is left at once.  What each
 * run did is kept in shared memory, one entry per database (the view
 * nedb.sweeper).
 */
#ifndef NEDB_SWEEPER_H
#define NEDB_SWEEPER_H

#include "postgres.h"

#include "datatype/timestamp.h"

#define NEDB_SWEEP_MAX_DBS 64

/* GUCs */
extern int	nedb_sweep_interval_ms;
extern int	nedb_sweep_batch;

extern void nedb_sweeper_init(void);

/* shared memory, from the launcher's hooks */
extern Size sweeper_shmem_size(void);
extern void sweeper_shmem_init(void);

/*
 * One step of the launcher's sweep rounds: starts the next database's
 * worker when it is time; returns how long the launcher may sleep (ms).
 */
extern long sweeper_launcher_step(TimestampTz now);

extern PGDLLEXPORT void nedb_sweeper_main(Datum arg);

#endif
