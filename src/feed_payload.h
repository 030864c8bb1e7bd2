/*
 * feed_payload.h
 *	  nedb.log's payload of a put or a delete, as jsonb written directly.
 */
#ifndef NEDB_FEED_PAYLOAD_H
#define NEDB_FEED_PAYLOAD_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/*
 * {"key": "coll:id", "coll", "id", "doc": doc - '_seq'} (doc only when
 * with_doc; doc NULL or an object) as a jsonb datum in buf (reset first).
 */
extern void feed_key_payload(StringInfo buf, const char *coll, int coll_len,
							 const char *id, int id_len, bool with_doc, Jsonb *doc);

#endif
