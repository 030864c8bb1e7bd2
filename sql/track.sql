--
-- track: an ordinary table's history chained into a collection
--
CREATE TABLE trk_orders (id int PRIMARY KEY, item text, qty int);
INSERT INTO trk_orders VALUES (1, 'apple', 3), (2, 'pear', 5);
SELECT nedb.track('trk_orders');
SELECT relid, coll, key FROM nedb.tracked;
SELECT nedb.get('trk_orders', '1') - '_seq' AS doc;

-- INSERT, multi-row, UPDATE, DELETE, COPY, ON CONFLICT: each chained
INSERT INTO trk_orders VALUES (3, 'plum', 1) RETURNING *;
INSERT INTO trk_orders VALUES (4, 'fig', 2), (5, 'kiwi', 7);
UPDATE trk_orders SET qty = qty + 1 WHERE id IN (1, 2);
DELETE FROM trk_orders WHERE id = 5;
COPY trk_orders FROM stdin;
6	lime	4
\.
INSERT INTO trk_orders VALUES (6, 'lime', 9), (7, 'date', 1)
    ON CONFLICT (id) DO UPDATE SET qty = EXCLUDED.qty;
SELECT nedb.get('trk_orders', '6')->'qty' AS six, nedb.get('trk_orders', '7')->'qty' AS seven,
       nedb.get('trk_orders', '5') AS five;
-- MERGE: each action's rows chained
CREATE TABLE trk_merge (id int PRIMARY KEY, v text);
INSERT INTO trk_merge VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT nedb.track('trk_merge');
MERGE INTO trk_merge m USING (VALUES (1, 'A'), (2, NULL), (4, 'D')) s(id, v) ON m.id = s.id
 WHEN MATCHED AND s.v IS NULL THEN DELETE
 WHEN MATCHED THEN UPDATE SET v = s.v
 WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v);
SELECT d->>'_id' AS id, d->>'v' AS v FROM nql('FROM trk_merge') d ORDER BY 1;
SELECT h.op FROM nedb.history('trk_merge', '2') h ORDER BY h.seq;
SELECT ok FROM nedb.verify_table('trk_merge');
SELECT nedb.untrack('trk_merge');
DROP TABLE trk_merge;
-- a key change: delete of the old id, put of the new
UPDATE trk_orders SET id = 40 WHERE id = 4;
SELECT nedb.get('trk_orders', '4') AS four, nedb.get('trk_orders', '40')->>'item' AS forty;
-- rollback leaves no trace
SELECT nedb.seq() AS before \gset
BEGIN;
INSERT INTO trk_orders VALUES (8, 'nope', 0);
ROLLBACK;
SELECT nedb.seq() = :before AS unchanged, nedb.get('trk_orders', '8') AS eight;
-- in a transaction block a tracked table's puts are staged for COMMIT (no
-- chain lock held meanwhile); a delete appends at once, staged puts first
BEGIN;
INSERT INTO trk_orders VALUES (8, 'staged', 1);
UPDATE trk_orders SET qty = 2 WHERE id = 8;
SELECT count(*) AS holders_while_staged FROM nedb.chain_writers;
DELETE FROM trk_orders WHERE id = 8;
SELECT count(*) AS holders_after_delete FROM nedb.chain_writers;
COMMIT;
SELECT h.op, h.doc->>'qty' AS qty FROM nedb.history('trk_orders', '8') h ORDER BY h.seq;
-- TRUNCATE refused
SELECT try('TRUNCATE trk_orders');
SELECT count(*) FROM trk_orders;

-- history, AS OF, nql
SELECT h.op, h.doc->>'qty' AS qty, h.doc->>'_evidence' AS evidence
  FROM nedb.history('trk_orders', '1') h ORDER BY h.seq;
SELECT h.op FROM nedb.history('trk_orders', '4') h ORDER BY h.seq;
SELECT (nedb.get('trk_orders', '1', :before - 100)) IS NULL AS long_ago;
SELECT d->>'_id' AS id, d->>'qty' AS qty FROM nql('FROM trk_orders WHERE qty > 3') d ORDER BY 1;
SELECT * FROM nedb.table_as_of(NULL::trk_orders, :before) ORDER BY id;
SELECT max(h.seq) AS after_backfill FROM nedb.history('trk_orders', '2') h
 WHERE h.doc->>'_evidence' = 'backfill' \gset
SELECT * FROM nedb.table_as_of(NULL::trk_orders, :after_backfill) ORDER BY id;
SELECT * FROM nedb.verify_table('trk_orders');
-- a change that bypasses the triggers is found
SET session_replication_role = replica;
UPDATE trk_orders SET qty = 100 WHERE id = 2;
INSERT INTO trk_orders VALUES (9, 'ghost', 1);
RESET session_replication_role;
SELECT * FROM nedb.verify_table('trk_orders');
DELETE FROM trk_orders WHERE id = 9;
UPDATE trk_orders SET qty = 100 WHERE id = 2;
SELECT * FROM nedb.verify_table('trk_orders');

-- composite key: a JSON array of the key values
CREATE TABLE trk_lines (o int, n int, what text, PRIMARY KEY (o, n));
INSERT INTO trk_lines VALUES (1, 1, 'a'), (1, 2, 'b');
SELECT nedb.track('trk_lines', 'trk_order_lines');
SELECT d->>'_id' AS id, d->>'what' AS what FROM nql('FROM trk_order_lines') d ORDER BY 1;
SELECT * FROM nedb.verify_table('trk_lines');
-- schema changes: documents change shape; table_as_of fills what they lack with NULL
SELECT max(h.seq) AS lines_v1 FROM nedb.history('trk_order_lines', '[1, 2]') h \gset
ALTER TABLE trk_lines ADD COLUMN note text;
UPDATE trk_lines SET note = 'new' WHERE n = 1;
ALTER TABLE trk_lines DROP COLUMN what;
INSERT INTO trk_lines VALUES (2, 1, 'later');
SELECT * FROM nedb.table_as_of(NULL::trk_lines, :lines_v1) ORDER BY o, n;
SELECT * FROM nedb.table_as_of(NULL::trk_lines, nedb.seq()) ORDER BY o, n;
SELECT * FROM nedb.verify_table('trk_lines');

-- RENAME COLUMN of a key column is followed; dropping one is refused
ALTER TABLE trk_lines RENAME COLUMN n TO line;
SELECT key FROM nedb.tracked WHERE relid = 'trk_lines'::regclass;
INSERT INTO trk_lines (o, line, note) VALUES (3, 1, 'renamed');
UPDATE trk_lines SET note = 'again' WHERE o = 3;
SELECT h.op, h.doc->>'note' AS note FROM nedb.history('trk_order_lines', '[3, 1]') h ORDER BY h.seq;
-- documents written before the rename have "n", not "line": verify_table
-- names them until they are written again
SELECT * FROM nedb.verify_table('trk_lines');
UPDATE trk_lines SET line = line;
SELECT * FROM nedb.verify_table('trk_lines');
SELECT try($$ALTER TABLE trk_lines DROP COLUMN line$$);
SELECT try($$ALTER TABLE trk_lines DROP COLUMN o CASCADE$$);
SELECT attname FROM pg_attribute WHERE attrelid = 'trk_lines'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
-- a table renamed or moved stays tracked
ALTER TABLE trk_lines RENAME TO trk_lines2;
INSERT INTO trk_lines2 (o, line) VALUES (4, 1);
SELECT nedb.get('trk_order_lines', '[4, 1]') IS NOT NULL AS chained;
ALTER TABLE trk_lines2 RENAME TO trk_lines;

-- documents and ids do not depend on the writing session's settings
CREATE TABLE trk_tz (at timestamptz PRIMARY KEY, d date, iv interval, f float8, b bytea);
SELECT nedb.track('trk_tz');
SET TimeZone = 'America/New_York';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 3;
SET bytea_output = 'escape';
INSERT INTO trk_tz VALUES ('2026-01-02 03:04:05+00', '2026-01-02', '1 day 2 hours', 0.1, 'ab');
RESET ALL;
SET TimeZone = 'Asia/Tokyo';
INSERT INTO trk_tz VALUES ('2026-01-03 00:00:00+00', '2026-01-03', '3 days', 0.2, NULL);
SELECT d->>'_id' AS id, d - '_id' - '_seq' AS doc FROM nql('FROM trk_tz') d ORDER BY 1;
SET TimeZone = 'Pacific/Auckland';
SET extra_float_digits = 3;
SELECT * FROM nedb.verify_table('trk_tz');
-- the same row from another zone: the same id, a new version
UPDATE trk_tz SET f = f WHERE d = '2026-01-02';
RESET ALL;
SELECT count(*) AS docs FROM nql('FROM trk_tz') d;
SELECT count(*) AS versions FROM nedb.history('trk_tz', '2026-01-02T03:04:05+00:00') h;
SELECT at, d, iv, f FROM nedb.table_as_of(NULL::trk_tz, nedb.seq()) ORDER BY at;

-- the backfill reads every row, row security notwithstanding
CREATE TABLE trk_rls (id int PRIMARY KEY, secret bool);
INSERT INTO trk_rls VALUES (1, false), (2, true);
ALTER TABLE trk_rls ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY open_only ON trk_rls USING (NOT secret);
SELECT nedb.track('trk_rls');
SELECT count(*) AS docs FROM nql('FROM trk_rls') d;

-- a dropped table is no longer tracked; its history stays
CREATE TABLE trk_gone (id int PRIMARY KEY);
INSERT INTO trk_gone VALUES (1);
SELECT nedb.track('trk_gone');
DROP TABLE trk_gone;
SELECT count(*) FROM nedb.tracked WHERE coll = 'trk_gone';
SELECT count(*) AS history FROM nedb.history('trk_gone', '1') h;
CREATE TABLE trk_gone (id int PRIMARY KEY);
SELECT nedb.track('trk_gone');
DROP TABLE trk_gone;

-- errors: nothing changed
CREATE TABLE trk_nopk (a int, b text);
SELECT try($$SELECT nedb.track('trk_nopk')$$);
SELECT try($$SELECT nedb.track('trk_nopk', key => ARRAY['zz'])$$);
-- a key must be unique: a unique index on exactly its columns, whole
SELECT try($$SELECT nedb.track('trk_nopk', key => ARRAY['a'])$$);
CREATE UNIQUE INDEX trk_nopk_a_part ON trk_nopk (a) WHERE a > 0;
CREATE UNIQUE INDEX trk_nopk_ab ON trk_nopk (b, a);
SELECT try($$SELECT nedb.track('trk_nopk', key => ARRAY['a'])$$);
SELECT try($$SELECT nedb.track('trk_nopk', key => ARRAY['a', 'a'])$$);
SELECT try($$SELECT nedb.track('trk_nopk', key => ARRAY['b'])$$);
DROP INDEX trk_nopk_a_part, trk_nopk_ab;
CREATE UNIQUE INDEX trk_nopk_a ON trk_nopk (a);
-- a NULL key (a unique index allows NULLs)
INSERT INTO trk_nopk VALUES (NULL, 'x');
SELECT try($$SELECT nedb.track('trk_nopk', key => ARRAY['a'])$$);
SELECT count(*) FROM nedb.tracked WHERE relid = 'trk_nopk'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'trk_nopk'::regclass;
SELECT count(*) AS docs FROM nql('FROM trk_nopk') d;
DELETE FROM trk_nopk;
INSERT INTO trk_nopk VALUES (1, 'x');
SELECT nedb.track('trk_nopk', 'trk_nopk', ARRAY['a']);
SELECT try($$INSERT INTO trk_nopk VALUES (NULL, 'y')$$);
SELECT count(*) FROM trk_nopk;
CREATE VIEW trk_v AS SELECT * FROM trk_orders;
SELECT try($$SELECT nedb.track('trk_v')$$);
SELECT try($$SELECT nedb.track('trk_orders')$$);
CREATE TABLE trk_other (id int PRIMARY KEY);
SELECT try($$SELECT nedb.track('trk_other', 'trk_orders')$$);
SELECT try($$SELECT nedb.untrack('trk_v')$$);
CREATE FOREIGN TABLE trk_ft (doc jsonb) SERVER nedb OPTIONS (collection 'ftc');
SELECT try($$SELECT nedb.track('trk_ft')$$);
CREATE TABLE trk_part (id int PRIMARY KEY) PARTITION BY RANGE (id);
SELECT try($$SELECT nedb.track('trk_part')$$);
DROP TABLE trk_part;

-- privileges: tracking needs the owner; a role with only INSERT has its rows chained
CREATE ROLE track_writer;
CREATE ROLE track_other;
GRANT INSERT ON trk_orders TO track_writer;
GRANT USAGE ON SCHEMA nedb TO track_writer, track_other;
SET ROLE track_other;
SELECT try($$SELECT nedb.untrack('trk_orders')$$);
RESET ROLE;
SET ROLE track_writer;
INSERT INTO trk_orders VALUES (10, 'granted', 1);
SELECT try($$SELECT nedb.get('trk_orders', '10')$$);
RESET ROLE;
SELECT nedb.get('trk_orders', '10')->>'item' AS item;
-- attaching the trigger to a table of one's own writes nothing
GRANT CREATE ON SCHEMA public TO track_other;
SET ROLE track_other;
CREATE TABLE trk_mine (id int PRIMARY KEY);
CREATE TRIGGER t AFTER INSERT ON trk_mine REFERENCING NEW TABLE AS nedb_new
    FOR EACH STATEMENT EXECUTE FUNCTION nedb.track_trigger();
SELECT try($$SELECT nedb.track('trk_mine', 'trk_orders')$$);
SELECT try($$INSERT INTO trk_mine VALUES (1)$$);
-- the event triggers run for anyone's ALTER TABLE, and change nothing of theirs
ALTER TABLE trk_mine ADD COLUMN x int;
ALTER TABLE trk_mine RENAME COLUMN x TO y;
DROP TABLE trk_mine;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM track_other;

-- untrack keeps the history
SELECT nedb.untrack('trk_orders');
INSERT INTO trk_orders VALUES (11, 'untracked', 1);
SELECT try('TRUNCATE trk_nopk');
SELECT nedb.get('trk_orders', '11') AS eleven, nedb.get('trk_orders', '10')->>'item' AS ten;
SELECT count(*) > 0 AS history FROM nedb.history('trk_orders', '1');
SELECT count(*) FROM nedb.tracked WHERE relid = 'trk_orders'::regclass;
SELECT nedb.verify();
SELECT nedb.untrack('trk_lines');
SELECT nedb.untrack('trk_nopk');
SELECT nedb.untrack('trk_tz');
SELECT nedb.untrack('trk_rls');
DROP TABLE trk_orders, trk_lines, trk_nopk, trk_other, trk_tz, trk_rls CASCADE;
REVOKE USAGE ON SCHEMA nedb FROM track_writer, track_other;
DROP FOREIGN TABLE trk_ft;
DROP ROLE track_writer;
DROP ROLE track_other;
