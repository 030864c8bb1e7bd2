# bench/sorted.sh -- the nedb_sorted index access method against btree on
# the same data in the same run (sourced by run.sh; its own db "sorted").
#
# Data: 1M block documents (blocks.sql) in sb (height, rnd, doc), rnd a
# random int8.  Three keys: height (monotonic), rnd (random), and the jsonb
# document field doc -> 'height' (nedb_jsonb_ops, NEDB ordering, vs btree's
# jsonb_ops).  For each key and each access method, on the same table with
# only that index present:
#   build:  CREATE INDEX (btree may use parallel workers; nedb_sorted
#           builds in one process), median
#   size:   pg_relation_size of the index
#   top10:  SELECT doc ... ORDER BY key DESC LIMIT 10 (pgbench, one client,
#           -T SORTED_T, average latency; median of SORTED_REPS rounds,
#           each building the index anew, alternating btree and nedb_sorted)
#   range:  100 rows by key range, ordered (random start), same way
#   both also timed inside the server (plpgsql loop, cached plan), which
#           leaves out the client and the network
#   insert: single-row autocommit INSERTs of a block document into a table
#           preloaded with the 1M keys and that one index, 1 and 4 clients,
#           monotonic keys from a sequence or random keys, tps, median;
#           synchronous_commit off (this machine's shared disk makes commit
#           flushes swamp everything else); and 100k rows in one INSERT
#           ... SELECT (seconds), where the index's own cost shows most
#   dead:   killed entries: a table of 100k block documents (the top
#           heights) and one index; 30k documents inserted above its top key
#           and rolled back leave 30k dead entries where ORDER BY h DESC
#           LIMIT 10 starts; the first such query (which marks them LP_DEAD,
#           src/sorted_scan.c) is timed once, the later ones as top10 is
#           (pgbench and in the server), each access method on its own copy
#           of the table, alternating, medians
# Bar: every figure within 1.2x of btree (the top-10 over 30k dead entries
# within 1.5x); no larger than btree on the jsonb key.
#
# Leaf inserts are generic WAL records with a delta nedb_sorted writes
# itself; SORTED_PRELOAD=1 restarts the server with shared_preload_libraries
# = 'nedb' for this benchmark (and back after it), which registers
# nedb_sorted's WAL resource manager: leaf inserts then log the tuple and
# its offset as nbtree's do (src/sorted_xlog.c).  Other knobs: SORTED_PARTS
# (default "reads dead inserts"; "inserts" alone skips build, size, top10,
# range and dead); SORTED_KEYS (default "height rnd jheight") only some
# keys.

SORTED_T=${SORTED_T:-5}
SORTED_REPS=${SORTED_REPS:-3}
SORTED_PRELOAD=${SORTED_PRELOAD:-0}
SORTED_PARTS=${SORTED_PARTS:-reads dead inserts}
SORTED_KEYS=${SORTED_KEYS:-height rnd jheight}

sorted_preload() { # 1|0: restart the cluster with nedb preloaded or not
	if [ "$1" = 1 ]; then
		q postgres -c "ALTER SYSTEM SET shared_preload_libraries = 'nedb'"
	else
		q postgres -c "ALTER SYSTEM RESET shared_preload_libraries"
	fi
	pgctl -l "$NB_DIR/server.log" -w -t 120 restart -m fast >/dev/null
	wait_ready || die "sorted: the server does not come back after a restart"
}
if [ "$SORTED_PRELOAD" = 1 ]; then
	sorted_preload 1
	# whatever happens, the benchmarks after this one run as before
	trap 'sorted_preload 0' EXIT
fi
summary "sorted: shared_preload_libraries = '$(qv postgres "SHOW shared_preload_libraries")'"

log "sorted: staging 1,000,000 block documents"
q postgres -c "DROP DATABASE IF EXISTS sorted" -c "CREATE DATABASE sorted"
q sorted -c "CREATE EXTENSION nedb"
stage_blocks sorted staging 1000000
q sorted >/dev/null <<'SQL'
CREATE TABLE sb AS
  SELECT height, (hashint8(height) & 2147483647)::int8 AS rnd, doc FROM staging ORDER BY height;
DROP TABLE staging;
CREATE TABLE onedoc AS SELECT doc FROM sb WHERE height = 500000;
VACUUM ANALYZE sb;
SQL

# key name -> indexed expression, "ORDER BY" descending, range condition (:x start)
declare -A expr=([height]="height" [rnd]="rnd" [jheight]="(doc -> 'height')")
declare -A desc_btree=([height]="height DESC" [rnd]="rnd DESC" [jheight]="doc -> 'height' DESC")
declare -A desc_sorted=([height]="height DESC" [rnd]="rnd DESC" [jheight]="doc -> 'height' USING OPERATOR(nedb.>)")
declare -A asc_btree=([height]="height" [rnd]="rnd" [jheight]="doc -> 'height'")
declare -A asc_sorted=([height]="height" [rnd]="rnd" [jheight]="doc -> 'height' USING OPERATOR(nedb.<)")
declare -A range_btree=(
	[height]="height >= :x AND height < :x + 100"
	[rnd]="rnd >= :x * 2147 AND rnd < :x * 2147 + 214748"
	[jheight]="doc -> 'height' >= to_jsonb(:x::int) AND doc -> 'height' < to_jsonb(:x::int + 100)")
declare -A range_sorted=(
	[height]="height >= :x AND height < :x + 100"
	[rnd]="rnd >= :x * 2147 AND rnd < :x * 2147 + 214748"
	[jheight]="doc -> 'height' OPERATOR(nedb.>=) to_jsonb(:x::int) AND doc -> 'height' OPERATOR(nedb.<) to_jsonb(:x::int + 100)")
declare -A using=([btree]="btree" [sorted]="nedb_sorted")

server_ms() { # QUERY (with :x) N -> ms per query, run N times in a plpgsql loop
	local body=${1//:x/x}
	q sorted -At -c "CREATE FUNCTION pg_temp.bq() RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz; r record; x int;
BEGIN
  FOR i IN 1..100 LOOP x := 1 + (i * 7919) % 999800; FOR r IN $body LOOP END LOOP; END LOOP;
  t0 := clock_timestamp();
  FOR i IN 1..$2 LOOP x := 1 + (i * 7919) % 999800; FOR r IN $body LOOP END LOOP; END LOOP;
  RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1000 / $2)::numeric, 4);
END \$\$" -c "SELECT pg_temp.bq()" | tail -1
}
ratio_line() { # NAME SORTED BTREE UNIT HIGHER_IS_BETTER(0|1) [BAR, default 1.2]
	local name=$1 s=$2 b=$3 unit=$4 hib=$5 bar=${6:-1.2} r
	if [ "$hib" = 1 ]; then r=$(calc "$b / $s"); else r=$(calc "$s / $b"); fi
	summary "sorted $name: nedb_sorted $s $unit, btree $b $unit, ratio $(fmt "$r" 2) (bar <= $bar) $(verdict "$r <= $bar")"
}

declare -A v=()
for k in $SORTED_KEYS; do
	case " $SORTED_PARTS " in *" reads "*) ;; *) continue ;; esac
	declare -A b=() t=() g=() st=() sr=()
	# alternate the two access methods (and which goes first), so that the
	# machine's noise hits both
	for rep in $(seq 1 "$SORTED_REPS"); do
		order="btree sorted"
		[ $((rep % 2)) = 0 ] && order="sorted btree"
		for am in $order; do
			idx="sb_${k}_$am"
			q sorted -c "DROP INDEX IF EXISTS $idx" -c "CHECKPOINT"
			t0=$(now_s)
			q sorted -c "CREATE INDEX $idx ON sb USING ${using[$am]} (${expr[$k]})"
			b[$am]="${b[$am]:-} $(since "$t0")"
			v[size_${k}_$am]=$(qv sorted "SELECT pg_relation_size('$idx')")
			q sorted -c "ANALYZE sb" -c "CHECKPOINT"
			if [ $am = sorted ]; then
				q sorted -c "SET enable_bitmapscan = off" -c "EXPLAIN (COSTS OFF) SELECT doc FROM sb ORDER BY ${desc_sorted[$k]} LIMIT 10" |
					grep -q "Index Scan Backward using $idx" || die "sorted: the top-10 on $k does not scan $idx backward"
				d=${desc_sorted[$k]} rg=${range_sorted[$k]} a=${asc_sorted[$k]}
			else
				d=${desc_btree[$k]} rg=${range_btree[$k]} a=${asc_btree[$k]}
			fi
			f=$GEN/sorted_top_${k}_$am.pgb
			echo "SELECT doc FROM sb ORDER BY $d LIMIT 10;" >"$f"
			pgb sorted -M prepared -c 1 -T 2 -f "$f" >/dev/null   # warm-up
			t[$am]="${t[$am]:-} $(pgb_checked sorted -M prepared -c 1 -T "$SORTED_T" -f "$f" | pgb_lat)"
			f=$GEN/sorted_range_${k}_$am.pgb
			printf '%s\n' '\set x random(1, 999800)' "SELECT doc FROM sb WHERE $rg ORDER BY $a;" >"$f"
			pgb sorted -M prepared -c 1 -T 2 -f "$f" >/dev/null
			g[$am]="${g[$am]:-} $(pgb_checked sorted -M prepared -c 1 -T "$SORTED_T" -f "$f" | pgb_lat)"
			# the same two queries timed inside the server (no client, no
			# network): plpgsql loops with cached plans, ms per query
			st[$am]="${st[$am]:-} $(server_ms "SELECT doc FROM sb ORDER BY $d LIMIT 10" 2000)"
			sr[$am]="${sr[$am]:-} $(server_ms "SELECT doc FROM sb WHERE $rg ORDER BY $a" 1000)"
			n=$(qv sorted "SELECT count(*) FROM sb WHERE $(echo "$rg" | sed 's/:x/500000/g')")
			log "sorted $k $am rep $rep: builds${b[$am]} s, size ${v[size_${k}_$am]}, top10${t[$am]} ms (in server${st[$am]}), range${g[$am]} ms (in server${sr[$am]}) ($n rows at x=500000)"
			q sorted -c "DROP INDEX $idx"
		done
	done
	for am in btree sorted; do
		# shellcheck disable=SC2086
		v[build_${k}_$am]=$(median ${b[$am]})
		# shellcheck disable=SC2086
		v[top_${k}_$am]=$(median ${t[$am]})
		# shellcheck disable=SC2086
		v[range_${k}_$am]=$(median ${g[$am]})
		# shellcheck disable=SC2086
		v[stop_${k}_$am]=$(median ${st[$am]})
		# shellcheck disable=SC2086
		v[srange_${k}_$am]=$(median ${sr[$am]})
	done
	unset b t g st sr
ratio_line "build $k (1M docs)" "${v[build_${k}_sorted]}" "${v[build_${k}_btree]}" s 0
	ratio_line "index size $k" "$(calc "${v[size_${k}_sorted]} / 1048576")" "$(calc "${v[size_${k}_btree]} / 1048576")" MB 0
	ratio_line "top10 $k (ORDER BY DESC LIMIT 10)" "${v[top_${k}_sorted]}" "${v[top_${k}_btree]}" ms 0
	ratio_line "range $k (100 rows, ordered)" "${v[range_${k}_sorted]}" "${v[range_${k}_btree]}" ms 0
	ratio_line "top10 $k, in the server" "${v[stop_${k}_sorted]}" "${v[stop_${k}_btree]}" ms 0
	ratio_line "range $k, in the server" "${v[srange_${k}_sorted]}" "${v[srange_${k}_btree]}" ms 0
done
if [ -n "${v[size_jheight_btree]:-}" ]; then
	r=$(calc "${v[size_jheight_sorted]} / ${v[size_jheight_btree]}")
	summary "sorted jsonb key size: nedb_sorted $(fmt "$(calc "${v[size_jheight_sorted]} / 1048576")" 1) MB vs btree $(fmt "$(calc "${v[size_jheight_btree]} / 1048576")" 1) MB, ratio $(fmt "$r" 3) (bar <= 1.0) $(verdict "$r <= 1.0")"
fi

# dead entries: 30k rolled-back rows above the top key of 100k
case " $SORTED_PARTS " in *" dead "*)
	declare -A df=() dt=() ds=()
	for rep in $(seq 1 "$SORTED_REPS"); do
		order="btree sorted"
		[ $((rep % 2)) = 0 ] && order="sorted btree"
		for am in $order; do
			q sorted >/dev/null <<SQL
DROP TABLE IF EXISTS sd;
CREATE TABLE sd AS SELECT height AS h, doc FROM sb WHERE height > 900000;
CREATE INDEX sd_h ON sd USING ${using[$am]} (h);
VACUUM ANALYZE sd;
BEGIN;
INSERT INTO sd SELECT 1000000 + g, doc FROM onedoc, generate_series(1, 30000) g;
ROLLBACK;
CHECKPOINT;
SQL
			q sorted -c "SET enable_bitmapscan = off" -c "EXPLAIN (COSTS OFF) SELECT doc FROM sd ORDER BY h DESC LIMIT 10" |
				grep -q "Index Scan Backward using sd_h" || die "sorted: the top-10 over dead entries does not scan sd_h ($am) backward"
			# the first query visits the 30k dead rows (and marks their entries)
			df[$am]="${df[$am]:-} $(qv sorted "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT doc FROM sd ORDER BY h DESC LIMIT 10" |
				awk '/Execution Time/ { print $3 }')"
			f=$GEN/sorted_dead_$am.pgb
			echo "SELECT doc FROM sd ORDER BY h DESC LIMIT 10;" >"$f"
			pgb sorted -M prepared -c 1 -T 2 -f "$f" >/dev/null   # warm-up
			dt[$am]="${dt[$am]:-} $(pgb_checked sorted -M prepared -c 1 -T "$SORTED_T" -f "$f" | pgb_lat)"
			ds[$am]="${ds[$am]:-} $(server_ms "SELECT doc FROM sd ORDER BY h DESC LIMIT 10" 2000)"
			log "sorted dead $am rep $rep: first query${df[$am]} ms, then top10${dt[$am]} ms (in server${ds[$am]})"
		done
	done
	q sorted -c "DROP TABLE sd" >/dev/null
	for am in btree sorted; do
		# shellcheck disable=SC2086
		v[dfirst_$am]=$(median ${df[$am]})
		# shellcheck disable=SC2086
		v[dtop_$am]=$(median ${dt[$am]})
		# shellcheck disable=SC2086
		v[dstop_$am]=$(median ${ds[$am]})
	done
	unset df dt ds
	summary "sorted top10 over 30k dead entries, the first (marking) query: nedb_sorted ${v[dfirst_sorted]} ms, btree ${v[dfirst_btree]} ms"
	ratio_line "top10 over 30k dead entries (after the first)" "${v[dtop_sorted]}" "${v[dtop_btree]}" ms 0 1.5
	ratio_line "top10 over 30k dead entries, in the server" "${v[dstop_sorted]}" "${v[dstop_btree]}" ms 0 1.5
	;;
esac

# inserts: 1M keys preloaded, then one block document per transaction
q sorted -c "CREATE SEQUENCE ins_seq START 1000001" >/dev/null
declare -A ikey=([height]="nextval('ins_seq')" [rnd]="(random() * 2147483647)::int8" [jheight]="to_jsonb(nextval('ins_seq'))")
declare -A itype=([height]="int8" [rnd]="int8" [jheight]="jsonb")
declare -A ipre=([height]="height" [rnd]="rnd" [jheight]="to_jsonb(height)")
for k in $SORTED_KEYS; do
	case " $SORTED_PARTS " in *" inserts "*) ;; *) continue ;; esac
	declare -A i1=() i4=() ib=()
	for am in btree sorted; do
		q sorted >/dev/null <<SQL
DROP TABLE IF EXISTS ins_$am;
CREATE TABLE ins_$am (k ${itype[$k]}, doc jsonb);
INSERT INTO ins_$am SELECT ${ipre[$k]}, NULL FROM sb;
CREATE INDEX ins_${am}_k ON ins_$am USING ${using[$am]} (k);
VACUUM ANALYZE ins_$am;
SQL
		echo "INSERT INTO ins_$am SELECT ${ikey[$k]}, doc FROM onedoc;" >"$GEN/sorted_ins_${k}_$am.pgb"
	done
	checkpoint sorted
	for rep in $(seq 1 "$SORTED_REPS"); do
		order="btree sorted"
		[ $((rep % 2)) = 0 ] && order="sorted btree"
		for am in $order; do
			f=$GEN/sorted_ins_${k}_$am.pgb
			i1[$am]="${i1[$am]:-} $(PGOPTIONS='-c synchronous_commit=off' pgb_checked sorted -c 1 -j 1 -T "$SORTED_T" -f "$f" | pgb_tps)"
			i4[$am]="${i4[$am]:-} $(PGOPTIONS='-c synchronous_commit=off' pgb_checked sorted -c 4 -j 2 -T "$SORTED_T" -f "$f" | pgb_tps)"
			t0=$(now_s)
			q sorted -c "INSERT INTO ins_$am SELECT ${ikey[$k]}, doc FROM onedoc, generate_series(1, 100000)"
			ib[$am]="${ib[$am]:-} $(since "$t0")"
		done
	done
	[ "$(qv sorted "SELECT nedb.sorted_check('ins_sorted_k') = (SELECT count(*) FROM ins_sorted)")" = t ] ||
		die "sorted: ins_sorted_k fails sorted_check after the insert runs"
	for am in btree sorted; do
		# shellcheck disable=SC2086
		v[ins1_${k}_$am]=$(median ${i1[$am]})
		# shellcheck disable=SC2086
		v[ins4_${k}_$am]=$(median ${i4[$am]})
		# shellcheck disable=SC2086
		v[insb_${k}_$am]=$(median ${ib[$am]})
		log "sorted insert $k $am: 1 client${i1[$am]} tps, 4 clients${i4[$am]} tps, 100k in one statement${ib[$am]} s"
	done
	unset i1 i4 ib
	ratio_line "insert $k, 1 client" "${v[ins1_${k}_sorted]}" "${v[ins1_${k}_btree]}" tps 1
	ratio_line "insert $k, 4 clients" "${v[ins4_${k}_sorted]}" "${v[ins4_${k}_btree]}" tps 1
	ratio_line "insert $k, 100k rows in one statement" "${v[insb_${k}_sorted]}" "${v[insb_${k}_btree]}" s 0
done
q sorted -c "DROP TABLE IF EXISTS ins_btree, ins_sorted" >/dev/null
