/*
 * verify.h
 *	  Proving the chain in seq ranges, by one backend or several.
 *
 * Each op's check needs only its own row, its document version and its
 * predecessor's stored hash, so the chain [0, nops) is cut into ranges that
 * participants claim in ascending order and check independently.  The
 * lowest bad seq any of them finds is the one the serial walk stops at.
 */
#ifndef NEDB_VERIFY_H
#define NEDB_VERIFY_H

#include "port/atomics.h"
#include "storage/spin.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

/* the longest detail we report: "hash mismatch at seq N: stored <64>, ..." */
#define NEDB_VERIFY_DETAIL 512

/* ops per claimed range (nedb.verify_range) */
extern int	nedb_verify_range;

/* What the participants share (in a DSM segment, or local when alone). */
typedef struct VerifyShared
{
	Oid			ops_relid;
	Oid			ops_pk_relid;
	Oid			ver_relid;
	Oid			ver_pk_relid;
	int64		nops;			/* the chain is seqs [0, nops) */
	int64		range;			/* ops per range */
	pg_atomic_uint64 next_range;	/* next range to claim */
	slock_t		mutex;			/* protects bad and detail */
	int64		bad;			/* lowest bad seq found, or PG_INT64_MAX */
	char		detail[NEDB_VERIFY_DETAIL];
} VerifyShared;

typedef struct VerifyRels
{
	Relation	ops;
	Relation	ops_pk;
	Relation	ver;
	Relation	ver_pk;
} VerifyRels;

/* verify_range.c */
extern void verify_open_rels(VerifyShared *sh, VerifyRels *rels);
extern void verify_close_rels(VerifyRels *rels);
extern void verify_claim_ranges(VerifyShared *sh, VerifyRels *rels, Snapshot snap);

/* verify_parallel.c */
extern void nedb_verify_init(void);
extern void verify_chain(VerifyShared *result);

#endif
