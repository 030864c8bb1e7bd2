# bench/index_build.sh -- puts while an index is built on a 1M-document
# collection (sourced by run.sh; uses db "big": collection 'v' and the
# plain table plain_big, the same 1M block documents).
#
# Writers (pgbench, IXB_CLIENTS clients, one put of a new document per
# transaction) run for IXB_T seconds; IXB_WARM seconds in, an index on the
# documents' hash field is built, four ways:
#   nedb plain:       nedb.create_index('v', 'hash', 'eq'): CREATE INDEX on
#                     nedb.versions in the function, ShareLock held
#   nedb concurrent:  nedb.create_index('v', 'hash', 'eq', concurrently =>
#                     true): the index builder's CREATE INDEX CONCURRENTLY
#   pg plain / pg concurrent: CREATE INDEX [CONCURRENTLY] on plain_big
#                     ((doc -> 'hash')) with INSERTs of the same documents
# Figures, from pgbench's per-transaction log: the build's seconds, the
# commits per second during the build against those before it (the share of
# the writers' throughput that survives the build), and the longest put
# latency (ms) during the build (a plain build holds every put that long).
# The plain-Postgres runs in the same session are the ratio's reference.
# Needs nedb in shared_preload_libraries: the server is restarted with it
# for this benchmark and without it after.

IXB_T=${IXB_T:-40}
IXB_WARM=${IXB_WARM:-5}
IXB_CLIENTS=${IXB_CLIENTS:-2}

ixb_preload() { # 1|0
	if [ "$1" = 1 ]; then
		q postgres -c "ALTER SYSTEM SET shared_preload_libraries = 'nedb'"
	else
		q postgres -c "ALTER SYSTEM RESET shared_preload_libraries"
	fi
	pgctl -l "$NB_DIR/server.log" -w -t 120 restart -m fast >/dev/null
	wait_ready || die "index_build: the server does not come back after a restart"
}

need_big_db
ixb_preload 1
trap 'ixb_preload 0' EXIT

cat >"$GEN/ixb_nedb.pgb" <<'EOF'
\set k random(1, 1000000000)
SELECT nedb.put('v', 'w' || :k, jsonb_build_object('height', :k, 'hash', md5(:k::text), 'miner', 'bench'));
EOF
cat >"$GEN/ixb_plain.pgb" <<'EOF'
\set k random(1, 1000000000)
INSERT INTO plain_big VALUES ('w' || :k || '-' || :client_id || '-' || random(), :k, jsonb_build_object('height', :k, 'hash', md5(:k::text), 'miner', 'bench'));
EOF

# one run: ixb_run NAME SCRIPT BUILD_SQL DROP_SQL WAIT_SQL
# (WAIT_SQL: a query that returns t once the build is over; empty: BUILD_SQL returns at its end)
ixb_run() {
	local name=$1 script=$2 build=$3 drop=$4 waitq=$5
	local prefix="$OUT/ixb_${name// /_}_log" pid b0 b1 before during maxlat share
	rm -f "$prefix".*
	(cd "$OUT" && pgb big -c "$IXB_CLIENTS" -j "$IXB_CLIENTS" -T "$IXB_T" -f "$script" -l --log-prefix="$prefix" >"$OUT/ixb_${name// /_}.out") &
	pid=$!
	sleep "$IXB_WARM"
	b0=$(now_s)
	qv big "$build" >/dev/null
	if [ -n "$waitq" ]; then
		until [ "$(qv big "$waitq")" = t ]; do sleep 0.05; done
	fi
	b1=$(now_s)
	wait "$pid" || die "index_build: pgbench failed ($name)"
	# per-transaction log: client txno latency_us script epoch_s us
	read -r before during maxlat < <(cat "$prefix".* | awk -v b0="$b0" -v b1="$b1" '
		{ t = $5 + $6 / 1e6; s = t - $3 / 1e6 }
		t < b0 && t >= b0 - 3 { nb++ }
		t >= b0 && t <= b1 { nd++ }
		s <= b1 && t >= b0 && $3 > m { m = $3 }
		END { printf "%.1f %.1f %.1f\n", nb / 3, nd / (b1 - b0), m / 1000 }')
	share=$(calc "$during / $before")
	summary "index_build: $name: build $(fmt "$(calc "$b1 - $b0")" 2) s; puts/s before $before, during the build $during ($(fmt "$(calc "$share * 100")" 0)%); longest put during it $maxlat ms"
	qv big "$drop" >/dev/null
	IXB_SHARE[$name]=$share
	IXB_MAXLAT[$name]=$maxlat
}

declare -A IXB_SHARE=() IXB_MAXLAT=()
ixb_run "pg plain" "$GEN/ixb_plain.pgb" \
	"CREATE INDEX ixb_plain ON plain_big ((doc -> 'hash'))" "DROP INDEX ixb_plain" ""
ixb_run "nedb plain" "$GEN/ixb_nedb.pgb" \
	"SELECT nedb.create_index('v', 'hash', 'eq')" "SELECT nedb.drop_index('v', 'hash', 'eq')" ""
ixb_run "pg concurrent" "$GEN/ixb_plain.pgb" \
	"CREATE INDEX CONCURRENTLY ixb_conc ON plain_big ((doc -> 'hash'))" "DROP INDEX ixb_conc" ""
ixb_run "nedb concurrent" "$GEN/ixb_nedb.pgb" \
	"SELECT nedb.create_index('v', 'hash', 'eq', concurrently => true)" \
	"SELECT nedb.drop_index('v', 'hash', 'eq')" \
	"SELECT NOT EXISTS (SELECT 1 FROM nedb.index_builds WHERE state IN ('queued', 'building'))"
[ "$(qv big "SELECT count(*) FROM nedb.index_builds WHERE state = 'built'")" = 1 ] ||
	die "index_build: the concurrent build did not end built"

summary "index_build: share of put throughput kept during the build: nedb concurrent $(fmt "$(calc "${IXB_SHARE[nedb concurrent]} * 100")" 0)% vs plain Postgres CIC $(fmt "$(calc "${IXB_SHARE[pg concurrent]} * 100")" 0)% (ratio $(fmt "$(calc "${IXB_SHARE[nedb concurrent]} / ${IXB_SHARE[pg concurrent]}")" 2)); nedb plain $(fmt "$(calc "${IXB_SHARE[nedb plain]} * 100")" 0)%, pg plain $(fmt "$(calc "${IXB_SHARE[pg plain]} * 100")" 0)%"
