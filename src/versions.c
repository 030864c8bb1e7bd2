/*
 * versions.c
 *	  The versions store: the latest version of a key (now or AS OF a seq)
 *	  and whether a document has expired.
 *
 * What the read path, NQL, the FDW and the writers (which check a key under
 * the chain lock) share about reading nedb.versions.  The ordered index scan
 * of nedb.versions is versions_scan.c.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "session.h"
#include "util.h"
#include "versions.h"

/*
 * The latest version of coll:id (at or before as_of if given): false if
 * there is none; *doc is NULL for a tombstone.  Needs a storage session;
 * writers (holding the chain lock) read with a fresh snapshot.
 */
bool
store_latest(const char *coll, const char *id, bool has_as_of, int64 as_of,
			 bool for_write, int64 *seq, Jsonb **doc)
{
	Datum		v[3];
	bool		isnull;
	Datum		d;

	v[0] = CStringGetTextDatum(coll);
	v[1] = CStringGetTextDatum(id);
	v[2] = Int64GetDatum(as_of);
	if (nedb_exec(has_as_of ? PLAN_LATEST_AS_OF : PLAN_LATEST, v, NULL, !for_write, 1) == 0)
		return false;
	*seq = DatumGetInt64(nedb_col(0, 1, &isnull));
	d = nedb_col(0, 2, &isnull);
	*doc = isnull ? NULL : DatumGetJsonbP(d);
	return true;
}

/* A document whose _expires_at (float epoch seconds) has passed. */
bool
doc_expired(Jsonb *doc, double now)
{
	JsonbValue *v = nedb_member(&doc->root, "_expires_at");

	if (v == NULL || v->type != jbvNumeric)
		return false;
	/* as numerics: any number a user stores there compares, none overflows */
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(v->val.numeric),
											 DirectFunctionCall1(float8_numeric,
																 Float8GetDatum(now)))) < 0;
}
