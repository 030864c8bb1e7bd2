/*
 * fdw_plan.c
 *	  Planning scans of nedb foreign tables: which WHERE conditions, which
 *	  ORDER BY and which LIMIT go down to the storage statement.
 *
 * A condition is pushed down when it is column op value with a btree
 * operator of the column's type, a value that does not depend on the
 * table's row, and the storage comparison is the column's comparison:
 * _id (=), _seq (any), and field columns of integer, numeric, boolean, text
 * (= under a deterministic collation, ranges under the database's
 * collation, which jsonb uses for strings) and jsonb type.  A pushed
 * condition is not checked again.  ORDER BY one such column is pushed down
 * as a sorted path (the index order); LIMIT/OFFSET when every condition
 * is pushed, through the final upper relation.
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_am.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/fdwapi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/selfuncs.h"

#include "fdw.h"

PG_FUNCTION_INFO_V1(nedb_fdw_handler);

/* what planning knows of a base relation (RelOptInfo.fdw_private) */
typedef struct NedbRel
{
	bool		upper;			/* false: this struct */
	NedbTable  *t;
	List	   *pushed;			/* RestrictInfos done by the storage */
	List	   *quals;			/* (attno, strategy) pairs */
	List	   *values;			/* the value of each, an expression */
	bool		all_pushed;
	double		rows;
	Cost		startup;
	Cost		total;
	double		live;			/* the collection's live documents */
	NedbSizeSource source;		/* where that figure comes from */
} NedbRel;

/* the ORDER BY stage over one of our base relations */
typedef struct NedbOrdered
{
	bool		upper;			/* true */
	RelOptInfo *base;
	bool		safe;			/* root->sort_pathkeys go down */
} NedbOrdered;

/* PostgreSQL 17 added the restriction clauses an FDW path enforces */
#if PG_VERSION_NUM >= 170000
#define FDW_RESTRICTINFO NIL,
#else
#define FDW_RESTRICTINFO
#endif

/* per-row cost of turning a document into a row, above the storage cost */
#define NEDB_ROW_COST (cpu_tuple_cost * 2)

static Oid
btree_family(Oid type)
{
	Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);

	return OidIsValid(opclass) ? get_opclass_family(opclass) : InvalidOid;
}

static Node *
strip(Node *n)
{
	while (n && IsA(n, RelabelType))
		n = (Node *) ((RelabelType *) n)->arg;
	return n;
}

/* a column of rel, or 0 */
static AttrNumber
rel_column(RelOptInfo *rel, Node *n)
{
	n = strip(n);
	if (n && IsA(n, Var) && ((Var *) n)->varno == rel->relid &&
		((Var *) n)->varlevelsup == 0 && ((Var *) n)->varattno > 0)
		return ((Var *) n)->varattno;
	return 0;
}

/* the value class a column's comparisons take, or -1 if none go down */
static int
pushable_class(NedbColumn *c)
{
	switch (c->kind)
	{
		case NEDB_COL_ID:
			return NEDB_TC_TEXT;
		case NEDB_COL_SEQ:
			return NEDB_TC_INT;
		case NEDB_COL_DOC:
			return -1;
		case NEDB_COL_FIELD:
			if (c->tclass == NEDB_TC_FLOAT || c->tclass == NEDB_TC_OTHER)
				return -1;
			return c->tclass;
	}
	return -1;
}

/* Is ri column op value, done exactly by the storage? */
static bool
pushable_qual(RelOptInfo *rel, NedbTable *t, RestrictInfo *ri,
			  AttrNumber *attno, int *strategy, Expr **value)
{
	OpExpr	   *op;
	Node	   *l;
	Node	   *r;
	Oid			opno;
	NedbColumn *c;
	int			cls;

	if (ri->pseudoconstant)
		return false;
	if (IsA(ri->clause, ScalarArrayOpExpr))
	{
		/* _id = ANY (text[]): IN lists, as ORMs send them */
		ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) ri->clause;

		r = lsecond(sa->args);
		if (!sa->useOr || (*attno = rel_column(rel, linitial(sa->args))) == 0 ||
			t->cols[*attno - 1].kind != NEDB_COL_ID || exprType(r) != TEXTARRAYOID ||
			contain_var_clause(r) || contain_volatile_functions(r) || contain_subplans(r) ||
			get_op_opfamily_strategy(sa->opno, btree_family(TEXTOID)) != BTEqualStrategyNumber ||
			!OidIsValid(sa->inputcollid) || !get_collation_isdeterministic(sa->inputcollid))
			return false;
		*strategy = NEDB_STRATEGY_ANY;
		*value = (Expr *) r;
		return true;
	}
	if (!IsA(ri->clause, OpExpr))
		return false;
	op = (OpExpr *) ri->clause;
	if (list_length(op->args) != 2)
		return false;
	l = linitial(op->args);
	r = lsecond(op->args);
	opno = op->opno;
	if ((*attno = rel_column(rel, l)) == 0)
	{
		Node	   *tmp = l;

		if ((*attno = rel_column(rel, r)) == 0)
			return false;
		opno = get_commutator(opno);
		if (!OidIsValid(opno))
			return false;
		l = r;
		r = tmp;
	}
	if (contain_var_clause(r) || contain_volatile_functions(r) || contain_subplans(r))
		return false;
	c = &t->cols[*attno - 1];
	if ((cls = pushable_class(c)) < 0 || (int) nedb_type_class(exprType(r)) != cls)
		return false;
	*strategy = get_op_opfamily_strategy(opno, btree_family(c->type));
	if (*strategy == 0)
		return false;
	if (c->kind == NEDB_COL_ID && *strategy != BTEqualStrategyNumber)
		return false;
	if (cls == NEDB_TC_TEXT)
	{
		if (!OidIsValid(op->inputcollid) || !get_collation_isdeterministic(op->inputcollid))
			return false;
		if (*strategy != BTEqualStrategyNumber && op->inputcollid != DEFAULT_COLLATION_OID)
			return false;
	}
	*value = (Expr *) r;
	return true;
}

/*
 * The column and direction of pathkeys, if the storage can deliver that
 * order: one key on a column whose storage order is the column's order.
 */
static bool
pathkeys_order(RelOptInfo *rel, NedbTable *t, List *pathkeys, int *attno, int *flags)
{
	PathKey    *pk;
	ListCell   *lc;

	*attno = 0;
	*flags = 0;
	if (list_length(pathkeys) != 1)
		return false;
	pk = linitial(pathkeys);
	if (pk->pk_strategy != BTLessStrategyNumber && pk->pk_strategy != BTGreaterStrategyNumber)
		return false;
	foreach(lc, pk->pk_eclass->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);
		AttrNumber	a = rel_column(rel, (Node *) em->em_expr);
		NedbColumn *c;
		int			cls;

		if (a == 0 || em->em_is_child)
			continue;
		c = &t->cols[a - 1];
		if ((cls = pushable_class(c)) < 0 || pk->pk_opfamily != btree_family(c->type))
			continue;
		if (c->kind == NEDB_COL_ID && !lc_collate_is_c(pk->pk_eclass->ec_collation))
			continue;
		if (c->kind == NEDB_COL_FIELD && cls == NEDB_TC_TEXT &&
			pk->pk_eclass->ec_collation != DEFAULT_COLLATION_OID)
			continue;
		*attno = a;
		*flags = (pk->pk_strategy == BTGreaterStrategyNumber ? NEDB_ORDER_DESC : 0) |
			(pk->pk_nulls_first ? NEDB_ORDER_NULLS_FIRST : 0);
		return true;
	}
	return false;
}

/*
 * The selectivity of the pushed conditions.  _id is the collection's
 * unique key: one row per value.  Otherwise the foreign table's own column
 * statistics when it has been ANALYZEd; else the storage statistics' (the
 * storage statement's estimate with the conditions against without), when
 * they know the collection (their estimate of it is not far below its
 * size); else Postgres's defaults for a table never analyzed.
 */
static Selectivity
pushed_selectivity(PlannerInfo *root, RelOptInfo *baserel, NedbRel *info, double live,
				   bool analyzed)
{
	List	   *others = NIL;
	double		ids = -1;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, info->pushed)
	{
		AttrNumber	attno = list_nth_int(info->quals, 2 * i);
		int			strategy = list_nth_int(info->quals, 2 * i + 1);
		Node	   *value = list_nth(info->values, i);

		i++;
		if (info->t->cols[attno - 1].kind == NEDB_COL_ID)
		{
			double		n = strategy == NEDB_STRATEGY_ANY ? estimate_array_length(value) : 1;

			ids = ids < 0 ? n : Min(ids, n);
		}
		else
			others = lappend(others, lfirst(lc));
	}
	if (ids >= 0)
		return Min(1.0, ids / Max(live, 1));
	if (others == NIL)
		return 1.0;
	if (!analyzed)
	{
		double		base;
		Cost		startup;
		Cost		total;

		nedb_fdw_estimate(info->t, NIL, 0, 0, -1, &base, &startup, &total);
		if (base >= 10 && base >= live / 10)
			return Min(1.0, info->rows / base);
	}
	return clauselist_selectivity(root, others, baserel->relid, JOIN_INNER, NULL);
}

/*
 * Rows: the collection's live documents now (fdw_analyze.c) times the
 * selectivity of the conditions; costs: the storage statement's plan.
 */
static void
nedb_get_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	NedbRel    *info = palloc0(sizeof(NedbRel));
	ListCell   *lc;
	double		live;
	bool		analyzed = baserel->tuples > 0;

	info->t = nedb_table(foreigntableid);
	info->all_pushed = true;
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst(lc);
		AttrNumber	attno;
		int			strategy;
		Expr	   *value;

		if (pushable_qual(baserel, info->t, ri, &attno, &strategy, &value))
		{
			info->pushed = lappend(info->pushed, ri);
			info->quals = lappend_int(lappend_int(info->quals, attno), strategy);
			info->values = lappend(info->values, value);
		}
		else
			info->all_pushed = false;
	}
	nedb_fdw_estimate(info->t, info->quals, 0, 0, -1, &info->rows, &info->startup, &info->total);
	live = info->live = nedb_fdw_live_rows(info->t, baserel->tuples, baserel->pages,
										   &info->source);
	baserel->tuples = Max(live, 1);
	info->rows = clamp_row_est(live * pushed_selectivity(root, baserel, info, live, analyzed));
	baserel->fdw_private = info;

	/* the conditions left to Postgres, as for a table */
	{
		List	   *local = NIL;

		foreach(lc, baserel->baserestrictinfo)
			if (!list_member_ptr(info->pushed, lfirst(lc)))
				local = lappend(local, lfirst(lc));
		baserel->rows = clamp_row_est(info->rows *
									  clauselist_selectivity(root, local, baserel->relid,
															 JOIN_INNER, NULL));
	}
}

static void
nedb_get_paths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	NedbRel    *info = baserel->fdw_private;
	Cost		row_cost = NEDB_ROW_COST * info->rows;
	int			attno;
	int			flags;

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 info->startup, info->total + row_cost,
									 NIL, baserel->lateral_relids, NULL, FDW_RESTRICTINFO NIL));

	/* the query's order through the storage (an index on the field) */
	if (root->query_pathkeys != NIL &&
		pathkeys_order(baserel, info->t, root->query_pathkeys, &attno, &flags))
	{
		double		rows;
		Cost		startup;
		Cost		total;

		nedb_fdw_estimate(info->t, info->quals, attno, flags, -1, &rows, &startup, &total);
		add_path(baserel, (Path *)
				 create_foreignscan_path(root, baserel, NULL, baserel->rows,
										 startup, total + row_cost,
										 root->query_pathkeys, baserel->lateral_relids,
										 NULL, FDW_RESTRICTINFO NIL));
	}
}

/* a LIMIT or OFFSET the storage can take: a constant (NULL: none) */
static bool
limit_value(Node *n, int64 *v)
{
	Const	   *c;

	if (n == NULL)
		return true;
	if (!IsA(n, Const))
		return false;
	c = (Const *) n;
	if (c->constisnull)
	{
		*v = -1;
		return true;
	}
	if (c->consttype != INT8OID)
		return false;
	*v = DatumGetInt64(c->constvalue);
	return *v >= 0 && *v <= PG_INT32_MAX / 2;
}

static void
nedb_get_upper_paths(PlannerInfo *root, UpperRelationKind stage, RelOptInfo *input_rel,
					 RelOptInfo *output_rel, void *extra)
{
	Query	   *parse = root->parse;
	RelOptInfo *base;
	NedbRel    *info;
	bool		sorted = false;
	int64		count = -1;
	int64		offset = -1;
	int			attno = 0;
	int			flags = 0;
	double		rows;
	Cost		startup;
	Cost		total;

	if (input_rel->fdw_private == NULL || output_rel->fdw_private != NULL)
		return;
	if (stage == UPPERREL_ORDERED)
	{
		NedbOrdered *o;

		if (input_rel->reloptkind != RELOPT_BASEREL ||
			((NedbRel *) input_rel->fdw_private)->upper)
			return;
		o = palloc0(sizeof(NedbOrdered));
		o->upper = true;
		o->base = input_rel;
		o->safe = pathkeys_order(input_rel, ((NedbRel *) input_rel->fdw_private)->t,
								 root->sort_pathkeys, &attno, &flags);
		output_rel->fdw_private = o;
		return;
	}
	if (stage != UPPERREL_FINAL || !((FinalPathExtraData *) extra)->limit_needed ||
		parse->hasTargetSRFs || parse->rowMarks != NIL || parse->commandType != CMD_SELECT ||
		parse->limitOption != LIMIT_OPTION_COUNT)
		return;

	if (((NedbRel *) input_rel->fdw_private)->upper)
	{
		NedbOrdered *o = input_rel->fdw_private;

		if (!o->safe)
			return;
		base = o->base;
		sorted = true;
	}
	else if (input_rel->reloptkind == RELOPT_BASEREL)
		base = input_rel;
	else
		return;
	info = base->fdw_private;
	if (!info->all_pushed)
		return;
	if (!limit_value(parse->limitCount, &count) || !limit_value(parse->limitOffset, &offset) ||
		count < 0)
		return;
	if (offset < 0)
		offset = 0;
	if (sorted && !pathkeys_order(base, info->t, root->sort_pathkeys, &attno, &flags))
		return;

	/*
	 * What a Limit over the scan would cost, a little less: the storage
	 * statement itself stops at the limit and plans for it.
	 */
	nedb_fdw_estimate(info->t, info->quals, attno, flags, -1, &rows, &startup, &total);
	total += NEDB_ROW_COST * info->rows;
	rows = base->rows;
	if (rows > count + offset)
		total = startup + (total - startup) * (count + offset) / rows;
	total = startup + (total - startup) * 0.9;
	rows = Min(rows, (double) count);
	add_path(output_rel, (Path *)
			 create_foreign_upper_path(root, base, root->upper_targets[UPPERREL_FINAL],
									   rows, startup, total,
									   sorted ? root->sort_pathkeys : NIL, NULL, FDW_RESTRICTINFO
									   list_make2(makeInteger((int) count), makeInteger((int) offset))));
}

static ForeignScan *
nedb_get_plan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
			  ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	NedbRel    *info = baserel->fdw_private;
	List	   *local = NIL;
	ListCell   *lc;
	int			attno = 0;
	int			flags = 0;
	int			limit = -1;
	int			offset = 0;
	List	   *priv;

	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (ri->pseudoconstant || list_member_ptr(info->pushed, ri))
			continue;
		local = lappend(local, ri->clause);
	}
	if (best_path->path.pathkeys != NIL &&
		!pathkeys_order(baserel, info->t, best_path->path.pathkeys, &attno, &flags))
		elog(ERROR, "nedb: the sorted path lost its order");
	if (best_path->fdw_private != NIL)
	{
		limit = intVal(linitial(best_path->fdw_private));
		offset = intVal(lsecond(best_path->fdw_private));
	}
	/* what the scan does, then (for EXPLAIN) the collection's size and its source */
	priv = list_make5(list_copy(info->quals), makeInteger(attno), makeInteger(flags),
					  makeInteger(limit), makeInteger(offset));
	priv = lappend(priv, makeInteger(info->source));
	priv = lappend(priv, makeString(psprintf("%.0f", info->live)));
	return make_foreignscan(tlist, local, baserel->relid, list_copy(info->values), priv,
							NIL, NIL, outer_plan);
}

Datum
nedb_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *r = makeNode(FdwRoutine);

	r->GetForeignRelSize = nedb_get_rel_size;
	r->GetForeignPaths = nedb_get_paths;
	r->GetForeignPlan = nedb_get_plan;
	r->GetForeignUpperPaths = nedb_get_upper_paths;
	r->BeginForeignScan = nedb_fdw_begin_scan;
	r->IterateForeignScan = nedb_fdw_iterate_scan;
	r->ReScanForeignScan = nedb_fdw_rescan;
	r->EndForeignScan = nedb_fdw_end_scan;
	r->ExplainForeignScan = nedb_fdw_explain_scan;

	r->AddForeignUpdateTargets = nedb_fdw_add_update_targets;
	r->PlanForeignModify = nedb_fdw_plan_modify;
	r->BeginForeignModify = nedb_fdw_begin_modify;
	r->ExecForeignInsert = nedb_fdw_insert;
	r->ExecForeignUpdate = nedb_fdw_update;
	r->ExecForeignDelete = nedb_fdw_delete;
	r->EndForeignModify = nedb_fdw_end_modify;
	r->BeginForeignInsert = nedb_fdw_begin_insert;
	r->EndForeignInsert = nedb_fdw_end_insert;
	r->IsForeignRelUpdatable = nedb_fdw_updatable;

	r->AnalyzeForeignTable = nedb_fdw_analyze;
	r->ImportForeignSchema = nedb_fdw_import;
	PG_RETURN_POINTER(r);
}
