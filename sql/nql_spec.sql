--
-- nql_spec: NQL, nql(text) RETURNS SETOF jsonb, checked against the specification
-- (shared/reference/SEMANTICS.md sections 7-13, shared/API.md), written independently
-- of the implementation.
--
-- Every query has a comment "-- expect: ..." right above it, worked out from the
-- specification (Python semantics) with our deliberate differences:
--   1. without ORDER BY rows come ordered by the key id (the put id argument), bytewise;
--      ORDER BY is a stable sort over that order (ties keep it, also for DESC);
--   2. VALID AS OF filters before LIMIT and GROUP BY;
--   3. under AS OF everything (SEARCH too) is evaluated on the versions at that seq;
--   4. an unknown collection gives no rows; syntax errors are SQLSTATE 42601 with the
--      reference message;
--   5. SEARCH: token semantics with a search index, substring semantics without;
--   6. rows are the stored documents; GROUP BY rows are {"<field>": key, "count": n, ...}.
-- Formats: "a, b, c" = the _id of each row, in order; "id=value" or "id=(v1, v2)" = the
-- _id and the printed fields (JSON; "missing" = the field is absent); "(no rows)";
-- GROUP BY rows and whole documents as JSON (compare them as jsonb: key order does not
-- matter); errors as "SQLSTATE: message".
--
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS nedb CASCADE;
RESET client_min_messages;
CREATE EXTENSION nedb;

-- run an NQL query; report the row count, or the SQLSTATE and message of its error
CREATE OR REPLACE FUNCTION public.nql_err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM nql(q);
    RETURN 'ok: ' || n || ' rows';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- ======================================================================
-- fixture: users (missing fields, explicit nulls, booleans, a float, mixed types in "level")
-- ======================================================================
-- ids are put out of order; "Zoe" sorts first bytewise (uppercase before lowercase)
SELECT nedb.put('users', 'carol', '{"name": "Carol", "age": 35, "city": "paris", "bio": "Python data scientist", "active": true, "level": 3}') ->> '_seq' AS seq;
SELECT nedb.put('users', 'alice', '{"name": "Alice", "age": 30, "city": "Lyon", "bio": "Rust hacker and climber", "active": true, "level": "senior"}') ->> '_seq' AS seq;
SELECT nedb.put('users', 'bob', '{"name": "Bob", "age": 25, "city": "Berlin", "bio": "Go developer who likes hiking", "active": false, "level": 2}') ->> '_seq' AS seq;
SELECT nedb.put('users', 'dave', '{"name": "Dave", "city": "Berlin", "level": true}') ->> '_seq' AS seq;
SELECT nedb.put('users', 'erin', '{"name": "Erin", "age": null, "city": null, "bio": "Rustacean at heart", "active": null}') ->> '_seq' AS seq;
SELECT nedb.put('users', 'frank', '{"name": "Frank", "age": 28.5, "city": "Rome", "bio": "C++ fan", "active": true, "level": 1.5}') ->> '_seq' AS seq;
SELECT nedb.put('users', 'Zoe', '{"name": "Zoe", "age": 41, "city": "Oslo", "bio": "retired sailor", "active": false}') ->> '_seq' AS seq;
SELECT nedb.put('users', 'henry', '{"name": "Henry", "age": 50, "city": "Paris", "bio": "Rust veteran", "active": true}') ->> '_seq' AS seq;
-- relations for TRAVERSE
SELECT nedb.link('users:alice', 'follows', 'users:bob');
SELECT nedb.link('users:alice', 'follows', 'users:carol');
SELECT nedb.link('users:alice', 'follows', 'users:dave');   -- unlinked at seq 21
SELECT nedb.link('users:bob', 'follows', 'users:carol');
SELECT nedb.link('users:bob', 'follows', 'users:henry');   -- henry is deleted at seq 18
SELECT nedb.link('users:carol', 'follows', 'users:nobody');   -- no such document
SELECT nedb.link('users:carol', 'follows', 'users:Zoe');
SELECT nedb.link('users:alice', 'wrote', 'notes:n1');   -- another collection; written at seq 39
-- history: an update, deletes, a re-put, a late insert, an unlink
SELECT nedb.put('users', 'alice', '{"name": "Alice", "age": 30, "city": "Paris", "bio": "Rust hacker and climber", "active": true, "level": "senior"}') ->> '_seq' AS seq;   -- alice moves Lyon -> Paris
SELECT nedb.delete('users', 'bob');
SELECT nedb.delete('users', 'henry');   -- henry stays deleted
SELECT nedb.put('users', 'bob', '{"name": "Bob", "age": 26, "city": "Berlin", "bio": "Go developer who likes hiking", "active": false, "level": 2}') ->> '_seq' AS seq;   -- bob comes back, age 26
SELECT nedb.put('users', 'gina', '{"name": "Gina O''Brien", "age": 19, "city": "Dublin", "bio": "student", "level": "junior"}') ->> '_seq' AS seq;
SELECT nedb.unlink('users:alice', 'follows', 'users:dave');

-- ======================================================================
-- fixture: mix (one field x of every type; g groups them)
-- ======================================================================
-- put m11 first, m01 last: seq = 33 - k for mk
SELECT nedb.put('mix', 'm11', '{"x": "abc", "g": "a"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm10', '{"x": -3, "g": "b"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm09', '{"x": 2.5, "g": "a"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm08', '{"g": "b"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm07', '{"x": null, "g": "a"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm06', '{"x": false, "g": "b"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm05', '{"x": 0, "g": "a"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm04', '{"x": "1", "g": "b"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm03', '{"x": true, "g": "b"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm02', '{"x": 1.0, "g": "a"}') ->> '_seq' AS seq;
SELECT nedb.put('mix', 'm01', '{"x": 1, "g": "a"}') ->> '_seq' AS seq;

-- ======================================================================
-- fixture: contracts (valid time)
-- ======================================================================
SELECT nedb.put('contracts', 'c3', '{"n": 3, "kind": "a"}', valid_to => '2024-03-31') ->> '_seq' AS seq;
SELECT nedb.put('contracts', 'c1', '{"n": 1, "kind": "a"}', valid_from => '2024-01-01', valid_to => '2024-12-31') ->> '_seq' AS seq;
SELECT nedb.put('contracts', 'c5', '{"n": 5, "kind": "a"}', valid_from => '2025-01-01', valid_to => '2025-12-31') ->> '_seq' AS seq;
SELECT nedb.put('contracts', 'c2', '{"n": 2, "kind": "b"}', valid_from => '2024-06-01') ->> '_seq' AS seq;
SELECT nedb.put('contracts', 'c4', '{"n": 4, "kind": "b"}') ->> '_seq' AS seq;
SELECT nedb.put('contracts', 'c2', '{"n": 2, "kind": "b"}', valid_from => '2023-01-01') ->> '_seq' AS seq;   -- c2 now valid from 2023

-- ======================================================================
-- fixture: notes (with search indexes on title and body; author is not indexed)
-- ======================================================================
SELECT nedb.create_index('notes', 'title', 'search');
SELECT nedb.create_index('notes', 'body', 'search');
SELECT nedb.put('notes', 'n1', '{"title": "Rust tips", "body": "borrow checker, lifetimes", "author": "alice"}') ->> '_seq' AS seq;
SELECT nedb.put('notes', 'n2', '{"title": "Go tips", "body": "rust is nice too", "author": "bob"}') ->> '_seq' AS seq;
SELECT nedb.put('notes', 'n3', '{"title": "Rustacean diary", "body": "ferris the crab", "author": "rust"}') ->> '_seq' AS seq;
SELECT nedb.put('notes', 'n5', '{"title": "Misc", "body": "nothing here", "author": "dave"}') ->> '_seq' AS seq;
SELECT nedb.put('notes', 'n2', '{"title": "Go tips", "body": "goroutines and channels", "author": "bob"}') ->> '_seq' AS seq;   -- n2 no longer mentions rust
SELECT nedb.put('notes', 'n4', '{"title": "Postgres internals", "body": "MVCC and WAL; rust-free zone", "author": "carol"}') ->> '_seq' AS seq;
SELECT nedb.put('notes', 'n5', '{"title": "Misc", "body": "rust everywhere", "author": "dave"}') ->> '_seq' AS seq;   -- n5 mentions rust only now

-- ======================================================================
-- fixture: facts (causal provenance for TRACE)
-- ======================================================================
SELECT nedb.put('facts', 'f1', '{"claim": "sky"}') ->> '_seq' AS seq;
SELECT nedb.put('facts', 'f2', '{"claim": "blue"}', caused_by => '{46}') ->> '_seq' AS seq;
SELECT nedb.put('facts', 'f3', '{"claim": "sky is blue"}', caused_by => '{47}') ->> '_seq' AS seq;
SELECT nedb.put('facts', 'f1', '{"claim": "sky, revised"}') ->> '_seq' AS seq;   -- f1 updated after being cited
SELECT nedb.put('facts', 'f4', '{"claim": "bogus"}', caused_by => '{17,8,9999}') ->> '_seq' AS seq;   -- a delete, a link, a seq that does not exist
SELECT nedb.put('facts', 'f5', '{"claim": "conclusion"}', caused_by => '{48}') ->> '_seq' AS seq;
SELECT nedb.put('facts', 'f6', '{"claim": "multi"}', caused_by => '{48,46}') ->> '_seq' AS seq;

-- ======================================================================
-- fixture: "count" (keywords as names) and ids (a caller-supplied _id)
-- ======================================================================
SELECT nedb.put('count', 'k1', '{"order": 5, "limit": 1}') ->> '_seq' AS seq;
SELECT nedb.put('count', 'k2', '{"order": 5, "limit": 2}') ->> '_seq' AS seq;
SELECT nedb.put('count', 'k3', '{"order": 6}') ->> '_seq' AS seq;
SELECT nedb.put('ids', 'a', '{"_id": "z", "v": 1}') ->> '_seq' AS seq;   -- key ids:a, _id "z"
SELECT nedb.put('ids', 'b', '{"v": 2}') ->> '_seq' AS seq;
SELECT nedb.link('ids:a', 'r', 'ids:b');
SELECT nedb.seq();

-- ======================================================================
-- FROM: all live documents, in key-id byte order
-- ======================================================================
-- expect: Zoe=6, alice=16, bob=19, carol=0, dave=3, erin=4, frank=5, gina=20
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users') r;
-- expect: 8
SELECT count(*) FROM nql('FROM users');
-- keywords are case-insensitive
-- expect: Zoe, alice, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('from users') r;
-- expect: Zoe, carol
SELECT r ->> '_id' AS id FROM nql('FrOm users wHeRe age > 30') r;
-- collection names are case-sensitive: an unknown collection, no rows
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM Users') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM nosuch') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM nosuch WHERE a = 1 ORDER BY a DESC LIMIT 5') r;
-- field names are case-sensitive
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE Age > 1') r;
-- rows are the stored documents, with _id and _seq
-- expect: {"_id": "dave", "_seq": 3, "city": "Berlin", "name": "Dave", "level": true}
SELECT nql('FROM users WHERE _id = dave');
-- key order (a, b), not _id order; a caller-supplied _id is kept
-- expect: {"v": 1, "_id": "z", "_seq": 56}, {"v": 2, "_id": "b", "_seq": 57}
SELECT nql('FROM ids');
-- _id is an ordinary field: the doc stored under key a has _id "z"
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM ids WHERE _id = a') r;
-- expect: z=1
SELECT r ->> '_id' AS id, r -> 'v' AS v FROM nql('FROM ids WHERE _id = z') r;
-- expect: b, z
SELECT r ->> '_id' AS id FROM nql('FROM ids ORDER BY _id') r;

-- ======================================================================
-- WHERE: strings, bare words, numbers, true/false/null
-- ======================================================================
-- values are case-sensitive ("paris" is carol)
-- expect: alice
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE city = "Paris"') r;
-- expect: carol
SELECT r ->> '_id' AS id FROM nql($$FROM users WHERE city = 'paris'$$) r;
-- a bare word is a string
-- expect: alice
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE city = Paris') r;
-- expect: alice
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE level = senior') r;
-- a double-quoted string may contain '
-- expect: gina
SELECT r ->> '_id' AS id FROM nql($$FROM users WHERE name = "Gina O'Brien"$$) r;
-- expect: frank
SELECT r ->> '_id' AS id FROM nql($$FROM users WHERE bio = 'C++ fan'$$) r;
-- "30" is a string: not equal to 30
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age = "30"') r;
-- expect: alice=30
SELECT r ->> '_id' AS id, r -> 'age' AS age FROM nql('FROM users WHERE age = 30') r;
-- 1 = 1.0
-- expect: alice
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age = 30.0') r;
-- expect: frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age = 28.5') r;
-- expect: Zoe=41, alice=30, carol=35, frank=28.5
SELECT r ->> '_id' AS id, r -> 'age' AS age FROM nql('FROM users WHERE age > 28.25') r;
-- negative number; missing/null age never compares
-- expect: Zoe, alice, bob, carol, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > -1') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age < -1') r;
-- expect: Zoe, alice, carol
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age >= 30') r;
-- expect: bob, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age <= 28.5') r;
-- expect: bob, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age < 28.5') r;
-- != includes documents without the field, and null
-- expect: Zoe, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age != 30') r;
-- = null matches a missing field and an explicit null
-- expect: dave=missing, erin=null
SELECT r ->> '_id' AS id, r -> 'age' AS age FROM nql('FROM users WHERE age = null') r;
-- expect: dave, erin
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age = NULL') r;
-- expect: Zoe, alice, bob, carol, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age != null') r;
-- string vs number: TypeError, so false
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age < "z"') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > "0"') r;
-- expect: alice, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active = true') r;
-- expect: alice, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active = TRUE') r;
-- true = 1 = 1.0
-- expect: alice, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active = 1') r;
-- expect: alice, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active = 1.0') r;
-- expect: Zoe, bob
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active = False') r;
-- expect: Zoe, bob
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active = 0') r;
-- expect: dave, erin, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active = null') r;
-- expect: Zoe, bob, dave, erin, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active != true') r;
-- bools order as 0/1
-- expect: alice, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE active > 0') r;
-- level: "senior" (TypeError), 2, 3, true (not > 1), 1.5, "junior"
-- expect: bob, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE level > 1') r;
-- expect: bob, carol, dave, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE level >= 1') r;
-- expect: dave=true
SELECT r ->> '_id' AS id, r -> 'level' AS level FROM nql('FROM users WHERE level = 1') r;
-- strings compare by code point
-- expect: alice, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE level < "t"') r;
-- expect: Zoe, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE name > "D"') r;
-- every name starts with an uppercase letter, all < "b"
-- expect: Zoe, alice, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE name < "b"') r;
-- expect: Zoe, alice
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE _id < "b"') r;
-- _seq is an ordinary field
-- expect: bob=19, gina=20
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users WHERE _seq >= 19') r;
-- expect: carol
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE _seq < 3') r;
-- expect: alice="Paris"
SELECT r ->> '_id' AS id, r -> 'city' AS city FROM nql('FROM users WHERE _id = alice') r;
-- expect: f2, f3, f4, f5, f6
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _caused_by != null') r;
-- a list never equals a number
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _caused_by = 47') r;
-- expect: c1
SELECT r ->> '_id' AS id FROM nql('FROM contracts WHERE _valid_to = "2024-12-31"') r;

-- ======================================================================
-- WHERE on mixed types (collection mix): 1 = 1.0 = true, "1" is a string, null = missing
-- ======================================================================
-- expect: m01=1, m02=1.0, m03=true, m04="1", m05=0, m06=false, m07=null, m08=missing, m09=2.5, m10=-3, m11="abc"
SELECT r ->> '_id' AS id, r -> 'x' AS x FROM nql('FROM mix') r;
-- expect: m01, m02, m03
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = 1') r;
-- expect: m01, m02, m03
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = 1.0') r;
-- expect: m01, m02, m03
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = true') r;
-- expect: m04
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = "1"') r;
-- expect: m05, m06
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = false') r;
-- expect: m05, m06
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = 0') r;
-- expect: m07, m08
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = null') r;
-- expect: m01, m02, m03, m04, m05, m06, m09, m10, m11
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x != null') r;
-- expect: m04, m05, m06, m07, m08, m09, m10, m11
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x != 1') r;
-- expect: m01, m02, m03, m04, m05, m06, m07, m08, m09, m10
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x != "abc"') r;
-- expect: m01, m02, m03, m09
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x > 0') r;
-- expect: m01, m02, m03, m05, m06, m09
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x >= 0') r;
-- expect: m05, m06, m10
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x < 1') r;
-- expect: m10
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x <= -3') r;
-- expect: m10
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x = -3') r;
-- expect: m01, m02, m03, m05, m06, m09, m10
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x > -3.5') r;
-- expect: m11
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x > "a"') r;
-- expect: m04, m11
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x < "b"') r;
-- expect: m04, m11
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x >= "1"') r;

-- ======================================================================
-- AND chains
-- ======================================================================
-- expect: bob
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > 20 AND age < 30 AND city = Berlin') r;
-- expect: Zoe, alice, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > 20 AND city != Berlin') r;
-- expect: alice, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age >= 28.5 and age <= 30') r;
-- expect: alice, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > 20 AND age < 40 AND city != paris AND active = true') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > 20 AND age < 20') r;
-- expect: m05, m09
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x >= 0 AND x != true AND g = a') r;

-- ======================================================================
-- ORDER BY: missing/null last for ASC, first for DESC; stable (ties in key order)
-- ======================================================================
-- expect: gina=19, bob=26, frank=28.5, alice=30, carol=35, Zoe=41, dave=missing, erin=null
SELECT r ->> '_id' AS id, r -> 'age' AS age FROM nql('FROM users ORDER BY age') r;
-- expect: gina, bob, frank, alice, carol, Zoe, dave, erin
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY age ASC') r;
-- expect: dave=missing, erin=null, Zoe=41, carol=35, alice=30, frank=28.5, bob=26, gina=19
SELECT r ->> '_id' AS id, r -> 'age' AS age FROM nql('FROM users ORDER BY age DESC') r;
-- expect: dave, erin, Zoe, carol, alice, frank, bob, gina
SELECT r ->> '_id' AS id FROM nql('from users order by age desc') r;
-- expect: bob="Berlin", dave="Berlin", gina="Dublin", Zoe="Oslo", alice="Paris", frank="Rome", carol="paris", erin=null
SELECT r ->> '_id' AS id, r -> 'city' AS city FROM nql('FROM users ORDER BY city') r;
-- DESC keeps ties (bob, dave) in key order
-- expect: erin, carol, frank, alice, Zoe, gina, bob, dave
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY city DESC') r;
-- expect: alice, bob, carol, dave, erin, frank, gina, Zoe
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY name') r;
-- expect: Zoe=false, bob=false, alice=true, carol=true, frank=true, dave=missing, erin=null, gina=missing
SELECT r ->> '_id' AS id, r -> 'active' AS active FROM nql('FROM users ORDER BY active') r;
-- expect: dave, erin, gina, alice, carol, frank, Zoe, bob
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY active DESC') r;
-- all keys None: key order
-- expect: Zoe, alice, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY nosuch') r;
-- expect: Zoe, alice, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY nosuch DESC') r;
-- strings and numbers mixed: the whole sort falls back to str(value):
-- "1.5" < "2" < "3" < "None" (Zoe, erin) < "True" < "junior" < "senior"
-- expect: frank=1.5, bob=2, carol=3, Zoe=missing, erin=missing, dave=true, gina="junior", alice="senior"
SELECT r ->> '_id' AS id, r -> 'level' AS level FROM nql('FROM users ORDER BY level') r;
-- expect: alice, gina, dave, Zoe, erin, carol, bob, frank
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY level DESC') r;
-- str fallback: "-3" < "0" < "1" (m01, m04) < "1.0" < "2.5" < "False" < "None" (m07, m08) < "True" < "abc"
-- expect: m10=-3, m05=0, m01=1, m04="1", m02=1.0, m09=2.5, m06=false, m07=null, m08=missing, m03=true, m11="abc"
SELECT r ->> '_id' AS id, r -> 'x' AS x FROM nql('FROM mix ORDER BY x') r;
-- numbers and bools only: no fallback; 1 = 1.0 = true tie, so key order
-- expect: m09, m01, m02, m03, m05, m06, m10
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x > -5 ORDER BY x DESC') r;
-- expect: m05, m06, m01, m02, m03, m09
SELECT r ->> '_id' AS id FROM nql('FROM mix WHERE x >= 0 ORDER BY x') r;
-- keywords as names
-- expect: k1, k2, k3
SELECT r ->> '_id' AS id FROM nql('FROM count ORDER BY limit') r;

-- ======================================================================
-- LIMIT: a Python slice of int(literal)
-- ======================================================================
-- expect: Zoe, alice, bob
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT 3') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT 0') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY age LIMIT 0') r;
-- int(2.9) = 2
-- expect: gina, bob
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY age LIMIT 2.9') r;
-- expect: Zoe
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT 1.5') r;
-- negative: drops rows from the end
-- expect: gina, bob, frank, alice, carol, Zoe
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY age LIMIT -2') r;
-- expect: Zoe, alice, bob, carol, dave, erin, frank
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT -1') r;
-- int(-1.5) = -1
-- expect: Zoe, alice, bob, carol, dave, erin, frank
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT -1.5') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT -8') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT -100') r;
-- expect: Zoe, alice, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users LIMIT 100') r;
-- expect: Zoe
SELECT r ->> '_id' AS id FROM nql('FROM users limit 1') r;

-- ======================================================================
-- combinations: WHERE + AND + ORDER BY + LIMIT
-- ======================================================================
-- expect: Zoe=41, carol=35
SELECT r ->> '_id' AS id, r -> 'age' AS age FROM nql('FROM users WHERE age > 20 ORDER BY age DESC LIMIT 2') r;
-- expect: frank, alice
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > 20 AND active = true ORDER BY age LIMIT 2') r;
-- expect: erin, carol, frank
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE city != Berlin ORDER BY city DESC LIMIT 3') r;
-- expect: carol, alice, frank
SELECT r ->> '_id' AS id FROM nql('FrOm users WhErE age >= 19 AnD age < 41 OrDeR bY age DeSc LiMiT 3') r;
-- expect: k2=2, k1=1
SELECT r ->> '_id' AS id, r -> 'limit' AS lim FROM nql('from count where order = 5 order by limit desc') r;
-- expect: k2
SELECT r ->> '_id' AS id FROM nql('FROM count WHERE order = 5 ORDER BY limit DESC LIMIT 1') r;

-- ======================================================================
-- AS OF: the versions at seq N (inclusive); int() of the literal
-- ======================================================================
-- expect: Zoe=6, alice=1, bob=2, carol=0, dave=3, erin=4, frank=5, henry=7
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 7') r;
-- AS OF 1.7 = AS OF 1
-- expect: alice="Lyon", carol="paris"
SELECT r ->> '_id' AS id, r -> 'city' AS city FROM nql('FROM users AS OF 1.7') r;
-- expect: alice, carol
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 1') r;
-- expect: carol
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 0') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF -1') r;
-- bob deleted at 17 (back at 19), henry at 18
-- expect: Zoe, alice, carol, dave, erin, frank
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 18') r;
-- expect: Zoe, alice, carol, dave, erin, frank, henry
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 17') r;
-- expect: Zoe=6, alice=16, bob=19, carol=0, dave=3, erin=4, frank=5, gina=20
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 999') r;
-- expect: henry
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 7 WHERE city = Paris') r;
-- expect: alice=16, henry=7
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 17 WHERE city = Paris') r;
-- expect: bob=2
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 16 WHERE age = 25') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age = 25') r;
-- expect: Zoe, carol
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 18 WHERE age > 20 ORDER BY age DESC LIMIT 2') r;
-- expect: dave=missing, erin=null, henry=50
SELECT r ->> '_id' AS id, r -> 'age' AS age FROM nql('from users as of 7 order by age desc limit 3') r;
-- nothing in notes yet
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM notes AS OF 38') r;
-- the version of f1 at seq 48
-- expect: {"_id": "f1", "_seq": 46, "claim": "sky"}
SELECT nql('FROM facts AS OF 48 WHERE _id = f1');

-- ======================================================================
-- SEARCH without a search index (users): substring of the lowercased joined values
-- ======================================================================
-- "rustacean" contains "rust"
-- expect: alice, erin
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "rust"') r;
-- expect: alice, erin
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "RUST"') r;
-- expect: alice, erin
SELECT r ->> '_id' AS id FROM nql($$FROM users SEARCH 'rust'$$) r;
-- expect: erin
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "rusta"') r;
-- every token must occur
-- expect: alice
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "rust hacker"') r;
-- expect: alice
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "hacker rust"') r;
-- expect: bob
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "berlin developer"') r;
-- expect: alice, carol
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "paris"') r;
-- _id and name
-- expect: alice
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "ali"') r;
-- str(True) is "True": lowercased "true"
-- expect: alice, carol, dave, frank
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "true"') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "lyon"') r;
-- expect: alice, bob, dave, erin
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "er"') r;
-- SEARCH "" is ignored: every row
-- expect: Zoe, alice, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH ""') r;
-- expect: Zoe, alice, bob, carol, dave, erin, frank, gina
SELECT r ->> '_id' AS id FROM nql($$FROM users SEARCH ''$$) r;
-- expect: alice, bob
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE age > 25 SEARCH "er"') r;
-- expect: dave, erin, alice, bob
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "er" ORDER BY age DESC') r;
-- expect: bob
SELECT r ->> '_id' AS id FROM nql('FROM users SEARCH "er" ORDER BY age LIMIT 1') r;
-- historical versions: henry is there
-- expect: alice=1, erin=4, henry=7
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 7 SEARCH "rust"') r;
-- expect: alice=1
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 7 SEARCH "lyon"') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 16 SEARCH "lyon"') r;

-- ======================================================================
-- SEARCH with a search index (notes: title, body): exact tokens, AND-ed
-- ======================================================================
-- expect: n1=39, n2=43, n3=41, n4=44, n5=45
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM notes') r;
-- not "rustacean" (n3), not the unindexed author (n3), "rust-free" has token rust
-- expect: n1, n4, n5
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "rust"') r;
-- expect: n1
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "Rust TIPS"') r;
-- expect: n1, n2
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "tips"') r;
-- expect: n2
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "go"') r;
-- expect: n2, n4
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "and"') r;
-- no prefix match
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "rusta"') r;
-- expect: n3
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "rustacean"') r;
-- author is not indexed
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "alice"') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "rust go"') r;
-- expect: n1
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "lifetimes checker"') r;
-- expect: n1, n2, n3, n4, n5
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH ""') r;
-- expect: n1
SELECT r ->> '_id' AS id FROM nql('FROM notes WHERE author != bob SEARCH "tips"') r;
-- expect: n5="Misc", n4="Postgres internals", n1="Rust tips"
SELECT r ->> '_id' AS id, r -> 'title' AS title FROM nql('FROM notes SEARCH "rust" ORDER BY title') r;
-- expect: n1, n4
SELECT r ->> '_id' AS id FROM nql('FROM notes SEARCH "rust" ORDER BY title DESC LIMIT 2') r;
-- at 42 n2 said "rust is nice too" and n5 did not mention rust
-- expect: n1=39, n2=40
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM notes AS OF 42 SEARCH "rust"') r;
-- expect: n1=39, n4=44
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM notes AS OF 44 SEARCH "rust"') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM notes AS OF 42 SEARCH "goroutines"') r;

-- ======================================================================
-- VALID [AS] [OF] "date": both bounds inclusive, plain string comparison
-- ======================================================================
-- expect: c1=1, c2=2, c3=3, c4=4, c5=5
SELECT r ->> '_id' AS id, r -> 'n' AS n FROM nql('FROM contracts') r;
-- expect: {"n": 1, "_id": "c1", "_seq": 34, "kind": "a", "_valid_to": "2024-12-31", "_valid_from": "2024-01-01"}
SELECT nql('FROM contracts WHERE n = 1');
-- expect: c1, c2, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2024-12-31"') r;
-- sorts after "2024-12-31": c1 is no longer valid
-- expect: c2, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts valid as of "2024-12-31T10:00"') r;
-- expect: c1, c2, c3, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID "2024-02-01"') r;
-- expect: c3, c4
SELECT r ->> '_id' AS id FROM nql($$FROM contracts VALID OF '2022-01-01'$$) r;
-- expect: c2, c4, c5
SELECT r ->> '_id' AS id FROM nql($$FROM contracts VALID AS '2025-06-01'$$) r;
-- expect: c1, c2, c3, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2024-01-01"') r;
-- expect: c2, c3, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2023-12-31"') r;
-- second position (after WHERE)
-- expect: c2, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts WHERE n > 1 VALID AS OF "2024-12-31"') r;
-- expect: c5, c4, c2
SELECT r ->> '_id' AS id FROM nql('FROM contracts WHERE n > 1 VALID "2025-06-01" ORDER BY n DESC') r;
-- VALID filters before LIMIT (our difference 2)
-- expect: c2
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2025-06-01" LIMIT 1') r;
-- expect: c5, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts WHERE n >= 1 VALID "2025-06-01" ORDER BY n DESC LIMIT 2') r;
-- expect: c1, c2
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2024-12-31" LIMIT -1') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2024-12-31" ORDER BY n DESC LIMIT 0') r;
-- expect: c2, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2030-01-01"') r;

-- ======================================================================
-- VALID with AS OF
-- ======================================================================
-- expect: c2, c3, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts VALID AS OF "2023-06-01"') r;
-- at 37 c2 was valid from 2024-06-01
-- expect: c3, c4
SELECT r ->> '_id' AS id FROM nql('FROM contracts AS OF 37 VALID AS OF "2023-06-01"') r;
-- expect: c2=36, c4=37
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM contracts AS OF 37 WHERE n > 1 VALID "2024-07-01"') r;
-- expect: c1
SELECT r ->> '_id' AS id FROM nql('FROM contracts AS OF 35 VALID "2024-07-01"') r;
-- expect: c1
SELECT r ->> '_id' AS id FROM nql('FROM contracts AS OF 35.9 VALID OF "2024-07-01" LIMIT 1') r;

-- ======================================================================
-- TRAVERSE rel: one hop from each row's storage key, neighbours in link order, deduplicated
-- ======================================================================
-- dave was unlinked
-- expect: bob=19, carol=0
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users WHERE _id = alice TRAVERSE follows') r;
-- henry is deleted: skipped
-- expect: carol
SELECT r ->> '_id' AS id FROM nql('FROM users WHERE _id = bob TRAVERSE follows') r;
-- alice: bob, carol; bob: carol (dup), henry (gone); carol: nobody (no doc), Zoe
-- expect: bob, carol, Zoe
SELECT r ->> '_id' AS id FROM nql('FROM users TRAVERSE follows') r;
-- sources in ORDER BY order (carol before alice); not re-sorted
-- expect: Zoe, bob, carol
SELECT r ->> '_id' AS id FROM nql('FROM users ORDER BY age DESC TRAVERSE follows') r;
-- expect: bob, carol
SELECT r ->> '_id' AS id FROM nql('FROM users TRAVERSE follows LIMIT 2') r;
-- expect: bob, carol
SELECT r ->> '_id' AS id FROM nql('FROM users TRAVERSE follows LIMIT -1') r;
-- expect: bob, carol
SELECT r ->> '_id' AS id FROM nql('from users where name = Alice traverse follows') r;
-- a neighbour in another collection
-- expect: n1="Rust tips"
SELECT r ->> '_id' AS id, r -> 'title' AS title FROM nql('FROM users WHERE _id = alice TRAVERSE wrote') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users TRAVERSE nosuch') r;
-- before the unlink (seq 21)
-- expect: bob=19, carol=0, dave=3
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 20 WHERE _id = alice TRAVERSE follows') r;
-- henry still there; bob is age 25
-- expect: carol=0, henry=7
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 16 WHERE _id = bob TRAVERSE follows') r;
-- only the links up to seq 9
-- expect: bob=2, carol=0
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM users AS OF 9 TRAVERSE follows') r;
-- notes:n1 did not exist yet
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM users AS OF 15 WHERE _id = alice TRAVERSE wrote') r;
-- from the storage key ids:a
-- expect: b
SELECT r ->> '_id' AS id FROM nql('FROM ids WHERE _id = z TRAVERSE r') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM ids WHERE v = 2 TRAVERSE r') r;

-- ======================================================================
-- TRACE: backward over _caused_by (cause versions as of the cause seq); REVERSE: forward
-- ======================================================================
-- f2 as of 47, then f1 as of 46 (its old claim); the start row itself is not included
-- expect: f2=(47, "blue"), f1=(46, "sky")
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq, r -> 'claim' AS claim FROM nql('FROM facts WHERE _id = f3 TRACE _caused_by') r;
-- the field name is ignored
-- expect: f2, f1
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f3 TRACE anything') r;
-- expect: f3=48, f2=47, f1=46
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('from facts where _id = f5 trace x') r;
-- expect: f2
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f3 TRACE x LIMIT 1') r;
-- causes that are a delete, a link, a missing seq: nothing
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f4 TRACE x') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f1 TRACE x') r;
-- two causes (48, 46): f3, f2, f1, each once (the order depends on the DFS: checked sorted)
-- expect: f1=46, f2=47, f3=48   [sorted by the SQL ORDER BY]
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM facts WHERE _id = f6 TRACE x') r ORDER BY (r ->> '_seq')::int;
-- several start rows: every cause once (checked sorted)
-- expect: f1=46, f2=47, f3=48   [sorted by the SQL ORDER BY]
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM facts TRACE x') r ORDER BY (r ->> '_seq')::int;
-- expect: f2=(47, "blue"), f1=(46, "sky")
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq, r -> 'claim' AS claim FROM nql('FROM facts AS OF 48 WHERE _id = f3 TRACE x') r;
-- forward, breadth-first, from the latest put of f2 (47): f3 (48), then f5 and f6 (caused by 48)
-- expect: f3=48, f5=51, f6=52
SELECT r ->> '_id' AS id, r -> '_seq' AS _seq FROM nql('FROM facts WHERE _id = f2 TRACE x REVERSE') r;
-- expect: f5, f6
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f3 TRACE x reverse') r;
-- f1 was updated (49) after being cited: the forward trace starts from 49, finds nothing
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f1 TRACE x REVERSE') r;
-- expect: (no rows)
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f5 TRACE x REVERSE') r;
-- expect: f3
SELECT r ->> '_id' AS id FROM nql('FROM facts WHERE _id = f2 TRACE x REVERSE LIMIT -2') r;

-- ======================================================================
-- GROUP BY field [COUNT | SUM f | AVG f | MIN f | MAX f]: keys in first-seen order
-- ======================================================================
-- missing and null city are one group (null)
-- expect: {"city": "Oslo", "count": 1}, {"city": "Paris", "count": 1}, {"city": "Berlin", "count": 2}, {"city": "paris", "count": 1}, {"city": null, "count": 1}, {"city": "Rome", "count": 1}, {"city": "Dublin", "count": 1}
SELECT nql('FROM users GROUP BY city');
-- expect: {"city": "Oslo", "count": 1}, {"city": "Paris", "count": 1}, {"city": "Berlin", "count": 2}, {"city": "paris", "count": 1}, {"city": null, "count": 1}, {"city": "Rome", "count": 1}, {"city": "Dublin", "count": 1}
SELECT nql('FROM users GROUP BY city COUNT');
-- sums of ints stay ints; a float makes a float; bools count
-- expect: {"active": false, "count": 2, "sum_age": 67}, {"active": true, "count": 3, "sum_age": 93.5}, {"active": null, "count": 3, "sum_age": 19}
SELECT nql('FROM users GROUP BY active SUM age');
-- avg is a float (19.0); null/missing ages are ignored
-- expect: {"active": false, "count": 2, "avg_age": 33.5}, {"active": true, "count": 3, "avg_age": 31.166666666666668}, {"active": null, "count": 3, "avg_age": 19.0}
SELECT nql('FROM users GROUP BY active AVG age');
-- expect: {"city": "Oslo", "count": 1, "min_age": 41}, {"city": "Paris", "count": 1, "min_age": 30}, {"city": "Berlin", "count": 2, "min_age": 26}, {"city": "paris", "count": 1, "min_age": 35}, {"city": null, "count": 1, "min_age": null}, {"city": "Rome", "count": 1, "min_age": 28.5}, {"city": "Dublin", "count": 1, "min_age": 19}
SELECT nql('FROM users GROUP BY city MIN age');
-- expect: {"city": "Oslo", "count": 1, "max_age": 41}, {"city": "Paris", "count": 1, "max_age": 30}, {"city": "Berlin", "count": 2, "max_age": 26}, {"city": "paris", "count": 1, "max_age": 35}, {"city": null, "count": 1, "max_age": null}, {"city": "Rome", "count": 1, "max_age": 28.5}, {"city": "Dublin", "count": 1, "max_age": 19}
SELECT nql('FROM users GROUP BY city MAX age');
-- no numbers: sum 0
-- expect: {"city": "Oslo", "count": 1, "sum_bio": 0}, {"city": "Paris", "count": 1, "sum_bio": 0}, {"city": "Berlin", "count": 2, "sum_bio": 0}, {"city": "paris", "count": 1, "sum_bio": 0}, {"city": null, "count": 1, "sum_bio": 0}, {"city": "Rome", "count": 1, "sum_bio": 0}, {"city": "Dublin", "count": 1, "sum_bio": 0}
SELECT nql('FROM users GROUP BY city SUM bio');
-- no numbers: avg null
-- expect: {"city": "Oslo", "count": 1, "avg_bio": null}, {"city": "Paris", "count": 1, "avg_bio": null}, {"city": "Berlin", "count": 2, "avg_bio": null}, {"city": "paris", "count": 1, "avg_bio": null}, {"city": null, "count": 1, "avg_bio": null}, {"city": "Rome", "count": 1, "avg_bio": null}, {"city": "Dublin", "count": 1, "avg_bio": null}
SELECT nql('FROM users GROUP BY city AVG bio');
-- strings are not numbers: max null
-- expect: {"city": "Oslo", "count": 1, "max_name": null}, {"city": "Paris", "count": 1, "max_name": null}, {"city": "Berlin", "count": 2, "max_name": null}, {"city": "paris", "count": 1, "max_name": null}, {"city": null, "count": 1, "max_name": null}, {"city": "Rome", "count": 1, "max_name": null}, {"city": "Dublin", "count": 1, "max_name": null}
SELECT nql('FROM users GROUP BY city MAX name');
-- expect: {"city": "Oslo", "count": 1}, {"city": "paris", "count": 1}, {"city": "Paris", "count": 1}
SELECT nql('FROM users WHERE age > 20 ORDER BY age DESC LIMIT 3 GROUP BY city COUNT');
-- first seen in the ORDER BY order
-- expect: {"city": "Dublin", "count": 1}, {"city": "Berlin", "count": 2}, {"city": "Rome", "count": 1}, {"city": "Paris", "count": 1}, {"city": "paris", "count": 1}, {"city": "Oslo", "count": 1}, {"city": null, "count": 1}
SELECT nql('FROM users ORDER BY age GROUP BY city');
-- expect: {"city": "Oslo", "count": 1}, {"city": "Paris", "count": 1}
SELECT nql('FROM users LIMIT 2 GROUP BY city');
-- expect: (no rows)
SELECT nql('FROM users LIMIT 0 GROUP BY city');
-- expect: (no rows)
SELECT nql('FROM users WHERE age > 100 GROUP BY city');
-- expect: (no rows)
SELECT nql('FROM nosuch GROUP BY city');
-- expect: {"nosuch": null, "count": 8}
SELECT nql('FROM users GROUP BY nosuch');
-- expect: {"nosuch": null, "count": 8, "sum_age": 179.5}
SELECT nql('FROM users GROUP BY nosuch SUM age');
-- true and 2, 3, 1.5 are different keys; missing level is null
-- expect: {"level": null, "count": 2}, {"level": "senior", "count": 1}, {"level": 2, "count": 1}, {"level": 3, "count": 1}, {"level": true, "count": 1}, {"level": 1.5, "count": 1}, {"level": "junior", "count": 1}
SELECT nql('FROM users GROUP BY level');
-- expect: {"city": "Oslo", "count": 1}, {"city": "Lyon", "count": 1}, {"city": "Berlin", "count": 2}, {"city": "paris", "count": 1}, {"city": null, "count": 1}, {"city": "Rome", "count": 1}, {"city": "Paris", "count": 1}
SELECT nql('FROM users AS OF 7 GROUP BY city COUNT');
-- expect: {"city": "Paris", "count": 1}, {"city": "Berlin", "count": 2}, {"city": null, "count": 1}
SELECT nql('FROM users SEARCH "er" GROUP BY city');
-- expect: {"city": "Berlin", "count": 1}, {"city": "paris", "count": 1}
SELECT nql('FROM users WHERE _id = alice TRAVERSE follows GROUP BY city');
-- expect: {"author": "alice", "count": 1}, {"author": "carol", "count": 1}, {"author": "dave", "count": 1}
SELECT nql('FROM notes SEARCH "rust" GROUP BY author');
-- keywords as names
-- expect: {"order": 5, "count": 2, "sum_limit": 3}, {"order": 6, "count": 1, "sum_limit": 0}
SELECT nql('FROM count GROUP BY order SUM limit');
-- VALID filters before GROUP BY
-- expect: {"kind": "a", "count": 1}, {"kind": "b", "count": 2}
SELECT nql('FROM contracts VALID AS OF "2024-12-31" GROUP BY kind');
-- expect: {"kind": "b", "count": 2}
SELECT nql('FROM contracts VALID AS OF "2030-01-01" GROUP BY kind COUNT');

-- ======================================================================
-- GROUP BY on mixed types: 1, 1.0 and true are one key (the first seen); bools are numbers
-- ======================================================================
-- expect: {"x": 1, "count": 3}, {"x": "1", "count": 1}, {"x": 0, "count": 2}, {"x": null, "count": 2}, {"x": 2.5, "count": 1}, {"x": -3, "count": 1}, {"x": "abc", "count": 1}
SELECT nql('FROM mix GROUP BY x');
-- expect: {"x": true, "count": 3}
SELECT nql('FROM mix WHERE x = 1 ORDER BY _id DESC GROUP BY x');
-- expect: {"g": "a", "count": 6, "sum_x": 4.5}, {"g": "b", "count": 5, "sum_x": -2}
SELECT nql('FROM mix GROUP BY g SUM x');
-- expect: {"g": "a", "count": 6, "avg_x": 1.125}, {"g": "b", "count": 5, "avg_x": -0.6666666666666666}
SELECT nql('FROM mix GROUP BY g AVG x');
-- expect: {"g": "a", "count": 6, "min_x": 0}, {"g": "b", "count": 5, "min_x": -3}
SELECT nql('FROM mix GROUP BY g MIN x');
-- MAX can be true
-- expect: {"g": "a", "count": 6, "max_x": 2.5}, {"g": "b", "count": 5, "max_x": true}
SELECT nql('FROM mix GROUP BY g MAX x');
-- MIN can be true; min/max return the first of equal values
-- expect: {"g": "a", "count": 3, "min_x": 1}, {"g": "b", "count": 1, "min_x": true}
SELECT nql('FROM mix WHERE x >= 1 GROUP BY g MIN x');
-- expect: {"g": "a", "count": 2, "max_x": 1}, {"g": "b", "count": 1, "max_x": true}
SELECT nql('FROM mix WHERE x = 1 GROUP BY g MAX x');
-- now 1.0 is seen first in group a
-- expect: {"g": "b", "count": 1, "max_x": true}, {"g": "a", "count": 2, "max_x": 1.0}
SELECT nql('FROM mix WHERE x = 1 ORDER BY _id DESC GROUP BY g MAX x');
-- sum of [true] is the int 1; 1.0 + 1 is the float 2.0
-- expect: {"g": "b", "count": 1, "sum_x": 1}, {"g": "a", "count": 2, "sum_x": 2.0}
SELECT nql('FROM mix WHERE x = 1 ORDER BY _id DESC GROUP BY g SUM x');
-- expect: {"g": "a", "count": 4, "avg_x": 1.125}, {"g": "b", "count": 2, "avg_x": 0.5}
SELECT nql('FROM mix WHERE x >= 0 GROUP BY g AVG x');
-- no numbers: null
-- expect: {"g": "a", "count": 1, "min_x": null}, {"g": "b", "count": 1, "min_x": null}
SELECT nql('FROM mix WHERE x = null GROUP BY g MIN x');

-- ======================================================================
-- syntax errors: SQLSTATE 42601 and the reference message (section 12.3)
-- ======================================================================
-- expect: 42601: NQL: expected 'FROM', got None
SELECT nql_err('');
-- expect: 42601: NQL: expected 'FROM', got None
SELECT nql_err('   ');
-- expect: 42601: NQL: expected 'FROM', got 'users'
SELECT nql_err('users WHERE age > 1');
-- expect: 42601: NQL: expected 'FROM', got 'SELECT'
SELECT nql_err('SELECT name FROM users');
-- the lexer runs before the parser
-- expect: 42601: NQL: cannot tokenize near: '* FROM users'
SELECT nql_err('SELECT* FROM users');
-- expect: 42601: NQL: expected collection after FROM
SELECT nql_err('FROM');
-- expect: 42601: NQL: expected collection after FROM
SELECT nql_err('FROM "users"');
-- expect: 42601: NQL: expected field in WHERE
SELECT nql_err('FROM users WHERE');
-- a dangling AND
-- expect: 42601: NQL: expected field in WHERE
SELECT nql_err('FROM users WHERE age > 1 AND');
-- expect: 42601: NQL: expected field in WHERE
SELECT nql_err('FROM users WHERE 5 = 5');
-- expect: 42601: NQL: expected operator in WHERE
SELECT nql_err('FROM users WHERE age 5');
-- expect: 42601: NQL: expected operator in WHERE
SELECT nql_err('FROM users WHERE age');
-- expect: 42601: NQL: expected value, got None
SELECT nql_err('FROM users WHERE age >');
-- == lexes as = =
-- expect: 42601: NQL: expected value, got '='
SELECT nql_err('FROM users WHERE age == 1');
-- expect: 42601: NQL: expected value, got 'from'
SELECT nql_err('FROM users WHERE name = from');
-- expect: 42601: NQL: AS OF expects an integer seq
SELECT nql_err('FROM users AS OF abc');
-- expect: 42601: NQL: AS OF expects an integer seq
SELECT nql_err('FROM users AS OF');
-- expect: 42601: NQL: AS OF expects an integer seq
SELECT nql_err('FROM users AS OF "5"');
-- expect: 42601: NQL: expected 'OF', got 5
SELECT nql_err('FROM users AS 5');
-- expect: 42601: NQL: LIMIT expects an integer
SELECT nql_err('FROM users LIMIT x');
-- expect: 42601: NQL: LIMIT expects an integer
SELECT nql_err('FROM users LIMIT');
-- expect: 42601: NQL: SEARCH expects a quoted string
SELECT nql_err('FROM users SEARCH rust');
-- expect: 42601: NQL: SEARCH expects a quoted string
SELECT nql_err('FROM users SEARCH');
-- expect: 42601: NQL: expected 'BY', got 'age'
SELECT nql_err('FROM users ORDER age');
-- expect: 42601: NQL: expected field after ORDER BY
SELECT nql_err('FROM users ORDER BY');
-- expect: 42601: NQL: expected field after ORDER BY
SELECT nql_err('FROM users ORDER BY 5');
-- expect: 42601: NQL: expected field after GROUP BY
SELECT nql_err('FROM users GROUP BY');
-- expect: 42601: NQL: expected 'BY', got 'city'
SELECT nql_err('FROM users GROUP city');
-- expect: 42601: NQL: SUM expects a field name
SELECT nql_err('FROM users GROUP BY city SUM');
-- (extrapolated from the SUM message)
-- expect: 42601: NQL: AVG expects a field name
SELECT nql_err('FROM users GROUP BY city AVG');
-- (extrapolated from the SUM message)
-- expect: 42601: NQL: MAX expects a field name
SELECT nql_err('FROM users GROUP BY city max "age"');
-- expect: 42601: NQL: VALID AS OF expects a quoted date string
SELECT nql_err('FROM contracts VALID AS OF 2024');
-- expect: 42601: NQL: VALID AS OF expects a quoted date string
SELECT nql_err('FROM contracts VALID');
-- expect: 42601: NQL: expected relation after TRAVERSE
SELECT nql_err('FROM users TRAVERSE');
-- expect: 42601: NQL: expected relation after TRAVERSE
SELECT nql_err('FROM users TRAVERSE "follows"');
-- expect: 42601: NQL: expected field name after TRACE
SELECT nql_err('FROM facts TRACE');
-- an unterminated string
-- expect: 42601: NQL: cannot tokenize near: '"Alice'
SELECT nql_err('FROM users WHERE name ="Alice');
-- at most 20 characters
-- expect: 42601: NQL: cannot tokenize near: ';DROP TABLE users an'
SELECT nql_err('FROM users WHERE age > 1;DROP TABLE users and more');
-- expect: 42601: NQL: cannot tokenize near: '.x'
SELECT nql_err('FROM users.x');
-- expect: 42601: NQL: cannot tokenize near: '-x'
SELECT nql_err('FROM users WHERE age >-x');
-- expect: 42601: NQL: cannot tokenize near: ',name'
SELECT nql_err('FROM users ORDER BY age DESC,name');
-- expect: 42601: NQL: cannot tokenize near: '.5'
SELECT nql_err('FROM users WHERE age >.5');
-- expect: 42601: NQL: unexpected trailing tokens: [('word', 'OR'), ('word', 'bob')]
SELECT nql_err('FROM users OR bob');
-- no exponent in numbers: 3 then e1
-- expect: 42601: NQL: unexpected trailing tokens: [('word', 'e1')]
SELECT nql_err('FROM users WHERE age = 3e1');
-- expect: 42601: NQL: unexpected trailing tokens: [('word', 'OR'), ...   (only this prefix is checked)
SELECT nql_err('FROM users WHERE age > 1 OR age < 1') LIKE '42601: NQL: unexpected trailing tokens: [(''word'', ''OR''), %' AS ok;
-- expect: 42601: NQL: unexpected trailing tokens: [('word', 'OFFSET'), ...   (only this prefix is checked)
SELECT nql_err('FROM users WHERE age > 1 OFFSET 5') LIKE '42601: NQL: unexpected trailing tokens: [(''word'', ''OFFSET''), %' AS ok;
-- a clause out of order
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM users LIMIT 5 WHERE age > 1') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM users GROUP BY city COUNT LIMIT 2') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- each clause at most once
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM users LIMIT 1 LIMIT 2') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM users AS OF 1 AS OF 2') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM contracts VALID "2024-01-01" WHERE n > 1 VALID "2024-02-01"') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM users ORDER BY age ASC DESC') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- no REVERSE for TRAVERSE
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM users TRAVERSE follows REVERSE') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- expect: 42601: NQL: unexpected trailing tokens: [...   (only this prefix is checked)
SELECT nql_err('FROM users SEARCH "rust" WHERE age > 1') LIKE '42601: NQL: unexpected trailing tokens: [%' AS ok;
-- valid queries through the helper: no error
-- expect: ok: 8 rows
SELECT nql_err('FROM users');
-- expect: ok: 0 rows
SELECT nql_err('FROM nosuch');

-- nql is a plain set-returning function
-- expect: 8, 2
SELECT (SELECT count(*) FROM nql('FROM users')) AS users,
       (SELECT count(*) FROM nql('FROM users') r WHERE r ->> 'city' = 'Berlin') AS in_berlin;
-- expect: 58 (nothing was written by the queries above)
SELECT nedb.seq() AS last_seq;
-- expect: t
SELECT nedb.verify();
