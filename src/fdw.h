/*
 * fdw.h
 *	  Collections as foreign tables: FOREIGN DATA WRAPPER nedb.
 *
 * A foreign table maps a collection's live documents (or those AS OF a
 * seq) to rows: column _id is the document id, _seq the version's seq, a
 * jsonb column named doc the whole document, any other column a field
 * (column option field 'a.b' for a nested path).  Reads compile to one
 * parameterized statement over nedb.versions run as the schema owner;
 * writes go through the write path (write.h).
 */
#ifndef NEDB_FDW_H
#define NEDB_FDW_H

#include "access/tupdesc.h"
#include "commands/explain.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/relcache.h"

typedef enum NedbColKind
{
	NEDB_COL_ID,				/* _id: the document id */
	NEDB_COL_SEQ,				/* _seq: seq of the version */
	NEDB_COL_DOC,				/* doc (jsonb): the whole document */
	NEDB_COL_FIELD				/* a field of the document */
} NedbColKind;

/* how a column's values map to JSON (and which comparisons are the same) */
typedef enum NedbTypeClass
{
	NEDB_TC_INT,				/* int2, int4, int8: JSON integers */
	NEDB_TC_NUMERIC,			/* numeric: JSON numbers */
	NEDB_TC_FLOAT,				/* float4, float8: JSON numbers (no pushdown) */
	NEDB_TC_BOOL,				/* JSON true/false */
	NEDB_TC_TEXT,				/* text, varchar: JSON strings */
	NEDB_TC_JSONB,				/* jsonb: any JSON value, as is */
	NEDB_TC_OTHER				/* anything else: a JSON string in a form that does not
								 * depend on the session (fdw_convert.c) */
} NedbTypeClass;

typedef struct NedbColumn
{
	NedbColKind kind;
	bool		dropped;
	char	   *name;			/* attribute name */
	char	   *field;			/* the field as written ('a.b') */
	List	   *path;			/* the field's keys (char *) */
	Oid			type;
	int32		typmod;
	NedbTypeClass tclass;
	bool		in_ready;		/* in_fn looked up */
	Oid			in_base;		/* the type, or a domain's base type */
	int8		in_fixed;		/* the settings fixed while reading (fdw_convert.c) */
	FmgrInfo	in_fn;			/* the type's input function */
	Oid			in_ioparam;
	int8		sorted_index;	/* the field has a sorted index: -1 not yet looked up */
} NedbColumn;

typedef struct NedbTable
{
	Oid			relid;
	char	   *relname;
	char	   *coll;
	bool		has_as_of;		/* table option as_of */
	int64		as_of;
	bool		insert_replace; /* table option insert 'replace': INSERT puts */
	int			natts;
	NedbColumn *cols;			/* by attno - 1 */
	AttrNumber	id_attno;		/* the _id column, 0 if none */
	AttrNumber	doc_attno;		/* the doc column, 0 if none */
	MemoryContext cxt;			/* where this lives */
} NedbTable;

/*
 * The settings that steer foreign-table reads and writes.  Each is honored
 * only where it cannot outlive its purpose: set with SET LOCAL (or
 * set_config(..., true), or a function's SET clause) in the current
 * transaction, or for all but nedb.idem and nedb.nonce a configured
 * default (postgresql.conf, ALTER ROLE/DATABASE SET, connection options).
 * A value set with plain SET for the session is refused (fdw_options.c).
 */
typedef enum NedbSetting
{
	NEDB_SET_AS_OF,
	NEDB_SET_CLIENT,
	NEDB_SET_NONCE,				/* per write statement */
	NEDB_SET_IDEM,				/* per write statement */
	NEDB_SET_CAUSED_BY,
	NEDB_SET_EVIDENCE,
	NEDB_SET_CONFIDENCE,
	NEDB_SET_VALID_FROM,
	NEDB_SET_VALID_TO,
	NEDB_NUM_SETTINGS
} NedbSetting;

/* fdw_options.c */
extern NedbTable *nedb_table(Oid relid);
extern NedbTypeClass nedb_type_class(Oid type);
extern bool nedb_read_as_of(NedbTable *t, int64 *as_of);
extern void nedb_fdw_init(void);
/* the value in force (NULL: none); ERROR if it was set for the session */
extern const char *nedb_setting(NedbSetting s);
extern const char *nedb_setting_name(NedbSetting s);
/* changes whenever the setting is assigned (SET, SET LOCAL, RESET, rollback) */
extern uint64 nedb_setting_generation(NedbSetting s);

/* fdw_convert.c: documents to rows and back */
extern void nedb_doc_to_values(NedbTable *t, const char *id, int64 seq, Jsonb *doc,
							   Datum *values, bool *nulls);
extern Jsonb *nedb_values_to_doc(NedbTable *t, Jsonb *base, Datum *values, bool *nulls,
								 Bitmapset *only_attnos);
extern Jsonb *nedb_datum_to_jsonb(Datum d, Oid type);

/* fdw_scan.c */
extern int	nedb_scan_parts(NedbTable *t, List *quals, int order_attno, int order_flags,
							int *parts);
extern void nedb_fdw_scan_sql(StringInfo sql, NedbTable *t, List *quals, int order_attno,
							  int order_flags, int64 limit, bool has_as_of, int part);
extern bool nedb_storage_estimate(SPIPlanPtr plan, double *rows, Cost *startup,
								  Cost *total);
extern void nedb_fdw_estimate(NedbTable *t, List *quals, int order_attno, int order_flags,
							  int64 limit, double *rows, Cost *startup, Cost *total);
extern void nedb_fdw_begin_scan(ForeignScanState *node, int eflags);
extern TupleTableSlot *nedb_fdw_iterate_scan(ForeignScanState *node);
extern void nedb_fdw_rescan(ForeignScanState *node);
extern void nedb_fdw_end_scan(ForeignScanState *node);
extern void nedb_fdw_explain_scan(ForeignScanState *node, ExplainState *es);

/* fdw_analyze.c: the size of a collection, ANALYZE */
typedef enum NedbSizeSource
{
	NEDB_SIZE_ANALYZE_SCALED,	/* ANALYZE's count, scaled by an index's size now */
	NEDB_SIZE_ANALYZE,			/* ANALYZE's count */
	NEDB_SIZE_INDEX,			/* an index's size now, times the live share */
	NEDB_SIZE_STORAGE			/* the storage statistics */
} NedbSizeSource;

extern double nedb_fdw_live_rows(NedbTable *t, double reltuples, BlockNumber relpages,
								 NedbSizeSource *source);
extern const char *nedb_size_source_name(NedbSizeSource source);
extern bool nedb_fdw_analyze(Relation rel, AcquireSampleRowsFunc *func,
							 BlockNumber *totalpages);

/* fdw_modify.c */
extern void nedb_fdw_add_update_targets(PlannerInfo *root, Index rtindex,
										RangeTblEntry *target_rte, Relation target_relation);
extern List *nedb_fdw_plan_modify(PlannerInfo *root, ModifyTable *plan,
								  Index resultRelation, int subplan_index);
extern void nedb_fdw_begin_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								  List *fdw_private, int subplan_index, int eflags);
extern TupleTableSlot *nedb_fdw_insert(EState *estate, ResultRelInfo *rinfo,
									   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern TupleTableSlot *nedb_fdw_update(EState *estate, ResultRelInfo *rinfo,
									   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern TupleTableSlot *nedb_fdw_delete(EState *estate, ResultRelInfo *rinfo,
									   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern void nedb_fdw_end_modify(EState *estate, ResultRelInfo *rinfo);
extern void nedb_fdw_begin_insert(ModifyTableState *mtstate, ResultRelInfo *rinfo);
extern void nedb_fdw_end_insert(EState *estate, ResultRelInfo *rinfo);
extern int	nedb_fdw_updatable(Relation rel);

/* fdw_import.c */
extern List *nedb_fdw_import(ImportForeignSchemaStmt *stmt, Oid serverOid);

/* a pushed condition "_id = ANY (text[])", beside the btree strategies */
#define NEDB_STRATEGY_ANY		6

#define NEDB_ORDER_DESC			0x01
#define NEDB_ORDER_NULLS_FIRST	0x02

#endif
