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
 *
 * Names are identifiers of at most NAMEDATALEN - 1 bytes, where collection
 * and field names are not: a field named like a system column (ctid, xmin,
 * ...) gets no column, nor does one whose truncated name another field took,
 * each with a NOTICE (the field is still in doc, and a column of another
 * name with OPTIONS (field '...') reads it); a collection whose truncated
 * name another collection's table took is skipped with a WARNING naming it
 * (CREATE FOREIGN TABLE ... OPTIONS (collection '...') makes its table).
 * The first in C order wins.  LIMIT TO and EXCEPT name tables, so they
 * match a collection by its table's (truncated) name.
 */
#include "postgres.h"

#include "catalog/heap.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/scansup.h"
#include "utils/builtins.h"

#include "acl.h"
#include "chain.h"
#include "fdw.h"

/* the identifier a name becomes: truncated to NAMEDATALEN - 1 bytes */
static char *
ident_name(const char *name)
{
	char	   *s = pstrdup(name);

	truncate_identifier(s, strlen(s), false);
	return s;
}

static bool
wanted(ImportForeignSchemaStmt *stmt, const char *table)
{
	ListCell   *lc;
	bool		listed = false;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
		if (strcmp(((RangeVar *) lfirst(lc))->relname, table) == 0)
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
	List	   *tables = NIL;	/* (truncated) table names made, with their collections */
	List	   *table_colls = NIL;
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
		char	   *table = ident_name(coll);
		StringInfoData sql;
		List	   *fields;
		List	   *columns = list_make3("_id", "_seq", "doc");
		ListCell   *fc;
		ListCell   *tc;
		ListCell   *cc;
		const char *taken = NULL;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		/* a table over a collection its owner may not read would only fail */
		if (!wanted(stmt, table) || !nedb_acl_collection(s.save_userid, coll, NEDB_READ))
			continue;
		forboth(tc, tables, cc, table_colls)
			if (strcmp(lfirst(tc), table) == 0)
				taken = lfirst(cc);
		if (taken)
		{
			ereport(WARNING,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("collection \"%s\" is not imported: its table name \"%s\" is that of collection \"%s\"",
							coll, table, taken),
					 errdetail("Table names are truncated to %d bytes.", NAMEDATALEN - 1),
					 errhint("Create its table with CREATE FOREIGN TABLE <name> (...) SERVER %s OPTIONS (collection '<the collection>').",
							 quote_identifier(server->servername))));
			continue;
		}
		tables = lappend(tables, table);
		table_colls = lappend(table_colls, (char *) coll);
		initStringInfo(&sql);
		appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (_id text COLLATE \"C\", _seq bigint, doc jsonb",
						 quote_identifier(table));
		fields = spi_strings(psprintf("SELECT field FROM nedb.indexes WHERE coll = %s"
									  " GROUP BY field ORDER BY field COLLATE \"C\"",
									  quote_literal_cstr(coll)));
		foreach(fc, fields)
		{
			const char *field = lfirst(fc);

			char	   *column = ident_name(field);
			bool		dup = false;

			if (strcmp(field, "_id") == 0 || strcmp(field, "_seq") == 0 ||
				strcmp(field, "doc") == 0 || strchr(field, '.') != NULL)
				continue;
			if (SystemAttributeByName(column) != NULL)
			{
				ereport(NOTICE,
						(errmsg("field \"%s\" of collection \"%s\" gets no column: \"%s\" is a system column's name",
								field, coll, column),
						 errhint("Read it through doc, or add a column of another name: ALTER FOREIGN TABLE %s ADD COLUMN %s jsonb OPTIONS (field %s).",
								 quote_identifier(table), quote_identifier(psprintf("%s_", column)),
								 quote_literal_cstr(field))));
				continue;
			}
			foreach(cc, columns)
				if (strcmp(lfirst(cc), column) == 0)
					dup = true;
			if (dup)
			{
				ereport(NOTICE,
						(errmsg("field \"%s\" of collection \"%s\" gets no column: another field has its column name \"%s\"",
								field, coll, column),
						 errdetail("Column names are truncated to %d bytes.", NAMEDATALEN - 1),
						 errhint("Read it through doc, or add a column of another name with OPTIONS (field %s).",
								 quote_literal_cstr(field))));
				continue;
			}
			columns = lappend(columns, column);
			appendStringInfo(&sql, ", %s %s OPTIONS (field %s)", quote_identifier(column),
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
