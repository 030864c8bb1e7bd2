/*
 * fdw_analyze.c
 *	  How many documents a collection has, for the planner, and ANALYZE of
 *	  a foreign table.
 *
 * Every collection shares nedb.versions, so the storage statistics (kept
 * by autovacuum's ANALYZE of that table) describe a collection only once
 * an ANALYZE has seen it: until then "coll = 'c'" takes Postgres's default
 * selectivity (1/200 of the table) and "seq_to IS NULL" another 1/200, and
 * a fresh collection of 20k documents is planned as one row.  What the
 * storage does know now is physical: the partial indexes nedb.create_index
 * builds (WHERE coll = 'c') hold one entry per version of the collection,
 * and their size in pages is always current.  So the live documents are
 * estimated as the planner sizes a relation it has not analyzed: the
 * index's pages now times its tuple density (exact after its build).
 *
 * ANALYZE of a foreign table samples the collection's live documents as
 * its rows (reservoir sampling over one pass, as postgres_fdw does), so
 * Postgres keeps column statistics for the table's own columns and the
 * number of documents in pg_class.reltuples; its relpages is the share of
 * nedb.versions the collection's versions fill, which later plans scale by
 * the collection's size then, as the planner scales a table's reltuples by
 * its pages.
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"
#include "utils/syscache.h"

#include "acl.h"
#include "chain.h"
#include "fdw.h"
#include "op.h"

/* tuples per page of nedb.versions now (as the planner estimates it) */
static double
heap_density(Relation versions)
{
	BlockNumber pages;
	double		tuples;
	double		allvis;

	estimate_rel_size(versions, NULL, &pages, &tuples, &allvis);
	return pages > 0 && tuples > 0 ? tuples / pages : 0;
}

/*
 * The entries of an index now, as the planner sizes an index: its pages
 * now (less the metapage) times its tuple density when last built,
 * vacuumed or analyzed.  An index built on an empty collection records no
 * density (reltuples 0): once it has grown, the density is estimated from
 * the width of its keys, as the planner does for a relation never counted.
 */
static double
index_entries(Relation irel, bool *measured)
{
	BlockNumber curpages = RelationGetNumberOfBlocks(irel);
	BlockNumber relpages = (BlockNumber) irel->rd_rel->relpages;
	double		reltuples = irel->rd_rel->reltuples;
	double		density;

	*measured = true;
	if (curpages == 0)
		return 0;
	if (relpages > 0)
	{
		curpages--;
		relpages--;
	}
	if (reltuples > 0 && relpages > 0)
		density = reltuples / relpages;
	else if (reltuples == 0 && curpages <= relpages)
		return 0;
	else
	{
		TupleDesc	desc = RelationGetDescr(irel);
		int32		width = sizeof(IndexTupleData) + sizeof(ItemIdData);

		for (int i = 0; i < desc->natts; i++)
			width += get_typavgwidth(TupleDescAttr(desc, i)->atttypid,
									 TupleDescAttr(desc, i)->atttypmod);
		density = (BLCKSZ - SizeOfPageHeaderData) / (double) width;
		*measured = false;
	}
	return rint(density * curpages);
}

/*
 * The versions of a collection now, from the size of its partial btree or
 * nedb_sorted indexes (an entry per version, current or not, tombstones
 * included); -1 if it has none.  Pages fill as keys arrive, so each index
 * may overstate; the smallest figure wins, one from a measured density
 * before any from key widths.  Reads nedb.indexes by its key's first
 * column; needs no storage session.
 */
static double
indexed_versions(const char *coll, Relation versions)
{
	Oid			nsp = get_namespace_oid("nedb", false);
	Oid			tbl = get_relname_relid("indexes", nsp);
	Oid			pkey = get_relname_relid("indexes_pkey", nsp);
	double		measured_min = -1;
	double		guessed_min = -1;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(tbl) || !OidIsValid(pkey))
		return -1;
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(coll));
	rel = table_open(tbl, AccessShareLock);
	scan = systable_beginscan(rel, pkey, true, NULL, 1, &key);
	while ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		kind = heap_getattr(tup, 3, RelationGetDescr(rel), &isnull);
		Datum		name;
		Oid			idx;
		Relation	irel;

		/* GIN (search) holds an entry per token, not per version */
		if (isnull || strcmp(TextDatumGetCString(kind), "search") == 0)
			continue;
		name = heap_getattr(tup, 4, RelationGetDescr(rel), &isnull);
		if (isnull ||
			!OidIsValid(idx = get_relname_relid(NameStr(*DatumGetName(name)), nsp)))
			continue;
		irel = try_relation_open(idx, AccessShareLock);
		if (irel == NULL)
			continue;
		if (irel->rd_rel->relkind == RELKIND_INDEX && irel->rd_index != NULL &&
			irel->rd_index->indrelid == RelationGetRelid(versions) &&
			irel->rd_index->indisvalid)
		{
			bool		measured;
			double		n = index_entries(irel, &measured);
			double	   *best = measured ? &measured_min : &guessed_min;

			if (*best < 0 || n < *best)
				*best = n;
		}
		relation_close(irel, AccessShareLock);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return measured_min >= 0 ? measured_min : guessed_min;
}

/* the null fraction ANALYZE found in a column of nedb.versions, or -1 */
static double
null_frac(Relation versions, const char *column)
{
	AttrNumber	att = get_attnum(RelationGetRelid(versions), column);
	HeapTuple	tup;
	double		f = -1;

	if (att == InvalidAttrNumber)
		return -1;
	tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(RelationGetRelid(versions)),
						  Int16GetDatum(att), BoolGetDatum(false));
	if (HeapTupleIsValid(tup))
	{
		f = ((Form_pg_statistic) GETSTRUCT(tup))->stanullfrac;
		ReleaseSysCache(tup);
	}
	return f;
}

/*
 * The share of versions that are live documents (open, not a tombstone),
 * from the storage statistics of all collections; without statistics 1:
 * a collection nobody has analyzed yet is most likely just loaded.
 */
static double
live_fraction(Relation versions)
{
	double		open = null_frac(versions, "seq_to");
	double		tomb = null_frac(versions, "doc");
	double		f = 1;

	if (open >= 0)
		f *= open;
	if (tomb >= 0)
		f *= 1 - tomb;
	return f;
}

/* the storage's row estimate of one statement (its generic plan) */
static double
storage_rows(const char *sql)
{
	NedbSession s;
	double		rows = -1;
	Cost		startup;
	Cost		total;

	nedb_begin(&s);
	if (!nedb_storage_estimate(nedb_plan_by_text(sql, 0, NULL, 0), &rows, &startup, &total))
		rows = -1;
	nedb_end(&s);
	return rows;
}

static Relation
open_versions(void)
{
	Oid			nsp = get_namespace_oid("nedb", false);
	Oid			versions = get_relname_relid("versions", nsp);

	if (!OidIsValid(versions))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table nedb.versions is missing"),
				 errhint("Reinstall the extension.")));
	return table_open(versions, AccessShareLock);
}

/*
 * The live documents of a table's collection, for the planner, and where
 * the figure comes from (EXPLAIN VERBOSE shows both).
 *
 *	- ANALYZEd with documents, and the table reads a fixed seq (option
 *	  as_of): the documents ANALYZE counted;
 *	- ANALYZEd with documents, and an index sizes the collection: the
 *	  documents ANALYZE counted, scaled by the collection's versions now
 *	  against then (relpages, in pages of nedb.versions);
 *	- ANALYZEd with documents, no index: the documents ANALYZE counted;
 *	- otherwise the versions an index counts now (else the storage
 *	  statistics' estimate of the collection) times the share of versions
 *	  that are live.
 */
double
nedb_fdw_live_rows(NedbTable *t, double reltuples, BlockNumber relpages,
				   NedbSizeSource *source)
{
	Relation	versions = open_versions();
	double		density = heap_density(versions);
	double		indexed = indexed_versions(t->coll, versions);
	double		rows;

	if (reltuples > 0 && t->has_as_of)
	{
		/* the state at a fixed seq does not grow */
		rows = reltuples;
		*source = NEDB_SIZE_ANALYZE;
	}
	else if (reltuples > 0 && indexed >= 0 && relpages > 0 && density > 0)
	{
		rows = reltuples * (indexed / density) / relpages;
		*source = NEDB_SIZE_ANALYZE_SCALED;
	}
	else if (reltuples > 0 && indexed < 0)
	{
		rows = reltuples;
		*source = NEDB_SIZE_ANALYZE;
	}
	else if (indexed >= 0)
	{
		rows = indexed * live_fraction(versions);
		*source = NEDB_SIZE_INDEX;
	}
	else
	{
		rows = storage_rows(psprintf("SELECT 1 FROM nedb.versions WHERE coll = %s",
									 quote_literal_cstr(t->coll))) *
			live_fraction(versions);
		*source = NEDB_SIZE_STORAGE;
	}
	table_close(versions, AccessShareLock);
	return Max(rows, 0);
}

/* what EXPLAIN says of a size's source */
const char *
nedb_size_source_name(NedbSizeSource source)
{
	switch (source)
	{
		case NEDB_SIZE_ANALYZE_SCALED:
			return "ANALYZE, scaled by the collection's index size now";
		case NEDB_SIZE_ANALYZE:
			return "ANALYZE";
		case NEDB_SIZE_INDEX:
			return "the collection's index size";
		case NEDB_SIZE_STORAGE:
			return "the storage statistics";
	}
	return "?";
}

/* ------------------------------------------------------------------------
 * ANALYZE
 * ------------------------------------------------------------------------ */

/* one sampled document, copied out of the storage session */
typedef struct SampledDoc
{
	int			pos;			/* its place in the reservoir */
	char	   *id;
	int64		seq;
	Jsonb	   *doc;			/* detoasted, to read the fields from */
	Datum		stored;			/* as stored (maybe a TOAST pointer), for the doc column */
} SampledDoc;

/*
 * The sample: every live document (at the table option as_of, if any: a
 * session's nedb.as_of does not change what the statistics describe) read
 * once in storage order through a cursor, a reservoir of targrows kept.
 * Each batch is fetched in its own storage session, and the chosen
 * documents are turned into rows outside it (a column type's input
 * function runs as the caller, as in a scan).
 */
static int
acquire_sample(Relation rel, int elevel, HeapTuple *rows, int targrows,
			   double *totalrows, double *totaldeadrows)
{
	NedbTable  *t = nedb_table(RelationGetRelid(rel));
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext batch_cxt = AllocSetContextCreate(caller, "nedb analyze batch",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext row_cxt = AllocSetContextCreate(caller, "nedb analyze row",
												  ALLOCSET_DEFAULT_SIZES);
	Datum	   *values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	ReservoirStateData rstate;
	double		seen = 0;
	double		skip = -1;
	int			numrows = 0;
	int			filled = 0;		/* rows[] entries holding a row */
	char	   *portal_name = NULL;
	bool		done = false;
	Oid			type;
	Datum		param;
	StringInfoData sql;

	initStringInfo(&sql);
	nedb_fdw_scan_sql(&sql, t, NIL, 0, 0, -1, t->has_as_of, 0);
	type = t->has_as_of ? INT8OID : NUMERICOID;
	param = t->has_as_of ? Int64GetDatum(t->as_of)
		: DirectFunctionCall1(float8_numeric, Float8GetDatum(op_now()));
	reservoir_init_selection_state(&rstate, targrows);

	while (!done)
	{
		NedbSession s;
		Portal		portal;
		SampledDoc *picked;
		int			npicked = 0;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		vacuum_delay_point();
		MemoryContextReset(batch_cxt);
		nedb_begin(&s);
		if (portal_name == NULL)
		{
			portal = SPI_cursor_open(NULL, nedb_plan_by_text(sql.data, 1, &type, 0),
									 &param, NULL, true);
			portal_name = MemoryContextStrdup(caller, portal->name);
		}
		else if ((portal = SPI_cursor_find(portal_name)) == NULL)
			elog(ERROR, "cursor \"%s\" of a nedb ANALYZE is gone", portal_name);
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed < 1000)
			done = true;
		picked = MemoryContextAlloc(batch_cxt, sizeof(SampledDoc) * Max(SPI_processed, 1));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	tdesc = SPI_tuptable->tupdesc;
			bool		isnull;
			int			pos;

			CHECK_FOR_INTERRUPTS();
			/* Vitter's reservoir, as the other samplers of Postgres */
			if (numrows < targrows)
				pos = numrows++;
			else
			{
				if (skip < 0)
					skip = reservoir_get_next_S(&rstate, seen, targrows);
				if (skip <= 0)
					pos = (int) (targrows * sampler_random_fract(&rstate.randstate));
				else
					pos = -1;
				skip -= 1;
			}
			seen += 1;
			if (pos < 0)
				continue;
			old = MemoryContextSwitchTo(batch_cxt);
			picked[npicked].pos = pos;
			picked[npicked].id = TextDatumGetCString(SPI_getbinval(tup, tdesc, 1, &isnull));
			picked[npicked].seq = DatumGetInt64(SPI_getbinval(tup, tdesc, 2, &isnull));
			picked[npicked].stored = datumCopy(SPI_getbinval(tup, tdesc, 3, &isnull), false, -1);
			picked[npicked].doc = (Jsonb *) PG_DETOAST_DATUM_COPY(picked[npicked].stored);
			MemoryContextSwitchTo(old);
			npicked++;
		}
		SPI_freetuptable(SPI_tuptable);
		if (done)
		{
			SPI_cursor_close(portal);
			portal_name = NULL;
		}
		nedb_end(&s);

		for (int i = 0; i < npicked; i++)
		{
			HeapTuple	row;

			MemoryContextReset(row_cxt);
			old = MemoryContextSwitchTo(row_cxt);
			nedb_doc_to_values(t, picked[i].id, picked[i].seq, picked[i].doc, values, nulls);
			/*
			 * A large document stays compressed or in nedb.versions' TOAST
			 * table, as in a heap sample: ANALYZE reads its width from the
			 * header and detoasts only what it measures, under this
			 * transaction's snapshot.
			 */
			if (t->doc_attno > 0)
				values[t->doc_attno - 1] = picked[i].stored;
			MemoryContextSwitchTo(caller);
			row = heap_form_tuple(desc, values, nulls);
			MemoryContextSwitchTo(old);
			/* the reservoir fills in order, then replaces */
			if (picked[i].pos < filled)
				heap_freetuple(rows[picked[i].pos]);
			else
				filled++;
			rows[picked[i].pos] = row;
		}
	}
	MemoryContextDelete(batch_cxt);
	MemoryContextDelete(row_cxt);

	*totalrows = seen;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": collection \"%s\" has %.0f live documents, %d in the sample",
					RelationGetRelationName(rel), t->coll, seen, numrows)));
	return numrows;
}

/* the versions of a collection, counted (a collection without an index) */
static double
count_versions(const char *coll)
{
	NedbSession s;
	Datum		arg = CStringGetTextDatum(coll);
	Oid			type = TEXTOID;
	double		n = 0;
	bool		isnull;

	nedb_begin(&s);
	if (SPI_execute_plan(nedb_plan_by_text("SELECT count(*) FROM nedb.versions WHERE coll = $1",
										   1, &type, 0), &arg, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "nedb: counting the versions of collection \"%s\" failed", coll);
	n = (double) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	nedb_end(&s);
	return n;
}

/*
 * AnalyzeForeignTable: the sampler above, and the pages of nedb.versions
 * the collection's versions fill (relpages: what later plans compare the
 * collection's size with).  The table's owner must hold read on the
 * collection, as for a scan.
 */
bool
nedb_fdw_analyze(Relation rel, AcquireSampleRowsFunc *func, BlockNumber *totalpages)
{
	NedbTable  *t = nedb_table(RelationGetRelid(rel));
	Relation	versions;
	double		density;
	double		indexed;

	nedb_acl_require_table(rel, t->coll, NEDB_READ);
	versions = open_versions();
	density = heap_density(versions);
	indexed = indexed_versions(t->coll, versions);
	table_close(versions, AccessShareLock);
	if (indexed < 0)
		indexed = count_versions(t->coll);
	*totalpages = indexed > 0 && density > 0
		? (BlockNumber) Min(ceil(indexed / density), (double) MaxBlockNumber) : 0;
	*func = acquire_sample;
	return true;
}
