# bench/sorted.sh -- the nedb_sorted index access method against btree on
# the same data in the same run (sourced by run.sh; its own db "sorted").
#
# Data: 1M block documents (blocks.sql) in sb (height, rnd, doc), rnd a
# random int8.  Three keys: height (monotonic), rnd (random), and the jsonb
# document field doc -> 'height' (nedb_jsonb_ops, NEDB ordering, vs btree's
# jsonb_ops).  For each key and each access method, on the same table with
# only that index present:
#   build:  CREATE INDEX, median of SORTED_BUILDS
#   size:   pg_relation_size of the index
#   top10:  SELECT doc ... ORDER BY key DESC LIMIT 10 (pgbench, one client,
#           -T SORTED_T, median of SORTED_REPS, average latency)
#   range:  100 rows by key range, ordered (random start), same way
#   insert: single-row autocommit INSERTs of a block document into a table
#           preloaded with the 1M keys and that one index, 1 and 4 clients,
#           monotonic keys from a sequence or random keys, tps, median
# Bar: every figure within 1.2x of btree; no larger than btree on the jsonb
# key.

SORTED_T=${SORTED_T:-5}
SORTED_REPS=${SORTED_REPS:-3}
SORTED_BUILDS=${SORTED_BUILDS:-3}

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
	[jheight]="doc -> 'height' >= to_jsonb(:x) AND doc -> 'height' < to_jsonb(:x + 100)")
declare -A range_sorted=(
	[height]="height >= :x AND height < :x + 100"
	[rnd]="rnd >= :x * 2147 AND rnd < :x * 2147 + 214748"
	[jheight]="doc -> 'height' OPERATOR(nedb.>=) to_jsonb(:x) AND doc -> 'height' OPERATOR(nedb.<) to_jsonb(:x + 100)")
declare -A using=([btree]="btree" [sorted]="nedb_sorted")

sorted_lat() { # FILE -> median average latency (ms)
	local f=$1 r=()
	pgb sorted -M prepared -c 1 -T 2 -f "$f" >/dev/null   # warm-up
	for _ in $(seq 1 "$SORTED_REPS"); do
		r+=("$(pgb_checked sorted -M prepared -c 1 -T "$SORTED_T" -f "$f" | pgb_lat)")
	done
	median "${r[@]}"
}
sorted_tps() { # CLIENTS FILE -> median tps
	local c=$1 f=$2 r=()
	for _ in $(seq 1 "$SORTED_REPS"); do
		r+=("$(pgb_checked sorted -c "$c" -j "$((c < 2 ? 1 : 2))" -T "$SORTED_T" -f "$f" | pgb_tps)")
	done
	median "${r[@]}"
}
ratio_line() { # NAME SORTED BTREE UNIT HIGHER_IS_BETTER(0|1)
	local name=$1 s=$2 b=$3 unit=$4 hib=$5 r
	if [ "$hib" = 1 ]; then r=$(calc "$b / $s"); else r=$(calc "$s / $b"); fi
	summary "sorted $name: nedb_sorted $s $unit, btree $b $unit, ratio $(fmt "$r" 2) (bar <= 1.2) $(verdict "$r <= 1.2")"
}

declare -A v=()
for k in height rnd jheight; do
	for am in btree sorted; do
		idx="sb_${k}_$am"
		t=()
		for _ in $(seq 1 "$SORTED_BUILDS"); do
			q sorted -c "DROP INDEX IF EXISTS $idx" -c "CHECKPOINT"
			t0=$(now_s)
			q sorted -c "CREATE INDEX $idx ON sb USING ${using[$am]} (${expr[$k]})"
			t+=("$(since "$t0")")
		done
		v[build_${k}_$am]=$(median "${t[@]}")
		v[size_${k}_$am]=$(qv sorted "SELECT pg_relation_size('$idx')")
		q sorted -c "ANALYZE sb"
		if [ $am = sorted ]; then
			q sorted -c "SET enable_bitmapscan = off" -c "EXPLAIN (COSTS OFF) SELECT doc FROM sb ORDER BY ${desc_sorted[$k]} LIMIT 10" |
				grep -q "Index Scan Backward using $idx" || die "sorted: the top-10 on $k does not scan $idx backward"
			d=${desc_sorted[$k]} rg=${range_sorted[$k]} a=${asc_sorted[$k]}
		else
			d=${desc_btree[$k]} rg=${range_btree[$k]} a=${asc_btree[$k]}
		fi
		f=$GEN/sorted_top_${k}_$am.pgb
		echo "SELECT doc FROM sb ORDER BY $d LIMIT 10;" >"$f"
		v[top_${k}_$am]=$(sorted_lat "$f")
		f=$GEN/sorted_range_${k}_$am.pgb
		printf '%s\n' '\set x random(1, 999800)' "SELECT doc FROM sb WHERE $rg ORDER BY $a;" >"$f"
		v[range_${k}_$am]=$(sorted_lat "$f")
		n=$(qv sorted "SELECT count(*) FROM sb WHERE $(echo "$rg" | sed 's/:x/500000/g')")
		log "sorted $k $am: build ${v[build_${k}_$am]} s, size ${v[size_${k}_$am]}, top10 ${v[top_${k}_$am]} ms, range ${v[range_${k}_$am]} ms ($n rows at x=500000)"
		q sorted -c "DROP INDEX $idx"
	done
	ratio_line "build $k (1M docs)" "${v[build_${k}_sorted]}" "${v[build_${k}_btree]}" s 0
	ratio_line "index size $k" "$(calc "${v[size_${k}_sorted]} / 1048576")" "$(calc "${v[size_${k}_btree]} / 1048576")" MB 0
	ratio_line "top10 $k (ORDER BY DESC LIMIT 10)" "${v[top_${k}_sorted]}" "${v[top_${k}_btree]}" ms 0
	ratio_line "range $k (100 rows, ordered)" "${v[range_${k}_sorted]}" "${v[range_${k}_btree]}" ms 0
done
r=$(calc "${v[size_jheight_sorted]} / ${v[size_jheight_btree]}")
summary "sorted jsonb key size: nedb_sorted $(fmt "$(calc "${v[size_jheight_sorted]} / 1048576")" 1) MB vs btree $(fmt "$(calc "${v[size_jheight_btree]} / 1048576")" 1) MB, ratio $(fmt "$r" 3) (bar <= 1.0) $(verdict "$r <= 1.0")"

# inserts: 1M keys preloaded, then one block document per transaction
q sorted -c "CREATE SEQUENCE ins_seq START 1000001" >/dev/null
declare -A ikey=([height]="nextval('ins_seq')" [rnd]="(random() * 2147483647)::int8" [jheight]="to_jsonb(nextval('ins_seq'))")
declare -A itype=([height]="int8" [rnd]="int8" [jheight]="jsonb")
declare -A ipre=([height]="height" [rnd]="rnd" [jheight]="to_jsonb(height)")
for k in height rnd jheight; do
	for am in btree sorted; do
		q sorted >/dev/null <<SQL
DROP TABLE IF EXISTS ins;
CREATE TABLE ins (k ${itype[$k]}, doc jsonb);
INSERT INTO ins SELECT ${ipre[$k]}, NULL FROM sb;
CREATE INDEX ins_k ON ins USING ${using[$am]} (k);
VACUUM ANALYZE ins;
CHECKPOINT;
SQL
		f=$GEN/sorted_ins_$k.pgb
		echo "INSERT INTO ins SELECT ${ikey[$k]}, doc FROM onedoc;" >"$f"
		v[ins1_${k}_$am]=$(sorted_tps 1 "$f")
		v[ins4_${k}_$am]=$(sorted_tps 4 "$f")
		if [ $am = sorted ]; then
			[ "$(qv sorted "SELECT nedb.sorted_check('ins_k') = (SELECT count(*) FROM ins)")" = t ] ||
				die "sorted: ins_k fails sorted_check after the insert runs"
		fi
		log "sorted insert $k $am: 1 client ${v[ins1_${k}_$am]} tps, 4 clients ${v[ins4_${k}_$am]} tps"
	done
	ratio_line "insert $k, 1 client" "${v[ins1_${k}_sorted]}" "${v[ins1_${k}_btree]}" tps 1
	ratio_line "insert $k, 4 clients" "${v[ins4_${k}_sorted]}" "${v[ins4_${k}_btree]}" tps 1
done
q sorted -c "DROP TABLE ins" >/dev/null
