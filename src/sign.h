/*
 * sign.h
 *	  Signed digests (sign.c).
 */
#ifndef NEDB_SIGN_H
#define NEDB_SIGN_H

extern char *nedb_signing_key_file;
extern void nedb_sign_init(void);

#endif
