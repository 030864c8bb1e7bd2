# bench/restart.sh -- benchmark 5 (sourced by run.sh; db "big": 1,000,000
# block documents in NEDB and in plain_big).
#
# Per probe: CHECKPOINT, the same write burst (restart_burst.sql, 20k puts
# of block docs under new ids),
# pg_ctl stop -m immediate, then pg_ctl start (not waiting) and poll every
# 10 ms until the probe answers:
#   nedb:  SELECT nedb.get('v', 'b500000') IS NOT NULL   (first NEDB read)
#   plain: SELECT 1                                        (Postgres alone)
# Times are from just before pg_ctl start to the first answer; probes
# alternate, median of 3 each.  Bar: nedb - plain < 1 s.

RESTART_REPS=${RESTART_REPS:-3}

restart_probe() { # $1 = nedb|plain -> seconds
	local sql t0 out
	case $1 in
		nedb) sql="SELECT nedb.get('v', 'b500000') IS NOT NULL" ;;
		plain) sql="SELECT 1 = 1" ;;
	esac
	checkpoint big
	q big -f "$BENCH/restart_burst.sql"
	pgctl stop -m immediate >/dev/null
	t0=$(now_s)
	pgctl -l "$NB_DIR/server.log" -W start >/dev/null
	until out=$(qv big "$sql" 2>/dev/null) && [ "$out" = t ]; do
		awk -v e="$(since "$t0")" 'BEGIN { exit !(e > 300) }' && die "restart: no answer after 300 s"
		sleep 0.01
	done
	since "$t0"
}

seq_before=$(qv big "SELECT nedb.seq()")
nedb_r=() plain_r=()
for rep in $(seq 1 "$RESTART_REPS"); do
	plain_r+=("$(restart_probe plain)")
	nedb_r+=("$(restart_probe nedb)")
	log "restart rep $rep: plain SELECT 1 after ${plain_r[-1]} s, first nedb.get after ${nedb_r[-1]} s"
done
# the cluster is up again (pg_ctl status) for what follows
pgctl status >/dev/null || die "restart: cluster is not running"
# every burst committed before its immediate stop, so all of it survived
[ "$(qv big "SELECT nedb.seq()")" = $((seq_before + RESTART_REPS * 2 * 20000)) ] ||
	die "restart: the chain is not $((RESTART_REPS * 2 * 20000)) ops longer after the restarts"
n=$(median "${nedb_r[@]}")
p=$(median "${plain_r[@]}")
extra=$(calc "$n - $p")
summary "restart (1M block docs, immediate stop after a 20k-put burst): nedb first get $(fmt "$n" 3) s, plain first SELECT 1 $(fmt "$p" 3) s, ratio $(fmt "$(calc "$n / $p")" 2), extra $(fmt "$extra" 3) s (bar extra < 1 s) $(verdict "$extra < 1")   [median of $RESTART_REPS; nedb runs: ${nedb_r[*]}; plain runs: ${plain_r[*]}]"
