-- nql() in FROM as a "NEDB NQL Scan": EXPLAIN shows the path the query
-- takes (index, direction, conditions, filter, LIMIT; or the candidate SQL
-- and its plan) and, with ANALYZE, the candidates read; the rows are the
-- Function Scan's, in the same order.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS nedb;
RESET client_min_messages;

-- the plan's lines, with the clock (an expiry bound) and sizes masked
CREATE FUNCTION scan_plan(q text, opts text DEFAULT 'COSTS OFF') RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (' || opts || ') ' || q LOOP
        RETURN NEXT regexp_replace(regexp_replace(l, '[0-9]{9,}\.[0-9]+', 'NOW', 'g'),
                                   '_[0-9]+\y', '_N', 'g');
    END LOOP;
END $$;

SELECT count(nedb.put('blk', 'b' || g, jsonb_build_object('h', g, 'm', 'm' || (g % 5), 'w', g % 3)))
  FROM generate_series(1, 400) g;
SELECT nedb.create_index('blk', 'h', 'sorted');
SELECT nedb.create_index('blk', 'm', 'eq');

-- the direct path: the index, its direction, its conditions, the filter, LIMIT
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk ORDER BY h DESC LIMIT 10')$q$);
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE h >= 100 AND h < 200 AND w = 1 ORDER BY h LIMIT 5')$q$);
-- ANALYZE: the candidates read and those the checks removed (w = 1 is not an index condition)
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE h >= 100 AND h < 200 AND w = 1 ORDER BY h LIMIT 5')$q$,
                      'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
-- the candidate SQL and Postgres's plan of it; a SQL filter above the node stays Postgres's
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE m = "m3" ORDER BY w LIMIT 4') n WHERE (n->>'h')::int > 10$q$,
                      'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
-- VERBOSE shows the query; other formats have the same properties
SELECT l FROM scan_plan($q$SELECT nql->'h' FROM nql('FROM blk ORDER BY h LIMIT 3')$q$, 'VERBOSE, COSTS OFF') l
 WHERE l ~ 'NQL Query|Output';
SELECT p->0->'Plan'->'Plans'->0->>'Node Type' AS node, p->0->'Plan'->'Plans'->0->>'Custom Plan Provider' AS provider,
       p->0->'Plan'->'Plans'->0->>'Index Name' ~ '^nedb_sorted_blk_h' AS index_name,
       p->0->'Plan'->'Plans'->0->>'Scan Direction' AS direction, p->0->'Plan'->'Plans'->0->'NQL Limit' AS lim
  FROM (SELECT string_agg(l, E'\n')::jsonb AS p
          FROM scan_plan($q$SELECT count(*) FROM nql('FROM blk ORDER BY h DESC LIMIT 3')$q$, 'FORMAT JSON, COSTS OFF') l) s;
SELECT (string_agg(l, E'\n')::jsonb)->0->'Plan'->'Plans'->0->'Candidate Plan'->>0 AS candidate_plan_top
  FROM scan_plan($q$SELECT count(*) FROM nql('FROM blk WHERE m = "m1" ORDER BY w LIMIT 2')$q$, 'FORMAT JSON, COSTS OFF') l;
-- the estimate is the support function's, as for the Function Scan
SELECT l ~ 'rows=10 ' AS rows_10 FROM scan_plan($q$SELECT * FROM nql('FROM blk ORDER BY h DESC LIMIT 10')$q$, 'COSTS ON') l LIMIT 1;

-- the same rows in the same order as the Function Scan, for every kind of query
CREATE TABLE queries (q text);
INSERT INTO queries VALUES
  ('FROM blk ORDER BY h DESC LIMIT 10'), ('FROM blk WHERE h > 390'), ('FROM blk WHERE m = "m2" ORDER BY h LIMIT 7'),
  ('FROM blk LIMIT -395'), ('FROM blk GROUP BY m COUNT'), ('FROM blk AS OF 50 ORDER BY h DESC LIMIT 3'),
  ('FROM blk WHERE w != 1 ORDER BY m DESC LIMIT 6'), ('FROM blk LIMIT 0'), ('FROM blk AS OF -1');
CREATE FUNCTION rows_of(q text, node bool) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM set_config('nedb.enable_nql_scan', node::text, true);
    EXECUTE format('SELECT string_agg(d::text, %L ORDER BY o) FROM nql(%L) WITH ORDINALITY x(d, o)', '|', q) INTO r;
    RETURN coalesce(md5(r), 'none');
END $$;
-- (WITH ORDINALITY keeps the Function Scan: compare against a plain SELECT through the node)
CREATE FUNCTION rows_via_node(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text := '';
    d jsonb;
    n int := 0;
BEGIN
    FOR d IN EXECUTE format('SELECT * FROM nql(%L)', q) LOOP
        r := r || CASE WHEN n > 0 THEN '|' ELSE '' END || d::text;
        n := n + 1;
    END LOOP;
    RETURN CASE WHEN n = 0 THEN 'none' ELSE md5(r) END;
END $$;
SELECT q, rows_of(q, false) = rows_via_node(q) AS same_rows FROM queries;
SELECT count(*) AS node_plans FROM queries, LATERAL scan_plan(format('SELECT * FROM nql(%L)', q)) l
 WHERE l LIKE 'Custom Scan (NEDB NQL Scan)%';

-- off: a plain Function Scan
SET nedb.enable_nql_scan = off;
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk ORDER BY h DESC LIMIT 10')$q$);
RESET nedb.enable_nql_scan;

-- parameters: a prepared statement's generic plan keeps the node
PREPARE top(text) AS SELECT count(*) FROM nql($1);
SET plan_cache_mode = force_generic_plan;
EXECUTE top('FROM blk WHERE h < 50');
SELECT * FROM scan_plan($q$EXECUTE top('FROM blk WHERE h < 50 ORDER BY h LIMIT 4')$q$);
EXECUTE top('FROM blk WHERE h < 50 ORDER BY h LIMIT 4');
RESET plan_cache_mode;
DEALLOCATE top;
-- a text computed per outer row is a Function Scan (a LATERAL call); a constant one is rescanned
SELECT * FROM scan_plan($q$SELECT * FROM (VALUES (1), (2)) v(x), LATERAL nql(format('FROM blk LIMIT %s', x))$q$);
SELECT count(*) AS lateral_rows FROM (VALUES (1), (2)) v(x), LATERAL nql(format('FROM blk LIMIT %s', x));
SELECT count(*) AS rescanned_rows FROM (VALUES (1), (2), (3)) v(x)
  CROSS JOIN LATERAL (SELECT * FROM nql('FROM blk ORDER BY h LIMIT 2') OFFSET 0) n;
-- an alias names the one column: the node; ORDINALITY and two functions in ROWS FROM keep the Function Scan
SELECT l FROM scan_plan($q$SELECT t FROM nql('FROM blk LIMIT 1') AS t$q$) l LIMIT 1;
SELECT t->>'_id' AS aliased FROM nql('FROM blk ORDER BY h LIMIT 1') AS t;
SELECT l FROM scan_plan($q$SELECT * FROM nql('FROM blk LIMIT 1') WITH ORDINALITY$q$) l LIMIT 1;
SELECT l FROM scan_plan($q$SELECT * FROM ROWS FROM (nql('FROM blk LIMIT 1'), nql('FROM blk LIMIT 2'))$q$) l LIMIT 1;
-- a scrollable cursor reads backwards (through a Material node)
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT nql->>'_id' AS id FROM nql('FROM blk ORDER BY h LIMIT 3');
FETCH 3 FROM c;
FETCH BACKWARD 2 FROM c;
COMMIT;
-- a null text: no rows, and EXPLAIN says why
SELECT count(*) AS null_rows FROM nql(NULL);
SELECT * FROM scan_plan($q$SELECT * FROM nql(NULL)$q$);

-- a query nql() refuses is not EXPLAIN's error: it is nql()'s when it runs
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM')$q$);
SELECT * FROM nql('FROM');
SELECT * FROM scan_plan(format('SELECT * FROM nql(%L)', repeat(' ', 1048577) || 'FROM blk'));
CREATE ROLE nql_scan_reader;
GRANT EXECUTE ON FUNCTION scan_plan(text, text) TO nql_scan_reader;
SET ROLE nql_scan_reader;
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk LIMIT 1')$q$);
SELECT * FROM nql('FROM blk LIMIT 1');
RESET ROLE;
SELECT nedb.grant('blk', 'nql_scan_reader');
SET ROLE nql_scan_reader;
SELECT count(*) AS granted_rows FROM nql('FROM blk LIMIT 3');
RESET ROLE;

-- EXECUTE on nql() is checked as the Function Scan checks it
REVOKE EXECUTE ON FUNCTION nql(text) FROM PUBLIC;
SET ROLE nql_scan_reader;
SELECT count(*) FROM nql('FROM blk LIMIT 3');
EXPLAIN (COSTS OFF) SELECT count(*) FROM nql('FROM blk LIMIT 3');
RESET ROLE;
GRANT EXECUTE ON FUNCTION nql(text) TO PUBLIC;

-- a function of the caller's named nql is not ours: it keeps its own plan
CREATE SCHEMA evil;
CREATE FUNCTION evil.nql(q text) RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT '{"evil": true}'::jsonb $$;
SET search_path = evil, public;
SELECT * FROM nql('FROM blk LIMIT 1');
SELECT l FROM public.scan_plan($q$SELECT * FROM nql('FROM blk LIMIT 1')$q$) l LIMIT 1;
RESET search_path;
DROP SCHEMA evil CASCADE;
-- nor is ours under a SECURITY DEFINER wrapper's SET clause: that runs through fmgr's hook
CREATE FUNCTION nql_definer(q text) RETURNS SETOF jsonb LANGUAGE c STRICT SECURITY DEFINER
    AS '$libdir/nedb', 'nedb_nql';
SELECT l FROM scan_plan($q$SELECT * FROM nql_definer('FROM blk LIMIT 1')$q$) l LIMIT 1;
SELECT count(*) AS definer_rows FROM nql_definer('FROM blk LIMIT 2');
DROP FUNCTION nql_definer(text);

-- cancellation: statement_timeout stops a long query under the node
SELECT count(nedb.put('big', 'd' || g, jsonb_build_object('n', g))) FROM generate_series(1, 3000) g;
\set VERBOSITY terse
SET statement_timeout = '1ms';
SELECT count(*) FROM nql('FROM big') a, nql('FROM big') b;
RESET statement_timeout;
\set VERBOSITY default

REVOKE EXECUTE ON FUNCTION scan_plan(text, text) FROM nql_scan_reader;
DROP ROLE nql_scan_reader;
DROP TABLE queries;
-- the order verdict is kept on the index's metapage (the classes of every
-- key it has held): numbers only, or strings only, is a direct scan; a JSON
-- null does not count; a second class, or an object, sorts in memory
SELECT count(nedb.put('vk', 'v' || g, jsonb_build_object('h', g))) FROM generate_series(1, 50) g;
SELECT count(nedb.put('vs', 's' || g, jsonb_build_object('h', 'k' || g))) FROM generate_series(1, 50) g;
SELECT nedb.create_index('vk', 'h', 'sorted'), nedb.create_index('vs', 'h', 'sorted');
SELECT nedb.put('vk', 'vnull', '{"h": null}') ->> '_id', nedb.put('vs', 'snull', '{"h": null}') ->> '_id';
CREATE FUNCTION access_of(q text) RETURNS text LANGUAGE sql AS $$
    SELECT l FROM nedb.explain(q) l LIMIT 1 $$;
SELECT access_of('FROM vk ORDER BY h DESC LIMIT 3') AS numbers, access_of('FROM vs ORDER BY h LIMIT 3') AS strings;
SELECT string_agg(d->>'_id', ' ') AS top3 FROM nql('FROM vk ORDER BY h DESC LIMIT 3') d;
SELECT nedb.put('vk', 'vstr', '{"h": "x"}') ->> '_id', nedb.put('vs', 'sobj', '{"h": {"a": 1}}') ->> '_id';
SELECT access_of('FROM vk ORDER BY h DESC LIMIT 3') AS numbers_and_a_string,
       access_of('FROM vs ORDER BY h LIMIT 3') AS strings_and_an_object;
-- the same rows as without the index (the reference's order of mixed types)
CREATE TABLE vk_rows AS SELECT string_agg(d->>'_id', ' ') AS r FROM nql('FROM vk ORDER BY h DESC LIMIT 5') d;
SELECT nedb.drop_index('vk', 'h', 'sorted');
SELECT r = (SELECT string_agg(d->>'_id', ' ') FROM nql('FROM vk ORDER BY h DESC LIMIT 5') d) AS same_rows, r FROM vk_rows;
-- a rebuild reads the classes off the keys (the string's version is history, still indexed)
SELECT nedb.delete('vk', 'vstr') IS NOT NULL AS deleted, nedb.create_index('vk', 'h', 'sorted');
SELECT access_of('FROM vk ORDER BY h DESC LIMIT 3') AS rebuilt;
DROP TABLE vk_rows;
DROP FUNCTION access_of(text);
-- string bounds are index conditions too; they are never exact (a string
-- does not compare with a number in NQL, but does in the index's order), so
-- their rows are checked again
SELECT count(nedb.put('vw', 'w' || g, jsonb_build_object('h', 'k' || lpad(g::text, 3, '0')))) FROM generate_series(1, 60) g;
SELECT nedb.create_index('vw', 'h', 'sorted');
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM vw WHERE h >= "k020" AND h < "k030" ORDER BY h DESC LIMIT 4')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
CREATE TABLE vw_rows AS SELECT q, (SELECT string_agg(d->>'_id', ' ') FROM nql(q) d) AS r
  FROM (VALUES ('FROM vw WHERE h >= "k020" AND h < "k030" ORDER BY h DESC LIMIT 4'),
               ('FROM vw WHERE h = "k007" ORDER BY h'), ('FROM vw WHERE h > "k05" ORDER BY h'),
               ('FROM vw WHERE h < 5 ORDER BY h'), ('FROM vw WHERE h <= "k002" AND h != "k001" ORDER BY h')) v(q);
SELECT nedb.drop_index('vw', 'h', 'sorted');
SELECT q, r, r IS NOT DISTINCT FROM (SELECT string_agg(d->>'_id', ' ') FROM nql(q) d) AS same_without_index FROM vw_rows;
-- a string bound over numbers: nothing, in both directions (it would be every number by the index's order)
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE h < "a" ORDER BY h LIMIT 3')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
SELECT count(*) AS below_a FROM nql('FROM blk WHERE h < "a" ORDER BY h LIMIT 3');
SELECT count(*) AS above_a FROM nql('FROM blk WHERE h > "a" ORDER BY h DESC LIMIT 3');
DROP TABLE vw_rows;
-- SEARCH with ORDER BY and LIMIT: down the sorted index, SEARCH checked per
-- row; when the matches are rare (the budget of candidates gone before the
-- LIMIT is met) the search index finds them and they are sorted in memory;
-- either way the rows are those of the search index path alone
SELECT count(nedb.put('sx', 'x' || lpad(g::text, 4, '0'),
                      jsonb_build_object('h', g % 1500, 'txt', CASE WHEN g % 5 = 0 THEN 'common word' ELSE 'plain' END
                                         || CASE WHEN g IN (7, 1207, 2407) THEN ' rareword' ELSE '' END)))
  FROM generate_series(1, 3000) g;
SELECT nedb.create_index('sx', 'h', 'sorted'), nedb.create_index('sx', 'txt', 'search');
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM sx SEARCH "common" ORDER BY h DESC LIMIT 5')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM sx SEARCH "rareword" ORDER BY h DESC LIMIT 5')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
CREATE TABLE sx_rows AS SELECT q, (SELECT string_agg(d->>'_id', ' ') FROM nql(q) d) AS r
  FROM (VALUES ('FROM sx SEARCH "common" ORDER BY h DESC LIMIT 5'), ('FROM sx SEARCH "rareword" ORDER BY h DESC LIMIT 5'),
               ('FROM sx SEARCH "rareword" ORDER BY h LIMIT 2'), ('FROM sx WHERE h < 10 SEARCH "common" ORDER BY h LIMIT 4'),
               ('FROM sx SEARCH "nowhere" ORDER BY h LIMIT 3'), ('FROM sx SEARCH "common word" ORDER BY h DESC LIMIT 3'),
               ('FROM sx SEARCH "" ORDER BY h LIMIT 3')) v(q);
SELECT * FROM sx_rows;
SELECT nedb.drop_index('sx', 'h', 'sorted');
SELECT q, r IS NOT DISTINCT FROM (SELECT string_agg(d->>'_id', ' ') FROM nql(q) d) AS same_without_sorted_index FROM sx_rows;
DROP TABLE sx_rows;
-- equality without ORDER BY through the field's index: one run of equal
-- keys, in id order; the same rows as the SQL path without the index
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE m = "m3" AND h > 300 LIMIT 4')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
SELECT l FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE h = 7')$q$) l WHERE l LIKE '%NQL Access%';
SELECT l FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE w = 1')$q$) l WHERE l LIKE '%NQL Access%';
SELECT l FROM scan_plan($q$SELECT * FROM nql('FROM blk WHERE m = "m1" GROUP BY w COUNT')$q$) l WHERE l LIKE '%NQL Access%';
-- more than NQL_EQ_MAX_RUN (1000) matches are not held in memory: the SQL path streams them
SELECT count(nedb.put('eqbig', 'e' || g, jsonb_build_object('k', CASE WHEN g <= 1500 THEN 'many' ELSE 'few' END)))
  FROM generate_series(1, 1510) g;
SELECT nedb.create_index('eqbig', 'k', 'eq');
SELECT l FROM scan_plan($q$SELECT * FROM nql('FROM eqbig WHERE k = "many" LIMIT 3')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF') l WHERE l ~ 'actual|Rows Read|NQL Equality';
SELECT l FROM scan_plan($q$SELECT * FROM nql('FROM eqbig WHERE k = "few"')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF') l WHERE l ~ 'actual|Rows Read|NQL Equality';
SELECT string_agg(d->>'_id', ' ') AS many_first_3 FROM nql('FROM eqbig WHERE k = "many" LIMIT 3') d;
SELECT count(*) AS many FROM nql('FROM eqbig WHERE k = "many"');
CREATE TABLE eq_rows AS SELECT q, (SELECT string_agg(d->>'_id', ' ') FROM nql(q) d) AS r
  FROM (VALUES ('FROM blk WHERE m = "m3" AND h > 300 LIMIT 4'), ('FROM blk WHERE m = "m2"'), ('FROM blk WHERE m = "m9"'),
               (format('FROM blk AS OF %s WHERE m = "m1"', nedb.get('blk', 'b60') ->> '_seq')), ('FROM blk WHERE h = 7'), ('FROM blk WHERE h = 7.0'),
               ('FROM blk WHERE w = 1 AND m = "m4" LIMIT 5'), ('FROM blk WHERE m = "m0" AND m = "m1"')) v(q);
SELECT regexp_replace(q, 'AS OF [0-9]+', 'AS OF s') AS q, length(r) > 0 AS some_rows FROM eq_rows;
SELECT nedb.drop_index('blk', 'm', 'eq'), nedb.drop_index('blk', 'h', 'sorted');
SELECT regexp_replace(q, 'AS OF [0-9]+', 'AS OF s') AS q, r IS NOT DISTINCT FROM (SELECT string_agg(d->>'_id', ' ') FROM nql(q) d) AS same_without_index
  FROM eq_rows;
DROP TABLE eq_rows;
-- SEARCH with a LIMIT and no ORDER BY: candidates in id order through the
-- collection's key, terms checked per row, on the same budget; the rows are
-- the first of the whole result (no LIMIT: the SQL path)
SELECT * FROM scan_plan($q$SELECT * FROM nql('FROM sx SEARCH "common" LIMIT 3')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF');
SELECT l FROM scan_plan($q$SELECT * FROM nql('FROM sx SEARCH "rareword" LIMIT 3')$q$,
                        'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF') l WHERE l ~ 'Rows Read|NQL Search';
SELECT regexp_replace(q, 'AS OF [0-9]+', 'AS OF s') AS q, (SELECT string_agg(d->>'_id', ' ') FROM nql(q || ' LIMIT ' || n) d) AS limited,
       (SELECT string_agg(i, ' ') FROM (SELECT d->>'_id' AS i FROM nql(q) d LIMIT n) x)
       IS NOT DISTINCT FROM (SELECT string_agg(d->>'_id', ' ') FROM nql(q || ' LIMIT ' || n) d) AS first_of_whole
  FROM (VALUES ('FROM sx SEARCH "common"', 4), ('FROM sx SEARCH "rareword"', 2), ('FROM sx SEARCH "rareword"', 5),
               ('FROM sx WHERE h > 1400 SEARCH "common"', 3), ('FROM sx SEARCH "nowhere"', 3),
               (format('FROM sx AS OF %s SEARCH "common"', nedb.get('sx', 'x0100') ->> '_seq'), 30)) v(q, n)
 ORDER BY 1, 2;
DROP FUNCTION scan_plan(text, text), rows_of(text, bool), rows_via_node(text);
