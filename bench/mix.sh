# bench/mix.sh -- benchmark 3 (sourced by run.sh; db "bench").
#
# Production mix, synchronous_commit = on: two backfill clients write block
# documents in 500-document transactions (ids <block id>.<batch>) while a
# third client makes single autocommit puts of a block document under a
# random id for MIX_T seconds (mix_single_*.pgb).  Two kinds of backfill
# (lib.sh's mix_backfill_*):
#   client: BEGIN, 500 single-row statements, COMMIT (generated scripts)
#   server: one statement per 500 documents (mix_backfill_server_*.pgb)
# The single puts' latencies come from pgbench's per-transaction log;
# p50/p99 by nearest rank.  The backfill's throughput is docs/s over its run.
#   nedb:  nedb.put into collections 'mixb' (backfill) and 'mix' (single)
#   plain: INSERT into plain_mix (id text PRIMARY KEY, height btree, doc)
# MIX_BACKFILL_PGOPTIONS (default empty): PGOPTIONS for NEDB's two backfill
# clients only (session settings), printed in the summary line when set.
# Bars (issue 14), each variant: NEDB single-put p99 < 20 ms and p50 < 5 ms,
# and NEDB's backfill >= 0.5x plain's docs/s; the other plain figures are
# for context.

MIX_T=${MIX_T:-20}
# a failure must not leave the background backfill running
bf_pid=
trap '[ -z "$bf_pid" ] || kill "$bf_pid" 2>/dev/null || true' EXIT

mix_backfill_setup

# $1 = client|server (backfill kind), $2 = nedb|plain
# sets mix_p50 mix_p99 mix_max mix_n mix_bf (backfill docs/s)
mix_run() {
	local bf_out=$OUT/mix_backfill_$1_$2.out
	mix_backfill_reset
	rm -f "$OUT/mix_$1_$2_log".*
	mix_backfill_start "$1" "$2" $((MIX_T + 2)) "$bf_out"
	sleep 1
	pgb_checked bench -M prepared -c 1 -T "$MIX_T" -f "$BENCH/mix_single_$2.pgb" \
		--log --log-prefix="$OUT/mix_$1_$2_log" >/dev/null
	mix_backfill_wait "$bf_out" # sets mix_bf
	mix_n=$(count_lines "$OUT/mix_$1_$2_log".*)
	[ "$mix_n" -gt 0 ] || die "mix $1 $2: no single puts in the per-transaction log"
	mix_p50=$(pctl_ms 50 "$OUT/mix_$1_$2_log".*)
	mix_p99=$(pctl_ms 99 "$OUT/mix_$1_$2_log".*)
	mix_max=$(pctl_ms 100 "$OUT/mix_$1_$2_log".*)
	# shellcheck disable=SC2154 # mix_bf
	log "mix $1 backfill, $2: single puts n=$mix_n p50 $mix_p50 ms p99 $mix_p99 ms max $mix_max ms; backfill $(fmt "$mix_bf" 0) docs/s"
}

for kind in client server; do
	mix_run $kind nedb
	n50=$mix_p50 n99=$mix_p99 nmax=$mix_max nn=$mix_n nbf=$mix_bf
	mix_run $kind plain
	case $kind in
		client) what="500 single-row statements per tx" ;;
		server) what="one statement per 500-doc tx" ;;
	esac
	rbf=$(calc "$nbf / $mix_bf")
	summary "mix (2 backfill clients, $what, + 1 single-put client, ${MIX_T} s, synchronous_commit=on$(mix_backfill_opts)): nedb single put p50 $n50 ms, p99 $n99 ms (max $nmax, n=$nn); plain p50 $mix_p50 ms, p99 $mix_p99 ms (max $mix_max, n=$mix_n); p99 ratio $(fmt "$(calc "$n99 / $mix_p99")" 1); backfill nedb $(fmt "$nbf" 0) docs/s, plain $(fmt "$mix_bf" 0) docs/s, ratio $(fmt "$rbf" 2); bars: nedb p99 < 20 ms $(verdict "$n99 < 20"), nedb p50 < 5 ms $(verdict "$n50 < 5"), backfill ratio >= 0.5 $(verdict "$rbf >= 0.5")"
done
