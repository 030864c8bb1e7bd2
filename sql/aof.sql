--
-- aof: import refuses bad or tampered lines atomically; round trips
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

\set l0 '{"seq": 0, "client": "local", "nonce": 1, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "_id": "alice"}}, "ts": 1700000000.0, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd"}'
\set l1 '{"seq": 1, "client": "local", "nonce": 2, "op": "delete", "payload": {"key": "users:alice", "coll": "users", "id": "alice"}, "ts": 1700000001.5, "idem": "k1", "prev_hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd", "hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19"}'

-- a tampered second line (Alice renamed, hash kept): refused, nothing imported
SELECT try(format('SELECT nedb.import_aof(%L)', :'l0' || E'\n' || replace(:'l1', '"nonce": 2', '"nonce": 3')));
SELECT nedb.seq();
SELECT try(format('SELECT nedb.import_aof(%L)', replace(:'l0', 'Alice', 'Mallory') || E'\n' || :'l1'));
SELECT nedb.seq();
-- out of order, broken link, bad JSON, encrypted, wrong shapes
SELECT try(format('SELECT nedb.import_aof(%L)', :'l1'));
SELECT try(format('SELECT nedb.import_aof(%L)', :'l0' || E'\n' || replace(:'l1', '"prev_hash": "068e', '"prev_hash": "168e')));
SELECT try(format('SELECT nedb.import_aof(%L)', :'l0' || E'\n{"seq": 1, "client": '));
-- valid JSON that no PostgreSQL text can hold: named as such
SELECT try(format('SELECT nedb.import_aof(%L)', :'l0' || E'\n{"seq": 1, "client": "x", "payload": {"s": "a\\u0000b"}}'));
SELECT try($$SELECT nedb.import_aof('{"enc": 1, "ct": "AAAA"}')$$);
SELECT try($$SELECT nedb.import_aof('[1, 2]')$$);
SELECT try(format('SELECT nedb.import_aof(%L)', replace(:'l0', '"seq": 0', '"seq": "0"')));
SELECT nedb.seq();

-- the good lines (CRLF and blank lines are fine)
SELECT nedb.import_aof(:'l0' || E'\r\n\n' || :'l1' || E'\n');
SELECT nedb.seq(), nedb.verify(), nedb.get('users', 'alice', 0) ->> 'name' AS alice_at_0;
-- importing again does not fit the head
SELECT try(format('SELECT nedb.import_aof(%L)', :'l0'));
-- nonces and idem keys come along
SELECT * FROM nedb.clients;
SELECT nedb.delete('users', 'alice', idem => 'k1') AS idem_seq;
SELECT try($$SELECT nedb.put('users', 'x', '{}', nonce => 2)$$);

-- Python float spellings jsonb cannot keep (1e+16, 2.0 beside the int
-- 10000000000000000) import exactly: that op's body is kept beside it
\set l2 '{"seq": 2, "client": "local", "nonce": 3, "op": "put", "payload": {"key": "m:x", "coll": "m", "id": "x", "doc": {"big": 1e+16, "small": 2.0, "int": 10000000000000000, "_id": "x"}}, "ts": 1700000005.0, "idem": null, "prev_hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19", "hash": "8addc7d7a7b7d53310ed56a1b22b17cddc5be19c342ebb8602b739cd9abca137"}'
SELECT nedb.import_aof(:'l2');
SELECT body IS NOT NULL AS body_kept, nedb.op_body(2) = '{"client":"local","idem":null,"nonce":3,"op":"put","payload":{"coll":"m","doc":{"_id":"x","big":1e+16,"int":10000000000000000,"small":2.0},"id":"x","key":"m:x"},"seq":2,"ts":1700000005.0}' AS exact
  FROM nedb.ops WHERE seq = 2;
SELECT nedb.get('m', 'x'), nedb.verify();
-- export keeps the spellings (payload keys come in canonical order)
SELECT position('"big": 1e+16' IN l) > 0 AND position('"small": 2.0' IN l) > 0
       AND position('"hash": "8addc7d7a7b7d533' IN l) > 0 AS same_numbers
  FROM nedb.export_aof(1) l;

-- our log round-trips through the AOF format: same head after re-import
CREATE TEMP TABLE full_aof AS SELECT string_agg(l, E'\n' ORDER BY n) AS lines, nedb.head() AS head
  FROM nedb.export_aof() WITH ORDINALITY t(l, n);
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT nedb.import_aof(lines) FROM full_aof;
SELECT nedb.head() = (SELECT head FROM full_aof) AS same_head, nedb.verify();

-- an imported document is the jsonb its text reads as: members in jsonb's
-- order (shorter keys first; objects of more than 16 members too), nested
-- objects and arrays, numbers of every spelling, escaped strings
SELECT nedb.put('shape', 'a', jsonb_build_object(
         'zz', 1, 'a', '{"bb": [1, -0, 2.5, 1e-7, 123456789012345678901234, -12, {"y": null, "x": true}], "b": "q\"\\/\n\t"}'::jsonb,
         'many', (SELECT jsonb_object_agg(repeat(chr(97 + g % 5), 1 + g % 7) || g, g * 1.5) FROM generate_series(1, 40) g),
         'neg', -9223372036854775808, 'big', 99999999999999999999, 'f', 0.1, 'e', '[]'::jsonb, 'o', '{}'::jsonb))
       IS NOT NULL AS put;
SELECT nedb.put('shape', 'b', '{"k": "é ✓ \u00e9", "l": [[], [[]], {"": ""}]}') IS NOT NULL AS put;
CREATE TEMP TABLE docs_before AS SELECT seq_from, doc::text AS t, pg_column_size(doc) AS size FROM nedb.versions;
CREATE TEMP TABLE shape_aof AS SELECT string_agg(l, E'\n' ORDER BY n) AS lines FROM nedb.export_aof() WITH ORDINALITY t(l, n);
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT nedb.import_aof(lines) > 0 AS imported FROM shape_aof;
SELECT count(*) AS docs, count(*) FILTER (WHERE b.t IS DISTINCT FROM a.t OR b.size IS DISTINCT FROM a.size) AS differ
  FROM docs_before b FULL JOIN (SELECT seq_from, doc::text AS t, pg_column_size(doc) AS size FROM nedb.versions) a USING (seq_from);
SELECT (nedb.get('shape', 'a') -> 'many') = (SELECT jsonb_object_agg(repeat(chr(97 + g % 5), 1 + g % 7) || g, g * 1.5) FROM generate_series(1, 40) g) AS many_same,
       nedb.get('shape', 'a') @> '{"a": {"bb": [{"x": true}]}}' AS containment, nedb.verify();
