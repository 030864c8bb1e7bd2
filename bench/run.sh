#!/usr/bin/env bash
# bench/run.sh -- NEDB vs plain Postgres, measured in one throwaway cluster.
#
#   bash bench/run.sh [ingest] [concurrent] [mix] [seqlag] [verify] [restart] [asof] [nql] [sorted] [queue] [fdw] [cascade] [proofs] [changefeed] [repl] [track] [encryption] [index_build]
#
# Runs all benchmarks when no names are given (always in the order above).
# Needs root (the cluster runs as the postgres OS user) and the extension
# already installed (make install in the repository); installs nothing.
# Output: one summary line per figure on stdout and in bench/out/summary.txt;
# raw pgbench output in bench/out/pgbench.log, per-transaction logs and
# generated scripts under bench/out/.
#
# Environment: NB_DIR (default /tmp/nb), NB_PORT (55450), NB_KEEP=1 keeps
# the data directory after the run.
set -euo pipefail
shopt -s inherit_errexit

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export NB_DIR=${NB_DIR:-/tmp/nb}
export NB_PORT=${NB_PORT:-55450}
OUT=$BENCH/out
GEN=$OUT/gen
SUMMARY=$OUT/summary.txt
PGDATA_NB=$NB_DIR/data
ALL=(ingest concurrent mix seqlag verify restart asof nql sorted queue fdw cascade proofs changefeed repl track encryption index_build)

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres OS user)"
[ -x "$PGBIN/pg_ctl" ] || die "no $PGBIN/pg_ctl"
[ -r "$BLOCKS_SQL" ] || die "no $BLOCKS_SQL"
[ -f "$("$PGBIN/pg_config" --sharedir)/extension/nedb.control" ] ||
	die "extension nedb is not installed (make install in the repository)"

# which benchmarks, in canonical order
declare -A want=()
if [ $# -eq 0 ]; then
	for b in "${ALL[@]}"; do want[$b]=1; done
else
	for b in "$@"; do
		case " ${ALL[*]} " in *" $b "*) want[$b]=1 ;; *) die "unknown benchmark '$b' (known: ${ALL[*]})" ;; esac
	done
fi

pgctl() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA_NB" "$@"; }
cluster_running() { [ -f "$PGDATA_NB/postmaster.pid" ] && pgctl status >/dev/null 2>&1; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -f "$NB_DIR/server.log" ] && cp "$NB_DIR/server.log" "$OUT/server.log"
	if cluster_running; then
		log "stopping the bench cluster"
		pgctl stop -m fast -t 60 >/dev/null 2>&1 || pgctl stop -m immediate >/dev/null 2>&1 || true
	fi
	if [ "${NB_KEEP:-0}" != 1 ]; then
		[ -e "$NB_DIR/.nedb-bench" ] && rm -rf "$NB_DIR"
	else
		log "kept $NB_DIR (NB_KEEP=1)"
	fi
	exit "$rc"
}

# ---------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------
# NB_DIR is removed at the start and the end: only ever one of ours
case $NB_DIR in /*/?*) ;; *) die "NB_DIR must be an absolute path below a directory: $NB_DIR" ;; esac
if [ -e "$NB_DIR" ] && [ ! -e "$NB_DIR/.nedb-bench" ]; then
	die "$NB_DIR exists and is not a bench cluster directory; remove it or set NB_DIR"
fi
if [ -e "$NB_DIR/.nedb-bench" ] && cluster_running; then
	log "a previous bench cluster is still running in $PGDATA_NB; stopping it"
	pgctl stop -m immediate >/dev/null
fi
rm -rf "$NB_DIR"
mkdir -p "$NB_DIR" "$OUT" "$GEN"
touch "$NB_DIR/.nedb-bench"
chown postgres: "$NB_DIR"
chmod 700 "$NB_DIR"
rm -f "$SUMMARY" "$OUT/pgbench.log" "$OUT/server.log" "$OUT"/*_log.* "$OUT"/*.out "$GEN"/*
trap cleanup EXIT
trap 'exit 130' INT TERM

log "initdb in $PGDATA_NB"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA_NB" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$PGDATA_NB/postgresql.conf" <<EOF

# --- bench/run.sh ---
port = $NB_PORT
listen_addresses = ''
unix_socket_directories = '$NB_DIR'
max_connections = 50
shared_buffers = 1GB
max_wal_size = 4GB
checkpoint_timeout = 30min
fsync = on
synchronous_commit = on
jit = off
log_checkpoints = on
log_min_duration_statement = -1
EOF
pgctl -l "$NB_DIR/server.log" -w -t 120 start >/dev/null
log "cluster up: $("$PGBIN/postgres" --version), socket $NB_DIR port $NB_PORT"

so_sum() { md5sum "$("$PGBIN/pg_config" --pkglibdir)/nedb.so" | cut -c1-12; }
so_at_start=$(so_sum)
{
	echo "# NEDB benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $("$PGBIN/postgres" --version)"
	echo "# nedb source at $(git -C "$BENCH/.." rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$BENCH/.." diff --quiet -- src nedb--1.0.sql 2>/dev/null || echo ' (src modified)'), installed nedb.so md5 $so_at_start"
} >"$SUMMARY"

# ---------------------------------------------------------------------------
# Shared data: db "bench" (100k staged block docs), db "big" (1M docs)
# ---------------------------------------------------------------------------
bench_db_ready=0
need_bench_db() {
	[ $bench_db_ready = 1 ] && return
	log "db bench: staging 100,000 block documents"
	q postgres -c "CREATE DATABASE bench"
	q bench -c "CREATE EXTENSION nedb"
	stage_blocks bench staging 100000
	bench_db_ready=1
}

big_db_ready=0
need_big_db() {
	[ $big_db_ready = 1 ] && return
	local t0 t1 tp tn
	t0=$(now_s)
	log "db big: loading 1,000,000 block documents into a plain table and into NEDB (takes a few minutes)"
	q postgres -c "CREATE DATABASE big"
	q big -c "CREATE EXTENSION nedb"
	stage_blocks big staging 1000000
	checkpoint big
	t1=$(now_s)
	q big -f "$BENCH/load_big_plain.sql"
	tp=$(since "$t1")
	checkpoint big
	t1=$(now_s)
	q big -f "$BENCH/load_big_nedb.sql"
	tn=$(since "$t1")
	[ "$(qv big "SELECT nedb.seq()")" = 999999 ] || die "big: nedb.seq() is not 999999 after the load"
	[ "$(qv big "SELECT count(*) FROM plain_big")" = 1000000 ] || die "big: plain_big is not 1,000,000 rows"
	# hint bits and visibility maps set for both sides, then a clean start
	q big -c "VACUUM (ANALYZE)"
	checkpoint big
	big_db_ready=1
	log "db big loaded in $(since "$t0") s (plain INSERT ... SELECT $tp s, nedb puts $tn s)"
	echo "# big db: 1M block docs; load: plain one INSERT ... SELECT $tp s, nedb.put in 500-doc transactions $tn s ($(fmt "$(calc "1000000 / $tn")" 0) docs/s); total with staging and VACUUM $(since "$t0") s" >>"$SUMMARY"
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
crashes() { grep -c 'terminated by signal' "$NB_DIR/server.log" || true; }

declare -A took=()
failed=()
t_all=$(now_s)
for b in "${ALL[@]}"; do
	[ -n "${want[$b]:-}" ] || continue
	# each benchmark's databases, so that any subset runs on its own
	case $b in
		ingest | concurrent | mix | seqlag) need_bench_db ;;
		verify) need_big_db; need_bench_db ;;
		restart | asof | nql | fdw | proofs | changefeed) need_big_db ;;
	esac
	log "=== $b"
	bench_t0=$(now_s)
	crashes_before=$(crashes)
	# each benchmark in a subshell: a failure is reported and the run goes on
	set +e
	(
		set -e
		# shellcheck source=/dev/null
		. "$BENCH/$b.sh"
	)
	rc=$?
	set -e
	took[$b]=$(since "$bench_t0")
	crashed=$(($(crashes) - crashes_before))
	if [ $rc != 0 ] || [ $crashed != 0 ]; then
		failed+=("$b")
		summary "$b: FAILED (exit status $rc, $crashed server process crash(es) in the server log during it; see the output above and bench/out/server.log)"
		cluster_running || pgctl -l "$NB_DIR/server.log" -W start >/dev/null || true
		wait_ready || die "the cluster does not come back after $b failed"
	fi
	log "=== $b took ${took[$b]} s"
done

{
	for b in "${ALL[@]}"; do
		[ -n "${took[$b]:-}" ] && echo "# $b took ${took[$b]} s"
	done
	echo "# total $(since "$t_all") s (plus cluster setup)"
	if [ "$(so_sum)" != "$so_at_start" ]; then
		echo "# WARNING: the installed nedb.so changed during the run ($so_at_start -> $(so_sum)); figures may mix builds"
	fi
} | tee -a "$SUMMARY" >&2

echo >&2
log "summary ($SUMMARY):"
grep -v '^#' "$SUMMARY" >&2 || true
[ ${#failed[@]} = 0 ] || die "failed: ${failed[*]}"
