/*
 * merkle.c
 *	  The reference's Merkle tree over a file's chunk ids.
 *
 * Leaves are the raw 32-byte chunk ids; a parent is BLAKE2b-256(left ||
 * right); an odd last node at a level is paired with itself; one leaf is its
 * own root; no leaves give 32 zero bytes (64 '0' in hex).  A path lists the
 * siblings from the leaf up, each with the side it sits on.
 */
#include "postgres.h"

#include <sodium.h>

#include "miscadmin.h"

#include "cascade.h"

static void
pair_hash(const uint8 *left, const uint8 *right, uint8 *out)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, NEDB_HASH_LEN);
	crypto_generichash_update(&st, left, NEDB_HASH_LEN);
	crypto_generichash_update(&st, right, NEDB_HASH_LEN);
	crypto_generichash_final(&st, out, NEDB_HASH_LEN);
}

/* one level up, in place: n nodes become (n + 1) / 2 */
static int64
level_up(uint8 *nodes, int64 n)
{
	int64		m = 0;

	for (int64 i = 0; i < n; i += 2)
	{
		const uint8 *l = nodes + i * NEDB_HASH_LEN;
		const uint8 *r = (i + 1 < n) ? l + NEDB_HASH_LEN : l;

		pair_hash(l, r, nodes + m * NEDB_HASH_LEN);
		m++;
	}
	return m;
}

void
merkle_root(const uint8 *leaves, int64 n, uint8 *root)
{
	uint8	   *work;

	if (n == 0)
	{
		memset(root, 0, NEDB_HASH_LEN);
		return;
	}
	if (n == 1)
	{
		memcpy(root, leaves, NEDB_HASH_LEN);
		return;
	}
	work = palloc_extended((Size) n * NEDB_HASH_LEN, MCXT_ALLOC_HUGE);
	memcpy(work, leaves, (Size) n * NEDB_HASH_LEN);
	while (n > 1)
	{
		CHECK_FOR_INTERRUPTS();
		n = level_up(work, n);
	}
	memcpy(root, work, NEDB_HASH_LEN);
	pfree(work);
}

int
merkle_path_max(int64 n)
{
	int			d = 0;

	while (n > 1)
	{
		n = (n + 1) / 2;
		d++;
	}
	return d;
}

int
merkle_path(const uint8 *leaves, int64 n, int64 index, uint8 *siblings, char *sides)
{
	uint8	   *work;
	int			k = 0;

	Assert(index >= 0 && index < n);
	work = palloc_extended((Size) n * NEDB_HASH_LEN, MCXT_ALLOC_HUGE);
	memcpy(work, leaves, (Size) n * NEDB_HASH_LEN);
	while (n > 1)
	{
		int64		sib = (index % 2) ? index - 1 : index + 1;

		if (sib >= n)
			sib = index;		/* odd last node: paired with itself */
		memcpy(siblings + k * NEDB_HASH_LEN, work + sib * NEDB_HASH_LEN, NEDB_HASH_LEN);
		sides[k] = (index % 2) ? 'L' : 'R';
		k++;
		CHECK_FOR_INTERRUPTS();
		n = level_up(work, n);
		index /= 2;
	}
	pfree(work);
	return k;
}

/* h := the parent of h and sibling */
void
merkle_fold(uint8 *h, const uint8 *sibling, char side)
{
	uint8		out[NEDB_HASH_LEN];

	if (side == 'L')
		pair_hash(sibling, h, out);
	else
		pair_hash(h, sibling, out);
	memcpy(h, out, NEDB_HASH_LEN);
}
