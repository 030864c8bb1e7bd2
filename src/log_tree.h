/*
 * log_tree.h
 *	  An RFC 6962-style Merkle tree over the op hashes, kept in nedb.log_tree.
 *
 * Hash: BLAKE2b-256 (the chain's hash), with RFC 6962's domain separation:
 * leaf = H(0x00 || op hash), node = H(0x01 || left || right), the empty
 * tree's MTH = H("").  The root a digest publishes also binds the tree size:
 * root = H(0x02 || size as 8 bytes big-endian || MTH), so one root can never
 * pass for a tree of another size (RFC 6962 leaves that to the signed tree
 * head; we have no signature around it).  Row seq of nedb.log_tree, for odd
 * seq only, holds the leaf of op seq followed by every perfect subtree root
 * that op completed (level 1, 2, ...): node (level L >= 1, index j) is entry
 * L of row ((j + 1) << L) - 1, and the leaf of an even op is H(0x00 || its
 * hash in nedb.ops).
 */
#ifndef NEDB_LOG_TREE_H
#define NEDB_LOG_TREE_H

#include "op.h"

#define LT_MAX_LEVEL 64

extern void lt_leaf_hash(const uint8 *op_hash, uint8 *out);
extern void lt_node_hash(const uint8 *left, const uint8 *right, uint8 *out);
extern void lt_empty_root(uint8 *out);
extern void lt_bound_root(int64 size, const uint8 *mth, uint8 *out);

/* chain_append's hook: op seq with hash follows prev_hex (chain lock held) */
extern void log_tree_append(int64 seq, const char *prev_hex, const uint8 *hash);

extern void nedb_log_tree_init(void);

#endif
