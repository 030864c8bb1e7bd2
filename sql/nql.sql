--
-- nql: the query language (grammar, Python comparison semantics, clauses, errors)
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
select nedb.put('users','alice','{"name":"Alice","age":30,"city":"Paris","bio":"Rust-lang hacker"}');
select nedb.put('users','bob','{"name":"Bob","age":25,"city":"Berlin"}');
select nedb.put('users','carol','{"name":"Carol","age":35,"city":"Paris","active":true}');
select nedb.put('users','dave','{"name":"Dave","age":null}');
select nedb.put('users','eve','{"name":"Eve","age":1}');
select nedb.link('users:alice','follows','users:bob');
select r->>'_id' id, r->'age' age from nql('FROM users WHERE age > 20 ORDER BY age DESC') r;
select r->>'_id' id from nql('FROM users WHERE age != 25') r;
select r->>'_id' id from nql('FROM users WHERE age = null') r;
select r->>'_id' id from nql('from users order by age') r;
select r->>'_id' id from nql('FROM users ORDER BY age DESC LIMIT 2') r;
select r->>'_id' id from nql('FROM users WHERE city = Paris AND age >= 30') r;
select r->>'_id' id from nql('FROM users SEARCH "rust"') r;
select r->>'_id' id from nql('FROM users WHERE _id = "alice" TRAVERSE follows') r;
select * from nql('FROM users GROUP BY city COUNT');
select * from nql('FROM users GROUP BY city AVG age');
select * from nql('FROM users LIMIT -1');
select r->>'_id' from nql('FROM users AS OF 1') r;
select * from nql('FROM nothing');
SELECT try($q$SELECT nql('users')$q$);
SELECT try($q$SELECT nql('FROM users WHERE')$q$);
SELECT try($q$SELECT nql('FROM users WHERE age > 5 OR x = 1')$q$);
SELECT try($q$SELECT nql('FROM users LIMIT 5 WHERE age > 1')$q$);
SELECT try($q$SELECT nql('FROM users WHERE age == 1')$q$);
SELECT try($q$SELECT nql('FROM users AS 5')$q$);

-- planning onto indexes never changes a result: the same queries without and
-- with indexes, on numbers only, then with a missing field, a null, a boolean
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT count(nedb.put('b', 'b' || g, jsonb_build_object('h', (g * 7) % 101, 'm', 'm' || (g % 3))))
  FROM generate_series(1, 300) g;
CREATE TEMP TABLE q (n int, query text);
INSERT INTO q VALUES
  (1, 'FROM b ORDER BY h DESC LIMIT 7'),
  (2, 'FROM b ORDER BY h LIMIT 7'),
  (3, 'FROM b WHERE h >= 10 AND h < 14 ORDER BY h'),
  (4, 'FROM b WHERE h > 90 ORDER BY h DESC'),
  (5, 'FROM b WHERE m = m1 AND h < 5'),
  (6, 'FROM b AS OF 150 ORDER BY h DESC LIMIT 5'),
  (7, 'FROM b WHERE h = 50 ORDER BY h');
CREATE TEMP TABLE before AS
  SELECT n, array_agg(r ->> '_id' ORDER BY o) AS ids FROM q, nql(query) WITH ORDINALITY AS t(r, o) GROUP BY n;
SELECT nedb.create_index('b', 'h', 'sorted');
SELECT nedb.create_index('b', 'm', 'eq');
ANALYZE nedb.versions;
SET enable_seqscan = off;   -- a 300-document table: show the index paths are usable
SELECT n, (SELECT bool_or(l ~ 'Index Scan|Bitmap Index Scan') FROM nedb.explain(query) l) AS uses_index,
       (SELECT array_agg(r ->> '_id' ORDER BY o) FROM nql(query) WITH ORDINALITY AS t(r, o))
         IS NOT DISTINCT FROM (SELECT ids FROM before WHERE before.n = q.n) AS same_result
  FROM q ORDER BY n;
RESET enable_seqscan;
SELECT * FROM nedb.explain('FROM b ORDER BY h DESC LIMIT 7') l WHERE l LIKE 'NQL:%';
-- a missing field, an explicit null and a boolean: NEDB order is still NQL's
-- (a boolean is a number, null is None), so the index serves; same answers
SELECT nedb.put('b', 'nokey', '{"m": "m1"}') ->> '_id' AS id;
SELECT nedb.put('b', 'nullh', '{"h": null}') ->> '_id' AS id;
SELECT nedb.put('b', 'boolh', '{"h": true}') ->> '_id' AS id;
SELECT * FROM nedb.explain('FROM b ORDER BY h DESC LIMIT 7') l WHERE l LIKE 'NQL:%';
SELECT r ->> '_id' AS id, r -> 'h' AS h FROM nql('FROM b ORDER BY h DESC LIMIT 4') r;
SELECT r ->> '_id' AS id, r -> 'h' AS h FROM nql('FROM b WHERE h = 1') r;

-- the direct path (ORDER BY through the index without SQL) against the same
-- queries with the index dropped (in memory), over updates, deletes, ties,
-- a missing field, an expired document and history
CREATE FUNCTION ids(query text) RETURNS text[] LANGUAGE sql AS
  $$SELECT array_agg(r ->> '_id' ORDER BY o) FROM nql(query) WITH ORDINALITY AS t(r, o)$$;
SELECT nedb.create_index('d', 'h', 'sorted');
SELECT count(nedb.put('d', 'd' || (1000 - g), jsonb_build_object('h', g % 13, 'k', g % 4)))
  FROM generate_series(1, 200) g;
SELECT nedb.seq() AS mid \gset
SELECT count(nedb.put('d', 'd' || (1000 - g), jsonb_build_object('h', 20 + g % 7, 'k', g % 4)))
  FROM generate_series(1, 200, 3) g;
SELECT count(nedb.delete('d', 'd' || (1000 - g))) FROM generate_series(2, 200, 5) g;
SELECT nedb.put('d', 'nokey', '{"k": 1}') ->> '_id' AS id;
SELECT nedb.put('d', 'gone', '{"h": 26, "k": 1}', ttl => '-1 second') ->> '_id' AS id;
SELECT nedb.put('d', 'nullh', '{"h": null, "k": 1}') ->> '_id' AS id;
CREATE TEMP TABLE dq (n int, query text);
INSERT INTO dq VALUES
  (1, 'FROM d ORDER BY h DESC LIMIT 9'),
  (2, 'FROM d ORDER BY h LIMIT 9'),
  (3, 'FROM d ORDER BY h DESC'),
  (4, 'FROM d ORDER BY h'),
  (5, 'FROM d WHERE h >= 3 AND h <= 5 ORDER BY h DESC'),
  (6, 'FROM d WHERE h > 21 AND k = 1 ORDER BY h LIMIT 4'),
  (7, 'FROM d WHERE h = 24 ORDER BY h'),
  (8, 'FROM d WHERE h = 24.0 AND h != 3 ORDER BY h DESC'),
  (9, 'FROM d AS OF ' || :mid || ' ORDER BY h DESC LIMIT 12'),
  (10, 'FROM d AS OF ' || :mid || ' WHERE h < 2 ORDER BY h'),
  (11, 'FROM d AS OF ' || (:mid + 30) || ' ORDER BY h DESC LIMIT 20'),
  (12, 'FROM d WHERE h >= 100 ORDER BY h'),
  (13, 'FROM d WHERE h > 24 ORDER BY h DESC LIMIT 3'),
  (14, 'FROM d WHERE h > 24 AND h <= 30 ORDER BY h DESC LIMIT 3');
CREATE TEMP TABLE direct AS
  SELECT n, ids(query) AS ids,
         (SELECT bool_or(l ~ '^Index Scan.*\(direct, no SQL\)$') FROM nedb.explain(query) l) AS direct
    FROM dq;
BEGIN;
SELECT nedb.drop_index('d', 'h', 'sorted');
SELECT n, direct, ids(query) IS NOT DISTINCT FROM direct.ids AS same_result,
       coalesce(cardinality(direct.ids), 0) AS rows
  FROM dq JOIN direct USING (n) ORDER BY n;
ROLLBACK;
SELECT ids('FROM d ORDER BY h DESC LIMIT 5') AS desc_ties_in_id_order;
SELECT * FROM nedb.explain('FROM d WHERE h >= 3 AND h < 5 AND k = 1 ORDER BY h DESC LIMIT 2');
SELECT * FROM nedb.explain('FROM d AS OF 10 WHERE k != 2 ORDER BY h');
-- a string value: the index no longer orders like NQL, so the sort is in memory
SELECT nedb.put('d', 'strh', '{"h": "7"}') ->> '_id' AS id;
SELECT * FROM nedb.explain('FROM d ORDER BY h DESC LIMIT 3') l WHERE l LIKE 'NQL:%';
SELECT ids('FROM d ORDER BY h DESC LIMIT 3') AS str_sorts_as_str;
-- the probes read the index's two ends: all strings, or numbers with
-- booleans (0 and 1), keep the direct path; an array (or object) ends it
SELECT nedb.create_index('e', 'h', 'sorted'), nedb.create_index('e2', 'h', 'sorted');
SELECT count(nedb.put('e', 'e' || g, jsonb_build_object('h', 's' || (g % 5)))) FROM generate_series(1, 12) g;
SELECT count(nedb.put('e2', 'e' || g, jsonb_build_object('h', CASE WHEN g % 4 = 0 THEN to_jsonb(g % 8 = 0) ELSE to_jsonb(g % 3) END)))
  FROM generate_series(1, 12) g;
SELECT nedb.put('e2', 'nullh', '{"h": null}') ->> '_id' AS id, nedb.put('e2', 'noh', '{}') ->> '_id' AS id;
SELECT c, (SELECT bool_or(l ~ '^Index Scan.*\(direct, no SQL\)$') FROM nedb.explain('FROM ' || c || ' ORDER BY h DESC LIMIT 4') l) AS direct,
       ids('FROM ' || c || ' ORDER BY h DESC LIMIT 4') AS top4, ids('FROM ' || c || ' ORDER BY h LIMIT 4') AS bottom4
  FROM unnest(ARRAY['e', 'e2']) c;
SELECT nedb.put('e', 'arr', '{"h": [1]}') ->> '_id' AS id, nedb.put('e2', 'obj', '{"h": {"a": 1}}') ->> '_id' AS id;
SELECT c, (SELECT bool_or(l ~ '^Index Scan.*\(direct, no SQL\)$') FROM nedb.explain('FROM ' || c || ' ORDER BY h DESC LIMIT 4') l) AS direct,
       ids('FROM ' || c || ' ORDER BY h DESC LIMIT 4') AS top4
  FROM unnest(ARRAY['e', 'e2']) c;
-- a SEARCH text without tokens: over a search index the intersection of no
-- postings is empty (as the reference's); without one, all rows (no term
-- fails); an empty text is no SEARCH at all
SELECT nedb.put('sr', 'a', '{"bio": "rust fan"}') ->> '_id' AS a, nedb.put('sr', 'b', '{"bio": "c++"}') ->> '_id' AS b;
SELECT (SELECT count(*) FROM nql('FROM sr SEARCH "!!!"')) AS no_index_tokenless,
       (SELECT count(*) FROM nql('FROM sr SEARCH ""')) AS no_index_empty;
SELECT nedb.create_index('sr', 'bio', 'search');
SELECT (SELECT count(*) FROM nql('FROM sr SEARCH "!!!"')) AS index_tokenless,
       (SELECT count(*) FROM nql('FROM sr SEARCH "é"')) AS index_non_ascii,
       (SELECT count(*) FROM nql('FROM sr SEARCH ""')) AS index_empty,
       (SELECT count(*) FROM nql('FROM sr SEARCH "rust!"')) AS index_rust,
       (SELECT count(*) FROM nql('FROM sr SEARCH "!!!" ORDER BY bio LIMIT 1')) AS index_tokenless_ordered;
-- a NULL query is no query (the function is strict)
SELECT count(*) AS null_query FROM nql(NULL);
SELECT count(*) AS null_explain FROM nedb.explain(NULL);
-- the planner's row estimate of nql() (its support function), from a
-- constant text: LIMIT n at most n rows, GROUP BY a few, otherwise the
-- collection's live documents (as a foreign table over it is sized);
-- no estimate (the default 1000) for a text that is not a constant or no
-- query, nor for a collection the role may not read.  All in a transaction
-- rolled back: the later tests' seqs and collections stay as they were.
BEGIN;
CREATE FUNCTION nql_rows(q text, constant bool DEFAULT true) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    arg text := CASE WHEN constant THEN quote_literal(q)    -- now() is not folded at plan time
                     ELSE 'CASE WHEN now() IS NOT NULL THEN ' || quote_literal(q) || ' END' END;
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS ON) SELECT * FROM nql(' || arg || ')' LOOP
        RETURN substring(l FROM ' rows=([0-9]+) ');
    END LOOP;
END $$;
SELECT count(nedb.put('est', 'd' || g, jsonb_build_object('k', g % 3, 'n', g))) FROM generate_series(1, 600) g;
SELECT nedb.create_index('est', 'n', 'eq');
SELECT nql_rows('FROM est')::int BETWEEN 30 AND 600 AS collection,
       nql_rows('FROM est LIMIT -2')::int BETWEEN 30 AND 600 AS negative_limit,
       nql_rows('FROM est WHERE n > 3 ORDER BY n LIMIT 10') AS limit_10,
       nql_rows('FROM est LIMIT 0') AS limit_0,
       nql_rows('FROM est GROUP BY k COUNT') AS group_by,
       nql_rows('FROM est LIMIT 2 GROUP BY k COUNT') AS group_by_limit_2;
SELECT nql_rows('FROM est TRAVERSE r') AS traverse, nql_rows('FROM est TRACE caused_by LIMIT 5') AS trace_limit_5,
       nql_rows('FROM') AS syntax_error, nql_rows('FROM est LIMIT') AS no_limit_value,
       nql_rows(repeat(' ', 1048577) || 'FROM est LIMIT 10') AS over_1mb;
SELECT nql_rows('FROM est LIMIT 10', constant => false) AS not_constant;
CREATE ROLE nql_rows_reader;
SET ROLE nql_rows_reader;
SELECT nql_rows('FROM est') AS unreadable, nql_rows('FROM est LIMIT 7') AS unreadable_limit_7;
RESET ROLE;
SELECT nedb.grant('est', 'nql_rows_reader');
SET ROLE nql_rows_reader;
SELECT nql_rows('FROM est')::int BETWEEN 30 AND 600 AS readable, nql_rows('FROM est LIMIT 7') AS readable_limit_7;
RESET ROLE;
ROLLBACK;
SELECT count(*) AS est_rolled_back FROM nql('FROM est');
