/*
 * sorted_handler.c
 *	  nedb_sorted: the access method's handler, its options, opclass
 *	  validation, index-only capability and cost estimate.
 */
#include "postgres.h"

#include <math.h>

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/stratnum.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "sorted.h"

PG_FUNCTION_INFO_V1(nedb_sorted_handler);

static bytea *
sorted_options(Datum reloptions, bool validate)
{
	if (validate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nedb_sorted indexes take no storage parameters")));
	return NULL;
}

/* only the jsonb opclass stores something else than the value (placeholders) */
static bool
sorted_canreturn(Relation index, int attno)
{
	return index->rd_opcintype[attno - 1] != JSONBOID;
}

/* an opclass needs its comparison (support 1) and the five btree strategies */
static bool
sorted_validate(Oid opclassoid)
{
	HeapTuple	tup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	Form_pg_opclass opc;
	bool		ok = true;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	opc = (Form_pg_opclass) GETSTRUCT(tup);
	if (!OidIsValid(get_opfamily_proc(opc->opcfamily, opc->opcintype,
									  opc->opcintype, SORTED_CMP_PROC)))
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("nedb_sorted operator class \"%s\" lacks its comparison function (support 1)",
						NameStr(opc->opcname))));
		ok = false;
	}
	for (int s = BTLessStrategyNumber; s <= BTMaxStrategyNumber; s++)
		if (!OidIsValid(get_opfamily_member(opc->opcfamily, opc->opcintype,
											opc->opcintype, s)))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("nedb_sorted operator class \"%s\" lacks strategy %d",
							NameStr(opc->opcname), s)));
			ok = false;
		}
	ReleaseSysCache(tup);
	return ok;
}

/* ANALYZE's correlation of the indexed column or expression, 0 if unknown */
static double
key_correlation(PlannerInfo *root, IndexOptInfo *index)
{
	HeapTuple	tup;
	AttStatsSlot sslot;
	double		corr = 0.0;

	if (index->indexkeys[0] != 0)
	{
		RangeTblEntry *rte = planner_rt_fetch(index->rel->relid, root);

		tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(rte->relid),
							  Int16GetDatum(index->indexkeys[0]),
							  BoolGetDatum(rte->inh));
	}
	else
		tup = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(index->indexoid),
							  Int16GetDatum(1), BoolGetDatum(false));
	if (!HeapTupleIsValid(tup))
		return 0.0;
	if (get_attstatsslot(&sslot, tup, STATISTIC_KIND_CORRELATION, InvalidOid,
						 ATTSTATSSLOT_NUMBERS))
	{
		if (sslot.nnumbers == 1)
			corr = sslot.numbers[0];
		free_attstatsslot(&sslot);
	}
	ReleaseSysCache(tup);
	return corr;
}

/*
 * As btree's: the generic estimate (pages and entries the quals select, each
 * entry's heap visit) plus the descent, a comparison per level of a binary
 * search over all entries, and the heap order's correlation with the key so
 * that a range over a key that follows insertion order is cheap.
 */
void
sorted_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
					Cost *indexStartupCost, Cost *indexTotalCost,
					Selectivity *indexSelectivity, double *indexCorrelation,
					double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	GenericCosts costs;
	Cost		descent;

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);
	if (index->tuples > 1)
	{
		descent = ceil(log(index->tuples) / log(2.0)) * cpu_operator_cost;
		costs.indexStartupCost += descent;
		costs.indexTotalCost += costs.num_sa_scans * descent;
	}
	*indexStartupCost = costs.indexStartupCost;
	*indexTotalCost = costs.indexTotalCost;
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = key_correlation(root, index);
	*indexPages = costs.numIndexPages;
}

Datum
nedb_sorted_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = BTMaxStrategyNumber;
	am->amsupport = SORTED_NPROC;
	am->amoptsprocnum = 0;
	am->amcanorder = true;
	am->amcanorderbyop = false;
	am->amcanbackward = false;	/* backward scans yes, turning around no */
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = true;
	am->amstorage = false;
	am->amclusterable = true;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = true;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = sorted_build;
	am->ambuildempty = sorted_buildempty;
	am->aminsert = sorted_insert;
	am->ambulkdelete = sorted_bulkdelete;
	am->amvacuumcleanup = sorted_vacuumcleanup;
	am->amcanreturn = sorted_canreturn;
	am->amcostestimate = sorted_costestimate;
	am->amoptions = sorted_options;
	am->amproperty = NULL;
	am->ambuildphasename = NULL;
	am->amvalidate = sorted_validate;
	am->amadjustmembers = NULL;
	am->ambeginscan = sorted_beginscan;
	am->amrescan = sorted_rescan;
	am->amgettuple = sorted_gettuple;
	am->amgetbitmap = sorted_getbitmap;
	am->amendscan = sorted_endscan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;

	PG_RETURN_POINTER(am);
}
