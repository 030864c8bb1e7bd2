# bench/lib.sh -- helpers shared by the benchmark pieces; sourced by run.sh.
# Everything here talks to the throwaway cluster run.sh started
# ($NB_DIR, $NB_PORT); nothing touches any other server.

PGBIN=${PGBIN:-${NEDB_PGBIN:-/usr/lib/postgresql/15/bin}}
BLOCKS_SQL=${BLOCKS_SQL:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/demo/blocks.sql}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# psql against the bench cluster: q DB [psql args...]
q() {
	local db=$1; shift
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$NB_DIR" -p "$NB_PORT" -U postgres -d "$db" "$@"
}
# one value: qv DB 'SELECT ...'
qv() { q "$1" -At -c "$2"; }

# pgbench against the bench cluster: pgb DB [pgbench args...]; output to stdout
pgb() {
	local db=$1; shift
	"$PGBIN/pgbench" -n -h "$NB_DIR" -p "$NB_PORT" -U postgres "$@" "$db" 2>&1
}
# tps ("without initial connection time") from pgbench output on stdin
pgb_tps() { awk '/^tps = / { print $3; exit }'; }
# average latency in ms from pgbench output on stdin
pgb_lat() { awk '/^latency average = / { print $4; exit }'; }
# failed transactions from pgbench output on stdin (0 if none reported)
pgb_failed() { awk '/^number of failed transactions: / { print $5; f=1; exit } END { if (!f) print 0 }'; }

# pgbench run that must succeed without failed transactions; prints its output
pgb_checked() {
	local out
	out=$(pgb "$@") || { printf '%s\n' "$out" >&2; die "pgbench failed"; }
	printf '%s\n' "$out" >>"$OUT/pgbench.log"
	if [ "$(printf '%s\n' "$out" | pgb_failed)" != 0 ]; then
		printf '%s\n' "$out" >&2
		die "pgbench reported failed transactions"
	fi
	printf '%s\n' "$out"
}

now_s() { date +%s.%N; }
# elapsed seconds since $1 (from now_s)
since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.3f", b - a }'; }

# median of the arguments (numbers)
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit 1
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# arithmetic with awk: calc 'a / b' (prints with %.*g precision 6)
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }
# fmt VALUE DECIMALS
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; }
# PASS or MISS: verdict 'condition in awk syntax'
verdict() { awk "BEGIN { exit !($1) }" && echo PASS || echo MISS; }

# record one summary line (stdout and the summary file)
summary() {
	printf '%s\n' "$*"
	printf '%s\n' "$*" >>"$SUMMARY"
}

# p-th percentile (nearest rank) of column COL (microseconds) of the files:
# pctl_col_ms P COL FILE...; prints milliseconds
pctl_col_ms() {
	local p=$1 col=$2; shift 2
	cat "$@" | awk -v c="$col" '{ print $c }' | sort -n | awk -v p="$p" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
		printf "%.2f", v[r] / 1000 }'
}
# p-th percentile of latencies (column 3, microseconds) in pgbench
# per-transaction logs; prints milliseconds
pctl_ms() {
	local p=$1; shift
	pctl_col_ms "$p" 3 "$@"
}
count_lines() { cat "$@" | wc -l; }

# stage the block documents of blocks.sql as table $2 (height, id, doc) in DB $1
stage_blocks() {
	local db=$1 table=$2 n=$3
	{
		echo "DROP TABLE IF EXISTS $table;"
		echo "CREATE TABLE $table AS"
		cat "$BLOCKS_SQL"
		echo "CREATE UNIQUE INDEX ON $table (height);"
		echo "ANALYZE $table;"
	} | q "$db" -v n="$n"
	[ "$(qv "$db" "SELECT count(*) FROM $table")" = "$n" ] || die "staging $table is not $n rows"
}

# a fresh chain in DB: drop and re-create the extension
reset_nedb() {
	q "$1" -c "DROP EXTENSION IF EXISTS nedb CASCADE" -c "CREATE EXTENSION nedb"
}

checkpoint() { q "${1:-postgres}" -c "CHECKPOINT"; }

# wait until the server answers again (after a backend crash the postmaster
# re-initializes by itself); false after 60 s
wait_ready() {
	local _
	for _ in $(seq 1 600); do
		qv postgres "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------------
# The mix's backfill (mix.sh, seqlag.sh; db "bench"): two clients writing
# block documents in 500-document transactions, ids <block id>.<batch>
#   client: BEGIN, 500 single-row statements, COMMIT (generated scripts)
#   server: one statement per 500 documents (mix_backfill_server_*.pgb)
#   nedb:  nedb.put into collection 'mixb'
#   plain: INSERT into plain_mix (id text PRIMARY KEY, height btree, doc)
# NEDB's backfill clients get $MIX_BACKFILL_PGOPTIONS (if set) as PGOPTIONS.
# ---------------------------------------------------------------------------
MIX_BACKFILL_PGOPTIONS=${MIX_BACKFILL_PGOPTIONS:-}

# a client-batch script: $1 = statement with :h (height) and :b (batch)
mix_gen_client_script() {
	local i
	echo "SELECT b, (b % 200) * 500 AS base FROM (SELECT nextval('mix_batch') AS b) s \\gset"
	echo "BEGIN;"
	for i in $(seq 1 500); do
		echo "${1//:h/:base + $i};"
	done
	echo "COMMIT;"
}
# table plain_mix, sequence mix_batch and the four scripts in $GEN
mix_backfill_setup() {
	q bench <<'SQL'
DROP TABLE IF EXISTS plain_mix;
CREATE TABLE plain_mix (id text PRIMARY KEY, height bigint NOT NULL, doc jsonb NOT NULL);
CREATE INDEX plain_mix_height ON plain_mix (height);
DROP SEQUENCE IF EXISTS mix_batch;
CREATE SEQUENCE mix_batch;
SQL
	mix_gen_client_script "SELECT nedb.put('mixb', id || '.' || :b, doc) FROM staging WHERE height = :h" >"$GEN/mix_backfill_client_nedb.pgb"
	mix_gen_client_script "INSERT INTO plain_mix SELECT id || '.' || :b, height, doc FROM staging WHERE height = :h" >"$GEN/mix_backfill_client_plain.pgb"
	cp "$BENCH/mix_backfill_server_nedb.pgb" "$BENCH/mix_backfill_server_plain.pgb" "$GEN/"
}

# a fresh chain, an empty plain_mix, the batch sequence back at 1, a CHECKPOINT
mix_backfill_reset() {
	reset_nedb bench
	q bench -c "TRUNCATE plain_mix" -c "SELECT setval('mix_batch', 1, false)" >/dev/null
	checkpoint bench
}

# start the two backfill clients in the background for SECONDS, pgbench's
# output to OUTFILE: mix_backfill_start client|server nedb|plain SECONDS OUTFILE;
# sets bf_pid (the caller's EXIT trap kills it if the benchmark fails)
mix_backfill_start() {
	local kind=$1 side=$2 secs=$3 out=$4
	if [ "$side" = nedb ] && [ -n "$MIX_BACKFILL_PGOPTIONS" ]; then
		PGOPTIONS=$MIX_BACKFILL_PGOPTIONS pgb bench -M prepared -c 2 -j 2 -T "$secs" \
			-f "$GEN/mix_backfill_${kind}_$side.pgb" >"$out" &
	else
		pgb bench -M prepared -c 2 -j 2 -T "$secs" -f "$GEN/mix_backfill_${kind}_$side.pgb" >"$out" &
	fi
	bf_pid=$!
}

# wait for the backfill started by mix_backfill_start OUTFILE, which must
# have succeeded without failed transactions; sets mix_bf (docs/s).  Not in
# a command substitution: the backfill is this shell's child.
mix_backfill_wait() {
	local out=$1 rc=0
	wait "$bf_pid" || rc=$?
	bf_pid=
	cat "$out" >>"$OUT/pgbench.log"
	if [ $rc != 0 ] || [ "$(pgb_failed <"$out")" != 0 ]; then
		cat "$out" >&2
		die "backfill pgbench failed"
	fi
	# shellcheck disable=SC2034 # read by mix.sh and seqlag.sh
	mix_bf=$(calc "$(pgb_tps <"$out") * 500")
}

# ", nedb backfill PGOPTIONS '...'" for a summary line when it is set
mix_backfill_opts() {
	[ -z "$MIX_BACKFILL_PGOPTIONS" ] || printf ", nedb backfill PGOPTIONS '%s'" "$MIX_BACKFILL_PGOPTIONS"
}
