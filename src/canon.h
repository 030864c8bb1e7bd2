/*
 * canon.h
 *	  Canonical JSON: the reference's json.dumps(sort_keys=True,
 *	  separators=(",", ":"), ensure_ascii=True) byte for byte.
 */
#ifndef NEDB_CANON_H
#define NEDB_CANON_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/*
 * A JSON value parsed from text, keeping what jsonb loses: whether a number
 * was written as an int or a float (Python's distinction) and its spelling.
 */
typedef enum CanonKind
{
	CN_NULL,
	CN_TRUE,
	CN_FALSE,
	CN_INT,
	CN_FLOAT,
	CN_STRING,
	CN_ARRAY,
	CN_OBJECT
} CanonKind;

typedef struct CanonNode
{
	CanonKind	kind;
	char	   *str;			/* string value, or the number's token text */
	int			len;
	int			n;				/* number of children */
	int			cap;
	struct CanonNode **items;	/* children */
	char	  **keys;			/* object member names (NUL-terminated) */
} CanonNode;

/* leaves */
extern void canon_string(StringInfo out, const char *s, int len);
extern void canon_float(StringInfo out, double d);
extern void canon_numeric_text(StringInfo out, const char *num);

/* jsonb values; skip_seq drops a top-level "_seq" member */
extern void canon_jsonb(StringInfo out, Jsonb *jb, bool skip_seq, bool spaced);
/* an object built by pushJsonbValue, as canon_jsonb writes it made a Jsonb */
extern void canon_built_object(StringInfo out, JsonbValue *obj, bool skip_seq, bool spaced);

/* text parsed into a tree (ereports on invalid JSON, naming what) */
extern CanonNode *canon_parse(const char *json, int len, const char *what);
/* the same tree in one pass, or NULL where pg_parse_json must decide */
extern CanonNode *canon_scan(const char *json, int len);
extern void canon_node(StringInfo out, CanonNode *node, bool spaced);
extern CanonNode *canon_member(CanonNode *obj, const char *key);
extern Jsonb *canon_node_to_jsonb(CanonNode *node);
extern Jsonb *canon_object_to_jsonb_with(CanonNode *obj, const char *key, int64 i);

/* a float as jsonb numeric that keeps Python's float spelling (1.0 not 1) */
extern Datum canon_float_numeric(double d);

#endif
