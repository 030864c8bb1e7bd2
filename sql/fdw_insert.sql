--
-- fdw_insert: INSERT through a foreign table inserts: an id that has a live
-- document is a unique violation (23505), ON CONFLICT DO NOTHING skips it,
-- table option insert 'replace' makes INSERT a put; a role with only INSERT
-- can neither replace nor hide a document.
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- the row count a statement reports (its command tag's count)
CREATE FUNCTION rows_of(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE q;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- the fields of the error a statement raises
CREATE FUNCTION err_fields(q text, OUT state text, OUT detail text, OUT schema_name text,
                           OUT table_name text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL,
                            schema_name = SCHEMA_NAME, table_name = TABLE_NAME;
END $$;

CREATE FOREIGN TABLE ft (_id text, _seq bigint, a int, b int, doc jsonb) SERVER nedb;
INSERT INTO ft (_id, a, b) VALUES ('x', 1, 2);

-- ---------------------------------------------------------------------------
-- A plain INSERT of an existing id: 23505, nothing written
-- ---------------------------------------------------------------------------
SELECT nedb.seq() AS seq_before \gset
SELECT try($$INSERT INTO ft (_id, a) VALUES ('x', 9)$$);
-- the report as a client sees it, and the fields ORMs read
INSERT INTO ft (_id, a) VALUES ('x', 9);
SELECT * FROM err_fields($$INSERT INTO ft (_id, a) VALUES ('x', 9)$$);
-- the id inside doc, with no _id column value, is the same document
SELECT try($$INSERT INTO ft (doc) VALUES ('{"_id": "x", "a": 9}')$$);
-- a row of a multi-row statement fails it whole
SELECT try($$INSERT INTO ft (_id, a) VALUES ('new1', 1), ('x', 9)$$);
-- the same new id twice in one statement: the second is the duplicate
SELECT try($$INSERT INTO ft (_id, a) VALUES ('new2', 1), ('new2', 2)$$);
SELECT nedb.seq() = :seq_before AS nothing_written;
SELECT _id, _seq, a, b FROM ft ORDER BY _id;

-- ---------------------------------------------------------------------------
-- ON CONFLICT DO NOTHING: an existing id is skipped (no op, no seq, no row)
-- ---------------------------------------------------------------------------
SELECT rows_of($$INSERT INTO ft (_id, a) VALUES ('x', 9) ON CONFLICT DO NOTHING$$);
INSERT INTO ft (_id, a) VALUES ('x', 9) ON CONFLICT DO NOTHING RETURNING *;
SELECT nedb.seq() = :seq_before AS nothing_written;
SELECT _id, a, b FROM ft;                     -- b is still there
-- several rows: the new ones are inserted and counted, the existing skipped
SELECT rows_of($$INSERT INTO ft (_id, a) VALUES ('y', 1), ('x', 9), ('z', 2) ON CONFLICT DO NOTHING$$);
INSERT INTO ft (_id, a) VALUES ('x', 9), ('w', 3), ('y', 9), ('w', 4) ON CONFLICT DO NOTHING
  RETURNING _id, _seq, a;
SELECT _id, _seq, a, b FROM ft ORDER BY _id;
SELECT seq, op, id FROM nedb.ops WHERE seq > :seq_before ORDER BY seq;
-- from a query, with RETURNING counted in a CTE
WITH ins AS (INSERT INTO ft (_id, a) SELECT 'q' || i, i FROM generate_series(1, 4) i
             UNION ALL SELECT 'x', 0 ON CONFLICT DO NOTHING RETURNING _id)
SELECT count(*) FROM ins;
SELECT rows_of($$INSERT INTO ft (_id, a) SELECT 'q' || i, i FROM generate_series(1, 5) i ON CONFLICT DO NOTHING$$);
-- skipped rows take no nonce: the written ones take consecutive nonces
BEGIN;
SET LOCAL nedb.client = 'ins';
SET LOCAL nedb.nonce = 100;
INSERT INTO ft (_id) VALUES ('n1'), ('x'), ('n2') ON CONFLICT DO NOTHING;
COMMIT;
SELECT id, client, nonce FROM nedb.ops WHERE client = 'ins' ORDER BY seq;
-- a conflict target needs an index, which a foreign table cannot have
SELECT try($$INSERT INTO ft (_id, a) VALUES ('x', 9) ON CONFLICT (_id) DO NOTHING$$);
SELECT try($$INSERT INTO ft (_id, a) VALUES ('x', 9) ON CONFLICT (_id) DO UPDATE SET a = excluded.a$$);
SELECT try($$INSERT INTO ft (_id, a) VALUES ('x', 9) ON CONFLICT DO UPDATE SET a = 1$$);

-- ---------------------------------------------------------------------------
-- COPY: a row of an existing id fails the COPY, which writes nothing
-- ---------------------------------------------------------------------------
SELECT nedb.seq() AS seq_before \gset
SELECT try($$COPY ft (_id, a) FROM PROGRAM 'printf "c1\t1\nx\t2\n"'$$);
SELECT try($$COPY ft (_id, a) FROM PROGRAM 'printf "c1\t1\nc1\t2\n"'$$);
SELECT nedb.seq() = :seq_before AS nothing_written;
COPY ft (_id, a) FROM STDIN;
c1	1
c2	2
\.
SELECT _id, a FROM ft WHERE _id LIKE 'c%' ORDER BY 1;

-- rows routed to a partition that is a nedb foreign table: the same
CREATE TABLE ins_parts (_id text, a int) PARTITION BY LIST (a);
CREATE FOREIGN TABLE ins_part1 PARTITION OF ins_parts FOR VALUES IN (1, 2) SERVER nedb
  OPTIONS (collection 'ft');
SELECT try($$INSERT INTO ins_parts VALUES ('x', 1)$$);
INSERT INTO ins_parts VALUES ('x', 1), ('pp', 2) ON CONFLICT DO NOTHING RETURNING *;
DROP TABLE ins_parts;

-- ---------------------------------------------------------------------------
-- Deleted and expired documents are absent: INSERT makes a new version
-- ---------------------------------------------------------------------------
DELETE FROM ft WHERE _id = 'y';
INSERT INTO ft (_id, a) VALUES ('y', 7) RETURNING _id, a, b;
SELECT op FROM nedb.history('ft', 'y');
SELECT nedb.delete('ft', 'z') > 0 AS deleted;
SELECT rows_of($$INSERT INTO ft (_id, a) VALUES ('z', 8) ON CONFLICT DO NOTHING$$);
-- expired but not swept: reads do not see it, so INSERT does not either
SELECT nedb.put('ft', 'e', '{"a": 1, "_expires_at": 0}') - '_seq';
SELECT count(*) FROM ft WHERE _id = 'e';
INSERT INTO ft (_id, a) VALUES ('e', 2) RETURNING _id, a, doc - '_seq';
SELECT nedb.sweep();                         -- the new version has no _expires_at
SELECT _id, a FROM ft WHERE _id = 'e';
-- a document that expires later is live
SELECT nedb.put('ft', 'later', '{"a": 1}', ttl => '1 hour') ->> '_id';
SELECT try($$INSERT INTO ft (_id, a) VALUES ('later', 2)$$);

-- ---------------------------------------------------------------------------
-- Table option insert 'replace': INSERT is a put (today's nedb.put)
-- ---------------------------------------------------------------------------
CREATE FOREIGN TABLE ft_put (_id text, a int, b int) SERVER nedb OPTIONS (collection 'ft', insert 'replace');
INSERT INTO ft_put (_id, a) VALUES ('x', 9) RETURNING *;     -- replaces: b is gone
SELECT op FROM nedb.history('ft', 'x');
-- ON CONFLICT DO NOTHING still skips an existing id
SELECT rows_of($$INSERT INTO ft_put (_id, a) VALUES ('x', 10), ('r1', 1) ON CONFLICT DO NOTHING$$);
SELECT _id, a FROM ft_put WHERE _id IN ('x', 'r1') ORDER BY 1;
CREATE FOREIGN TABLE ft_unique (_id text, a int) SERVER nedb OPTIONS (collection 'ft', insert 'unique');
SELECT try($$INSERT INTO ft_unique VALUES ('x', 1)$$);
ALTER FOREIGN TABLE ft_unique OPTIONS (SET insert 'replace');
SELECT rows_of($$INSERT INTO ft_unique VALUES ('x', 1)$$);
SELECT try($$CREATE FOREIGN TABLE ft_bad (_id text) SERVER nedb OPTIONS (insert 'ignore')$$);
SELECT try($$ALTER FOREIGN TABLE ft_unique OPTIONS (SET insert '')$$);

-- ---------------------------------------------------------------------------
-- A role with only INSERT neither replaces nor hides a document
-- ---------------------------------------------------------------------------
CREATE FOREIGN TABLE acct (_id text, balance int, doc jsonb) SERVER nedb;
INSERT INTO acct (_id, balance) VALUES ('alice', 100), ('bob', 50);
CREATE ROLE nedb_insert_only;
GRANT INSERT ON acct TO nedb_insert_only;
SELECT nedb.seq() AS seq_before \gset
SET ROLE nedb_insert_only;
SELECT try($$INSERT INTO acct VALUES ('alice', 0)$$);
SELECT try($$INSERT INTO acct (_id, doc) VALUES ('bob', '{"_expires_at": 0}')$$);
SELECT try($$INSERT INTO acct (doc) VALUES ('{"_id": "bob", "balance": 0}')$$);
COPY acct (_id, balance) FROM STDIN;
dave	1
alice	0
\.
SELECT rows_of($$INSERT INTO acct VALUES ('alice', 0) ON CONFLICT DO NOTHING$$);
SELECT try($$UPDATE acct SET balance = 0 WHERE _id = 'alice'$$);
SELECT try($$DELETE FROM acct WHERE _id = 'bob'$$);
SELECT try($$SELECT * FROM acct$$);
-- a new id it may insert
SELECT rows_of($$INSERT INTO acct VALUES ('carol', 10)$$);
RESET ROLE;
SELECT _id, balance, doc - '_seq' AS doc FROM acct ORDER BY _id;
SELECT id, op FROM nedb.ops WHERE seq > :seq_before ORDER BY seq;
REVOKE ALL ON acct FROM nedb_insert_only;
DROP ROLE nedb_insert_only;

-- the chain is whole after all of this
SELECT nedb.verify();
DROP FUNCTION rows_of(text), err_fields(text);
SET client_min_messages = warning;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
RESET client_min_messages;
