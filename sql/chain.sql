--
-- chain: transactions leave no trace when rolled back; the log is
-- append-only; tampering is found and named
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

SELECT nedb.put('c', 'a', '{"v": 1}', client => 'w', nonce => 1) ->> '_seq' AS seq;

-- a rolled-back transaction: no seq, nonce or idem key consumed
BEGIN;
SELECT nedb.put('c', 'b', '{"v": 2}', client => 'w', nonce => 2, idem => 'once') ->> '_seq' AS seq;
SELECT nedb.link('c:a', 'r', 'c:b');
ROLLBACK;
SELECT nedb.seq(), (SELECT last_nonce FROM nedb.clients WHERE client = 'w') AS last_nonce;
SELECT nedb.put('c', 'b', '{"v": 2}', client => 'w', nonce => 2, idem => 'once') ->> '_seq' AS same_seq_again;
SELECT array(SELECT nedb.neighbors('c:a', 'r')) AS no_edge;

-- savepoints: the rolled-back part leaves nothing, the rest commits densely
BEGIN;
SELECT nedb.put('c', 'c', '{}', client => 'w', nonce => 3) ->> '_seq' AS seq;
SAVEPOINT s;
SELECT nedb.put('c', 'd', '{}', client => 'w', nonce => 4) ->> '_seq' AS seq;
ROLLBACK TO SAVEPOINT s;
SELECT nedb.put('c', 'e', '{}', client => 'w', nonce => 4) ->> '_seq' AS seq_reused;
SAVEPOINT s2;
SELECT try($$SELECT nedb.put('c', 'f', '{}', client => 'w', nonce => 4)$$);
ROLLBACK TO SAVEPOINT s2;
SELECT nedb.put('c', 'f', '{}') ->> '_seq' AS seq;
COMMIT;
SELECT count(*) AS ops, max(seq) AS max_seq FROM nedb.ops;
SELECT nedb.get('c', 'd') AS gone, nedb.get('c', 'e') ->> '_seq' AS e_seq;
SELECT nedb.verify();

-- a PL/pgSQL exception block is a subtransaction too
DO $$
BEGIN
    BEGIN
        PERFORM nedb.put('c', 'g', '{}');
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    PERFORM nedb.put('c', 'h', '{}');
END $$;
SELECT nedb.get('c', 'g') AS g, nedb.get('c', 'h') ->> '_seq' AS h_seq, nedb.verify();

-- REPEATABLE READ: writes work while the snapshot is current (a stale one
-- gets a serialization failure: see t/002_concurrency.pl)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT nedb.seq();
SELECT nedb.put('c', 'i', '{}') ->> '_seq' AS seq;
COMMIT;

-- ops out of physical order (rolled-back space reused after VACUUM) still
-- verify: the sequential read falls back to the primary key
BEGIN;
SELECT count(nedb.put('big', 'r' || g, jsonb_build_object('pad', repeat('x', 200)))) FROM generate_series(1, 300) g;
ROLLBACK;
SELECT count(nedb.put('mid', 'm' || g, '{}')) FROM generate_series(1, 50) g;
VACUUM nedb.ops;
SELECT count(nedb.put('late', 'l' || g, '{}')) FROM generate_series(1, 50) g;
SELECT count(*) FILTER (WHERE seq < prev_seq) > 0 AS heap_out_of_seq_order
  FROM (SELECT seq, lag(seq) OVER (ORDER BY ctid) AS prev_seq FROM nedb.ops) x;
SELECT ok, checked = nedb.seq() + 1 AS all_checked FROM nedb.verify_report();

-- the log refuses UPDATE, DELETE and TRUNCATE
SELECT try($$UPDATE nedb.ops SET nonce = 99 WHERE seq = 0$$);
SELECT try($$DELETE FROM nedb.ops WHERE seq = 0$$);
SELECT try($$TRUNCATE nedb.ops$$);
SELECT try($$UPDATE nedb.log SET nonce = 99 WHERE seq = 0$$);

-- tampering (deliberate superuser action) is found, at the first bad seq
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
UPDATE nedb.ops SET nonce = nonce + 1000 WHERE seq = 3;
SELECT ok, checked, first_bad_seq, detail LIKE 'hash mismatch at seq 3:%' AS detail
  FROM nedb.verify_report();
UPDATE nedb.ops SET nonce = nonce - 1000 WHERE seq = 3;
SELECT nedb.verify();
-- a changed document version is found too: verify proves what reads return
UPDATE nedb.versions SET doc = jsonb_set(doc, '{v}', '42') WHERE seq_from = 0;
SELECT ok, first_bad_seq FROM nedb.verify_report();
UPDATE nedb.versions SET doc = jsonb_set(doc, '{v}', '1') WHERE seq_from = 0;
SELECT nedb.verify();
-- a lost version, a changed hash, a hole in the seqs
DELETE FROM nedb.versions WHERE seq_from = 1;
SELECT ok, first_bad_seq, detail FROM nedb.verify_report();
INSERT INTO nedb.versions (seq_from, coll, id, doc) VALUES (1, 'c', 'b', '{"v": 2, "_id": "b", "_seq": 1}');
UPDATE nedb.ops SET hash = '\x00' WHERE seq = 2;
SELECT ok, first_bad_seq, detail FROM nedb.verify_report();
ROLLBACK;
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
DELETE FROM nedb.ops WHERE seq = 2;
SELECT ok, checked, first_bad_seq, detail FROM nedb.verify_report();
ROLLBACK;
SELECT nedb.verify();
-- nedb.log is in seq order, and its payload is the hashed one: a caller's
-- _seq stays in a put's payload (the stored version has its own)
SELECT nedb.put('lv', 'a', '{"v": 1, "_seq": 77}') ->> '_seq' <> '77' AS stored_own_seq;
SELECT payload -> 'doc' ->> '_seq' AS payload_seq,
       payload = (nedb.op_body(seq)::jsonb -> 'payload') AS payload_is_hashed
  FROM nedb.log WHERE seq = nedb.seq();
SELECT bool_and(payload IS NOT DISTINCT FROM (nedb.op_body(seq)::jsonb -> 'payload')) AS every_payload_hashed,
       array_agg(seq) = (SELECT array_agg(seq ORDER BY seq) FROM nedb.ops) AS in_seq_order
  FROM (SELECT * FROM nedb.log) l;
