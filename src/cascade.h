/*
 * cascade.h
 *	  Cascade, the file tier: gear content-defined chunking, the reference's
 *	  Merkle tree over chunk ids, and the deduplicated, zstd-compressed chunk
 *	  store.
 */
#ifndef NEDB_CASCADE_H
#define NEDB_CASCADE_H

#include "op.h"

/* the reference's chunking parameters (SEMANTICS.md §18) */
#define CDC_MASK	((UINT64CONST(1) << 13) - 1)
#define CDC_MIN		2048
#define CDC_MAX		65536

/* gear.c: length of the chunk that starts at data (len > 0) */
extern size_t cdc_cut(const uint8 *data, size_t len);

/* merkle.c: the reference's tree over n 32-byte chunk ids */
extern void merkle_root(const uint8 *leaves, int64 n, uint8 *root);
/* sibling hashes (32 bytes each) and sides ('L': sibling is on the left) */
extern int	merkle_path(const uint8 *leaves, int64 n, int64 index,
						uint8 *siblings, char *sides);
/* the largest number of path entries for n leaves */
extern int	merkle_path_max(int64 n);
extern void merkle_fold(uint8 *h, const uint8 *sibling, char side);

/*
 * A file version's recipe: per chunk its id and its length (4 bytes, network
 * order), in file order.
 */
#define RECIPE_ENTRY (NEDB_HASH_LEN + 4)

/* one BLAKE2b-256 digest */
extern void blake2b256(const uint8 *data, size_t len, uint8 *out);

/* cascade_store.c: tiers and chunks (a storage session must be open) */
typedef enum CascadeTier
{
	TIER_WARM,
	TIER_COLD
} CascadeTier;

extern CascadeTier cascade_tier(const char *name);
extern const char *cascade_tier_name(CascadeTier tier);

/* store one chunk unless its id is already there; true if it was (a dedup hit) */
extern bool chunk_put(CascadeTier tier, const uint8 *id, const uint8 *raw, size_t len);
/* the raw bytes of chunk id into dst (exactly len bytes), checked against id */
extern void chunk_get(CascadeTier tier, const uint8 *id, uint8 *dst, size_t len,
					  const char *file, int32 version, int64 index);

extern int	cascade_warm_level;

/* cascade_sql.c: a replicated put_file op's file, from its primary's bytes */
extern void cascade_apply_file(int64 seq, const uint8 *data, Size len);

#endif
