# bench/nql.sh -- NQL through indexes (sourced by run.sh; db "big": 1M block
# documents in collection 'v', the same in plain_big with a btree on height).
#
# One pgbench client (-M prepared, -T NQL_T), average latency, median of 3:
#   top10:  SELECT * FROM nql('FROM <c> ORDER BY height DESC LIMIT 10') at
#           10k, 100k, 1M docs vs SELECT doc FROM <plain> ORDER BY height
#           DESC LIMIT 10 (both send the documents to the client)
#   range:  nql('FROM v WHERE height >= x AND height < x+100 ORDER BY height')
#           vs the same range on plain_big (random x), rows to the client
#   context: both again as count(*) on the server, where the plain side
#           never reads a document
#   asof:   the top10 query AS OF s at 1M after 10% of the documents were
#           written again after s, vs the same query at HEAD
#   eq:     nql('FROM v WHERE hash = "<random block's hash>"') with an eq
#           index vs plain_big with a btree on doc -> 'hash'
#   search: nql('FROM v SEARCH "zeta" LIMIT 10') with a search index on
#           miner vs plain_big with the same GIN index
# Bars (issue 16): top10 and range <= 1.2x plain, eq <= 1.2x, search <= 1.3x;
# top10 1M/10k <= 2; asof <= 3x HEAD.

NQL_T=${NQL_T:-5}
NQL_REPS=${NQL_REPS:-3}

# smaller collections and plain tables for the scaling figure
q big >/dev/null <<'SQL'
DO $$
BEGIN
	FOR i IN 0..199 LOOP
		PERFORM nedb.put('v100k', id, doc)
		   FROM staging WHERE height BETWEEN i * 500 + 1 AND i * 500 + 500;
		PERFORM nedb.put('v10k', id, doc)
		   FROM staging WHERE height BETWEEN i * 500 + 1 AND i * 500 + 500 AND height <= 10000;
		COMMIT;
	END LOOP;
END
$$;
DROP TABLE IF EXISTS plain_10k, plain_100k;
CREATE TABLE plain_10k AS SELECT * FROM plain_big WHERE height <= 10000;
CREATE TABLE plain_100k AS SELECT * FROM plain_big WHERE height <= 100000;
CREATE INDEX ON plain_10k (height);
CREATE INDEX ON plain_100k (height);
CREATE INDEX plain_big_hash ON plain_big ((doc -> 'hash'));
CREATE INDEX plain_big_miner ON plain_big USING gin (nedb.tokens(doc -> 'miner'));
SELECT nedb.create_index(c, 'height', 'sorted') FROM unnest(ARRAY['v', 'v10k', 'v100k']) c;
SELECT nedb.create_index('v', 'hash', 'eq');
SELECT nedb.create_index('v', 'miner', 'search');
VACUUM ANALYZE;
SQL
for c in v10k v100k; do
	[ "$(qv big "SELECT count(*) FROM nql('FROM $c')")" = "$([ $c = v10k ] && echo 10000 || echo 100000)" ] ||
		die "nql: collection $c is not loaded"
done

# run one query shape: nql_lat FILE -> median average latency (ms)
nql_lat() {
	local f=$1 r=()
	pgb big -M prepared -c 1 -T 2 -f "$f" >/dev/null   # warm-up
	for _ in $(seq 1 "$NQL_REPS"); do
		r+=("$(pgb_checked big -M prepared -c 1 -T "$NQL_T" -f "$f" | pgb_lat)")
	done
	median "${r[@]}"
}
script() { # NAME SQL... -> a pgbench file in $GEN
	local f=$GEN/nql_$1.pgb
	shift
	printf '%s\n' "$@" >"$f"
	echo "$f"
}

declare -A lat=()
for c in v10k v100k v; do
	p=$([ $c = v10k ] && echo plain_10k || ([ $c = v100k ] && echo plain_100k || echo plain_big))
	lat[nql_$c]=$(nql_lat "$(script "top_$c" "SELECT * FROM nql('FROM $c ORDER BY height DESC LIMIT 10');")")
	lat[plain_$c]=$(nql_lat "$(script "ptop_$c" "SELECT doc FROM $p ORDER BY height DESC LIMIT 10;")")
	log "nql top10 $c: nql ${lat[nql_$c]} ms, plain ${lat[plain_$c]} ms"
done
r=$(calc "${lat[nql_v]} / ${lat[plain_v]}")
g=$(calc "${lat[nql_v]} / ${lat[nql_v10k]}")
summary "nql top10 (ORDER BY height DESC LIMIT 10): 10k nql ${lat[nql_v10k]} ms / plain ${lat[plain_v10k]} ms, 100k ${lat[nql_v100k]} / ${lat[plain_v100k]} ms, 1M ${lat[nql_v]} / ${lat[plain_v]} ms; ratio at 1M $(fmt "$r" 2) (bar <= 1.2) $(verdict "$r <= 1.2"); 1M/10k $(fmt "$g" 2) (bar <= 2) $(verdict "$g <= 2")"

lat[range]=$(nql_lat "$(script range '\set x random(1, 999000)' "SELECT * FROM nql(format('FROM v WHERE height >= %s AND height < %s ORDER BY height', :x::int, :x::int + 100));")")
lat[prange]=$(nql_lat "$(script prange '\set x random(1, 999000)' "SELECT doc FROM plain_big WHERE height >= :x AND height < :x + 100 ORDER BY height;")")
r=$(calc "${lat[range]} / ${lat[prange]}")
summary "nql range (100 rows by height, 1M docs): nql ${lat[range]} ms, plain ${lat[prange]} ms, ratio $(fmt "$r" 2) (bar <= 1.2) $(verdict "$r <= 1.2")"

# context: the same two queries counted on the server (no rows to the
# client; the plain side then never reads a document)
lat[ctop]=$(nql_lat "$(script ctop "SELECT count(*) FROM nql('FROM v ORDER BY height DESC LIMIT 10');")")
lat[cptop]=$(nql_lat "$(script cptop "SELECT count(*) FROM (SELECT doc FROM plain_big ORDER BY height DESC LIMIT 10) x;")")
lat[crange]=$(nql_lat "$(script crange '\set x random(1, 999000)' "SELECT count(*) FROM nql(format('FROM v WHERE height >= %s AND height < %s ORDER BY height', :x::int, :x::int + 100));")")
lat[cprange]=$(nql_lat "$(script cprange '\set x random(1, 999000)' "SELECT count(*) FROM (SELECT doc FROM plain_big WHERE height >= :x AND height < :x + 100 ORDER BY height) x;")")
summary "nql counted on the server (context): top10 nql ${lat[ctop]} ms, plain ${lat[cptop]} ms, ratio $(fmt "$(calc "${lat[ctop]} / ${lat[cptop]}")" 2); range nql ${lat[crange]} ms, plain ${lat[cprange]} ms, ratio $(fmt "$(calc "${lat[crange]} / ${lat[cprange]}")" 2)"

# AS OF s after 10% of the documents were written again
s=$(qv big "SELECT nedb.seq()")
q big >/dev/null <<'SQL'
DO $$
BEGIN
	FOR i IN 0..199 LOOP
		PERFORM nedb.put('v', id, doc || '{"rewritten": true}')
		   FROM staging WHERE height % 10 = 0 AND height BETWEEN i * 5000 + 1 AND i * 5000 + 5000;
		COMMIT;
	END LOOP;
END
$$;
VACUUM ANALYZE nedb.versions;
SQL
lat[head]=$(nql_lat "$(script head "SELECT count(*) FROM nql('FROM v ORDER BY height DESC LIMIT 10');")")
lat[asof]=$(nql_lat "$(script asof "SELECT count(*) FROM nql('FROM v AS OF $s ORDER BY height DESC LIMIT 10');")")
[ "$(qv big "SELECT count(*) FROM nql('FROM v AS OF $s ORDER BY height DESC LIMIT 10') r WHERE r ? 'rewritten'")" = 0 ] ||
	die "nql: AS OF returned a version written after it"
r=$(calc "${lat[asof]} / ${lat[head]}")
summary "nql AS OF (top10 at 1M, 10% rewritten after s): as of ${lat[asof]} ms, HEAD ${lat[head]} ms, ratio $(fmt "$r" 2) (bar <= 3) $(verdict "$r <= 3")"

lat[eq]=$(nql_lat "$(script eq '\set x random(1, 1000000)' "SELECT count(*) FROM nql(format('FROM v WHERE hash = \"%s\"', encode(sha256(convert_to('block' || :x::int, 'UTF8')), 'hex')));")")
lat[peq]=$(nql_lat "$(script peq '\set x random(1, 1000000)' "SELECT count(*) FROM plain_big WHERE doc -> 'hash' = to_jsonb(encode(sha256(convert_to('block' || :x::int, 'UTF8')), 'hex'));")")
r=$(calc "${lat[eq]} / ${lat[peq]}")
summary "nql eq (hash = x, eq index, 1M docs): nql ${lat[eq]} ms, plain ${lat[peq]} ms, ratio $(fmt "$r" 2) (bar <= 1.2) $(verdict "$r <= 1.2")"

lat[search]=$(nql_lat "$(script search "SELECT count(*) FROM nql('FROM v SEARCH \"zeta\" LIMIT 10');")")
lat[psearch]=$(nql_lat "$(script psearch "SELECT count(*) FROM (SELECT doc FROM plain_big WHERE nedb.tokens(doc -> 'miner') @> '{zeta}' ORDER BY id LIMIT 10) x;")")
r=$(calc "${lat[search]} / ${lat[psearch]}")
summary "nql search (SEARCH \"zeta\" LIMIT 10, GIN, 1M docs, 1/7 match): nql ${lat[search]} ms, plain ${lat[psearch]} ms, ratio $(fmt "$r" 2) (bar <= 1.3) $(verdict "$r <= 1.3")"
