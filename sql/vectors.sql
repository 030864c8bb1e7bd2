--
-- vectors: the reference's hash-chain vectors reproduce byte for byte
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- canonical JSON of the reference (sorted keys by code point, no spaces,
-- \uXXXX escapes, Python float repr)
SELECT nedb.canonical('{"v": "café", "f": 0.1, "big": 100000000000000000000, "e": 1e-07, "t": true, "n": null}');
SELECT nedb.canonical('{"b": 1, "aa": 2, "a": {"z": [1, 2.50, "x"], "y": {}}}');  -- jsonb orders by length; we do not
SELECT nedb.canonical(v) FROM (VALUES ('1.0'::jsonb), ('100.0'), ('1e2'), ('0.0001'), ('0.00001'),
       ('1e15'), ('1e16'), ('123456789012345678.5'), ('-0.5'), ('3.14159265358979323846'),
       ('0.30000000000000004'), ('37170565924641696.0'), ('202660.0000')) t(v);
-- (37170565924641696.0 lies on a rounding boundary: Python's repr is
-- 3.71705659246417e+16, where Postgres's float8out gives 17 digits)
SELECT nedb.canonical(to_jsonb(text E'quote " backslash \\ nl \n tab \t cr \r bs \b ff \f bell \u0007 del \u007f é € 😀'));
SELECT nedb.canonical('{"é": 1, "z": 2, "Z": 3, "_": 4, "😀": 5, "ab": 6, "a": 7}');
-- objects whose keys' bytes run together the same ("a","b","cdef" and
-- "ab","cd","ef" are both abcdef as jsonb stores them) are not one shape,
-- whichever comes first and however often (a backend keeps recent shapes)
SELECT nedb.canonical(v) FROM (VALUES ('{"a": 1, "b": 2, "cdef": 3}'::jsonb), ('{"ab": 1, "cd": 2, "ef": 3}'),
       ('{"ef": 1, "cd": 2, "ab": 3}'), ('{"a": 1, "b": 2, "cdef": 3}'), ('{"x": {"a": 1, "b": 2, "cdef": 3}, "y": {"ab": 1, "cd": 2, "ef": 3}}')) t(v);

-- import the reference AOF: same hashes, same head
SELECT nedb.import_aof('{"seq": 0, "client": "local", "nonce": 1, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "_id": "alice"}}, "ts": 1700000000.0, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd"}
{"seq": 1, "client": "local", "nonce": 2, "op": "delete", "payload": {"key": "users:alice", "coll": "users", "id": "alice"}, "ts": 1700000001.5, "idem": "k1", "prev_hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd", "hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19"}
{"seq": 2, "client": "agent", "nonce": 1, "op": "put", "payload": {"key": "b:x", "coll": "b", "id": "x", "doc": {"v": "caf\u00e9", "f": 0.1, "big": 100000000000000000000, "e": 1e-07, "t": true, "n": null, "_id": "x", "_caused_by": [0, 1], "_evidence": "inference", "_confidence": 0.95, "_valid_from": "2024-01-01", "_valid_to": "2024-12-31"}}, "ts": 1700000002.25, "idem": null, "prev_hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19", "hash": "5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b", "caused_by": [0, 1], "evidence": "inference", "confidence": 0.95, "valid_from": "2024-01-01", "valid_to": "2024-12-31"}
{"seq": 3, "client": "local", "nonce": 3, "op": "link", "payload": {"frm": "users:alice", "rel": "follows", "to": "users:bob"}, "ts": 1700000003.0, "idem": null, "prev_hash": "5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b", "hash": "0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769"}
{"seq": 4, "client": "__snapshot__", "nonce": 1700000004000, "op": "checkpoint", "payload": {"note": "snapshot captured"}, "ts": 1700000004.0, "idem": null, "prev_hash": "0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769", "hash": "29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598"}
');
SELECT nedb.seq(), nedb.head() = '29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598' AS head_matches, nedb.verify();
SELECT 0 AS seq, nedb.op_body(0) = '{"client":"local","idem":null,"nonce":1,"op":"put","payload":{"coll":"users","doc":{"_id":"alice","name":"Alice"},"id":"alice","key":"users:alice"},"seq":0,"ts":1700000000.0}' AS body_matches, (SELECT hash FROM nedb.log WHERE seq = 0) = '068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd' AS hash_matches;
SELECT 1 AS seq, nedb.op_body(1) = '{"client":"local","idem":"k1","nonce":2,"op":"delete","payload":{"coll":"users","id":"alice","key":"users:alice"},"seq":1,"ts":1700000001.5}' AS body_matches, (SELECT hash FROM nedb.log WHERE seq = 1) = '06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19' AS hash_matches;
SELECT 2 AS seq, nedb.op_body(2) = '{"caused_by":[0,1],"client":"agent","confidence":0.95,"evidence":"inference","idem":null,"nonce":1,"op":"put","payload":{"coll":"b","doc":{"_caused_by":[0,1],"_confidence":0.95,"_evidence":"inference","_id":"x","_valid_from":"2024-01-01","_valid_to":"2024-12-31","big":100000000000000000000,"e":1e-07,"f":0.1,"n":null,"t":true,"v":"caf\u00e9"},"id":"x","key":"b:x"},"seq":2,"ts":1700000002.25,"valid_from":"2024-01-01","valid_to":"2024-12-31"}' AS body_matches, (SELECT hash FROM nedb.log WHERE seq = 2) = '5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b' AS hash_matches;
SELECT 3 AS seq, nedb.op_body(3) = '{"client":"local","idem":null,"nonce":3,"op":"link","payload":{"frm":"users:alice","rel":"follows","to":"users:bob"},"seq":3,"ts":1700000003.0}' AS body_matches, (SELECT hash FROM nedb.log WHERE seq = 3) = '0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769' AS hash_matches;
SELECT 4 AS seq, nedb.op_body(4) = '{"client":"__snapshot__","idem":null,"nonce":1700000004000,"op":"checkpoint","payload":{"note":"snapshot captured"},"seq":4,"ts":1700000004.0}' AS body_matches, (SELECT hash FROM nedb.log WHERE seq = 4) = '29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598' AS hash_matches;
-- no op needed its body kept aside: all rebuild from the stored rows
SELECT count(*) FILTER (WHERE body IS NOT NULL) AS kept_bodies FROM nedb.ops;
-- state after the replay: alice deleted, b:x with provenance, one edge
SELECT nedb.get('users', 'alice') AS alice_now, nedb.get('users', 'alice', 0) AS alice_at_0;
SELECT nedb.get('b', 'x');
SELECT * FROM nedb.neighbors('users:alice', 'follows');
SELECT seq, client, nonce, op, idem, caused_by, evidence, confidence, valid_from, valid_to, prev_hash FROM nedb.log ORDER BY seq;
-- export writes the reference's AOF lines back
SELECT * FROM nedb.export_aof();
SELECT * FROM nedb.export_aof(3);
-- and what we export imports again with the same head
CREATE TEMP TABLE aof AS SELECT string_agg(l, E'\n' ORDER BY n) AS lines FROM nedb.export_aof() WITH ORDINALITY t(l, n);
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT nedb.import_aof(lines) FROM aof;
SELECT nedb.head() = '29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598' AS same_head, nedb.verify();

-- our own writes chain onto the imported log; nonces continue per client
SELECT nedb.put('users', 'alice', '{"name": "Alice"}') ->> '_seq' AS seq;
SELECT nonce, client FROM nedb.log WHERE seq = 5;
SELECT nedb.verify();

-- proof fold vector inputs: the op hashes in order
SELECT string_agg(hash, ',' ORDER BY seq) = '068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd,06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19,5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b,0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769,29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598' AS fold_inputs FROM nedb.log WHERE seq < 5;
