/*
 * write.h
 *	  The write path: ops that change documents and relations.
 */
#ifndef NEDB_WRITE_H
#define NEDB_WRITE_H

#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/jsonb.h"

typedef struct PutArgs
{
	const char *coll;
	const char *id;
	Jsonb	   *doc;
	const char *client;
	bool		has_nonce;
	int64		nonce;
	const char *idem;
	bool		has_ttl;
	double		ttl_s;
	ArrayType  *caused_by;
	const char *evidence;
	bool		has_confidence;
	double		confidence;
	const char *valid_from;
	const char *valid_to;
} PutArgs;

/*
 * A put in two halves: what needs no chain lock (put_build), and the op and
 * version under it (put_append, in a storage session).  put_build keeps
 * pointers into a's strings and document.
 */
typedef struct PutBuilt
{
	JsonbValue *tree;			/* the version, prebuilt; NULL: built in put_append */
	JsonbValue *tree_seq;		/* its _seq member */
	StringInfoData canon;		/* canonical JSON of the version without _seq */
} PutBuilt;

extern bool put_prebuildable(PutArgs *a);
extern void put_build(PutArgs *a, PutBuilt *b);
extern Jsonb *put_built_unsequenced(PutBuilt *b);
extern Jsonb *put_append(PutArgs *a, PutBuilt *b, int64 *seq_out);

/* all of these need a storage session; they take the chain lock */
extern Jsonb *write_put(PutArgs *a, int64 *seq);
/* write_put unless the document exists (live: not deleted nor expired) */
extern Jsonb *write_insert(PutArgs *a, int64 *seq, bool *exists);
extern int64 write_delete(const char *coll, const char *id, const char *client,
						  bool has_nonce, int64 nonce, const char *idem);
/* delete expired documents as __ttl__, at most lim (<= 0: all); see write.c */
extern uint64 sweep_expired(int64 lim, int64 *after_seq, uint64 *found);
extern int64 write_link(bool link, const char *frm, const char *rel, const char *to,
						const char *client, bool has_nonce, int64 nonce);

/* derived state of one op (storage session, chain lock held) */
extern Jsonb *stored_doc(Jsonb *payload, int64 seq);
extern void version_put(int64 seq, const char *coll, const char *id, Jsonb *doc);
extern void edge_put(bool link, int64 seq, const char *frm, const char *rel,
					 const char *to);

#endif
