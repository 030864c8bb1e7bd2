# bench/seqlag.sh -- seq lag (sourced by run.sh; db "bench").
#
# How long after a writer's COMMIT returns its op is readable, with its seq
# and hash, by another session, while the mix's load runs: two backfill
# clients as in mix.sh's client variant (BEGIN, 500 single-row statements,
# COMMIT; NEDB's get MIX_BACKFILL_PGOPTIONS) in the background, and
# seqlag.c (built here with libpq) taking up to SEQLAG_N samples (300), one
# every SEQLAG_T / SEQLAG_N seconds (SEQLAG_T: MIX_T, 20) and none started
# after SEQLAG_T (a sample that waits for the chain takes longer than its
# slot: the count taken is printed), on two connections of its own:
#   nedb:  A: BEGIN; SELECT nedb.put('lag', <unique id>, '{}'); COMMIT
#          B: SELECT seq, hash FROM nedb.log for that op (found through
#             nedb.versions' (coll, id) index) until both are non-null
#   plain: A: BEGIN; INSERT INTO plain_lag (id text PRIMARY KEY, doc jsonb); COMMIT
#          B: SELECT id FROM plain_lag WHERE id = <the id> until the row is there
# lag = the time the poll that saw it returned - the time COMMIT returned, so
# at least one poll's round trip: the first poll's round trip is printed
# beside it (the bare cost of looking), and how many samples needed more
# than one poll.  Fresh chain / empty tables and a CHECKPOINT before each
# side; synchronous_commit = on; p50/p99 by nearest rank.
# Bar (issue 14): NEDB p99 < 50 ms; plain is the context.

SEQLAG_N=${SEQLAG_N:-300}
SEQLAG_T=${SEQLAG_T:-${MIX_T:-20}}
# a failure must not leave the background backfill running
bf_pid=
trap '[ -z "$bf_pid" ] || kill "$bf_pid" 2>/dev/null || true' EXIT

command -v cc >/dev/null || die "seqlag: no C compiler (cc) to build bench/seqlag.c"
cc -O2 -Wall -o "$GEN/seqlag" "$BENCH/seqlag.c" -I"$("$PGBIN/pg_config" --includedir)" \
	-L"$("$PGBIN/pg_config" --libdir)" -lpq

mix_backfill_setup
q bench -c "DROP TABLE IF EXISTS plain_lag" -c "CREATE TABLE plain_lag (id text PRIMARY KEY, doc jsonb NOT NULL)"

# writer's statement, poll ($1: the sample's id).  The poll finds the op's
# seq through nedb.versions' (coll, id) index as a scalar subquery: the
# view's ORDER BY keeps it from being flattened, so a join or an IN would
# merge-join the whole of nedb.ops.
seqlag_sql_nedb=("SELECT nedb.put('lag', \$1::text, '{}'::jsonb)"
	"SELECT l.seq, l.hash FROM nedb.log l WHERE l.seq = (SELECT v.seq_from FROM nedb.versions v WHERE v.coll = 'lag' AND v.id = \$1::text)")
seqlag_sql_plain=("INSERT INTO plain_lag VALUES (\$1::text, '{}')"
	"SELECT id FROM plain_lag WHERE id = \$1::text")

# $1 = nedb|plain; sets lag_n lag_p50 lag_p99 lag_max lag_rtt50 lag_rtt99 lag_multi lag_bf
seqlag_run() {
	local bf_out=$OUT/seqlag_backfill_$1.out f=$OUT/seqlag_$1.txt t_bf n sql
	if [ "$1" = nedb ]; then sql=("${seqlag_sql_nedb[@]}"); else sql=("${seqlag_sql_plain[@]}"); fi
	q bench -c "TRUNCATE plain_lag"
	mix_backfill_reset
	rm -f "$f"
	t_bf=$(now_s)
	mix_backfill_start client "$1" $((SEQLAG_T + 3)) "$bf_out"
	sleep 1
	"$GEN/seqlag" "host=$NB_DIR port=$NB_PORT user=postgres dbname=bench" "$SEQLAG_N" "$SEQLAG_T" l \
		"${sql[0]}" "${sql[1]}" "$f" || die "seqlag $1: the sampler failed"
	# every sample under load: the backfill (-T SEQLAG_T + 3) still running
	awk -v e="$(since "$t_bf")" -v t="$SEQLAG_T" 'BEGIN { exit !(e < t + 3) }' ||
		die "seqlag $1: the last sample ran past the backfill's end"
	mix_backfill_wait "$bf_out"
	# shellcheck disable=SC2154 # set by mix_backfill_wait
	lag_bf=$mix_bf
	if [ "$1" = nedb ]; then
		n=$(qv bench "SELECT count(*) FROM nedb.versions WHERE coll = 'lag'")
	else
		n=$(qv bench "SELECT count(*) FROM plain_lag")
	fi
	lag_n=$(count_lines "$f")
	[ "$n" = "$lag_n" ] || die "seqlag $1: $n rows written, $lag_n samples"
	[ "$lag_n" -ge 20 ] || die "seqlag $1: only $lag_n samples in $SEQLAG_T s"
	lag_p50=$(pctl_col_ms 50 3 "$f")
	lag_p99=$(pctl_col_ms 99 3 "$f")
	lag_max=$(pctl_col_ms 100 3 "$f")
	lag_rtt50=$(pctl_col_ms 50 4 "$f")
	lag_rtt99=$(pctl_col_ms 99 4 "$f")
	lag_multi=$(awk '$2 > 1 { k++ } END { print k + 0 }' "$f")
	log "seqlag $1: $lag_n samples; lag p50 $lag_p50 ms p99 $lag_p99 ms max $lag_max ms; first poll p50 $lag_rtt50 ms p99 $lag_rtt99 ms; $lag_multi samples polled more than once; commit p50 $(pctl_col_ms 50 5 "$f") ms; backfill $(fmt "$lag_bf" 0) docs/s"
}

seqlag_run nedb
nn=$lag_n n50=$lag_p50 n99=$lag_p99 nmax=$lag_max nr50=$lag_rtt50 nr99=$lag_rtt99 nmulti=$lag_multi nbf=$lag_bf
seqlag_run plain
summary "seqlag (COMMIT returned -> op readable by another session, BEGIN + 1 put + COMMIT, up to $SEQLAG_N samples in ${SEQLAG_T} s, while 2 backfill clients write 500 single-row statements per tx, synchronous_commit=on$(mix_backfill_opts)): nedb seq and hash p50 $n50 ms, p99 $n99 ms (max $nmax, n=$nn; first poll's round trip p50 $nr50, p99 $nr99; $nmulti polled more than once; backfill $(fmt "$nbf" 0) docs/s); plain row p50 $lag_p50 ms, p99 $lag_p99 ms (max $lag_max, n=$lag_n; first poll p50 $lag_rtt50, p99 $lag_rtt99; $lag_multi polled more than once; backfill $(fmt "$lag_bf" 0) docs/s); p99 ratio $(fmt "$(calc "$n99 / $lag_p99")" 1) (bar nedb p99 < 50 ms) $(verdict "$n99 < 50")"
