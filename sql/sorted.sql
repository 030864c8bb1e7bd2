--
-- sorted: the nedb_sorted index access method
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SET client_min_messages = warning;

-- every SQLSTATE of a statement that must fail
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- the same rows through the index and without it (seq scan + sort)
CREATE FUNCTION pg_temp.same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
  SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off;
  EXECUTE 'SELECT string_agg(x::text, '','') FROM (' || q || ') s(x)' INTO a;
  SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off;
  SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = on;
  EXECUTE 'SELECT string_agg(x::text, '','') FROM (' || q || ') s(x)' INTO b;
  RETURN CASE WHEN a IS NOT DISTINCT FROM b THEN 'same (' || coalesce(length(a), 0) || ' chars)'
              ELSE 'DIFFERENT: ' || coalesce(a, '-') || ' / ' || coalesce(b, '-') END;
END $$;

-- the operator classes are complete (amvalidate), btree's included
SELECT opc.opcname, am.amname, amvalidate(opc.oid)
  FROM pg_opclass opc JOIN pg_am am ON am.oid = opc.opcmethod
 WHERE opc.opcname LIKE 'nedb\_%' ORDER BY 1;

-- bulk build over int8 with duplicates and NULLs, a tree of several levels
CREATE TABLE t (id int, k int8, f float8, s text);
INSERT INTO t SELECT g, (g * 7919) % 5003, g / 3.0, lpad((g % 1500)::text, 180, 'x')
  FROM generate_series(1, 20000) g;
INSERT INTO t VALUES (0, NULL, NULL, NULL), (-1, NULL, NULL, NULL);
CREATE INDEX t_k ON t USING nedb_sorted (k);
CREATE INDEX t_f ON t USING nedb_sorted (f);
CREATE INDEX t_s ON t USING nedb_sorted (s);
SELECT nedb.sorted_check('t_k') AS k_entries, nedb.sorted_check('t_f') AS f_entries,
       nedb.sorted_check('t_s') AS s_entries;
ANALYZE t;

-- costs: the planner picks it by itself when it should, and only then
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY k DESC LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE k = 17;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE k > 10;

-- the planner uses it: both directions, ranges, LIMIT, index-only, bitmap
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM t ORDER BY k LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY k DESC LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE k >= 10 AND k < 20 ORDER BY k;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE k >= 10 AND k < 20 ORDER BY k;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE f > 5.5::float4 ORDER BY f DESC LIMIT 2;
RESET enable_bitmapscan;
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM t WHERE s > 'xx';
RESET enable_indexscan;
RESET enable_seqscan;

-- every operator, both directions: the index's answer is the seq scan's
SELECT pg_temp.same('SELECT k FROM t ORDER BY k') AS all_asc;
SELECT pg_temp.same('SELECT k FROM t ORDER BY k DESC') AS all_desc;
SELECT pg_temp.same('SELECT k FROM t WHERE k < 30 ORDER BY k') AS lt_asc,
       pg_temp.same('SELECT k FROM t WHERE k < 30 ORDER BY k DESC') AS lt_desc;
SELECT pg_temp.same('SELECT k FROM t WHERE k <= 30 ORDER BY k') AS le_asc,
       pg_temp.same('SELECT k FROM t WHERE k <= 30 ORDER BY k DESC') AS le_desc;
SELECT pg_temp.same('SELECT id FROM t WHERE k = 4000 ORDER BY k, id') AS eq;
SELECT pg_temp.same('SELECT k FROM t WHERE k >= 4990 ORDER BY k') AS ge_asc,
       pg_temp.same('SELECT k FROM t WHERE k >= 4990 ORDER BY k DESC') AS ge_desc;
SELECT pg_temp.same('SELECT k FROM t WHERE k > 4990 ORDER BY k') AS gt_asc,
       pg_temp.same('SELECT k FROM t WHERE k > 4990 ORDER BY k DESC') AS gt_desc;
SELECT pg_temp.same('SELECT k FROM t WHERE k > 100 AND k > 120 AND k <= 130 AND k < 140 ORDER BY k DESC') AS mixed;
SELECT pg_temp.same('SELECT f FROM t WHERE f > 6000.5 AND f < 6010 ORDER BY f DESC') AS float8;
SELECT pg_temp.same('SELECT right(s, 4) FROM t WHERE s >= ''xxxxx'' ORDER BY s DESC') AS text;
SELECT pg_temp.same('SELECT k FROM t WHERE k > 5003 ORDER BY k') AS empty_range;
SELECT pg_temp.same('SELECT k FROM t WHERE k > 20::int2 AND k <= 40::int8 AND k < 35 ORDER BY k DESC') AS cross_type;
SELECT pg_temp.same('SELECT f FROM t WHERE f >= 1000.5::float4 AND f < 1003 ORDER BY f') AS cross_float;

-- LIMIT, duplicates (each key 4 times) and NULLs (last ascending, first descending)
SELECT k FROM t ORDER BY k LIMIT 6;
SELECT k FROM t ORDER BY k DESC LIMIT 6;
SELECT count(*) FROM t WHERE k = 17;
SELECT count(*) FROM t WHERE k = NULL;
SELECT s FROM t WHERE s < 'xxxxxxxxxxxx' ORDER BY s DESC LIMIT 1;

-- IS NULL and IS NOT NULL are index conditions (NULLs sort last)
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE k IS NULL;
EXPLAIN (COSTS OFF) SELECT k FROM t WHERE k IS NOT NULL ORDER BY k DESC LIMIT 3;
RESET enable_bitmapscan;
RESET enable_seqscan;
SELECT k FROM t WHERE k IS NOT NULL ORDER BY k DESC LIMIT 3;
SELECT pg_temp.same('SELECT id FROM t WHERE k IS NULL ORDER BY k, id') AS is_null,
       pg_temp.same('SELECT id FROM t WHERE k IS NULL ORDER BY k DESC, id') AS is_null_desc;
SELECT pg_temp.same('SELECT k FROM t WHERE k IS NOT NULL AND k >= 4990 ORDER BY k DESC') AS not_null_desc,
       pg_temp.same('SELECT k FROM t WHERE k IS NOT NULL AND k < 3 ORDER BY k') AS not_null_asc;
SELECT count(*) AS contradiction FROM t WHERE k IS NULL AND k > 5;

-- index-only scan: the value comes from the index
SET enable_seqscan = off;
VACUUM t;
EXPLAIN (COSTS OFF) SELECT k FROM t WHERE k BETWEEN 100 AND 102 ORDER BY k DESC;
SELECT k FROM t WHERE k BETWEEN 100 AND 102 ORDER BY k DESC;
RESET enable_seqscan;

-- inserts into a built index split pages; the tree stays sound
INSERT INTO t SELECT g, g % 97, g, md5(g::text) FROM generate_series(20001, 40000) g;
SELECT nedb.sorted_check('t_k') AS k_entries, nedb.sorted_check('t_s') AS s_entries;
SELECT pg_temp.same('SELECT k FROM t WHERE k <= 96 ORDER BY k DESC') AS after_inserts;

-- VACUUM removes dead entries
DELETE FROM t WHERE id % 4 <> 0;
VACUUM (INDEX_CLEANUP on) t;
SELECT nedb.sorted_check('t_k') = (SELECT count(*) FROM t) AS k_matches_table,
       nedb.sorted_check('t_s') = (SELECT count(*) FROM t) AS s_matches_table;
SELECT pg_temp.same('SELECT k FROM t ORDER BY k DESC') AS after_vacuum;
-- an empty index, then refilled
DELETE FROM t;
VACUUM (INDEX_CLEANUP on) t;
SELECT nedb.sorted_check('t_k') AS emptied;
SELECT count(*) FROM t WHERE k > 0;
INSERT INTO t SELECT g, g, g, g::text FROM generate_series(1, 3000) g;
SELECT nedb.sorted_check('t_k') AS refilled;
SELECT pg_temp.same('SELECT k FROM t WHERE k > 2990 ORDER BY k') AS refilled_scan;

-- VACUUM deletes emptied leaves (not a parent's rightmost child), and a
-- later VACUUM, once no snapshot predates the deletion, recycles them
CREATE TABLE pd (k int8, d int8, s text);
INSERT INTO pd SELECT g, g / 5000, lpad((g / 50)::text, 200, 'x') FROM generate_series(1, 30000) g;
CREATE INDEX pd_k ON pd USING nedb_sorted (k);
CREATE INDEX pd_d ON pd USING nedb_sorted (d);	-- runs of equal keys over many leaves
CREATE INDEX pd_s ON pd USING nedb_sorted (s);	-- three levels
CREATE VIEW pd_stats AS
  SELECT i, s.* FROM unnest(ARRAY['pd_k', 'pd_d', 'pd_s']) i, nedb.sorted_stats(i::regclass) s;
SELECT * FROM pd_stats;
DELETE FROM pd WHERE k BETWEEN 3000 AND 27000;
VACUUM (INDEX_CLEANUP on) pd;
SELECT * FROM pd_stats;
SELECT nedb.sorted_check('pd_k') AS k, nedb.sorted_check('pd_d') AS d, nedb.sorted_check('pd_s') AS s;
SELECT pg_temp.same('SELECT k FROM pd ORDER BY k') AS k_asc,
       pg_temp.same('SELECT k FROM pd ORDER BY k DESC') AS k_desc,
       pg_temp.same('SELECT k FROM pd WHERE k BETWEEN 2990 AND 27010 ORDER BY k DESC') AS k_gap_desc,
       pg_temp.same('SELECT d FROM pd WHERE d BETWEEN 0 AND 5 ORDER BY d DESC') AS d_desc,
       pg_temp.same('SELECT s FROM pd ORDER BY s DESC') AS s_desc,
       pg_temp.same('SELECT s FROM pd WHERE s > lpad(''59'', 200, ''x'') ORDER BY s') AS s_asc;
-- an xid taken after the deletion: no snapshot can still hold a link
SELECT txid_current() > 0 AS xid_taken;
VACUUM pd;
SELECT i, deleted_pages, free_pages FROM pd_stats;
-- splits take the recycled pages: the index does not grow until they are used up
CREATE TEMP TABLE pd_size AS SELECT i, pg_relation_size(i::regclass) AS bytes FROM unnest(ARRAY['pd_k', 'pd_d', 'pd_s']) i;
INSERT INTO pd SELECT g, g / 5000, lpad((g / 50)::text, 200, 'x') FROM generate_series(3000, 9000) g;
SELECT i, pg_relation_size(i::regclass) = bytes AS same_size FROM pd_size ORDER BY i;
SELECT i, free_pages, entries FROM pd_stats;
INSERT INTO pd SELECT g, g / 5000, lpad((g / 50)::text, 200, 'x') FROM generate_series(9001, 27000) g;
SELECT * FROM pd_stats;
SELECT nedb.sorted_check('pd_k') AS k, nedb.sorted_check('pd_d') AS d, nedb.sorted_check('pd_s') AS s;
SELECT pg_temp.same('SELECT k FROM pd ORDER BY k DESC') AS k_desc,
       pg_temp.same('SELECT d FROM pd WHERE d >= 2 ORDER BY d') AS d_asc,
       pg_temp.same('SELECT s FROM pd ORDER BY s DESC') AS s_desc;
DROP TABLE pd CASCADE;

-- REINDEX
REINDEX INDEX t_s;
SELECT nedb.sorted_check('t_s') AS reindexed;
SELECT pg_temp.same('SELECT s FROM t WHERE s > ''2998'' ORDER BY s') AS after_reindex;

-- an index built on an empty table, filled in random order
CREATE TABLE r (k int8);
CREATE INDEX r_k ON r USING nedb_sorted (k);
INSERT INTO r SELECT (g * 104729::int8) % 30011 FROM generate_series(1, 30000) g;
SELECT nedb.sorted_check('r_k') AS random_inserts;
SELECT pg_temp.same('SELECT k FROM r WHERE k >= 15000 ORDER BY k') AS random_scan;

-- ascending inserts go straight to the rightmost leaf when the last insert
-- went there (a hint checked under the leaf's lock): one row per statement,
-- equal keys, keys below that leaf's first entry, NULLs (last), a rightmost
-- leaf emptied by VACUUM, and a temporary table (no WAL)
CREATE TABLE a (k int8);
CREATE INDEX a_k ON a USING nedb_sorted (k);
DO $$ BEGIN FOR i IN 1..3000 LOOP INSERT INTO a VALUES (i / 3); END LOOP; END $$;
INSERT INTO a VALUES (NULL), (999), (500), (NULL), (1), (998);
DO $$ BEGIN FOR i IN 1..600 LOOP INSERT INTO a VALUES (995 + i % 7); END LOOP; END $$;
SELECT nedb.sorted_check('a_k') = (SELECT count(*) FROM a) AS ascending_sound,
       (SELECT count(*) FROM a) AS ascending_rows;
SELECT pg_temp.same('SELECT k FROM a ORDER BY k') AS ascending_scan;
SELECT pg_temp.same('SELECT k FROM a WHERE k >= 997 AND k <= 1000 ORDER BY k DESC') AS ascending_range;
SELECT count(*) AS nulls FROM a WHERE k IS NULL;
DELETE FROM a WHERE k > 400;
VACUUM (INDEX_CLEANUP on) a;
DO $$ BEGIN FOR i IN 1..300 LOOP INSERT INTO a VALUES (300 + i); END LOOP; END $$;
SELECT nedb.sorted_check('a_k') = (SELECT count(*) FROM a) AS after_vacuum_sound;
SELECT pg_temp.same('SELECT k FROM a WHERE k >= 390 ORDER BY k') AS after_vacuum_scan;
CREATE TEMP TABLE tt (k int8);
CREATE INDEX tt_k ON tt USING nedb_sorted (k);
DO $$ BEGIN FOR i IN 1..2000 LOOP INSERT INTO tt VALUES (i); END LOOP; END $$;
INSERT INTO tt SELECT g FROM generate_series(1, 2000, 7) g;
SELECT nedb.sorted_check('tt_k') AS temp_entries;
SELECT pg_temp.same('SELECT k FROM tt WHERE k > 1990 ORDER BY k') AS temp_scan;
DROP TABLE a, tt;

-- CLUSTER through it: the table in key order
CLUSTER r USING r_k;
SELECT nedb.sorted_check('r_k') AS clustered;
SELECT bool_and(k >= lag) AS heap_in_key_order
  FROM (SELECT k, lag(k, 1, -1::int8) OVER (ORDER BY ctid) FROM r) x;

-- an unlogged table's index (its init fork is a metapage and an empty leaf)
CREATE UNLOGGED TABLE ul (k int8);
CREATE INDEX ul_k ON ul USING nedb_sorted (k);
INSERT INTO ul SELECT g FROM generate_series(1, 1000) g;
SELECT nedb.sorted_check('ul_k') AS unlogged;

-- jsonb under NEDB ordering: numbers by value whatever the spelling, booleans
-- as 0/1, strings by code point, then arrays, objects, null, and missing
CREATE TABLE j (id int, doc jsonb);
INSERT INTO j VALUES
  (1, '{"v": 10}'), (2, '{"v": 2.50}'), (3, '{"v": 1e1}'), (4, '{"v": -3}'),
  (5, '{"v": true}'), (6, '{"v": false}'), (7, '{"v": "b"}'), (8, '{"v": "B"}'),
  (9, '{"v": "é"}'), (10, '{"v": "z"}'), (11, '{"v": [3, 2]}'), (12, '{"v": {"a": 1}}'),
  (13, '{"v": null}'), (14, '{}'), (15, '{"v": []}'), (16, '{"v": 1}');
CREATE INDEX j_v ON j USING nedb_sorted ((doc -> 'v'));
SELECT nedb.sorted_check('j_v') AS jsonb_entries;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM j ORDER BY doc -> 'v' USING OPERATOR(nedb.<) LIMIT 3;
SELECT id, doc -> 'v' AS v FROM j ORDER BY doc -> 'v' USING OPERATOR(nedb.<), id;
SELECT id, doc -> 'v' AS v FROM j ORDER BY doc -> 'v' USING OPERATOR(nedb.>), id DESC LIMIT 4;
SELECT id FROM j WHERE doc -> 'v' OPERATOR(nedb.=) '1' ORDER BY id;
SELECT id FROM j WHERE doc -> 'v' OPERATOR(nedb.>=) '2.5' AND doc -> 'v' OPERATOR(nedb.<) '"b"'
 ORDER BY doc -> 'v' USING OPERATOR(nedb.<), id;
SELECT id FROM j WHERE doc -> 'v' OPERATOR(nedb.=) '[1]' ORDER BY id;   -- arrays are one rank
RESET enable_seqscan;
SELECT pg_temp.same('SELECT id FROM j ORDER BY doc -> ''v'' USING OPERATOR(nedb.>), id') AS jsonb_desc;
-- jsonb's own < orders differently (it cannot use this index)
SELECT '"B"'::jsonb OPERATOR(nedb.<) '"b"' AS nedb_b, 'true'::jsonb OPERATOR(nedb.<) '2' AS nedb_bool,
       'true'::jsonb < '2'::jsonb AS jsonb_bool, '1.0'::jsonb OPERATOR(nedb.=) '1' AS num_eq;

-- nedb.create_index(coll, field, 'sorted' | 'ordered') builds one; a field
-- holding a big array or object never blocks a write
SELECT count(nedb.put('blk', 'b' || g, jsonb_build_object('height', g))) FROM generate_series(1, 500) g;
SELECT nedb.create_index('blk', 'height', 'ordered');
SELECT am.amname, opc.opcname
  FROM nedb.indexes x JOIN pg_class c ON c.relname = x.index_name JOIN pg_am am ON am.oid = c.relam
  JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_opclass opc ON opc.oid = i.indclass[0]
 WHERE x.coll = 'blk';
SELECT nedb.put('blk', 'big', jsonb_build_object('height', (SELECT jsonb_agg(g) FROM generate_series(1, 3000) g))) ->> '_id' AS id;
SELECT nedb.put('blk', 'obj', jsonb_build_object('height', jsonb_build_object('x', repeat('y', 9000)))) ->> '_id' AS id;
SELECT nedb.sorted_check(c.oid) AS blk_entries FROM nedb.indexes x JOIN pg_class c ON c.relname = x.index_name
 WHERE x.coll = 'blk';
ANALYZE nedb.versions;
SET enable_seqscan = off;
SELECT id, jsonb_typeof(doc -> 'height') AS h FROM nedb.versions WHERE coll = 'blk' AND seq_to IS NULL
 ORDER BY doc -> 'height' USING OPERATOR(nedb.>) LIMIT 3;
SELECT r -> 'height' AS h FROM nql('FROM blk WHERE height >= 250 AND height < 253 ORDER BY height DESC') r;
RESET enable_seqscan;
SELECT nedb.verify();

-- errors
SELECT pg_temp.err('CREATE INDEX ON t USING nedb_sorted (k DESC)');
SELECT pg_temp.err('CREATE INDEX ON t USING nedb_sorted (k NULLS FIRST)');
SELECT pg_temp.err('CREATE INDEX ON t USING nedb_sorted (k, f)');
SELECT pg_temp.err('CREATE UNIQUE INDEX ON t USING nedb_sorted (k)');
SELECT pg_temp.err('CREATE INDEX ON t USING nedb_sorted (k) WITH (fillfactor = 50)');
SELECT pg_temp.err('CREATE INDEX ON t USING nedb_sorted (id)');
SELECT pg_temp.err('INSERT INTO t (s) SELECT string_agg(md5(g::text), '''') FROM generate_series(1, 100) g');
CREATE INDEX t_plain ON t (k);
SELECT pg_temp.err('SELECT nedb.sorted_check(''t_plain'')');
SELECT pg_temp.err('SELECT nedb.sorted_check(''t'')');
SELECT pg_temp.err('SELECT nedb.sorted_stats(''t_plain'')');
SELECT pg_temp.err('SELECT nedb.sorted_stats(''t'')');
SELECT nedb.sorted_check(NULL);
-- killed entries: a scan marks LP_DEAD the entries whose rows are dead to
-- every transaction (here rows of rolled-back inserts: dead at once, whatever
-- other sessions' snapshots), later scans pass them without visiting the
-- table, VACUUM removes them; results stay the same as without the index
CREATE EXTENSION pageinspect;
CREATE FUNCTION pg_temp.dead(idx regclass) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM generate_series(1, pg_relation_size(idx) / current_setting('block_size')::int - 1) b,
         heap_page_items(get_raw_page(idx::text, b::int)) WHERE lp_flags = 3 $$;
-- buffers the top node of a query's plan read (the query runs)
CREATE FUNCTION pg_temp.bufs(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF l ~ 'Buffers:' THEN
      RETURN coalesce(substring(l FROM 'hit=(\d+)')::int, 0) + coalesce(substring(l FROM 'read=(\d+)')::int, 0);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
CREATE TABLE kd (id int, h int8);
INSERT INTO kd SELECT g, g FROM generate_series(1, 3000) g;
CREATE INDEX kd_h ON kd USING nedb_sorted (h);
VACUUM ANALYZE kd;
BEGIN;
INSERT INTO kd SELECT -g, 3000 + g FROM generate_series(1, 2000) g;   -- the top of the range
INSERT INTO kd SELECT -g, -g FROM generate_series(1, 1000) g;         -- the bottom
INSERT INTO kd SELECT -g, g FROM generate_series(1000, 1499) g;       -- duplicates amid live keys
ROLLBACK;
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id, h FROM kd ORDER BY h DESC LIMIT 3;
SELECT pg_temp.dead('kd_h') AS before_any_scan;
-- backward: the first scan visits the 2000 dead rows and marks them, the
-- next reads fewer buffers (the same leaves, but not the table's pages)
SELECT pg_temp.bufs('SELECT id, h FROM kd ORDER BY h DESC LIMIT 3') AS first_scan \gset
SELECT pg_temp.bufs('SELECT id, h FROM kd ORDER BY h DESC LIMIT 3') AS second_scan \gset
SELECT :second_scan < :first_scan AS marked_scan_reads_fewer;
SELECT pg_temp.dead('kd_h') AS after_backward;
SELECT id, h FROM kd ORDER BY h DESC LIMIT 3;
-- forward, an index-only scan (the table's pages are not all-visible)
EXPLAIN (COSTS OFF) SELECT h FROM kd ORDER BY h LIMIT 3;
SELECT h FROM kd ORDER BY h LIMIT 3;
SELECT pg_temp.dead('kd_h') AS after_forward;
SELECT h FROM kd ORDER BY h LIMIT 3;
-- a range amid live keys, both ways
SELECT count(*) AS range_rows FROM kd WHERE h BETWEEN 1000 AND 1499;
SELECT pg_temp.dead('kd_h') AS after_range;
SELECT pg_temp.same('SELECT id FROM kd WHERE h BETWEEN 990 AND 1510 ORDER BY h') AS range_fwd,
       pg_temp.same('SELECT id FROM kd WHERE h BETWEEN 990 AND 1510 ORDER BY h DESC') AS range_back,
       pg_temp.same('SELECT id FROM kd ORDER BY h DESC') AS all_back,
       pg_temp.same('SELECT h FROM kd ORDER BY h') AS all_fwd;
SELECT nedb.sorted_check('kd_h') AS entries_until_vacuum;
-- an insert into a full leaf first removes the leaf's marked entries, when
-- nedb is preloaded (the removal's record, our resource manager's, carries
-- the standby conflict); otherwise the leaf splits (dropping its marks)
SELECT leaf_pages AS leaves_before FROM nedb.sorted_stats('kd_h') \gset
INSERT INTO kd SELECT g, 3000 + g FROM generate_series(1, 600) g;
SELECT (leaf_pages = :leaves_before) = (current_setting('shared_preload_libraries') ~ 'nedb') AS no_split_iff_preloaded
  FROM nedb.sorted_stats('kd_h');
SELECT pg_temp.same('SELECT id FROM kd ORDER BY h DESC') AS after_inserts,
       nedb.sorted_check('kd_h') >= (SELECT count(*) FROM kd) AS sound;
-- VACUUM removes the marked entries with the others
VACUUM kd;
SELECT pg_temp.dead('kd_h') AS after_vacuum, nedb.sorted_check('kd_h') = (SELECT count(*) FROM kd) AS vacuumed;

-- the page changes between a scan's visit and its marks: a cursor passes
-- dead entries (marks noted, applied when it leaves the page or closes),
-- then inserts move the entries right on its leaf, or split it; the marks
-- find each entry by its heap TID, or not at all, and never a live one
CREATE TABLE kc (id int, h int8);
INSERT INTO kc SELECT g, 2 * g FROM generate_series(1, 2000) g;
CREATE INDEX kc_h ON kc USING nedb_sorted (h);
BEGIN;
INSERT INTO kc SELECT -g, 2 * g + 1 FROM generate_series(1, 2000) g;   -- odd keys, dead
ROLLBACK;
BEGIN;
DECLARE kf CURSOR FOR SELECT id, h FROM kc ORDER BY h;
FETCH 3 FROM kf;
MOVE 60 FROM kf;
INSERT INTO kc SELECT 10000 + g, 0 FROM generate_series(1, 20) g;   -- before them, no split
MOVE 4 FROM kf;
FETCH 1 FROM kf;
CLOSE kf;
-- live 2 .. 136 returned: the 67 dead keys 3 .. 135 passed, all found
SELECT pg_temp.dead('kc_h') AS marked_after_shift;
DECLARE kb CURSOR FOR SELECT id, h FROM kc ORDER BY h DESC;
FETCH 2 FROM kb;
MOVE 60 FROM kb;
INSERT INTO kc SELECT 20000 + g, 3999 FROM generate_series(1, 800) g;   -- splits its leaf
MOVE 100 FROM kb;
FETCH 2 FROM kb;
CLOSE kb;
COMMIT;
SELECT pg_temp.dead('kc_h') > 67 AS marked_after_split,
       nedb.sorted_check('kc_h') AS entries,
       (SELECT count(*) FROM kc) AS rows;
SELECT pg_temp.same('SELECT id FROM kc ORDER BY h, id') AS split_fwd,
       pg_temp.same('SELECT id FROM kc ORDER BY h DESC, id') AS split_back,
       pg_temp.same('SELECT h FROM kc WHERE h <= 300 ORDER BY h') AS split_ios;
RESET enable_seqscan; RESET enable_bitmapscan;
DROP TABLE kd, kc;
DROP EXTENSION pageinspect;

-- leave no objects that depend on the extension behind for the next test
SET client_min_messages = warning;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
RESET client_min_messages;
