/*
 * digest_worker.h
 *	  Signed digests stored in the background (README: Signed digests).
 */
#ifndef NEDB_DIGEST_WORKER_H
#define NEDB_DIGEST_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern int	nedb_digest_interval_ms;

extern void nedb_digest_worker_init(void);

/* one step of the launcher's digest rounds; how long it may sleep (ms), -1: off */
extern long digest_launcher_step(TimestampTz now);

extern PGDLLEXPORT void nedb_digest_worker_main(Datum arg);

#endif
