/*
 * acl.c
 *	  Collection privileges: who may read and who may write which collection.
 *
 * Every entry point runs its storage access as the owner of schema nedb, so
 * Postgres's own privileges on nedb.versions cannot tell roles apart; this
 * does.  nedb.grants holds (object, collection, grantee, privilege) rows:
 * object 'collection' with a collection name, or NULL for every collection,
 * or object 'files' (Cascade).  The role that owns schema nedb (the
 * extension's owner) and superusers may do everything and are the only ones
 * who may grant.  Privileges follow role membership, as Postgres's do
 * (has_privs_of_role).
 *
 * Each backend keeps the rows in memory; a statement trigger on nedb.grants
 * sends a relcache invalidation of the table, so a change is seen by every
 * session from the commit that made it.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "acl.h"
#include "chain.h"
#include "op.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_grant);
PG_FUNCTION_INFO_V1(nedb_revoke);
PG_FUNCTION_INFO_V1(nedb_grant_files);
PG_FUNCTION_INFO_V1(nedb_revoke_files);
PG_FUNCTION_INFO_V1(nedb_has_privilege);
PG_FUNCTION_INFO_V1(nedb_catalog_changed);

typedef struct AclEntry
{
	bool		files;			/* object 'files', else 'collection' */
	char	   *coll;			/* NULL: every collection */
	Oid			grantee;
	int			privs;			/* NEDB_READ | NEDB_WRITE */
} AclEntry;

static MemoryContext acl_cxt = NULL;
static List *acl_entries = NIL;
static Oid	acl_owner = InvalidOid;
static Oid	acl_relid = InvalidOid;
static bool acl_valid = false;
static uint64 acl_invals = 0;	/* invalidations seen: one during a load voids it */

static void
acl_invalidate_rel(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == acl_relid)
	{
		acl_valid = false;
		acl_invals++;
	}
}

static void
acl_invalidate_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	/* schema nedb changed owner, or the extension came or went */
	acl_valid = false;
	acl_invals++;
}

void
nedb_acl_init(void)
{
	CacheRegisterRelcacheCallback(acl_invalidate_rel, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, acl_invalidate_syscache, (Datum) 0);
}

static void
acl_load(void)
{
	NedbSession s;
	Oid			nsp;
	HeapTuple	tup;
	uint64		invals = acl_invals;

	if (acl_valid)
		return;
	if (acl_cxt == NULL)
		acl_cxt = AllocSetContextCreate(CacheMemoryContext, "nedb grants",
										ALLOCSET_SMALL_SIZES);
	MemoryContextReset(acl_cxt);
	acl_entries = NIL;

	nsp = get_namespace_oid("nedb", false);
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema nedb");
	acl_owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	acl_relid = get_relname_relid("grants", nsp);
	if (!OidIsValid(acl_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension nedb in this database is older than its library: table nedb.grants does not exist"),
				 errdetail("Collection privileges came with version 1.1 of the extension's objects."),
				 errhint("Run ALTER EXTENSION nedb UPDATE.")));

	nedb_begin(&s);
	if (SPI_execute("SELECT object = 'files', coll, grantee::pg_catalog.oid, privilege = 'write'"
					"  FROM nedb.grants", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read nedb.grants");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(acl_cxt);
		AclEntry   *e = palloc0(sizeof(AclEntry));
		bool		isnull;
		Datum		d;

		e->files = DatumGetBool(SPI_getbinval(row, desc, 1, &isnull));
		d = SPI_getbinval(row, desc, 2, &isnull);
		e->coll = isnull ? NULL : TextDatumGetCString(d);
		e->grantee = DatumGetObjectId(SPI_getbinval(row, desc, 3, &isnull));
		e->privs = DatumGetBool(SPI_getbinval(row, desc, 4, &isnull)) ? NEDB_WRITE : NEDB_READ;
		acl_entries = lappend(acl_entries, e);
		MemoryContextSwitchTo(old);
	}
	nedb_end(&s);
	/* a change committed while we read is read again next time */
	acl_valid = (invals == acl_invals);
}

bool
nedb_acl_is_admin(Oid role)
{
	if (superuser_arg(role))
		return true;
	acl_load();
	return has_privs_of_role(role, acl_owner);
}

static bool
acl_allows(Oid role, bool files, const char *coll, NedbPriv priv)
{
	ListCell   *lc;

	if (nedb_acl_is_admin(role))
		return true;
	foreach(lc, acl_entries)
	{
		AclEntry   *e = lfirst(lc);

		if (e->files != files || (e->privs & priv) == 0)
			continue;
		/* a grant on every collection covers each; one on a collection, only it */
		if (!files && e->coll != NULL && (coll == NULL || strcmp(e->coll, coll) != 0))
			continue;
		if (has_privs_of_role(role, e->grantee))
			return true;
	}
	return false;
}

static const char *
priv_name(NedbPriv priv)
{
	return priv == NEDB_WRITE ? "write" : "read";
}

bool
nedb_acl_collection(Oid role, const char *coll, NedbPriv priv)
{
	return acl_allows(role, false, coll, priv);
}

void
nedb_acl_require_collection(Oid role, const char *coll, NedbPriv priv)
{
	if (acl_allows(role, false, coll, priv))
		return;
	if (coll == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s every NEDB collection", priv_name(priv)),
				 errdetail("Role \"%s\" has no %s privilege on all collections.",
						   GetUserNameFromId(role, false), priv_name(priv)),
				 errhint("The NEDB owner can grant it: SELECT nedb.grant(NULL, '%s', '%s');",
						 GetUserNameFromId(role, false), priv_name(priv))));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s NEDB collection \"%s\"", priv_name(priv), coll),
			 errdetail("Role \"%s\" has no %s privilege on the collection.",
					   GetUserNameFromId(role, false), priv_name(priv)),
			 errhint("The NEDB owner can grant it: SELECT nedb.grant('%s', '%s', '%s');",
					 coll, GetUserNameFromId(role, false), priv_name(priv))));
}

/*
 * A foreign table over a collection is like a view: the executor checks the
 * user's privileges on the table, and the table's owner must hold the
 * collection privilege.  So USAGE on SERVER nedb gives no access by itself.
 */
void
nedb_acl_require_table(Relation rel, const char *coll, NedbPriv priv)
{
	Oid			owner = rel->rd_rel->relowner;

	if (acl_allows(owner, false, coll, priv))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s NEDB collection \"%s\" through foreign table \"%s\"",
					priv_name(priv), coll, RelationGetRelationName(rel)),
			 errdetail("The table's owner, role \"%s\", has no %s privilege on the collection.",
					   GetUserNameFromId(owner, false), priv_name(priv)),
			 errhint("The NEDB owner can grant it: SELECT nedb.grant('%s', '%s', '%s');",
					 coll, GetUserNameFromId(owner, false), priv_name(priv))));
}

/* the collection of a graph node "coll:id"; NULL when it names none */
static char *
node_coll(const char *node)
{
	const char *c = strchr(node, ':');

	return c ? pnstrdup(node, c - node) : NULL;
}

bool
nedb_acl_node(Oid role, const char *node, NedbPriv priv)
{
	return acl_allows(role, false, node_coll(node), priv);
}

void
nedb_acl_require_node(Oid role, const char *node, NedbPriv priv)
{
	nedb_acl_require_collection(role, node_coll(node), priv);
}

bool
nedb_acl_files(Oid role, NedbPriv priv)
{
	return acl_allows(role, true, NULL, priv);
}

void
nedb_acl_require_files(Oid role, NedbPriv priv)
{
	if (acl_allows(role, true, NULL, priv))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s NEDB files", priv_name(priv)),
			 errdetail("Role \"%s\" has no %s privilege on Cascade files.",
					   GetUserNameFromId(role, false), priv_name(priv)),
			 errhint("The NEDB owner can grant it: SELECT nedb.grant_files('%s', '%s');",
					 GetUserNameFromId(role, false), priv_name(priv))));
}

/* an op of the log is its collection's (an edge's: its source's) to read */
void
nedb_acl_require_op(Oid role, const NedbOp *op)
{
	if (op->coll != NULL)
		nedb_acl_require_collection(role, op->coll, NEDB_READ);
	else if (strcmp(op->op, "put_file") == 0)
		nedb_acl_require_files(role, NEDB_READ);
	else
	{
		JsonbValue *frm = NULL;

		if ((strcmp(op->op, "link") == 0 || strcmp(op->op, "unlink") == 0) &&
			op->payload != NULL && !JB_ROOT_IS_SCALAR(op->payload))
			frm = nedb_member(&op->payload->root, "frm");
		if (frm != NULL && frm->type == jbvString)
			nedb_acl_require_node(role, pnstrdup(frm->val.string.val, frm->val.string.len),
								  NEDB_READ);
		else
			nedb_acl_require_collection(role, NULL, NEDB_READ);
	}
}

void
nedb_acl_require_admin(Oid role, const char *what)
{
	if (nedb_acl_is_admin(role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s", what),
			 errdetail("Only superusers and members of role \"%s\", which owns schema nedb, may.",
					   GetUserNameFromId(acl_owner, false))));
}

/* ------------------------------------------------------------------------
 * SQL: nedb.grant, nedb.revoke, nedb.grant_files, nedb.revoke_files,
 * nedb.has_privilege
 * ------------------------------------------------------------------------ */

/* 'read', 'write' or 'all' as NEDB_READ | NEDB_WRITE bits */
static int
privileges_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *p;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("privilege must not be NULL")));
	p = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (pg_strcasecmp(p, "read") == 0)
		return NEDB_READ;
	if (pg_strcasecmp(p, "write") == 0)
		return NEDB_WRITE;
	if (pg_strcasecmp(p, "all") == 0)
		return NEDB_READ | NEDB_WRITE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized NEDB privilege \"%s\"", p),
			 errhint("Use 'read', 'write' or 'all'.")));
	return 0;					/* keep compiler quiet */
}

static Oid
grantee_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role must not be NULL")));
	return PG_GETARG_OID(argno);
}

static void
change_grants(bool files, const char *coll, Oid grantee, int privs, bool grant)
{
	NedbSession s;
	Oid			types[4] = {BOOLOID, TEXTOID, OIDOID, TEXTOID};
	Datum		v[4];
	char		nulls[4] = {' ', coll ? ' ' : 'n', ' ', ' '};

	nedb_acl_require_admin(GetUserId(), files ? "grant NEDB file privileges"
						   : "grant NEDB collection privileges");
	nedb_begin(&s);
	for (int p = NEDB_READ; p <= NEDB_WRITE; p <<= 1)
	{
		if ((privs & p) == 0)
			continue;
		v[0] = BoolGetDatum(files);
		v[1] = coll ? CStringGetTextDatum(coll) : (Datum) 0;
		v[2] = ObjectIdGetDatum(grantee);
		v[3] = CStringGetTextDatum(priv_name(p));
		if (SPI_execute_with_args(grant
								  ? "INSERT INTO nedb.grants (object, coll, grantee, privilege)"
								  "  SELECT CASE WHEN $1 THEN 'files' ELSE 'collection' END, $2, $3, $4"
								  "  WHERE NOT EXISTS (SELECT FROM nedb.grants g"
								  "    WHERE g.object = CASE WHEN $1 THEN 'files' ELSE 'collection' END"
								  "      AND g.coll IS NOT DISTINCT FROM $2 AND g.grantee = $3 AND g.privilege = $4)"
								  : "DELETE FROM nedb.grants g"
								  "  WHERE g.object = CASE WHEN $1 THEN 'files' ELSE 'collection' END"
								  "    AND g.coll IS NOT DISTINCT FROM $2 AND g.grantee = $3 AND g.privilege = $4",
								  4, types, v, nulls, false, 0) < 0)
			elog(ERROR, "could not change nedb.grants");
	}
	nedb_end(&s);
}

/* nedb.grant(coll, role, privilege): coll NULL grants every collection */
Datum
nedb_grant(PG_FUNCTION_ARGS)
{
	const char *coll = PG_ARGISNULL(0) ? NULL : nedb_arg_name(fcinfo, 0, "collection name");

	change_grants(false, coll, grantee_arg(fcinfo, 1), privileges_arg(fcinfo, 2), true);
	PG_RETURN_VOID();
}

Datum
nedb_revoke(PG_FUNCTION_ARGS)
{
	const char *coll = PG_ARGISNULL(0) ? NULL : nedb_arg_name(fcinfo, 0, "collection name");

	change_grants(false, coll, grantee_arg(fcinfo, 1), privileges_arg(fcinfo, 2), false);
	PG_RETURN_VOID();
}

Datum
nedb_grant_files(PG_FUNCTION_ARGS)
{
	change_grants(true, NULL, grantee_arg(fcinfo, 0), privileges_arg(fcinfo, 1), true);
	PG_RETURN_VOID();
}

Datum
nedb_revoke_files(PG_FUNCTION_ARGS)
{
	change_grants(true, NULL, grantee_arg(fcinfo, 0), privileges_arg(fcinfo, 1), false);
	PG_RETURN_VOID();
}

/* nedb.has_privilege(coll, privilege): the current role's; coll NULL: all */
Datum
nedb_has_privilege(PG_FUNCTION_ARGS)
{
	const char *coll = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			privs = privileges_arg(fcinfo, 1);
	bool		ok = true;

	for (int p = NEDB_READ; p <= NEDB_WRITE; p <<= 1)
		if ((privs & p) && !nedb_acl_collection(GetUserId(), coll, p))
			ok = false;
	PG_RETURN_BOOL(ok);
}

/* statement trigger on nedb.grants and nedb.tracked: every backend reloads its copy */
Datum
nedb_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trig = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "nedb_catalog_changed must be called as a trigger");
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trig->tg_relation));
	return PointerGetDatum(NULL);
}
