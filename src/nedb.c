/*
 * nedb.c
 *	  Module entry: NEDB, a hash-chained, time-traveling document store.
 *
 * The core needs only CREATE EXTENSION nedb; loading the library through
 * shared_preload_libraries also starts the launcher of the replication and
 * TTL sweeper workers and registers nedb_sorted's WAL resource manager
 * (cheaper leaf inserts, see sorted_xlog.c).
 */
#include "postgres.h"

#include <sodium.h>

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/guc.h"

#include "acl.h"
#include "auto_index.h"
#include "cascade.h"
#include "chain.h"
#include "fdw.h"
#include "log_tree.h"
#include "nql.h"
#include "repl.h"
#include "sorted.h"
#include "store.h"
#include "group_commit.h"
#include "staging.h"
#include "sign.h"
#include "at_rest.h"
#include "sweeper.h"
#include "digest_worker.h"
#include "track_rows.h"
#include "verify.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(nedb_refuse_log_change);

void		_PG_init(void);

void
_PG_init(void)
{
	/* picks libsodium's SIMD implementations of BLAKE2b */
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not initialize libsodium")));
	sorted_xlog_init();
	nedb_chain_init();
	nedb_group_commit_init();
	nedb_acl_init();
	nedb_store_init();
	nedb_fdw_init();
	nedb_nql_scan_init();
	nedb_log_tree_init();
	nedb_track_init();
	DefineCustomIntVariable("nedb.cascade_warm_level",
							"zstd level of the warm Cascade tier.",
							"The cold tier uses the maximum level with long-distance matching, or this level when that compresses a chunk better.",
							&cascade_warm_level, 3, 1, 19,
							PGC_USERSET, 0, NULL, NULL, NULL);
	nedb_repl_init();
	nedb_sweeper_init();
	nedb_digest_worker_init();
	nedb_auto_index_init();
	nedb_sign_init();
	nedb_at_rest_init();
	repl_sql_init();
	nedb_verify_init();
	/* last: its pre-commit callback must run before the others (see there) */
	nedb_staging_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("nedb");
#else
	EmitWarningsOnPlaceholders("nedb");
#endif
}

/* The log is append-only: refuse UPDATE, DELETE and TRUNCATE of nedb.ops. */
Datum
nedb_refuse_log_change(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "nedb_refuse_log_change must be called as a trigger");
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("the NEDB log is append-only"),
			 errdetail("%s on nedb.ops is refused.",
					   TRIGGER_FIRED_BY_UPDATE(trig->tg_event) ? "UPDATE" :
					   TRIGGER_FIRED_BY_DELETE(trig->tg_event) ? "DELETE" : "TRUNCATE"),
			 errhint("Ops are only ever appended; nedb.verify() proves the log.")));
	PG_RETURN_NULL();
}
