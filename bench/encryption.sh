# bench/encryption.sh -- importing a reference database encrypted at rest
# (sourced by run.sh; own db "enc").
#
# 100k block documents (ENC_N) put into NEDB, exported as the reference's
# AOF in plaintext and sealed under a new key.enc (nedb.tmk_file: a 0600
# file of 32 random bytes in NB_DIR), both written to files; each then
# imported into a fresh extension from the file (pg_read_file), seconds,
# median of ENC_REPS (3), the head checked against the source's after each.
# Bar (issue 18): the encrypted import >= 0.8x the plaintext import's ops/s.

ENC_N=${ENC_N:-100000}
ENC_REPS=${ENC_REPS:-3}

q postgres -c "DROP DATABASE IF EXISTS enc" -c "CREATE DATABASE enc"
tmk=$NB_DIR/bench_tmk
head -c 32 /dev/urandom >"$tmk"
chown postgres: "$tmk"
chmod 600 "$tmk"
q postgres -c "ALTER DATABASE enc SET nedb.tmk_file = '$tmk'"
q enc -c "CREATE EXTENSION nedb"
stage_blocks enc staging "$ENC_N"
q enc -c "SELECT count(nedb.put('blocks', id, doc)) FROM (SELECT id, doc FROM staging ORDER BY height) s" >/dev/null
head=$(qv enc "SELECT nedb.head()")
key=$(qv enc "SELECT nedb.new_key_enc()")
plain=$NB_DIR/bench_plain.aof
sealed=$NB_DIR/bench_sealed.aof
qv enc "SELECT l FROM nedb.export_aof() l" >"$plain"
echo "SELECT l FROM nedb.export_aof(-1, NULL, :'key') l" | q enc -At -v key="$key" >"$sealed"
chown postgres: "$plain" "$sealed"
grep -q '"payload"' "$sealed" && die "encryption: the sealed export holds plaintext"

enc_import() { # FILE [KEY] -> seconds
	local t0 s
	reset_nedb enc
	checkpoint enc
	t0=$(now_s)
	if [ -n "${2:-}" ]; then
		echo "SELECT nedb.import_aof(pg_read_file(:'f'), :'key')" | q enc -v f="$1" -v key="$2" >/dev/null
	else
		echo "SELECT nedb.import_aof(pg_read_file(:'f'))" | q enc -v f="$1" >/dev/null
	fi
	s=$(since "$t0")
	[ "$(qv enc "SELECT nedb.head()")" = "$head" ] || die "encryption: the imported head is not the source's"
	echo "$s"
}

tp=() te=()
for _ in $(seq 1 "$ENC_REPS"); do
	tp+=("$(enc_import "$plain")")
	te+=("$(enc_import "$sealed" "$key")")
done
mp=$(median "${tp[@]}")
me=$(median "${te[@]}")
r=$(calc "$mp / $me")
summary "encryption: import of a ${ENC_N}-op AOF (median of $ENC_REPS): sealed $me s ($(fmt "$(calc "$ENC_N / $me")" 0) ops/s), plaintext $mp s ($(fmt "$(calc "$ENC_N / $mp")" 0) ops/s), ratio $(fmt "$r" 2) (bar >= 0.8) $(verdict "$r >= 0.8"); files $(du -k "$sealed" | cut -f1) KiB sealed, $(du -k "$plain" | cut -f1) KiB plain"
rm -f "$tmk" "$plain" "$sealed"
q postgres -c "DROP DATABASE enc"
