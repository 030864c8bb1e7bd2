# bench/asof.sh -- benchmark 6 (sourced by run.sh; db "big": 1,000,000 block
# documents, ids b1..b1000000, put in height order).
#
# One pgbench client (-M prepared, -T ASOF_T) reading random ids b1..b500000:
#   current: SELECT nedb.get('v', 'b' || :k)                (asof_current.pgb)
#   as of:   SELECT nedb.get('v', 'b' || :k, :mid)          (asof_asof.pgb)
#            mid = the seq of the first put of b500000 (499999), so every
#            read finds a version; b1..b20000 get a second version first
#            (asof_history.sql), which as of mid must skip
#   plain:   SELECT doc FROM plain_big WHERE id = 'b' || :k (asof_plain.pgb)
# Average latency per read, median of 3, after a warm-up run of each.
# Bar: as-of latency <= 2x current latency.

ASOF_T=${ASOF_T:-10}
ASOF_REPS=${ASOF_REPS:-3}

history="b1..b20000 with 2 versions"
if ! q big -f "$BENCH/asof_history.sql"; then
	# measure anyway, and say so: the overwrite failing is a finding of its own
	log "asof: WARNING: overwriting b1..b20000 failed; measuring with single-version keys only"
	history="OVERWRITE FAILED, single-version keys only"
	wait_ready || die "asof: the server does not come back"
fi

mid=$(qv big "SELECT min(seq_from) FROM nedb.versions WHERE coll = 'v' AND id = 'b500000'")
[ -n "$mid" ] || die "asof: no b500000"
# as of mid, b1 is its first version (seq 0), whatever was written since
[ "$(qv big "SELECT nedb.get('v', 'b1', $mid) ->> '_seq'")" = 0 ] || die "asof: as-of read of b1 is not its first version"
[ "$(qv big "SELECT nedb.get('v', 'b250000') = (SELECT doc FROM plain_big WHERE id = 'b250000') || jsonb_build_object('_id', 'b250000', '_seq', 249999)")" = t ] ||
	die "asof: nedb.get and plain_big disagree on b250000"
if [ "${history#OVERWRITE}" = "$history" ]; then
	[ "$(qv big "SELECT (nedb.get('v', 'b1') ->> '_seq')::bigint > 999999")" = t ] ||
		die "asof: the current version of b1 is not the overwrite"
fi

asof_lat() { # $1 = current|asof|plain, $2 = seconds -> ms
	pgb_checked big -M prepared -c 1 -T "$2" -D mid="$mid" -f "$BENCH/asof_$1.pgb" | pgb_lat
}
for v in current asof plain; do asof_lat $v 3 >/dev/null; done # warm-up

cur_r=() asof_r=() plain_r=()
for rep in $(seq 1 "$ASOF_REPS"); do
	cur_r+=("$(asof_lat current "$ASOF_T")")
	asof_r+=("$(asof_lat asof "$ASOF_T")")
	plain_r+=("$(asof_lat plain "$ASOF_T")")
	log "asof rep $rep: current ${cur_r[-1]} ms, as of ${asof_r[-1]} ms, plain ${plain_r[-1]} ms"
done
c=$(median "${cur_r[@]}")
a=$(median "${asof_r[@]}")
p=$(median "${plain_r[@]}")
r=$(calc "$a / $c")
summary "asof (1M block docs, $history, 1 client, random ids of b1..b500000): nedb as-of $(fmt "$a" 4) ms, nedb current $(fmt "$c" 4) ms, ratio $(fmt "$r" 2) (bar <= 2) $(verdict "$r <= 2"); plain point read $(fmt "$p" 4) ms (context; nedb current / plain $(fmt "$(calc "$c / $p")" 2))   [median of $ASOF_REPS, avg latency per read]"
