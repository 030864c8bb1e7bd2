--
-- verify_parallel: nedb.verify_report() shared out among parallel workers
-- (ranges of nedb.verify_range ops) reports what the serial walk reports:
-- the same first bad seq, detail and count, wherever the damage lies
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- 70 ops of every kind: puts (re-puts move version rows), deletes, links,
-- documents with numbers, nesting and non-ASCII text
SELECT count(nedb.put('p', 'k' || (g % 20),
                      jsonb_build_object('g', g, 'f', g / 7.0, 'neg', -g * 10000,
                                         'small', 0.000001 * g, 's', 'é"\' || g,
                                         'a', jsonb_build_array(g, 'x', NULL, true, '{}'::jsonb))))
  FROM generate_series(0, 49) g;
SELECT count(nedb.delete('p', 'k' || g)) FROM generate_series(1, 5) g;
SELECT count(nedb.link('p:k' || g, 'r', 'p:k' || (g + 1))) FROM generate_series(6, 10) g;
SELECT count(nedb.put('q', 'z' || g, '{}')) FROM generate_series(1, 10) g;
SELECT nedb.seq();

-- Runs verify_report three ways: ranges of 7 ops with workers, the same
-- with none (max_parallel_maintenance_workers = 0), and the whole chain as
-- one range; same = all three reports are equal.  The DEBUG line says how
-- many ranges there were and how many workers took part.
CREATE FUNCTION reports(OUT same boolean, OUT ok boolean, OUT checked bigint,
                        OUT first_bad_seq bigint, OUT detail text) AS $$
DECLARE
    par record;
    alone record;
    whole record;
BEGIN
    PERFORM set_config('nedb.verify_range', '7', true);
    PERFORM set_config('max_parallel_maintenance_workers', '2', true);
    SET LOCAL client_min_messages = debug1;
    SELECT * INTO par FROM nedb.verify_report();
    RESET client_min_messages;
    PERFORM set_config('max_parallel_maintenance_workers', '0', true);
    SELECT * INTO alone FROM nedb.verify_report();
    PERFORM set_config('max_parallel_maintenance_workers', '2', true);
    PERFORM set_config('nedb.verify_range', '1000000', true);
    SELECT * INTO whole FROM nedb.verify_report();
    same := (par.ok, par.checked, par.first_bad_seq, par.detail)
                IS NOT DISTINCT FROM (alone.ok, alone.checked, alone.first_bad_seq, alone.detail)
            AND (par.ok, par.checked, par.first_bad_seq, par.detail)
                IS NOT DISTINCT FROM (whole.ok, whole.checked, whole.first_bad_seq, whole.detail);
    ok := par.ok;
    checked := par.checked;
    first_bad_seq := par.first_bad_seq;
    detail := regexp_replace(par.detail, '[0-9a-f]{64}', 'H', 'g');
    PERFORM set_config('nedb.verify_range', '16384', true);
END
$$ LANGUAGE plpgsql;

SELECT * FROM reports();

BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
-- in the middle of a range ([7, 14))
UPDATE nedb.ops SET nonce = nonce + 1000 WHERE seq = 10;
SELECT * FROM reports();
UPDATE nedb.ops SET nonce = nonce - 1000 WHERE seq = 10;
-- the last op of a range, and the first of the next
UPDATE nedb.ops SET ts = ts + 1 WHERE seq = 13;
SELECT * FROM reports();
UPDATE nedb.ops SET ts = ts - 1 WHERE seq = 13;
UPDATE nedb.ops SET ts = ts + 1 WHERE seq = 14;
SELECT * FROM reports();
UPDATE nedb.ops SET ts = ts - 1 WHERE seq = 14;
-- the last range (a 70-op chain: [63, 70)) and its last op
UPDATE nedb.ops SET client = 'x' WHERE seq = 69;
SELECT * FROM reports();
UPDATE nedb.ops SET client = 'local' WHERE seq = 69;
-- two bad ops in two ranges: the lower one is reported
UPDATE nedb.ops SET nonce = nonce + 1000 WHERE seq IN (30, 50);
SELECT * FROM reports();
UPDATE nedb.ops SET nonce = nonce - 1000 WHERE seq IN (30, 50);
-- the predecessor of a range has a malformed hash: the range below names it
UPDATE nedb.ops SET hash = '\x00' WHERE seq = 20;
SELECT * FROM reports();
ROLLBACK;

BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
-- a changed document at a range's first op, one moved by a later put
-- (k0 was put at seqs 0, 20 and 40), and a lost one
UPDATE nedb.versions SET doc = jsonb_set(doc, '{g}', '99') WHERE seq_from = 21;
SELECT * FROM reports();
UPDATE nedb.versions SET doc = jsonb_set(doc, '{g}', '21') WHERE seq_from = 21;
SELECT * FROM reports();
UPDATE nedb.versions SET doc = jsonb_set(doc, '{s}', '"x"') WHERE seq_from = 0;
SELECT * FROM reports();
UPDATE nedb.versions SET doc = jsonb_set(doc, '{s}', to_jsonb(text 'é"\0')) WHERE seq_from = 0;
DELETE FROM nedb.versions WHERE seq_from = 35;
SELECT * FROM reports();
ROLLBACK;

-- holes: the first op of a range, the last op of one (the range above has
-- no predecessor), and the chain's last op (the chain just ends earlier)
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
DELETE FROM nedb.ops WHERE seq = 28;
SELECT * FROM reports();
ROLLBACK;
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
DELETE FROM nedb.ops WHERE seq = 27;
SELECT * FROM reports();
ROLLBACK;
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
DELETE FROM nedb.ops WHERE seq = 69;
SELECT * FROM reports();
ROLLBACK;

-- a stray op far past the end (a hole after the last op), and one below 0
-- (the walk starts at 0: not part of the chain)
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
INSERT INTO nedb.ops SELECT s.seq, hash, ts, client, nonce + 1000000 + (s.seq > 0)::int, op, coll, id, payload, idem,
                            caused_by, evidence, confidence, valid_from, valid_to, body
  FROM nedb.ops, (VALUES (1000000000000000), (-1)) s(seq) WHERE nedb.ops.seq = 65;
SELECT * FROM reports();
DELETE FROM nedb.ops WHERE seq = 1000000000000000;
SELECT * FROM reports();
ROLLBACK;

-- ops out of physical order (rolled-back space reused after VACUUM): the
-- ranges' sequential reads fall back to the primary key
BEGIN;
SELECT count(nedb.put('big', 'r' || g, jsonb_build_object('pad', repeat('x', 200)))) FROM generate_series(1, 300) g;
ROLLBACK;
SELECT count(nedb.put('mid', 'm' || g, '{}')) FROM generate_series(1, 50) g;
VACUUM nedb.ops;
SELECT count(nedb.put('late', 'l' || g, '{}')) FROM generate_series(1, 50) g;
SELECT count(*) FILTER (WHERE seq < prev_seq) > 0 AS heap_out_of_seq_order
  FROM (SELECT seq, lag(seq) OVER (ORDER BY ctid) AS prev_seq FROM nedb.ops) x;
SELECT * FROM reports();
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
UPDATE nedb.ops SET nonce = nonce + 1000 WHERE seq = (SELECT max(seq) - 3 FROM nedb.ops);
SELECT * FROM reports();
ROLLBACK;

-- no workers to be had: the leader checks every range alone, same report
SET max_parallel_workers = 0;
SELECT * FROM reports();
BEGIN;
ALTER TABLE nedb.ops DISABLE TRIGGER ops_append_only;
UPDATE nedb.ops SET nonce = nonce + 1000 WHERE seq = 15;
SELECT * FROM reports();
ROLLBACK;
RESET max_parallel_workers;

-- a cancel (statement_timeout) stops the workers with the leader: none is
-- left running, and the next verify is whole
SELECT count(nedb.put('t', 'k' || g, '{}')) FROM generate_series(1, 20000) g;
SET nedb.verify_range = 500;
SET statement_timeout = '2ms';
SELECT * FROM nedb.verify_report();
RESET statement_timeout;
SELECT count(*) AS workers_left FROM pg_stat_activity WHERE backend_type = 'parallel worker';
SELECT ok, checked = nedb.seq() + 1 AS all_checked FROM nedb.verify_report();
RESET nedb.verify_range;

DROP FUNCTION reports();
