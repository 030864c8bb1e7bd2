/*
 * fdw_import.c
 *	  IMPORT FOREIGN SCHEMA nedb FROM SERVER nedb INTO s: one foreign table
 *	  per collection.
 *
 * Each table has _id (text COLLATE "C", the order of ids in the storage),
 * _seq, doc, and a typed column for each indexed field: bigint when every
 * current value is an integer, numeric for numbers, text for strings,
 * boolean for booleans, jsonb otherwise.  Fields named _id, _seq or doc,
 * or with a dot (which the field option reads as a path), get no column.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "acl.h"
#include "chain.h"
#include "fdw.h"

static bool
wanted(ImportForeignSchemaStmt *stmt, const char *coll)
{
	ListCell   *lc;
	bool		listed = false;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
		if (strcmp(((RangeVar *) lfirst(lc))->relname, coll) == 0)
			listed = true;
	return stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO ? listed : !listed;
}

static List *
spi_strings(const char *sql)
{
	List	   *out = NIL;

	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "failed: %s", sql);
	for (uint64 i = 0; i < SPI_processed; i++)
		out = lappend(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return out;
}

/* the column type of an indexed field, from its current values */
static const char *
field_type(const char *coll, const char *field)
{
	const char *c = quote_literal_cstr(coll);
	const char *f = quote_literal_cstr(field);
	char	   *sql;
	int64		n[5];

	sql = psprintf("SELECT count(*),"
				   " count(*) FILTER (WHERE jsonb_typeof(v) = 'number'),"
				   " count(*) FILTER (WHERE CASE WHEN jsonb_typeof(v) = 'number'"
				   "   THEN v::numeric = trunc(v::numeric) AND abs(v::numeric) < 9e18 ELSE false END),"
				   " count(*) FILTER (WHERE jsonb_typeof(v) = 'string'),"
				   " count(*) FILTER (WHERE jsonb_typeof(v) = 'boolean')"
				   " FROM (SELECT doc -> %s AS v FROM nedb.versions WHERE coll = %s AND seq_to IS NULL"
				   "       AND doc -> %s IS NOT NULL AND doc -> %s <> 'null') x",
				   f, c, f, f);
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "failed: %s", sql);
	for (int i = 0; i < 5; i++)
	{
		bool		isnull;

		n[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   i + 1, &isnull));
	}
	if (n[0] == 0)
		return "jsonb";
	if (n[2] == n[0])
		return "bigint";
	if (n[1] == n[0])
		return "numeric";
	if (n[3] == n[0])
		return "text";
	if (n[4] == n[0])
		return "boolean";
	return "jsonb";
}

List *
nedb_fdw_import(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	NedbSession s;
	List	   *colls;
	List	   *out = NIL;
	ListCell   *lc;
	MemoryContext caller;

	if (strcmp(stmt->remote_schema, "nedb") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("schema \"%s\" is not available on server \"%s\"",
						stmt->remote_schema, server->servername),
				 errhint("The collections are in schema nedb: IMPORT FOREIGN SCHEMA nedb.")));

	caller = CurrentMemoryContext;
	nedb_begin(&s);
	/* the distinct collections, one index probe each */
	colls = spi_strings("WITH RECURSIVE c(coll) AS ("
						" SELECT min(coll) FROM nedb.versions"
						" UNION ALL"
						" SELECT (SELECT min(coll) FROM nedb.versions v WHERE v.coll > c.coll)"
						"   FROM c WHERE c.coll IS NOT NULL)"
						" SELECT coll FROM c WHERE coll IS NOT NULL");
	foreach(lc, colls)
	{
		const char *coll = lfirst(lc);
		StringInfoData sql;
		List	   *fields;
		ListCell   *fc;
		MemoryContext old;

		/* a table over a collection its owner may not read would only fail */
		if (!wanted(stmt, coll) || !nedb_acl_collection(s.save_userid, coll, NEDB_READ))
			continue;
		initStringInfo(&sql);
		appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (_id text COLLATE \"C\", _seq bigint, doc jsonb",
						 quote_identifier(coll));
		fields = spi_strings(psprintf("SELECT field FROM nedb.indexes WHERE coll = %s"
									  " GROUP BY field ORDER BY field COLLATE \"C\"",
									  quote_literal_cstr(coll)));
		foreach(fc, fields)
		{
			const char *field = lfirst(fc);

			if (strcmp(field, "_id") == 0 || strcmp(field, "_seq") == 0 ||
				strcmp(field, "doc") == 0 || strchr(field, '.') != NULL)
				continue;
			appendStringInfo(&sql, ", %s %s OPTIONS (field %s)", quote_identifier(field),
							 field_type(coll, field), quote_literal_cstr(field));
		}
		appendStringInfo(&sql, ") SERVER %s OPTIONS (collection %s)",
						 quote_identifier(server->servername), quote_literal_cstr(coll));
		old = MemoryContextSwitchTo(caller);
		out = lappend(out, pstrdup(sql.data));
		MemoryContextSwitchTo(old);
	}
	nedb_end(&s);
	return out;
}
