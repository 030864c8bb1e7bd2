# bench/ingest.sh -- benchmark 1 (sourced by run.sh; db "bench").
#
# 100,000 staged block documents (bench.staging, from blocks.sql) written in
# 200 transactions of 500 documents, by one pgbench client (-M prepared):
#   client: each transaction is BEGIN, 500 single-row statements, COMMIT
#           nedb:  SELECT nedb.put('blocks', id, doc) FROM staging WHERE height = k
#           plain: INSERT INTO plain SELECT id, height, doc FROM staging WHERE height = k
#   server: one statement per transaction over 500 documents
#           nedb:  SELECT count(nedb.put(...)) FROM staging WHERE height BETWEEN a AND b
#           plain: INSERT INTO plain SELECT ... WHERE height BETWEEN a AND b
# Plain table: id text PRIMARY KEY, height bigint (btree), doc jsonb.
# Each repetition starts from an empty chain / empty table after a
# CHECKPOINT; synchronous_commit = on.  Median of 3 repetitions
# (INGEST_REPS).  Bars (issue 14): client >= 0.7x plain's docs/s, server
# >= 0.5x.

INGEST_REPS=${INGEST_REPS:-3}
INGEST_BATCHES=200 # x 500 = 100,000 documents

q bench <<'EOF'
DROP TABLE IF EXISTS plain;
CREATE TABLE plain (id text PRIMARY KEY, height bigint NOT NULL, doc jsonb NOT NULL);
CREATE INDEX plain_height ON plain (height);
DROP SEQUENCE IF EXISTS ingest_batch;
CREATE SEQUENCE ingest_batch MINVALUE 0 START 0;
EOF

# generated pgbench scripts: the batch number comes from a sequence (one
# nextval per transaction, outside it, on both sides)
gen_client_script() { # $1 = statement with :h for the height
	echo "SELECT nextval('ingest_batch') * 500 AS base \\gset"
	echo "BEGIN;"
	for i in $(seq 1 500); do
		echo "${1//:h/:base + $i};"
	done
	echo "COMMIT;"
}
gen_client_script "SELECT nedb.put('blocks', id, doc) FROM staging WHERE height = :h" >"$GEN/ingest_client_nedb.pgb"
gen_client_script "INSERT INTO plain SELECT id, height, doc FROM staging WHERE height = :h" >"$GEN/ingest_client_plain.pgb"
cp "$BENCH/ingest_server_nedb.pgb" "$BENCH/ingest_server_plain.pgb" "$GEN/"

ingest_reset() {
	reset_nedb bench
	q bench -c "TRUNCATE plain" -c "SELECT setval('ingest_batch', 0, false)" >/dev/null
	checkpoint bench
}
ingest_check() { # $1 = nedb|plain
	local n
	if [ "$1" = nedb ]; then
		n=$(qv bench "SELECT nedb.seq() + 1")
	else
		n=$(qv bench "SELECT count(*) FROM plain")
	fi
	[ "$n" = 100000 ] || die "ingest $1: $n documents written, expected 100000"
	[ "$(qv bench "SELECT last_value FROM ingest_batch")" = $((INGEST_BATCHES - 1)) ] ||
		die "ingest $1: batch sequence out of step"
}

# run one variant: ingest_run client|server nedb|plain -> docs/s
ingest_run() {
	local tps
	ingest_reset
	tps=$(pgb_checked bench -M prepared -c 1 -t "$INGEST_BATCHES" -f "$GEN/ingest_$1_$2.pgb" | pgb_tps)
	ingest_check "$2"
	calc "$tps * 500"
}

for variant in client server; do
	nedb_r=() plain_r=()
	for rep in $(seq 1 "$INGEST_REPS"); do
		nedb_r+=("$(ingest_run $variant nedb)")
		plain_r+=("$(ingest_run $variant plain)")
		log "ingest $variant rep $rep: nedb ${nedb_r[-1]} docs/s, plain ${plain_r[-1]} docs/s"
	done
	n=$(median "${nedb_r[@]}")
	p=$(median "${plain_r[@]}")
	r=$(calc "$n / $p")
	case $variant in
		client) what="500 single-row statements per transaction" bar=0.7 ;;
		server) what="one statement per 500-doc transaction" bar=0.5 ;;
	esac
	summary "ingest ($what): nedb $(fmt "$n" 0) docs/s, plain $(fmt "$p" 0) docs/s, ratio $(fmt "$r" 2) (bar >= $bar) $(verdict "$r >= $bar")   [median of $INGEST_REPS; nedb runs: ${nedb_r[*]}; plain runs: ${plain_r[*]}]"
done
