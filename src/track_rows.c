/*
 * track_rows.c
 *	  A tracked table's rows as documents and ids, and their chaining.
 *
 * A row's document is to_jsonb(row); its id is its key column's JSON value
 * (a string as itself, a number or boolean as its JSON text) or, for a
 * composite key, the JSON array of the key values.  Both are made under
 * fixed output settings (track_output_push), so the same row gives the same
 * document and id whatever the TimeZone, DateStyle or extra_float_digits of
 * the session that wrote it.
 *
 * Rows are turned into documents as the caller (a column type's output
 * function must not run with the extension owner's rights), a batch at a
 * time, and the batch is then chained in one storage session: puts staged
 * for COMMIT where staging.c takes them (a tracked table is a writer like
 * any other), appended at once otherwise.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "session.h"
#include "staging.h"
#include "track_rows.h"
#include "write.h"

#define TRACK_CLIENT "track"
#define TRACK_BATCH_ROWS 1000
#define TRACK_BATCH_BYTES (8 * 1024 * 1024)

static HTAB *track_cache = NULL;
static Oid	tracked_relid = InvalidOid;	/* nedb.tracked: its changes void all */

/* a relation changed: its tracking is read again at its next use */
static void
track_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS st;
	TrackInfo  *ti;

	if (track_cache == NULL)
		return;
	if (relid != InvalidOid && relid != tracked_relid)
	{
		ti = hash_search(track_cache, &relid, HASH_FIND, NULL);
		if (ti)
			ti->valid = false;
		return;
	}
	hash_seq_init(&st, track_cache);
	while ((ti = hash_seq_search(&st)) != NULL)
		ti->valid = false;
}

void
nedb_track_init(void)
{
	CacheRegisterRelcacheCallback(track_invalidate, (Datum) 0);
}

/* to_jsonb with an argument of type argtype: it reads the type off fn_expr */
static void
to_jsonb_fn(FmgrInfo *f, Oid argtype, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	fmgr_info_cxt(F_TO_JSONB, f, cxt);
	f->fn_expr = (Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
									   list_make1(makeNullConst(argtype, -1, InvalidOid)),
									   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	MemoryContextSwitchTo(old);
}

static bool
track_load(TrackInfo *ti, Relation rel)
{
	NedbSession s;
	Oid			argt[1] = {OIDOID};
	Datum		argv[1] = {ObjectIdGetDatum(ti->relid)};
	bool		found = false;
	Oid			nsp = get_namespace_oid("nedb", false);

	tracked_relid = get_relname_relid("tracked", nsp);
	if (ti->cxt == NULL)
		ti->cxt = AllocSetContextCreate(CacheMemoryContext, "nedb tracked table",
										ALLOCSET_SMALL_SIZES);
	MemoryContextReset(ti->cxt);
	ti->coll = NULL;
	ti->valid = true;			/* an invalidation while loading voids it */

	/* not read-only: a new snapshot sees the transaction's nedb.track */
	nedb_begin(&s);
	if (SPI_execute_with_args("SELECT coll, key FROM nedb.tracked WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, argt, argv, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "nedb: could not read nedb.tracked");
	if (SPI_processed == 1)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(ti->cxt);
		Datum	   *names;
		int			n;

		found = true;
		ti->coll = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		deconstruct_array(DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &n);
		ti->nkeys = n;
		ti->keyatt = palloc(sizeof(AttrNumber) * n);
		ti->keyfn = palloc(sizeof(FmgrInfo) * n);
		for (int i = 0; i < n; i++)
		{
			char	   *name = TextDatumGetCString(names[i]);
			AttrNumber	att = get_attnum(ti->relid, name);

			if (att == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("key column \"%s\" of tracked table %s does not exist",
								name, RelationGetRelationName(rel)),
						 errhint("Correct the key in nedb.tracked, or nedb.untrack() the table and track it again.")));
			ti->keyatt[i] = att;
			to_jsonb_fn(&ti->keyfn[i], TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid,
						ti->cxt);
		}
		to_jsonb_fn(&ti->rowfn, rel->rd_rel->reltype, ti->cxt);
		MemoryContextSwitchTo(old);
	}
	nedb_end(&s);
	return found;
}

TrackInfo *
track_info(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TrackInfo  *ti;
	bool		found;

	if (track_cache == NULL)
	{
		HASHCTL		ctl = {0};

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TrackInfo);
		ctl.hcxt = CacheMemoryContext;
		track_cache = hash_create("nedb tracked tables", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ti = hash_search(track_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		ti->cxt = NULL;
		ti->valid = false;
	}
	if (!ti->valid)
	{
		bool		tracked = false;

		PG_TRY();
		{
			tracked = track_load(ti, rel);
		}
		PG_CATCH();
		{
			ti->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (!tracked)
		{
			ti->valid = false;
			return NULL;
		}
		/* loaded; if voided meanwhile, still good for this statement */
	}
	return ti;
}

/* ------------------------------------------------------------------------
 * Documents and ids
 * ------------------------------------------------------------------------ */

static const char *const output_settings[][2] = {
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
};

int
track_output_push(void)
{
	int			level = NewGUCNestLevel();

	for (int i = 0; i < lengthof(output_settings); i++)
	{
		const char *cur = GetConfigOption(output_settings[i][0], false, false);

		if (cur == NULL || strcmp(cur, output_settings[i][1]) != 0)
			(void) set_config_option(output_settings[i][0], output_settings[i][1],
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	}
	return level;
}

void
track_output_pop(int level)
{
	AtEOXact_GUC(true, level);
}

static Jsonb *
key_json(TrackInfo *ti, int i, TupleTableSlot *slot)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, ti->keyatt[i], &isnull);

	if (isnull)
		return NULL;
	return DatumGetJsonbP(FunctionCall1(&ti->keyfn[i], d));
}

char *
track_row_id(TrackInfo *ti, TupleTableSlot *slot)
{
	JsonbValue	v;
	JsonbParseState *st = NULL;
	Jsonb	   *jb;

	if (ti->nkeys == 1)
	{
		jb = key_json(ti, 0, slot);
		if (jb == NULL)
			return NULL;
		if (!JsonbExtractScalar(&jb->root, &v))
			return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		switch (v.type)
		{
			case jbvString:
				return pnstrdup(v.val.string.val, v.val.string.len);
			case jbvNumeric:
				return DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(v.val.numeric)));
			case jbvBool:
				return pstrdup(v.val.boolean ? "true" : "false");
			default:
				return NULL;	/* JSON null */
		}
	}

	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < ti->nkeys; i++)
	{
		jb = key_json(ti, i, slot);
		if (jb == NULL)
			return NULL;
		if (JsonbExtractScalar(&jb->root, &v))
		{
			if (v.type == jbvNull)
				return NULL;
		}
		else
		{
			v.type = jbvBinary;
			v.val.binary.data = &jb->root;
			v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		}
		pushJsonbValue(&st, WJB_ELEM, &v);
	}
	jb = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_ARRAY, NULL));
	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

Jsonb *
track_row_doc(TrackInfo *ti, TupleTableSlot *slot)
{
	return DatumGetJsonbP(FunctionCall1(&ti->rowfn, ExecFetchSlotHeapTupleDatum(slot)));
}

/* ------------------------------------------------------------------------
 * Chaining
 * ------------------------------------------------------------------------ */

typedef struct TrackChange
{
	char	   *id;
	Jsonb	   *doc;			/* NULL: a delete */
} TrackChange;

struct TrackChain
{
	TrackInfo  *ti;
	char	   *coll;
	const char *relname;
	const char *evidence;
	bool		stage;
	MemoryContext batch_cxt;	/* the batch's documents and ids */
	MemoryContext op_cxt;		/* one op's garbage */
	TrackChange rows[TRACK_BATCH_ROWS];
	int			n;
	Size		bytes;
	uint64		done;
};

TrackChain *
track_chain_begin(TrackInfo *ti, const char *relname, const char *evidence, bool stage)
{
	TrackChain *c = palloc0(sizeof(TrackChain));

	c->ti = ti;
	c->coll = pstrdup(ti->coll);
	c->relname = relname;
	c->evidence = evidence;
	c->stage = stage;
	c->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb tracked rows",
										 ALLOCSET_DEFAULT_SIZES);
	c->op_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb tracked op",
									  ALLOCSET_DEFAULT_SIZES);
	return c;
}

/* chain the batch in one storage session, opened at its first need */
static void
chain_flush(TrackChain *c)
{
	NedbSession s;
	bool		open = false;
	MemoryContext caller = CurrentMemoryContext;

	for (int i = 0; i < c->n; i++)
	{
		TrackChange *ch = &c->rows[i];
		PutArgs		a = {0};
		int64		seq;
		bool		staged = false;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		a.coll = c->coll;
		a.id = ch->id;
		a.doc = ch->doc;
		a.client = TRACK_CLIENT;
		a.evidence = c->evidence;
		if (ch->doc && !open && c->stage && staging_wanted(&a))
		{
			old = MemoryContextSwitchTo(c->op_cxt);
			staged = staging_put(&a) != NULL;
			MemoryContextSwitchTo(old);
		}
		if (!staged)
		{
			if (!open)
			{
				nedb_begin(&s);
				open = true;
			}
			old = MemoryContextSwitchTo(c->op_cxt);
			if (ch->doc)
				(void) write_put(&a, &seq);
			else
				(void) write_delete(c->coll, ch->id, TRACK_CLIENT, false, 0, NULL);
			MemoryContextSwitchTo(old);
		}
		MemoryContextReset(c->op_cxt);
	}
	if (open)
		nedb_end(&s);
	MemoryContextSwitchTo(caller);
	c->done += c->n;
	c->n = 0;
	c->bytes = 0;
	MemoryContextReset(c->batch_cxt);
}

static void
chain_add(TrackChain *c, char *id, Jsonb *doc)
{
	c->rows[c->n].id = id;
	c->rows[c->n].doc = doc;
	c->n++;
	c->bytes += strlen(id) + (doc ? VARSIZE(doc) : 0);
	if (c->n == TRACK_BATCH_ROWS || c->bytes >= TRACK_BATCH_BYTES)
		chain_flush(c);
}

void
track_chain_put(TrackChain *c, TupleTableSlot *slot)
{
	MemoryContext old = MemoryContextSwitchTo(c->batch_cxt);
	char	   *id = track_row_id(c->ti, slot);

	if (id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a key column of a row of tracked table %s is NULL", c->relname),
				 errdetail("Tracked rows are chained under their key; it must not be NULL.")));
	chain_add(c, id, track_row_doc(c->ti, slot));
	MemoryContextSwitchTo(old);
}

void
track_chain_delete(TrackChain *c, const char *id)
{
	MemoryContext old = MemoryContextSwitchTo(c->batch_cxt);

	chain_add(c, pstrdup(id), NULL);
	MemoryContextSwitchTo(old);
}

uint64
track_chain_end(TrackChain *c)
{
	uint64		done;

	chain_flush(c);
	done = c->done;
	MemoryContextDelete(c->batch_cxt);
	MemoryContextDelete(c->op_cxt);
	pfree(c);
	return done;
}
