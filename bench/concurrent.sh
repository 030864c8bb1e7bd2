# bench/concurrent.sh -- benchmark 2 (sourced by run.sh; db "bench").
#
# 4 clients (pgbench -c 4 -j 2 -T 20 -M prepared), each transaction one
# autocommit single put of a small document under a random id:
#   nedb:  SELECT nedb.put('c', 'k' || :k, '{"a":1}')            (concurrent_nedb.pgb)
#   plain: INSERT INTO plain_c VALUES (...) ON CONFLICT DO NOTHING (concurrent_plain.pgb)
# with synchronous_commit on and off (PGOPTIONS), then the same at 16
# clients (-c 16 -j 2).  Fresh chain / empty table and a CHECKPOINT before
# each run.  Bars (issue 14): at 4 clients ratio >= 0.5 with it off, >= 0.7
# with it on; at 16 clients NEDB's tps no lower than its 4-client tps of the
# same setting in the same run (no tolerance; plain at 16 is context).

CONC_T=${CONC_T:-20}

q bench -c "DROP TABLE IF EXISTS plain_c" -c "CREATE TABLE plain_c (id text PRIMARY KEY, doc jsonb NOT NULL)"

conc_run() { # $1 = on|off, $2 = nedb|plain, $3 = clients -> tps
	local out n
	reset_nedb bench
	q bench -c "TRUNCATE plain_c"
	checkpoint bench
	out=$(PGOPTIONS="-c synchronous_commit=$1" pgb_checked bench -M prepared -c "$3" -j 2 -T "$CONC_T" \
		-f "$BENCH/concurrent_$2.pgb")
	# every put is in the chain (one op per transaction)
	if [ "$2" = nedb ]; then
		n=$(printf '%s\n' "$out" | awk '/^number of transactions actually processed: / { print $6 }')
		[ "$(qv bench "SELECT nedb.seq() + 1")" = "$n" ] || die "concurrent: chain length != $n transactions"
	fi
	printf '%s\n' "$out" | pgb_tps
}

for sc in on off; do
	n=$(conc_run $sc nedb 4)
	p=$(conc_run $sc plain 4)
	r=$(calc "$n / $p")
	if [ $sc = off ]; then
		bar="(bar >= 0.5) $(verdict "$r >= 0.5")"
	else
		bar="(bar >= 0.7) $(verdict "$r >= 0.7")"
	fi
	summary "concurrent (4 clients, single-put autocommit, synchronous_commit=$sc): nedb $(fmt "$n" 0) tps, plain $(fmt "$p" 0) tps, ratio $(fmt "$r" 2) $bar"
	n16=$(conc_run $sc nedb 16)
	p16=$(conc_run $sc plain 16)
	summary "concurrent (16 clients, single-put autocommit, synchronous_commit=$sc): nedb $(fmt "$n16" 0) tps against $(fmt "$n" 0) at 4 clients, x$(fmt "$(calc "$n16 / $n")" 2) (bar: no lower at 16 than at 4) $(verdict "$n16 >= $n"); context: plain $(fmt "$p16" 0) tps (4 clients: $(fmt "$p" 0)), ratio nedb/plain $(fmt "$(calc "$n16 / $p16")" 2)"
done
