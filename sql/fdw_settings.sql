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
-- Dates, times and other values Postgres writes by the session's settings
-- are stored in one form, and read back alike in every session
-- ---------------------------------------------------------------------------
CREATE FOREIGN TABLE ev (_id text, d date, ts timestamp, at timestamptz, tm time, ttz timetz,
                         iv interval, by bytea, f8 float8, f4 real, n numeric, ok boolean,
                         ats timestamptz[], rng tstzrange, fa float8[], doc jsonb)
  SERVER nedb OPTIONS (collection 'ev');
-- the report: a date written under DMY read back under MDY as April 3
SET DateStyle = 'SQL, DMY';
INSERT INTO ev (_id, d) VALUES ('dmy', '04/03/2024');
SET DateStyle = 'SQL, MDY';
SELECT d, to_char(d, 'FMDD Month YYYY') FROM ev WHERE _id = 'dmy';
RESET DateStyle;
SELECT doc ->> 'd' AS stored FROM ev WHERE _id = 'dmy';

-- the same values written under every DateStyle, time zones with negative,
-- half-hour and 45-minute offsets, every IntervalStyle, both bytea_outputs
-- and extra_float_digits from -15 to 3: one stored document
CREATE TEMP TABLE styles (style) AS VALUES ('ISO, MDY'), ('ISO, DMY'), ('ISO, YMD'),
  ('SQL, MDY'), ('SQL, DMY'), ('SQL, YMD'), ('Postgres, MDY'), ('Postgres, DMY'),
  ('Postgres, YMD'), ('German');
CREATE TEMP TABLE zones (zone) AS VALUES ('UTC'), ('America/New_York'), ('Asia/Kolkata'),
  ('America/St_Johns'), ('Pacific/Chatham'), ('Etc/GMT+12');
CREATE TEMP TABLE istyles (istyle) AS VALUES ('postgres'), ('postgres_verbose'),
  ('sql_standard'), ('iso_8601');
DO $$
DECLARE
    r record;
    i int := 0;
BEGIN
    FOR r IN SELECT style, zone FROM styles, zones ORDER BY 1, 2 LOOP
        i := i + 1;
        PERFORM set_config('DateStyle', r.style, true);
        PERFORM set_config('TimeZone', r.zone, true);
        PERFORM set_config('IntervalStyle', (SELECT istyle FROM istyles OFFSET i % 4 LIMIT 1), true);
        PERFORM set_config('bytea_output', CASE WHEN i % 2 = 0 THEN 'hex' ELSE 'escape' END, true);
        PERFORM set_config('extra_float_digits', (i % 19 - 15)::text, true);
        INSERT INTO ev VALUES ('w' || i, date '2024-03-04', timestamp '2024-03-04 12:34:56.789',
            timestamptz '2024-03-04 12:00:00.5+00', time '12:34:56', timetz '12:34:56+05:30',
            make_interval(1, 2, 0, 3, 4, 5, 6.7), '\x00ff41', 0.1, 0.1, 1234.5678, true,
            ARRAY[timestamptz '2024-03-04 12:00:00.5+00', timestamptz '2024-12-31 23:59:59+00'],
            tstzrange('2024-03-04 12:00+00', '2024-03-05 00:00+00'), ARRAY[0.1, 1 / 3.0::float8]);
    END LOOP;
END $$;
SELECT count(*) AS written, count(DISTINCT doc - '_id' - '_seq') AS stored_forms
  FROM ev WHERE _id LIKE 'w%';
SELECT jsonb_pretty(doc - '_id' - '_seq') AS stored FROM ev WHERE _id = 'w1';

-- read back under every DateStyle, zone and IntervalStyle: the same values
CREATE FUNCTION read_alike(style text, zone text, istyle text) RETURNS text LANGUAGE plpgsql
  SET DateStyle = 'ISO' SET TimeZone = 'UTC' SET IntervalStyle = 'postgres' AS $$
DECLARE res text;
BEGIN
    PERFORM set_config('DateStyle', style, true);
    PERFORM set_config('TimeZone', zone, true);
    PERFORM set_config('IntervalStyle', istyle, true);
    SELECT count(*) FILTER (WHERE d = date '2024-03-04' AND ts = timestamp '2024-03-04 12:34:56.789'
        AND at = timestamptz '2024-03-04 12:00:00.5+00' AND tm = time '12:34:56'
        AND ttz = timetz '12:34:56+05:30' AND iv = make_interval(1, 2, 0, 3, 4, 5, 6.7)
        AND by = '\x00ff41'::bytea AND f8 = 0.1::float8 AND f4 = 0.1::real AND n = 1234.5678 AND ok
        AND ats = ARRAY[timestamptz '2024-03-04 12:00:00.5+00', timestamptz '2024-12-31 23:59:59+00']
        AND rng = tstzrange('2024-03-04 12:00+00', '2024-03-05 00:00+00')
        AND fa = ARRAY[0.1, 1 / 3.0::float8])
        || '/' || count(*) INTO res FROM ev WHERE _id LIKE 'w%';
    RETURN res;
END $$;
SELECT read_alike(style, zone, istyle) AS same_values, count(*) AS sessions
  FROM styles, zones, istyles GROUP BY 1;
-- as a person sees them in two of those sessions
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
SET IntervalStyle = 'sql_standard';
SET bytea_output = 'escape';
SELECT d, ts, at, iv, by, ats[1] AS ats1, upper(rng) AS rng_upper FROM ev WHERE _id = 'w1';
SET DateStyle = 'German';
SET TimeZone = 'Asia/Kolkata';
SET IntervalStyle = 'postgres_verbose';
SELECT d, ts, at, iv, by, ats[1] AS ats1, upper(rng) AS rng_upper FROM ev WHERE _id = 'w1';
RESET ALL;

-- an instant written from three zones orders by time in the storage too:
-- ISO 8601 in UTC sorts as text ('+' < '.' < digits keeps fractions in order)
CREATE FOREIGN TABLE evo (_id text, at timestamptz) SERVER nedb OPTIONS (collection 'evo');
SET TimeZone = 'America/New_York';
INSERT INTO evo VALUES ('o1', '2024-03-04 10:00');        -- 15:00 UTC
SET TimeZone = 'Asia/Kolkata';
INSERT INTO evo VALUES ('o2', '2024-03-04 20:00');        -- 14:30 UTC
SET TimeZone = 'UTC';
INSERT INTO evo VALUES ('o3', '2024-03-04 09:59'), ('o4', '2024-03-04 09:59:00.5');
RESET TimeZone;
SELECT r ->> '_id' AS id, r ->> 'at' AS at FROM nql('FROM evo ORDER BY at') r;
SELECT r ->> '_id' AS id FROM nql('FROM evo WHERE at > "2024-03-04T14:00" ORDER BY at DESC') r;
SELECT _id FROM evo ORDER BY at;
DROP FOREIGN TABLE evo;

-- strings written by others read the same in every session: an offset
-- decides the instant, a string without one is UTC, day and month in
-- Postgres's default order (MDY), intervals as under IntervalStyle postgres,
-- bytea in either output form
SELECT nedb.put('ev', 'other', '{"at": "2024-03-04T12:00:00.000Z", "ts": "2024-03-04 12:00",
                                 "d": "03/04/2024", "tm": "12:00", "iv": "-1 day 01:00",
                                 "by": "\\000\\377A", "ttz": "12:00:00-03:30",
                                 "ats": "{2024-03-04 12:00}"}') IS NOT NULL AS put;
SELECT nedb.put('ev', 'bare', '{"at": "2024-03-04 12:00"}') IS NOT NULL AS put;
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kolkata';
SET IntervalStyle = 'sql_standard';
CREATE TEMP TABLE seen1 AS SELECT _id, d, ts, at, tm, ttz, iv, by, ats FROM ev WHERE _id IN ('other', 'bare');
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'America/St_Johns';
SET IntervalStyle = 'postgres';
CREATE TEMP TABLE seen2 AS SELECT _id, d, ts, at, tm, ttz, iv, by, ats FROM ev WHERE _id IN ('other', 'bare');
RESET ALL;
SELECT count(*) AS differing FROM (SELECT * FROM seen1 EXCEPT SELECT * FROM seen2) x;
SELECT * FROM seen1 ORDER BY _id;
-- a string that is not a date is an error naming the document and field
SELECT nedb.put('ev', 'bad', '{"d": "04/31/2024"}') IS NOT NULL AS put;
SELECT try($$SELECT d FROM ev WHERE _id = 'bad'$$);
SELECT nedb.delete('ev', 'bad') >= 0 AS deleted;

-- a domain over a date type, infinity, BC, and years past 9999
CREATE DOMAIN day_d AS date CHECK (VALUE > '1900-01-01' OR VALUE < '0001-01-01');
CREATE FOREIGN TABLE ev2 (_id text, dd day_d, at timestamptz, d date) SERVER nedb OPTIONS (collection 'ev2');
SET DateStyle = 'German';
SET TimeZone = 'Pacific/Chatham';
INSERT INTO ev2 VALUES ('x1', '04.03.2024', 'infinity', '0044-03-15 BC'),
                       ('x2', '31.12.12345', '-infinity', 'infinity'),
                       ('x3', NULL, '0044-03-15 12:00+00 BC', '10000-01-01');
SELECT _id, dd, at, d FROM ev2 ORDER BY _id;
RESET ALL;
SELECT r - '_seq' AS stored FROM nql('FROM ev2') r;
SELECT _id, dd, at, d FROM ev2 ORDER BY _id;

-- float4 is stored as its shortest decimal, float8 as its own; both exact,
-- and a domain over float8 (stored as text) likewise
CREATE DOMAIN f8_d AS float8;
CREATE FOREIGN TABLE evf (_id text, fd f8_d) SERVER nedb OPTIONS (collection 'ev');
SET extra_float_digits = -15;
INSERT INTO evf VALUES ('fd', 1 / 3.0);
SET extra_float_digits = 3;
SELECT doc ->> 'fd' AS fd_stored, fd FROM ev JOIN evf USING (_id) WHERE _id = 'fd';
DROP FOREIGN TABLE evf;
DROP DOMAIN f8_d;
INSERT INTO ev (_id, f4, f8) VALUES ('fl', 3.14159274, 1e-7), ('fl2', 16777217, 0.1::float8 + 0.2);
SELECT doc ->> 'f4' AS f4_stored, doc ->> 'f8' AS f8_stored, f4, f8 FROM ev WHERE _id IN ('fl', 'fl2') ORDER BY _id;
RESET extra_float_digits;

-- money is refused: its text and its numbers are lc_monetary's
CREATE FOREIGN TABLE mon (_id text, m money) SERVER nedb OPTIONS (collection 'mon');
SELECT * FROM mon;
INSERT INTO mon VALUES ('m', 1);
DROP FOREIGN TABLE mon;
DROP FOREIGN TABLE ev2;
DROP DOMAIN day_d;
DROP FUNCTION read_alike(text, text, text);

-- ---------------------------------------------------------------------------
DROP FUNCTION settings_rows(text), insert_as_fn(text);
SET client_min_messages = warning;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
RESET client_min_messages;
