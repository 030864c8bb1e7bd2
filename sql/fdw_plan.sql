--
-- fdw_plan: row estimates and plans of foreign tables over collections
-- that no ANALYZE has seen (autovacuum is off here, so nedb.versions is
-- never analyzed), and ANALYZE of a foreign table.  Row estimates are
-- printed only as ranges and costs not at all: what is checked is what the
-- plan does.
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- what a plan does: the top node's row estimate, whether a Sort or a Limit
-- runs in Postgres, what the foreign scan took over, and where its figure
-- of the collection's size comes from
CREATE FUNCTION plan_of(q text, OUT est float8, OUT sort bool, OUT local_limit bool,
                        OUT nedb_order text, OUT nedb_limit int, OUT direct bool,
                        OUT size_from text)
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb;
    s jsonb;
BEGIN
    EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || q INTO p;
    p := p -> 0 -> 'Plan';
    s := jsonb_path_query_first(p, 'strict $.** ? (@."Node Type" == "Foreign Scan")');
    est := (p ->> 'Plan Rows')::float8;
    sort := jsonb_path_exists(p, 'strict $.** ? (@."Node Type" == "Sort")');
    local_limit := jsonb_path_exists(p, 'strict $.** ? (@."Node Type" == "Limit")');
    nedb_order := s ->> 'NEDB Order';
    nedb_limit := (s ->> 'NEDB Limit')::int;
    direct := s ? 'NEDB Direct Scan';
    size_from := substring(s ->> 'NEDB Size Estimate' from ', from (.*)$');
END $$;

-- ---------------------------------------------------------------------------
-- A fresh collection: 20k documents, a sorted index on height, no ANALYZE
-- ---------------------------------------------------------------------------
SELECT count(*) FROM (
  SELECT nedb.put('blocks', 'b' || lpad(i::text, 5, '0'),
                  jsonb_build_object('height', i, 'hash', md5(i::text),
                                     'miner', CASE WHEN i % 3 = 0 THEN 'alice' ELSE 'bob' END))
    FROM generate_series(1, 20000) i) x;
SELECT nedb.create_index('blocks', 'height', 'sorted');
CREATE FOREIGN TABLE blocks (_id text COLLATE "C", _seq bigint, height bigint, hash text,
                             miner text, doc jsonb)
  SERVER nedb;

-- the storage has no statistics: its own estimate of the collection's live
-- versions multiplies two default selectivities (1/200 for coll = 'blocks',
-- 1/200 for seq_to IS NULL), one row
SELECT count(*) AS storage_statistics FROM pg_statistic WHERE starelid = 'nedb.versions'::regclass;
SELECT est AS storage_estimate
  FROM plan_of($$SELECT 1 FROM nedb.versions WHERE coll = 'blocks' AND seq_to IS NULL$$);

-- the foreign table is sized from the collection's index: about 20k
SELECT est BETWEEN 10000 AND 40000 AS about_20k, size_from FROM plan_of('SELECT * FROM blocks');

-- the top 3 through the index: no Sort, the order and the limit in the scan
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id, height FROM blocks ORDER BY height DESC LIMIT 3;
SELECT * FROM plan_of('SELECT * FROM blocks ORDER BY height DESC LIMIT 3');
SELECT _id, height FROM blocks ORDER BY height DESC LIMIT 3;
-- a range, ascending, an offset
SELECT sort, local_limit, nedb_order, nedb_limit, direct
  FROM plan_of('SELECT * FROM blocks WHERE height >= 100 AND height < 20000 ORDER BY height LIMIT 3 OFFSET 2');
SELECT _id, height FROM blocks WHERE height >= 100 AND height < 20000 ORDER BY height LIMIT 3 OFFSET 2;
-- by _id (the storage's key index), and by a text field with an eq index
SELECT sort, local_limit, nedb_order, nedb_limit FROM plan_of('SELECT _id FROM blocks ORDER BY _id DESC LIMIT 2');
SELECT _id FROM blocks ORDER BY _id DESC LIMIT 2;
SELECT nedb.create_index('blocks', 'hash', 'eq');
SELECT sort, local_limit, nedb_order, nedb_limit FROM plan_of('SELECT _id FROM blocks ORDER BY hash LIMIT 2');
SELECT _id, hash FROM blocks ORDER BY hash LIMIT 2;
-- a condition Postgres checks: the order goes down, the limit stays above the scan
SELECT sort, local_limit, nedb_order, nedb_limit
  FROM plan_of($$SELECT _id FROM blocks WHERE hash LIKE 'a%' ORDER BY height DESC LIMIT 2$$);
SELECT _id, height FROM blocks WHERE hash LIKE 'a%' ORDER BY height DESC LIMIT 2;
-- WITH TIES needs the rows past the limit: the order goes down, not the limit
SELECT sort, local_limit, nedb_order, nedb_limit
  FROM plan_of('SELECT _id FROM blocks ORDER BY height DESC FETCH FIRST 1 ROWS WITH TIES');

-- _id is the collection's unique key: one row per value
SELECT est FROM plan_of($$SELECT * FROM blocks WHERE _id = 'b00007'$$);
SELECT est FROM plan_of($$SELECT * FROM blocks WHERE _id IN ('b00007', 'b00008', 'zzz')$$);
-- other conditions take Postgres's default selectivities until ANALYZE
SELECT est BETWEEN 20 AND 200 AS default_eq FROM plan_of('SELECT * FROM blocks WHERE height = 5');
SELECT est BETWEEN 2000 AND 13333 AS default_range FROM plan_of('SELECT * FROM blocks WHERE height > 5');

-- a storage statement too long for the statement cache (not kept) is
-- planned and estimated as well (was: plancache reference not owned)
SELECT est > 0 AS estimated
  FROM plan_of((SELECT 'SELECT _id FROM blocks WHERE ' || string_agg('height > ' || i, ' AND ')
                  FROM generate_series(1, 40) i));

-- an index created before its documents recorded no density: sized from its keys
SELECT nedb.create_index('early', 'height', 'sorted');
SELECT count(*) FROM (SELECT nedb.put('early', 'e' || i, jsonb_build_object('height', i))
                        FROM generate_series(1, 5000) i) x;
CREATE FOREIGN TABLE early (_id text, height bigint) SERVER nedb;
SELECT est BETWEEN 2500 AND 10000 AS about_5k, size_from FROM plan_of('SELECT * FROM early');
SELECT sort, local_limit, nedb_order, nedb_limit, direct
  FROM plan_of('SELECT * FROM early ORDER BY height DESC LIMIT 3');

-- the estimate follows the collection as it grows
SELECT count(*) FROM (
  SELECT nedb.put('blocks', 'b' || lpad(i::text, 5, '0'),
                  jsonb_build_object('height', i, 'hash', md5(i::text),
                                     'miner', CASE WHEN i % 3 = 0 THEN 'alice' ELSE 'bob' END))
    FROM generate_series(20001, 40000) i) x;
SELECT est BETWEEN 20000 AND 80000 AS about_40k, size_from FROM plan_of('SELECT * FROM blocks');

-- ---------------------------------------------------------------------------
-- ANALYZE of a foreign table samples the collection's live documents
-- ---------------------------------------------------------------------------
ANALYZE VERBOSE blocks;
SELECT reltuples, relpages > 0 AS has_pages FROM pg_class WHERE oid = 'blocks'::regclass;
SELECT attname, null_frac, n_distinct, most_common_vals
  FROM pg_stats WHERE schemaname = 'public' AND tablename = 'blocks' ORDER BY attname;
-- the table's statistics serve its conditions
SELECT est BETWEEN 10000 AND 16000 AS about_a_third FROM plan_of($$SELECT * FROM blocks WHERE miner = 'alice'$$);
SELECT est BETWEEN 500 AND 2000 AS about_1000 FROM plan_of('SELECT * FROM blocks WHERE height <= 1000');
SELECT est FROM plan_of($$SELECT * FROM blocks WHERE _id = 'b00007'$$);
SELECT est BETWEEN 38000 AND 42000 AS about_40k, size_from FROM plan_of('SELECT * FROM blocks');
SELECT sort, local_limit, nedb_order, nedb_limit, direct
  FROM plan_of('SELECT * FROM blocks ORDER BY height DESC LIMIT 3');
-- deleted documents are not sampled; history is not either
SELECT count(*) FROM (SELECT nedb.delete('blocks', 'b' || lpad(i::text, 5, '0'))
                        FROM generate_series(1, 10000) i) x;
SELECT nedb.put('blocks', 'b40000', '{"height": 40000, "miner": "carol"}') - '_seq';
ANALYZE blocks;
SELECT reltuples FROM pg_class WHERE oid = 'blocks'::regclass;
-- growth after ANALYZE scales its count by the collection's size now
SELECT count(*) FROM (
  SELECT nedb.put('blocks', 'b' || lpad(i::text, 5, '0'), jsonb_build_object('height', i))
    FROM generate_series(40001, 50000) i) x;
SELECT est BETWEEN 35000 AND 80000 AS about_40k, size_from FROM plan_of('SELECT * FROM blocks');

-- a collection without an index of its own: the storage statistics (here
-- none: Postgres's default share of nedb.versions), until ANALYZE counts it
SELECT count(*) FROM (SELECT nedb.put('plain', 'p' || i, jsonb_build_object('n', i))
                        FROM generate_series(1, 3000) i) x;
CREATE FOREIGN TABLE plain (_id text, n int) SERVER nedb;
SELECT size_from FROM plan_of('SELECT * FROM plain');
ANALYZE plain;
SELECT est, size_from FROM plan_of('SELECT * FROM plain');

-- ANALYZE of an empty collection counts nothing; documents loaded later are
-- sized from its index, not from that count
SELECT nedb.create_index('later', 'height', 'sorted');
CREATE FOREIGN TABLE later (_id text, _seq bigint, height bigint) SERVER nedb;
ANALYZE later;
SELECT reltuples FROM pg_class WHERE oid = 'later'::regclass;
SELECT count(*) FROM (SELECT nedb.put('later', 'l' || i, jsonb_build_object('height', i))
                        FROM generate_series(1, 5000) i) x;
SELECT est BETWEEN 2500 AND 10000 AS about_5k, size_from FROM plan_of('SELECT * FROM later');

-- a table AS OF a seq samples that state
DO $$
BEGIN
    EXECUTE format('CREATE FOREIGN TABLE later_then (_id text, height bigint) SERVER nedb'
                   ' OPTIONS (collection %L, as_of %L)',
                   'later', (SELECT _seq FROM later WHERE _id = 'l2000')::text);
END $$;
ANALYZE later_then;
SELECT reltuples FROM pg_class WHERE oid = 'later_then'::regclass;
-- and that state does not grow with the collection
SELECT count(*) FROM (SELECT nedb.put('later', 'l' || i, jsonb_build_object('height', i))
                        FROM generate_series(5001, 8000) i) x;
SELECT est, size_from FROM plan_of('SELECT * FROM later_then');

-- the table's owner must hold read on the collection, as for a scan
CREATE ROLE nedb_plan_owner;
CREATE FOREIGN TABLE theirs (_id text) SERVER nedb OPTIONS (collection 'blocks');
ALTER FOREIGN TABLE theirs OWNER TO nedb_plan_owner;
SELECT try($$ANALYZE theirs$$);
DROP FOREIGN TABLE theirs;
DROP ROLE nedb_plan_owner;

-- storage statistics from before a collection existed do not know it
-- either: the size still comes from its index
ANALYZE nedb.versions;
SELECT nedb.create_index('fresh', 'height', 'sorted');
SELECT count(*) FROM (SELECT nedb.put('fresh', 'f' || i, jsonb_build_object('height', i))
                        FROM generate_series(1, 20000) i) x;
CREATE FOREIGN TABLE fresh (_id text, height bigint) SERVER nedb;
SELECT est AS storage_estimate
  FROM plan_of($$SELECT 1 FROM nedb.versions WHERE coll = 'fresh' AND seq_to IS NULL$$);
SELECT est BETWEEN 5000 AND 40000 AS about_20k, size_from FROM plan_of('SELECT * FROM fresh');
SELECT sort, local_limit, nedb_order, nedb_limit, direct
  FROM plan_of('SELECT * FROM fresh ORDER BY height DESC LIMIT 3');

DROP FUNCTION plan_of(text);
-- leave no objects that depend on the extension behind for the next test
SET client_min_messages = warning;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
RESET client_min_messages;
