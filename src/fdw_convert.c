/*
 * fdw_convert.c
 *	  Foreign-table rows from documents and documents from rows.
 *
 * A field column takes its value from the field by the column's type
 * class: integer and numeric columns take JSON numbers, boolean columns
 * JSON booleans, text columns JSON strings, other types a JSON string
 * through the type's input function, jsonb columns any value as it is.
 * JSON null and a missing field read as NULL (a jsonb column reads JSON
 * null as 'null').  Anything else is an error naming the document and the
 * field, never a silent NULL: comparisons pushed down to the storage are
 * then exactly the column's comparisons (see fdw_plan.c).
 *
 * A stored value never depends on the writing session's settings, nor a
 * read value on the reading session's.  Postgres writes the text of dates
 * and times by DateStyle and TimeZone, of intervals by IntervalStyle, of
 * bytea by bytea_output, of floats by extra_float_digits, of money by
 * lc_monetary; the same value written from two sessions would be two
 * strings, ordered and compared wrongly.  So date, time, timetz, timestamp
 * and timestamptz are written as ISO 8601 (XML Schema) strings, timestamptz
 * in UTC with offset +00:00 (Postgres's JSON form: JsonEncodeDateTime),
 * intervals as ISO 8601 durations, bytea as hex, floats as shortest-exact
 * JSON numbers (the shortest decimal that reads back as the float8, or as
 * the float4), integers, numerics and booleans as JSON values; any other
 * type whose text is not the same in every session (arrays, ranges,
 * composites, user types, ...) through its output function under fixed
 * settings (format_settings below), and every such type is read through
 * its input function under the same settings: a string without an offset
 * is UTC, an ambiguous day-month order is Postgres's default (MDY).  Money
 * has no form independent of lc_monetary: fdw_options.c refuses it.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "canon.h"
#include "fdw.h"
#include "util.h"

static const char *
json_type_name(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "value";
	}
}

static void
conversion_error(NedbTable *t, NedbColumn *c, const char *id, JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("field \"%s\" of document \"%s\" in collection \"%s\" does not convert to type %s",
					c->field, id, t->coll, format_type_with_typemod(c->type, c->typmod)),
			 errdetail("Its value is a JSON %s; column \"%s\" of foreign table \"%s\" takes %s.",
					   json_type_name(v), c->name, t->relname,
					   c->tclass == NEDB_TC_BOOL ? "JSON booleans" :
					   c->tclass == NEDB_TC_TEXT || c->tclass == NEDB_TC_OTHER ? "JSON strings" :
					   "JSON numbers"),
			 errhint("Map the field to a jsonb column to read any JSON value.")));
}

/*
 * The settings under which text of a type without a form of its own is
 * written and read, whatever the session's: ISO dates (day-month order as
 * Postgres's default), UTC, ISO 8601 intervals, hex bytea, shortest-exact
 * floats, the C locale's money.
 */
static const struct
{
	const char *name;
	const char *value;
}			format_settings[] = {
	{"DateStyle", "ISO, MDY"},
	{"TimeZone", "UTC"},
	{"IntervalStyle", "iso_8601"},
	{"bytea_output", "hex"},
	{"extra_float_digits", "1"},
	{"lc_monetary", "C"},
};

/* which of format_settings a type's text depends on */
#define FIX_DATES		0x03	/* DateStyle, TimeZone */
#define FIX_INTERVALS	0x04	/* IntervalStyle */
#define FIX_BYTEA		0x08	/* bytea_output */
#define FIX_FLOATS		0x10	/* extra_float_digits */
#define FIX_MONEY		0x20	/* lc_monetary */
#define FIX_ALL			0x3f
/* input reads both bytea forms, and floats whatever extra_float_digits */
#define FIX_INPUT		(FIX_ALL & ~(FIX_BYTEA | FIX_FLOATS))

/* the fixed settings in mask until fixed_formats_end(level) */
static int
fixed_formats_begin(int mask)
{
	int			level = NewGUCNestLevel();

	for (int i = 0; i < lengthof(format_settings); i++)
		if (mask & (1 << i))
			(void) set_config_option(format_settings[i].name, format_settings[i].value,
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
									 false);
	return level;
}

static void
fixed_formats_end(int level)
{
	AtEOXact_GUC(true, level);
}

/*
 * The settings of format_settings that a (base) type's text depends on,
 * either way: 0 for those whose text is the same in every session.
 */
static int
text_depends_on(Oid base)
{
	switch (base)
	{
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return FIX_DATES;
		case INTERVALOID:
			return FIX_INTERVALS;
		case BYTEAOID:
			return FIX_BYTEA;
		case FLOAT4OID:
		case FLOAT8OID:
			return FIX_FLOATS;
		case CASHOID:
			return FIX_MONEY;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case CHAROID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:		/* numeric_out and numeric_in ignore lc_numeric */
		case BOOLOID:
		case UUIDOID:
		case INETOID:
		case CIDROID:
		case MACADDROID:
		case MACADDR8OID:
		case BITOID:
		case VARBITOID:
		case JSONOID:
		case JSONBOID:
		case PG_LSNOID:
		case TSVECTOROID:
		case TSQUERYOID:
			return 0;
		default:
			return FIX_ALL;
	}
}

/* past n digits, min <= n <= max, or NULL */
static const char *
skip_digits(const char *p, int min, int max)
{
	int			n = 0;

	while (*p >= '0' && *p <= '9')
		p++, n++;
	return n >= min && n <= max ? p : NULL;
}

/* past ":dd" k times at most (at least once if required), or NULL */
static const char *
skip_colon_pairs(const char *p, int k, bool required)
{
	for (int i = 0; i < k && (*p == ':' || (required && i == 0)); i++)
	{
		if (*p++ != ':' || (p = skip_digits(p, 2, 2)) == NULL)
			return NULL;
	}
	return p;
}

/*
 * Whether str is a date, time or interval in the ISO 8601 form that
 * canonical_text writes (or Postgres's ISO output): it reads the same under
 * every DateStyle (a year of 3 or more digits first is always year, month,
 * day), every IntervalStyle (a duration starting with P), and with its
 * numeric offset every TimeZone, so nothing needs fixing to read it.
 * Anything else (other orders, zone names, 'today') is read under fixed
 * settings.
 */
static bool
reads_alike(const char *p, Oid base)
{
	bool		date = base == DATEOID || base == TIMESTAMPOID || base == TIMESTAMPTZOID;
	bool		time = base != DATEOID;
	bool		zone = base == TIMESTAMPTZOID || base == TIMETZOID;

	if (base == INTERVALOID)
		return *p == 'P';
	if (date && (strcmp(p, "infinity") == 0 || strcmp(p, "-infinity") == 0))
		return true;
	if (date)
	{
		if ((p = skip_digits(p, 4, 9)) == NULL || *p++ != '-' ||
			(p = skip_digits(p, 2, 2)) == NULL || *p++ != '-' ||
			(p = skip_digits(p, 2, 2)) == NULL)
			return false;
		if (time && *p != 'T' && *p != ' ')
			return false;
		if (time)
			p++;
	}
	if (time)
	{
		if ((p = skip_digits(p, 2, 2)) == NULL || (p = skip_colon_pairs(p, 2, true)) == NULL)
			return false;
		if (*p == '.' && (p = skip_digits(p + 1, 1, 9)) == NULL)
			return false;
	}
	if (zone)
	{
		if ((*p != '+' && *p != '-') || (p = skip_digits(p + 1, 2, 2)) == NULL ||
			(p = skip_colon_pairs(p, 2, false)) == NULL)
			return false;
	}
	return *p == '\0' || (date && strcmp(p, " BC") == 0);
}

/* the type's input function over str; its error names the document and field */
static Datum
typed_input(NedbTable *t, NedbColumn *c, const char *id, char *str)
{
	MemoryContext cxt = CurrentMemoryContext;
	Datum		res = (Datum) 0;

	if (!c->in_ready)
	{
		Oid			fn;

		getTypeInputInfo(c->type, &fn, &c->in_ioparam);
		fmgr_info_cxt(fn, &c->in_fn, t->cxt);
		c->in_base = getBaseType(c->type);
		c->in_fixed = text_depends_on(c->in_base) & FIX_INPUT;
		c->in_ready = true;
	}
	PG_TRY();
	{
		if (c->in_fixed &&
			!((c->in_fixed & ~(FIX_DATES | FIX_INTERVALS)) == 0 && reads_alike(str, c->in_base)))
		{
			int			level = fixed_formats_begin(c->in_fixed);

			res = InputFunctionCall(&c->in_fn, str, c->in_ioparam, c->typmod);
			fixed_formats_end(level);
		}
		else
			res = InputFunctionCall(&c->in_fn, str, c->in_ioparam, c->typmod);
	}
	PG_CATCH();
	{
		ErrorData  *err;

		MemoryContextSwitchTo(cxt);
		err = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(err->sqlerrcode),
				 errmsg("field \"%s\" of document \"%s\" in collection \"%s\" does not convert to type %s",
						c->field, id, t->coll, format_type_with_typemod(c->type, c->typmod)),
				 errdetail("%s", err->message)));
	}
	PG_END_TRY();
	return res;
}

static Datum
field_value(NedbTable *t, NedbColumn *c, const char *id, JsonbValue *v, bool *isnull)
{
	*isnull = false;
	if (c->tclass == NEDB_TC_JSONB)
		return JsonbPGetDatum(JsonbValueToJsonb(v));
	if (v->type == jbvNull)
	{
		*isnull = true;
		return (Datum) 0;
	}
	switch (c->tclass)
	{
		case NEDB_TC_INT:
		case NEDB_TC_NUMERIC:
		case NEDB_TC_FLOAT:
			if (v->type != jbvNumeric)
				conversion_error(t, c, id, v);
			if (c->type == NUMERICOID && c->typmod < 0)
				return NumericGetDatum(v->val.numeric);
			return typed_input(t, c, id,
							   DatumGetCString(DirectFunctionCall1(numeric_out,
																   NumericGetDatum(v->val.numeric))));
		case NEDB_TC_BOOL:
			if (v->type != jbvBool)
				conversion_error(t, c, id, v);
			return BoolGetDatum(v->val.boolean);
		case NEDB_TC_TEXT:
			if (v->type != jbvString)
				conversion_error(t, c, id, v);
			if (c->type == TEXTOID)
				return PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																v->val.string.len));
			return typed_input(t, c, id, pnstrdup(v->val.string.val, v->val.string.len));
		default:
			if (v->type != jbvString)
				conversion_error(t, c, id, v);
			return typed_input(t, c, id, pnstrdup(v->val.string.val, v->val.string.len));
	}
}

/* the value at path in doc, NULL if any step is missing or not an object */
static JsonbValue *
path_value(Jsonb *doc, List *path)
{
	JsonbContainer *cur = &doc->root;
	JsonbValue *v = NULL;
	ListCell   *lc;

	foreach(lc, path)
	{
		if (!JsonContainerIsObject(cur))
			return NULL;
		v = nedb_member(cur, lfirst(lc));
		if (v == NULL)
			return NULL;
		if (lnext(path, lc) != NULL)
		{
			if (v->type != jbvBinary)
				return NULL;
			cur = v->val.binary.data;
		}
	}
	return v;
}

/* One row of t: the version seq of coll:id with document doc. */
void
nedb_doc_to_values(NedbTable *t, const char *id, int64 seq, Jsonb *doc,
				   Datum *values, bool *nulls)
{
	for (int i = 0; i < t->natts; i++)
	{
		NedbColumn *c = &t->cols[i];
		JsonbValue *v;

		values[i] = (Datum) 0;
		nulls[i] = true;
		if (c->dropped)
			continue;
		switch (c->kind)
		{
			case NEDB_COL_ID:
				values[i] = CStringGetTextDatum(id);
				nulls[i] = false;
				break;
			case NEDB_COL_SEQ:
				/* seq < 0: a put staged for COMMIT, whose seq is not known */
				values[i] = Int64GetDatum(seq);
				nulls[i] = seq < 0;
				break;
			case NEDB_COL_DOC:
				values[i] = JsonbPGetDatum(doc);
				nulls[i] = false;
				break;
			case NEDB_COL_FIELD:
				v = path_value(doc, c->path);
				if (v != NULL)
					values[i] = field_value(t, c, id, v, &nulls[i]);
				break;
		}
	}
}

/*
 * The text a value of a type other than those with a JSON form of their own
 * is stored as, the same in every session (see the header comment).
 */
static char *
canonical_text(Datum d, Oid type)
{
	Oid			base = getBaseType(type);
	char		buf[MAXDATELEN + 1];

	switch (base)
	{
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
			return pstrdup(JsonEncodeDateTime(buf, d, base, NULL));
		case TIMESTAMPTZOID:
			{
				const int	utc = 0;

				return pstrdup(JsonEncodeDateTime(buf, d, base, &utc));
			}
		case INTERVALOID:
			{
#if PG_VERSION_NUM >= 150000
				struct pg_itm itm;

				interval2itm(*DatumGetIntervalP(d), &itm);
				EncodeInterval(&itm, INTSTYLE_ISO_8601, buf);
#else
				struct pg_tm tm;
				fsec_t		fsec;

				if (interval2tm(*DatumGetIntervalP(d), &tm, &fsec) != 0)
					elog(ERROR, "could not convert interval to tm");
				EncodeInterval(&tm, fsec, INTSTYLE_ISO_8601, buf);
#endif
				return pstrdup(buf);
			}
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(d);
				size_t		len = VARSIZE_ANY_EXHDR(b);
				char	   *s = palloc(len * 2 + 3);

				s[0] = '\\';
				s[1] = 'x';
				s[hex_encode(VARDATA_ANY(b), len, s + 2) + 2] = '\0';
				return s;
			}
		default:
			{
				Oid			fn;
				bool		isvarlena;
				char	   *s;
				int			level;
				int			fix = text_depends_on(base);

				getTypeOutputInfo(type, &fn, &isvarlena);
				if (fix == 0)
					return OidOutputFunctionCall(fn, d);
				level = fixed_formats_begin(fix);
				s = OidOutputFunctionCall(fn, d);
				fixed_formats_end(level);
				return s;
			}
	}
}

/* A column value as a JSON value (scalars, or a jsonb value as it is). */
static void
datum_to_jsonb_value(Datum d, Oid type, JsonbValue *v)
{
	switch (type)
	{
		case INT2OID:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(DatumGetInt16(d));
			return;
		case INT4OID:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(DatumGetInt32(d));
			return;
		case INT8OID:
			v->type = jbvNumeric;
			v->val.numeric = int64_to_numeric(DatumGetInt64(d));
			return;
		case NUMERICOID:
			if (numeric_is_nan(DatumGetNumeric(d)) || numeric_is_inf(DatumGetNumeric(d)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("JSON has no number %s", DatumGetCString(DirectFunctionCall1(numeric_out, d)))));
			v->type = jbvNumeric;
			v->val.numeric = DatumGetNumeric(d);
			return;
		case FLOAT4OID:
		case FLOAT8OID:
			{
				double		f = type == FLOAT4OID ? DatumGetFloat4(d) : DatumGetFloat8(d);

				if (isnan(f) || isinf(f))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("JSON has no number %g", f)));
				v->type = jbvNumeric;
				if (type == FLOAT4OID)
				{
					/* the shortest decimal that reads back as this float4: 0.1, not 0.10000000149011612 */
					char		buf[FLOAT_SHORTEST_DECIMAL_LEN];

					float_to_shortest_decimal_buf(DatumGetFloat4(d), buf);
					v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																		 CStringGetDatum(buf),
																		 ObjectIdGetDatum(InvalidOid),
																		 Int32GetDatum(-1)));
				}
				else
					v->val.numeric = DatumGetNumeric(canon_float_numeric(f));
				return;
			}
		case BOOLOID:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(d);
			return;
		case JSONBOID:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);

				if (JB_ROOT_IS_SCALAR(jb))
					JsonbExtractScalar(&jb->root, v);
				else
				{
					v->type = jbvBinary;
					v->val.binary.data = &jb->root;
					v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
				}
				return;
			}
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *tx = DatumGetTextPP(d);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(tx);
				v->val.string.len = VARSIZE_ANY_EXHDR(tx);
				return;
			}
		default:
			{
				char	   *s = canonical_text(d, type);

				v->type = jbvString;
				v->val.string.val = s;
				v->val.string.len = strlen(s);
				return;
			}
	}
}

Jsonb *
nedb_datum_to_jsonb(Datum d, Oid type)
{
	JsonbValue	v;

	datum_to_jsonb_value(d, type, &v);
	return JsonbValueToJsonb(&v);
}

static Datum
path_array(List *path, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	ListCell   *lc;
	int			i = 0;

	foreach(lc, path)
	{
		if (i == n)
			break;
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* doc with the nested path set to v (NULL: removed), making parents objects */
static Jsonb *
set_path(Jsonb *doc, List *path, Jsonb *v)
{
	int			n = list_length(path);

	if (v == NULL)
		return DatumGetJsonbP(DirectFunctionCall2(jsonb_delete_path, JsonbPGetDatum(doc),
												  path_array(path, n)));
	for (int k = 1; k < n; k++)
	{
		List	   *prefix = list_copy_head(path, k);
		JsonbValue *cur = path_value(doc, prefix);

		if (cur == NULL || cur->type != jbvBinary || !JsonContainerIsObject(cur->val.binary.data))
			doc = DatumGetJsonbP(DirectFunctionCall4(jsonb_set, JsonbPGetDatum(doc),
													 path_array(path, k),
													 DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")),
													 BoolGetDatum(true)));
	}
	return DatumGetJsonbP(DirectFunctionCall4(jsonb_set, JsonbPGetDatum(doc), path_array(path, n),
											  JsonbPGetDatum(v), BoolGetDatum(true)));
}

static bool
key_is(JsonbValue *k, const char *s)
{
	return k->val.string.len == (int) strlen(s) && memcmp(k->val.string.val, s, k->val.string.len) == 0;
}

/*
 * The document a write of this row puts: base (the doc column, or for an
 * UPDATE without one the current document), without _seq (the write adds
 * it) and, when the table has an _id column, without _id; then the field
 * columns over it.  An INSERT (only == NULL) sets every non-NULL field
 * column; an UPDATE sets the columns in only, a NULL removing the field.
 */
Jsonb *
nedb_values_to_doc(NedbTable *t, Jsonb *base, Datum *values, bool *nulls, Bitmapset *only)
{
	JsonbParseState *st = NULL;
	Jsonb	   *doc;
	bool		update = only != NULL;
	bool		as_is = base != NULL && JB_ROOT_IS_OBJECT(base) && !JB_ROOT_IS_SCALAR(base) &&
		nedb_member(&base->root, "_seq") == NULL &&
		(t->id_attno == 0 || nedb_member(&base->root, "_id") == NULL);

	/* the common bulk case: the doc column alone, nothing to strip or set */
	for (int i = 0; i < t->natts && as_is; i++)
	{
		NedbColumn *c = &t->cols[i];

		if (!c->dropped && c->kind == NEDB_COL_FIELD &&
			(update ? bms_is_member(i + 1, only) : !nulls[i]))
			as_is = false;
	}
	if (as_is)
		return base;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (base != NULL)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		bool		skip = false;

		if (!JB_ROOT_IS_OBJECT(base) || JB_ROOT_IS_SCALAR(base))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"doc\" of foreign table \"%s\" must be a JSON object",
							t->relname)));
		it = JsonbIteratorInit(&base->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				skip = key_is(&v, "_seq") || (t->id_attno != 0 && key_is(&v, "_id"));
				/* a top-level field column written by this row replaces the member */
				for (int i = 0; i < t->natts && !skip; i++)
				{
					NedbColumn *c = &t->cols[i];

					if (!c->dropped && c->kind == NEDB_COL_FIELD && list_length(c->path) == 1 &&
						key_is(&v, linitial(c->path)) &&
						(update ? bms_is_member(i + 1, only) : !nulls[i]))
						skip = true;
				}
			}
			if ((tok == WJB_KEY || tok == WJB_VALUE) && !skip)
				pushJsonbValue(&st, tok, &v);
		}
	}
	for (int i = 0; i < t->natts; i++)
	{
		NedbColumn *c = &t->cols[i];
		JsonbValue	v;

		if (c->dropped || c->kind != NEDB_COL_FIELD || list_length(c->path) != 1 || nulls[i] ||
			(update && !bms_is_member(i + 1, only)))
			continue;
		nedb_push_key(&st, linitial(c->path));
		datum_to_jsonb_value(values[i], c->type, &v);
		/* pushJsonbValue unpacks a container value */
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	doc = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));

	/* nested paths, in column order */
	for (int i = 0; i < t->natts; i++)
	{
		NedbColumn *c = &t->cols[i];

		if (c->dropped || c->kind != NEDB_COL_FIELD || list_length(c->path) == 1 ||
			(update ? !bms_is_member(i + 1, only) : nulls[i]))
			continue;
		doc = set_path(doc, c->path, nulls[i] ? NULL : nedb_datum_to_jsonb(values[i], c->type));
	}
	return doc;
}
