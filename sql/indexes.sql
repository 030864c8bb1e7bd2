--
-- indexes: eq (btree), sorted (nedb_sorted), search (GIN)
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

SELECT count(nedb.put('blocks', 'b' || g, jsonb_build_object('height', g, 'miner', 'm' || (g % 3), 'note', 'Block ' || g || ' mined by Rust-lang')))
  FROM generate_series(1, 300) g;
SELECT nedb.create_index('blocks', 'miner');
SELECT nedb.create_index('blocks', 'height', 'sorted');
SELECT nedb.create_index('blocks', 'height', 'ordered');   -- the same index: no-op
SELECT nedb.create_index('blocks', 'note', 'search');
SELECT coll, field, kind FROM nedb.indexes ORDER BY kind;
SELECT i.relname, pg_get_indexdef(i.oid) ~ 'WHERE \(coll = ''blocks''::text\)' AS partial
  FROM nedb.indexes x JOIN pg_class i ON i.relname = x.index_name ORDER BY 1;

-- an unknown kind is an error and leaves nothing behind
SELECT try($$SELECT nedb.create_index('blocks', 'hash', 'hashy')$$);
SELECT try($$SELECT nedb.create_index('blocks', 'hash', NULL)$$);
SELECT count(*) FROM nedb.indexes WHERE field = 'hash';
SELECT count(*) FROM pg_indexes WHERE schemaname = 'nedb' AND indexname LIKE '%hash%';

-- the planner uses them
ANALYZE nedb.versions;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT doc FROM nedb.versions WHERE coll = 'blocks' AND doc -> 'miner' = '"m1"';
EXPLAIN (COSTS OFF) SELECT doc FROM nedb.versions WHERE coll = 'blocks' ORDER BY doc -> 'height' USING OPERATOR(nedb.>) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT doc FROM nedb.versions WHERE coll = 'blocks' AND nedb.tokens(doc -> 'note') @> '{rust}';
RESET enable_seqscan;
SELECT doc ->> 'height' AS h FROM nedb.versions WHERE coll = 'blocks' AND seq_to IS NULL
 ORDER BY doc -> 'height' DESC LIMIT 3;

-- the reference tokenizer: [a-z0-9]+ over lowercased text; only strings
SELECT nedb.tokens('"Rust-lang hacker, C++ fan  Ünïcode_x 42"');
SELECT nedb.tokens('"İstanbul"'), nedb.tokens(to_jsonb(U&'\212Aelvin'::text)), nedb.tokens('"a_b a b"');
SELECT nedb.tokens('42'), nedb.tokens('["a b"]'), nedb.tokens('null'), nedb.tokens('""');

-- an index lost in a dump and restore is built again by create_index
DROP INDEX nedb.nedb_eq_blocks_miner_bd5fa8ff;
SELECT nedb.create_index(coll, field, kind) FROM nedb.indexes;
SELECT count(*) AS indexes_present FROM nedb.indexes WHERE to_regclass('nedb.' || index_name) IS NOT NULL;

-- drop
SELECT nedb.drop_index('blocks', 'note', 'search');
SELECT try($$SELECT nedb.drop_index('blocks', 'note', 'search')$$);
SELECT try($$SELECT nedb.drop_index('blocks', 'nope', 'wat')$$);
SELECT coll, field, kind FROM nedb.indexes ORDER BY kind;
-- an array or object value in an indexed field is just a value: no poisoned writes
SELECT nedb.put('blocks', 'odd', '{"miner": ["x", "y"], "height": {"a": 1}, "note": 7}') ->> '_id' AS id;
SELECT nedb.verify();

-- writes, then an index change, in one transaction (migrations, psql -1)
BEGIN;
SELECT nedb.put('users', 'seed', '{"age": 1}') ->> '_id' AS id;
SELECT nedb.create_index('users', 'age', 'sorted');
SELECT nedb.put('users', 'seed2', '{"age": 2}') ->> '_id' AS id;
SELECT nedb.create_index('users', 'age', 'eq');
SELECT nedb.drop_index('users', 'age', 'sorted');
CREATE FOREIGN TABLE users_ft (_id text, age int) SERVER nedb OPTIONS (collection 'users');
INSERT INTO users_ft VALUES ('seed3', 3);
SELECT nedb.drop_index('users', 'age', 'eq');
SELECT nedb.create_index('users', 'age', 'sorted');
INSERT INTO users_ft VALUES ('seed4', 4);
COMMIT;
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY age DESC LIMIT 2') r;
SELECT kind FROM nedb.indexes WHERE coll = 'users';
DROP FOREIGN TABLE users_ft;
SELECT nedb.verify();
