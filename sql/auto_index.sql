--
-- auto_index: nedb.create_index(..., concurrently => true) through the index
-- builder, automatic indexes (nedb.auto_index), their settings and views.
-- The regression cluster preloads nedb, so the builder runs; each build is
-- waited for.
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- wait (at most a minute) until no build is wanted, queued or running: a
-- procedure that commits as it waits, as CREATE INDEX CONCURRENTLY waits
-- for every transaction older than its snapshots, this one's too
CREATE PROCEDURE wait_builds() LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        IF NOT EXISTS (SELECT 1 FROM nedb.index_builds WHERE state IN ('queued', 'building'))
           AND NOT EXISTS (SELECT 1 FROM nedb.index_candidates WHERE state IN ('wanted', 'building')) THEN
            RAISE NOTICE 'builds done';
            RETURN;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RAISE NOTICE 'timed out';
END $$;

-- ---------------------------------------------------------------------------
-- Settings: off by default, and only a superuser (or ALTER DATABASE/ROLE by
-- one) turns them on
-- ---------------------------------------------------------------------------
SHOW nedb.auto_index;
SHOW nedb.auto_index_threshold;
SHOW nedb.auto_index_min_docs;
SELECT try($$SET nedb.auto_index_threshold = 0$$);
SELECT try($$SET nedb.auto_index_min_docs = -1$$);
CREATE ROLE nedb_ai_user;
GRANT USAGE ON SCHEMA nedb TO nedb_ai_user;
SET ROLE nedb_ai_user;
SELECT try($$SET nedb.auto_index = on$$);
SELECT try($$SET nedb.auto_index_threshold = 1$$);
-- the views and the queueing function are the owner's
SELECT try($$SELECT * FROM nedb.index_candidates$$);
SELECT try($$SELECT * FROM nedb.index_builds$$);
SELECT try($$SELECT nedb.create_index('docs', 'n', 'eq', concurrently => true)$$);
RESET ROLE;
-- EXECUTE alone is not enough: writing the collection is (as without concurrently)
GRANT EXECUTE ON FUNCTION nedb.create_index(text, text, text, boolean) TO nedb_ai_user;
SET ROLE nedb_ai_user;
SELECT try($$SELECT nedb.create_index('docs', 'n', 'eq', concurrently => true)$$);
RESET ROLE;

-- the new column and the views' columns
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'nedb.indexes'::regclass AND attnum > 0 ORDER BY attnum;
SELECT * FROM nedb.index_candidates;
SELECT * FROM nedb.index_builds;

-- 300 documents: n (a number), tag (a string), big (one value too large to index)
SELECT count(*) FROM (
  SELECT nedb.put('docs', 'd' || lpad(i::text, 3, '0'),
                  jsonb_build_object('n', i, 'tag', 't' || (i % 7), 'note', 'word' || i,
                                     'big', CASE WHEN i = 1 THEN (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g)
                                                 ELSE 'small' END))
    FROM generate_series(1, 300) i) x;

-- ---------------------------------------------------------------------------
-- create_index(..., concurrently => true)
-- ---------------------------------------------------------------------------
SELECT try($$SELECT nedb.create_index('docs', 'n', 'hashy', concurrently => true)$$);
SELECT try($$SELECT nedb.create_index('docs', NULL, 'eq', concurrently => true)$$);
-- queued in the caller's transaction: nothing if it rolls back
BEGIN;
SELECT nedb.create_index('docs', 'n', 'sorted', concurrently => true);
SELECT coll, field, kind, auto, state, requested_by FROM nedb.index_builds;
ROLLBACK;
SELECT count(*) FROM nedb.index_builds;
SELECT nedb.create_index('docs', 'n', 'sorted', concurrently => true);
SELECT nedb.create_index('docs', 'n', 'sorted', concurrently => true);  -- queued already: no second build
SELECT nedb.create_index('docs', 'note', 'search', concurrently => true);
CALL wait_builds();
SELECT coll, field, kind, auto, state, requested_by, index_name IS NOT NULL AS named,
       started_at >= requested_at AND finished_at >= started_at AS times, pid, phase, error
  FROM nedb.index_builds ORDER BY id;
SELECT coll, field, kind, auto FROM nedb.indexes ORDER BY field;
SELECT c.relname LIKE 'nedb_sorted_docs_n_%' AS named, i.indisvalid, i.indisready
  FROM nedb.indexes x JOIN pg_class c ON c.relname = x.index_name JOIN pg_index i ON i.indexrelid = c.oid
 WHERE x.field = 'n';
-- the index is there: a request now is a no-op
SELECT nedb.create_index('docs', 'n', 'sorted', concurrently => true);
SELECT count(*) FROM nedb.index_builds;
SELECT * FROM nedb.explain('FROM docs ORDER BY n DESC LIMIT 3');

-- a build that fails (one value too large for a btree entry) leaves no
-- INVALID index behind and nothing in nedb.indexes; the error is in the view
SELECT nedb.create_index('docs', 'big', 'eq', concurrently => true);
CALL wait_builds();
SELECT field, state, error LIKE 'index row requires % bytes, maximum size is %' AS error
  FROM nedb.index_builds WHERE field = 'big';
SELECT count(*) AS recorded FROM nedb.indexes WHERE field = 'big';
SELECT count(*) AS invalid FROM pg_index WHERE indrelid = 'nedb.versions'::regclass AND NOT indisvalid;
-- a plain build fails the same way, at once
SELECT try($$SELECT nedb.create_index('docs', 'big', 'eq')$$);

-- ---------------------------------------------------------------------------
-- Automatic indexes: counted only with nedb.auto_index on
-- ---------------------------------------------------------------------------
SELECT count(*) FROM nql('FROM docs WHERE tag = "t3"');
SELECT count(*) FROM nedb.index_candidates;
SET nedb.auto_index = on;
SET nedb.auto_index_threshold = 3;
SET nedb.auto_index_min_docs = 100;
-- eq on tag: twice below the threshold; an index serves n, and != and
-- nedb.explain are not counted
SELECT count(*) FROM nql('FROM docs WHERE tag = "t3"');
SELECT count(*) FROM nql('FROM docs WHERE tag = "t3" AND tag = "t3"');  -- once per query
SELECT count(*) FROM nql('FROM docs WHERE n > 290 ORDER BY n');
SELECT count(*) FROM nql('FROM docs WHERE note != "x"');
SELECT count(*) FROM nedb.explain('FROM docs WHERE tag = "t3"');
SELECT coll, field, kind, misses, state, index_name FROM nedb.index_candidates ORDER BY field, kind;
-- the third query wants it: the builder builds it, recorded as automatic
SELECT count(*) FROM nql('FROM docs WHERE tag = "t4"');
CALL wait_builds();
SELECT coll, field, kind, misses, state, index_name IS NOT NULL AS built FROM nedb.index_candidates ORDER BY field, kind;
SELECT coll, field, kind, auto, state, requested_by FROM nedb.index_builds WHERE auto;
SELECT coll, field, kind, auto FROM nedb.indexes WHERE auto;
SELECT line ~ 'Index Cond: .*tag' AS uses_index FROM nedb.explain('FROM docs WHERE tag = "t3"') line
 WHERE line ~ 'Index Cond';
-- now it is indexed: not counted
SELECT count(*) FROM nql('FROM docs WHERE tag = "t3"');
SELECT misses FROM nedb.index_candidates WHERE field = 'tag';

-- a foreign-table scan counts too: a range (sorted) on a field
CREATE FOREIGN TABLE docs (_id text COLLATE "C", n bigint, tag text, note text) SERVER nedb;
SELECT count(*) FROM docs WHERE note > 'word5';
EXPLAIN (COSTS OFF) SELECT count(*) FROM docs WHERE note > 'word5';  -- EXPLAIN is not counted
SELECT coll, field, kind, misses, state FROM nedb.index_candidates WHERE field = 'note';

-- a collection below the size floor gets no index
SELECT nedb.put('tiny', 'a', '{"k": 1}');
SELECT count(*) FROM nql('FROM tiny WHERE k = 1');
SELECT count(*) FROM nql('FROM tiny WHERE k = 1');
SELECT count(*) FROM nql('FROM tiny WHERE k = 1');
CALL wait_builds();
SELECT coll, field, kind, misses, state FROM nedb.index_candidates WHERE coll = 'tiny';
SELECT count(*) FROM nedb.indexes WHERE coll = 'tiny';

RESET nedb.auto_index;
RESET nedb.auto_index_threshold;
RESET nedb.auto_index_min_docs;
DROP FOREIGN TABLE docs;
REVOKE ALL ON SCHEMA nedb FROM nedb_ai_user;
REVOKE ALL ON FUNCTION nedb.create_index(text, text, text, boolean) FROM nedb_ai_user;
DROP ROLE nedb_ai_user;
DROP PROCEDURE wait_builds();
