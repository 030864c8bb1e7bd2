/*
 * fdw_options.c
 *	  Options of FOREIGN DATA WRAPPER nedb, the column mapping of a foreign
 *	  table, and the GUCs that steer foreign-table reads and writes.
 *
 * Table options: collection (default: the table's name), as_of (a seq:
 * the table reads history and refuses writes), insert ('unique', the
 * default: INSERT of an id that has a document is a unique violation;
 * 'replace': INSERT puts, replacing it).  Column option: field (a dotted
 * path; default: the column's name).
 *
 * The settings (nedb.as_of, nedb.client, nedb.nonce, nedb.idem and the
 * provenance of puts) are transaction state, never session state: a value
 * is honored only when it was set for the current transaction (SET LOCAL,
 * set_config(..., true), a function's SET clause: the GUC stack holds it
 * and gives it back at the transaction's end) or, except for nedb.idem and
 * nedb.nonce, which name single writes, when it is a configured default
 * (postgresql.conf, ALTER ROLE/DATABASE SET, connection options).  A plain
 * SET would stay armed for every later statement on the connection (behind
 * a transaction-mode pooler, for other clients' transactions): it is
 * refused when its transaction commits, and a session value that got past
 * that (set before the library was loaded) is refused where it would be
 * used.
 */
#include "postgres.h"

#include <math.h>

#include "access/reloptions.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "fdw.h"
#include "op.h"

PG_FUNCTION_INFO_V1(nedb_fdw_validator);

typedef struct SettingDef
{
	const char *name;
	bool		per_write;		/* names one write: no configured default either */
	char	   *value;			/* the GUC's variable */
	struct config_string *conf; /* its GUC record */
	uint64		generation;		/* bumped by every assignment */
} SettingDef;

static SettingDef settings[NEDB_NUM_SETTINGS] = {
	[NEDB_SET_AS_OF] = {"nedb.as_of", false},
	[NEDB_SET_CLIENT] = {"nedb.client", false},
	[NEDB_SET_NONCE] = {"nedb.nonce", true},
	[NEDB_SET_IDEM] = {"nedb.idem", true},
	[NEDB_SET_CAUSED_BY] = {"nedb.caused_by", false},
	[NEDB_SET_EVIDENCE] = {"nedb.evidence", false},
	[NEDB_SET_CONFIDENCE] = {"nedb.confidence", false},
	[NEDB_SET_VALID_FROM] = {"nedb.valid_from", false},
	[NEDB_SET_VALID_TO] = {"nedb.valid_to", false},
};

/* a seq as written in an option or GUC: a non-negative bigint */
static bool
parse_seq(const char *s, int64 *out)
{
	char	   *end;
	long long	v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0)
		return false;
	*out = (int64) v;
	return true;
}

static bool
check_seq_guc(char **newval, void **extra, GucSource source)
{
	int64		v;

	if (*newval == NULL || **newval == '\0' || parse_seq(*newval, &v))
		return true;
	GUC_check_errdetail("It must be empty or a seq (an integer >= 0).");
	return false;
}

static bool
check_nonce_guc(char **newval, void **extra, GucSource source)
{
	char	   *end;
	long long	v;

	if (*newval == NULL || **newval == '\0')
		return true;
	errno = 0;
	v = strtoll(*newval, &end, 10);
	if (errno == 0 && *end == '\0' && v <= NEDB_MAX_NONCE)
		return true;
	if (errno == 0 && *end == '\0')
	{
		GUC_check_errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE);
		GUC_check_errdetail("A write's nonce may be at most %lld (2^53 - 1).",
							(long long) NEDB_MAX_NONCE);
		GUC_check_errhint("RESET nedb.nonce to have the next nonces assigned.");
		return false;
	}
	GUC_check_errdetail("It must be empty or an integer.");
	return false;
}

static bool
check_name_guc(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > NEDB_MAX_NAME)
	{
		GUC_check_errdetail("It is longer than %d bytes.", NEDB_MAX_NAME);
		return false;
	}
	return true;
}

static bool
check_confidence_guc(char **newval, void **extra, GucSource source)
{
	char	   *end;
	double		v;

	if (*newval == NULL || **newval == '\0')
		return true;
	errno = 0;
	v = strtod(*newval, &end);
	if (errno == 0 && *end == '\0' && isfinite(v))
		return true;
	GUC_check_errdetail("It must be empty or a finite number.");
	return false;
}

static bool
check_caused_by_guc(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;

	if (p == NULL || *p == '\0')
		return true;
	/* {seq, seq, ...}: what nedb.put's caused_by bigint[] takes */
	if (*p++ != '{')
		goto bad;
	while (*p == ' ')
		p++;
	if (*p == '}')
		return p[1] == '\0';
	for (;;)
	{
		char	   *end;

		while (*p == ' ')
			p++;
		errno = 0;
		(void) strtoll(p, &end, 10);
		if (errno != 0 || end == p)
			goto bad;
		p = end;
		while (*p == ' ')
			p++;
		if (*p == '}')
			return p[1] == '\0';
		if (*p++ != ',')
			goto bad;
	}
bad:
	GUC_check_errdetail("It must be empty or a list of seqs such as {3,7}.");
	return false;
}

static void
assign_nonce_guc(const char *newval, void *extra)
{
	settings[NEDB_SET_NONCE].generation++;
}

static void
assign_idem_guc(const char *newval, void *extra)
{
	settings[NEDB_SET_IDEM].generation++;
}

/* the GUC record of a setting we defined */
static struct config_string *
setting_record(const char *name)
{
	struct config_generic *g = NULL;

#if PG_VERSION_NUM >= 160000
	g = find_option(name, false, false, ERROR);
#else
	struct config_generic **vars = get_guc_variables();
	int			n = GetNumConfigOptions();

	for (int i = 0; i < n && g == NULL; i++)
		if (strcmp(vars[i]->name, name) == 0)
			g = vars[i];
#endif
	if (g == NULL || g->vartype != PGC_STRING)
		elog(ERROR, "nedb: setting \"%s\" is not defined", name);
	return (struct config_string *) g;
}

/* where a configured default came from, in words */
static const char *
source_name(GucSource source)
{
	switch (source)
	{
		case PGC_S_FILE:
			return "the configuration file";
		case PGC_S_DATABASE:
			return "ALTER DATABASE ... SET";
		case PGC_S_USER:
			return "ALTER ROLE ... SET";
		case PGC_S_DATABASE_USER:
			return "ALTER ROLE ... IN DATABASE ... SET";
		case PGC_S_CLIENT:
			return "the connection's options";
		default:
			return GucSource_Names[source];
	}
}

/* the DETAIL of refusing a session value of s */
static int
errdetail_session_value(SettingDef *s)
{
	return errdetail("nedb honors %s only in the transaction that sets it%s: a value set for the session would stay armed for every later statement on this connection, and behind a transaction-mode pooler for other clients' transactions.",
					 s->name, s->per_write ? "" : " (or as a configured default)");
}

/*
 * At commit (or PREPARE TRANSACTION), refuse a setting that a plain SET (or
 * set_config(..., false)) in this transaction would leave set for the
 * session.  All subtransactions and function levels are closed by now: the
 * top of the stack is the transaction's own entry.
 */
static void
settings_xact_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
		return;
	for (int i = 0; i < NEDB_NUM_SETTINGS; i++)
	{
		SettingDef *s = &settings[i];
		GucStack   *st = s->conf ? s->conf->gen.stack : NULL;
		const char *keep;

		if (st == NULL)
			continue;
		if (st->state == GUC_SET)
			keep = s->value;
		else if (st->state == GUC_SET_LOCAL)
			keep = st->masked.val.stringval;
		else
			continue;
		/* empty, or what RESET gives: nothing stays armed */
		if (keep == NULL || *keep == '\0' ||
			(s->conf->reset_val != NULL && strcmp(keep, s->conf->reset_val) == 0))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot set %s for the session", s->name),
				 errdetail_session_value(s),
				 errhint("Use SET LOCAL %s (or set_config('%s', value, true)) inside the transaction of the statement it is for.",
						 s->name, s->name)));
	}
}

void
nedb_fdw_init(void)
{
	DefineCustomStringVariable("nedb.as_of",
							   "Foreign tables of nedb read the collection as of this seq.",
							   "Empty: the current state.  Writes are refused while set.  Honored only for the transaction that sets it (SET LOCAL).",
							   &settings[NEDB_SET_AS_OF].value, "", PGC_USERSET, 0,
							   check_seq_guc, NULL, NULL);
	DefineCustomStringVariable("nedb.client",
							   "Client name of writes through foreign tables of nedb.",
							   "Honored for the transaction that sets it (SET LOCAL), or as a configured default.",
							   &settings[NEDB_SET_CLIENT].value, "local", PGC_USERSET, 0,
							   check_name_guc, NULL, NULL);
	DefineCustomStringVariable("nedb.nonce",
							   "Nonce of the first write of a statement through a foreign table.",
							   "The next writes of the statement take the following nonces.  Set it with SET LOCAL for one write statement.",
							   &settings[NEDB_SET_NONCE].value, "", PGC_USERSET, 0,
							   check_nonce_guc, assign_nonce_guc, NULL);
	DefineCustomStringVariable("nedb.idem",
							   "Idempotency key of a one-row write through a foreign table.",
							   "Set it with SET LOCAL for one write statement.",
							   &settings[NEDB_SET_IDEM].value, "", PGC_USERSET, 0,
							   check_name_guc, assign_idem_guc, NULL);
	/* provenance of puts through foreign tables, as nedb.put's arguments */
	DefineCustomStringVariable("nedb.caused_by",
							   "Provenance of puts through foreign tables: the seqs that caused them.",
							   NULL, &settings[NEDB_SET_CAUSED_BY].value, "", PGC_USERSET, 0,
							   check_caused_by_guc, NULL, NULL);
	DefineCustomStringVariable("nedb.evidence",
							   "Provenance of puts through foreign tables: evidence.",
							   NULL, &settings[NEDB_SET_EVIDENCE].value, "", PGC_USERSET, 0,
							   check_name_guc, NULL, NULL);
	DefineCustomStringVariable("nedb.confidence",
							   "Provenance of puts through foreign tables: confidence.",
							   NULL, &settings[NEDB_SET_CONFIDENCE].value, "", PGC_USERSET, 0,
							   check_confidence_guc, NULL, NULL);
	DefineCustomStringVariable("nedb.valid_from",
							   "Valid time of puts through foreign tables: from.",
							   NULL, &settings[NEDB_SET_VALID_FROM].value, "", PGC_USERSET, 0,
							   check_name_guc, NULL, NULL);
	DefineCustomStringVariable("nedb.valid_to",
							   "Valid time of puts through foreign tables: to.",
							   NULL, &settings[NEDB_SET_VALID_TO].value, "", PGC_USERSET, 0,
							   check_name_guc, NULL, NULL);
	for (int i = 0; i < NEDB_NUM_SETTINGS; i++)
		settings[i].conf = setting_record(settings[i].name);
	RegisterXactCallback(settings_xact_callback, NULL);
}

const char *
nedb_setting_name(NedbSetting id)
{
	return settings[id].name;
}

uint64
nedb_setting_generation(NedbSetting id)
{
	return settings[id].generation;
}

/*
 * The value of a setting in force for this statement, NULL if none.  Its
 * GUC record tells where it came from: an entry on the GUC stack that is
 * not a plain SET belongs to this transaction (SET LOCAL, SET then SET
 * LOCAL, set_config(..., true), a function's SET clause) and is given back
 * at its end; a plain SET's entry, or no entry and source "session", is a
 * value for the session (set in this or an earlier transaction, perhaps by
 * another client of a pooled connection); no entry and another source is a
 * configured default.  A session value equal to what RESET gives is that
 * default.
 */
const char *
nedb_setting(NedbSetting id)
{
	SettingDef *s = &settings[id];
	struct config_string *conf = s->conf;
	const char *val = s->value;

	if (val == NULL || *val == '\0')
		return NULL;
	if (conf->gen.stack != NULL && conf->gen.stack->state != GUC_SET)
		return val;
	if (conf->gen.stack == NULL && conf->gen.source != PGC_S_SESSION)
	{
		if (!s->per_write)
			return val;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s has a configured default (\"%s\")", s->name, val),
				 errdetail("%s is for one write statement; as a default (from %s) it would apply to every write.",
						   s->name, source_name(conf->gen.source)),
				 errhint("Remove the default (ALTER ROLE ... RESET %s, ALTER DATABASE ... RESET %s, or the configuration file) and use SET LOCAL %s in the transaction of the write.",
						 s->name, s->name, s->name)));
	}
	if (!s->per_write && conf->reset_val != NULL && strcmp(val, conf->reset_val) == 0)
		return val;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s is set for the session", s->name),
			 errdetail_session_value(s),
			 errhint("RESET %s, and set it with SET LOCAL %s (or set_config('%s', value, true)) in the transaction of the statement it is for.",
					 s->name, s->name, s->name)));
	return NULL;				/* keep compiler quiet */
}

/*
 * nedb_fdw_validator(options text[], catalog oid): the options each object
 * may have.
 */
Datum
nedb_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);
		char	   *val = defGetString(def);

		if (catalog == ForeignTableRelationId && strcmp(def->defname, "collection") == 0)
		{
			if (*val == '\0' || strlen(val) > NEDB_MAX_NAME)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
						 errmsg("option \"collection\" must be a name of 1 to %d bytes",
								NEDB_MAX_NAME)));
		}
		else if (catalog == ForeignTableRelationId && strcmp(def->defname, "as_of") == 0)
		{
			int64		seq;

			if (!parse_seq(val, &seq))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"as_of\": \"%s\"", val),
						 errhint("Give a seq, an integer >= 0.")));
		}
		else if (catalog == ForeignTableRelationId && strcmp(def->defname, "insert") == 0)
		{
			if (strcmp(val, "unique") != 0 && strcmp(val, "replace") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"insert\": \"%s\"", val),
						 errhint("Give 'unique' (INSERT of an existing id is a unique violation) or 'replace' (INSERT replaces the document).")));
		}
		else if (catalog == AttributeRelationId && strcmp(def->defname, "field") == 0)
		{
			if (*val == '\0' || strstr(val, "..") != NULL || val[strlen(val) - 1] == '.' || val[0] == '.')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("invalid value for option \"field\": \"%s\"", val),
						 errhint("Give a field name, or a dotted path such as 'a.b'.")));
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 errhint("%s",
							 catalog == ForeignTableRelationId
							 ? "Foreign tables of nedb take the options collection, as_of and insert."
							 : catalog == AttributeRelationId
							 ? "Columns of nedb foreign tables take the option field."
							 : "This object of nedb takes no options.")));
	}
	PG_RETURN_VOID();
}

/* a dotted path split into its keys (no quoting: keys are taken as written) */
static List *
split_path(const char *field)
{
	List	   *path = NIL;
	const char *p = field;

	for (;;)
	{
		const char *dot = strchr(p, '.');

		if (dot == NULL)
		{
			path = lappend(path, pstrdup(p));
			break;
		}
		path = lappend(path, pnstrdup(p, dot - p));
		p = dot + 1;
	}
	return path;
}

NedbTypeClass
nedb_type_class(Oid type)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return NEDB_TC_INT;
		case NUMERICOID:
			return NEDB_TC_NUMERIC;
		case FLOAT4OID:
		case FLOAT8OID:
			return NEDB_TC_FLOAT;
		case BOOLOID:
			return NEDB_TC_BOOL;
		case TEXTOID:
		case VARCHAROID:
			return NEDB_TC_TEXT;
		case JSONBOID:
			return NEDB_TC_JSONB;
		default:
			return NEDB_TC_OTHER;
	}
}

/* The mapping of a foreign table (the caller holds a lock on it). */
NedbTable *
nedb_table(Oid relid)
{
	ForeignTable *ft = GetForeignTable(relid);
	NedbTable  *t = palloc0(sizeof(NedbTable));
	Relation	rel;
	TupleDesc	desc;
	ListCell   *lc;

	t->relid = relid;
	t->cxt = CurrentMemoryContext;
	t->relname = get_rel_name(relid);
	t->coll = t->relname;
	foreach(lc, ft->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "collection") == 0)
			t->coll = defGetString(def);
		else if (strcmp(def->defname, "as_of") == 0)
			t->has_as_of = parse_seq(defGetString(def), &t->as_of);
		else if (strcmp(def->defname, "insert") == 0)
			t->insert_replace = strcmp(defGetString(def), "replace") == 0;
	}

	rel = table_open(relid, NoLock);
	desc = RelationGetDescr(rel);
	t->natts = desc->natts;
	t->cols = palloc0(sizeof(NedbColumn) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		NedbColumn *c = &t->cols[i];
		char	   *field = NULL;

		c->name = pstrdup(NameStr(att->attname));
		c->type = att->atttypid;
		c->typmod = att->atttypmod;
		c->tclass = nedb_type_class(att->atttypid);
		c->dropped = att->attisdropped;
		c->sorted_index = -1;
		if (c->dropped)
			continue;
		foreach(lc, GetForeignColumnOptions(relid, att->attnum))
		{
			DefElem    *def = lfirst(lc);

			if (strcmp(def->defname, "field") == 0)
				field = defGetString(def);
		}
		if (field == NULL && strcmp(c->name, "_id") == 0)
		{
			if (c->tclass != NEDB_TC_TEXT)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column \"_id\" of foreign table \"%s\" must be of type text",
								t->relname)));
			c->kind = NEDB_COL_ID;
			t->id_attno = att->attnum;
		}
		else if (field == NULL && strcmp(c->name, "_seq") == 0)
		{
			if (c->type != INT8OID)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("column \"_seq\" of foreign table \"%s\" must be of type bigint",
								t->relname)));
			c->kind = NEDB_COL_SEQ;
		}
		else if (field == NULL && strcmp(c->name, "doc") == 0 && c->type == JSONBOID)
		{
			c->kind = NEDB_COL_DOC;
			t->doc_attno = att->attnum;
		}
		else
		{
			c->kind = NEDB_COL_FIELD;
			c->field = field ? field : c->name;
			c->path = field ? split_path(field) : list_make1(c->name);
			/* its text, and what a number of it means, is lc_monetary's */
			if (getBaseType(c->type) == CASHOID)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("column \"%s\" of foreign table \"%s\" has type money, which nedb cannot store",
								c->name, t->relname),
						 errdetail("A money value is read and written in the currency of the session's lc_monetary, so a stored one would mean something else in another session."),
						 errhint("Use type numeric.")));
		}
	}
	table_close(rel, NoLock);
	return t;
}

/*
 * The seq a read of t sees, if any: the table's as_of option, else the
 * nedb.as_of setting.
 */
bool
nedb_read_as_of(NedbTable *t, int64 *as_of)
{
	if (t->has_as_of)
	{
		*as_of = t->as_of;
		return true;
	}
	return parse_seq(nedb_setting(NEDB_SET_AS_OF), as_of);
}
