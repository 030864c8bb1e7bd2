/*
 * fdw_modify.c
 *	  INSERT, UPDATE, DELETE and COPY FROM through nedb foreign tables.
 *
 * Each row is one op through the write path (write.h): INSERT (and each
 * COPY row) inserts the document built from the row (fdw_convert.c): an id
 * that has a live document is a unique violation, or with ON CONFLICT DO
 * NOTHING a row skipped, unless the table option insert 'replace' makes
 * INSERT a put.  UPDATE puts the current document with the updated columns
 * applied, DELETE deletes.  The executor has checked the role's privileges
 * on the foreign table before any of this runs; only then does the write run
 * as the schema owner.  Client, nonce and idempotency key come from the
 * settings nedb.client, nedb.nonce (the statement's first write; the next
 * writes take the following nonces) and nedb.idem (a one-row statement),
 * honored only for the transaction that sets them (fdw_options.c); a nonce
 * or key is for one write statement.  A write whose key is known was done
 * before: it is skipped, returns no row and is not counted.  A table
 * reading history (option as_of, or nedb.as_of set) refuses writes.
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "optimizer/appendinfo.h"
#include "optimizer/inherit.h"
#include "optimizer/pathnode.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "acl.h"
#include "chain.h"
#include "fdw.h"
#include "op.h"
#include "staging.h"
#include "util.h"
#include "versions.h"
#include "write.h"

typedef struct NedbModify
{
	NedbTable  *t;
	CmdType		op;
	AttrNumber	id_junk;		/* the old row's _id (UPDATE, DELETE) */
	Bitmapset  *updated;		/* attnos an UPDATE sets */
	bool		do_nothing;		/* INSERT ... ON CONFLICT DO NOTHING */
	const char *client;
	bool		has_nonce;
	int64		nonce;			/* of the next write */
	const char *idem;
	PutArgs		prov;			/* provenance of every put */
	int64		nwrites;
	uint64		serial;			/* tells statements apart */
	bool		fill_slot;		/* RETURNING or triggers see the stored row */
	MemoryContext row_cxt;
} NedbModify;

#define ROW_ID_NAME "nedb_id"

void
nedb_fdw_add_update_targets(PlannerInfo *root, Index rtindex,
							RangeTblEntry *target_rte, Relation target_relation)
{
	NedbTable  *t = nedb_table(RelationGetRelid(target_relation));
	Form_pg_attribute att;

	if (t->id_attno == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("foreign table \"%s\" has no _id column", t->relname),
				 errhint("UPDATE and DELETE find documents by id: add a column _id text.")));
	att = TupleDescAttr(RelationGetDescr(target_relation), t->id_attno - 1);
	add_row_identity_var(root, makeVar(rtindex, t->id_attno, att->atttypid, att->atttypmod,
									   att->attcollation, 0),
						 rtindex, ROW_ID_NAME);
}

List *
nedb_fdw_plan_modify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					 int subplan_index)
{
	List	   *updated = NIL;

	if (plan->operation == CMD_UPDATE)
	{
		RelOptInfo *rel = find_base_rel(root, resultRelation);
		Bitmapset  *cols = get_rel_all_updated_cols(root, rel);
		int			col = -1;

		while ((col = bms_next_member(cols, col)) >= 0)
		{
			AttrNumber	attno = col + FirstLowInvalidHeapAttributeNumber;

			if (attno > 0)
				updated = lappend_int(updated, attno);
		}
	}

	/*
	 * ON CONFLICT DO UPDATE needs an arbiter index, which a foreign table
	 * cannot have: the planner has refused it before this runs.
	 */
	if (plan->onConflictAction == ONCONFLICT_UPDATE)
		elog(ERROR, "unexpected ON CONFLICT DO UPDATE on a nedb foreign table");
	return list_make2(updated, makeInteger(plan->onConflictAction == ONCONFLICT_NOTHING));
}

/* ON CONFLICT DO NOTHING of the statement routing rows here (none for COPY) */
static bool
plan_do_nothing(ModifyTableState *mtstate)
{
	ModifyTable *plan = mtstate ? (ModifyTable *) mtstate->ps.plan : NULL;

	if (plan == NULL)
		return false;
	if (plan->onConflictAction == ONCONFLICT_UPDATE)
		elog(ERROR, "unexpected ON CONFLICT DO UPDATE on a nedb foreign table");
	return plan->onConflictAction == ONCONFLICT_NOTHING;
}

/*
 * nedb.nonce and nedb.idem are for one write statement.  A value set with
 * SET LOCAL stays in force until the transaction ends, so the statement
 * that first writes with it claims it (the assignment, not the text: SET
 * LOCAL of the same value again is a new assignment); a later statement
 * that finds the same assignment in force is refused instead of replaying
 * the nonce or turning into a no-op of the known key.  A claim made in a
 * subtransaction that rolls back is given up with it.
 */
typedef struct SettingClaim
{
	bool		valid;
	uint64		generation;		/* the assignment claimed */
	uint64		serial;			/* by this statement */
	SubTransactionId subid;		/* in this subtransaction */
} SettingClaim;

static SettingClaim claims[NEDB_NUM_SETTINGS];
static uint64 modify_serial = 0;
static bool claim_callbacks = false;

static void
claims_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		memset(claims, 0, sizeof(claims));
}

static void
claims_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	for (int i = 0; i < NEDB_NUM_SETTINGS; i++)
	{
		if (!claims[i].valid || claims[i].subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB)
			claims[i].valid = false;
		else if (event == SUBXACT_EVENT_COMMIT_SUB)
			claims[i].subid = parentSubid;
	}
}

/* refuse a setting another statement claimed; with take, claim it */
static void
check_claim(NedbModify *m, NedbSetting which, bool in_force, bool take)
{
	SettingClaim *c = &claims[which];
	uint64		gen = nedb_setting_generation(which);

	if (!in_force)
		return;
	if (c->valid && c->generation == gen && c->serial != m->serial)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s was already used in this transaction",
						nedb_setting_name(which)),
				 errdetail(which == NEDB_SET_IDEM
						   ? "An idempotency key names one write: this statement would be a no-op."
						   : "A nonce is for one write statement: this statement would replay it."),
				 errhint("SET LOCAL %s again before each write statement (a new %s), or RESET %s.",
						 nedb_setting_name(which),
						 which == NEDB_SET_IDEM ? "key" : "nonce",
						 nedb_setting_name(which))));
	if (!take || (c->valid && c->generation == gen))
		return;
	if (!claim_callbacks)
	{
		RegisterXactCallback(claims_xact_callback, NULL);
		RegisterSubXactCallback(claims_subxact_callback, NULL);
		claim_callbacks = true;
	}
	c->valid = true;
	c->generation = gen;
	c->serial = m->serial;
	c->subid = GetCurrentSubTransactionId();
}

static NedbModify *
modify_state(ResultRelInfo *rinfo, CmdType op)
{
	NedbModify *m = palloc0(sizeof(NedbModify));
	int64		as_of;
	const char *val;

	m->t = nedb_table(RelationGetRelid(rinfo->ri_RelationDesc));
	m->op = op;
	nedb_acl_require_table(rinfo->ri_RelationDesc, m->t->coll, NEDB_WRITE);
	if (nedb_read_as_of(m->t, &as_of))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot write to foreign table \"%s\": it reads collection \"%s\" as of seq " INT64_FORMAT,
						m->t->relname, m->t->coll, as_of),
				 errhint("History is read-only: RESET nedb.as_of (or use a table without option as_of) to write.")));
	m->serial = ++modify_serial;
	val = nedb_setting(NEDB_SET_CLIENT);
	m->client = pstrdup(val ? val : "local");
	nedb_check_client(m->client);
	val = nedb_setting(NEDB_SET_NONCE);
	m->has_nonce = val != NULL;
	if (m->has_nonce)
		m->nonce = strtoll(val, NULL, 10);
	val = nedb_setting(NEDB_SET_IDEM);
	m->idem = val ? pstrdup(val) : NULL;
	val = nedb_setting(NEDB_SET_CAUSED_BY);
	if (val)
	{
		Oid			fn;
		Oid			ioparam;

		getTypeInputInfo(INT8ARRAYOID, &fn, &ioparam);
		m->prov.caused_by = DatumGetArrayTypeP(OidInputFunctionCall(fn, (char *) val,
																	ioparam, -1));
	}
	val = nedb_setting(NEDB_SET_EVIDENCE);
	if (val)
		m->prov.evidence = pstrdup(val);
	val = nedb_setting(NEDB_SET_CONFIDENCE);
	if (val)
	{
		m->prov.has_confidence = true;
		m->prov.confidence = strtod(val, NULL);
	}
	val = nedb_setting(NEDB_SET_VALID_FROM);
	if (val)
		m->prov.valid_from = pstrdup(val);
	val = nedb_setting(NEDB_SET_VALID_TO);
	if (val)
		m->prov.valid_to = pstrdup(val);
	/* a nonce or key that an earlier statement used is refused before any row */
	check_claim(m, NEDB_SET_NONCE, m->has_nonce, false);
	check_claim(m, NEDB_SET_IDEM, m->idem != NULL, false);
	/* COPY has no RETURNING: skip building rows nobody reads */
	m->fill_slot = op != CMD_INSERT || rinfo->ri_returningList != NIL ||
		rinfo->ri_TrigDesc != NULL;
	m->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb write row",
									   ALLOCSET_DEFAULT_SIZES);
	rinfo->ri_FdwState = m;
	return m;
}

void
nedb_fdw_begin_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					  List *fdw_private, int subplan_index, int eflags)
{
	NedbModify *m;
	ListCell   *lc;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	m = modify_state(rinfo, mtstate->operation);
	/* RETURNING is set up after this: build the stored row for every statement */
	m->fill_slot = true;
	if (m->op == CMD_UPDATE || m->op == CMD_DELETE)
	{
		m->id_junk = ExecFindJunkAttributeInTlist(outerPlanState(mtstate)->plan->targetlist,
												  ROW_ID_NAME);
		if (!AttributeNumberIsValid(m->id_junk))
			elog(ERROR, "could not find junk column %s", ROW_ID_NAME);
	}
	foreach(lc, (List *) linitial(fdw_private))
		m->updated = bms_add_member(m->updated, lfirst_int(lc));
	m->do_nothing = intVal(lsecond(fdw_private)) != 0;
}

/* COPY FROM, and rows an INSERT routes to a partition that is a nedb table */
void
nedb_fdw_begin_insert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	NedbModify *m = modify_state(rinfo, CMD_INSERT);

	m->do_nothing = plan_do_nothing(mtstate);
}

void
nedb_fdw_end_modify(EState *estate, ResultRelInfo *rinfo)
{
}

void
nedb_fdw_end_insert(EState *estate, ResultRelInfo *rinfo)
{
}

int
nedb_fdw_updatable(Relation rel)
{
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

/* the next write's nonce and idempotency key */
static void
next_write(NedbModify *m, bool *has_nonce, int64 *nonce, const char **idem)
{
	if (m->idem && m->nwrites > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("nedb.idem names one write, and this statement writes more than one row"),
				 errhint("Write one row per statement with nedb.idem, or RESET nedb.idem.")));
	check_claim(m, NEDB_SET_NONCE, m->has_nonce, true);
	check_claim(m, NEDB_SET_IDEM, m->idem != NULL, true);
	*has_nonce = m->has_nonce;
	*nonce = m->nonce + m->nwrites;
	*idem = m->idem;
	m->nwrites++;
}

static void
set_provenance(NedbModify *m, PutArgs *a)
{
	a->caused_by = m->prov.caused_by;
	a->evidence = m->prov.evidence;
	a->has_confidence = m->prov.has_confidence;
	a->confidence = m->prov.confidence;
	a->valid_from = m->prov.valid_from;
	a->valid_to = m->prov.valid_to;
}

static const char *
checked_id(NedbModify *m, Datum d)
{
	char	   *id = TextDatumGetCString(d);

	if (*id == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("document id must not be empty")));
	if (strlen(id) > NEDB_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("document id is %zu bytes long, more than the limit of %d",
						strlen(id), NEDB_MAX_NAME)));
	return id;
}

/*
 * Whether the idempotency key of this write is known: the write it names
 * was done, and this one is skipped (no op, no row, not counted), as ON
 * CONFLICT DO NOTHING skips a row.  Needs the storage session; takes the
 * chain lock, under which the write path would find the same.
 */
static bool
idem_known(const char *idem)
{
	if (idem == NULL)
		return false;
	(void) chain_idem_lock(idem);
	chain_lock();
	return chain_idem_seq(idem) >= 0;
}

/* the stored row into slot, for RETURNING and triggers */
static TupleTableSlot *
fill(NedbModify *m, TupleTableSlot *slot, const char *id, int64 seq, Jsonb *doc)
{
	if (!m->fill_slot)
		return slot;
	ExecClearTuple(slot);
	nedb_doc_to_values(m->t, id, seq, doc, slot->tts_values, slot->tts_isnull);
	return ExecStoreVirtualTuple(slot);
}

TupleTableSlot *
nedb_fdw_insert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
				TupleTableSlot *planSlot)
{
	NedbModify *m = rinfo->ri_FdwState;
	NedbTable  *t = m->t;
	MemoryContext old;
	PutArgs		a = {0};
	Jsonb	   *base = NULL;
	NedbSession s;
	Jsonb	   *stored;
	int64		seq;
	bool		exists = false;

	MemoryContextReset(m->row_cxt);
	old = MemoryContextSwitchTo(m->row_cxt);
	slot_getallattrs(slot);
	if (t->doc_attno && !slot->tts_isnull[t->doc_attno - 1])
		base = DatumGetJsonbP(slot->tts_values[t->doc_attno - 1]);
	if (t->id_attno && !slot->tts_isnull[t->id_attno - 1])
		a.id = checked_id(m, slot->tts_values[t->id_attno - 1]);
	else if (base && JB_ROOT_IS_OBJECT(base) && !JB_ROOT_IS_SCALAR(base))
	{
		JsonbValue *v = nedb_member(&base->root, "_id");

		if (v && v->type == jbvString)
			a.id = checked_id(m, PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																		  v->val.string.len)));
	}
	if (a.id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a document written through foreign table \"%s\" needs an id", t->relname),
				 errhint("Give column _id, or a string _id in column doc.")));
	a.coll = t->coll;
	a.doc = nedb_values_to_doc(t, base, slot->tts_values, slot->tts_isnull, NULL);
	a.client = m->client;
	set_provenance(m, &a);
	next_write(m, &a.has_nonce, &a.nonce, &a.idem);

	/* a put staged for COMMIT (staging.c): its _seq is not known yet */
	if (t->insert_replace && !m->do_nothing && staging_wanted(&a) &&
		(stored = staging_put(&a)) != NULL)
	{
		slot = fill(m, slot, a.id, -1, stored);
		MemoryContextSwitchTo(old);
		return slot;
	}

	nedb_begin(&s);
	if (idem_known(a.idem))
	{
		/* done before: skipped, and still counted against the one-row limit */
		nedb_end(&s);
		MemoryContextSwitchTo(old);
		return NULL;
	}
	if (t->insert_replace && !m->do_nothing)
		stored = write_put(&a, &seq);
	else
		stored = write_insert(&a, &seq, &exists);
	if (stored && m->fill_slot)
		stored = DatumGetJsonbP(nedb_copy_out(&s, stored));
	nedb_end(&s);
	if (exists)
	{
		/* nothing was written: the next write takes this row's nonce */
		m->nwrites--;
		if (!m->do_nothing)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("duplicate key value violates the unique _id of collection \"%s\"",
							t->coll),
					 errdetail("Key (_id)=(%s) already exists.", a.id),
					 errhint("Use UPDATE or nedb.put() to change the document, or INSERT ... ON CONFLICT DO NOTHING to skip it."),
					 errtable(rinfo->ri_RelationDesc)));
		/* ON CONFLICT DO NOTHING: no row, not counted, not returned */
		MemoryContextSwitchTo(old);
		return NULL;
	}
	if (stored != NULL)
		slot = fill(m, slot, a.id, seq, stored);
	MemoryContextSwitchTo(old);
	return slot;
}

/* the id of the row an UPDATE or DELETE targets */
static const char *
old_id(NedbModify *m, TupleTableSlot *planSlot)
{
	bool		isnull;
	Datum		d = ExecGetJunkAttribute(planSlot, m->id_junk, &isnull);

	if (isnull)
		elog(ERROR, "nedb: the row to change has no _id");
	return TextDatumGetCString(d);
}

/* the current document of id under the chain lock, NULL if gone */
static Jsonb *
current_doc(NedbModify *m, const char *id, int64 *seq)
{
	Jsonb	   *doc = NULL;

	chain_lock();
	if (!store_latest(m->t->coll, id, false, 0, true, seq, &doc) || doc == NULL ||
		doc_expired(doc, op_now()))
		return NULL;
	return doc;
}

TupleTableSlot *
nedb_fdw_update(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
				TupleTableSlot *planSlot)
{
	NedbModify *m = rinfo->ri_FdwState;
	NedbTable  *t = m->t;
	MemoryContext old;
	PutArgs		a = {0};
	NedbSession s;
	Jsonb	   *base;
	Jsonb	   *stored;
	int64		seq;

	MemoryContextReset(m->row_cxt);
	old = MemoryContextSwitchTo(m->row_cxt);
	slot_getallattrs(slot);
	a.id = old_id(m, planSlot);
	if (bms_is_member(t->id_attno, m->updated) &&
		(slot->tts_isnull[t->id_attno - 1] ||
		 strcmp(TextDatumGetCString(slot->tts_values[t->id_attno - 1]), a.id) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change the _id of document \"%s\"", a.id),
				 errhint("INSERT the document under the new id and DELETE the old one.")));
	for (int i = 0; i < t->natts; i++)
		if (t->cols[i].kind == NEDB_COL_SEQ && bms_is_member(i + 1, m->updated))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of foreign table \"%s\" is read-only",
							t->cols[i].name, t->relname),
					 errdetail("It is the seq of the document's version.")));
	if (t->doc_attno && bms_is_member(t->doc_attno, m->updated) &&
		slot->tts_isnull[t->doc_attno - 1])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("column \"doc\" of foreign table \"%s\" must not be set to NULL", t->relname),
				 errhint("DELETE the row to remove the document.")));

	a.coll = t->coll;
	a.client = m->client;
	set_provenance(m, &a);
	nedb_begin(&s);
	if (idem_known(m->idem))
	{
		next_write(m, &a.has_nonce, &a.nonce, &a.idem);
		nedb_end(&s);
		MemoryContextSwitchTo(old);
		return NULL;
	}
	base = current_doc(m, a.id, &seq);
	if (base == NULL)
	{
		/* deleted since the scan read it: nothing to update */
		nedb_end(&s);
		MemoryContextSwitchTo(old);
		return NULL;
	}
	if (t->doc_attno && bms_is_member(t->doc_attno, m->updated))
		base = DatumGetJsonbP(slot->tts_values[t->doc_attno - 1]);
	a.doc = nedb_values_to_doc(t, base, slot->tts_values, slot->tts_isnull, m->updated);
	next_write(m, &a.has_nonce, &a.nonce, &a.idem);
	stored = write_put(&a, &seq);
	if (stored)
		stored = DatumGetJsonbP(nedb_copy_out(&s, stored));
	nedb_end(&s);
	if (stored != NULL)
		slot = fill(m, slot, a.id, seq, stored);
	MemoryContextSwitchTo(old);
	return slot;
}

TupleTableSlot *
nedb_fdw_delete(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
				TupleTableSlot *planSlot)
{
	NedbModify *m = rinfo->ri_FdwState;
	MemoryContext old;
	NedbSession s;
	const char *id;
	Jsonb	   *doc;
	int64		seq;
	bool		has_nonce;
	int64		nonce;
	const char *idem;

	MemoryContextReset(m->row_cxt);
	old = MemoryContextSwitchTo(m->row_cxt);
	id = old_id(m, planSlot);
	nedb_begin(&s);
	if (idem_known(m->idem))
	{
		next_write(m, &has_nonce, &nonce, &idem);
		nedb_end(&s);
		MemoryContextSwitchTo(old);
		return NULL;
	}
	doc = current_doc(m, id, &seq);
	if (doc == NULL)
	{
		nedb_end(&s);
		MemoryContextSwitchTo(old);
		return NULL;
	}
	doc = DatumGetJsonbP(nedb_copy_out(&s, doc));
	next_write(m, &has_nonce, &nonce, &idem);
	(void) write_delete(m->t->coll, id, m->client, has_nonce, nonce, idem);
	nedb_end(&s);
	slot = fill(m, slot, id, seq, doc);
	MemoryContextSwitchTo(old);
	return slot;
}
