--
-- fdw_settings: the settings of foreign-table writes and reads are
-- transaction state, never session state; an idempotent no-op is reported
-- as one; dates, times and the other session-formatted types are stored in
-- one canonical form whatever the session's settings
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
CREATE FOREIGN TABLE st (_id text, _seq bigint, a int, b int) SERVER nedb OPTIONS (collection 'st');

-- the rows a statement reports (its command tag's count)
CREATE FUNCTION settings_rows(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE q;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- ---------------------------------------------------------------------------
-- A session-level value is refused when its transaction commits
-- ---------------------------------------------------------------------------
-- the report: after SET nedb.idem every INSERT was a no-op that returned its row
SET nedb.idem = 'k1';
SHOW nedb.idem;
INSERT INTO st VALUES ('y', NULL, 1, 1);
INSERT INTO st VALUES ('z', NULL, 2, 2) RETURNING _id, a;
SELECT _id, a FROM st ORDER BY _id;
SELECT id, idem FROM nedb.ops ORDER BY seq;
-- every setting, by SET, SET SESSION and set_config(..., false)
\set VERBOSITY terse
SET nedb.client = 'svc';
SET SESSION nedb.nonce = 10;
SET nedb.as_of = 0;
SET nedb.caused_by = '{0}';
SET nedb.evidence = 'e';
SET nedb.confidence = 0.5;
SET nedb.valid_from = '2024-01-01';
SET nedb.valid_to = '2024-12-31';
SELECT set_config('nedb.idem', 'k1', false);
DO $$ BEGIN PERFORM set_config('nedb.client', 'from-plpgsql', false); END $$;
\set VERBOSITY default
SELECT name, setting, source FROM pg_settings
 WHERE name IN ('nedb.as_of', 'nedb.client', 'nedb.nonce', 'nedb.idem', 'nedb.caused_by',
                'nedb.evidence', 'nedb.confidence', 'nedb.valid_from', 'nedb.valid_to')
 ORDER BY name;
-- nothing stays armed: the next write is plain
INSERT INTO st VALUES ('x', NULL, 0, 0);
SELECT id, client, nonce, idem, evidence FROM nedb.ops WHERE id = 'x';
-- what RESET gives is no session value
SET nedb.client = DEFAULT;
SET nedb.client = 'local';
SET nedb.idem = '';
RESET nedb.as_of;
RESET ALL;
-- in a transaction block the write refuses a value that would outlive it
BEGIN;
SET nedb.idem = 'k2';
INSERT INTO st VALUES ('w', NULL, 3, 3);
ROLLBACK;
SHOW nedb.idem;
-- and so does COMMIT, which then rolls the transaction back
BEGIN;
SET nedb.evidence = 'e';
SELECT 1 AS one;
COMMIT;
SHOW nedb.evidence;
-- SET then SET LOCAL: the write takes the local value, but COMMIT refuses the
-- session's
BEGIN;
SET nedb.client = 'sess';
SET LOCAL nedb.client = 'loc';
INSERT INTO st VALUES ('sl', NULL, 1, 1);
COMMIT;
SELECT count(*) AS sl_rolled_back FROM st WHERE _id = 'sl';
SHOW nedb.client;
-- SET LOCAL then SET: the SET is the value for the session
BEGIN;
SET LOCAL nedb.client = 'loc';
SET nedb.client = 'sess';
SELECT try($$INSERT INTO st VALUES ('ls', NULL, 1, 1)$$);
ROLLBACK;

-- ---------------------------------------------------------------------------
-- SET LOCAL (and its equivalents) is honored, for its transaction only
-- ---------------------------------------------------------------------------
BEGIN;
SET LOCAL nedb.client = 'c1';
SET LOCAL nedb.evidence = 'ev';
INSERT INTO st VALUES ('l1', NULL, 1, 1);
UPDATE st SET b = 2 WHERE _id = 'l1';
COMMIT;
SHOW nedb.client;
SHOW nedb.evidence;
INSERT INTO st VALUES ('l2', NULL, 1, 1);
-- set_config(..., true) in the statement's own transaction
SELECT set_config('nedb.client', 'c2', true),
       settings_rows($$INSERT INTO st VALUES ('l3', NULL, 1, 1)$$);
INSERT INTO st VALUES ('l4', NULL, 1, 1);
-- a function's SET clause, for the function's call
CREATE FUNCTION insert_as_fn(id text) RETURNS bigint LANGUAGE plpgsql
  SET nedb.client = 'fn' AS $$
BEGIN
    INSERT INTO st (_id, a) VALUES (id, 9);
    RETURN nedb.seq();
END $$;
SELECT insert_as_fn('f1') >= 0 AS ok;
SHOW nedb.client;
-- a savepoint rolled back takes its SET LOCAL with it; a released one keeps it
BEGIN;
SAVEPOINT s;
SET LOCAL nedb.client = 'sp';
ROLLBACK TO s;
INSERT INTO st VALUES ('sp1', NULL, 1, 1);
SAVEPOINT s2;
SET LOCAL nedb.client = 'sp';
RELEASE s2;
INSERT INTO st VALUES ('sp2', NULL, 1, 1);
COMMIT;
-- a rolled-back transaction leaves nothing set
BEGIN;
SET LOCAL nedb.client = 'gone';
SET LOCAL nedb.idem = 'gone';
ROLLBACK;
INSERT INTO st VALUES ('rb', NULL, 1, 1);
SELECT id, client, idem, evidence FROM nedb.ops
 WHERE id IN ('l1', 'l2', 'l3', 'l4', 'f1', 'sp1', 'sp2', 'rb') ORDER BY seq;

-- reads: nedb.as_of likewise
BEGIN;
SET LOCAL nedb.as_of = 1;
SELECT _id FROM st ORDER BY _id;
COMMIT;
SELECT count(*) > 2 AS current_again FROM st;
BEGIN;
SET nedb.as_of = 1;
SELECT count(*) FROM st;
ROLLBACK;

-- ---------------------------------------------------------------------------
-- Configured defaults: honored, except for nedb.idem and nedb.nonce
-- ---------------------------------------------------------------------------
\c -reuse-previous=on "options='-c nedb.client=conf -c nedb.evidence=conf-ev'"
SHOW nedb.client;
INSERT INTO st VALUES ('cf1', NULL, 1, 1);
SELECT id, client, evidence FROM nedb.ops WHERE id = 'cf1';
-- a SET to the configured value is that value; another is refused
SET nedb.client = 'conf';
SET nedb.client = 'other';
SHOW nedb.client;
-- SET LOCAL overrides the default in its transaction
BEGIN;
SET LOCAL nedb.client = 'loc';
INSERT INTO st VALUES ('cf2', NULL, 1, 1);
COMMIT;
SELECT id, client FROM nedb.ops WHERE id = 'cf2';
\c -reuse-previous=on "options='-c nedb.idem=conf-key'"
INSERT INTO st VALUES ('cf3', NULL, 1, 1);
\c -reuse-previous=on "options='-c nedb.nonce=5'"
INSERT INTO st VALUES ('cf3', NULL, 1, 1);
-- SET LOCAL in the transaction is still honored
BEGIN;
SET LOCAL nedb.client = 'cfn';
SET LOCAL nedb.nonce = 7;
INSERT INTO st VALUES ('cf3', NULL, 1, 1);
COMMIT;
SELECT id, client, nonce FROM nedb.ops WHERE id = 'cf3';
\c -reuse-previous=on "options=''"
-- ALTER ROLE ... SET
SELECT current_user AS me \gset
CREATE ROLE nedb_settings_role LOGIN;
GRANT SELECT, INSERT ON st TO nedb_settings_role;
ALTER ROLE nedb_settings_role SET nedb.client = 'role-client';
\c - nedb_settings_role
INSERT INTO st (_id, a) VALUES ('r1', 1);
\c - :me
SELECT id, client FROM nedb.ops WHERE id = 'r1';
REVOKE ALL ON st FROM nedb_settings_role;
DROP ROLE nedb_settings_role;

-- ---------------------------------------------------------------------------
-- nedb.nonce and nedb.idem are for one write statement
-- ---------------------------------------------------------------------------
BEGIN;
SET LOCAL nedb.client = 'n';
SET LOCAL nedb.nonce = 1;
INSERT INTO st VALUES ('n1', NULL, 1, 1), ('n2', NULL, 2, 2);
SELECT try($$INSERT INTO st VALUES ('n3', NULL, 3, 3)$$);
SELECT try($$UPDATE st SET a = 0 WHERE _id = 'n1'$$);
SET LOCAL nedb.nonce = 3;
INSERT INTO st VALUES ('n3', NULL, 3, 3);
-- a statement that failed in a rolled-back savepoint gives its nonce up
SET LOCAL nedb.nonce = 4;
SAVEPOINT a;
INSERT INTO st VALUES ('n1', NULL, 1, 1);
ROLLBACK TO a;
INSERT INTO st VALUES ('n4', NULL, 4, 4);
-- nor can two writes to nedb tables in one statement share it (each would
-- start at it)
SET LOCAL nedb.nonce = 5;
SELECT try($$WITH w AS (INSERT INTO st VALUES ('n5', NULL, 5, 5) RETURNING _id)
             INSERT INTO st SELECT 'n6', NULL, 6, 6 FROM w$$);
SET LOCAL nedb.nonce = 5;
INSERT INTO st VALUES ('n5', NULL, 5, 5);
COMMIT;
SELECT id, client, nonce FROM nedb.ops WHERE client = 'n' ORDER BY seq;

-- a known idempotency key: the write was done before, this one is skipped,
-- returns no row and is not counted (INSERT 0 0, UPDATE 0, DELETE 0, COPY 0)
SELECT nedb.seq() AS seq_before \gset
BEGIN;
SET LOCAL nedb.idem = 'i1';
SELECT settings_rows($$INSERT INTO st VALUES ('k1', NULL, 1, 1)$$);
COMMIT;
BEGIN;
SET LOCAL nedb.idem = 'i1';
SELECT settings_rows($$INSERT INTO st VALUES ('k2', NULL, 2, 2)$$);
COMMIT;
BEGIN;
SET LOCAL nedb.idem = 'i1';
INSERT INTO st VALUES ('k2', NULL, 2, 2) RETURNING _id, a;
COMMIT;
BEGIN;
SET LOCAL nedb.idem = 'i1';
SELECT settings_rows($$UPDATE st SET a = 5 WHERE _id = 'k1'$$);
COMMIT;
BEGIN;
SET LOCAL nedb.idem = 'i1';
DELETE FROM st WHERE _id = 'k1' RETURNING _id;
COMMIT;
BEGIN;
SET LOCAL nedb.idem = 'i1';
COPY st (_id, a) FROM STDIN;
k3	3
\.
COMMIT;
-- with ON CONFLICT DO NOTHING too
BEGIN;
SET LOCAL nedb.idem = 'i1';
SELECT settings_rows($$INSERT INTO st VALUES ('k4', NULL, 2, 2) ON CONFLICT DO NOTHING$$);
COMMIT;
-- still one row per statement
BEGIN;
SET LOCAL nedb.idem = 'i1';
SELECT try($$INSERT INTO st VALUES ('k5', NULL, 1, 1), ('k6', NULL, 2, 2)$$);
COMMIT;
SELECT _id, a FROM st WHERE _id LIKE 'k%' ORDER BY _id;
SELECT seq - :seq_before AS seq, op, id, idem FROM nedb.ops WHERE seq > :seq_before ORDER BY seq;
-- in one transaction: the key is for one statement; SET LOCAL again to retry
BEGIN;
SET LOCAL nedb.idem = 'i2';
INSERT INTO st VALUES ('m1', NULL, 1, 1);
SELECT try($$INSERT INTO st VALUES ('m2', NULL, 2, 2)$$);
SET LOCAL nedb.idem = 'i2';
SELECT settings_rows($$INSERT INTO st VALUES ('m2', NULL, 2, 2)$$);
SET LOCAL nedb.idem = 'i3';
SELECT settings_rows($$INSERT INTO st VALUES ('m2', NULL, 2, 2)$$);
COMMIT;
SELECT id, idem FROM nedb.ops WHERE id LIKE 'm%' ORDER BY seq;
-- the full error of a reused key
BEGIN;
SET LOCAL nedb.idem = 'i4';
INSERT INTO st VALUES ('m3', NULL, 1, 1);
INSERT INTO st VALUES ('m4', NULL, 1, 1);
ROLLBACK;

-- ---------------------------------------------------------------------------
DROP FUNCTION settings_rows(text), insert_as_fn(text);
SET client_min_messages = warning;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
RESET client_min_messages;
