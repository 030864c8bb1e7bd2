--
-- nql_robust: nothing crashes, nothing is stalled cheaply (security audit,
-- issue 12): explain's lines outlive SPI, GROUP BY is one hash probe per row
-- and cancellable, the query text and what errors quote are bounded, numbers
-- are read as the reference reads them
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT count(nedb.put('blocks', 'b' || i, jsonb_build_object('height', i, 'note', 'n' || (i % 7))))
  FROM generate_series(1, 50) i;
SELECT nedb.create_index('blocks', 'height', 'sorted');

-- explain: its lines were built in SPI memory and read after SPI_finish freed
-- it (a literal this long was a separately allocated block: signal 11).
-- Twice the same lines (but for the time, a parameter), the literal in
-- Postgres's plan of the statement.
CREATE TEMP TABLE q AS
  SELECT 'FROM blocks WHERE note = "' || repeat('z', 900000) || '"' AS q;
CREATE FUNCTION pg_temp.lines(q text) RETURNS text[] LANGUAGE sql AS
  $$SELECT array_agg(regexp_replace(l, '< [0-9.]+', '< now')) FROM nedb.explain(q) l$$;
SELECT pg_temp.lines(q) = pg_temp.lines(q) AS same, cardinality(pg_temp.lines(q)) > 2 AS plan_shown,
       (SELECT bool_or(strpos(l, repeat('z', 900000)) > 0) FROM nedb.explain(q.q) l) AS literal_shown
  FROM q;
SELECT l FROM q, nedb.explain(q.q) l WHERE l LIKE 'NQL:%' OR l LIKE 'SQL:%';
-- the direct index path: the index name and the filter
SELECT left(l, 70) AS line, length(l)
  FROM nedb.explain('FROM blocks WHERE note = "' || repeat('y', 900000) || '" AND height > 3 ORDER BY height DESC LIMIT 2') l;
SELECT count(*) FROM nql('FROM blocks WHERE note = "' || repeat('y', 900000) || '" ORDER BY height');

-- bounds: the query text (1 MB), before anything grows with it
SELECT try($q$SELECT nql('FROM c ' || repeat('=', 2000000))$q$);
SELECT try($q$SELECT nql('FROM x ' || repeat('= ', 1000000))$q$);
SELECT try($q$SELECT * FROM nedb.explain('FROM c ' || repeat('=', 2000000))$q$);
SELECT try($q$SELECT nql('FROM blocks WHERE note = "' || repeat('z', 1048576) || '"')$q$);
-- just under it: a syntax error, listing ten of the 500,000 trailing tokens
SELECT try($q$SELECT nql('FROM x ' || repeat('= ', 500000))$q$);
SELECT try($q$SELECT nql('FROM x LIMIT 1 ' || repeat('"a" ', 11))$q$);
SELECT try($q$SELECT nql('FROM x LIMIT 1 ' || repeat('"a" ', 10))$q$);
-- quoted tokens: at most 64 characters, then ...
SELECT try($q$SELECT nql('"' || repeat('z', 100000) || '"')$q$);
SELECT try($q$SELECT nql('"' || repeat('é', 64) || '"')$q$);
SELECT try($q$SELECT nql('"' || repeat('é', 65) || '"')$q$);
SELECT try($q$SELECT nql('FROM x LIMIT 1 ' || repeat('9', 70) || ' ' || repeat('w', 65))$q$);
SELECT try($q$SELECT nql('FROM x WHERE ' || repeat('a', 5000) || ' ' || repeat('b', 5000))$q$);
-- number literals: at most 1000 characters
SELECT try($q$SELECT nql('FROM x WHERE v = ' || repeat('9', 1001))$q$);
SELECT try($q$SELECT nql('FROM x WHERE v = 0.' || repeat('1', 999))$q$);
SELECT try($q$SELECT nql('FROM x WHERE v = ' || repeat('9', 1000))$q$);
SELECT try($q$SELECT nql('FROM x AS OF ' || repeat('9', 1000))$q$);

-- numbers are read as int() and float() read the reference's number tokens:
-- leading zeros are dropped (007 is 7), -0 is 0
SELECT nedb.put('nums', 'seven', '{"v": 7}');
SELECT nedb.put('nums', 'minus7', '{"v": -7}');
SELECT nedb.put('nums', 'zero', '{"v": 0}');
SELECT nedb.put('nums', 'half', '{"v": 0.5}');
SELECT nedb.put('nums', 'yes', '{"v": true}');
SELECT r ->> '_id' AS id FROM nql('FROM nums WHERE v = 007') r;
SELECT r ->> '_id' AS id FROM nql('FROM nums WHERE v = -007') r;
SELECT r ->> '_id' AS id FROM nql('FROM nums WHERE v = -0') r;
SELECT r ->> '_id' AS id FROM nql('FROM nums WHERE v = -0.0') r;
SELECT r ->> '_id' AS id FROM nql('FROM nums WHERE v = 000.500') r;
SELECT r ->> '_id' AS id FROM nql('FROM nums WHERE v = 0001') r;
SELECT r ->> '_id' AS id FROM nql('FROM nums WHERE v > 006 ORDER BY v') r;
SELECT r ->> '_id' AS id FROM nql('FROM nums AS OF 0052 ORDER BY v LIMIT 002') r;
SELECT l FROM nedb.explain('FROM nums WHERE v = 007 AND v != -00.50') l WHERE l LIKE 'NQL:%' OR l LIKE 'SQL:%';
SELECT try($q$SELECT nql('FROM nums WHERE v = 007 x')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE x')$q$);
SELECT try($q$SELECT nql('007')$q$);
SELECT try($q$SELECT nql('-007')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE v = 1e999')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE v = .5')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE v = 5.')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE v = +5')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE v = 0x10')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE v = 1_000')$q$);
SELECT try($q$SELECT nql('FROM nums WHERE v = --1')$q$);

-- GROUP BY: 30,000 groups, one hash probe per row (it was a scan of the
-- groups per row: minutes, without a check for interrupts); first-seen order
SELECT count(nedb.put('grp', 'd' || lpad(i::text, 5, '0'), jsonb_build_object('v', 30001 - i, 'w', i % 3)))
  FROM generate_series(1, 30000) i;
SET statement_timeout = '5s';
SELECT count(*) AS groups, sum((r ->> 'count')::int) AS rows,
       min((r ->> 'count')::int) AS min_count, max((r ->> 'count')::int) AS max_count
  FROM nql('FROM grp GROUP BY v COUNT') r;
SELECT r FROM nql('FROM grp GROUP BY v SUM w') r LIMIT 3;
SELECT * FROM nql('FROM grp GROUP BY w AVG v');
-- cancel works inside it
SET statement_timeout = '1ms';
\set VERBOSITY terse
SELECT count(*) FROM nql('FROM grp GROUP BY v COUNT');
\set VERBOSITY default
RESET statement_timeout;
-- Python dict keys: 1, 1.0 and true are one group, "1" another; null and missing one
SELECT nedb.put('keys', 'a', '{"k": 1}');
SELECT nedb.put('keys', 'b', '{"k": "1"}');
SELECT nedb.put('keys', 'c', '{"k": 1.0, "n": 2}');
SELECT nedb.put('keys', 'd', '{"k": true, "n": 3}');
SELECT nedb.put('keys', 'e', '{"k": null}');
SELECT nedb.put('keys', 'f', '{}');
SELECT nedb.put('keys', 'g', '{"k": [1, "x"]}');
SELECT nedb.put('keys', 'h', '{"k": {"a": 1}}');
SELECT nedb.put('keys', 'i', '{"k": [1, "x"], "n": 1.5}');
SELECT nedb.put('keys', 'j', '{"k": 2.50}');
SELECT nedb.put('keys', 'k', '{"k": 2.5}');
SELECT nedb.put('keys', 'l', '{"k": false}');
SELECT nedb.put('keys', 'm', '{"k": 0}');
SELECT * FROM nql('FROM keys GROUP BY k SUM n');
-- TRAVERSE and TRACE dedup through hash tables: still first occurrence
SELECT nedb.link('blocks:b1', 'next', 'blocks:b2');
SELECT nedb.link('blocks:b1', 'next', 'blocks:b3');
SELECT nedb.link('blocks:b2', 'next', 'blocks:b3');
SELECT nedb.link('blocks:b2', 'next', 'blocks:b1');
SELECT r ->> '_id' AS id FROM nql('FROM blocks WHERE height <= 2 ORDER BY height TRAVERSE next') r;

-- many conditions and SEARCH terms: at most 32 of each go into the SQL (the
-- planner's work grew faster than their number, and EXPLAIN of 20,000
-- terms planned for minutes, deaf to statement_timeout); every row is
-- still checked against all of them, and the SQL no longer stops at LIMIT
SELECT nedb.create_index('words', 's', 'search');
SELECT nedb.put('words', 'a', jsonb_build_object('s', (SELECT string_agg('t' || i, ' ') FROM generate_series(1, 39) i)));
SELECT nedb.put('words', 'b', jsonb_build_object('s', (SELECT string_agg('t' || i, ' ') FROM generate_series(1, 40) i)));
SELECT r ->> '_id' AS id FROM nql('FROM words SEARCH "' || (SELECT string_agg('t' || i, ' ') FROM generate_series(1, 40) i) || '" LIMIT 1') r;
SELECT r ->> '_id' AS id FROM nql('FROM words SEARCH "' || (SELECT string_agg('t' || i, ' ') FROM generate_series(1, 32) i) || '" LIMIT 1') r;
SELECT r ->> '_id' AS id FROM nql('FROM blocks WHERE ' || repeat('note = n1 AND ', 40) || 'height = 8 LIMIT 1') r;
SELECT r ->> '_id' AS id FROM nql('FROM blocks WHERE ' || repeat('note = n1 AND ', 40) || 'height = 8 ORDER BY height DESC LIMIT 1') r;
SELECT count(*) FROM nedb.explain('FROM blocks WHERE ' || repeat('note = n1 AND ', 40) || 'height = 8') l
 WHERE l LIKE 'SQL:%' AND l LIKE '%$33 %' AND l NOT LIKE '%$34 %';
SELECT nedb.create_index('blocks', 'note', 'search');
SET statement_timeout = '5s';
SELECT count(*) > 2 AS planned
  FROM nedb.explain('FROM blocks SEARCH "' || (SELECT string_agg('w' || i, ' ') FROM generate_series(1, 20000) i) || '"');
SELECT count(*) FROM nql('FROM blocks SEARCH "' || (SELECT string_agg('w' || i, ' ') FROM generate_series(1, 20000) i) || '"');
SELECT count(*) FROM nql('FROM blocks WHERE ' || (SELECT string_agg('a = ' || i, ' AND ') FROM generate_series(1, 20000) i));
SELECT count(*) FROM nql('FROM blocks WHERE ' || (SELECT string_agg('height > ' || i, ' AND ') FROM generate_series(1, 20000) i) || ' ORDER BY height');
RESET statement_timeout;

-- a number beyond a double: its float is infinite, as Python's float() of it,
-- not an error quoting its 401 digits
SELECT nedb.put('huge', 'a', '{"v": 1e400, "g": 1}') ->> '_id' AS id;
SELECT try($q$SELECT * FROM nql('FROM huge GROUP BY g AVG v')$q$);
SELECT length(r::text) FROM nql('FROM huge GROUP BY g SUM v') r;
