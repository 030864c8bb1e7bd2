/*
 * group_commit.h
 *	  Writers' commits share WAL flushes (see group_commit.c).
 */
#ifndef NEDB_GROUP_COMMIT_H
#define NEDB_GROUP_COMMIT_H

extern bool nedb_group_commit;

/* this transaction appends to the chain */
extern void group_commit_note_writer(void);
/* wait until every commit this session can see is durable */
extern void group_commit_durable(void);

extern void nedb_group_commit_init(void);

#endif
