#!/usr/bin/env bash
# bench/fuzz.sh -- SQL-level fuzzing of nql() and nedb.explain().
#
#   sudo bash bench/fuzz.sh [queries (default 300000)] [max seconds (default 600)] [seed (default 1)]
#
# A throwaway cluster (Unix socket only, in $NF_DIR, default /tmp/nedb-sqlfuzz,
# port $NF_PORT, default 55460) with some data (collections of mixed types
# with history, deletes, expiry, validity, causes, edges, eq/sorted/search
# indexes); then the generated and mutated queries of bench/nqlfuzz.py, each
# its own statement, in batches through psql, statement_timeout 5 s. After
# each batch the server log is checked for a crash (terminated by signal,
# PANIC, TRAP) and for XX000 errors, with the statements that raised them;
# the postmaster restarts after a crash and the run goes on. Stops at the
# count or the time; prints counts (statements, errors by SQLSTATE,
# timeouts, crashes, XX000, statements that ran on 30 s past the timeout:
# a watchdog polls pg_stat_activity) and exits 1 if it found a crash, an
# XX000 or such a stall.
# Needs root (the cluster runs as postgres) and the extension installed.
# Environment: NEDB_PGBIN (server binaries), NF_KEEP=1 keeps the cluster
# directory; findings are kept in $NF_DIR/findings either way.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
COUNT=${1:-300000}
SECS=${2:-600}
SEED=${3:-1}
BATCH=${NF_BATCH:-5000}
PGBIN=${PGBIN:-${NEDB_PGBIN:-/usr/lib/postgresql/15/bin}}
NF_DIR=${NF_DIR:-/tmp/nedb-sqlfuzz}
NF_PORT=${NF_PORT:-55460}
DATA=$NF_DIR/data
LOG=$NF_DIR/server.log
FIND=$NF_DIR/findings

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }
as_pg() { runuser -u postgres -- "$@"; }
psql_f() { as_pg "$PGBIN/psql" -X -q -h "$NF_DIR" -p "$NF_PORT" -U postgres -d postgres "$@"; }

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres OS user)"
[ -f "$("$PGBIN/pg_config" --sharedir)/extension/nedb.control" ] || die "extension nedb is not installed"
case $NF_DIR in /*/?*) ;; *) die "NF_DIR must be an absolute path below a directory" ;; esac
if [ -e "$NF_DIR" ] && [ ! -e "$NF_DIR/.nedb-sqlfuzz" ]; then
	die "$NF_DIR exists and is not ours; remove it or set NF_DIR"
fi
[ -f "$DATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$NF_DIR"
mkdir -p "$NF_DIR" "$FIND"
touch "$NF_DIR/.nedb-sqlfuzz"
chown -R postgres: "$NF_DIR"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
	if [ "${NF_KEEP:-0}" != 1 ]; then rm -rf "$DATA" "$NF_DIR"/batch.sql; fi
	exit "$rc"
}
trap cleanup EXIT INT TERM

(cd "$NF_DIR" && as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N >/dev/null)
cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = ''
port = $NF_PORT
unix_socket_directories = '$NF_DIR'
fsync = off
restart_after_crash = on
log_line_prefix = '%m [%p] %e '
log_min_error_statement = error
statement_timeout = '5s'
CONF
(cd "$NF_DIR" && as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w start >/dev/null)

log "loading data"
psql_f -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION nedb;
SELECT count(nedb.put('blocks', 'b' || lpad(i::text, 4, '0'),
       jsonb_build_object('height', i, 'n', i % 17, 'k', 'k' || (i % 5), 's', 'rust zeta word' || (i % 3),
                          'tags', jsonb_build_array(i % 2, 'x'), 'obj', jsonb_build_object('a', i % 4))))
  FROM generate_series(1, 1500) i;
SELECT count(nedb.put('blocks', 'b' || lpad(i::text, 4, '0'), jsonb_build_object('height', i * 10, 'n', -i)))
  FROM generate_series(1, 100) i;
SELECT count(nedb.delete('blocks', 'b' || lpad(i::text, 4, '0'))) FROM generate_series(200, 220) i;
SELECT nedb.create_index('blocks', 'height', 'sorted');
SELECT nedb.create_index('blocks', 'k', 'eq');
SELECT nedb.create_index('blocks', 's', 'search');
SELECT count(nedb.put('mixed', 'm' || i, jsonb_build_object('v',
       (ARRAY['1', '1.0', 'true', 'false', '"1"', 'null', '[1, "x"]', '{"a": 1}', '2.5', '-0', '"é€"',
              '1e300', '""', '0.1', '123456789012345678901234567890', '1e400', '-1e400'])[1 + i % 17]::jsonb,
       'n', CASE WHEN i % 50 = 0 THEN '1e400'::jsonb ELSE to_jsonb(i) END)))
  FROM generate_series(1, 300) i;
SELECT nedb.create_index('mixed', 'v', 'sorted');
SELECT count(nedb.put('plain', 'p' || i, jsonb_build_object('n', i, 'v', i % 7, 's', 'word ' || i)))
  FROM generate_series(1, 500) i;
SELECT nedb.put('facts', 'f' || i, jsonb_build_object('claim', 'c' || i),
                caused_by => ARRAY[greatest(i - 1, 0)::bigint, greatest(i - 2, 0)::bigint],
                valid_from => '2024-01-0' || (1 + i % 9), valid_to => '2024-12-31')
  FROM generate_series(1, 60) i;
SELECT nedb.put('plain', 'ttl' || i, '{"n": 0}', ttl => '1 millisecond') FROM generate_series(1, 20) i;
SELECT count(nedb.link('blocks:b' || lpad(i::text, 4, '0'), 'next', 'blocks:b' || lpad((i % 1500 + 1)::text, 4, '0')))
  FROM generate_series(1, 1500) i;
SELECT count(nedb.link('blocks:b' || lpad(i::text, 4, '0'), 'cites', 'plain:p' || (i % 500 + 1)))
  FROM generate_series(1, 300) i;
SQL

python3 "$REPO/tests/fuzz/seeds.py" "$REPO"/sql/nql*.sql "$NF_DIR/seeds" >/dev/null
for f in "$NF_DIR"/seeds/*; do tr '\n' ' ' <"$f"; echo; done >"$NF_DIR/seeds.txt"
chown -R postgres: "$NF_DIR"

declare -A codes=()
statements=0 crashes=0 internal=0 batches=0 stalls=0
STALL_S=${NF_STALL_S:-30}
start=$(date +%s)
: >"$LOG"
while ((statements < COUNT)) && (($(date +%s) - start < SECS)); do
	n=$((COUNT - statements < BATCH ? COUNT - statements : BATCH))
	python3 "$HERE/nqlfuzz.py" "$n" "$((SEED * 1000003 + batches))" "$NF_DIR/seeds.txt" >"$NF_DIR/batch.sql"
	chown postgres: "$NF_DIR/batch.sql"
	psql_f -f "$NF_DIR/batch.sql" >/dev/null 2>&1 &
	client=$!
	# the watchdog: a statement still running well past statement_timeout
	# cannot be cancelled; record it, then restart the server (immediate)
	while kill -0 "$client" 2>/dev/null; do
		sleep 2
		stuck=$(psql_f -At -c "SELECT pid FROM pg_stat_activity WHERE state = 'active'
		           AND pid <> pg_backend_pid() AND now() - query_start > interval '$STALL_S s' LIMIT 1" 2>/dev/null || true)
		if [ -n "$stuck" ]; then
			stalls=$((stalls + 1))
			psql_f -At -c "SELECT left(query, 4000) FROM pg_stat_activity WHERE pid = $stuck" \
				>"$FIND/stall-batch-$batches.sql" 2>/dev/null || true
			log "batch $batches: a statement ran over ${STALL_S}s, not cancelled (see $FIND/stall-batch-$batches.sql); restarting"
			kill "$client" 2>/dev/null || true
			as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
			(cd "$NF_DIR" && as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w start >/dev/null)
			break
		fi
	done
	wait "$client" 2>/dev/null || true
	statements=$((statements + n))
	batches=$((batches + 1))
	# the log of this batch: count, keep what matters, then start it afresh
	cp "$LOG" "$NF_DIR/batch.log"
	: >"$LOG"
	while read -r code cnt; do
		codes[$code]=$((${codes[$code]:-0} + cnt))
	done < <(awk '$6 == "ERROR:" { c[$5]++ } END { for (k in c) print k, c[k] }' "$NF_DIR/batch.log")
	if grep -qE 'terminated by signal|PANIC|TRAP:' "$NF_DIR/batch.log"; then
		crashes=$((crashes + $(grep -cE 'terminated by signal|PANIC|TRAP:' "$NF_DIR/batch.log")))
		cp "$NF_DIR/batch.sql" "$FIND/crash-batch-$batches.sql"
		grep -E -B2 -A4 'terminated by signal|PANIC|TRAP:' "$NF_DIR/batch.log" | cut -c1-2000 >"$FIND/crash-batch-$batches.log"
		log "batch $batches: a server process crashed (see $FIND/crash-batch-$batches.*)"
		for _ in $(seq 60); do psql_f -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
	fi
	if grep -q ' XX000 ERROR:' "$NF_DIR/batch.log"; then
		internal=$((internal + $(grep -c ' XX000 ERROR:' "$NF_DIR/batch.log")))
		grep -A1 ' XX000 ERROR:' "$NF_DIR/batch.log" | cut -c1-2000 >>"$FIND/xx000.log"
		log "batch $batches: XX000 errors (see $FIND/xx000.log)"
	fi
	log "batch $batches: $statements statements"
	[ -f "$DATA/postmaster.pid" ] || die "the server is gone"
done

errors=0
for c in "${!codes[@]}"; do errors=$((errors + codes[$c])); done
echo "statements: $statements in $(($(date +%s) - start)) s (seed $SEED)"
echo "errors: $errors ($(for c in "${!codes[@]}"; do echo "$c=${codes[$c]}"; done | sort | tr '\n' ' '))"
echo "timeouts (57014): ${codes[57014]:-0}"
echo "not cancelled within ${STALL_S} s (statement_timeout 5 s): $stalls"
echo "crashes: $crashes"
echo "XX000: $internal"
((crashes == 0 && internal == 0 && stalls == 0))
