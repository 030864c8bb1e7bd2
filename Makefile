# NEDB for PostgreSQL (PGXS)
MODULE_big = nedb
OBJS = \
	src/nedb.o \
	src/util.o \
	src/acl.o \
	src/canon.o \
	src/op.o \
	src/session.o \
	src/chain.o \
	src/chain_notify.o \
	src/group_commit.o \
	src/staging.o \
	src/store.o \
	src/write.o \
	src/sign.o \
	src/keyfile.o \
	src/at_rest.o \
	src/track.o \
	src/track_rows.o \
	src/tx.o \
	src/read.o \
	src/versions.o \
	src/versions_scan.o \
	src/verify.o \
	src/aof.o \
	src/indexes.o \
	src/nql_parse.o \
	src/nql_eval.o \
	src/nql_graph.o \
	src/nql_group.o \
	src/nql_plan.o \
	src/nql_exec.o \
	src/nql_support.o \
	src/sorted_build.o \
	src/sorted_check.o \
	src/sorted_handler.o \
	src/sorted_insert.o \
	src/sorted_jsonb.o \
	src/sorted_page.o \
	src/sorted_scan.o \
	src/sorted_vacuum.o \
	src/sorted_xlog.o \
	src/fdw_options.o \
	src/fdw_convert.o \
	src/fdw_plan.o \
	src/fdw_scan.o \
	src/fdw_analyze.o \
	src/fdw_modify.o \
	src/fdw_import.o \
	src/log_tree.o \
	src/proof.o \
	src/gear.o \
	src/merkle.o \
	src/cascade_store.o \
	src/cascade_sql.o \
	src/repl_launcher.o \
	src/repl_apply.o \
	src/repl_sql.o \
	src/sweeper.o \
	src/rounds.o \
	src/digest_worker.o

EXTENSION = nedb
DATA = nedb--1.0.sql nedb--1.1.sql nedb--1.0--1.1.sql nedb--1.0.control
PGFILEDESC = "nedb - hash-chained, time-traveling document store"

SHLIB_LINK += -lsodium -lzstd -llzma -lssl -lcrypto
# the replication worker talks to its primary with libpq
PG_CPPFLAGS += -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL += $(libpq)

REGRESS = setup vectors write read chain tx ttl indexes aof errors nql nql_spec nql_robust sorted fdw fdw_plan fdw_insert fdw_settings proofs cascade repl security limits sequencing track changefeed signing encryption
REGRESS_OPTS = --inputdir=. --outputdir=.
ISOLATION = concurrency grants fdw_insert_race notify
ISOLATION_OPTS = --inputdir=.
TAP_TESTS = 1

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers
$(OBJS): $(wildcard src/*.h)
