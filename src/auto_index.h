/*
 * auto_index.h
 *	  Indexes that create themselves, and index builds that do not hold up
 *	  writers.
 *
 * auto_index.c counts, in shared memory, the queries that filtered or
 * sorted on a field that has no index for it (nedb.auto_index), and keeps
 * the databases that have builds waiting.  index_worker.c is the index
 * builder: a background worker, started by the launcher for one database
 * at a time, that builds the wanted and the requested indexes with CREATE
 * INDEX CONCURRENTLY and records them in nedb.indexes.
 */
#ifndef NEDB_AUTO_INDEX_H
#define NEDB_AUTO_INDEX_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/lwlock.h"

/* longest collection or field name counted (longer ones are not) */
#define AI_NAMELEN 64
#define AI_MAX_ENTRIES 256
#define AI_MAX_PENDING 64

typedef enum AiState
{
	AI_COUNTING,				/* below the threshold */
	AI_WANTED,					/* over it: the builder is told */
	AI_BUILDING,				/* the builder took it */
	AI_BUILT,
	AI_SMALL,					/* the collection was below the size floor */
	AI_FAILED
} AiState;

typedef struct AiEntry
{
	bool		in_use;
	Oid			dboid;
	char		coll[AI_NAMELEN];
	char		field[AI_NAMELEN];
	char		kind[8];
	AiState		state;
	int64		misses;			/* since the entry last started counting */
	int64		min_docs;		/* the size floor of the query that crossed */
	TimestampTz first_miss;
	TimestampTz last_miss;
	TimestampTz checked_at;		/* when the builder last looked at it */
} AiEntry;

typedef struct AiShared
{
	LWLock	   *lock;
	int			npending;
	Oid			pending[AI_MAX_PENDING];	/* databases with work waiting */
	AiEntry		entries[AI_MAX_ENTRIES];
} AiShared;

/* NULL unless loaded by shared_preload_libraries */
extern AiShared *ai_shared;

/* GUCs */
extern bool nedb_auto_index;
extern int	nedb_auto_index_threshold;
extern int	nedb_auto_index_min_docs;

extern void nedb_auto_index_init(void);

/* shared memory, from the launcher's hooks */
extern void auto_index_shmem_request(void);
extern void auto_index_shmem_init(void);

/*
 * A query filtered (kind eq: equality; sorted: a range or ORDER BY) on
 * coll.field: if nedb.auto_index is on and the field has no such index,
 * count the miss.  Never waits, never fails: a busy or full table drops it.
 */
extern void nedb_auto_index_miss(const char *coll, const char *field, const char *kind);

/* the builder has work in dboid: tell the launcher */
extern void auto_index_poke(Oid dboid);

/* tell the launcher about this database when the transaction commits */
extern void auto_index_poke_at_commit(void);

/* in the launcher: the next database with work, InvalidOid if none */
extern Oid	auto_index_next_pending(void);

/* in the builder: take this database's wanted entries; set one's state */
extern int	auto_index_take_wanted(AiEntry *out, int max);
extern void auto_index_set_state(const char *coll, const char *field,
								 const char *kind, AiState state);

/* index_worker.c */
extern long index_worker_launcher_step(TimestampTz now);
extern PGDLLEXPORT void nedb_index_worker_main(Datum arg);

/* indexes.c */
extern char *nedb_index_build_sql(const char *coll, const char *field,
								  const char *kind, const char *name,
								  bool concurrently);
extern char *nedb_free_index_name(const char *coll, const char *field, const char *kind);

#endif
