/*
 * acl.h
 *	  Who may read and write which collection (see acl.c).
 */
#ifndef NEDB_ACL_H
#define NEDB_ACL_H

#include "utils/relcache.h"

typedef enum NedbPriv
{
	NEDB_READ = 1,
	NEDB_WRITE = 2
} NedbPriv;

/* superuser, or a member of the role that owns schema nedb */
extern bool nedb_acl_is_admin(Oid role);

/* may role read/write collection coll; coll NULL: every collection */
extern bool nedb_acl_collection(Oid role, const char *coll, NedbPriv priv);
extern void nedb_acl_require_collection(Oid role, const char *coll, NedbPriv priv);

/* a foreign table's owner's privilege (fdw_scan.c, fdw_modify.c) */
extern void nedb_acl_require_table(Relation rel, const char *coll, NedbPriv priv);

/* the same for a graph node "coll:id" (its collection's privilege) */
extern bool nedb_acl_node(Oid role, const char *node, NedbPriv priv);
extern void nedb_acl_require_node(Oid role, const char *node, NedbPriv priv);

/* Cascade files */
extern bool nedb_acl_files(Oid role, NedbPriv priv);
extern void nedb_acl_require_files(Oid role, NedbPriv priv);

/* an op of the log (nedb.op_body) */
struct NedbOp;
extern void nedb_acl_require_op(Oid role, const struct NedbOp *op);

/* functions that read or change everything: admins only */
extern void nedb_acl_require_admin(Oid role, const char *what);

extern void nedb_acl_init(void);

#endif
