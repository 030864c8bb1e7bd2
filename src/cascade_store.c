/*
 * cascade_store.c
 *	  The chunk store: one row per (tier, chunk id) in nedb.chunks.
 *
 * A chunk is stored once per tier, compressed (warm: zstd at a fast level,
 * nedb.cascade_warm_level; cold: LZMA2 at preset 9e, or zstd where that is
 * smaller) or raw when compression does not make it smaller.  The data
 * column is STORAGE EXTERNAL, so Postgres does not try to compress it again.
 * Reads decompress straight into the caller's buffer and check the bytes
 * against the chunk id: a tampered chunk is an error, never wrong bytes.
 *
 * With a master key configured (nedb.tmk_file), a new chunk's stored bytes
 * are then sealed with AES-256-GCM under the database's data key
 * (src/at_rest.c), as the reference seals its chunks: compression first,
 * the chunk id still that of the plaintext, so dedup and proofs do not
 * change.  A sealed chunk read without the master key is an error, never
 * ciphertext.
 *
 * The zstd contexts live as long as the backend (allocated once, reused), so
 * an error in the middle of a file leaks nothing.
 */
#include "postgres.h"

#include <lzma.h>
#include <zstd.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "at_rest.h"
#include "cascade.h"

#define CODEC_RAW	0
#define CODEC_ZSTD	1
/* added to the codec: sealed under the data key (after compression) */
#define CODEC_SEALED 2
#define CODEC_LZMA	4

int			cascade_warm_level = 3;

static ZSTD_CCtx *cctx = NULL;
static ZSTD_DCtx *dctx = NULL;
static uint8 *cbuf = NULL;		/* ZSTD_compressBound(CDC_MAX) bytes */
static uint8 *lbuf[2];			/* CDC_MAX bytes each: the two LZMA passes */

typedef enum ChunkPlan
{
	CP_EXISTS,
	CP_INSERT,
	CP_FETCH,
	CP_NUM
} ChunkPlan;

static const char *const plan_sql[CP_NUM] = {
	[CP_EXISTS] = "SELECT 1 FROM nedb.chunks WHERE tier = $1 AND id = $2",
	[CP_INSERT] = "INSERT INTO nedb.chunks (tier, id, codec, raw_len, data)"
	" VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tier, id) DO NOTHING",
	[CP_FETCH] = "SELECT codec, raw_len, data FROM nedb.chunks WHERE tier = $1 AND id = $2",
};
static const int plan_nargs[CP_NUM] = {2, 5, 2};
static const Oid plan_types[5] = {TEXTOID, BYTEAOID, INT2OID, INT4OID, BYTEAOID};
static SPIPlanPtr plans[CP_NUM];

/*
 * Run a plan.  SPI returns in its procedure context, which lives until
 * SPI_finish: switch back, so per-chunk allocations stay in the caller's
 * short-lived context (else a large file would pile up in SPI's).
 */
static void
run_plan(ChunkPlan p, Datum *values, bool read_only)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	if (plans[p] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(plan_sql[p], plan_nargs[p], (Oid *) plan_types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", plan_sql[p],
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		plans[p] = plan;
	}
	rc = SPI_execute_plan(plans[p], values, NULL, read_only, 1);
	MemoryContextSwitchTo(cxt);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

CascadeTier
cascade_tier(const char *name)
{
	if (strcmp(name, "warm") == 0)
		return TIER_WARM;
	if (strcmp(name, "cold") == 0)
		return TIER_COLD;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown Cascade tier \"%s\"", name),
			 errhint("The tiers are 'warm' (fast zstd) and 'cold' (maximum zstd ratio).")));
	return TIER_WARM;			/* keep compiler quiet */
}

const char *
cascade_tier_name(CascadeTier tier)
{
	return tier == TIER_COLD ? "cold" : "warm";
}

static bytea *
bytea_of(const uint8 *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

static void
zstd_check(size_t rc, const char *what)
{
	if (ZSTD_isError(rc))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("zstd %s failed: %s", what, ZSTD_getErrorName(rc))));
}

/* one zstd pass over raw into cbuf; its size */
static size_t
zstd_pass(const uint8 *raw, size_t len, int level)
{
	size_t		rc;

	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	zstd_check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level), "setup");
	/* raw_len is stored beside the data: the frame need not repeat it */
	zstd_check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0), "setup");
	rc = ZSTD_compress2(cctx, cbuf, ZSTD_compressBound(CDC_MAX), raw, len);
	zstd_check(rc, "compression");
	return rc;
}

/*
 * One LZMA2 pass (raw, no container: the chunk's length is stored beside
 * it) at preset 9e with a dictionary of a chunk's size, into lbuf[i]; its
 * size, or SIZE_MAX if it is no smaller than the input.  LZMA2 keeps lc, lp
 * and pb in the stream, so one decoder reads every variant.
 */
static size_t
lzma_pass(const uint8 *raw, size_t len, uint32 pb, int i)
{
	lzma_options_lzma opt;
	lzma_filter filters[2];
	size_t		pos = 0;
	lzma_ret	rc;

	if (lzma_lzma_preset(&opt, 9 | LZMA_PRESET_EXTREME))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("liblzma has no preset 9e")));
	opt.dict_size = CDC_MAX;
	opt.pb = pb;
	filters[0].id = LZMA_FILTER_LZMA2;
	filters[0].options = &opt;
	filters[1].id = LZMA_VLI_UNKNOWN;
	rc = lzma_raw_buffer_encode(filters, NULL, raw, len, lbuf[i], &pos, len);
	if (rc == LZMA_BUF_ERROR)
		return SIZE_MAX;
	if (rc != LZMA_OK)
		ereport(ERROR,
				(errcode(rc == LZMA_MEM_ERROR ? ERRCODE_OUT_OF_MEMORY : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("LZMA compression failed (liblzma error %d)", (int) rc)));
	return pos;
}

/*
 * A chunk compressed: its codec (CODEC_RAW if compression does not pay),
 * *out and *outlen the bytes to store.  Warm is zstd at a fast level.  Cold
 * is about ratio, and on these small chunks LZMA beats zstd's top levels
 * (whose frames and entropy tables cost more per chunk): the smallest of
 * LZMA2 9e with pb 0 (text: byte-aligned) and with pb 2 (the default, for
 * binary records), and the warm zstd level (long runs of counters, say).
 */
static int
compress_chunk(CascadeTier tier, const uint8 *raw, size_t len, const uint8 **out, size_t *outlen)
{
	size_t		size;
	int			codec = CODEC_ZSTD;

	if (cctx == NULL)
	{
		cbuf = MemoryContextAlloc(TopMemoryContext, ZSTD_compressBound(CDC_MAX));
		lbuf[0] = MemoryContextAlloc(TopMemoryContext, CDC_MAX);
		lbuf[1] = MemoryContextAlloc(TopMemoryContext, CDC_MAX);
		cctx = ZSTD_createCCtx();
		if (cctx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a zstd compression context")));
	}
	size = zstd_pass(raw, len, cascade_warm_level);
	*out = cbuf;
	if (tier == TIER_COLD)
	{
		for (int i = 0; i < 2; i++)
		{
			size_t		l = lzma_pass(raw, len, i == 0 ? 0 : LZMA_PB_DEFAULT, i);

			if (l < size)
			{
				size = l;
				*out = lbuf[i];
				codec = CODEC_LZMA;
			}
		}
	}
	if (size >= len)
	{
		*out = raw;
		size = len;
		codec = CODEC_RAW;
	}
	*outlen = size;
	return codec;
}

bool
chunk_put(CascadeTier tier, const uint8 *id, const uint8 *raw, size_t len)
{
	Datum		v[5];
	int			codec;
	const uint8 *stored;
	size_t		slen;
	uint8		dek[AT_REST_KEY_LEN];

	Assert(len <= CDC_MAX);
	v[0] = CStringGetTextDatum(cascade_tier_name(tier));
	v[1] = PointerGetDatum(bytea_of(id, NEDB_HASH_LEN));
	run_plan(CP_EXISTS, v, false);
	SPI_freetuptable(SPI_tuptable);
	if (SPI_processed > 0)
		return true;

	codec = compress_chunk(tier, raw, len, &stored, &slen);
	v[3] = Int32GetDatum((int32) len);
	if (at_rest_data_key(dek, true))
	{
		StringInfoData sealed;

		initStringInfo(&sealed);
		at_rest_seal(dek, AT_REST_AAD_DATA, (const char *) stored, slen, &sealed);
		explicit_bzero(dek, sizeof(dek));
		v[2] = Int16GetDatum(codec + CODEC_SEALED);
		v[4] = PointerGetDatum(bytea_of((uint8 *) sealed.data, sealed.len));
		pfree(sealed.data);
	}
	else
	{
		v[2] = Int16GetDatum(codec);
		v[4] = PointerGetDatum(bytea_of(stored, slen));
	}
	/* a concurrent upload of the same chunk may have won: then it is a hit */
	run_plan(CP_INSERT, v, false);
	return SPI_processed == 0;
}

static void
corrupted(const uint8 *id, const char *file, int32 version, int64 index, const char *why)
{
	char		hex[NEDB_HEX_LEN + 1];

	hash_to_hex(id, hex);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("chunk %s of file \"%s\" version %d is corrupted", hex, file, version),
			 errdetail("Chunk #" INT64_FORMAT ": %s.", index, why),
			 errhint("The stored chunk no longer matches its BLAKE2b-256 id; restore it from a backup.")));
}

void
chunk_get(CascadeTier tier, const uint8 *id, uint8 *dst, size_t len,
		  const char *file, int32 version, int64 index)
{
	Datum		v[2];
	bool		isnull;
	int16		codec;
	int32		raw_len;
	bytea	   *data;
	size_t		dlen;
	const char *stored;
	StringInfoData opened = {0};
	SPITupleTable *tt;
	uint8		check[NEDB_HASH_LEN];

	v[0] = CStringGetTextDatum(cascade_tier_name(tier));
	v[1] = PointerGetDatum(bytea_of(id, NEDB_HASH_LEN));
	run_plan(CP_FETCH, v, true);
	if (SPI_processed == 0)
		corrupted(id, file, version, index, "it is missing from nedb.chunks");
	/* (reading the data key runs a query of its own) */
	tt = SPI_tuptable;
	codec = DatumGetInt16(SPI_getbinval(tt->vals[0], tt->tupdesc, 1, &isnull));
	raw_len = DatumGetInt32(SPI_getbinval(tt->vals[0], tt->tupdesc, 2, &isnull));
	data = DatumGetByteaPP(SPI_getbinval(tt->vals[0], tt->tupdesc, 3, &isnull));
	dlen = VARSIZE_ANY_EXHDR(data);
	stored = VARDATA_ANY(data);
	if (raw_len < 0 || (size_t) raw_len != len)
		corrupted(id, file, version, index, "its stored length differs from the file's");
	if (codec == CODEC_RAW + CODEC_SEALED || codec == CODEC_ZSTD + CODEC_SEALED ||
		codec == CODEC_LZMA + CODEC_SEALED)
	{
		uint8		dek[AT_REST_KEY_LEN];
		char		hex[NEDB_HEX_LEN + 1];

		if (!at_rest_data_key(dek, false))
		{
			hash_to_hex(id, hex);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("chunk %s of file \"%s\" version %d is encrypted, and no master key is configured",
							hex, file, version),
					 errhint("Set nedb.tmk_file to the file of the master key that wraps nedb.data_key.")));
		}
		initStringInfo(&opened);
		if (!at_rest_open(dek, AT_REST_AAD_DATA, stored, dlen, &opened))
			corrupted(id, file, version, index, "its ciphertext does not authenticate under the data key");
		explicit_bzero(dek, sizeof(dek));
		codec -= CODEC_SEALED;
		stored = opened.data;
		dlen = opened.len;
	}
	if (codec == CODEC_RAW)
	{
		if (dlen != len)
			corrupted(id, file, version, index, "its raw data has the wrong length");
		memcpy(dst, stored, len);
	}
	else if (codec == CODEC_ZSTD)
	{
		size_t		rc;

		if (dctx == NULL && (dctx = ZSTD_createDCtx()) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a zstd decompression context")));
		rc = ZSTD_decompressDCtx(dctx, dst, len, stored, dlen);
		if (ZSTD_isError(rc) || rc != len)
			corrupted(id, file, version, index, "it does not decompress to its length");
	}
	else if (codec == CODEC_LZMA)
	{
		lzma_options_lzma opt;
		lzma_filter filters[2];
		size_t		in_pos = 0;
		size_t		out_pos = 0;
		lzma_ret	rc;

		memset(&opt, 0, sizeof(opt));
		opt.dict_size = CDC_MAX;
		filters[0].id = LZMA_FILTER_LZMA2;
		filters[0].options = &opt;
		filters[1].id = LZMA_VLI_UNKNOWN;
		rc = lzma_raw_buffer_decode(filters, NULL, (const uint8 *) stored, &in_pos, dlen,
									dst, &out_pos, len);
		if (rc == LZMA_MEM_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory decompressing an LZMA chunk")));
		if (rc != LZMA_OK || out_pos != len || in_pos != dlen)
			corrupted(id, file, version, index, "it does not decompress to its length");
	}
	else
		corrupted(id, file, version, index, "its codec is unknown");
	SPI_freetuptable(tt);
	if (opened.data)
	{
		explicit_bzero(opened.data, opened.len);
		pfree(opened.data);
	}

	blake2b256(dst, len, check);
	if (memcmp(check, id, NEDB_HASH_LEN) != 0)
		corrupted(id, file, version, index, "its bytes do not hash to its id");
}
