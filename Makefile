# NEDB for PostgreSQL (PGXS)
MODULE_big = nedb
OBJS = \
	src/nedb.o \
	src/util.o \
	src/acl.o \
	src/canon.o \
	src/canon_scan.o \
	src/op.o \
	src/session.o \
	src/chain.o \
	src/chain_notify.o \
	src/changefeed.o \
	src/feed_payload.o \
	src/feed_scan.o \
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
	src/verify_range.o \
	src/verify_parallel.o \
	src/aof.o \
	src/indexes.o \
	src/nql_parse.o \
	src/nql_eval.o \
	src/nql_graph.o \
	src/nql_group.o \
	src/nql_plan.o \
	src/nql_exec.o \
	src/nql_support.o \
	src/nql_scan_node.o \
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
	src/digest_worker.o \
	src/auto_index.o \
	src/index_worker.o

EXTENSION = nedb
DATA = nedb--1.0.sql nedb--1.1.sql nedb--1.0--1.1.sql nedb--1.0.control
PGFILEDESC = "nedb - hash-chained, time-traveling document store"

SHLIB_LINK += -lsodium -lzstd -llzma -lssl -lcrypto
# the replication worker talks to its primary with libpq
PG_CPPFLAGS += -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL += $(libpq)

REGRESS = setup vectors write read chain tx ttl indexes aof errors nql nql_spec nql_robust nql_scan sorted fdw fdw_plan fdw_insert fdw_settings proofs cascade repl security limits sequencing track changefeed signing encryption auto_index verify_parallel
REGRESS_OPTS = --inputdir=. --outputdir=.
ISOLATION = concurrency grants fdw_insert_race notify index_cache
ISOLATION_OPTS = --inputdir=.
TAP_TESTS = 1

# The nedb command-line tool (cli/), a libpq client.  PGXS builds either a
# PROGRAM or a MODULE_big per Makefile, so the tool has its own link rule
# below and is installed into bindir as SCRIPTS_built (INSTALL_SCRIPT copies
# it with mode 755; make clean removes it).
CLI_OBJS = cli/nedb.o cli/json.o cli/aof_check.o cli/aof_crypt.o \
	cli/proof_check.o cli/digest_check.o cli/state.o
SCRIPTS_built = cli/nedb
EXTRA_CLEAN = $(CLI_OBJS)

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers
$(OBJS): $(wildcard src/*.h)

# libpgcommon gives the frontend its shortest round-trip float digits (Ryu)
cli/nedb: $(CLI_OBJS)
	$(CC) $(CFLAGS) $(CLI_OBJS) $(LDFLAGS) -L$(pkglibdir) -lpgcommon -lpgport \
		-L$(libdir) -lpq -lsodium -lm -pthread -o $@

$(CLI_OBJS): cli/nedb_cli.h

# PGXS removes $(bindir)/cli/nedb; the tool is installed as $(bindir)/nedb
uninstall: uninstall-cli
uninstall-cli:
	rm -f '$(DESTDIR)$(bindir)/nedb'
.PHONY: uninstall-cli
