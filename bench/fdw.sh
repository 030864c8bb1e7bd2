# bench/fdw.sh -- collections as foreign tables (sourced by run.sh; db "big":
# 1M block documents in collection 'v', the same in plain_big with a btree
# on height).
#
# One pgbench client (-M prepared, -T FDW_T), average latency, median of 3,
# rows returned to the client; the foreign table has the plain table's
# columns (_id, height, doc):
#   top10:  SELECT * FROM v_ft ORDER BY height DESC LIMIT 10 (foreign table)
#           vs nql('FROM v ORDER BY height DESC LIMIT 10')
#           vs SELECT * FROM plain_big ORDER BY height DESC LIMIT 10
#   range:  100 rows, height >= x AND height < x + 100 ORDER BY height
#           (random x), the same three ways
#   copy:   COPY of 100k documents (id, doc) into a foreign table vs into a
#           plain table (id text PRIMARY KEY, doc jsonb), from the same
#           server-side file; seconds, median of 3
# Bars: top10 and range <= 1.5x plain; copy >= 0.4x plain's docs/s.

FDW_T=${FDW_T:-5}
FDW_REPS=${FDW_REPS:-3}
FDW_COPY_N=${FDW_COPY_N:-100000}

q big >/dev/null <<'SQL'
SELECT nedb.create_index('v', 'height', 'sorted');
DROP FOREIGN TABLE IF EXISTS v_ft;
-- the plain table's shape: (id, height, doc)
CREATE FOREIGN TABLE v_ft (_id text COLLATE "C", height bigint, doc jsonb)
  SERVER nedb OPTIONS (collection 'v');
VACUUM ANALYZE nedb.versions;
SQL
[ "$(qv big "SELECT count(*) FROM (SELECT * FROM v_ft ORDER BY height DESC LIMIT 10) x")" = 10 ] ||
	die "fdw: the foreign table does not read collection v"
qv big "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM v_ft ORDER BY height DESC LIMIT 10" | grep -q 'NEDB Limit: 10' ||
	die "fdw: ORDER BY ... LIMIT is not pushed down"

fdw_lat() { # FILE -> median average latency (ms)
	local f=$1 r=()
	pgb big -M prepared -c 1 -T 2 -f "$f" >/dev/null   # warm-up
	for _ in $(seq 1 "$FDW_REPS"); do
		r+=("$(pgb_checked big -M prepared -c 1 -T "$FDW_T" -f "$f" | pgb_lat)")
	done
	median "${r[@]}"
}
fdw_script() { # NAME SQL... -> a pgbench file in $GEN
	local f=$GEN/fdw_$1.pgb
	shift
	printf '%s\n' "$@" >"$f"
	echo "$f"
}

declare -A lat=()
lat[ft_top]=$(fdw_lat "$(fdw_script ft_top "SELECT * FROM v_ft ORDER BY height DESC LIMIT 10;")")
lat[nql_top]=$(fdw_lat "$(fdw_script nql_top "SELECT * FROM nql('FROM v ORDER BY height DESC LIMIT 10');")")
lat[plain_top]=$(fdw_lat "$(fdw_script plain_top "SELECT * FROM plain_big ORDER BY height DESC LIMIT 10;")")
r=$(calc "${lat[ft_top]} / ${lat[plain_top]}")
summary "fdw top10 (SELECT * ... ORDER BY height DESC LIMIT 10, 1M docs): foreign table ${lat[ft_top]} ms, nql ${lat[nql_top]} ms, plain ${lat[plain_top]} ms; ratio foreign/plain $(fmt "$r" 2) (bar <= 1.5) $(verdict "$r <= 1.5")"

lat[ft_range]=$(fdw_lat "$(fdw_script ft_range '\set x random(1, 999000)' "SELECT * FROM v_ft WHERE height >= :x AND height < :x + 100 ORDER BY height;")")
lat[nql_range]=$(fdw_lat "$(fdw_script nql_range '\set x random(1, 999000)' "SELECT * FROM nql(format('FROM v WHERE height >= %s AND height < %s ORDER BY height', :x::int, :x::int + 100));")")
lat[plain_range]=$(fdw_lat "$(fdw_script plain_range '\set x random(1, 999000)' "SELECT * FROM plain_big WHERE height >= :x AND height < :x + 100 ORDER BY height;")")
r=$(calc "${lat[ft_range]} / ${lat[plain_range]}")
summary "fdw range (100 rows by height, 1M docs): foreign table ${lat[ft_range]} ms, nql ${lat[nql_range]} ms, plain ${lat[plain_range]} ms; ratio foreign/plain $(fmt "$r" 2) (bar <= 1.5) $(verdict "$r <= 1.5")"

# COPY: the same file into a plain jsonb table and into a foreign table
copy_file=$NB_DIR/fdw_copy.tsv
q big -c "COPY (SELECT 'c' || height, doc FROM staging WHERE height <= $FDW_COPY_N ORDER BY height) TO '$copy_file'"
tp=()
tf=()
for i in $(seq 1 "$FDW_REPS"); do
	q big -c "DROP TABLE IF EXISTS copy_plain" -c "CREATE TABLE copy_plain (id text PRIMARY KEY, doc jsonb NOT NULL)"
	q big -c "DROP FOREIGN TABLE IF EXISTS copy_ft" \
		-c "CREATE FOREIGN TABLE copy_ft (_id text, doc jsonb) SERVER nedb OPTIONS (collection 'copied_$i')"
	checkpoint big
	t0=$(now_s)
	q big -c "COPY copy_plain FROM '$copy_file'"
	tp+=("$(since "$t0")")
	checkpoint big
	t0=$(now_s)
	q big -c "COPY copy_ft FROM '$copy_file'"
	tf+=("$(since "$t0")")
	[ "$(qv big "SELECT count(*) FROM copy_ft")" = "$FDW_COPY_N" ] || die "fdw: COPY into the foreign table lost rows"
	log "fdw copy rep $i: plain ${tp[-1]} s, foreign table ${tf[-1]} s"
done
# context: the write path alone, the same documents as one nedb.put statement
t0=$(now_s)
qv big "SELECT count(nedb.put('put_ctx', 'c' || height, doc)) FROM staging WHERE height <= $FDW_COPY_N" >/dev/null
tput=$(since "$t0")
[ "$(qv big "SELECT nedb.verify()")" = t ] || die "fdw: verify failed after COPY"
mp=$(median "${tp[@]}")
mf=$(median "${tf[@]}")
r=$(calc "$mp / $mf")
summary "fdw copy ($FDW_COPY_N docs): foreign table $mf s ($(fmt "$(calc "$FDW_COPY_N / $mf")" 0) docs/s), plain jsonb table $mp s ($(fmt "$(calc "$FDW_COPY_N / $mp")" 0) docs/s); throughput ratio $(fmt "$r" 2) (bar >= 0.4) $(verdict "$r >= 0.4"); context: one SELECT nedb.put(...) FROM staging of the same docs $tput s"
q big -c "DROP TABLE copy_plain" -c "DROP FOREIGN TABLE copy_ft"
rm -f "$copy_file"
