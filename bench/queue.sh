# bench/queue.sh -- nedb_sorted's page deletion and reuse against btree on a
# queue (sourced by run.sh; its own db "queue").
#
# A table of QUEUE_ROWS ascending int8 keys with one index, btree or
# nedb_sorted (two tables, same data).  Each cycle appends QUEUE_STEP keys
# at the right end, deletes the QUEUE_STEP lowest, VACUUMs, and takes an
# xid (so that pages deleted by one VACUUM may be reused after the next).
# The live key count never changes, so a tree that reuses its emptied pages
# stays the same size; one that does not grows by the appended pages.
# Printed: index pages before and after QUEUE_CYCLES cycles, and the median
# VACUUM time of the index's table (its index pass with page deletion).
# Bar: pages within 1.2x of btree's.

QUEUE_ROWS=${QUEUE_ROWS:-200000}
QUEUE_STEP=${QUEUE_STEP:-20000}
QUEUE_CYCLES=${QUEUE_CYCLES:-20}

q postgres -c "DROP DATABASE IF EXISTS queue" -c "CREATE DATABASE queue"
q queue -c "CREATE EXTENSION nedb"
q queue >/dev/null <<SQL
CREATE TABLE q_btree (k int8, pad text);
CREATE TABLE q_sorted (k int8, pad text);
INSERT INTO q_btree SELECT g, md5(g::text) FROM generate_series(1, $QUEUE_ROWS) g;
INSERT INTO q_sorted SELECT g, md5(g::text) FROM generate_series(1, $QUEUE_ROWS) g;
CREATE INDEX q_btree_k ON q_btree USING btree (k);
CREATE INDEX q_sorted_k ON q_sorted USING nedb_sorted (k);
VACUUM ANALYZE q_btree;
VACUUM ANALYZE q_sorted;
SQL

declare -A start=() vac=()
for am in btree sorted; do
	start[$am]=$(qv queue "SELECT pg_relation_size('q_${am}_k') / 8192")
done
declare -A vt=([btree]="" [sorted]="")
for c in $(seq 0 $((QUEUE_CYCLES - 1))); do
	lo=$((c * QUEUE_STEP))
	hi=$((QUEUE_ROWS + c * QUEUE_STEP))
	for am in btree sorted; do
		q queue -q -c "INSERT INTO q_$am SELECT g, md5(g::text) FROM generate_series($hi + 1, $hi + $QUEUE_STEP) g" \
			-c "DELETE FROM q_$am WHERE k <= $lo + $QUEUE_STEP" >/dev/null
		t0=$(now_s)
		q queue -q -c "VACUUM q_$am" >/dev/null
		vt[$am]+=" $(calc "$(since "$t0") * 1000")"
		qv queue "SELECT txid_current()" >/dev/null
	done
done
declare -A end=()
for am in btree sorted; do
	end[$am]=$(qv queue "SELECT pg_relation_size('q_${am}_k') / 8192")
	# shellcheck disable=SC2086
	vac[$am]=$(median ${vt[$am]})
done
[ "$(qv queue "SELECT nedb.sorted_check('q_sorted_k')")" = "$QUEUE_ROWS" ] ||
	die "queue: q_sorted_k does not hold the $QUEUE_ROWS live keys"
r=$(calc "${end[sorted]} / ${end[btree]}")
summary "queue ($QUEUE_CYCLES cycles of +$QUEUE_STEP/-$QUEUE_STEP keys over $QUEUE_ROWS): index pages nedb_sorted ${start[sorted]} -> ${end[sorted]}, btree ${start[btree]} -> ${end[btree]}; ratio $(fmt "$r" 2) (bar <= 1.2) $(verdict "$r <= 1.2"); median VACUUM nedb_sorted $(fmt "${vac[sorted]}" 1) ms, btree $(fmt "${vac[btree]}" 1) ms"
q postgres -c "DROP DATABASE queue" >/dev/null
