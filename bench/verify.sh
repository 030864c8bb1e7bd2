# bench/verify.sh -- benchmark 4 (sourced by run.sh; db "big", 1M block-doc puts).
#
# nedb.verify_report() over the whole chain (1,000,000 ops after the load;
# more if something wrote since): ops/s = checked / wall time, median of 3,
# with the server's parallel workers (max_parallel_maintenance_workers) and,
# for context, by the session alone.
# Bar: >= 500,000 ops/s.  The plain figure, for context, is Postgres reading
# the same 1M documents from the plain table and hashing each one
# (count(sha256(doc::text))), i.e. a full scan plus a digest per row.

VERIFY_REPS=${VERIFY_REPS:-3}

nedb_r=() plain_r=() serial_r=()
for rep in $(seq 1 "$VERIFY_REPS"); do
	# the session alone (no parallel workers): the single-core figure
	t0=$(now_s)
	res=$(q big -At -c "SET max_parallel_maintenance_workers = 0" -c "SELECT ok, checked FROM nedb.verify_report()")
	el=$(since "$t0")
	[ "${res%%|*}" = t ] || die "verify: nedb.verify_report() alone is not ok: $res"
	serial_r+=("$(calc "${res#*|} / $el")")

	t0=$(now_s)
	res=$(qv big "SELECT ok, checked FROM nedb.verify_report()")
	el=$(since "$t0")
	[ "${res%%|*}" = t ] || die "verify: nedb.verify_report() is not ok: $res"
	checked=${res#*|}
	nedb_r+=("$(calc "$checked / $el")")

	t0=$(now_s)
	rows=$(qv big "SELECT count(sha256(convert_to(doc::text, 'UTF8'))) FROM plain_big")
	el=$(since "$t0")
	plain_r+=("$(calc "$rows / $el")")
	log "verify rep $rep: nedb $checked ops ${nedb_r[-1]} ops/s (alone ${serial_r[-1]} ops/s); plain scan+sha256 $rows rows ${plain_r[-1]} rows/s"
done
n=$(median "${nedb_r[@]}")
p=$(median "${plain_r[@]}")
sr=$(median "${serial_r[@]}")
summary "verify ($checked ops of block docs): nedb $(fmt "$n" 0) ops/s, plain $(fmt "$p" 0) rows/s (full scan + sha256 per doc, context), ratio $(fmt "$(calc "$n / $p")" 2) (bar nedb >= 500000 ops/s) $(verdict "$n >= 500000")   [median of $VERIFY_REPS; nedb runs: ${nedb_r[*]}; max_parallel_maintenance_workers $(qv big "SHOW max_parallel_maintenance_workers") on $(nproc) cores]"
summary "verify ($checked ops of block docs) by the session alone (max_parallel_maintenance_workers = 0, context): $(fmt "$sr" 0) ops/s, parallel/alone $(fmt "$(calc "$n / $sr")" 2)   [median of $VERIFY_REPS; runs: ${serial_r[*]}]"

# The same on 1M small documents ({"g": n}): what the chain itself costs
# when there is little document to re-canonicalize.
reset_nedb bench
q bench >/dev/null <<'SQL'
DO $$
BEGIN
	FOR i IN 0..99 LOOP
		PERFORM nedb.put('v', 'k' || g, jsonb_build_object('g', g))
		   FROM generate_series(i * 10000 + 1, i * 10000 + 10000) g;
		COMMIT;
	END LOOP;
END
$$;
VACUUM ANALYZE nedb.ops;
VACUUM ANALYZE nedb.versions;
SQL
small_r=()
for rep in $(seq 1 "$VERIFY_REPS"); do
	t0=$(now_s)
	res=$(qv bench "SELECT ok, checked FROM nedb.verify_report()")
	el=$(since "$t0")
	[ "${res%%|*}" = t ] || die "verify: nedb.verify_report() is not ok on small docs: $res"
	small_checked=${res#*|}
	small_r+=("$(calc "$small_checked / $el")")
	log "verify small rep $rep: nedb $small_checked ops ${small_r[-1]} ops/s"
done
s=$(median "${small_r[@]}")
summary "verify ($small_checked ops of small docs): nedb $(fmt "$s" 0) ops/s (bar nedb >= 500000 ops/s) $(verdict "$s >= 500000")   [median of $VERIFY_REPS; runs: ${small_r[*]}]"
