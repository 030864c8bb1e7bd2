/*
 * proof_check.c
 *	  The log's Merkle tree, recomputed and checked on the client.
 *
 * The tree is RFC 6962's over the op hashes with BLAKE2b-256: leaf =
 * H(0x00 || op hash), node = H(0x01 || left || right), the empty tree's
 * MTH = H(""), and the published root binds the size: H(0x02 || size as 8
 * bytes big-endian || MTH) (README "Log proofs").  The verifiers are RFC
 * 9162's (2.1.3.2 inclusion, 2.1.4.2 consistency); the server's
 * consistency proofs start with the old tree's MTH even when it is a
 * perfect subtree, since a verifier knows only the bound root.
 */
#include "nedb_cli.h"

#include <sodium.h>

void
blake2b_256(const void *data, size_t len, uint8 *out)
{
	crypto_generichash(out, HASH_LEN, data, len, NULL, 0);
}

void
to_hex(const uint8 *b, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 0xF];
	}
	hex[2 * n] = '\0';
}

/* a digit's value, or -1: a table, since every line decodes two hashes */
static int8 hexval[256];

void
hex_init(void)
{
	memset(hexval, -1, sizeof(hexval));
	for (int c = '0'; c <= '9'; c++)
		hexval[c] = c - '0';
	for (int c = 'a'; c <= 'f'; c++)
		hexval[c] = c - 'a' + 10;
}

/* exactly 2n lowercase hex digits (the chain's spelling) */
bool
from_hex(const char *hex, size_t hexlen, uint8 *b, size_t n)
{
	const unsigned char *h = (const unsigned char *) hex;
	int			bad = 0;

	if (hexlen != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		int			hi = hexval[h[2 * i]];
		int			lo = hexval[h[2 * i + 1]];

		bad |= hi | lo;
		b[i] = (uint8) (hi << 4 | lo);
	}
	return bad >= 0;
}

void
mk_leaf(const uint8 *op_hash, uint8 *out)
{
	uint8		m[1 + HASH_LEN];

	m[0] = 0x00;
	memcpy(m + 1, op_hash, HASH_LEN);
	blake2b_256(m, sizeof(m), out);
}

void
mk_node(const uint8 *left, const uint8 *right, uint8 *out)
{
	uint8		m[1 + 2 * HASH_LEN];

	m[0] = 0x01;
	memcpy(m + 1, left, HASH_LEN);
	memcpy(m + 1 + HASH_LEN, right, HASH_LEN);
	blake2b_256(m, sizeof(m), out);
}

void
mk_bound_root(int64 size, const uint8 *mth, uint8 *out)
{
	uint8		m[9 + HASH_LEN];

	m[0] = 0x02;
	for (int i = 0; i < 8; i++)
		m[1 + i] = (uint8) ((uint64) size >> (56 - 8 * i));
	memcpy(m + 9, mth, HASH_LEN);
	blake2b_256(m, sizeof(m), out);
}

void
fr_init(Frontier *f)
{
	f->size = 0;
}

/* append a leaf: it completes one perfect subtree per trailing one bit */
void
fr_append(Frontier *f, const uint8 *op_hash)
{
	uint8		leaf[HASH_LEN];

	mk_leaf(op_hash, leaf);
	fr_append_leaf(f, leaf);
}

/* the same with the leaf already hashed (verify-aof's workers do that) */
void
fr_append_leaf(Frontier *f, const uint8 *leaf)
{
	uint8		cur[HASH_LEN];
	int			level = 0;

	memcpy(cur, leaf, HASH_LEN);
	while (f->size & ((int64) 1 << level))
	{
		mk_node(f->node[level], cur, cur);
		level++;
	}
	memcpy(f->node[level], cur, HASH_LEN);
	f->size++;
}

/*
 * The bound root.  MTH splits at the largest power of two below the size,
 * so it is the frontier folded from its smallest subtree leftwards.
 */
void
fr_root(const Frontier *f, uint8 *root)
{
	uint8		r[HASH_LEN];
	bool		have = false;

	if (f->size == 0)
		blake2b_256(NULL, 0, r);
	for (int level = 0; level < MAX_LEVEL && f->size != 0; level++)
	{
		if (!(f->size & ((int64) 1 << level)))
			continue;
		if (!have)
			memcpy(r, f->node[level], HASH_LEN);
		else
			mk_node(f->node[level], r, r);
		have = true;
	}
	mk_bound_root(f->size, r, root);
}

/* RFC 9162 2.1.3.2: op index of a tree of size leaves, with this path */
bool
check_inclusion(int64 index, int64 size, const uint8 *op_hash,
				const uint8 *path, int len, const uint8 *root)
{
	int64		fn = index;
	int64		sn = size - 1;
	uint8		r[HASH_LEN];
	uint8		bound[HASH_LEN];

	if (index < 0 || size <= 0 || index >= size)
		return false;
	mk_leaf(op_hash, r);
	for (int i = 0; i < len; i++)
	{
		const uint8 *p = path + i * HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			mk_node(p, r, r);
			/* a right edge: climb past the levels with no sibling */
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0)
				{
					fn >>= 1;
					sn >>= 1;
				}
		}
		else
			mk_node(r, p, r);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return false;
	mk_bound_root(size, r, bound);
	return memcmp(bound, root, HASH_LEN) == 0;
}

/* RFC 9162 2.1.4.2, the path seeded with the old tree's MTH */
bool
check_consistency(int64 first, int64 second, const uint8 *first_root,
				  const uint8 *second_root, const uint8 *path, int len)
{
	int64		fn;
	int64		sn;
	uint8		fr[HASH_LEN];
	uint8		sr[HASH_LEN];

	if (first <= 0 || second < first)
		return false;
	if (first == second)
		return len == 0 && memcmp(first_root, second_root, HASH_LEN) == 0;
	if (len == 0)
		return false;
	fn = first - 1;
	sn = second - 1;
	while (fn & 1)
	{
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, path, HASH_LEN);
	memcpy(sr, path, HASH_LEN);
	for (int i = 1; i < len; i++)
	{
		const uint8 *c = path + i * HASH_LEN;

		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			mk_node(c, fr, fr);
			mk_node(c, sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0)
				{
					fn >>= 1;
					sn >>= 1;
				}
		}
		else
			mk_node(sr, c, sr);
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return false;
	mk_bound_root(first, fr, fr);
	mk_bound_root(second, sr, sr);
	return memcmp(fr, first_root, HASH_LEN) == 0 &&
		memcmp(sr, second_root, HASH_LEN) == 0;
}
