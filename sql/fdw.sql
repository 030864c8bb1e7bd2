--
-- fdw: collections as foreign tables (DDL, pushdown, writes, COPY, AS OF,
-- type errors, privileges, IMPORT FOREIGN SCHEMA)
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- 200 blocks (seq 0..199), an index on height (sorted) and on miner (eq)
SELECT count(*) FROM (
  SELECT nedb.put('blocks', 'b' || lpad(i::text, 3, '0'),
                  jsonb_build_object('height', i, 'hash', md5(i::text),
                                     'miner', CASE WHEN i % 3 = 0 THEN 'alice' ELSE 'bob' END,
                                     'meta', jsonb_build_object('size', i * 10)))
    FROM generate_series(1, 200) i) x;
SELECT nedb.create_index('blocks', 'height', 'sorted');
SELECT nedb.create_index('blocks', 'miner', 'eq');
ANALYZE nedb.versions;

-- the first line's row estimate of a query's plan
CREATE FUNCTION explain_rows(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN ' || q LOOP
        RETURN (regexp_match(l, 'rows=(\d+)'))[1]::int;
    END LOOP;
END $$;

-- ---------------------------------------------------------------------------
-- DDL and options
-- ---------------------------------------------------------------------------
SELECT fdwname, fdwhandler::regproc, fdwvalidator::regproc FROM pg_foreign_data_wrapper WHERE fdwname = 'nedb';
SELECT srvname FROM pg_foreign_server WHERE srvname = 'nedb';
CREATE FOREIGN TABLE blocks (
    _id text COLLATE "C", _seq bigint, height bigint, hash text, miner text,
    size int OPTIONS (field 'meta.size'), doc jsonb)
  SERVER nedb;
\d blocks
SELECT try($$CREATE FOREIGN TABLE bad1 (x int) SERVER nedb OPTIONS (colection 'x')$$);
SELECT try($$CREATE FOREIGN TABLE bad2 (x int OPTIONS (path 'a')) SERVER nedb$$);
SELECT try($$CREATE FOREIGN TABLE bad3 (x int) SERVER nedb OPTIONS (as_of '-1')$$);
SELECT try($$CREATE FOREIGN TABLE bad4 (x int OPTIONS (field 'a..b')) SERVER nedb$$);
SELECT try($$CREATE FOREIGN TABLE bad5 (x int) SERVER nedb OPTIONS (collection '')$$);
SELECT try($$CREATE SERVER nedb2 FOREIGN DATA WRAPPER nedb OPTIONS (host 'x')$$);
CREATE FOREIGN TABLE bad_id (_id int) SERVER nedb OPTIONS (collection 'blocks');
SELECT try($$SELECT * FROM bad_id$$);
CREATE FOREIGN TABLE bad_seq (_seq text) SERVER nedb OPTIONS (collection 'blocks');
SELECT try($$SELECT * FROM bad_seq$$);
DROP FOREIGN TABLE bad_id, bad_seq;
SELECT try($$SET nedb.as_of = 'yesterday'$$);
SELECT try($$SET nedb.nonce = 'x'$$);

-- ---------------------------------------------------------------------------
-- Reads and what goes down to the storage
-- ---------------------------------------------------------------------------
SELECT _id, _seq, height, hash = md5(height::text) AS hash_ok, miner, size, doc - 'hash' AS doc
  FROM blocks ORDER BY height LIMIT 3;
SELECT count(*), sum(height), count(DISTINCT miner) FROM blocks;

-- ORDER BY + LIMIT through the index on height
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id, height FROM blocks ORDER BY height DESC LIMIT 5;
SELECT _id, height FROM blocks ORDER BY height DESC LIMIT 5;
-- OFFSET too
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id, height FROM blocks ORDER BY height LIMIT 3 OFFSET 2;
SELECT _id, height FROM blocks ORDER BY height LIMIT 3 OFFSET 2;
-- WITH TIES needs the rows after the limit: not pushed
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id, miner FROM blocks ORDER BY miner FETCH FIRST 1 ROWS WITH TIES;
SELECT count(*) FROM (SELECT _id, miner FROM blocks ORDER BY miner FETCH FIRST 1 ROWS WITH TIES) x;
-- a range
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id, height FROM blocks WHERE height >= 10 AND height < 14;
SELECT _id, height FROM blocks WHERE height >= 10 AND height < 14 ORDER BY height;
-- the value on the left, and an expression folded to a constant
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks WHERE 150 + 48 < height;
SELECT _id FROM blocks WHERE 150 + 48 < height ORDER BY 1;
-- equality on a text field through its eq index, with ORDER BY and LIMIT
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id, height FROM blocks WHERE miner = 'alice' ORDER BY height DESC LIMIT 2;
SELECT _id, height FROM blocks WHERE miner = 'alice' ORDER BY height DESC LIMIT 2;
-- _id and _seq
EXPLAIN (VERBOSE, COSTS OFF) SELECT height FROM blocks WHERE _id = 'b007';
SELECT height FROM blocks WHERE _id = 'b007';
-- IN lists on _id, constant or parameters
EXPLAIN (VERBOSE, COSTS OFF) SELECT height FROM blocks WHERE _id IN ('b007', 'b008', 'zzz');
SELECT height FROM blocks WHERE _id IN ('b007', 'b008', 'zzz') ORDER BY 1;
PREPARE by_ids(text, text) AS SELECT height FROM blocks WHERE _id IN ($1, $2) ORDER BY 1;
EXECUTE by_ids('b009', 'b010');
DEALLOCATE by_ids;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks WHERE _seq < 2;
SELECT _id FROM blocks WHERE _seq < 2 ORDER BY 1;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks ORDER BY _id DESC LIMIT 2;
SELECT _id FROM blocks ORDER BY _id DESC LIMIT 2;
-- a nested field
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks WHERE size = 50;
SELECT _id FROM blocks WHERE size = 50;
-- a parameter (prepared statement), evaluated at execution
PREPARE by_height(bigint) AS SELECT _id FROM blocks WHERE height = $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_height(42);
EXECUTE by_height(42);
EXECUTE by_height(43);
EXECUTE by_height(NULL);
DEALLOCATE by_height;
-- not pushed: a cast, a function, LIKE; then LIMIT stays local too
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks WHERE height::float8 = 3 OR lower(hash) LIKE 'x%' LIMIT 2;
SELECT _id FROM blocks WHERE height::float8 = 3 OR lower(hash) LIKE 'x%' LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks WHERE hash LIKE 'c%' ORDER BY height LIMIT 2;
SELECT _id FROM blocks WHERE hash LIKE 'c%' ORDER BY height LIMIT 2;

-- row estimates come from the storage statistics
SELECT explain_rows('SELECT * FROM blocks') BETWEEN 100 AND 400 AS whole;
SELECT explain_rows($$SELECT * FROM blocks WHERE _id = 'b001'$$) <= 2 AS by_id;

-- a join with an ordinary table
CREATE TABLE notes (block_id text, note text);
INSERT INTO notes VALUES ('b010', 'ten'), ('b100', 'hundred'), ('nope', 'missing');
SELECT n.note, b.height, b.miner FROM notes n JOIN blocks b ON b._id = n.block_id ORDER BY b.height;
SELECT n.note, b.height FROM notes n LEFT JOIN blocks b ON b._id = n.block_id ORDER BY n.note;
-- a correlated subquery: the scan runs again with each outer row's value
EXPLAIN (VERBOSE, COSTS OFF)
SELECT n.note, (SELECT b.height FROM blocks b WHERE b._id = n.block_id) FROM notes n ORDER BY n.note;
SELECT n.note, (SELECT b.height FROM blocks b WHERE b._id = n.block_id) FROM notes n ORDER BY n.note;

-- NULL: JSON null and a missing field read as NULL and sort as NULL
SELECT nedb.put('blocks', 'n1', '{"height": null}') - '_seq';
SELECT nedb.put('blocks', 'n2', '{"other": 1}') - '_seq';
SELECT _id, height FROM (SELECT _id, height FROM blocks ORDER BY height DESC LIMIT 3) x ORDER BY _id;
SELECT _id, height FROM blocks ORDER BY height LIMIT 2;
SELECT _id FROM (SELECT _id FROM blocks ORDER BY height NULLS FIRST LIMIT 2) x ORDER BY 1;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks ORDER BY height NULLS FIRST LIMIT 2;
SELECT count(*) FROM blocks WHERE height < 3;
SELECT count(*) FROM blocks WHERE height IS NULL;

-- a value that does not convert is an error naming the document and field
SELECT nedb.put('blocks', 'bad', '{"height": "tall"}') - '_seq';
SELECT height FROM blocks WHERE _id = 'bad';
SELECT try($$SELECT sum(height) FROM blocks$$);
SELECT nedb.put('blocks', 'bad', '{"height": 1.5}') - '_seq';
SELECT height FROM blocks WHERE _id = 'bad';
SELECT nedb.put('blocks', 'bad', '{"height": 1, "hash": 7}') - '_seq';
SELECT try($$SELECT hash FROM blocks WHERE _id = 'bad'$$);
-- a jsonb column takes any value
CREATE FOREIGN TABLE blocks_any (_id text, height jsonb, hash jsonb) SERVER nedb OPTIONS (collection 'blocks');
SELECT _id, height, hash FROM blocks_any WHERE _id IN ('bad', 'n1', 'n2') ORDER BY 1;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks_any WHERE height = '7' ORDER BY height DESC LIMIT 1;
SELECT _id FROM blocks_any WHERE height = '7';
SELECT nedb.delete('blocks', 'bad') > 0 AS deleted;
SELECT nedb.delete('blocks', 'n1') > 0 AS deleted, nedb.delete('blocks', 'n2') > 0 AS deleted;

-- ---------------------------------------------------------------------------
-- Writes through the write path, with RETURNING
-- ---------------------------------------------------------------------------
-- INSERT: doc merged with the typed columns (which win), nested fields made
INSERT INTO blocks (_id, height, hash, miner, size, doc)
  VALUES ('w1', 1000, 'h', 'carol', 7, '{"extra": true, "height": 1, "_seq": 99}')
  RETURNING _id, _seq, height, miner, size, doc;
SELECT nedb.get('blocks', 'w1');
-- UPDATE: the current document with the updated columns; NULL removes a field
UPDATE blocks SET miner = 'dave', size = NULL WHERE _id = 'w1' RETURNING _id, _seq, miner, size, doc;
-- UPDATE of doc replaces the document (other columns stay as they are in it)
UPDATE blocks SET doc = '{"fresh": 1}' WHERE _id = 'w1' RETURNING _id, _seq, height, doc;
UPDATE blocks SET height = height + 1, doc = doc || '{"more": 2}' WHERE _id = 'w1' RETURNING height, doc;
-- DELETE returns the deleted row
DELETE FROM blocks WHERE _id = 'w1' RETURNING _id, _seq, height;
SELECT nedb.get('blocks', 'w1');
SELECT seq, op FROM nedb.history('blocks', 'w1');
-- INSERT of an id that has a document is a unique violation (more in fdw_insert)
SELECT try($$INSERT INTO blocks (_id, _seq, height) VALUES ('b005', 12345, 55)$$);
-- with table option insert 'replace' it is a put: a new version (a given _seq is ignored)
CREATE FOREIGN TABLE blocks_put (_id text, _seq bigint, height bigint, doc jsonb)
  SERVER nedb OPTIONS (collection 'blocks', insert 'replace');
INSERT INTO blocks_put (_id, _seq, height) VALUES ('b005', 12345, 55) RETURNING _id, _seq > 200 AS new_seq, height, doc - '_seq';
SELECT op FROM nedb.history('blocks', 'b005');
-- several rows, each one op
UPDATE blocks SET miner = 'eve' WHERE height <= 3;
SELECT r->>'_id' AS id FROM nql('FROM blocks WHERE miner = eve') r ORDER BY 1;
DELETE FROM blocks WHERE height > 198;
SELECT op, count(*) FROM nedb.log WHERE seq > 199 GROUP BY op ORDER BY op;
-- a table without doc column: UPDATE keeps the fields it does not map
CREATE FOREIGN TABLE blocks_slim (_id text, miner text) SERVER nedb OPTIONS (collection 'blocks');
UPDATE blocks_slim SET miner = 'zed' WHERE _id = 'b010' RETURNING *;
SELECT nedb.get('blocks', 'b010') - 'hash';
-- doc only: the id comes from doc's _id
CREATE FOREIGN TABLE others (doc jsonb) SERVER nedb OPTIONS (collection 'others');
INSERT INTO others VALUES ('{"_id": "o1", "v": 1}') RETURNING doc;
SELECT * FROM others;
-- errors change nothing
SELECT nedb.seq() AS seq_before \gset
SELECT try($$INSERT INTO blocks (height) VALUES (1)$$);
SELECT try($$INSERT INTO others VALUES ('{"v": 2}')$$);
SELECT try($$INSERT INTO blocks (_id) VALUES ('')$$);
SELECT try($$INSERT INTO blocks (_id, doc) VALUES ('x', '[1]')$$);
SELECT try($$UPDATE blocks SET _id = 'b999' WHERE _id = 'b001'$$);
SELECT try($$UPDATE blocks SET _seq = 5 WHERE _id = 'b001'$$);
SELECT try($$UPDATE blocks SET doc = NULL WHERE _id = 'b001'$$);
SELECT try($$UPDATE others SET doc = '{}'$$);
SELECT try($$DELETE FROM others$$);
SELECT try($$INSERT INTO blocks (_id, size) VALUES ('x', 1), ('y', 'NaN'::numeric)$$);
SELECT nedb.seq() = :seq_before AS nothing_written;
-- a rolled-back INSERT leaves no trace
BEGIN;
INSERT INTO blocks (_id, height) VALUES ('rb', 1);
SELECT count(*) FROM blocks WHERE _id = 'rb';
ROLLBACK;
SELECT count(*) FROM blocks WHERE _id = 'rb';
SELECT nedb.seq() = :seq_before AS nothing_written;

-- client, nonce and idempotency key per statement, set for the transaction
-- (SET LOCAL: a session-level value is refused, see fdw_settings)
BEGIN;
SET LOCAL nedb.client = 'svc';
SET LOCAL nedb.nonce = 10;
INSERT INTO blocks (_id, height) VALUES ('g1', 1), ('g2', 2);
SELECT id, client, nonce FROM nedb.ops WHERE seq > :seq_before ORDER BY seq;
-- a nonce is for one write statement
SELECT try($$INSERT INTO blocks (_id, height) VALUES ('g3', 3)$$);
-- set again, the same nonce is a replay
SET LOCAL nedb.nonce = 10;
SELECT try($$INSERT INTO blocks (_id, height) VALUES ('g3', 3)$$);
SET LOCAL nedb.nonce = 12;
UPDATE blocks SET height = 20 WHERE _id = 'g2';
COMMIT;
BEGIN;
SET LOCAL nedb.client = 'svc';
SET LOCAL nedb.idem = 'k1';
INSERT INTO blocks (_id, height) VALUES ('i1', 5) RETURNING _id, height;
COMMIT;
-- a retry with the known key was done before: no row, not counted
BEGIN;
SET LOCAL nedb.client = 'svc';
SET LOCAL nedb.idem = 'k1';
INSERT INTO blocks (_id, height) VALUES ('i1', 6) RETURNING _id, height;
SET LOCAL nedb.idem = 'k2';
SELECT try($$INSERT INTO blocks (_id, height) VALUES ('i2', 1), ('i3', 2)$$);
COMMIT;
SELECT id, client, nonce, idem FROM nedb.ops WHERE seq > :seq_before ORDER BY seq;
-- provenance and valid time of puts, per statement (as nedb.put's arguments)
BEGIN;
SET LOCAL nedb.caused_by = '{0, 1}';
SET LOCAL nedb.evidence = 'import';
SET LOCAL nedb.confidence = 0.75;
SET LOCAL nedb.valid_from = '2024-01-01';
SET LOCAL nedb.valid_to = '2024-12-31';
INSERT INTO blocks (_id, height) VALUES ('p1', 7) RETURNING doc - '_seq';
UPDATE blocks SET height = 8 WHERE _id = 'p1' RETURNING doc - '_seq';
COMMIT;
SELECT caused_by, evidence, confidence, valid_from, valid_to FROM nedb.ops WHERE id = 'p1' ORDER BY seq;
SELECT try($$SET nedb.caused_by = '{1, x}'$$);
SELECT try($$SET nedb.confidence = 'NaN'$$);

-- COPY FROM through the write path
COPY blocks (_id, height, miner, doc) FROM STDIN;
cp1	5001	copy	{"note": "one"}
cp2	5002	copy	{"note": "two", "meta": {"size": 3}}
cp3	5003	\N	\N
\.
SELECT _id, height, miner, size, doc - '_seq' AS doc FROM blocks WHERE _id LIKE 'cp%' ORDER BY 1;
SELECT try($$COPY blocks (_id, height) FROM PROGRAM 'echo cp4,abc' WITH (FORMAT csv)$$);

-- ---------------------------------------------------------------------------
-- History: nedb.as_of and the table option as_of
-- ---------------------------------------------------------------------------
BEGIN;
SET LOCAL nedb.as_of = 199;
SELECT count(*), min(height), max(height) FROM blocks;
SELECT _id, miner FROM blocks WHERE height <= 3 ORDER BY height;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks ORDER BY height DESC LIMIT 1;
SELECT _id FROM blocks ORDER BY height DESC LIMIT 1;
SELECT try($$INSERT INTO blocks (_id) VALUES ('x')$$);
SELECT try($$UPDATE blocks SET height = 1$$);
SELECT try($$DELETE FROM blocks$$);
SELECT try($$COPY blocks (_id) FROM PROGRAM 'echo x'$$);
SET LOCAL nedb.as_of = 0;
SELECT _id FROM blocks;
COMMIT;
CREATE FOREIGN TABLE blocks_then (_id text, height bigint) SERVER nedb OPTIONS (collection 'blocks', as_of '2');
SELECT * FROM blocks_then ORDER BY height;
SELECT try($$INSERT INTO blocks_then VALUES ('x', 1)$$);

-- ---------------------------------------------------------------------------
-- Privileges: GRANTs on the foreign table govern access
-- ---------------------------------------------------------------------------
CREATE ROLE nedb_fdw_reader;
CREATE ROLE nedb_fdw_writer;
GRANT SELECT ON blocks TO nedb_fdw_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON blocks TO nedb_fdw_writer;
SET ROLE nedb_fdw_reader;
SELECT count(*) > 0 AS reads FROM blocks;
SELECT try($$INSERT INTO blocks (_id) VALUES ('r1')$$);
SELECT try($$UPDATE blocks SET height = 1 WHERE _id = 'b005'$$);
SELECT try($$DELETE FROM blocks WHERE _id = 'b005'$$);
SELECT try($$SELECT * FROM blocks_slim$$);
SELECT try($$SELECT nedb.put('blocks', 'r1', '{}')$$);
RESET ROLE;
-- USAGE on server nedb is not granted: only its owner makes tables over collections
CREATE SCHEMA reader_own AUTHORIZATION nedb_fdw_reader;
SET ROLE nedb_fdw_reader;
SELECT try($$CREATE FOREIGN TABLE reader_own.mine (_id text) SERVER nedb OPTIONS (collection 'blocks')$$);
SELECT try($$IMPORT FOREIGN SCHEMA nedb FROM SERVER nedb INTO reader_own$$);
RESET ROLE;
DROP SCHEMA reader_own;
SET ROLE nedb_fdw_writer;
INSERT INTO blocks (_id, height) VALUES ('wr1', 1) RETURNING _id, height;
DELETE FROM blocks WHERE _id = 'wr1' RETURNING _id;
SELECT try($$INSERT INTO blocks_slim VALUES ('wr2', 'x')$$);
RESET ROLE;
REVOKE ALL ON blocks FROM nedb_fdw_reader, nedb_fdw_writer;
DROP ROLE nedb_fdw_reader;
DROP ROLE nedb_fdw_writer;

-- ---------------------------------------------------------------------------
-- IMPORT FOREIGN SCHEMA
-- ---------------------------------------------------------------------------
SELECT nedb.put('mixed', 'm1', '{"n": 1, "f": 1.5, "s": "a", "b": true, "j": 1}') - '_seq';
SELECT nedb.put('mixed', 'm2', '{"n": 2, "f": 2, "s": "b", "b": false, "j": "x"}') - '_seq';
SELECT nedb.create_index('mixed', f, 'eq') FROM unnest(ARRAY['n', 'f', 's', 'b', 'j', 'a.b']) f;
CREATE SCHEMA imp;
IMPORT FOREIGN SCHEMA nedb FROM SERVER nedb INTO imp;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attfdwoptions
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'imp'::regnamespace AND a.attnum > 0 ORDER BY 1, a.attnum;
SELECT c.relname, t.ftoptions FROM pg_foreign_table t JOIN pg_class c ON c.oid = t.ftrelid
 WHERE c.relnamespace = 'imp'::regnamespace ORDER BY 1;
SELECT _id, n, f, s, b, j FROM imp.mixed ORDER BY _id;
SELECT _id, height, miner FROM imp.blocks ORDER BY _id LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM imp.blocks ORDER BY _id LIMIT 2;
CREATE SCHEMA imp2;
IMPORT FOREIGN SCHEMA nedb LIMIT TO (mixed, nothing) FROM SERVER nedb INTO imp2;
SELECT relname FROM pg_class WHERE relnamespace = 'imp2'::regnamespace ORDER BY 1;
CREATE SCHEMA imp3;
IMPORT FOREIGN SCHEMA nedb EXCEPT (mixed) FROM SERVER nedb INTO imp3;
SELECT relname FROM pg_class WHERE relnamespace = 'imp3'::regnamespace ORDER BY 1;
SELECT try($$IMPORT FOREIGN SCHEMA public FROM SERVER nedb INTO imp3$$);
DROP SCHEMA imp, imp2, imp3 CASCADE;

-- the chain is whole after all of this
SELECT nedb.verify();
DROP FUNCTION explain_rows(text);
DROP TABLE notes;
-- leave no objects that depend on the extension behind for the next test
SET client_min_messages = warning;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
RESET client_min_messages;
