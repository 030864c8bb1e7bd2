/*
 * session.h
 *	  Storage sessions: SPI as the owner of schema nedb (session.c).
 */
#ifndef NEDB_SESSION_H
#define NEDB_SESSION_H

#include "executor/spi.h"
#include "utils/jsonb.h"

/* cached SPI plans, one per statement we run */
typedef enum NedbPlanId
{
	PLAN_HEAD,
	PLAN_LATEST,
	PLAN_LATEST_AS_OF,
	PLAN_EDGE_LINK,
	PLAN_EDGE_UNLINK,
	PLAN_NEIGHBORS,
	PLAN_NEIGHBORS_AS_OF,
	PLAN_INBOUND,
	PLAN_INBOUND_AS_OF,
	PLAN_HISTORY,
	PLAN_OP_ROW,
	NEDB_NUM_PLANS
} NedbPlanId;

/*
 * A storage session: SPI connected, running as the owner of schema nedb so
 * that EXECUTE on our functions, not privileges on the tables, governs use.
 */
typedef struct NedbSession
{
	MemoryContext caller_cxt;	/* where results must be allocated */
	Oid			save_userid;
	int			save_sec;
	int			guc_level;		/* nedb_safe_names_push's GUC nest level */
	bool		fresh_snapshot; /* pushed one that sees the staged puts */
} NedbSession;

extern void nedb_begin(NedbSession *s);
extern void nedb_end(NedbSession *s);

/* names resolve in pg_catalog only, until the matching pop */
extern void nedb_safe_names_push(int *guc_level);
extern void nedb_safe_names_pop(int guc_level);

/* a jsonb result copied to the caller's context, to outlive the session */
extern Datum nedb_copy_out(NedbSession *s, Jsonb *jb);

/* run a cached plan; returns SPI_processed */
extern uint64 nedb_exec(NedbPlanId id, Datum *values, const char *nulls,
						bool read_only, long limit);

/*
 * A prepared plan for a statement text, kept for the backend (NQL's and the
 * foreign tables' statements: values are parameters, so the text depends
 * only on the query's shape).  The plan cache revalidates them after DDL.
 */
extern SPIPlanPtr nedb_plan_by_text(const char *sql, int nargs, Oid *types,
									int cursor_options);

/* column value of row 0 (or row r) of the last result */
extern Datum nedb_col(uint64 row, int col, bool *isnull);

#endif
