# bench/mix.sh -- benchmark 3 (sourced by run.sh; db "bench").
#
# Production mix, synchronous_commit = on: two backfill clients write block
# documents in 500-document transactions (ids <block id>.<batch>) while a
# third client makes single autocommit puts of a block document under a
# random id for MIX_T seconds (mix_single_*.pgb).  Two kinds of backfill:
#   client: BEGIN, 500 single-row statements, COMMIT (generated scripts)
#   server: one statement per 500 documents (mix_backfill_server_*.pgb)
# The single puts' latencies come from pgbench's per-transaction log;
# p50/p99 by nearest rank.
#   nedb:  nedb.put into collections 'mixb' (backfill) and 'mix' (single)
#   plain: INSERT into plain_mix (id text PRIMARY KEY, height btree, doc)
# Bar: NEDB single-put p99 < 50 ms; the plain figures are for context.

MIX_T=${MIX_T:-20}
# a failure must not leave the background backfill running
bf_pid=
trap '[ -z "$bf_pid" ] || kill "$bf_pid" 2>/dev/null || true' EXIT

q bench <<'SQL'
DROP TABLE IF EXISTS plain_mix;
CREATE TABLE plain_mix (id text PRIMARY KEY, height bigint NOT NULL, doc jsonb NOT NULL);
CREATE INDEX plain_mix_height ON plain_mix (height);
DROP SEQUENCE IF EXISTS mix_batch;
CREATE SEQUENCE mix_batch;
SQL

gen_backfill_script() { # $1 = statement with :h (height) and :b (batch)
	echo "SELECT b, (b % 200) * 500 AS base FROM (SELECT nextval('mix_batch') AS b) s \\gset"
	echo "BEGIN;"
	for i in $(seq 1 500); do
		echo "${1//:h/:base + $i};"
	done
	echo "COMMIT;"
}
gen_backfill_script "SELECT nedb.put('mixb', id || '.' || :b, doc) FROM staging WHERE height = :h" >"$GEN/mix_backfill_client_nedb.pgb"
gen_backfill_script "INSERT INTO plain_mix SELECT id || '.' || :b, height, doc FROM staging WHERE height = :h" >"$GEN/mix_backfill_client_plain.pgb"
cp "$BENCH/mix_backfill_server_nedb.pgb" "$BENCH/mix_backfill_server_plain.pgb" "$GEN/"

# $1 = client|server (backfill kind), $2 = nedb|plain
# sets mix_p50 mix_p99 mix_max mix_n mix_bf (backfill docs/s)
mix_run() {
	local bf_out=$OUT/mix_backfill_$1_$2.out rc
	reset_nedb bench
	q bench -c "TRUNCATE plain_mix" -c "SELECT setval('mix_batch', 1, false)" >/dev/null
	checkpoint bench
	rm -f "$OUT/mix_$1_$2_log".*
	pgb bench -M prepared -c 2 -j 2 -T $((MIX_T + 2)) -f "$GEN/mix_backfill_$1_$2.pgb" >"$bf_out" &
	bf_pid=$!
	sleep 1
	pgb_checked bench -M prepared -c 1 -T "$MIX_T" -f "$BENCH/mix_single_$2.pgb" \
		--log --log-prefix="$OUT/mix_$1_$2_log" >/dev/null
	rc=0
	wait $bf_pid || rc=$?
	bf_pid=
	cat "$bf_out" >>"$OUT/pgbench.log"
	if [ $rc != 0 ] || [ "$(pgb_failed <"$bf_out")" != 0 ]; then
		cat "$bf_out" >&2
		die "mix: backfill pgbench failed"
	fi
	mix_p50=$(pctl_ms 50 "$OUT/mix_$1_$2_log".*)
	mix_p99=$(pctl_ms 99 "$OUT/mix_$1_$2_log".*)
	mix_max=$(pctl_ms 100 "$OUT/mix_$1_$2_log".*)
	mix_n=$(count_lines "$OUT/mix_$1_$2_log".*)
	mix_bf=$(calc "$(pgb_tps <"$bf_out") * 500")
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
	summary "mix (2 backfill clients, $what, + 1 single-put client, ${MIX_T} s, synchronous_commit=on): nedb single put p50 $n50 ms, p99 $n99 ms (max $nmax, n=$nn, backfill $(fmt "$nbf" 0) docs/s); plain p50 $mix_p50 ms, p99 $mix_p99 ms (max $mix_max, n=$mix_n, backfill $(fmt "$mix_bf" 0) docs/s); p99 ratio $(fmt "$(calc "$n99 / $mix_p99")" 1) (bar nedb p99 < 50 ms) $(verdict "$n99 < 50")"
done
