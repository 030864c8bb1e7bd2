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

# p-th percentile (nearest rank) of latencies (column 3, microseconds) in
# pgbench per-transaction logs; prints milliseconds
pctl_ms() {
	local p=$1; shift
	cat "$@" | awk '{ print $3 }' | sort -n | awk -v p="$p" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
		printf "%.2f", v[r] / 1000 }'
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
