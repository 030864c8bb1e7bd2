/*
 * chain_notify.h
 *	  The commit notification on channel nedb_ops (chain_notify.c).
 */
#ifndef NEDB_CHAIN_NOTIFY_H
#define NEDB_CHAIN_NOTIFY_H

/* an op of collection coll (NULL: none) was appended as seq */
extern void chain_notify_op(const char *coll, int64 seq);
extern void nedb_chain_notify_init(void);

#endif
