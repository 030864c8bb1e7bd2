/*
 * aof.h
 *	  Interchange with the reference: AOF lines, checked and applied.
 */
#ifndef NEDB_AOF_H
#define NEDB_AOF_H

/* check one AOF line against the head and append it (chain lock held) */
extern int64 aof_apply_line(const char *line, int len, double *ts);
extern int64 aof_apply_body(const char *body, int len, const char *hash_hex, double *ts);

#endif
