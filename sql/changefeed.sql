--
-- changefeed: nedb.tip() and bounded pages of the log with nedb.since()
--
SELECT seq AS t0 FROM nedb.tip() \gset
SELECT nedb.put('feed', 'a', '{"n": 1}') IS NOT NULL AS put;
SELECT nedb.put('feed', 'b', '{"n": 2}') IS NOT NULL AS put;
SELECT nedb.delete('feed', 'a') IS NOT NULL AS deleted;
SELECT nedb.link('feed:b', 'next', 'feed:c') IS NOT NULL AS linked;
SELECT (t.seq - :t0) AS new_ops, t.hash = nedb.head() AS head_hash FROM nedb.tip() t;

-- every field of nedb.log, in seq order, with head_seq
SELECT seq - :t0 AS rel, op, payload, prev_hash = lag(hash) OVER (ORDER BY seq) AS linked,
       head_seq - :t0 AS head
  FROM nedb.since(:t0);
SELECT count(*) = 4 AS same_as_log FROM (
    SELECT seq, client, nonce, op, payload, ts, idem, prev_hash, hash, caused_by,
           evidence, confidence, valid_from, valid_to FROM nedb.since(:t0)
    INTERSECT
    SELECT * FROM nedb.log WHERE seq > :t0) x;

-- paging: a cursor and a limit; has_more is last seq < head_seq
SELECT seq - :t0 AS rel, max(seq) OVER () < head_seq AS has_more FROM nedb.since(:t0, 2);
SELECT seq - :t0 AS rel, max(seq) OVER () < head_seq AS has_more FROM nedb.since(:t0 + 2, 2);
SELECT count(*) AS past_the_end FROM nedb.since(:t0 + 4);
-- bounded whatever the limit: NULL is the default, huge is capped, negative is nothing
SELECT count(nedb.put('feed_bulk', g::text, '{}')) AS bulk FROM generate_series(1, 100001) g;
SELECT count(*) AS capped_default FROM nedb.since(:t0, NULL);
SELECT count(*) AS capped_huge FROM nedb.since(:t0, 2147483647);
SELECT count(*) AS negative FROM nedb.since(:t0, -5);
SELECT count(*) AS null_cursor_from_start FROM nedb.since(NULL, 1);

-- the whole log: EXECUTE is granted deliberately
CREATE ROLE feed_reader;
GRANT USAGE ON SCHEMA nedb TO feed_reader;
SET ROLE feed_reader;
SELECT seq >= 0 AS tip_for_all FROM nedb.tip();
SELECT try($$SELECT count(*) FROM nedb.since(0)$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION nedb.since(bigint, integer) TO feed_reader;
SET ROLE feed_reader;
SELECT count(*) AS granted FROM nedb.since(:t0);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION nedb.since(bigint, integer) FROM feed_reader;
REVOKE USAGE ON SCHEMA nedb FROM feed_reader;
DROP ROLE feed_reader;

-- every kind of op, page by page of every size up to 4 (each page's first
-- prev_hash looked up, the rest from the row before), is nedb.log exactly:
-- imported ops (a delete with an idem key, a put whose body is kept because
-- jsonb cannot spell its numbers), a doc with nested values and a _seq of
-- its own, deletes, links, an unlink, an expire; and an empty log
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
\set l0 '{"seq": 0, "client": "local", "nonce": 1, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "_id": "alice"}}, "ts": 1700000000.0, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd"}'
\set l1 '{"seq": 1, "client": "local", "nonce": 2, "op": "delete", "payload": {"key": "users:alice", "coll": "users", "id": "alice"}, "ts": 1700000001.5, "idem": "k1", "prev_hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd", "hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19"}'
\set l2 '{"seq": 2, "client": "local", "nonce": 3, "op": "put", "payload": {"key": "m:x", "coll": "m", "id": "x", "doc": {"big": 1e+16, "small": 2.0, "int": 10000000000000000, "_id": "x"}}, "ts": 1700000005.0, "idem": null, "prev_hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19", "hash": "8addc7d7a7b7d53310ed56a1b22b17cddc5be19c342ebb8602b739cd9abca137"}'
SELECT nedb.import_aof(:'l0' || E'\n' || :'l1' || E'\n' || :'l2') AS imported;
SELECT count(*) AS bodies_kept FROM nedb.ops WHERE body IS NOT NULL;
SELECT nedb.put('feed', 'n', '{"a": {"b": [1, {"c": null}], "_seq": 5}, "_seq": "mine", "s": "\"q\"", "x": 1.50}') IS NOT NULL AS put;
SELECT nedb.put('feed', 'n', '{"v": 2}', idem => 'feed-k') IS NOT NULL AS put;
SELECT nedb.link('feed:n', 'to', 'feed:m') IS NOT NULL AS linked;
SELECT nedb.unlink('feed:n', 'to', 'feed:m') IS NOT NULL AS unlinked;
SELECT nedb.delete('feed', 'n') IS NOT NULL AS deleted;
SELECT nedb.put('feed', 'e', '{}') IS NOT NULL AS put;
SELECT nedb.expire('feed', 'e', interval '1 hour') IS NOT NULL AS expiring;
SELECT max(seq) AS last FROM nedb.ops \gset
SELECT lim, count(*) FILTER (WHERE d) AS rows_differ, count(*) AS rows
  FROM generate_series(1, 4) lim, generate_series(-1, :last, lim) c,
       LATERAL (SELECT (s.seq, s.client, s.nonce, s.op, s.payload, s.ts, s.idem, s.prev_hash,
                        s.hash, s.caused_by, s.evidence, s.confidence, s.valid_from, s.valid_to)
                       IS DISTINCT FROM (l.seq, l.client, l.nonce, l.op, l.payload, l.ts, l.idem,
                        l.prev_hash, l.hash, l.caused_by, l.evidence, l.confidence, l.valid_from,
                        l.valid_to) OR s.head_seq <> :last AS d
                  FROM nedb.since(c, lim) s FULL JOIN (SELECT * FROM nedb.log WHERE seq > c AND seq <= c + lim) l
                       ON l.seq = s.seq) x
 GROUP BY lim ORDER BY lim;
SELECT payload FROM nedb.since(2, 1);
SELECT payload FROM nedb.since(3, 1);
-- a page given up by an error, two pages held at once, then one more
-- (the page memory is the session's, emptied only when none is held)
SELECT seq / (seq - seq) FROM nedb.since(-1, 2);
SELECT count(*) AS two_at_once FROM nedb.since(-1) a JOIN nedb.since(-1) b USING (seq, hash);
SELECT count(*) AS after FROM nedb.since(-1);

-- the tables are read in heap order only where that is the primary keys'
-- order: versions moved by later puts and deletes of their keys, ops
-- rewritten in place (they move to other pages) and ops missing (gaps).
-- Paged by a consumer's cursor at several sizes, the log comes out as
-- nedb.log has it, and export_bodies as op_body
SELECT count(nedb.put('heap', 'k' || g, jsonb_build_object('g', g, 'pad', repeat('p', 100))))
  FROM generate_series(1, 400) g;
SELECT count(nedb.put('heap', 'k' || g, jsonb_build_object('g', -g))) FROM generate_series(1, 400, 3) g;
SELECT count(nedb.delete('heap', 'k' || g)) FROM generate_series(2, 400, 7) g;
SELECT count(nedb.link('heap:k1', 'to', 'heap:k' || g)) FROM generate_series(1, 20) g;
SELECT count(nedb.put('heap', 'k' || g, jsonb_build_object('g', g * 10))) FROM generate_series(1, 400, 5) g;
SELECT max(seq) - 40 AS moved FROM nedb.ops \gset
ALTER TABLE nedb.ops DISABLE TRIGGER USER;
UPDATE nedb.ops SET client = client WHERE seq IN (20, 21, 200, 201, 202, 500, :moved);
DELETE FROM nedb.ops WHERE seq IN (300, 301, 600);
ALTER TABLE nedb.ops ENABLE TRIGGER USER;
SELECT count(*) > 0 AS ops_out_of_heap_order
  FROM (SELECT seq, lag(seq) OVER (ORDER BY ctid) AS p FROM nedb.ops) x WHERE seq < p;
SELECT count(*) > 0 AS versions_out_of_heap_order
  FROM (SELECT seq_from, lag(seq_from) OVER (ORDER BY ctid) AS p FROM nedb.versions) x WHERE seq_from < p;
CREATE TEMP TABLE paged (lim int, row text);
DO $$
DECLARE
	c bigint;
	m bigint;
	l int;
BEGIN
	FOREACH l IN ARRAY ARRAY[1, 3, 50, 1000] LOOP
		c := -1;
		LOOP
			SELECT max(s.seq) INTO m FROM nedb.since(c, l) s;
			EXIT WHEN m IS NULL;
			INSERT INTO paged
			SELECT l, (s.seq, s.client, s.nonce, s.op, s.payload, s.ts, s.idem, s.prev_hash, s.hash,
					   s.caused_by, s.evidence, s.confidence, s.valid_from, s.valid_to)::text
			  FROM nedb.since(c, l) s;
			c := m;
		END LOOP;
	END LOOP;
END
$$;
CREATE TEMP VIEW log_rows AS
SELECT (l.seq, l.client, l.nonce, l.op, l.payload, l.ts, l.idem, l.prev_hash, l.hash,
		l.caused_by, l.evidence, l.confidence, l.valid_from, l.valid_to)::text AS row
  FROM nedb.log l;
SELECT x.lim,
       (SELECT count(*) FROM ((SELECT row FROM paged p WHERE p.lim = x.lim EXCEPT ALL SELECT row FROM log_rows)
                              UNION ALL
                              (SELECT row FROM log_rows EXCEPT ALL SELECT row FROM paged p WHERE p.lim = x.lim)) d)
         AS rows_differ,
       (SELECT count(*) FROM paged p WHERE p.lim = x.lim) = (SELECT count(*) FROM nedb.ops) AS all_rows
  FROM unnest(ARRAY[1, 3, 50, 1000]) x(lim);
SELECT count(*) AS bodies_differ
  FROM nedb.export_bodies(-1, NULL) e FULL JOIN nedb.ops o USING (seq)
 WHERE e.body IS DISTINCT FROM nedb.op_body(o.seq) OR e.hash IS DISTINCT FROM encode(o.hash, 'hex');
SELECT count(*) AS bodies_after_599 FROM nedb.export_bodies(599, 10);
DROP VIEW log_rows;
DROP TABLE paged;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT count(*) AS nothing_yet FROM nedb.since(-1);
