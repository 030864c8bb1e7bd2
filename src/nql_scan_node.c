/*
 * nql_scan_node.c
 *	  "NEDB NQL Scan": nql() in FROM as a custom scan node, so that EXPLAIN
 *	  shows the path the query takes.
 *
 * A Function Scan of nql() says nothing of what nql() does.  When the query
 * text is a constant or a parameter, the planner hook replaces the function
 * scan with this node: it runs the same executor (nql_run) into a
 * tuplestore, as the Function Scan does, and EXPLAIN prints nql_describe()'s
 * account of it - the index, direction, index conditions, filter and LIMIT
 * of the direct path, or the candidate SQL and Postgres's plan of it - and,
 * with ANALYZE, the candidates read and the rows the checks removed.
 *
 * The node has no scan relation (a function RTE has none to open), so it
 * scans its own tuple, described by custom_scan_tlist: the function's one
 * jsonb column.  It costs what the Function Scan costs: it is the same work.
 */
#include "postgres.h"

#include "catalog/objectaccess.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "acl.h"
#include "nql_int.h"

extern Datum nedb_nql(PG_FUNCTION_ARGS);

static bool enable_nql_scan = true;
static set_rel_pathlist_hook_type prev_set_rel_pathlist = NULL;

typedef struct NqlScanState
{
	CustomScanState css;
	ExprState  *arg;			/* the query text */
	Tuplestorestate *rows;		/* NULL until run */
	TupleTableSlot *stored;		/* a row of it, read into the scan slot */
	NqlRunStats stats;			/* summed over rescans */
} NqlScanState;

static Plan *plan_nql_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
						   List *tlist, List *clauses, List *custom_plans);
static Node *create_nql_scan_state(CustomScan *cscan);
static void begin_nql_scan(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *exec_nql_scan(CustomScanState *node);
static void end_nql_scan(CustomScanState *node);
static void rescan_nql_scan(CustomScanState *node);
static void explain_nql_scan(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomPathMethods nql_path_methods = {
	.CustomName = "NEDB NQL Scan",
	.PlanCustomPath = plan_nql_path,
};

static const CustomScanMethods nql_plan_methods = {
	.CustomName = "NEDB NQL Scan",
	.CreateCustomScanState = create_nql_scan_state,
};

static const CustomExecMethods nql_exec_methods = {
	.CustomName = "NEDB NQL Scan",
	.BeginCustomScan = begin_nql_scan,
	.ExecCustomScan = exec_nql_scan,
	.EndCustomScan = end_nql_scan,
	.ReScanCustomScan = rescan_nql_scan,
	.ExplainCustomScan = explain_nql_scan,
};

/*
 * The query text argument when rte is a call of our nql() alone (no
 * ORDINALITY, no other functions) with a constant or parameter text, else
 * NULL.  The function is recognised by its C entry point, whatever its
 * name or schema.
 */
static Expr *
nql_call_arg(RangeTblEntry *rte, Oid *funcid)
{
	RangeTblFunction *rtf;
	FuncExpr   *fe;
	Node	   *arg;
	FmgrInfo	finfo;

	if (rte->rtekind != RTE_FUNCTION || rte->funcordinality ||
		list_length(rte->functions) != 1)
		return NULL;
	rtf = linitial(rte->functions);
	if (!IsA(rtf->funcexpr, FuncExpr))
		return NULL;
	fe = (FuncExpr *) rtf->funcexpr;
	if (fe->funcresulttype != JSONBOID || !fe->funcretset || list_length(fe->args) != 1)
		return NULL;
	arg = linitial(fe->args);
	if (exprType(arg) != TEXTOID)
		return NULL;
	if (!IsA(arg, Const) && !(IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN))
		return NULL;
	fmgr_info(fe->funcid, &finfo);
	/* a SECURITY DEFINER or SET function calls through fmgr_security_definer */
	if (finfo.fn_addr != nedb_nql)
		return NULL;
	*funcid = fe->funcid;
	return (Expr *) arg;
}

/* does the rel's target list want the whole row (a Var of attribute 0)? */
static bool
wants_whole_row(RelOptInfo *rel)
{
	ListCell   *lc;

	foreach(lc, rel->reltarget->exprs)
	{
		Node	   *e = lfirst(lc);

		if (!IsA(e, Var) || ((Var *) e)->varattno != 1)
			return true;
	}
	return false;
}

static void
nql_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	Expr	   *arg;
	Oid			funcid;
	CustomPath *cp;
	Path	   *fscan;

	if (prev_set_rel_pathlist)
		prev_set_rel_pathlist(root, rel, rti, rte);
	if (!enable_nql_scan || rel->reloptkind != RELOPT_BASEREL ||
		rel->lateral_relids != NULL || rel->pathlist == NIL ||
		IS_DUMMY_REL(rel) || (arg = nql_call_arg(rte, &funcid)) == NULL ||
		wants_whole_row(rel))
		return;

	/* the Function Scan's path: the same rows, the same cost */
	fscan = linitial(rel->pathlist);
	if (fscan->param_info != NULL || fscan->pathkeys != NIL)
		return;
	cp = makeNode(CustomPath);
	cp->path.pathtype = T_CustomScan;
	cp->path.parent = rel;
	cp->path.pathtarget = rel->reltarget;
	cp->path.param_info = NULL;
	cp->path.parallel_aware = false;
	cp->path.parallel_safe = false;
	cp->path.parallel_workers = 0;
	cp->path.rows = fscan->rows;
	cp->path.startup_cost = fscan->startup_cost;
	cp->path.total_cost = fscan->total_cost;
	cp->path.pathkeys = NIL;
	cp->flags = 0;
	cp->custom_paths = NIL;
	cp->custom_private = list_make2(arg, makeConst(OIDOID, -1, InvalidOid, sizeof(Oid),
												   ObjectIdGetDatum(funcid), false, true));
	cp->methods = &nql_path_methods;

	/* the node does what the Function Scan does: it takes its place */
	rel->pathlist = NIL;
	rel->partial_pathlist = NIL;
	add_path(rel, &cp->path);
}

static Plan *
plan_nql_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
			  List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	Var		   *col = makeVar(rel->relid, 1, JSONBOID, -1, InvalidOid, 0);

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = extract_actual_clauses(clauses, false);
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_plans = NIL;
	cscan->custom_exprs = copyObject(best_path->custom_private);
	cscan->custom_private = NIL;
	cscan->custom_scan_tlist = list_make1(makeTargetEntry((Expr *) col, 1, NULL, false));
	cscan->custom_relids = NULL;	/* createplan.c sets it */
	cscan->methods = &nql_plan_methods;
	return &cscan->scan.plan;
}

static Node *
create_nql_scan_state(CustomScan *cscan)
{
	NqlScanState *st = palloc0(sizeof(NqlScanState));

	NodeSetTag(st, T_CustomScanState);
	st->css.methods = &nql_exec_methods;
	return (Node *) st;
}

static void
begin_nql_scan(CustomScanState *node, EState *estate, int eflags)
{
	NqlScanState *st = (NqlScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;

	Oid			funcid = DatumGetObjectId(((Const *) lsecond(cscan->custom_exprs))->constvalue);
	AclResult	aclresult;

	/* what the Function Scan checks when it starts: may the caller run nql()? */
	aclresult = pg_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(funcid));
	InvokeFunctionExecuteHook(funcid);
	st->arg = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
	st->stored = ExecInitExtraTupleSlot(estate, node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
										&TTSOpsMinimalTuple);
}

/* the query text datum, or NULL if it is null (nql() is strict: no rows) */
static text *
query_arg(NqlScanState *st)
{
	ExprContext *econtext = st->css.ss.ps.ps_ExprContext;
	bool		isnull;
	Datum		d;

	d = ExecEvalExprSwitchContext(st->arg, econtext, &isnull);
	return isnull ? NULL : DatumGetTextPP(d);
}

static void
run_query(NqlScanState *st)
{
	EState	   *estate = st->css.ss.ps.state;
	MemoryContext runcxt;
	MemoryContext old;
	text	   *arg;

	old = MemoryContextSwitchTo(estate->es_query_cxt);
	st->rows = tuplestore_begin_heap(false, false, work_mem);
	MemoryContextSwitchTo(old);

	/* what the run allocates besides its rows goes with it */
	runcxt = AllocSetContextCreate(CurrentMemoryContext, "NEDB NQL Scan", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(runcxt);
	arg = query_arg(st);
	if (arg)
		nql_run(nql_text_cstring(arg), st->rows, st->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor, &st->stats);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(runcxt);
}

static TupleTableSlot *
next_row(ScanState *ss)
{
	NqlScanState *st = (NqlScanState *) ss;

	if (st->rows == NULL)
		run_query(st);
	ExecClearTuple(ss->ss_ScanTupleSlot);
	if (!tuplestore_gettupleslot(st->rows, true, false, st->stored))
		return ss->ss_ScanTupleSlot;
	/* the stored row stays until the next fetch: the scan slot points into it */
	slot_getallattrs(st->stored);
	ss->ss_ScanTupleSlot->tts_values[0] = st->stored->tts_values[0];
	ss->ss_ScanTupleSlot->tts_isnull[0] = st->stored->tts_isnull[0];
	return ExecStoreVirtualTuple(ss->ss_ScanTupleSlot);
}

static bool
recheck_row(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

static TupleTableSlot *
exec_nql_scan(CustomScanState *node)
{
	return ExecScan(&node->ss, next_row, recheck_row);
}

static void
end_nql_scan(CustomScanState *node)
{
	NqlScanState *st = (NqlScanState *) node;

	if (st->rows)
		tuplestore_end(st->rows);
	st->rows = NULL;
}

static void
rescan_nql_scan(CustomScanState *node)
{
	NqlScanState *st = (NqlScanState *) node;

	/* the same text gives the same rows (nql() is stable): read them again */
	if (st->rows && node->ss.ps.chgParam == NULL)
		tuplestore_rescan(st->rows);
	else
		end_nql_scan(node);
	ExecScanReScan(&node->ss);
}

static void
explain_nql_scan(CustomScanState *node, List *ancestors, ExplainState *es)
{
	NqlScanState *st = (NqlScanState *) node;
	MemoryContext cxt;
	MemoryContext old;
	NqlDescription d;
	text	   *arg;
	NqlQuery   *q;
	const char *why = NULL;
	char	   *query;
	ListCell   *lc;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "NEDB NQL Scan explain", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	/*
	 * A query nql() refuses is not planned; the error is nql()'s to raise
	 * when it runs, as with the Function Scan, not EXPLAIN's.
	 */
	arg = query_arg(st);
	q = arg ? nql_parse_quietly(arg) : NULL;
	if (arg == NULL)
		why = "the query text is null: no rows";
	else if (q == NULL)
		why = "the query does not parse or is over the bound: nql() raises the error";
	else if (!nedb_acl_collection(GetUserId(), q->from, NEDB_READ))
		why = "no read privilege on the collection: nql() raises the error";
	if (why)
	{
		ExplainPropertyText("NQL Access", psprintf("not planned (%s)", why), es);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return;
	}
	query = text_to_cstring(arg);
	nql_describe(query, &d);
	if (es->verbose)
		ExplainPropertyText("NQL Query", query, es);
	ExplainPropertyText("NQL Access", d.access, es);
	if (d.direct)
	{
		ExplainPropertyText("Index Name", d.index_name, es);
		ExplainPropertyText("Scan Direction", d.backward ? "Backward" : "Forward", es);
		if (d.index_cond)
			ExplainPropertyText("Index Cond", d.index_cond, es);
		ExplainPropertyText("NQL Filter", d.filter, es);
	}
	else
	{
		ExplainPropertyText("Candidate SQL", d.sql, es);
		if (es->format == EXPLAIN_FORMAT_TEXT)
		{
			appendStringInfoSpaces(es->str, es->indent * 2);
			appendStringInfoString(es->str, "Candidate Plan:\n");
			foreach(lc, d.sql_plan)
			{
				appendStringInfoSpaces(es->str, es->indent * 2);
				appendStringInfo(es->str, "  %s\n", (char *) lfirst(lc));
			}
		}
		else
			ExplainPropertyList("Candidate Plan", d.sql_plan, es);
	}
	if (d.has_limit)
		ExplainPropertyInteger("NQL Limit", NULL, d.limit, es);
	if (es->analyze)
	{
		ExplainPropertyInteger("Rows Read", NULL, st->stats.read, es);
		ExplainPropertyInteger("Rows Removed by NQL Filter", NULL, st->stats.removed, es);
		if (st->stats.eq_gave_way)
			ExplainPropertyText("NQL Equality",
								psprintf("more than %d matches: the SQL path ran", NQL_EQ_MAX_RUN), es);
		if (st->stats.search_gave_way)
			ExplainPropertyText("NQL Search", "the matches were rare: the SQL path (search index) ran", es);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

void
nedb_nql_scan_init(void)
{
	DefineCustomBoolVariable("nedb.enable_nql_scan",
							 "Plans nql() in FROM as a NEDB NQL Scan, whose EXPLAIN shows the path the query takes.",
							 "Off: a plain Function Scan.",
							 &enable_nql_scan, true, PGC_USERSET, 0, NULL, NULL, NULL);
	RegisterCustomScanMethods(&nql_plan_methods);
	prev_set_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = nql_set_rel_pathlist;
}
