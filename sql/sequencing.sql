--
-- sequencing: when a put gets its seq (nedb.sequencing).  In a transaction
-- block (auto, the default) a put that needs nothing decided under the chain
-- lock is staged and appended at COMMIT: it returns "_seq": null, and the
-- transaction still reads its own writes, with their seqs.
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SHOW nedb.sequencing;

-- autocommit: the seq is known at once
SELECT nedb.put('s', 'a0', '{"v": 0}') ->> '_seq' AS seq;

-- staged in a block: _seq null, nothing in the log until something reads
BEGIN;
SELECT nedb.put('s', 'a1', '{"v": 1}');
SELECT nedb.put('s', 'a2', '{"v": 2}', caused_by => '{0}', evidence => 'e', confidence => 0.5,
                valid_from => '2020', valid_to => '2021') - '_caused_by' AS staged_with_provenance;
SELECT count(*) AS rows_before_read FROM nedb.ops;
-- a read appends what is staged first, in order, and sees it
SELECT nedb.get('s', 'a1') ->> '_seq' AS a1_seq, nedb.get('s', 'a2') ->> '_seq' AS a2_seq;
SELECT count(*) AS rows_after_read FROM nedb.ops;
-- from then on the transaction holds the lock: seqs are known at once
SELECT nedb.put('s', 'a3', '{"v": 3}') ->> '_seq' AS seq;
COMMIT;
SELECT seq, op, payload ->> 'id' AS id, nonce FROM nedb.log ORDER BY seq;

-- nedb.chain_writers: a staged put holds no lock; an append does, to COMMIT
BEGIN;
SELECT nedb.put('s', 'cw', '{}') ->> '_seq' AS staged;
SELECT count(*) AS holders_while_staged FROM nedb.chain_writers;
SELECT nedb.seq() AS appended;
SELECT pid = pg_backend_pid() AS me, holds_chain, waiting_since IS NULL AS not_waiting
  FROM nedb.chain_writers;
COMMIT;
SELECT count(*) AS holders_after_commit FROM nedb.chain_writers;

-- a statement that reads right after staged puts sees them (a fresh snapshot)
BEGIN;
SELECT nedb.put('s', 'b1', '{"v": 1}') ->> '_seq' AS staged;
SELECT id, nedb.get('s', id) ->> '_seq' AS seq FROM (VALUES ('a1'), ('b1')) v(id);
COMMIT;

-- nql() and nedb.seq() read the transaction's staged writes
BEGIN;
SELECT nedb.put('s', 'c1', '{"v": 10}') ->> '_seq' AS staged;
SELECT doc ->> '_id' AS id, doc ->> '_seq' AS seq FROM nql('FROM s WHERE v = 10') doc;
SELECT nedb.seq();
COMMIT;

-- a foreign table reads them too, also through a prepared statement
CREATE SERVER seq_srv FOREIGN DATA WRAPPER nedb;
CREATE FOREIGN TABLE s_ft (_id text, v int, _seq bigint) SERVER seq_srv OPTIONS (collection 's');
PREPARE s_one(text) AS SELECT * FROM s_ft WHERE _id = $1;
BEGIN;
SELECT nedb.put('s', 'd1', '{"v": 20}') ->> '_seq' AS staged;
SELECT * FROM s_ft WHERE v = 20;
SELECT nedb.put('s', 'd2', '{"v": 21}') ->> '_seq' AS after_read;
COMMIT;
BEGIN;
SELECT nedb.put('s', 'd3', '{"v": 22}') ->> '_seq' AS staged;
EXECUTE s_one('d3');
COMMIT;

-- a foreign table with insert 'replace' (INSERT is a put) stages too:
-- RETURNING says _seq is NULL, not a guess; the default INSERT (unique _id)
-- is decided at the write
CREATE FOREIGN TABLE s_put (_id text, v int, _seq bigint) SERVER seq_srv
  OPTIONS (collection 's', insert 'replace');
BEGIN;
INSERT INTO s_put VALUES ('r1', 30), ('r2', 31) RETURNING *;
INSERT INTO s_ft (_id, v) VALUES ('r3', 32) RETURNING _id, _seq IS NOT NULL AS seq_known;
COMMIT;
BEGIN;
INSERT INTO s_put VALUES ('r4', 33) RETURNING _id, _seq;
SELECT count(*) AS r4_not_yet_in_the_log FROM nedb.ops WHERE id = 'r4';
COMMIT;
SELECT id, seq FROM nedb.ops WHERE id ~ '^r[0-9]' ORDER BY seq;
SELECT * FROM s_ft WHERE _id ~ '^r[0-9]' ORDER BY _seq;

-- after COMMIT every session sees the staged puts with their seqs
SELECT id, seq FROM (SELECT payload ->> 'id' AS id, seq FROM nedb.log) l WHERE id LIKE 'd%' ORDER BY seq;

-- a rolled-back block leaves no trace: no seq, no nonce
BEGIN;
SELECT nedb.put('s', 'gone', '{}') ->> '_seq' AS staged;
ROLLBACK;
SELECT nedb.seq() AS seq_unchanged, nedb.get('s', 'gone') AS gone,
       (SELECT last_nonce FROM nedb.clients WHERE client = 'local') AS last_nonce;

-- savepoints: a rolled-back subtransaction takes its writes; puts staged
-- before it but appended inside it (by its read) are staged again
BEGIN;
SELECT nedb.put('s', 'e1', '{}') ->> '_seq' AS staged;
SAVEPOINT sp;
SELECT nedb.get('s', 'e1') ->> '_seq' AS appended_inside;
SELECT nedb.put('s', 'e-gone', '{}') ->> '_seq' AS inside_seq;
ROLLBACK TO SAVEPOINT sp;
RELEASE SAVEPOINT sp;
SELECT nedb.put('s', 'e2', '{}') ->> '_seq' AS staged_again;
COMMIT;
SELECT payload ->> 'id' AS id, seq FROM nedb.log WHERE payload ->> 'id' LIKE 'e%' ORDER BY seq;
SELECT nedb.get('s', 'e-gone') AS never;

-- what needs a decision under the lock is written at once, after what is staged
BEGIN;
SELECT nedb.put('s', 'f1', '{}') ->> '_seq' AS staged;
SELECT nedb.put('s', 'f2', '{}', client => 'c', nonce => 5) ->> '_seq' AS given_nonce;
COMMIT;
BEGIN;
SELECT nedb.put('s', 'f3', '{}') ->> '_seq' AS staged;
SELECT try($$SELECT nedb.put('s', 'f4', '{}', client => 'c', nonce => 5)$$) AS stale_nonce_at_the_put;
COMMIT;
BEGIN;
SELECT nedb.put('s', 'g1', '{}') ->> '_seq' AS staged;
SELECT nedb.put('s', 'g2', '{}', idem => 'k1') ->> '_seq' AS staged_with_idem;
SELECT nedb.put('s', 'g3', '{}', ttl => '1 hour') ->> '_seq' AS with_ttl;
SELECT nedb.put('s', 'g4', '{"_seq": 7}') ->> '_seq' AS own_seq_member;
COMMIT;
BEGIN;
SELECT nedb.put('s', 'g5', '{}') ->> '_seq' AS staged;
SELECT nedb.put('s', 'g6', '{}', idem => 'k1') ->> '_seq' AS known_idem_answers_at_the_put;
SELECT nedb.delete('s', 'g5') AS delete_seq;
COMMIT;
SELECT payload ->> 'id' AS id, op, seq FROM nedb.log WHERE payload ->> 'id' ~ '^[fg]' ORDER BY seq;

-- an idempotency key is decided at the put: the transaction locks it; a
-- retry in the same transaction answers with the first op (appended first)
BEGIN;
SELECT nedb.put('s', 'i1', '{"n": 1}', idem => 'ki') ->> '_seq' AS staged;
SELECT nedb.put('s', 'i1', '{"n": 2}', idem => 'ki') - '_seq' AS retry_answers_with_the_first;
SELECT count(*) AS first_appended FROM nedb.ops WHERE idem = 'ki';
COMMIT;
SELECT nedb.get('s', 'i1') ->> 'n' AS n, (SELECT count(*) FROM nedb.ops WHERE idem = 'ki') AS ops_with_key;
-- a rolled-back staged key is free again
BEGIN;
SELECT nedb.put('s', 'i2', '{}', idem => 'kr') ->> '_seq' AS staged;
ROLLBACK;
SELECT nedb.put('s', 'i2', '{}', idem => 'kr') ->> '_seq' IS NOT NULL AS written_after_rollback;

-- the document is checked at the put
BEGIN;
SELECT nedb.put('s', 'h', '[1]');
ROLLBACK;

-- REPEATABLE READ: at the write (its snapshot check belongs there)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT nedb.put('s', 'rr', '{}') ->> '_seq' IS NOT NULL AS seq_known;
COMMIT;

-- write: the seq at the put in a block too
SET nedb.sequencing = write;
BEGIN;
SELECT nedb.put('s', 'w1', '{}') ->> '_seq' IS NOT NULL AS seq_known;
COMMIT;

-- commit: staged in an autocommit statement too
SET nedb.sequencing = commit;
SELECT nedb.put('s', 'm' || i, '{}') ->> '_seq' AS staged FROM generate_series(1, 3) i;
SELECT count(*) AS appended_at_commit FROM nedb.log WHERE payload ->> 'id' ~ '^m[123]$';
RESET nedb.sequencing;

-- staging_limit: past it, the transaction appends and writes on at once
SET nedb.staging_limit = 2;
BEGIN;
SELECT i, nedb.put('s', 'l' || i, '{}') ->> '_seq' IS NOT NULL AS seq_known FROM generate_series(1, 4) i;
COMMIT;
RESET nedb.staging_limit;
-- and past nedb.staging_memory of documents
SET nedb.staging_memory = '64kB';
BEGIN;
SELECT i, nedb.put('s', 'big' || i, jsonb_build_object('pad', repeat('x', 20000))) ->> '_seq' IS NOT NULL AS seq_known
  FROM generate_series(1, 3) i;
COMMIT;
RESET nedb.staging_memory;
SELECT payload ->> 'id' AS id FROM nedb.log WHERE payload ->> 'id' ~ '^l' ORDER BY seq;

-- a read-only transaction refuses at the put
BEGIN READ ONLY;
SELECT nedb.put('s', 'ro', '{}');
ROLLBACK;

-- the log is dense and verifies; the chain is the one the ops spell
SELECT count(*) = nedb.seq() + 1 AS dense, nedb.verify() FROM nedb.ops;
DROP SERVER seq_srv CASCADE;
