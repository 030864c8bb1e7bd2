/*
 * indexes.c
 *	  Declared secondary indexes over a collection's documents.
 *
 * Each is a partial index on nedb.versions (WHERE coll = '<coll>') over
 * every version, current and historical, so reads AS OF a seq can use it
 * as well as reads of the present:
 *	 eq      btree on doc -> field
 *	 sorted  nedb_sorted on doc -> field (nedb_jsonb_ops: NEDB ordering)
 *	 search  GIN on nedb.tokens(doc -> field), the reference tokenizer
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "acl.h"
#include "auto_index.h"
#include "chain.h"
#include "store.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_create_index);
PG_FUNCTION_INFO_V1(nedb_drop_index);
PG_FUNCTION_INFO_V1(nedb_tokens);

/* the kind's canonical name ('ordered' is the reference's name for sorted) */
static const char *
index_kind(FunctionCallInfo fcinfo, int argno)
{
	char	   *kind;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("index kind must not be NULL"),
				 errhint("Use eq, sorted (or ordered) or search.")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(kind, "eq") == 0 || strcmp(kind, "search") == 0)
		return kind;
	if (strcmp(kind, "sorted") == 0 || strcmp(kind, "ordered") == 0)
		return "sorted";
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown index kind: %s", kind),
			 errhint("Use eq, sorted (or ordered) or search.")));
	return NULL;				/* keep compiler quiet */
}

/* a readable, unique-enough relation name: nedb_<kind>_<coll>_<field>_<hash> */
static char *
index_name(const char *coll, const char *field, const char *kind)
{
	StringInfoData s;
	StringInfoData key;
	uint32		h;

	initStringInfo(&key);
	appendStringInfo(&key, "%s%c%s%c%s", coll, '\0', field, '\0', kind);
	h = hash_bytes((const unsigned char *) key.data, key.len);

	initStringInfo(&s);
	appendStringInfo(&s, "nedb_%s_", kind);
	for (const char *p = coll; *p && s.len < 24; p++)
		appendStringInfoChar(&s, isalnum((unsigned char) *p) ? *p : '_');
	appendStringInfoChar(&s, '_');
	for (const char *p = field; *p && s.len < 44; p++)
		appendStringInfoChar(&s, isalnum((unsigned char) *p) ? *p : '_');
	appendStringInfo(&s, "_%08x", h);
	return s.data;
}

/*
 * A name no relation in schema nedb has yet: the readable one, or with a
 * counter.  Names are only a label (their hash can be made to collide);
 * the index of (coll, field, kind) is the one nedb.indexes records.
 */
char *
nedb_free_index_name(const char *coll, const char *field, const char *kind)
{
	char	   *base = index_name(coll, field, kind);
	char	   *name = base;
	Oid			nsp = get_namespace_oid("nedb", false);

	for (int i = 2; OidIsValid(get_relname_relid(name, nsp)); i++)
		name = psprintf("%s_%d", base, i);
	return name;
}

/*
 * What nedb_index_oid found, per backend: every NQL query and foreign-table
 * scan asks, and reading nedb.indexes was a third of a top-10's time.  An
 * entry (a miss too) holds until a relcache invalidation of nedb.versions,
 * which CREATE and DROP INDEX on it send and the trigger on nedb.indexes
 * sends for every change of its rows (nedb_indexes_changed), so a row
 * written after its index (the index builder's) is seen too.  A found
 * index is checked to exist on each use all the same.
 */
typedef struct IndexOidEntry
{
	char	   *key;			/* kind, coll and field, each NUL-ended */
	int			keylen;
	Oid			index;			/* InvalidOid: none */
} IndexOidEntry;

#define INDEX_OID_CACHE_SIZE 64

static IndexOidEntry index_oid_cache[INDEX_OID_CACHE_SIZE];
static int	index_oid_cached;
static int	index_oid_next;		/* the entry to replace when full */
static Oid	index_oid_versions; /* nedb.versions when the entries were read */
static bool index_oid_callback;

static void
index_oid_cache_reset(void)
{
	for (int i = 0; i < index_oid_cached; i++)
		if (index_oid_cache[i].key)
			pfree(index_oid_cache[i].key);
	index_oid_cached = 0;
	index_oid_next = 0;
	index_oid_versions = InvalidOid;
}

static void
index_oid_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == index_oid_versions)
		index_oid_cache_reset();
}

/* the entries' key of (coll, field, kind), in the current memory context */
static char *
index_oid_key(const char *coll, const char *field, const char *kind, int *len)
{
	int			k = strlen(kind) + 1;
	int			c = strlen(coll) + 1;
	int			f = strlen(field) + 1;
	char	   *key = palloc(k + c + f);

	memcpy(key, kind, k);
	memcpy(key + k, coll, c);
	memcpy(key + k + c, field, f);
	*len = k + c + f;
	return key;
}

static IndexOidEntry *
index_oid_lookup(const char *key, int len)
{
	for (int i = 0; i < index_oid_cached; i++)
		if (index_oid_cache[i].keylen == len && memcmp(index_oid_cache[i].key, key, len) == 0)
			return &index_oid_cache[i];
	return NULL;
}

/* the index of (coll, field, kind), read from nedb.indexes */
static Oid index_oid_read(const char *coll, const char *field, const char *kind, Oid versions);

/*
 * The index nedb.create_index built for (coll, field, kind), or InvalidOid:
 * read from nedb.indexes by its key (never derived from a name), and only if
 * it is an index on nedb.versions.  Needs no storage session.
 */
Oid
nedb_index_oid(const char *coll, const char *field, const char *kind)
{
	int			len;
	char	   *key;
	IndexOidEntry *e;
	Oid			versions;

	if (!index_oid_callback)
	{
		CacheRegisterRelcacheCallback(index_oid_invalidate, (Datum) 0);
		index_oid_callback = true;
	}
	key = index_oid_key(coll, field, kind, &len);
	if (OidIsValid(index_oid_versions) && (e = index_oid_lookup(key, len)) != NULL)
	{
		if (!OidIsValid(e->index) || SearchSysCacheExists1(RELOID, ObjectIdGetDatum(e->index)))
		{
			pfree(key);
			return e->index;
		}
		index_oid_cache_reset();
	}
	versions = get_relname_relid("versions", get_namespace_oid("nedb", false));
	if (!OidIsValid(index_oid_versions))
	{
		index_oid_cache_reset();
		index_oid_versions = versions;
	}
	if (index_oid_cached < INDEX_OID_CACHE_SIZE)
		e = &index_oid_cache[index_oid_cached++];
	else
	{
		e = &index_oid_cache[index_oid_next];
		index_oid_next = (index_oid_next + 1) % INDEX_OID_CACHE_SIZE;
		if (e->key)
			pfree(e->key);
	}
	/* an error below leaves no half-made entry */
	e->key = NULL;
	e->keylen = -1;
	e->index = index_oid_read(coll, field, kind, versions);
	e->key = MemoryContextAlloc(CacheMemoryContext, len);
	memcpy(e->key, key, len);
	e->keylen = len;
	pfree(key);
	return e->index;
}

/*
 * nedb.indexes changed (a trigger, per statement): drop every backend's
 * cache of it, through a relcache invalidation of nedb.versions sent at
 * commit (and at once here).
 */
PG_FUNCTION_INFO_V1(nedb_indexes_changed);

Datum
nedb_indexes_changed(PG_FUNCTION_ARGS)
{
	Oid			versions;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("nedb.indexes_changed() is a trigger function")));
	versions = get_relname_relid("versions", get_namespace_oid("nedb", false));
	if (OidIsValid(versions))
		CacheInvalidateRelcacheByRelid(versions);
	return PointerGetDatum(NULL);
}

static Oid
index_oid_read(const char *coll, const char *field, const char *kind, Oid versions)
{
	Oid			nsp = get_namespace_oid("nedb", false);
	Oid			tbl = get_relname_relid("indexes", nsp);
	Oid			pkey = get_relname_relid("indexes_pkey", nsp);
	Oid			result = InvalidOid;
	Relation	rel;
	ScanKeyData key[3];
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(tbl) || !OidIsValid(pkey))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table nedb.indexes or its primary key is missing"),
				 errhint("Reinstall the extension.")));
	ScanKeyEntryInitialize(&key[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(coll));
	ScanKeyEntryInitialize(&key[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(field));
	ScanKeyEntryInitialize(&key[2], 0, 3, BTEqualStrategyNumber, InvalidOid,
						   DEFAULT_COLLATION_OID, F_TEXTEQ, CStringGetTextDatum(kind));
	rel = table_open(tbl, AccessShareLock);
	scan = systable_beginscan(rel, pkey, true, NULL, 3, key);
	if ((tup = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 4, RelationGetDescr(rel), &isnull);

		if (!isnull)
			result = get_relname_relid(NameStr(*DatumGetName(d)), nsp);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (OidIsValid(result))
	{
		HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(result));

		if (!HeapTupleIsValid(itup))
			return InvalidOid;
		if (((Form_pg_index) GETSTRUCT(itup))->indrelid != versions)
			result = InvalidOid;
		ReleaseSysCache(itup);
	}
	return result;
}

static void
run(const char *sql)
{
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "failed: %s", sql);
}

/* the CREATE INDEX of (coll, field, kind) named name */
char *
nedb_index_build_sql(const char *coll, const char *field, const char *kind,
					 const char *name, bool concurrently)
{
	const char *how = concurrently ? "CREATE INDEX CONCURRENTLY" : "CREATE INDEX";

	if (strcmp(kind, "search") == 0)
		return psprintf("%s %s ON nedb.versions USING gin (nedb.tokens(doc -> %s))"
						" WHERE coll = %s", how,
						quote_identifier(name), quote_literal_cstr(field), quote_literal_cstr(coll));
	if (strcmp(kind, "sorted") == 0)
		return psprintf("%s %s ON nedb.versions USING nedb_sorted"
						" ((doc -> %s) nedb.nedb_jsonb_ops) WHERE coll = %s", how,
						quote_identifier(name), quote_literal_cstr(field), quote_literal_cstr(coll));
	return psprintf("%s %s ON nedb.versions ((doc -> %s)) WHERE coll = %s", how,
					quote_identifier(name), quote_literal_cstr(field), quote_literal_cstr(coll));
}

static void
build_index(const char *coll, const char *field, const char *kind, const char *name)
{
	store_release();
	run(nedb_index_build_sql(coll, field, kind, name, false));
}

/*
 * create_index(..., concurrently => true): a build for the index builder
 * (index_worker.c), which runs CREATE INDEX CONCURRENTLY, queued in
 * nedb.index_build_log and the builder told at commit.  Nothing if the
 * index is there or a build of it is queued or running.
 */
static void
queue_build(const char *coll, const char *field, const char *kind, const char *requester)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];

	if (ai_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nedb.create_index(concurrently => true) needs nedb in shared_preload_libraries"),
				 errdetail("CREATE INDEX CONCURRENTLY cannot run inside a function; the index builder, a background worker, runs it."),
				 errhint("Add nedb to shared_preload_libraries and restart the server, or build with concurrently => false, which holds up every put until the build ends.")));
	values[0] = CStringGetTextDatum(coll);
	values[1] = CStringGetTextDatum(field);
	values[2] = CStringGetTextDatum(kind);
	values[3] = CStringGetTextDatum(requester);
	if (SPI_execute_with_args("INSERT INTO nedb.index_build_log (coll, field, kind, auto, state, requested_by)"
							  " SELECT $1, $2, $3, false, 'queued', $4"
							  "  WHERE NOT EXISTS (SELECT 1 FROM nedb.indexes"
							  "                     WHERE coll = $1 AND field = $2 AND kind = $3"
							  "                       AND to_regclass(format('nedb.%I', index_name)) IS NOT NULL)"
							  "    AND NOT EXISTS (SELECT 1 FROM nedb.index_build_log"
							  "                     WHERE coll = $1 AND field = $2 AND kind = $3"
							  "                       AND state IN ('queued', 'building'))",
							  4, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "nedb: could not queue the index build");
	if (SPI_processed > 0)
		auto_index_poke_at_commit();
}

/*
 * nedb.create_index(coll, field, kind [, concurrently]): idempotent.  pg_dump does not dump
 * indexes on an extension's tables, so a restored database has the rows of
 * nedb.indexes without the indexes: calling this again builds them
 * (SELECT nedb.create_index(coll, field, kind) FROM nedb.indexes).
 */
Datum
nedb_create_index(PG_FUNCTION_ARGS)
{
	const char *coll = nedb_arg_name(fcinfo, 0, "collection");
	const char *field = nedb_arg_name(fcinfo, 1, "field");
	const char *kind = index_kind(fcinfo, 2);
	bool		concurrently = PG_NARGS() > 3 && !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	NedbSession s;
	char	   *sql;

	nedb_acl_require_collection(GetUserId(), coll, NEDB_WRITE);
	if (concurrently)
	{
		const char *requester = GetUserNameFromId(GetUserId(), false);

		nedb_begin(&s);
		queue_build(coll, field, kind, requester);
		nedb_end(&s);
		PG_RETURN_VOID();
	}
	nedb_begin(&s);
	sql = psprintf("SELECT index_name, to_regclass(format('nedb.%%I', index_name)) IS NOT NULL"
				   "  FROM nedb.indexes WHERE coll = %s AND field = %s AND kind = %s",
				   quote_literal_cstr(coll), quote_literal_cstr(field), quote_literal_cstr(kind));
	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "failed: %s", sql);
	if (SPI_processed == 0)
	{
		const char *name = nedb_free_index_name(coll, field, kind);

		build_index(coll, field, kind, name);
		run(psprintf("INSERT INTO nedb.indexes (coll, field, kind, index_name)"
					 " VALUES (%s, %s, %s, %s)",
					 quote_literal_cstr(coll), quote_literal_cstr(field),
					 quote_literal_cstr(kind), quote_literal_cstr(name)));
	}
	else if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), "f") == 0)
		build_index(coll, field, kind,
					SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	nedb_end(&s);
	PG_RETURN_VOID();
}

Datum
nedb_drop_index(PG_FUNCTION_ARGS)
{
	const char *coll = nedb_arg_name(fcinfo, 0, "collection");
	const char *field = nedb_arg_name(fcinfo, 1, "field");
	const char *kind = index_kind(fcinfo, 2);
	NedbSession s;
	char	   *sql;

	nedb_acl_require_collection(GetUserId(), coll, NEDB_WRITE);
	nedb_begin(&s);
	sql = psprintf("DELETE FROM nedb.indexes WHERE coll = %s AND field = %s AND kind = %s"
				   " RETURNING index_name",
				   quote_literal_cstr(coll), quote_literal_cstr(field), quote_literal_cstr(kind));
	if (SPI_execute(sql, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "failed: %s", sql);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("there is no %s index on %s.%s", kind, coll, field)));
	store_release();
	run(psprintf("DROP INDEX nedb.%s",
				 quote_identifier(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
	nedb_end(&s);
	PG_RETURN_VOID();
}

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The reference's search tokens of a string: set(re.findall("[a-z0-9]+",
 * text.lower())), sorted, unique.  Python's lower() turns two non-ASCII
 * letters into ASCII ones: U+0130 (I with dot) into "i" plus a combining dot,
 * U+212A (Kelvin sign) into "k".
 */
List *
search_tokens(const char *str, int len)
{
	const unsigned char *p = (const unsigned char *) str;
	const unsigned char *end = p + len;
	char	  **toks = palloc(sizeof(char *) * (len / 2 + 2));
	int			ntok = 0;
	List	   *out = NIL;
	StringInfoData cur;

	initStringInfo(&cur);
	while (p <= end)
	{
		char		c = 0;
		int			adv = 1;
		bool		dotted_i = false;

		if (p < end)
		{
			if (*p < 0x80)
				c = (char) tolower(*p);
			else
			{
				adv = pg_utf_mblen(p);
				if (adv == 2 && p[0] == 0xC4 && p[1] == 0xB0)
				{
					c = 'i';	/* U+0130 */
					dotted_i = true;
				}
				else if (adv == 3 && p[0] == 0xE2 && p[1] == 0x84 && p[2] == 0xAA)
					c = 'k';	/* U+212A */
			}
		}
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			appendStringInfoChar(&cur, c);
		/* the combining dot after U+0130's i ends the token too */
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) || dotted_i)
		{
			if (cur.len > 0)
			{
				toks[ntok++] = pstrdup(cur.data);
				resetStringInfo(&cur);
			}
		}
		if (p == end)
			break;
		p += adv;
	}
	qsort(toks, ntok, sizeof(char *), cmp_cstr);
	for (int i = 0; i < ntok; i++)
		if (i == 0 || strcmp(toks[i], toks[i - 1]) != 0)
			out = lappend(out, toks[i]);
	return out;
}

/* nedb.tokens(value): search_tokens() of a string value; {} for anything else */
Datum
nedb_tokens(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);
	JsonbValue	v;
	List	   *toks;
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;

	if (!JB_ROOT_IS_SCALAR(jb) || !JsonbExtractScalar(&jb->root, &v) ||
		v.type != jbvString)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	toks = search_tokens(v.val.string.val, v.val.string.len);
	elems = palloc(sizeof(Datum) * Max(list_length(toks), 1));
	foreach(lc, toks)
		elems[n++] = CStringGetTextDatum(lfirst(lc));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
