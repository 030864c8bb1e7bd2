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
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

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
		c->in_ready = true;
	}
	PG_TRY();
	{
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
				values[i] = Int64GetDatum(seq);
				nulls[i] = false;
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
				Oid			fn;
				bool		isvarlena;
				char	   *s;

				getTypeOutputInfo(type, &fn, &isvarlena);
				s = OidOutputFunctionCall(fn, d);
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
