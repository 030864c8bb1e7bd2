# bench/cascade.sh -- Cascade, the file tier (sourced by run.sh; own db "cascade").
#
# 1. Chunk + hash throughput: nedb.chunk_root() (gear CDC + BLAKE2b-256 of
#    every chunk + the Merkle root) over CASCADE_MB (256) MB of
#    incompressible bytes held in a table; the time to detoast the input
#    (get_byte) is measured alone and taken off.  Plain Postgres hashing the
#    same bytes with sha256() is the context.  Bar: >= 300 MB/s.  Median of 3.
#    Wall time and the backend's CPU time (utime + stime from /proc) are both
#    reported: on a shared machine the CPU figure is the steadier one.
# 2. The reference's demo (examples/demo.py): a 1093 KiB text and the same
#    text with a 40-byte edit in the middle, warm; the text alone, cold.
#    Bars: dedup hits >= 20 of 22 chunks; warm ratio >= the reference's zlib
#    39.9x; cold ratio >= its LZMA 88.9x.  Then a 2 MB server log, cold,
#    against the reference's codec (LZMA 9e, xz container) on the same
#    chunks, computed with Python's lzma: bar >= 0.9x its ratio.  Plain Postgres storing the two
#    versions in a bytea column (pglz, lz4) is the context.
# 3. put_file / get_file of the CASCADE_MB input (warm) against INSERT into /
#    the whole value of a plain bytea column (get_byte detoasts it all), and
#    the backend's peak anonymous memory
#    (RssAnon, sampled every 20 ms) during each, as a multiple of the input.
# 4. put_file / get_file of the same input into a fresh chunk store,
#    unsealed and with nedb.tmk_file set (every chunk sealed with AES-256-GCM
#    after zstd), alternately, median of 3.  Bar (issue 18): sealed >= 0.8x
#    unsealed MB/s, each way.

CASCADE_MB=${CASCADE_MB:-256}
CASCADE_REPS=${CASCADE_REPS:-3}

q postgres -c "DROP DATABASE IF EXISTS cascade" -c "CREATE DATABASE cascade"
q cascade -c "CREATE EXTENSION nedb"
log "cascade: generating $CASCADE_MB MB of incompressible input"
q cascade <<SQL
CREATE TABLE input (data bytea);
ALTER TABLE input ALTER COLUMN data SET STORAGE EXTERNAL;
INSERT INTO input
SELECT string_agg(data, ''::bytea ORDER BY b)
  FROM (SELECT b, decode(string_agg(md5(b || ':' || i), '' ORDER BY i), 'hex') AS data
          FROM generate_series(1, $CASCADE_MB) b, generate_series(1, 65536) i GROUP BY b) x;
SQL
bytes=$(qv cascade "SELECT octet_length(data) FROM input")
mb=$(calc "$bytes / 1048576")

# --- 1. chunk + hash -------------------------------------------------------
timed() { # DB SQL -> seconds
	local t0
	t0=$(now_s)
	qv "$1" "$2" >/dev/null
	since "$t0"
}
# CPU seconds the backend spends on one statement
cpu_s() { # DB SQL
	q "$1" -At >/dev/null <<EOS
SELECT pg_backend_pid() AS pid \gset
\setenv BPID :pid
\! awk '{ print \$14 + \$15 }' /proc/\$BPID/stat > $GEN/cpu.0
$2;
\! awk '{ print \$14 + \$15 }' /proc/\$BPID/stat > $GEN/cpu.1
EOS
	calc "($(cat "$GEN/cpu.1") - $(cat "$GEN/cpu.0")) / $(getconf CLK_TCK)"
}
timed cascade "SELECT nedb.chunk_root(data) FROM input" >/dev/null # warm-up
chunk_r=() gross_r=() sha_r=() cpu_r=() cpusha_r=()
for rep in $(seq 1 "$CASCADE_REPS"); do
	t_detoast=$(timed cascade "SELECT get_byte(data, 0) FROM input")
	t_chunk=$(timed cascade "SELECT nedb.chunk_root(data) FROM input")
	t_sha=$(timed cascade "SELECT sha256(data) FROM input")
	c_detoast=$(cpu_s cascade "SELECT get_byte(data, 0) FROM input")
	c_chunk=$(cpu_s cascade "SELECT nedb.chunk_root(data) FROM input")
	c_sha=$(cpu_s cascade "SELECT sha256(data) FROM input")
	chunk_r+=("$(calc "$mb / ($t_chunk - $t_detoast)")")
	gross_r+=("$(calc "$mb / $t_chunk")")
	sha_r+=("$(calc "$mb / ($t_sha - $t_detoast)")")
	cpu_r+=("$(calc "$mb / ($c_chunk - $c_detoast)")")
	cpusha_r+=("$(calc "$mb / ($c_sha - $c_detoast)")")
	log "cascade chunk rep $rep: wall detoast $t_detoast s, chunk_root $t_chunk s, sha256 $t_sha s; cpu $c_detoast, $c_chunk, $c_sha s"
done
c=$(median "${chunk_r[@]}")
g=$(median "${gross_r[@]}")
s=$(median "${sha_r[@]}")
cc=$(median "${cpu_r[@]}")
cs=$(median "${cpusha_r[@]}")
chunks=$(qv cascade "SELECT count(*) FROM input, nedb.chunk_boundaries(data)")
summary "cascade chunk+hash ($(fmt "$mb" 0) MB, $chunks chunks, wall time): nedb $(fmt "$c" 0) MB/s ($(fmt "$g" 0) MB/s with the detoast), plain sha256() $(fmt "$s" 0) MB/s, ratio $(fmt "$(calc "$c / $s")" 2) (bar nedb >= 300 MB/s) $(verdict "$c >= 300")   [median of $CASCADE_REPS; runs: ${chunk_r[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores]"
summary "cascade chunk+hash ($(fmt "$mb" 0) MB, backend CPU time): nedb $(fmt "$cc" 0) MB/s, plain sha256() $(fmt "$cs" 0) MB/s, ratio $(fmt "$(calc "$cc / $cs")" 2) (bar nedb >= 300 MB/s) $(verdict "$cc >= 300")   [median of $CASCADE_REPS; runs: ${cpu_r[*]}]"

# --- 2. the reference's demo -------------------------------------------------
q cascade <<'SQL'
CREATE TABLE demo AS
SELECT convert_to(string_agg(format('line %s: the quick brown fox jumps over the lazy dog',
                                    lpad(i::text, 5, '0')) || E'\n', '' ORDER BY i), 'UTF8') AS base
  FROM generate_series(0, 19999) i;
ALTER TABLE demo ADD COLUMN edited bytea;
UPDATE demo SET edited = overlay(base PLACING convert_to('<<< a small edit in the middle >>>>>>>>>', 'UTF8') FROM 500001 FOR 40);
SELECT nedb.put_file('notes.txt', base), nedb.put_file('notes.txt', edited) FROM demo;
SELECT nedb.put_file('notes_cold.bin', base, 'cold') FROM demo;
CREATE TABLE plain_pglz (v int, data bytea COMPRESSION pglz);
CREATE TABLE plain_lz4 (v int, data bytea COMPRESSION lz4);
-- concatenated: a fresh datum, compressed by the column's own method
INSERT INTO plain_pglz SELECT 0, base || ''::bytea FROM demo UNION ALL SELECT 1, edited || ''::bytea FROM demo;
INSERT INTO plain_lz4 SELECT 0, base || ''::bytea FROM demo UNION ALL SELECT 1, edited || ''::bytea FROM demo;
SQL
[ "$(qv cascade "SELECT nedb.get_file('notes.txt', 0) = base AND nedb.get_file('notes.txt', 1) = edited AND nedb.get_file('notes_cold.bin', 0, 'cold') = base FROM demo")" = t ] ||
	die "cascade: the demo files do not read back exactly"
IFS='|' read -r uniq hits wratio wlogical wstored <<<"$(qv cascade "SELECT s->>'unique_chunks', s->>'dedup_hits', s->>'ratio', s->>'logical_bytes', s->>'stored_bytes' FROM nedb.compression_stats('warm') s")"
IFS='|' read -r cratio cstored <<<"$(qv cascade "SELECT s->>'ratio', s->>'stored_bytes' FROM nedb.compression_stats('cold') s")"
IFS='|' read -r pglz lz4 <<<"$(qv cascade "SELECT round(2240000.0 / (SELECT sum(pg_column_size(data)) FROM plain_pglz), 2), round(2240000.0 / (SELECT sum(pg_column_size(data)) FROM plain_lz4), 2)")"
v1chunks=$(qv cascade "SELECT chunks FROM nedb.file_versions('notes.txt') WHERE version = 1")
reused=$(qv cascade "SELECT count(*) FROM generate_series(0, $v1chunks - 1) i WHERE substr((SELECT chunks FROM nedb.files WHERE name = 'notes.txt' AND version = 1), 1 + 36 * i, 32) IN (SELECT substr(chunks, 1 + 36 * j, 32) FROM nedb.files, generate_series(0, 40) j WHERE name = 'notes.txt' AND version = 0)")
summary "cascade demo dedup: $hits dedup hits, $uniq unique chunks; the edited version reuses $reused of its $v1chunks chunks (reference: 20 hits, 22 unique) (bar >= 20 of 22) $(verdict "$hits >= 20 && $uniq <= 22")"
level=$(q cascade -At -c "SELECT nedb.seq()" -c "SHOW nedb.cascade_warm_level" | tail -1)
summary "cascade demo warm: nedb zstd level $level $wratio x ($wlogical -> $wstored bytes), reference zlib-6 39.93 x, plain Postgres bytea pglz $pglz x / lz4 $lz4 x, ratio to the reference $(fmt "$(calc "$wratio / 39.93")" 2) (bar >= 39.9 x) $(verdict "$wratio >= 39.9")"
summary "cascade demo cold: nedb LZMA2 9e per chunk (raw, or zstd where smaller) $cratio x (1120000 -> $cstored bytes), reference LZMA preset 9e 88.92 x, ratio to the reference $(fmt "$(calc "$cratio / 88.92")" 2) (bar >= 88.9 x) $(verdict "$cratio >= 88.9")"

# 2b. a 2 MB server log in the cold tier, against the reference's codec on
# the same chunks (the chunker is the reference's, so are the boundaries):
# Python's lzma.compress(preset=9|PRESET_EXTREME), xz container, per chunk
q cascade >/dev/null <<'SQL'
CREATE TABLE logtext AS
SELECT convert_to(string_agg(format('2026-03-%s %s:%s:%s.%s %s [%s] conn=%s user=%s db=%s: %s duration=%s ms rows=%s',
        lpad((1 + i / 40000)::text, 2, '0'), lpad((i / 1800 % 24)::text, 2, '0'), lpad((i / 30 % 60)::text, 2, '0'),
        lpad((i % 60)::text, 2, '0'), lpad(((i * 7919) % 1000000)::text, 6, '0'),
        (ARRAY['LOG','LOG','LOG','WARNING','ERROR'])[1 + (i * 31) % 5], 10000 + (i * 13) % 97, (i * 2654435761::int8) % 100000,
        (ARRAY['app','batch','admin','report'])[1 + i % 4], (ARRAY['shop','ledger'])[1 + i % 2],
        (ARRAY['statement: SELECT * FROM orders WHERE id = ' || (i * 17) % 50000,
               'statement: UPDATE stock SET qty = qty - 1 WHERE sku = ''' || md5((i % 5000)::text) || '''',
               'checkpoint starting: time', 'automatic vacuum of table "shop.public.orders": index scans: 1',
               'connection authorized: user=app database=shop'])[1 + (i * 7) % 5],
        ((i * 37) % 5000) / 100.0, (i * 11) % 300) || E'\n', '' ORDER BY i), 'UTF8') AS t
  FROM generate_series(0, 12000) i;
SELECT nedb.put_file('log.txt', t, 'cold') FROM logtext;
SQL
[ "$(qv cascade "SELECT nedb.get_file('log.txt', 0, 'cold') = t FROM logtext")" = t ] || die "cascade: log.txt does not read back exactly"
IFS='|' read -r llen lstored <<<"$(qv cascade "SELECT length(t), (SELECT sum(octet_length(c.data)) FROM nedb.chunks c, nedb.files f, generate_series(0, octet_length(f.chunks) / 36 - 1) j WHERE f.name = 'log.txt' AND c.tier = 'cold' AND c.id = substr(f.chunks, 1 + 36 * j, 32)) FROM logtext")"
qv cascade "SELECT encode(t, 'hex') FROM logtext" >"$GEN/logtext.hex"
qv cascade "SELECT encode(chunks, 'hex') FROM nedb.files WHERE name = 'log.txt'" >"$GEN/logtext_recipe.hex"
lref=$(python3 - "$GEN/logtext.hex" "$GEN/logtext_recipe.hex" <<'PY'
import lzma, sys
t = bytes.fromhex(open(sys.argv[1]).read().strip())
r = bytes.fromhex(open(sys.argv[2]).read().strip())
pos = total = 0
for i in range(0, len(r), 36):
    n = int.from_bytes(r[i + 32:i + 36], 'big')
    total += len(lzma.compress(t[pos:pos + n], preset=9 | lzma.PRESET_EXTREME))
    pos += n
assert pos == len(t)
print(total)
PY
)
lr=$(calc "$llen / $lstored")
lrr=$(calc "$llen / $lref")
summary "cascade log text cold ($llen bytes): nedb $(fmt "$lr" 2) x ($lstored bytes), the reference's LZMA 9e xz per chunk $(fmt "$lrr" 2) x ($lref bytes), ratio to the reference $(fmt "$(calc "$lr / $lrr")" 2) (bar >= 0.9) $(verdict "$lr >= 0.9 * $lrr")"

# --- 3. storing and reading the large input -----------------------------------
# run SQL in DB on one connection while sampling its backend's RssAnon (kB);
# prints "seconds peak_kB base_kB" (seconds as psql's \timing reports them)
rss_run() {
	local db=$1 sql=$2 tag=$3 pid peak=0 base=0 kb ms
	q "$db" -At -c "SELECT pg_sleep(0.3) /* $tag */" -c '\timing on' -c "$sql" >"$GEN/rss_$tag.out" &
	local bg=$!
	for _ in $(seq 1 100); do
		pid=$(qv "$db" "SELECT pid FROM pg_stat_activity WHERE query LIKE '%/* $tag */%' AND pid <> pg_backend_pid()")
		[ -n "$pid" ] && break
		sleep 0.02
	done
	[ -n "$pid" ] || die "cascade: no backend for $tag"
	base=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	while kill -0 "$bg" 2>/dev/null; do
		kb=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "${kb:-0}" -gt "$peak" ] && peak=$kb
		sleep 0.02
	done
	wait "$bg" || die "cascade: $tag failed"
	ms=$(awk '/^Time: / { t = $2 } END { print t }' "$GEN/rss_$tag.out")
	[ -n "$ms" ] || die "cascade: no timing for $tag"
	echo "$(calc "$ms / 1000") $peak $base"
}
q cascade -c "CREATE TABLE plain_files (data bytea)"
read -r t_put peak_put base_put <<<"$(rss_run cascade "SELECT nedb.put_file('big.bin', data) FROM input" put)"
read -r t_get peak_get base_get <<<"$(rss_run cascade "SELECT length(nedb.get_file('big.bin'))" get)"
read -r t_ins _ _ <<<"$(rss_run cascade "INSERT INTO plain_files SELECT data FROM input" ins)"
read -r t_sel _ _ <<<"$(rss_run cascade "SELECT get_byte(data, 0) FROM plain_files" sel)"
[ "$(qv cascade "SELECT md5(nedb.get_file('big.bin')) = md5(data) FROM input")" = t ] || die "cascade: big.bin does not read back exactly"
put_mb=$(calc "$mb / $t_put")
get_mb=$(calc "$mb / $t_get")
summary "cascade put_file ($(fmt "$mb" 0) MB incompressible, warm): nedb $(fmt "$put_mb" 0) MB/s, plain INSERT of the bytea $(fmt "$(calc "$mb / $t_ins")" 0) MB/s, ratio $(fmt "$(calc "$t_ins / $t_put")" 2); backend peak RssAnon $(fmt "$(calc "($peak_put - $base_put) / 1024")" 0) MB above its start = $(fmt "$(calc "($peak_put - $base_put) / 1024 / $mb")" 2) x the input (context)"
summary "cascade get_file ($(fmt "$mb" 0) MB, the whole value built): nedb $(fmt "$get_mb" 0) MB/s, plain detoast of the bytea $(fmt "$(calc "$mb / $t_sel")" 0) MB/s, ratio $(fmt "$(calc "$t_sel / $t_get")" 2); backend peak RssAnon $(fmt "$(calc "($peak_get - $base_get) / 1024")" 0) MB above its start = $(fmt "$(calc "($peak_get - $base_get) / 1024 / $mb")" 2) x the file (context)"

# --- 4. the same, sealed at rest -------------------------------------------
# unsealed and sealed alternately, each into a fresh chunk store (else every
# chunk would be a dedup hit), CASCADE_REPS times, medians; sealed: with
# nedb.tmk_file set for the session, each chunk sealed after zstd
tmk=$NB_DIR/cascade_tmk
head -c 32 /dev/urandom >"$tmk"
chown postgres: "$tmk"
chmod 600 "$tmk"
up=() ug=() sp=() sg=()
for rep in $(seq 1 "$CASCADE_REPS"); do
	for mode in plain sealed; do
		reset_nedb cascade
		checkpoint cascade
		if [ $mode = sealed ]; then export PGOPTIONS="-c nedb.tmk_file=$tmk"; fi
		read -r tp _ _ <<<"$(rss_run cascade "SELECT nedb.put_file('big.bin', data) FROM input" "p$mode$rep")"
		read -r tg _ _ <<<"$(rss_run cascade "SELECT length(nedb.get_file('big.bin'))" "g$mode$rep")"
		[ "$(qv cascade "SELECT md5(nedb.get_file('big.bin')) = md5(data) FROM input")" = t ] || die "cascade: big.bin ($mode) does not read back exactly"
		[ "$(qv cascade "SELECT bool_and(codec >= 2) = ('$mode' = 'sealed') FROM nedb.chunks")" = t ] || die "cascade: the chunks are not all $mode"
		unset PGOPTIONS
		if [ $mode = sealed ]; then sp+=("$tp"); sg+=("$tg"); else up+=("$tp"); ug+=("$tg"); fi
	done
done
mup=$(median "${up[@]}") mug=$(median "${ug[@]}") msp=$(median "${sp[@]}") msg=$(median "${sg[@]}")
rp=$(calc "$mup / $msp")
rg=$(calc "$mug / $msg")
summary "cascade sealed at rest ($(fmt "$mb" 0) MB, warm, nedb.tmk_file set, median of $CASCADE_REPS, alternating): put_file $(fmt "$(calc "$mb / $msp")" 0) MB/s against $(fmt "$(calc "$mb / $mup")" 0) unsealed, ratio $(fmt "$rp" 2) (bar >= 0.8) $(verdict "$rp >= 0.8"); get_file $(fmt "$(calc "$mb / $msg")" 0) MB/s against $(fmt "$(calc "$mb / $mug")" 0), ratio $(fmt "$rg" 2) (bar >= 0.8) $(verdict "$rg >= 0.8")   [runs put ${up[*]} / ${sp[*]}; get ${ug[*]} / ${sg[*]}]"
rm -f "$tmk"
q postgres -c "DROP DATABASE cascade"
