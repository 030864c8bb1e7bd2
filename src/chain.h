/*
 * chain.h
 *	  The chain append (writers) and its head (readers).
 */
#ifndef NEDB_CHAIN_H
#define NEDB_CHAIN_H

#include "op.h"
#include "session.h"

/* the chain (writers) */
extern void chain_check_writable(bool subscription);
extern bool chain_locked(void);
extern void chain_lock(void);
extern void chain_wait_writers(void);
extern int64 chain_next_seq(void);
extern const char *chain_head_hex(void);
extern int64 chain_take_nonce(const char *client, bool given, int64 nonce);
extern void chain_take_replayed_nonce(const char *client, int64 nonce);
extern void chain_op_begin(NedbOp *op, const char *kind, const char *client,
						   bool has_nonce, int64 nonce);
extern bool chain_idem_lock(const char *idem);
extern int64 chain_idem_seq(const char *idem);
extern void chain_append(NedbOp *op);

/* the chain (readers) */
extern int64 chain_read_head(char *hex);

extern void nedb_chain_init(void);

#endif
