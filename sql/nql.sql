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
-- a missing field, an explicit null and a boolean: ORDER BY goes in memory, same answers
SELECT nedb.put('b', 'nokey', '{"m": "m1"}') ->> '_id' AS id;
SELECT nedb.put('b', 'nullh', '{"h": null}') ->> '_id' AS id;
SELECT nedb.put('b', 'boolh', '{"h": true}') ->> '_id' AS id;
SELECT * FROM nedb.explain('FROM b ORDER BY h DESC LIMIT 7') l WHERE l LIKE 'NQL:%';
SELECT r ->> '_id' AS id, r -> 'h' AS h FROM nql('FROM b ORDER BY h DESC LIMIT 4') r;
SELECT r ->> '_id' AS id, r -> 'h' AS h FROM nql('FROM b WHERE h = 1') r;
