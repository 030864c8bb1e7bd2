/*
 * track_rows.h
 *	  A tracked table's rows as documents, and their chaining (track_rows.c).
 */
#ifndef NEDB_TRACK_ROWS_H
#define NEDB_TRACK_ROWS_H

#include "executor/tuptable.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

/* what nedb.tracked says of one table, with what turns its rows into JSON */
typedef struct TrackInfo
{
	Oid			relid;
	bool		valid;			/* false: reload at the next use */
	MemoryContext cxt;
	char	   *coll;
	int			nkeys;
	AttrNumber *keyatt;
	FmgrInfo   *keyfn;			/* to_jsonb of each key column */
	FmgrInfo	rowfn;			/* to_jsonb of the row */
} TrackInfo;

/* a statement's changes, chained in batches (see track_rows.c) */
typedef struct TrackChain TrackChain;

extern void nedb_track_init(void);

/* the tracking of rel from the backend's cache; NULL if not tracked */
extern TrackInfo *track_info(Relation rel);

/* the row's id: NULL if a key column is NULL */
extern char *track_row_id(TrackInfo *ti, TupleTableSlot *slot);
extern Jsonb *track_row_doc(TrackInfo *ti, TupleTableSlot *slot);

/*
 * The settings documents and ids are made under (TimeZone, DateStyle, ...),
 * so that they do not depend on the session that wrote the row.
 */
extern int	track_output_push(void);
extern void track_output_pop(int level);

/* stage: puts may be staged for COMMIT (staging.c); evidence of every put */
extern TrackChain *track_chain_begin(TrackInfo *ti, const char *relname,
									 const char *evidence, bool stage);
extern void track_chain_put(TrackChain *c, TupleTableSlot *slot);
extern void track_chain_delete(TrackChain *c, const char *id);
/* chains what is left; returns the puts and deletes chained */
extern uint64 track_chain_end(TrackChain *c);

#endif
