/*
 * keyfile.h
 *	  Secrets read from files outside the database (signing key, master key).
 */
#ifndef NEDB_KEYFILE_H
#define NEDB_KEYFILE_H

/*
 * The contents of the file that GUC guc names, white space at either end
 * stripped, into buf (at most size - 1 bytes, NUL-terminated); returns the
 * length.  The file must be a regular file readable by its owner alone.
 * Errors name the file and what is wrong; "what" says whose file it is
 * ("signing key", "master key").  The caller wipes buf after use.
 */
extern size_t keyfile_read(const char *path, const char *guc, const char *what,
						   char *buf, size_t size);

/* n bytes from exactly 2n hex digits; false if s is anything else */
extern bool hex_to_bytes(const char *s, size_t len, uint8 *out, size_t n);
/* 2n hex digits (lower case), palloc'd */
extern char *bytes_to_hex(const uint8 *b, size_t n);

#endif
