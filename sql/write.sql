--
-- write: put, delete, link, unlink; reserved fields; nonces; idempotency
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- put returns the stored document with _id and _seq
SELECT nedb.put('users', 'alice', '{"name": "Alice", "age": 30}');
SELECT nedb.put('users', 'bob', '{"name": "Bob"}');
-- whole-document replacement, not a merge
SELECT nedb.put('users', 'alice', '{"age": 31}');
SELECT nedb.seq();

-- a caller-supplied _id is kept (as the reference), the key is still users:carol
SELECT nedb.put('users', 'carol', '{"_id": "someone-else", "x": 1}');
SELECT nedb.get('users', 'carol') ->> '_id' AS stored_id;
-- a caller-supplied _seq is replaced by the op's seq, and the chain still verifies
SELECT nedb.put('users', 'dave', '{"_seq": 999, "x": 2}');
SELECT body IS NOT NULL AS body_kept FROM nedb.ops WHERE seq = 4;
SELECT nedb.verify();

-- provenance: mirrored into the document and sealed in the op
SELECT nedb.put('facts', 'f1', '{"claim": "sky is blue"}', client => 'agent',
                caused_by => '{0,1}', evidence => 'inference', confidence => 0.95,
                valid_from => '2024-01-01', valid_to => '2024-12-31');
SELECT caused_by, evidence, confidence, valid_from, valid_to, client
  FROM nedb.log WHERE seq = nedb.seq();
SELECT nedb.op_body(nedb.seq()) LIKE '{"caused_by":[0,1],"client":"agent","confidence":0.95,"evidence":"inference",%"valid_from":"2024-01-01","valid_to":"2024-12-31"}' AS sealed;

-- delete: appends an op even when the key does not exist
SELECT nedb.delete('users', 'bob');
SELECT nedb.get('users', 'bob');
SELECT nedb.delete('users', 'nobody');
SELECT nedb.seq();
-- resurrect
SELECT nedb.put('users', 'bob', '{"name": "Bob II"}');
SELECT nedb.get('users', 'bob', 5) AS before_delete, nedb.get('users', 'bob', 6) AS deleted,
       nedb.get('users', 'bob') AS resurrected;

-- link / unlink: every call is an op, even a duplicate link or an absent unlink
SELECT nedb.link('users:alice', 'follows', 'users:bob');
SELECT nedb.link('users:alice', 'follows', 'users:bob');
SELECT nedb.link('users:alice', 'follows', 'users:carol');
SELECT nedb.unlink('users:alice', 'follows', 'users:nobody');
SELECT * FROM nedb.neighbors('users:alice', 'follows');
SELECT nedb.unlink('users:alice', 'follows', 'users:bob');
SELECT * FROM nedb.neighbors('users:alice', 'follows');
SELECT nedb.link('users:alice', 'follows', 'users:bob');
SELECT * FROM nedb.neighbors('users:alice', 'follows');
SELECT * FROM nedb.inbound('users:bob', 'follows');
SELECT op, payload FROM nedb.log WHERE op IN ('link', 'unlink') ORDER BY seq;

-- nonces: per client, strictly increasing, gaps allowed
SELECT nedb.put('n', 'a', '{}', client => 'svc', nonce => 5) ->> '_seq' IS NOT NULL AS ok;
SELECT nedb.put('n', 'b', '{}', client => 'svc', nonce => 100) ->> '_seq' IS NOT NULL AS ok;
SELECT try($$SELECT nedb.put('n', 'c', '{}', client => 'svc', nonce => 100)$$);
SELECT try($$SELECT nedb.put('n', 'c', '{}', client => 'svc', nonce => 7)$$);
SELECT nedb.get('n', 'c');
-- without a nonce the next one follows the stored high-water mark (the
-- reference's separate auto counter would give 1 here and fail)
SELECT nedb.put('n', 'c', '{}', client => 'svc') ->> '_id' AS id;
SELECT nonce FROM nedb.log WHERE seq = nedb.seq();
SELECT * FROM nedb.clients ORDER BY client;
-- other clients have their own namespace
SELECT nedb.put('n', 'd', '{}', client => 'other', nonce => 1) ->> '_id' AS id;

-- idempotency: one global namespace, checked before the nonce
SELECT nedb.put('i', 'x', '{"v": 1}', idem => 'key-1');
SELECT nedb.seq() AS seq_after_first;
-- a retry with the same key writes nothing and returns the current document
SELECT nedb.put('i', 'x', '{"v": 2}', idem => 'key-1');
-- even with a stale nonce, and even from another client
SELECT nedb.put('i', 'x', '{"v": 3}', client => 'svc', nonce => 1, idem => 'key-1');
SELECT nedb.seq() AS seq_unchanged;
-- after an overwrite the retry returns the newer document (as the reference)
SELECT nedb.put('i', 'x', '{"v": 4}') ->> 'v' AS v;
SELECT nedb.put('i', 'x', '{"v": 5}', idem => 'key-1') ->> 'v' AS v_current;
-- a retry naming another id returns that id's current document (none here)
SELECT nedb.put('i', 'y', '{"v": 6}', idem => 'key-1') AS other_id;
-- a refused op does not reserve its key
SELECT try($$SELECT nedb.put('i', 'z', '{}', client => 'svc', nonce => 1, idem => 'key-2')$$);
SELECT nedb.put('i', 'z', '{"ok": true}', idem => 'key-2') ->> 'ok' AS ok;
-- delete takes an idem key too; a retry returns the first delete's seq
SELECT nedb.delete('i', 'z', idem => 'key-3') AS del1 \gset
SELECT nedb.delete('i', 'z', idem => 'key-3') = :del1 AS same_seq, nedb.seq() = :del1 AS nothing_new;

-- many versions of a few keys with large documents: version closes that are
-- not HOT updates re-index the closed row
SELECT count(nedb.put('churn', 'k' || (g % 10), jsonb_build_object('g', g, 'pad', repeat('x', 1500))))
  FROM generate_series(1, 400) g;
SELECT count(*) AS versions, count(*) FILTER (WHERE seq_to IS NULL) AS open
  FROM nedb.versions WHERE coll = 'churn';
SELECT nedb.get('churn', 'k3') ->> 'g' AS latest_g3, count(*) AS history_k3
  FROM nedb.history('churn', 'k3');
SET enable_seqscan = off;
SELECT count(*) AS closed_found_by_index FROM nedb.versions WHERE coll = 'churn' AND id = 'k3' AND seq_to IS NOT NULL;
RESET enable_seqscan;
SELECT nedb.verify();
