/*
 * cascade_sql.c
 *	  Cascade's SQL surface: put_file, get_file, file_root, file_proof,
 *	  verify_file_proof, compression_stats, file_versions, and the chunker
 *	  itself (nedb.chunk_boundaries, nedb.chunk_root).
 *
 * put_file chunks and stores the bytes first, without the chain lock (other
 * writers go on while a large file is compressed), then takes the lock,
 * appends the put_file op {name, tier, version, root} exactly as the
 * reference logs it, and records the version's recipe in nedb.files.  All of
 * it is one transaction: the bytes are durable when put_file commits, and a
 * rollback or crash before that leaves neither the version nor its chunks.
 *
 * Memory stays bounded by the input datum, the recipe (36 bytes per chunk)
 * and one chunk's buffers: each chunk is hashed and compressed in place and
 * its allocations are dropped before the next.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "acl.h"
#include "cascade.h"
#include "chain.h"
#include "util.h"

PG_FUNCTION_INFO_V1(nedb_put_file);
PG_FUNCTION_INFO_V1(nedb_get_file);
PG_FUNCTION_INFO_V1(nedb_file_root);
PG_FUNCTION_INFO_V1(nedb_file_proof);
PG_FUNCTION_INFO_V1(nedb_verify_file_proof);
PG_FUNCTION_INFO_V1(nedb_compression_stats);
PG_FUNCTION_INFO_V1(nedb_file_versions);
PG_FUNCTION_INFO_V1(nedb_chunk_boundaries);
PG_FUNCTION_INFO_V1(nedb_chunk_root);
PG_FUNCTION_INFO_V1(nedb_merkle_root);

/* a growing byte buffer that may exceed 1 GB (recipes of huge files) */
typedef struct Buf
{
	uint8	   *data;
	Size		len;
	Size		cap;
} Buf;

static void
buf_append(Buf *b, const void *p, Size n)
{
	if (b->len + n > b->cap)
	{
		Size		cap = Max(b->cap * 2, b->len + n);

		cap = Max(cap, 4096);
		b->data = b->data ? repalloc_huge(b->data, cap)
			: palloc_extended(cap, MCXT_ALLOC_HUGE);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static text *
hex_text(const uint8 *hash)
{
	char		hex[NEDB_HEX_LEN + 1];

	hash_to_hex(hash, hex);
	return cstring_to_text(hex);
}

static bytea *
bytea_from(const uint8 *data, Size len)
{
	bytea	   *b = palloc_extended(VARHDRSZ + len, MCXT_ALLOC_HUGE);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

static const char *
tier_arg(FunctionCallInfo fcinfo, int argno)
{
	return nedb_arg_name(fcinfo, argno, "tier");
}

/* ------------------------------------------------------------------------
 * File versions (nedb.files)
 * ------------------------------------------------------------------------ */

typedef struct FileVersion
{
	int32		version;		/* resolved, >= 0 */
	int64		seq;
	int64		size;
	uint8		root[NEDB_HASH_LEN];
	bytea	   *recipe;			/* in the caller's context */
} FileVersion;

static int32
version_count(const char *name, CascadeTier tier)
{
	Datum		v[2];
	Oid			t[2] = {TEXTOID, TEXTOID};
	bool		isnull;
	int32		n;

	v[0] = CStringGetTextDatum(name);
	v[1] = CStringGetTextDatum(cascade_tier_name(tier));
	if (SPI_execute_with_args("SELECT count(*)::int4 FROM nedb.files WHERE name = $1 AND tier = $2",
							  2, t, v, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the versions of a file");
	n = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * Look up version (negative counts from the latest, as Python indexing) of
 * name in tier; errors for an unknown file or version.  The recipe is copied
 * to out_cxt when wanted.
 */
static void
file_lookup(const char *name, CascadeTier tier, int32 version, bool want_recipe,
			MemoryContext out_cxt, FileVersion *fv)
{
	int32		n = version_count(name, tier);
	int32		v = version;
	Datum		args[3];
	Oid			t[3] = {TEXTOID, TEXTOID, INT4OID};
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;
	bytea	   *b;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("file \"%s\" does not exist in tier %s", name, cascade_tier_name(tier)),
				 errhint("nedb.file_versions(name) lists the versions of a file in every tier.")));
	if (v < 0)
		v += n;
	if (v < 0 || v >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("file \"%s\" has no version %d in tier %s", name, version,
						cascade_tier_name(tier)),
				 errdetail("It has %d version%s: 0 to %d (or -1 to -%d from the latest).",
						   n, n == 1 ? "" : "s", n - 1, n)));

	args[0] = CStringGetTextDatum(name);
	args[1] = CStringGetTextDatum(cascade_tier_name(tier));
	args[2] = Int32GetDatum(v);
	if (SPI_execute_with_args(want_recipe
							  ? "SELECT seq, size, root, chunks FROM nedb.files WHERE name = $1 AND tier = $2 AND version = $3"
							  : "SELECT seq, size, root FROM nedb.files WHERE name = $1 AND tier = $2 AND version = $3",
							  3, t, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("version %d of file \"%s\" is missing from nedb.files", v, name)));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	fv->version = v;
	fv->seq = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
	fv->size = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
	b = DatumGetByteaPP(SPI_getbinval(row, desc, 3, &isnull));
	if (VARSIZE_ANY_EXHDR(b) != NEDB_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the root of file \"%s\" version %d is not %d bytes", name, v, NEDB_HASH_LEN)));
	memcpy(fv->root, VARDATA_ANY(b), NEDB_HASH_LEN);
	fv->recipe = NULL;
	if (want_recipe)
	{
		MemoryContext old = MemoryContextSwitchTo(out_cxt);

		fv->recipe = DatumGetByteaPCopy(SPI_getbinval(row, desc, 4, &isnull));
		MemoryContextSwitchTo(old);
		if (VARSIZE_ANY_EXHDR(fv->recipe) % RECIPE_ENTRY != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the chunk list of file \"%s\" version %d is malformed", name, v)));
	}
	SPI_freetuptable(SPI_tuptable);
}

static int64
recipe_count(bytea *recipe)
{
	return VARSIZE_ANY_EXHDR(recipe) / RECIPE_ENTRY;
}

/* the ids of a recipe, contiguous (for the Merkle tree) */
static uint8 *
recipe_ids(bytea *recipe, int64 n)
{
	uint8	   *ids = palloc_extended(Max(n, 1) * NEDB_HASH_LEN, MCXT_ALLOC_HUGE);
	const uint8 *e = (const uint8 *) VARDATA_ANY(recipe);

	for (int64 i = 0; i < n; i++)
		memcpy(ids + i * NEDB_HASH_LEN, e + i * RECIPE_ENTRY, NEDB_HASH_LEN);
	return ids;
}

/* ------------------------------------------------------------------------
 * put_file
 * ------------------------------------------------------------------------ */

static Jsonb *
put_file_payload(const char *name, CascadeTier tier, int32 version, const uint8 *root)
{
	JsonbParseState *st = NULL;
	JsonbValue	v;
	char		hex[NEDB_HEX_LEN + 1];

	hash_to_hex(root, hex);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_key(&st, "name");
	v.type = jbvString;
	v.val.string.val = (char *) name;
	v.val.string.len = strlen(name);
	pushJsonbValue(&st, WJB_VALUE, &v);
	nedb_push_key(&st, "tier");
	v.val.string.val = (char *) cascade_tier_name(tier);
	v.val.string.len = strlen(v.val.string.val);
	pushJsonbValue(&st, WJB_VALUE, &v);
	nedb_push_key(&st, "version");
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(version);
	pushJsonbValue(&st, WJB_VALUE, &v);
	nedb_push_key(&st, "root");
	v.type = jbvString;
	v.val.string.val = hex;
	v.val.string.len = NEDB_HEX_LEN;
	pushJsonbValue(&st, WJB_VALUE, &v);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* version number logged by the put_file op at seq (an idempotent retry) */
static int32
logged_version(int64 seq)
{
	Datum		v = Int64GetDatum(seq);
	Oid			t = INT8OID;
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT (payload->>'version')::int4 FROM nedb.ops WHERE seq = $1 AND op = 'put_file'",
							  1, &t, &v, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key already used by op " INT64_FORMAT ", which is not a put_file", seq)));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	SPI_freetuptable(SPI_tuptable);
	return isnull ? -1 : DatumGetInt32(d);
}

/*
 * Chunk data, store the chunks it does not share with stored ones, and
 * build its recipe (id and length per chunk) and root.
 */
static void
chunk_file(CascadeTier tier, const uint8 *p, Size len, Buf *recipe, uint8 *root)
{
	Buf			ids = {0};
	Size		off = 0;
	MemoryContext chunk_cxt;
	MemoryContext old;

	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb put_file chunk",
									  ALLOCSET_DEFAULT_SIZES);
	while (off < len)
	{
		Size		n = cdc_cut(p + off, len - off);
		uint8		id[NEDB_HASH_LEN];
		uint32		nlen = pg_hton32((uint32) n);

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(chunk_cxt);
		blake2b256(p + off, n, id);
		(void) chunk_put(tier, id, p + off, n);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);

		buf_append(recipe, id, NEDB_HASH_LEN);
		buf_append(recipe, &nlen, sizeof(nlen));
		buf_append(&ids, id, NEDB_HASH_LEN);
		off += n;
	}
	MemoryContextDelete(chunk_cxt);
	merkle_root(ids.data, ids.len / NEDB_HASH_LEN, root);
}

/* the nedb.files row of a version the put_file op at seq logged */
static void
record_version(const char *name, CascadeTier tier, int32 version, int64 seq, Size len,
			   const uint8 *root, Buf *recipe)
{
	Datum		v[7];
	Oid			t[7] = {TEXTOID, TEXTOID, INT4OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID};

	v[0] = CStringGetTextDatum(name);
	v[1] = CStringGetTextDatum(cascade_tier_name(tier));
	v[2] = Int32GetDatum(version);
	v[3] = Int64GetDatum(seq);
	v[4] = Int64GetDatum((int64) len);
	v[5] = PointerGetDatum(bytea_from(root, NEDB_HASH_LEN));
	v[6] = PointerGetDatum(bytea_from(recipe->data, recipe->len));
	if (SPI_execute_with_args("INSERT INTO nedb.files (name, tier, version, seq, size, root, chunks)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7)",
							  7, t, v, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record file \"%s\" version %d", name, version);
}

Datum
nedb_put_file(PG_FUNCTION_ARGS)
{
	const char *name = nedb_arg_name(fcinfo, 0, "file name");
	bytea	   *data;
	CascadeTier tier = cascade_tier(tier_arg(fcinfo, 2));
	const char *client = nedb_arg_name(fcinfo, 3, "client");
	bool		has_nonce = !PG_ARGISNULL(4);
	int64		nonce = has_nonce ? PG_GETARG_INT64(4) : 0;
	const char *idem = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	Size		len;
	Buf			recipe = {0};
	uint8		root[NEDB_HASH_LEN];
	NedbSession s;
	NedbOp		op = {0};
	int32		version;
	int64		prior;

	nedb_acl_require_files(GetUserId(), NEDB_WRITE);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the data of file \"%s\" must not be NULL", name)));
	data = PG_GETARG_BYTEA_PP(1);
	len = VARSIZE_ANY_EXHDR(data);
	nedb_check_client(client);

	nedb_begin(&s);

	/* a known idempotency key: nothing to store */
	if (idem && (prior = chain_idem_seq(idem)) >= 0)
	{
		version = logged_version(prior);
		nedb_end(&s);
		PG_RETURN_INT32(version);
	}

	chunk_file(tier, (const uint8 *) VARDATA_ANY(data), len, &recipe, root);

	chain_lock();
	if (idem && (prior = chain_idem_seq(idem)) >= 0)
	{
		/* a concurrent retry won; its chunks are the same bytes' */
		version = logged_version(prior);
		nedb_end(&s);
		PG_RETURN_INT32(version);
	}
	version = version_count(name, tier);

	chain_op_begin(&op, "put_file", client, has_nonce, nonce);
	op.idem = idem;
	op.payload = put_file_payload(name, tier, version, root);
	chain_append(&op);

	record_version(name, tier, version, op.seq, len, root, &recipe);
	nedb_end(&s);
	PG_RETURN_INT32(version);
}

/*
 * The file of the put_file op just applied at seq, from bytes its primary
 * sent (replication).  The bytes must have the root the op logged, and the
 * version must be the next one here: anything else is a diverged stream.
 * Needs a storage session and the chain lock.
 */
void
cascade_apply_file(int64 seq, const uint8 *data, Size len)
{
	Datum		arg = Int64GetDatum(seq);
	Oid			type = INT8OID;
	bool		isnull;
	Jsonb	   *payload;
	JsonbValue *v;
	char	   *name;
	CascadeTier tier;
	int32		version;
	char	   *root_hex;
	uint8		logged[NEDB_HASH_LEN];
	uint8		root[NEDB_HASH_LEN];
	char		hex[NEDB_HEX_LEN + 1];
	Buf			recipe = {0};

	if (SPI_execute_with_args("SELECT payload FROM nedb.ops WHERE seq = $1 AND op = 'put_file'",
							  1, &type, &arg, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("file bytes arrived for op " INT64_FORMAT ", which is not a put_file", seq)));
	payload = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);

	v = nedb_member(&payload->root, "name");
	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the put_file op at seq " INT64_FORMAT " names no file", seq)));
	name = pnstrdup(v->val.string.val, v->val.string.len);
	v = nedb_member(&payload->root, "tier");
	tier = cascade_tier(v && v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : "warm");
	v = nedb_member(&payload->root, "version");
	version = v && v->type == jbvNumeric
		? DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric))) : -1;
	v = nedb_member(&payload->root, "root");
	root_hex = v && v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : "";
	if (!hex_to_hash(root_hex, logged))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the put_file op at seq " INT64_FORMAT " has no valid root", seq)));
	if (version != version_count(name, tier))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("file \"%s\" version %d at seq " INT64_FORMAT " does not follow this database's versions",
						name, version, seq)));

	chunk_file(tier, data, len, &recipe, root);
	if (memcmp(root, logged, NEDB_HASH_LEN) != 0)
	{
		hash_to_hex(root, hex);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the bytes of file \"%s\" version %d do not have the root its op logged (seq " INT64_FORMAT ")",
						name, version, seq),
				 errdetail("The op says %s, the bytes give %s.", root_hex, hex)));
	}
	record_version(name, tier, version, seq, len, root, &recipe);
}

/* ------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------ */

Datum
nedb_get_file(PG_FUNCTION_ARGS)
{
	const char *name = nedb_arg_name(fcinfo, 0, "file name");
	int32		version = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	CascadeTier tier = cascade_tier(tier_arg(fcinfo, 2));
	MemoryContext caller = CurrentMemoryContext;
	NedbSession s;
	FileVersion fv;
	bytea	   *out;
	uint8	   *dst;
	const uint8 *e;
	int64		n;
	int64		off = 0;
	MemoryContext chunk_cxt;

	nedb_acl_require_files(GetUserId(), NEDB_READ);

	nedb_begin(&s);
	file_lookup(name, tier, version, true, caller, &fv);
	if (fv.size < 0 || fv.size > (int64) (MaxAllocSize - VARHDRSZ))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("file \"%s\" version %d is " INT64_FORMAT " bytes, more than a bytea can hold",
						name, fv.version, fv.size)));
	out = MemoryContextAlloc(caller, VARHDRSZ + fv.size);
	SET_VARSIZE(out, VARHDRSZ + fv.size);
	dst = (uint8 *) VARDATA(out);
	n = recipe_count(fv.recipe);
	e = (const uint8 *) VARDATA_ANY(fv.recipe);
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "nedb get_file chunk",
									  ALLOCSET_DEFAULT_SIZES);
	for (int64 i = 0; i < n; i++, e += RECIPE_ENTRY)
	{
		uint32		clen;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		memcpy(&clen, e + NEDB_HASH_LEN, sizeof(clen));
		clen = pg_ntoh32(clen);
		if (clen == 0 || clen > CDC_MAX || off + clen > fv.size)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the chunk list of file \"%s\" version %d does not add up to its size",
							name, fv.version)));
		old = MemoryContextSwitchTo(chunk_cxt);
		chunk_get(tier, e, dst + off, clen, name, fv.version, i);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
		off += clen;
	}
	if (off != fv.size)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the chunk list of file \"%s\" version %d does not add up to its size",
						name, fv.version)));
	nedb_end(&s);
	PG_RETURN_BYTEA_P(out);
}

Datum
nedb_file_root(PG_FUNCTION_ARGS)
{
	const char *name = nedb_arg_name(fcinfo, 0, "file name");
	int32		version = PG_ARGISNULL(1) ? -1 : PG_GETARG_INT32(1);
	CascadeTier tier = cascade_tier(tier_arg(fcinfo, 2));
	NedbSession s;
	FileVersion fv;

	nedb_acl_require_files(GetUserId(), NEDB_READ);

	nedb_begin(&s);
	file_lookup(name, tier, version, false, NULL, &fv);
	nedb_end(&s);
	PG_RETURN_TEXT_P(hex_text(fv.root));
}

/*
 * {name, tier, version, chunk_index, leaf, proof: [[sibling, "L"|"R"], ...],
 * root}: the reference's (leaf, proof, root) with what identifies them.
 */
Datum
nedb_file_proof(PG_FUNCTION_ARGS)
{
	const char *name = nedb_arg_name(fcinfo, 0, "file name");
	int64		index;
	int32		version = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT32(2);
	CascadeTier tier = cascade_tier(tier_arg(fcinfo, 3));
	MemoryContext caller = CurrentMemoryContext;
	NedbSession s;
	FileVersion fv;
	int64		n;
	uint8	   *ids;
	uint8	   *sibs;
	char	   *sides;
	int			k;
	char		hex[NEDB_HEX_LEN + 1];
	JsonbParseState *st = NULL;
	Jsonb	   *res;

	nedb_acl_require_files(GetUserId(), NEDB_READ);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("chunk_index must not be NULL")));
	index = PG_GETARG_INT32(1);
	nedb_begin(&s);
	file_lookup(name, tier, version, true, caller, &fv);
	nedb_end(&s);

	n = recipe_count(fv.recipe);
	if (index < 0 || index >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("file \"%s\" version %d has no chunk %d", name, fv.version, (int) index),
				 errdetail("It has " INT64_FORMAT " chunk%s.", n, n == 1 ? "" : "s")));
	ids = recipe_ids(fv.recipe, n);
	sibs = palloc(Max(merkle_path_max(n), 1) * NEDB_HASH_LEN);
	sides = palloc(Max(merkle_path_max(n), 1));
	k = merkle_path(ids, n, index, sibs, sides);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_string(&st, "name", name);
	nedb_push_string(&st, "tier", cascade_tier_name(tier));
	nedb_push_int(&st, "version", fv.version);
	nedb_push_int(&st, "chunk_index", index);
	hash_to_hex(ids + index * NEDB_HASH_LEN, hex);
	nedb_push_string(&st, "leaf", hex);
	nedb_push_key(&st, "proof");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < k; i++)
	{
		JsonbValue	v;

		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		v.type = jbvString;
		v.val.string.val = palloc(NEDB_HEX_LEN + 1);
		hash_to_hex(sibs + i * NEDB_HASH_LEN, v.val.string.val);
		v.val.string.len = NEDB_HEX_LEN;
		pushJsonbValue(&st, WJB_ELEM, &v);
		v.val.string.val = (sides[i] == 'L') ? "L" : "R";
		v.val.string.len = 1;
		pushJsonbValue(&st, WJB_ELEM, &v);
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	hash_to_hex(fv.root, hex);
	nedb_push_string(&st, "root", hex);
	res = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	PG_RETURN_JSONB_P(res);
}

/*
 * Fold the leaf with the proof and compare with the root: a pure function of
 * its argument, as the reference's verify_proof (any malformed proof is
 * simply not valid).
 */
Datum
nedb_verify_file_proof(PG_FUNCTION_ARGS)
{
	Jsonb	   *proof = PG_GETARG_JSONB_P(0);
	uint8		h[NEDB_HASH_LEN];
	uint8		root[NEDB_HASH_LEN];
	JsonbValue *path;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(proof) || JB_ROOT_IS_SCALAR(proof))
		PG_RETURN_BOOL(false);
	if (!nedb_json_hash(nedb_member(&proof->root, "leaf"), h) ||
		!nedb_json_hash(nedb_member(&proof->root, "root"), root))
		PG_RETURN_BOOL(false);
	path = nedb_member(&proof->root, "proof");
	if (path == NULL || path->type != jbvBinary ||
		!JsonContainerIsArray(path->val.binary.data))
		PG_RETURN_BOOL(false);

	it = JsonbIteratorInit(path->val.binary.data);
	tok = JsonbIteratorNext(&it, &v, true);	/* the outer array */
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *sib;
		JsonbValue *side;
		uint8		s[NEDB_HASH_LEN];

		if (tok == WJB_END_ARRAY)
			break;
		if (tok != WJB_ELEM || v.type != jbvBinary ||
			!JsonContainerIsArray(v.val.binary.data) ||
			JsonContainerSize(v.val.binary.data) != 2)
			PG_RETURN_BOOL(false);
		sib = getIthJsonbValueFromContainer(v.val.binary.data, 0);
		side = getIthJsonbValueFromContainer(v.val.binary.data, 1);
		if (!nedb_json_hash(sib, s) || side->type != jbvString || side->val.string.len != 1 ||
			(side->val.string.val[0] != 'L' && side->val.string.val[0] != 'R'))
			PG_RETURN_BOOL(false);
		merkle_fold(h, s, side->val.string.val[0]);
	}
	PG_RETURN_BOOL(memcmp(h, root, NEDB_HASH_LEN) == 0);
}

/* {tier, unique_chunks, dedup_hits, logical_bytes, stored_bytes, ratio} */
Datum
nedb_compression_stats(PG_FUNCTION_ARGS)
{
	CascadeTier tier = cascade_tier(tier_arg(fcinfo, 0));
	NedbSession s;
	Datum		v = CStringGetTextDatum(cascade_tier_name(tier));
	Oid			t = TEXTOID;
	bool		isnull;
	int64		unique,
				refs,
				logical,
				stored;
	double		ratio;
	JsonbParseState *st = NULL;
	JsonbValue	jv;
	Jsonb	   *res;

	nedb_acl_require_files(GetUserId(), NEDB_READ);

	nedb_begin(&s);
	if (SPI_execute_with_args("SELECT (SELECT count(*) FROM nedb.chunks WHERE tier = $1),"
							  "       (SELECT coalesce(sum(octet_length(data)), 0)::int8 FROM nedb.chunks WHERE tier = $1),"
							  "       (SELECT coalesce(sum(octet_length(chunks) / 36), 0)::int8 FROM nedb.files WHERE tier = $1),"
							  "       (SELECT coalesce(sum(size), 0)::int8 FROM nedb.files WHERE tier = $1)",
							  1, &t, &v, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the Cascade statistics");
	unique = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	stored = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	refs = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	logical = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	nedb_end(&s);

	StaticAssertStmt(RECIPE_ENTRY == 36, "recipe entry size is spelled out in the query");
	ratio = stored > 0 ? round((double) logical / stored * 100) / 100 : 0.0;
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	nedb_push_string(&st, "tier", cascade_tier_name(tier));
	nedb_push_int(&st, "unique_chunks", unique);
	/* every chunk reference beyond a chunk's first was a dedup hit */
	nedb_push_int(&st, "dedup_hits", Max(refs - unique, 0));
	nedb_push_int(&st, "logical_bytes", logical);
	nedb_push_int(&st, "stored_bytes", stored);
	nedb_push_key(&st, "ratio");
	jv.type = jbvNumeric;
	jv.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(ratio)));
	pushJsonbValue(&st, WJB_VALUE, &jv);
	res = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	PG_RETURN_JSONB_P(res);
}

/* every version of a file: (tier, version, seq, size, chunks, root) */
Datum
nedb_file_versions(PG_FUNCTION_ARGS)
{
	const char *name = nedb_arg_name(fcinfo, 0, "file name");
	TupleDesc	desc;
	Tuplestorestate *ts = nedb_srf_begin(fcinfo, &desc);
	NedbSession s;
	Datum		arg = CStringGetTextDatum(name);
	Oid			t = TEXTOID;

	nedb_acl_require_files(GetUserId(), NEDB_READ);

	nedb_begin(&s);
	if (SPI_execute_with_args("SELECT tier, version, seq, size, (octet_length(chunks) / 36)::int8,"
							  "       pg_catalog.encode(root, 'hex')"
							  "  FROM nedb.files WHERE name = $1 ORDER BY tier DESC, version",
							  1, &t, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the versions of file \"%s\"", name);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		values[6];
		bool		nulls[6];

		CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < 6; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
		tuplestore_putvalues(ts, desc, values, nulls);
	}
	nedb_end(&s);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * The chunker alone (tests against the reference vectors, benchmarks)
 * ------------------------------------------------------------------------ */

/* (index, offset, length, id) of each chunk of data */
Datum
nedb_chunk_boundaries(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	const uint8 *p = (const uint8 *) VARDATA_ANY(data);
	Size		len = VARSIZE_ANY_EXHDR(data);
	TupleDesc	desc;
	Tuplestorestate *ts = nedb_srf_begin(fcinfo, &desc);
	Size		off = 0;
	int32		i = 0;

	while (off < len)
	{
		Size		n = cdc_cut(p + off, len - off);
		uint8		id[NEDB_HASH_LEN];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		CHECK_FOR_INTERRUPTS();
		blake2b256(p + off, n, id);
		values[0] = Int32GetDatum(i++);
		values[1] = Int64GetDatum((int64) off);
		values[2] = Int32GetDatum((int32) n);
		values[3] = PointerGetDatum(hex_text(id));
		tuplestore_putvalues(ts, desc, values, nulls);
		off += n;
	}
	return (Datum) 0;
}

/* the Merkle root the bytes would have as a file: chunk + hash + tree */
Datum
nedb_chunk_root(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	const uint8 *p = (const uint8 *) VARDATA_ANY(data);
	Size		len = VARSIZE_ANY_EXHDR(data);
	Size		off = 0;
	Buf			ids = {0};
	uint8		root[NEDB_HASH_LEN];

	while (off < len)
	{
		Size		n = cdc_cut(p + off, len - off);
		uint8		id[NEDB_HASH_LEN];

		CHECK_FOR_INTERRUPTS();
		blake2b256(p + off, n, id);
		buf_append(&ids, id, NEDB_HASH_LEN);
		off += n;
	}
	merkle_root(ids.data, ids.len / NEDB_HASH_LEN, root);
	PG_RETURN_TEXT_P(hex_text(root));
}

/* the reference's Merkle root of a list of chunk ids (hex) */
Datum
nedb_merkle_root(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint8	   *ids;
	uint8		root[NEDB_HASH_LEN];

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chunk ids must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	ids = palloc(Max(n, 1) * NEDB_HASH_LEN);
	for (int i = 0; i < n; i++)
	{
		char	   *hex = nulls[i] ? NULL : TextDatumGetCString(elems[i]);

		if (hex == NULL || !hex_to_hash(hex, ids + i * NEDB_HASH_LEN))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("chunk id %d is not 64 hex digits", i + 1)));
	}
	merkle_root(ids, n, root);
	PG_RETURN_TEXT_P(hex_text(root));
}
