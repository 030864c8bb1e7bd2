--
-- proofs: the RFC 6962-style Merkle tree over the op hashes, inclusion and
-- consistency proofs, their verifiers (adversarially), and the reference's
-- fold proof
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- empty log: seq -1, genesis head, root = H(0x02 || size 0 || MTH({}) = H(""))
SELECT seq, head = repeat('0', 64) AS genesis,
       root = '2ed6a20ae5c0c063eafeaccf9f7cac2a9ef20ee3056dcac774042b1c1365b4ca' AS empty_root
  FROM nedb.digest();

-- the reference's five ops (nedb_vectors.json): the tree is built on import
SELECT nedb.import_aof('{"seq": 0, "client": "local", "nonce": 1, "op": "put", "payload": {"key": "users:alice", "coll": "users", "id": "alice", "doc": {"name": "Alice", "_id": "alice"}}, "ts": 1700000000.0, "idem": null, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd"}
{"seq": 1, "client": "local", "nonce": 2, "op": "delete", "payload": {"key": "users:alice", "coll": "users", "id": "alice"}, "ts": 1700000001.5, "idem": "k1", "prev_hash": "068eef6ee5689b4d56330ee2391e53c6edef0d2db75bf1cea8233a0b5d3f89cd", "hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19"}
{"seq": 2, "client": "agent", "nonce": 1, "op": "put", "payload": {"key": "b:x", "coll": "b", "id": "x", "doc": {"v": "caf\u00e9", "f": 0.1, "big": 100000000000000000000, "e": 1e-07, "t": true, "n": null, "_id": "x", "_caused_by": [0, 1], "_evidence": "inference", "_confidence": 0.95, "_valid_from": "2024-01-01", "_valid_to": "2024-12-31"}}, "ts": 1700000002.25, "idem": null, "prev_hash": "06082396ae93d7fd817e2b318b5204de93aeeae079759296c6e24197694b5d19", "hash": "5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b", "caused_by": [0, 1], "evidence": "inference", "confidence": 0.95, "valid_from": "2024-01-01", "valid_to": "2024-12-31"}
{"seq": 3, "client": "local", "nonce": 3, "op": "link", "payload": {"frm": "users:alice", "rel": "follows", "to": "users:bob"}, "ts": 1700000003.0, "idem": null, "prev_hash": "5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b", "hash": "0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769"}
{"seq": 4, "client": "__snapshot__", "nonce": 1700000004000, "op": "checkpoint", "payload": {"note": "snapshot captured"}, "ts": 1700000004.0, "idem": null, "prev_hash": "0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769", "hash": "29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598"}
');

-- roots of every prefix, against an independent model (Python hashlib:
-- MTH with BLAKE2b-256, leaf H(0x00||h), node H(0x01||l||r); root =
-- H(0x02 || size as 8 bytes big-endian || MTH))
SELECT d.seq, d.head, d.root = e.root AS root_matches
  FROM (VALUES (0, '057df0eacc6ee6633cdf133713a0ca5057f16255cc95a3225a3bcbaaa1d585bf'),
               (1, '8e8cf6035a9397502bd4c2ca85b2e2a2283f7b2b041e23f053f4d840d14f897a'),
               (2, 'e39ecc580f4706e7c2ca3705c2b3f41cf525ed9c82d911a8e676ab4a5eaf3678'),
               (3, '6ba5756d6ec1ccacca17c0dab94b161a0fdba5de563ff1986e66f3233dfe271a'),
               (4, '9defeef89b7eca5abcb8d9993b42e00d27b648dcf1fafea8f99725b41f5ff599')) e(seq, root),
       LATERAL nedb.digest(e.seq) d ORDER BY d.seq;
SELECT * FROM nedb.digest() d WHERE d IS NOT DISTINCT FROM nedb.digest(4);

-- the reference's fold proof for seq 2 (nedb_vectors.json proof_for_seq2)
SELECT nedb.fold_proof(2);
SELECT nedb.fold_proof(2) = '{"hash": "5e9873a5c5177d1ce3fc94fb844027d24d65a91f040c430e7eaf44a51fdbc55b", "seq": 2, "prev_head": "a9c8ff1c03462e9c8a93cac3c97da51327bf6a5d5c152ba03df4ee373d79a4e9", "subsequent": ["0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585769", "29cb9e09ae85de8e8a52abfaadebab9b444c4f89eb907c57fe985d348b45c598"], "head": "b3120c464fd22bac0ece04440a2b9f11308f779e11721d48d5d4cb4df15f2b1c"}'::jsonb AS matches_reference;
SELECT nedb.verify_fold_proof(nedb.fold_proof(s)) FROM generate_series(0, 4) s;
SELECT nedb.verify_fold_proof(jsonb_set(nedb.fold_proof(2), '{subsequent,0}',
       '"0824cfca993ba4b4455b020238fb84cd7156f2dac5fd196d09ae469af0585768"')) AS tampered;
SELECT try('SELECT nedb.fold_proof(5)');

-- the proof of one op, in full
SELECT nedb.proof(2);
SELECT nedb.consistency(1);

-- grow the log to 100 ops
SELECT count(nedb.put('p', i::text, jsonb_build_object('i', i))) FROM generate_series(5, 99) i;

-- every inclusion and consistency proof of every pair of tree sizes up to 40
-- verifies against the digest of its tree
CREATE TEMP TABLE roots AS SELECT s, (nedb.digest(s)).root FROM generate_series(0, 99) s;
CREATE TEMP TABLE pairs AS
SELECT m, n, nedb.proof(m, n) AS incl, nedb.consistency(m, n) AS cons
  FROM generate_series(0, 39) n, generate_series(0, n) m;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE nedb.verify_inclusion(incl, n, r.root)) AS inclusion_ok,
       count(*) FILTER (WHERE nedb.verify_consistency(cons, m, o.root, n, r.root)) AS consistency_ok
  FROM pairs, roots r, roots o WHERE r.s = n AND o.s = m;
CREATE TEMP TABLE latest AS SELECT s AS m, nedb.proof(s) AS p, nedb.consistency(s) AS c FROM generate_series(0, 99) s;
-- and the hash in the proof is the op's hash
SELECT count(*) FROM latest WHERE p->>'hash' IS DISTINCT FROM (SELECT hash FROM nedb.log WHERE seq = m);
-- proof size is O(log n): at most ceil(log2(100)) = 7 entries
SELECT max(jsonb_array_length(p->'path')) AS max_inclusion,
       max(jsonb_array_length(c->'path')) AS max_consistency FROM latest;

-- ---------------------------------------------------------------------------
-- Adversarial: nothing but the genuine proof verifies
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.flip(h text, b int) RETURNS text LANGUAGE sql AS
$$ SELECT encode(set_bit(decode(h, 'hex'), b, 1 - get_bit(decode(h, 'hex'), b)), 'hex') $$;

-- every single-bit flip of every path entry and of the op hash, for proofs
-- at several positions (first, middle, last, a power of two, its neighbours)
SELECT count(*) AS flips,
       count(*) FILTER (WHERE nedb.verify_inclusion(
           jsonb_set(p, ARRAY['path', i::text], to_jsonb(pg_temp.flip(p->'path'->>i, b))),
           99, (SELECT root FROM roots WHERE s = 99))) AS accepted
  FROM (SELECT p FROM latest WHERE m IN (0, 1, 31, 32, 33, 50, 63, 64, 98, 99)) x,
       LATERAL generate_series(0, jsonb_array_length(p->'path') - 1) i, generate_series(0, 255) b;
SELECT count(*) AS flips,
       count(*) FILTER (WHERE nedb.verify_inclusion(
           jsonb_set(p, '{hash}', to_jsonb(pg_temp.flip(p->>'hash', b))),
           99, (SELECT root FROM roots WHERE s = 99))) AS accepted
  FROM (SELECT p FROM latest WHERE m IN (0, 50, 99)) x, generate_series(0, 255) b;
-- every bit flip of the seq and of the tree size, in the proof and of the digest
SELECT count(*) AS flips,
       count(*) FILTER (WHERE nedb.verify_inclusion(
           jsonb_set(p, '{seq}', to_jsonb((p->>'seq')::bigint # (1::bigint << b))),
           99, (SELECT root FROM roots WHERE s = 99))) AS seq_accepted,
       count(*) FILTER (WHERE nedb.verify_inclusion(
           jsonb_set(p, '{tree_seq}', to_jsonb(99::bigint # (1::bigint << b))),
           99::bigint # (1::bigint << b), (SELECT root FROM roots WHERE s = 99))) AS size_accepted
  FROM (SELECT p FROM latest WHERE m IN (0, 37, 64, 99)) x, generate_series(0, 63) b;
-- every bit flip of the trusted root
SELECT count(*) FILTER (WHERE nedb.verify_inclusion(nedb.proof(42), 99,
           pg_temp.flip((SELECT root FROM roots WHERE s = 99), b))) AS accepted
  FROM generate_series(0, 255) b;
-- the proof of one op shown as another's (every other seq)
SELECT count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(p, '{seq}', to_jsonb(w)),
           99, (SELECT root FROM roots WHERE s = 99))) AS accepted
  FROM latest, generate_series(0, 99) w WHERE m <> w;
-- a proof checked against another tree size with that tree's genuine root
-- (as claimed by the proof or only by the verifier)
SELECT count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(incl, '{tree_seq}', to_jsonb(o.s)), o.s, o.root)) AS claimed,
       count(*) FILTER (WHERE nedb.verify_inclusion(incl, o.s, o.root)) AS unclaimed
  FROM pairs, roots o WHERE o.s <> n AND o.s BETWEEN m AND 39;
-- truncated, extended, reordered and emptied paths
SELECT count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(p, '{path}', (p->'path') - (-1)), 99, r)) AS drop_last,
       count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(p, '{path}', (p->'path') - 0), 99, r)) AS drop_first,
       count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(p, '{path}', (p->'path') || to_jsonb(r)), 99, r)) AS add_root,
       count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(p, '{path}', (p->'path') || (p->'path'->-1)), 99, r)) AS repeat_last,
       count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(p, '{path}', jsonb_build_array(p->'path'->0) || (p->'path')), 99, r)) AS repeat_first,
       count(*) FILTER (WHERE nedb.verify_inclusion(jsonb_set(p, '{path}', '[]'), 99, r)) AS emptied,
       count(*) FILTER (WHERE jsonb_array_length(p->'path') > 1 AND nedb.verify_inclusion(jsonb_set(jsonb_set(p, '{path,0}', p->'path'->1), '{path,1}', p->'path'->0), 99, r)) AS swapped
  FROM (SELECT p, (SELECT root FROM roots WHERE s = 99) AS r FROM latest) x;
-- malformed proofs are not valid (no error)
SELECT nedb.verify_inclusion(p, 99, r) AS ok
  FROM (SELECT (SELECT root FROM roots WHERE s = 99) AS r) x,
       LATERAL (VALUES (nedb.proof(7)), ('{}'), ('[]'), ('7'),
                       (nedb.proof(7) - 'path'), (nedb.proof(7) - 'hash'), (nedb.proof(7) - 'seq'),
                       (jsonb_set(nedb.proof(7), '{seq}', '7.0')), (jsonb_set(nedb.proof(7), '{seq}', '"7"')),
                       (jsonb_set(nedb.proof(7), '{seq}', '-7')), (jsonb_set(nedb.proof(7), '{seq}', '1e400')),
                       (jsonb_set(nedb.proof(7), '{path}', '"x"')), (jsonb_set(nedb.proof(7), '{path,0}', '1')),
                       (jsonb_set(nedb.proof(7), '{hash}', to_jsonb(left(nedb.proof(7)->>'hash', 63))))) v(p);
SELECT nedb.verify_inclusion(nedb.proof(7), 99, 'xyz') AS bad_root,
       nedb.verify_inclusion(nedb.proof(7), -1, (SELECT root FROM roots WHERE s = 99)) AS negative_size;

-- consistency: every bit flip of every path entry, of the sizes and of both roots
SELECT count(*) AS flips,
       count(*) FILTER (WHERE nedb.verify_consistency(
           jsonb_set(p, ARRAY['path', i::text], to_jsonb(pg_temp.flip(p->'path'->>i, b))),
           m, (SELECT root FROM roots WHERE s = m), 99, (SELECT root FROM roots WHERE s = 99))) AS accepted
  FROM (SELECT m, c AS p FROM latest WHERE m IN (0, 1, 2, 30, 31, 32, 50, 63, 98)) x,
       LATERAL generate_series(0, jsonb_array_length(p->'path') - 1) i, generate_series(0, 255) b;
SELECT count(*) AS flips,
       count(*) FILTER (WHERE nedb.verify_consistency(p, m, pg_temp.flip((SELECT root FROM roots WHERE s = m), b),
                                                      99, (SELECT root FROM roots WHERE s = 99))) AS old_root_accepted,
       count(*) FILTER (WHERE nedb.verify_consistency(p, m, (SELECT root FROM roots WHERE s = m),
                                                      99, pg_temp.flip((SELECT root FROM roots WHERE s = 99), b))) AS root_accepted
  FROM (SELECT m, c AS p FROM latest WHERE m IN (0, 31, 50, 98, 99)) x, generate_series(0, 255) b;
SELECT count(*) FILTER (WHERE nedb.verify_consistency(jsonb_set(p, '{old_seq}', to_jsonb(m # (1::bigint << b))),
           m # (1::bigint << b), (SELECT root FROM roots WHERE s = m), 99, (SELECT root FROM roots WHERE s = 99))) AS old_size_accepted,
       count(*) FILTER (WHERE nedb.verify_consistency(jsonb_set(p, '{tree_seq}', to_jsonb(99::bigint # (1::bigint << b))),
           m, (SELECT root FROM roots WHERE s = m), 99::bigint # (1::bigint << b), (SELECT root FROM roots WHERE s = 99))) AS size_accepted
  FROM (SELECT m, c AS p FROM latest WHERE m IN (0, 31, 50, 98)) x, generate_series(0, 63) b;
-- another pair of sizes with their genuine roots
SELECT count(*) FILTER (WHERE nedb.verify_consistency(cons, a.s, a.root, b.s, b.root)) AS accepted
  FROM pairs, roots a, roots b
 WHERE n <= 20 AND a.s <= b.s AND b.s <= 20 AND (a.s, b.s) <> (m, n);
-- truncated, extended and emptied paths
SELECT count(*) FILTER (WHERE nedb.verify_consistency(jsonb_set(p, '{path}', (p->'path') - (-1)), m, o, 99, r)) AS drop_last,
       count(*) FILTER (WHERE nedb.verify_consistency(jsonb_set(p, '{path}', (p->'path') - 0), m, o, 99, r)) AS drop_first,
       count(*) FILTER (WHERE nedb.verify_consistency(jsonb_set(p, '{path}', (p->'path') || to_jsonb(r)), m, o, 99, r)) AS add_root,
       count(*) FILTER (WHERE nedb.verify_consistency(jsonb_set(p, '{path}', jsonb_build_array(o) || (p->'path')), m, o, 99, r)) AS add_old_root,
       count(*) FILTER (WHERE nedb.verify_consistency(jsonb_set(p, '{path}', '[]'), m, o, 99, r)) AS emptied
  FROM (SELECT m, c AS p, (SELECT root FROM roots WHERE s = m) AS o,
               (SELECT root FROM roots WHERE s = 99) AS r FROM latest WHERE m < 99) x;
-- the same tree: empty proof, equal roots
SELECT nedb.consistency(99)->'path' AS path,
       nedb.verify_consistency(nedb.consistency(99), 99, (SELECT root FROM roots WHERE s = 99), 99,
                               (SELECT root FROM roots WHERE s = 99)) AS same_ok,
       nedb.verify_consistency(nedb.consistency(99), 99, (SELECT root FROM roots WHERE s = 98), 99,
                               (SELECT root FROM roots WHERE s = 99)) AS other_root;

-- ---------------------------------------------------------------------------
-- Rollbacks leave no node behind; the next append continues the tree
-- ---------------------------------------------------------------------------
BEGIN;
SELECT nedb.put('p', 'rolled', '{}') ->> '_seq' AS seq;
SELECT (nedb.digest()).seq;
ROLLBACK;
SELECT (nedb.digest()).seq, (SELECT count(*) FROM nedb.log_tree) AS tree_rows;
BEGIN;
SELECT nedb.put('p', 'kept1', '{}') ->> '_seq' AS seq;
SAVEPOINT a;
SELECT nedb.put('p', 'gone', '{}') ->> '_seq' AS seq;
ROLLBACK TO a;
SELECT nedb.put('p', 'kept2', '{}') ->> '_seq' AS seq;
COMMIT;
-- the tree of 102 ops: the roots before are still the prefixes' roots, and
-- every op's proof verifies
SELECT d.seq, count(*) AS old_trees,
       count(*) FILTER (WHERE nedb.verify_consistency(nedb.consistency(r.s), r.s, r.root, d.seq, d.root)) AS consistent,
       count(*) FILTER (WHERE nedb.verify_inclusion(nedb.proof(r.s), d.seq, d.root)) AS included
  FROM roots r, nedb.digest() d GROUP BY d.seq;
SELECT count(*) FILTER (WHERE nedb.verify_inclusion(nedb.proof(s), d.seq, d.root)) AS new_ops_included
  FROM generate_series(100, 101) s, nedb.digest() d;
-- one row per odd op (an even op completes no subtree; its leaf is
-- H(0x00 || its hash))
SELECT count(*) AS tree_rows, bool_and(seq % 2 = 1) AS odd_only FROM nedb.log_tree;
SELECT nedb.verify();
SELECT * FROM nedb.verify_tree();
-- a row where none belongs is found too
INSERT INTO nedb.log_tree VALUES (40, '\x00');
SELECT * FROM nedb.verify_tree();
DELETE FROM nedb.log_tree WHERE seq = 40;

-- a tampered node (the root of ops 0..63, row 63 level 6) is found by
-- verify_tree, and proofs through it no longer verify against a root taken
-- before the tampering
CREATE TEMP TABLE saved AS SELECT * FROM nedb.log_tree WHERE seq IN (63, 101);
UPDATE nedb.log_tree SET nodes = set_byte(nodes, 200, get_byte(nodes, 200) # 1) WHERE seq = 63;
SELECT * FROM nedb.verify_tree();
SELECT nedb.verify_inclusion(nedb.proof(70, 99), 99, (SELECT root FROM roots WHERE s = 99)) AS through_tampered,
       nedb.verify_inclusion(nedb.proof(10, 99), 99, (SELECT root FROM roots WHERE s = 99)) AS beside_tampered,
       (nedb.digest(99)).root = (SELECT root FROM roots WHERE s = 99) AS same_root;
UPDATE nedb.log_tree t SET nodes = s.nodes FROM saved s WHERE t.seq = s.seq AND s.seq = 63;
DELETE FROM nedb.log_tree WHERE seq = 101;
SELECT * FROM nedb.verify_tree();
SELECT try('SELECT nedb.proof(101)');
INSERT INTO nedb.log_tree SELECT * FROM saved WHERE seq = 101;
SELECT * FROM nedb.verify_tree();

-- ---------------------------------------------------------------------------
-- Bad arguments
-- ---------------------------------------------------------------------------
SELECT try('SELECT nedb.proof(-1)');
SELECT try('SELECT nedb.proof(102)');
SELECT try('SELECT nedb.proof(NULL)');
SELECT try('SELECT nedb.proof(50, 40)');
SELECT try('SELECT nedb.proof(5, 500)');
SELECT try('SELECT nedb.consistency(-1)');
SELECT try('SELECT nedb.consistency(60, 50)');
SELECT try('SELECT nedb.digest(102)');
SELECT try('SELECT nedb.digest(-2)');
