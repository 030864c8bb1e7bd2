# bench/repl.sh -- op-log replication (sourced by run.sh).
#
# Two clusters of its own beside run.sh's, same settings (shared_buffers
# 256MB each, fsync and synchronous_commit on): a primary (port NB_PORT+1,
# wal_level logical for the plain baseline) and a replica (port NB_PORT+2,
# shared_preload_libraries = nedb, track_commit_timestamp on).
#
# lag: 1000 ops/s for 60 s on the primary: pgbench -R 200 -T 60 (4 clients)
#   of transactions of 5 nedb.put (one database's writers commit one at a
#   time under the chain lock, so single-put transactions at 1000/s need
#   fsyncs faster than this shared machine's), the replica following through
#   its apply worker.  The lag of every op is its commit time on the replica
#   (pg_xact_commit_timestamp) minus its ts on the primary; p50/p99/max over
#   all ops, and (the replication lag proper, which the bars judge) the
#   replica's commit time minus the op's commit time on the primary (both
#   clusters track commit timestamps; one clock).  Bars p50 < 100 ms,
#   p99 < 1 s.
#   Plain: the same rate of INSERTs into a plain table replicated by
#   Postgres's built-in logical replication, lag = the subscriber's
#   clock_timestamp() when it inserted the row (a subscriber-only column's
#   default; its commit timestamp would be the publisher's) minus the row's
#   commit time (and clock_timestamp()) on the publisher.
# catchup: REPL_N ops (default 1,000,000 block-explorer puts, 50,000 per
#   statement) on the primary, then nedb.subscribe on an empty replica:
#   time until the replica has the primary's head.  Bar >= 50,000 ops/s.
#   Plain: the same documents as a plain table (text key, jsonb) copied to
#   the replica with COPY ... TO STDOUT | COPY ... FROM STDIN (no checks).
#   A CHECKPOINT on the replica before each of the two, so neither pays for
#   writing back the other's dirty pages.

REPL_RATE=${REPL_RATE:-1000}
REPL_OPS_PER_TX=${REPL_OPS_PER_TX:-5}
REPL_SECONDS=${REPL_SECONDS:-60}
REPL_N=${REPL_N:-1000000}
REPL_PARTS=${REPL_PARTS:-lag catchup}
RP_PORT=$((NB_PORT + 1))
RR_PORT=$((NB_PORT + 2))

rq() { # rq PORT DB [psql args...]
	local port=$1 db=$2; shift 2
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$NB_DIR" -p "$port" -U postgres -d "$db" "$@"
}
rqv() { rq "$1" "$2" -At -c "$3"; }

repl_cluster() { # repl_cluster NAME PORT [conf lines...]
	local dir=$NB_DIR/$1 port=$2; shift 2
	runuser -u postgres -- "$PGBIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
	{
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$NB_DIR'"
		echo "max_connections = 50"
		echo "shared_buffers = 256MB"
		echo "max_wal_size = 4GB"
		echo "checkpoint_timeout = 30min"
		echo "fsync = on"
		echo "synchronous_commit = on"
		echo "jit = off"
		printf '%s\n' "$@"
	} >>"$dir/postgresql.conf"
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir" -l "$NB_DIR/$1.log" -w -t 120 start >/dev/null
}
repl_down() {
	local n
	for n in repl_primary repl_replica; do
		[ -f "$NB_DIR/$n/postmaster.pid" ] &&
			runuser -u postgres -- "$PGBIN/pg_ctl" -D "$NB_DIR/$n" -m fast -w stop >/dev/null 2>&1 || true
		[ -f "$NB_DIR/$n.log" ] && cp "$NB_DIR/$n.log" "$OUT/$n.log"
	done
	return 0
}
trap repl_down EXIT

repl_cluster repl_primary "$RP_PORT" "wal_level = logical" "track_commit_timestamp = on"
repl_cluster repl_replica "$RR_PORT" "shared_preload_libraries = 'nedb'" "track_commit_timestamp = on"
conn_p() { echo "host=$NB_DIR port=$RP_PORT user=postgres dbname=$1"; }

# wait until the replica's head is the primary's; prints the seconds waited
wait_head() { # wait_head DB TIMEOUT_S
	local want t0
	want=$(rqv "$RP_PORT" "$1" "SELECT nedb.seq() || '/' || nedb.head()")
	t0=$(now_s)
	until [ "$(rqv "$RR_PORT" "$1" "SELECT nedb.seq() || '/' || nedb.head()")" = "$want" ]; do
		awk -v e="$(since "$t0")" -v m="$2" 'BEGIN { exit !(e > m) }' &&
			die "repl: the replica did not reach $want within $2 s ($(rqv "$RR_PORT" "$1" "SELECT state || ' ' || coalesce(last_error, '') FROM nedb.subscriptions"))"
		sleep 0.05
	done
	since "$t0"
}

# lag percentiles (ms) of ts-ordered rows: "p50 p99 max count"
lag_stats() { # lag_stats DB 'SQL giving one column lag_s'
	rqv "$RR_PORT" "$1" "SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_s) * 1000)::numeric, 2)
	    || ' ' || round((percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_s) * 1000)::numeric, 2)
	    || ' ' || round((max(lag_s) * 1000)::numeric, 2) || ' ' || count(*) FROM ($2) x"
}

# --------------------------------------------------------------------------
# lag at REPL_RATE ops/s for REPL_SECONDS
# --------------------------------------------------------------------------
if [[ " $REPL_PARTS " == *" lag "* ]]; then
for port in "$RP_PORT" "$RR_PORT"; do
	rq "$port" postgres -c "CREATE DATABASE lag" -c "CREATE DATABASE lagplain"
	rq "$port" lag -c "CREATE EXTENSION nedb"
	rq "$port" lagplain -c "CREATE TABLE ev (id bigserial PRIMARY KEY, k int, doc jsonb,
	    ts float8 NOT NULL DEFAULT extract(epoch FROM clock_timestamp()))"
done
rq "$RR_PORT" lagplain -c "ALTER TABLE ev ADD COLUMN applied float8 DEFAULT extract(epoch FROM clock_timestamp())"
rq "$RP_PORT" lag -c "SELECT nedb.put('ev', 'warm', '{}')" >/dev/null
rq "$RR_PORT" lag -c "SELECT nedb.subscribe('primary', '$(conn_p lag)')" >/dev/null
wait_head lag 60 >/dev/null
warm=$(rqv "$RP_PORT" lag "SELECT nedb.seq()")
rq "$RP_PORT" lagplain -c "CREATE PUBLICATION pub FOR TABLE ev"
rq "$RR_PORT" lagplain -c "CREATE SUBSCRIPTION sub CONNECTION '$(conn_p lagplain)' PUBLICATION pub" 2>/dev/null

cat >"$GEN/repl_lag_nedb.pgb" <<EOF
\\set k random(1, 100000)
SELECT count(nedb.put('ev', 'e' || (:k + i), jsonb_build_object('k', :k + i, 'client', :client_id, 'pad', repeat('x', 200))))
  FROM generate_series(1, $REPL_OPS_PER_TX) i;
EOF
cat >"$GEN/repl_lag_plain.pgb" <<EOF
\\set k random(1, 100000)
INSERT INTO ev (k, doc) SELECT :k + i, jsonb_build_object('k', :k + i, 'client', :client_id, 'pad', repeat('x', 200))
  FROM generate_series(1, $REPL_OPS_PER_TX) i;
EOF
pgbr() { # pgbr DB SCRIPT: the rate for the duration, 4 clients
	"$PGBIN/pgbench" -n -h "$NB_DIR" -p "$RP_PORT" -U postgres -c 4 -j 2 -R "$(calc "$REPL_RATE / $REPL_OPS_PER_TX")" \
		-T "$REPL_SECONDS" -f "$1" "$2" 2>&1 | tee -a "$OUT/pgbench.log"
}
log "repl lag: nedb, $REPL_RATE puts/s ($REPL_OPS_PER_TX per transaction) for $REPL_SECONDS s"
out=$(pgbr "$GEN/repl_lag_nedb.pgb" lag)
tps_n=$(calc "$(printf '%s\n' "$out" | pgb_tps) * $REPL_OPS_PER_TX")
drain_n=$(wait_head lag 120)
read -r e50 e99 emax ecount <<<"$(lag_stats lag "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) - ts AS lag_s FROM nedb.ops WHERE seq > $warm")"
# replication lag proper: from the op's commit on the primary to its commit here
rq "$RR_PORT" lag -c "CREATE TABLE primary_commit (seq bigint PRIMARY KEY, pc float8)"
rq "$RP_PORT" lag -c "COPY (SELECT seq, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM nedb.ops WHERE seq > $warm) TO STDOUT" |
	rq "$RR_PORT" lag -c "COPY primary_commit FROM STDIN"
read -r n50 n99 nmax ncount <<<"$(lag_stats lag "SELECT extract(epoch FROM pg_xact_commit_timestamp(o.xmin)) - p.pc AS lag_s FROM nedb.ops o JOIN primary_commit p USING (seq)")"
[ "$(rqv "$RR_PORT" lag "SELECT nedb.verify()")" = t ] || die "repl lag: the replica does not verify"

log "repl lag: plain logical replication, $REPL_RATE inserts/s for $REPL_SECONDS s"
until [ "$(rqv "$RR_PORT" lagplain "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do sleep 0.1; done
out=$(pgbr "$GEN/repl_lag_plain.pgb" lagplain)
tps_p=$(calc "$(printf '%s\n' "$out" | pgb_tps) * $REPL_OPS_PER_TX")
want=$(rqv "$RP_PORT" lagplain "SELECT count(*) FROM ev")
until [ "$(rqv "$RR_PORT" lagplain "SELECT count(*) FROM ev")" = "$want" ]; do sleep 0.05; done
read -r f50 f99 fmax fcount <<<"$(lag_stats lagplain "SELECT applied - ts AS lag_s FROM ev")"
rq "$RR_PORT" lagplain -c "CREATE TABLE publisher_commit (id bigint PRIMARY KEY, pc float8)"
rq "$RP_PORT" lagplain -c "COPY (SELECT id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM ev) TO STDOUT" |
	rq "$RR_PORT" lagplain -c "COPY publisher_commit FROM STDIN"
read -r p50 p99 pmax pcount <<<"$(lag_stats lagplain "SELECT e.applied - p.pc AS lag_s FROM ev e JOIN publisher_commit p USING (id)")"
rq "$RR_PORT" lagplain -c "DROP SUBSCRIPTION sub" >/dev/null

summary "repl lag ($REPL_RATE ops/s target for $REPL_SECONDS s, $REPL_OPS_PER_TX per transaction, 4 clients; nedb $(fmt "$tps_n" 0) puts/s, plain $(fmt "$tps_p" 0) inserts/s), primary commit -> replica commit: nedb p50 $n50 ms p99 $n99 ms max $nmax ms over $ncount ops, plain logical replication p50 $p50 ms p99 $p99 ms max $pmax ms over $pcount rows, ratio p50 $(fmt "$(calc "$n50 / ($p50 > 0 ? $p50 : 0.01)")" 2) p99 $(fmt "$(calc "$n99 / ($p99 > 0 ? $p99 : 0.01)")" 2) (bars p50 < 100 ms $(verdict "$n50 < 100"), p99 < 1000 ms $(verdict "$n99 < 1000")); from the op's ts (with the primary's own commit): nedb p50 $e50 ms p99 $e99 ms, plain p50 $f50 ms p99 $f99 ms; replica drained ${drain_n} s after the load"
fi

# --------------------------------------------------------------------------
# catch-up of REPL_N ops
# --------------------------------------------------------------------------
if [[ " $REPL_PARTS " == *" catchup "* ]]; then
for port in "$RP_PORT" "$RR_PORT"; do
	rq "$port" postgres -c "CREATE DATABASE cu"
	rq "$port" cu -c "CREATE EXTENSION nedb" -c "CREATE TABLE plain_docs (id text COLLATE \"C\" PRIMARY KEY, doc jsonb)"
done
log "repl catchup: loading $REPL_N block documents on the primary"
stage_blocks_at() { # like stage_blocks, on the primary
	{
		echo "CREATE TABLE staging AS"
		cat "$BLOCKS_SQL"
	} | rq "$RP_PORT" cu -v n="$REPL_N"
}
stage_blocks_at
rq "$RP_PORT" cu -c "INSERT INTO plain_docs SELECT id, doc FROM staging" >/dev/null
batch=1
while [ $batch -le "$REPL_N" ]; do
	rq "$RP_PORT" cu -c "SELECT count(nedb.put('blocks', id, doc)) FROM staging
	    WHERE height >= $batch AND height < $((batch + 50000))" >/dev/null
	batch=$((batch + 50000))
done
[ "$(rqv "$RP_PORT" cu "SELECT nedb.seq()")" = $((REPL_N - 1)) ] || die "repl catchup: the primary does not have $REPL_N ops"
rq "$RP_PORT" cu -c "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null
rq "$RR_PORT" cu -c "CHECKPOINT"

log "repl catchup: plain COPY of the same documents"
t0=$(now_s)
rq "$RP_PORT" cu -c "COPY plain_docs TO STDOUT" | rq "$RR_PORT" cu -c "COPY plain_docs FROM STDIN"
tp=$(since "$t0")
[ "$(rqv "$RR_PORT" cu "SELECT count(*) FROM plain_docs")" = "$REPL_N" ] || die "repl catchup: plain copy incomplete"

# each run starts from clean buffers and page cache: the COPY's gigabyte of
# dirty pages would otherwise be written back during (and throttle) the next
rq "$RR_PORT" cu -c "CHECKPOINT"
log "repl catchup: nedb.subscribe on an empty replica"
# CPU seconds of a process so far (this machine is shared: wall time
# includes waiting for a core, CPU time per op does not)
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
want=$(rqv "$RP_PORT" cu "SELECT nedb.seq() || '/' || nedb.head()")
t0=$(now_s)
rq "$RR_PORT" cu -c "SELECT nedb.subscribe('primary', '$(conn_p cu)')" >/dev/null
wpid='' ppid='' wcpu=0 pcpu=0
until [ "$(rqv "$RR_PORT" cu "SELECT nedb.seq() || '/' || nedb.head()")" = "$want" ]; do
	awk -v e="$(since "$t0")" 'BEGIN { exit !(e > 3600) }' && die "repl catchup: not caught up after an hour"
	[ -n "$wpid" ] || wpid=$(rqv "$RR_PORT" cu "SELECT pid FROM nedb.subscriptions")
	[ -n "$ppid" ] || ppid=$(rqv "$RP_PORT" postgres "SELECT pid FROM pg_stat_activity WHERE datname = 'cu' AND application_name = 'nedb apply worker'")
	[ -z "$wpid" ] || wcpu=$(cpu_s "$wpid")
	[ -z "$ppid" ] || pcpu=$(cpu_s "$ppid")
	sleep 0.1
done
tn=$(since "$t0")
[ "$(rqv "$RR_PORT" cu "SELECT nedb.verify()")" = t ] || die "repl catchup: the replica does not verify"
rate=$(calc "$REPL_N / $tn")
summary "repl catchup ($REPL_N block-doc puts): nedb $(fmt "$tn" 1) s = $(fmt "$rate" 0) ops/s (apply worker CPU $(fmt "$(calc "$wcpu * 1000000 / $REPL_N")" 1) us/op = $(fmt "$(calc "$REPL_N / ($wcpu > 0 ? $wcpu : 1)")" 0) ops per CPU-second, primary's sending backend $(fmt "$(calc "$pcpu * 1000000 / $REPL_N")" 1) us/op), plain COPY of the same docs $(fmt "$tp" 1) s = $(fmt "$(calc "$REPL_N / $tp")" 0) rows/s, ratio $(fmt "$(calc "$tn / $tp")" 2) (bar >= 50000 ops/s $(verdict "$rate >= 50000"))"
fi
