# bench/proofs.sh -- log proofs (sourced by run.sh; db "big": 1,000,000 ops).
#
# One pgbench client (-M prepared, -T PROOFS_T), random seqs over the whole
# log, average latency, median of PROOFS_REPS after a warm-up:
#   nedb.proof(s)         inclusion proof of op s under the current root
#   nedb.consistency(s)   the log at s is a prefix of today's
#   verify_inclusion      one of 1000 stored proofs checked against the
#                         digest (a primary-key lookup of the proof included)
#   plain                 SELECT doc FROM plain_big WHERE height = :h (context)
# Bar: proof generation and verification < 1 ms each.  Also the cost of
# verification alone: 1000 proofs checked in one statement, per proof.
#
# The tree's share of ingest: 100k small puts in server-side transactions of
# 500 (ops/s), against plain Postgres writing what the tree adds (one row of
# seq + 96 bytes per two ops, on average, with its primary key) the same way:
# an estimate of the tree's storage cost per put, since it cannot be switched
# off.

PROOFS_T=${PROOFS_T:-5}
PROOFS_REPS=${PROOFS_REPS:-3}

maxseq=$(qv big "SELECT nedb.seq()")
[ "$maxseq" -ge 999999 ] || die "proofs: the big db has $((maxseq + 1)) ops, expected >= 1M"
q big >/dev/null <<'SQL'
DROP TABLE IF EXISTS proof_sample, proof_digest;
CREATE TABLE proof_digest AS SELECT * FROM nedb.digest();
CREATE TABLE proof_sample AS
SELECT i, nedb.proof((i * 999983::bigint) % (SELECT seq + 1 FROM proof_digest)) AS p FROM generate_series(1, 1000) i;
ALTER TABLE proof_sample ADD PRIMARY KEY (i);
ANALYZE proof_sample;
SQL
[ "$(qv big "SELECT bool_and(nedb.verify_inclusion(p, d.seq, d.root)) FROM proof_sample, proof_digest d")" = t ] ||
	die "proofs: a sampled proof does not verify"
plen=$(qv big "SELECT round(avg(jsonb_array_length(p->'path')), 1) FROM proof_sample")

lat() { # script seconds -> ms
	pgb_checked big -M prepared -c 1 -T "$2" -D maxseq="$maxseq" -f "$BENCH/proofs_$1.pgb" | pgb_lat
}
for v in proof consistency verify plain; do lat $v 2 >/dev/null; done # warm-up
proof_r=() cons_r=() ver_r=() plain_r=() loop_r=()
for rep in $(seq 1 "$PROOFS_REPS"); do
	proof_r+=("$(lat proof "$PROOFS_T")")
	cons_r+=("$(lat consistency "$PROOFS_T")")
	ver_r+=("$(lat verify "$PROOFS_T")")
	plain_r+=("$(lat plain "$PROOFS_T")")
	t0=$(now_s)
	qv big "SELECT count(*) FILTER (WHERE nedb.verify_inclusion(p, d.seq, d.root)) FROM proof_sample, proof_digest d" >/dev/null
	t1=$(since "$t0")
	t0=$(now_s)
	qv big "SELECT count(*) FILTER (WHERE p IS NOT NULL AND d.root IS NOT NULL) FROM proof_sample, proof_digest d" >/dev/null
	t2=$(since "$t0")
	loop_r+=("$(calc "($t1 - $t2) * 1000")") # us per proof (1000 proofs)
	log "proofs rep $rep: proof ${proof_r[-1]} ms, consistency ${cons_r[-1]} ms, verify ${ver_r[-1]} ms, plain ${plain_r[-1]} ms, verify alone ${loop_r[-1]} us"
done
p=$(median "${proof_r[@]}")
c=$(median "${cons_r[@]}")
v=$(median "${ver_r[@]}")
pl=$(median "${plain_r[@]}")
l=$(median "${loop_r[@]}")
summary "proofs inclusion proof at $((maxseq + 1)) ops (avg path $plen hashes): nedb $p ms, plain point read $pl ms, ratio $(fmt "$(calc "$p / $pl")" 2) (bar < 1 ms) $(verdict "$p < 1")   [median of $PROOFS_REPS; runs: ${proof_r[*]}]"
summary "proofs consistency proof at $((maxseq + 1)) ops: nedb $c ms, plain point read $pl ms, ratio $(fmt "$(calc "$c / $pl")" 2) (bar < 1 ms) $(verdict "$c < 1")   [median of $PROOFS_REPS; runs: ${cons_r[*]}]"
summary "proofs verify_inclusion at $((maxseq + 1)) ops: nedb $v ms per call (with a PK lookup of the proof), $(fmt "$l" 1) us per proof alone, plain point read $pl ms, ratio $(fmt "$(calc "$v / $pl")" 2) (bar < 1 ms) $(verdict "$v < 1")   [median of $PROOFS_REPS; runs: ${ver_r[*]}]"

# --- the tree's share of ingest ---------------------------------------------
q postgres -c "DROP DATABASE IF EXISTS treecost" -c "CREATE DATABASE treecost"
q treecost -c "CREATE EXTENSION nedb" -c "CREATE TABLE tree_like (seq bigint PRIMARY KEY, nodes bytea NOT NULL)"
t0=$(now_s)
q treecost >/dev/null <<'SQL'
DO $$
BEGIN
	FOR i IN 0..199 LOOP
		PERFORM nedb.put('t', 'k' || g, jsonb_build_object('g', g))
		   FROM generate_series(i * 500 + 1, i * 500 + 500) g;
		COMMIT;
	END LOOP;
END
$$;
SQL
t_put=$(since "$t0")
t0=$(now_s)
q treecost >/dev/null <<'SQL'
DO $$
BEGIN
	FOR i IN 0..199 LOOP
		INSERT INTO tree_like SELECT g, decode(repeat('ab', 96), 'hex')
		  FROM generate_series(i * 500 + 1, i * 500 + 500, 2) g;
		COMMIT;
	END LOOP;
END
$$;
SQL
t_tree=$(since "$t0")
[ "$(qv treecost "SELECT ok FROM nedb.verify_tree()")" = t ] || die "proofs: the tree of the ingest does not verify"
summary "proofs tree share of ingest (100k small puts, 500 per transaction): nedb.put $(fmt "$(calc "100000 / $t_put")" 0) ops/s including the tree; the tree's rows written by plain Postgres $(fmt "$(calc "$t_tree / 100000 * 1000000")" 1) us/op = $(fmt "$(calc "$t_tree / $t_put * 100")" 1) % of a put (estimate; context)"
q postgres -c "DROP DATABASE treecost"
