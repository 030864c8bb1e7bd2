--
-- limits: bounded nonces, reserved clients, the lengths of names that land
-- in btree indexes, nedb.sorted_check's errors and privileges, IMPORT
-- FOREIGN SCHEMA with names Postgres cannot take, import_aof's SQLSTATEs
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- ---------------------------------------------------------------------------
-- A replayed log keeps any int64 nonce and any client (checked lines of a
-- log, not live writes)
-- ---------------------------------------------------------------------------
\set la '{"seq": 0, "client": "local", "nonce": 9223372036854775807, "op": "put", "payload": {"key": "big:n", "coll": "big", "id": "n", "doc": {"_id": "n", "v": 1}}, "ts": 1700000000.0, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "f81eff2b576ff67ccf96386e7884aaf8cda26a9e181060cb4ddc72720505201e"}'
\set lb '{"seq": 1, "client": "__ttl__", "nonce": 9007199254740993, "op": "delete", "payload": {"key": "big:n", "coll": "big", "id": "n"}, "ts": 1700000001.0, "idem": null, "prev_hash": "f81eff2b576ff67ccf96386e7884aaf8cda26a9e181060cb4ddc72720505201e", "hash": "412d07afb0334bf611877bd8239c54a16e8e381bc2e9136b0372f6440578a9ff"}'
\set lc '{"seq": 2, "client": "w", "nonce": 1, "op": "put", "payload": {"key": "big:m", "coll": "big", "id": "m", "doc": {"_id": "m"}}, "ts": 1700000002.0, "idem": "IDEM", "prev_hash": "412d07afb0334bf611877bd8239c54a16e8e381bc2e9136b0372f6440578a9ff", "hash": "daa8b9754a3b4408e8568b085324e9ed439def652336999a20ef38574a517875"}'
SELECT nedb.import_aof(:'la' || E'\n' || :'lb');
SELECT * FROM nedb.clients ORDER BY client;
-- an idempotency key over 1024 bytes: 54000, naming the field (the line
-- is otherwise sound: its hash is its body's)
SELECT try(format('SELECT nedb.import_aof(%L)', replace(:'lc', 'IDEM', repeat('i', 1025))));
-- the imported client 'local' has used up its nonces: its automatic ones
-- are exhausted (the error says so and what to do), other clients are not
SELECT nedb.put('big', 'x', '{}');
SELECT nedb.put('big', 'x', '{}', client => 'other') ->> '_seq' AS other_client;
-- a line out of sequence is bad input (22023), named by its line
SELECT nedb.import_aof(:'la');
SELECT try(format('SELECT nedb.import_aof(%L)', E'\n\n' || :'lb'));
SELECT try(format('SELECT nedb.import_aof(%L)', replace(:'lb', '"seq": 1', '"seq": 3')));
SELECT nedb.seq();

DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- ---------------------------------------------------------------------------
-- Live writes: an explicit nonce is at most 2^53 - 1 (22003); automatic
-- nonces follow the high-water mark above it
-- ---------------------------------------------------------------------------
SELECT nedb.put('n', 'a', '{}', client => 'lim', nonce => 9223372036854775807);
SELECT try($$SELECT nedb.put('n', 'a', '{}', client => 'lim', nonce => 9007199254740992)$$);
SELECT try($$SELECT nedb.delete('n', 'a', client => 'lim', nonce => 9007199254740992)$$);
SELECT try($$SELECT nedb.link('a', 'r', 'b', client => 'lim', nonce => 9007199254740992)$$);
SELECT try($$SELECT nedb.unlink('a', 'r', 'b', client => 'lim', nonce => 9007199254740992)$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "n", "id": "a", "doc": {}, "client": "lim", "nonce": 9223372036854775807}]')$$);
SELECT try($$SELECT nedb.put_file('f', '\x00'::bytea, client => 'lim', nonce => 9007199254740992)$$);
SET nedb.nonce = '9007199254740992';
SELECT nedb.seq() AS nothing_written;
SELECT nedb.put('n', 'a', '{}', client => 'lim', nonce => 9007199254740991) ->> '_seq' AS largest_given;
SELECT nedb.put('n', 'b', '{}', client => 'lim') ->> '_seq' AS automatic;
SELECT nedb.tx('[{"op": "put", "coll": "n", "id": "c", "doc": {}, "client": "lim"}]') ->> 'count' AS tx_automatic;
SELECT nonce FROM nedb.log WHERE client = 'lim' ORDER BY seq;
-- the foreign table's nedb.nonce: the statement's rows take the following
-- nonces, and a row above the bound fails the statement
CREATE FOREIGN TABLE lim_n (_id text, doc jsonb) SERVER nedb OPTIONS (collection 'n');
BEGIN;
SET LOCAL nedb.client = 'limfdw';
SET LOCAL nedb.nonce = '9007199254740990';
SELECT try($$INSERT INTO lim_n VALUES ('x', '{}'), ('y', '{}'), ('z', '{}')$$);
INSERT INTO lim_n VALUES ('x', '{}'), ('y', '{}');
RESET nedb.nonce;
INSERT INTO lim_n VALUES ('z', '{}');
COMMIT;
SELECT nonce FROM nedb.log WHERE client = 'limfdw' ORDER BY seq;

-- ---------------------------------------------------------------------------
-- Reserved clients: names beginning with "__" are the engine's (42501 for
-- roles without the extension owner's privileges)
-- ---------------------------------------------------------------------------
CREATE ROLE limits_app;
GRANT USAGE ON SCHEMA nedb TO limits_app;
GRANT EXECUTE ON FUNCTION
    nedb.put(text, text, jsonb, text, bigint, text, interval, bigint[], text, float8, text, text),
    nedb.delete(text, text, text, bigint, text), nedb.link(text, text, text, text, bigint),
    nedb.tx(jsonb), nedb.sweep() TO limits_app;
GRANT SELECT, INSERT ON lim_n TO limits_app;
SELECT nedb.grant(NULL, 'limits_app', 'write');   -- every collection: only the client is refused
SET ROLE limits_app;
SELECT nedb.put('r', 'a', '{}', client => '__ttl__');
SELECT try($$SELECT nedb.delete('r', 'a', client => '__ttl__')$$);
SELECT try($$SELECT nedb.link('a', 'r', 'b', client => '__snapshot__')$$);
SELECT try($$SELECT nedb.tx('[{"op": "del", "coll": "r", "id": "a", "client": "__ttl__"}]')$$);
BEGIN;
SET LOCAL nedb.client = '__ttl__';
SELECT try($$INSERT INTO lim_n VALUES ('q', '{}')$$);
COMMIT;
-- "__" elsewhere in a name is an ordinary name
SELECT nedb.put('r', 'a', '{}', client => 'my__app', ttl => '-1 second') ->> '_id' AS ordinary;
-- sweep() still deletes as __ttl__, for whoever may run it
SELECT nedb.sweep() AS swept;
RESET ROLE;
SELECT client, op, payload ->> 'id' AS id FROM nedb.log WHERE payload ->> 'coll' = 'r' ORDER BY seq;
-- the extension's owner (here a superuser) may write as a reserved client
SELECT nedb.put('r', 'b', '{}', client => '__snapshot__') ->> '_id' AS owner_may;

-- ---------------------------------------------------------------------------
-- Names that land in btree indexes: idempotency keys at most 1024 bytes,
-- an edge's frm, rel and to at most 2048 together (54000)
-- ---------------------------------------------------------------------------
SELECT nedb.put('i', 'a', '{}', idem => repeat('k', 1025));
SELECT try(format('SELECT nedb.delete(%L, %L, idem => %L)', 'i', 'a', repeat('k', 1025)));
SELECT try(format('SELECT nedb.put_file(%L, %L::bytea, idem => %L)', 'f', '\x00', repeat('k', 1025)));
SELECT try(format('SELECT nedb.tx(%L)', jsonb_build_array(jsonb_build_object(
    'op', 'put', 'coll', 'i', 'id', 'a', 'doc', '{}'::jsonb, 'idem', repeat('k', 1025)))));
SELECT left(try(format('SET nedb.idem = %L', repeat('k', 1025))), 50) AS guc;
SELECT nedb.put('i', 'a', '{}', idem => repeat('k', 1024)) ->> '_id' AS longest_idem;
-- not compressible, so the names really fill the index entry
CREATE TEMP TABLE names AS
  SELECT n, (SELECT string_agg(md5(g::text || n), '') FROM generate_series(1, 32) g) AS s
    FROM generate_series(1, 3) n;
SELECT nedb.link(a.s, b.s, c.s) FROM names a, names b, names c WHERE a.n = 1 AND b.n = 2 AND c.n = 3;
SELECT try(format('SELECT nedb.tx(%L)', jsonb_build_array(jsonb_build_object(
    'op', 'link', 'frm', a.s, 'rel', 'r', 'to', b.s))))
  FROM names a, names b WHERE a.n = 1 AND b.n = 2;
SELECT nedb.link(a.s, left(b.s, 1000), left(c.s, 24)) AS longest_edge
  FROM names a, names b, names c WHERE a.n = 1 AND b.n = 2 AND c.n = 3;
SELECT nedb.verify();

-- ---------------------------------------------------------------------------
-- nedb.sorted_check and nedb.sorted_stats: errors that name the object
-- ---------------------------------------------------------------------------
CREATE TABLE lim_s (k int8);
INSERT INTO lim_s SELECT g FROM generate_series(1, 2000) g;
CREATE INDEX lim_s_k ON lim_s USING nedb_sorted (k);
CREATE INDEX lim_s_b ON lim_s (k);
CREATE TABLE lim_p (k int8) PARTITION BY RANGE (k);
CREATE TABLE lim_p1 PARTITION OF lim_p FOR VALUES FROM (0) TO (100);
INSERT INTO lim_p SELECT g FROM generate_series(0, 99) g;
CREATE INDEX lim_p_k ON lim_p USING nedb_sorted (k);
SELECT try('SELECT nedb.sorted_check(1)');
SELECT try('SELECT nedb.sorted_stats(1)');
SELECT nedb.sorted_check('lim_p_k');
SELECT try('SELECT nedb.sorted_stats(''lim_p_k'')');
SELECT nedb.sorted_check(i.indexrelid) AS partition_entries
  FROM pg_index i WHERE i.indrelid = 'lim_p1'::regclass;
SELECT nedb.sorted_check('lim_s_b');
SELECT try('SELECT nedb.sorted_stats(''lim_s_b'')');
SELECT try('SELECT nedb.sorted_check(''lim_s'')');
SELECT try('SELECT nedb.sorted_check(''nedb.ops_idem'')');

-- privileges: the index's owner, or pg_stat_scan_tables (pg_monitor) members
SET ROLE limits_app;
SELECT nedb.sorted_check('lim_s_k');
SELECT try('SELECT nedb.sorted_stats(''lim_s_k'')');
RESET ROLE;
GRANT CREATE ON SCHEMA public TO limits_app;
SET ROLE limits_app;
CREATE TABLE lim_own (k int8);
INSERT INTO lim_own SELECT g FROM generate_series(1, 500) g;
CREATE INDEX lim_own_k ON lim_own USING nedb_sorted (k);
SELECT nedb.sorted_check('lim_own_k') AS own_entries, (nedb.sorted_stats('lim_own_k')).entries AS own_stats;
RESET ROLE;
CREATE ROLE limits_mon IN ROLE pg_monitor;
GRANT USAGE ON SCHEMA nedb TO limits_mon;
SET ROLE limits_mon;
SELECT nedb.sorted_check('lim_s_k') AS monitor_entries, (nedb.sorted_stats('lim_s_k')).entries AS monitor_stats;
RESET ROLE;
SELECT nedb.sorted_check('lim_s_k') AS superuser_entries;

-- ---------------------------------------------------------------------------
-- IMPORT FOREIGN SCHEMA: names Postgres cannot take as they are
-- ---------------------------------------------------------------------------
SELECT nedb.put('sys', 'a', '{"ctid": 1, "xmin": "x", "n": 2}') ->> '_id';
SELECT nedb.create_index('sys', 'ctid'), nedb.create_index('sys', 'xmin'), nedb.create_index('sys', 'n');
SELECT nedb.put(repeat('c', 63) || '_one', 'a', '{"v": 1}') ->> '_id',
       nedb.put(repeat('c', 63) || '_two', 'b', '{"v": 2}') ->> '_id';
SELECT nedb.put('longf', 'a', jsonb_build_object(repeat('f', 63) || '1', 1, repeat('f', 63) || '2', 2)) ->> '_id';
SELECT nedb.create_index('longf', repeat('f', 63) || '1'), nedb.create_index('longf', repeat('f', 63) || '2');
CREATE SCHEMA lim_imp;
IMPORT FOREIGN SCHEMA nedb FROM SERVER nedb INTO lim_imp;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attfdwoptions
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relnamespace = 'lim_imp'::regnamespace AND a.attnum > 0
 ORDER BY c.relname COLLATE "C", a.attnum;
SELECT _id, n, doc ->> 'ctid' AS ctid_field FROM lim_imp.sys;
SELECT format('SELECT _id, doc FROM lim_imp.%I', repeat('c', 63)) \gexec
-- LIMIT TO and EXCEPT name tables: a collection matches by its table's
-- (truncated) name
CREATE SCHEMA lim_imp2;
SELECT format('IMPORT FOREIGN SCHEMA nedb LIMIT TO (sys, %I) FROM SERVER nedb INTO lim_imp2',
              repeat('c', 63)) \gexec
SELECT relname FROM pg_class WHERE relnamespace = 'lim_imp2'::regnamespace ORDER BY 1;
CREATE SCHEMA lim_imp3;
SELECT format('IMPORT FOREIGN SCHEMA nedb EXCEPT (%I, longf) FROM SERVER nedb INTO lim_imp3',
              repeat('c', 63)) \gexec
SELECT relname FROM pg_class WHERE relnamespace = 'lim_imp3'::regnamespace ORDER BY 1;

-- clean up
DROP SCHEMA lim_imp, lim_imp2, lim_imp3 CASCADE;
DROP TABLE lim_s, lim_p, lim_own;
DROP FOREIGN TABLE lim_n;
REVOKE ALL ON SCHEMA public FROM limits_app;
REVOKE ALL ON SCHEMA nedb FROM limits_app, limits_mon;
REVOKE ALL ON FUNCTION
    nedb.put(text, text, jsonb, text, bigint, text, interval, bigint[], text, float8, text, text),
    nedb.delete(text, text, text, bigint, text), nedb.link(text, text, text, text, bigint),
    nedb.tx(jsonb), nedb.sweep() FROM limits_app;
SELECT nedb.revoke(NULL, 'limits_app');
DROP ROLE limits_app, limits_mon;
