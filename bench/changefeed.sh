# bench/changefeed.sh -- a client paging the changefeed (sourced by run.sh;
# db "big", 1M block-doc puts).
#
# changefeed.c (built here with libpq) pages the whole log from the start,
# as a consumer does: nedb.since(cursor, FEED_LIM) (default 10,000, the
# function's default page), reading every value of every row and checking
# that seqs are dense.  Plain: the same rows (every column of nedb.log, as
# stored by CREATE TABLE AS from the view, prev_hash included) in a plain
# table with a primary key on seq, paged by keyset in the same way (seq >
# cursor ORDER BY seq LIMIT FEED_LIM, head_seq from max(seq)).  Alternating,
# median of FEED_REPS (3).  Bar (issue 17): nedb >= 200,000 ops/s.

FEED_LIM=${FEED_LIM:-10000}
FEED_REPS=${FEED_REPS:-3}

command -v cc >/dev/null || die "changefeed: no C compiler (cc) to build bench/changefeed.c"
cc -O2 -Wall -o "$GEN/changefeed" "$BENCH/changefeed.c" -I"$("$PGBIN/pg_config" --includedir)" \
	-L"$("$PGBIN/pg_config" --libdir)" -lpq

q big -c "DROP TABLE IF EXISTS plain_log" \
	-c "CREATE TABLE plain_log AS SELECT * FROM nedb.log" \
	-c "ALTER TABLE plain_log ADD PRIMARY KEY (seq)" \
	-c "VACUUM (ANALYZE) plain_log" >/dev/null
checkpoint big

feed_conn="host=$NB_DIR port=$NB_PORT user=postgres dbname=big"
nedb_r=() plain_r=()
for rep in $(seq 1 "$FEED_REPS"); do
	read -r n_ops n_s n_bytes <<<"$("$GEN/changefeed" "$feed_conn" nedb "$FEED_LIM")" || die "changefeed: the nedb client failed"
	read -r p_ops p_s p_bytes <<<"$("$GEN/changefeed" "$feed_conn" plain "$FEED_LIM")" || die "changefeed: the plain client failed"
	[ "$n_ops" = "$p_ops" ] || die "changefeed: nedb paged $n_ops ops, plain $p_ops rows"
	[ "$n_bytes" = "$p_bytes" ] || die "changefeed: nedb sent $n_bytes bytes of values, plain $p_bytes (not the same rows)"
	nedb_r+=("$(calc "$n_ops / $n_s")")
	plain_r+=("$(calc "$p_ops / $p_s")")
	log "changefeed rep $rep: nedb $n_ops ops in $n_s s (${nedb_r[-1]} ops/s), plain $p_ops rows in $p_s s (${plain_r[-1]} rows/s), $n_bytes bytes of values"
done
n=$(median "${nedb_r[@]}")
p=$(median "${plain_r[@]}")
q big -c "DROP TABLE plain_log" >/dev/null
summary "changefeed (a libpq client paging $n_ops ops of block docs, $FEED_LIM per page): nedb.since $(fmt "$n" 0) ops/s, plain keyset paging of the same rows $(fmt "$p" 0) rows/s, ratio $(fmt "$(calc "$n / $p")" 2) (bar nedb >= 200000 ops/s) $(verdict "$n >= 200000")   [median of $FEED_REPS; nedb runs: ${nedb_r[*]}]"
