--
-- read: AS OF (inclusive), relations in time, history, the log view
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

SELECT nedb.put('t', 'k', '{"v": "a"}') ->> '_seq' AS s0;      -- seq 0
SELECT nedb.put('t', 'k', '{"v": "b"}') ->> '_seq' AS s1;      -- seq 1
SELECT nedb.delete('t', 'k');                                   -- seq 2
SELECT nedb.put('t', 'k', '{"v": "c"}') ->> '_seq' AS s3;      -- seq 3

-- AS OF n is the state right after op n; before the first version, NULL
SELECT a AS as_of, nedb.get('t', 'k', a) ->> 'v' AS v
  FROM unnest(ARRAY[-1, 0, 1, 2, 3, 99]::bigint[]) a;
SELECT nedb.get('t', 'k') ->> 'v' AS head;
SELECT nedb.get('t', 'nope'), nedb.get('nope', 'k', 3), nedb.get(NULL, 'k');

-- history: every version, deletes as NULL documents
SELECT seq, op, doc ->> 'v' AS v FROM nedb.history('t', 'k');
SELECT count(*) FROM nedb.history('t', 'nope');

-- relations time-travel the same way
SELECT nedb.link('a', 'r', 'b');            -- 4
SELECT nedb.link('a', 'r', 'c');            -- 5
SELECT nedb.unlink('a', 'r', 'b');          -- 6
SELECT nedb.link('a', 'r', 'b');            -- 7
SELECT a AS as_of, array(SELECT nedb.neighbors('a', 'r', a)) AS out
  FROM unnest(ARRAY[3, 4, 5, 6, 7]::bigint[]) a;
SELECT array(SELECT nedb.neighbors('a', 'r')) AS head,
       array(SELECT nedb.neighbors('a', 'other')) AS other_rel,
       array(SELECT nedb.inbound('b', 'r', 5)) AS inbound_at_5,
       array(SELECT nedb.inbound('b', 'r', 6)) AS inbound_at_6;

-- the log: every op, hash and prev_hash as hex, linked
SELECT seq, client, nonce, op, payload, idem, length(hash) AS hash_len
  FROM nedb.log ORDER BY seq;
SELECT bool_and(l.prev_hash = p.hash) AS linked
  FROM nedb.log l JOIN nedb.log p ON p.seq = l.seq - 1;
SELECT prev_hash = repeat('0', 64) AS genesis FROM nedb.log WHERE seq = 0;
SELECT hash = nedb.head() AS is_head FROM nedb.log WHERE seq = nedb.seq();

-- reads are plain functions: they work in a read-only transaction
BEGIN TRANSACTION READ ONLY;
SELECT nedb.get('t', 'k') ->> 'v' AS v, nedb.seq(), nedb.verify();
SELECT try($$SELECT nedb.put('t', 'k', '{}')$$);
ROLLBACK;
