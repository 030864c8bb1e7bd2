/*
 * staging.h
 *	  Commit-time sequencing of puts (see staging.c).
 */
#ifndef NEDB_STAGING_H
#define NEDB_STAGING_H

#include "utils/snapshot.h"

#include "write.h"

typedef enum NedbSequencing
{
	NEDB_SEQ_WRITE,
	NEDB_SEQ_COMMIT,
	NEDB_SEQ_AUTO
} NedbSequencing;

extern int	nedb_sequencing;
extern int	nedb_staging_limit;
extern int	nedb_staging_memory;

/* may this put be staged for COMMIT? */
extern bool staging_wanted(PutArgs *a);
/* stage it: returns the document with "_seq": null */
extern Jsonb *staging_put(PutArgs *a);
/* append what is staged, now (storage sessions do, before anything else) */
extern bool staging_pending(void);
extern void staging_flush(void);
extern bool staging_unseen_by(Snapshot snap);

extern void nedb_staging_init(void);

#endif
