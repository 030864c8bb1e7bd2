/*
 * digest_worker.c
 *	  Signed digests stored in the background: with the library in
 *	  shared_preload_libraries, nedb.digest_interval > 0 and a signing key
 *	  (nedb.signing_key_file), a round every interval visits each database
 *	  (rounds.c) and, where NEDB is, stores a signed digest of its log in
 *	  nedb.digests (nedb.store_digest(): one row per tree size, so an idle
 *	  log adds nothing, and an empty one none at all).  An auditor can later check any two stored digests
 *	  against each other with a consistency proof.
 *
 * The worker runs nedb.store_digest() as the extension's owner, with
 * search_path pg_catalog, pg_temp, in one transaction; an error is a
 * WARNING and the next round tries again.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "digest_worker.h"
#include "rounds.h"
#include "sign.h"

int			nedb_digest_interval_ms = 0;

/* without a key there is nothing to sign: no workers at all */
static bool
have_key(void)
{
	return nedb_signing_key_file != NULL && nedb_signing_key_file[0] != '\0';
}

static WorkerRounds digest_rounds = {
	.function = "nedb_digest_worker_main",
	.type = "nedb digest signer",
	.interval_ms = &nedb_digest_interval_ms,
	.enabled = have_key,
};

void
nedb_digest_worker_init(void)
{
	DefineCustomIntVariable("nedb.digest_interval",
							"How often a signed digest of each database's log is stored in nedb.digests.",
							"0 turns it off. Needs nedb in shared_preload_libraries and nedb.signing_key_file.",
							&nedb_digest_interval_ms, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

long
digest_launcher_step(TimestampTz now)
{
	return rounds_step(&digest_rounds, now);
}

void
nedb_digest_worker_main(Datum arg)
{
	Oid			owner = rounds_worker_start(DatumGetObjectId(arg), "nedb digest signer");
	char	   *dbname = NULL;

	if (!OidIsValid(owner))
		proc_exit(0);
	PG_TRY();
	{
		Oid			save_user;
		int			save_sec;

		StartTransactionCommand();
		dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
		/* as the extension's owner (an abort gives the worker's identity back) */
		GetUserIdAndSecContext(&save_user, &save_sec);
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "nedb store_digest");
		if (OidIsValid(get_namespace_oid("nedb", true)))
		{
			SPI_connect();
			/* an empty log has nothing to attest (and no consistency proof from size 0) */
			if (SPI_execute("SELECT nedb.store_digest() WHERE EXISTS (SELECT 1 FROM nedb.log)",
							false, 0) != SPI_OK_SELECT)
				elog(ERROR, "nedb: nedb.store_digest() failed");
			SPI_finish();
		}
		PopActiveSnapshot();
		SetUserIdAndSecContext(save_user, save_sec);
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata = rounds_caught_error(TopMemoryContext, NULL);

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("nedb digest signer in database \"%s\": %s",
						dbname ? dbname : "?", edata->message),
				 edata->detail ? errdetail("%s", edata->detail) : 0,
				 errhint("The next round tries again.")));
	}
	PG_END_TRY();
	proc_exit(0);
}
