/*
 * canon_fuzz.c
 *	  libFuzzer harness of canon_scan (src/canon_scan.c): where it answers,
 *	  its tree must be the one Postgres's own JSON parser gives.
 *
 * The reference is pg_parse_json itself (libpgcommon's jsonapi.o, linked
 * unchanged), its callbacks building a tree as canon_parse's do.  Findings,
 * besides what ASan and UBSan catch:
 *	- canon_scan accepts a text pg_parse_json rejects;
 *	- the two trees differ in any node's kind, text, length, member names
 *	  or children.
 * canon_scan giving up is never a finding (canon_parse then asks
 * pg_parse_json); how often it does is printed at exit for plain JSON.
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "canon.h"
#include "pgstub.h"

#undef fprintf

#define REF_MAX_DEPTH 512

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jsonapi.o's one need from stringinfo.o that pgstub.c does not give */
StringInfo
makeStringInfo(void)
{
	StringInfo	s = palloc(sizeof(StringInfoData));

	initStringInfo(s);
	return s;
}

typedef struct Ref
{
	CanonNode  *root;
	CanonNode  *stack[REF_MAX_DEPTH + 1];
	int			depth;
	char	   *key;
	bool		too_deep;
} Ref;

static void
ref_add(Ref *r, CanonNode *n)
{
	CanonNode  *parent;

	if (r->depth == 0)
	{
		r->root = n;
		return;
	}
	parent = r->stack[r->depth - 1];
	if (parent->n == parent->cap)
	{
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->items = parent->items ? repalloc(parent->items, sizeof(CanonNode *) * parent->cap)
			: palloc(sizeof(CanonNode *) * parent->cap);
		parent->keys = parent->keys ? repalloc(parent->keys, sizeof(char *) * parent->cap)
			: palloc(sizeof(char *) * parent->cap);
	}
	parent->keys[parent->n] = parent->kind == CN_OBJECT ? r->key : NULL;
	parent->items[parent->n++] = n;
}

static void
ref_start(Ref *r, CanonKind kind)
{
	CanonNode  *n = palloc0(sizeof(CanonNode));

	n->kind = kind;
	ref_add(r, n);
	if (r->depth >= REF_MAX_DEPTH)
	{
		r->too_deep = true;		/* canon_parse's error */
		return;
	}
	r->stack[r->depth++] = n;
}

static void
ref_object_start(void *st)
{
	ref_start(st, CN_OBJECT);
}

static void
ref_array_start(void *st)
{
	ref_start(st, CN_ARRAY);
}

static void
ref_end(void *st)
{
	Ref		   *r = st;

	if (!r->too_deep)
		r->depth--;
}

static void
ref_field(void *st, char *fname, bool isnull)
{
	((Ref *) st)->key = fname;
}

static void
ref_scalar(void *st, char *token, JsonTokenType type)
{
	CanonNode  *n = palloc0(sizeof(CanonNode));

	switch (type)
	{
		case JSON_TOKEN_STRING:
			n->kind = CN_STRING;
			break;
		case JSON_TOKEN_NUMBER:
			n->kind = strpbrk(token, ".eE") ? CN_FLOAT : CN_INT;
			break;
		case JSON_TOKEN_TRUE:
			n->kind = CN_TRUE;
			break;
		case JSON_TOKEN_FALSE:
			n->kind = CN_FALSE;
			break;
		default:
			n->kind = CN_NULL;
	}
	n->str = token;
	n->len = token ? strlen(token) : 0;
	ref_add(st, n);
}

static void
finding(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "canon_fuzz: %s\n  input (%zu bytes): %.*s\n", what, size,
			(int) (size > 300 ? 300 : size), (const char *) data);
	abort();
}

static bool
same_tree(const CanonNode *a, const CanonNode *b)
{
	if (a->kind != b->kind || a->n != b->n || a->len != b->len)
		return false;
	if ((a->str == NULL) != (b->str == NULL) ||
		(a->str && memcmp(a->str, b->str, a->len + 1) != 0))
		return false;
	for (int i = 0; i < a->n; i++)
	{
		if (a->kind == CN_OBJECT && strcmp(a->keys[i], b->keys[i]) != 0)
			return false;
		if (!same_tree(a->items[i], b->items[i]))
			return false;
	}
	return true;
}

static long answered = 0;
static long gave_up = 0;

static void
report(void)
{
	fprintf(stderr, "canon_fuzz: canon_scan answered %ld of %ld valid texts\n",
			answered, answered + gave_up);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool registered = false;
	char	   *text;
	CanonNode  *fast;
	Ref		   *ref;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType err;

	if (!registered)
	{
		atexit(report);
		registered = true;
	}
	if (size > 65536)
		return 0;
	/* canon_parse's callers hand it text: UTF-8, no NUL */
	if (!stub_valid_utf8(data, size))
		return 0;
	text = palloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	fast = canon_scan(text, (int) size);

	ref = palloc0(sizeof(Ref));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = ref;
	sem.object_start = ref_object_start;
	sem.object_end = ref_end;
	sem.array_start = ref_array_start;
	sem.array_end = ref_end;
	sem.object_field_start = ref_field;
	sem.scalar = ref_scalar;
	lex = makeJsonLexContextCstringLen(text, (int) size, PG_UTF8, true);
	err = pg_parse_json(lex, &sem);

	if (err != JSON_SUCCESS || ref->too_deep)
	{
		if (fast != NULL)
			finding("canon_scan accepted a text canon_parse rejects", data, size);
	}
	else if (fast == NULL)
		gave_up++;
	else
	{
		answered++;
		if (!same_tree(fast, ref->root))
			finding("canon_scan's tree differs from pg_parse_json's", data, size);
	}
	stub_reset();
	return 0;
}
