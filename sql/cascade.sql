--
-- cascade: files chunked by content (the reference's gear CDC), Merkle roots
-- and proofs as the reference's, dedup, zstd tiers, the put_file op
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
\getenv abs_srcdir PG_ABS_SRCDIR

-- ---------------------------------------------------------------------------
-- Reference vectors (nedb_vectors.json)
-- ---------------------------------------------------------------------------
-- vector_text: ''.join(f'row {i:06d} payload\n' for i in range(30000))
CREATE TEMP TABLE vt AS
SELECT convert_to(string_agg(format('row %s payload', lpad(i::text, 6, '0')) || E'\n', '' ORDER BY i), 'UTF8') AS data
  FROM generate_series(0, 29999) i;
SELECT length(data) FROM vt;
SELECT string_agg(len::text, ',' ORDER BY idx) = '65536,63808,65536,15214,2147,19855,41648,12730,27930,65536,22109,42125,16054,6138,65536,38098' AS lengths_match,
       sum(len) = 570000 AS covers_input
  FROM vt, nedb.chunk_boundaries(data);
SELECT nedb.chunk_root(data) = 'b339bda58cb5becb435d3eafe681602599a99371c4fde21fd6a8b2b461a66f9e' AS root_matches FROM vt;

-- vector_random: bytes(random.Random(42).getrandbits(8) for _ in range(300000)),
-- stored in data/cascade_random.bin
CREATE TEMP TABLE vr AS SELECT pg_read_binary_file(:'abs_srcdir' || '/data/cascade_random.bin') AS data;
SELECT length(data) FROM vr;
SELECT string_agg(len::text, ',' ORDER BY idx) = '18323,5480,29610,20767,8029,12812,8391,2231,19855,8927,7439,13380,4747,24679,19628,5156,6994,8583,4925,5587,27109,10614,13086,8495,5153' AS lengths_match,
       array_agg(id ORDER BY idx) = ARRAY[
    'cd28563671fd31e4d206aca76da58605e08adbb63c74cb665372ec0957c759d4',
    '401a131e9e3098dc84bb2cab2cd4aa827a28b0c033dc71eede4a2382d9afd4cd',
    '2f5a1b680123017f243ba0436a89cb53c74db9b11db6771ff0c861c632bababc',
    '247cdb4f1c40f3fdf8f936e5520caea0c35fe734f20c1f024d25dc4b71c145fa',
    '7115b81e81a4a8cefb966be1f54bb5ad2da1f90279f797140f8afd2c74842da7',
    '625cc08e0525c0169feb16c00cbfefed9ed9280a0182e2fcfaabfec962714ab4',
    '3b345f993b30fd4f12f7d62260950b05499625d2360ed2dd9a74d9f7dcdefd75',
    'dd5846269e025c80e8333772493e8266c7f073b0937cfa2b1b0f1ef0bf65a293',
    '26605463a47560592d17aae0057fbd04fd0d63ba8310b3a3a21ba65371bcb643',
    'eff505e828eb835fc29e6e25b14ca11f79721d881e719d8b9dabb08f67124dbd',
    'ec89d32ec8148eb56a2fb0564303d751fc66914d6a799a1e4282bab6aade6ee9',
    'a04c332acec8f08b123ae7632847b7a1a9fb47fd17f7fb43c74c530d1ea0c3e7',
    '4ce0025e978302207df301f9bdce4793babc86066a6bf22f4a6228a70796f969',
    '136ee14cbe2d0d721f9ce5e06d63e86362af0196ba5dc329a91c4cf64cac2ae5',
    '6c5b58242dc26be7a5b1c22a9e3a9233c00e84336dd234de8846804a9f453d48',
    '77a8b47dcad93538e7aee802c861a426563e0c926bd7e15fcf45517a2036fb4f',
    'a51d10bcced7ccb6229824623134bf69270a603946f708740452c563994143b3',
    'c77ca7354add35819fa29cf26db6946fcc0b646834e05a29b27a91156bcc7a66',
    '597e1da5fd980d6a20f1c2f03cd32e7282fd8ddd284800164d62bd4a8e9d1883',
    'edcb855b13e406a11df6c938195a54464e2a0ccb3ecb3864d31bf0a3a657e48e',
    '1f6579bae46e8eccbd6df105b8ca8133a264cddfdc78b12bcfb2331d8fd256c9',
    '86096ae084fd15611f9432b795b2a17a7e922347f4a6bb2f036dc01fcb29469f',
    '57c71b877d2fe067ee07f88d4fc992ce5807c487fdd367085593ee6dcba9dff5',
    '11f1545eb4f5fe47a9602021ea3ea329885f29c0c689e7f8bb19864716884ffe',
    '42558a2e20e60d68e4ea49eba63ef8dc5e9bd643a2a0a5134454024cc819b142'] AS ids_match
  FROM vr, nedb.chunk_boundaries(data);
SELECT nedb.chunk_root(data) = 'e59a125d2db15c2abc971fbf095ddb934f99156c1cb7bbb7473ee0b52a4b29a3' AS root_matches FROM vr;

-- merkle: leaves = BLAKE2b-256 of the single bytes 0..4, the root, the proof of leaf 3
SELECT array_agg(c.id ORDER BY b) = ARRAY['03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314', 'ee155ace9c40292074cb6aff8c9ccdd273c81648ff1149ef36bcea6ebb8a3e25', 'bb30a42c1e62f0afda5f0a4e8a562f7a13a24cea00ee81917b86b89e801314aa', 'e88bd757ad5b9bedf372d8d3f0cf6c962a469db61a265f6418e1ffed86da29ec', '642206314f534b29ad297d82440a5f9f210e30ca5ced805a587ca402de927342'] AS leaves_match
  FROM generate_series(0, 4) b, nedb.chunk_boundaries(set_byte('\x00'::bytea, 0, b)) c;
SELECT nedb.merkle_root(ARRAY['03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314', 'ee155ace9c40292074cb6aff8c9ccdd273c81648ff1149ef36bcea6ebb8a3e25', 'bb30a42c1e62f0afda5f0a4e8a562f7a13a24cea00ee81917b86b89e801314aa', 'e88bd757ad5b9bedf372d8d3f0cf6c962a469db61a265f6418e1ffed86da29ec', '642206314f534b29ad297d82440a5f9f210e30ca5ced805a587ca402de927342']) = 'fe3399f509eb24e52abc1990574e2cb752ef30f5c2409176a43b437fae204bf3' AS root_matches;
SELECT nedb.merkle_root('{}') AS empty_root;
SELECT nedb.merkle_root(ARRAY['bb30a42c1e62f0afda5f0a4e8a562f7a13a24cea00ee81917b86b89e801314aa']) AS one_leaf;
SELECT nedb.verify_file_proof(jsonb_build_object('leaf', 'e88bd757ad5b9bedf372d8d3f0cf6c962a469db61a265f6418e1ffed86da29ec',
       'proof', '[["bb30a42c1e62f0afda5f0a4e8a562f7a13a24cea00ee81917b86b89e801314aa", "L"], ["52c98fcb9a132e1e7acb398852d7c4c8023a112ac2d511761f6705079d07e443", "L"], ["ac75656b99d57ef5909a858027519e6b69efd763d8c9cce1052a6dfa7cb378b6", "R"]]'::jsonb, 'root', 'fe3399f509eb24e52abc1990574e2cb752ef30f5c2409176a43b437fae204bf3')) AS reference_proof_verifies;

-- ---------------------------------------------------------------------------
-- The reference's demo (examples/demo.py): a 1093 KiB text, then the same
-- text with a 40-byte edit in the middle
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE demo AS
SELECT convert_to(string_agg(format('line %s: the quick brown fox jumps over the lazy dog',
                                    lpad(i::text, 5, '0')) || E'\n', '' ORDER BY i), 'UTF8') AS base
  FROM generate_series(0, 19999) i;
ALTER TABLE demo ADD COLUMN edited bytea;
UPDATE demo SET edited = overlay(base PLACING convert_to('<<< a small edit in the middle >>>>>>>>>', 'UTF8') FROM 500001 FOR 40);
SELECT length(base), length(edited) FROM demo;
SELECT nedb.put_file('notes.txt', base) AS v0 FROM demo;
SELECT nedb.put_file('notes.txt', edited) AS v1 FROM demo;
-- the reference: 22 unique chunks, 20 dedup hits, zlib ratio 39.93
SELECT s->'unique_chunks' AS unique_chunks, s->'dedup_hits' AS dedup_hits, s->'logical_bytes' AS logical_bytes,
       (s->>'ratio')::float8 >= 39.93 AS beats_zlib,
       (s->>'ratio')::float8 = round((s->>'logical_bytes')::numeric / (s->>'stored_bytes')::numeric, 2)::float8 AS ratio_consistent
  FROM nedb.compression_stats('warm') s;
SELECT nedb.get_file('notes.txt', 0) = base AS v0_exact, nedb.get_file('notes.txt', 1) = edited AS v1_exact,
       nedb.get_file('notes.txt') = edited AS latest_exact, nedb.get_file('notes.txt', -2) = base AS minus2_exact
  FROM demo;
SELECT tier, version, size, chunks, root = nedb.file_root('notes.txt', version) AS root_ok
  FROM nedb.file_versions('notes.txt');
SELECT nedb.file_root('notes.txt', 0) = nedb.chunk_root(base) AS root0, nedb.file_root('notes.txt') = nedb.chunk_root(edited) AS root1
  FROM demo;
-- the put_file ops: {name, tier, version, root}, hashed into the chain
SELECT seq, client, op, payload->>'name' AS name, payload->>'tier' AS tier, payload->'version' AS version,
       payload->>'root' = nedb.file_root('notes.txt', (payload->>'version')::int) AS root_ok
  FROM nedb.log WHERE op = 'put_file' ORDER BY seq;
SELECT nedb.op_body(1) ~ '^\{"client":"local","idem":null,"nonce":2,"op":"put_file","payload":\{"name":"notes.txt","root":"[0-9a-f]{64}","tier":"warm","version":1\},"seq":1,"ts":[0-9.e+]+\}$' AS body_canonical;
SELECT count(*) AS aof_lines, bool_and(l::jsonb->>'op' = 'put_file') AS all_put_file FROM nedb.export_aof() l;
SELECT nedb.verify();
SELECT * FROM nedb.verify_tree();

-- every chunk's proof verifies; no bit flip of a proof does
CREATE TEMP TABLE fproofs AS SELECT i, nedb.file_proof('notes.txt', i, 1) AS p FROM generate_series(0, 20) i;
SELECT count(*) AS proofs, count(*) FILTER (WHERE nedb.verify_file_proof(p)) AS verified,
       max(jsonb_array_length(p->'proof')) AS max_len FROM fproofs;
SELECT p FROM fproofs WHERE i = 5;
CREATE FUNCTION pg_temp.flip(h text, b int) RETURNS text LANGUAGE sql AS
$$ SELECT encode(set_bit(decode(h, 'hex'), b, 1 - get_bit(decode(h, 'hex'), b)), 'hex') $$;
SELECT count(*) AS flips,
       count(*) FILTER (WHERE nedb.verify_file_proof(jsonb_set(p, ARRAY['proof', k::text, '0'], to_jsonb(pg_temp.flip(p->'proof'->k->>0, b))))) AS accepted
  FROM fproofs, LATERAL generate_series(0, jsonb_array_length(p->'proof') - 1) k, generate_series(0, 255, 7) b
 WHERE i IN (0, 7, 20);
SELECT count(*) FILTER (WHERE nedb.verify_file_proof(jsonb_set(p, '{leaf}', to_jsonb(pg_temp.flip(p->>'leaf', b))))) AS leaf_flips,
       count(*) FILTER (WHERE nedb.verify_file_proof(jsonb_set(p, '{root}', to_jsonb(pg_temp.flip(p->>'root', b))))) AS root_flips
  FROM fproofs, generate_series(0, 255) b WHERE i IN (0, 7, 20);
-- the side of each step matters, except where the reference pairs the last
-- node of an odd level with itself (chunk 20 of 21: sibling = itself)
SELECT i, k, p->'proof'->k->>1 AS side, p->'proof'->k->>0 = p->>'leaf' AS sibling_is_leaf,
       nedb.verify_file_proof(jsonb_set(p, ARRAY['proof', k::text, '1'],
                              (CASE p->'proof'->k->>1 WHEN 'L' THEN '"R"' ELSE '"L"' END)::jsonb)) AS side_flip_accepted
  FROM fproofs, LATERAL generate_series(0, jsonb_array_length(p->'proof') - 1) k
 WHERE i IN (0, 7, 20) ORDER BY i, k;
SELECT nedb.verify_file_proof(p) AS ok
  FROM (VALUES ('{}'::jsonb), ('[]'), ((SELECT p FROM fproofs WHERE i = 3) - 'proof'),
               (jsonb_set((SELECT p FROM fproofs WHERE i = 3), '{proof,0,1}', '"X"')),
               (jsonb_set((SELECT p FROM fproofs WHERE i = 3), '{proof,0}', '["ab", "L"]')),
               (jsonb_set((SELECT p FROM fproofs WHERE i = 3), '{proof}', '{}'))) v(p);

-- the same bytes under another name: no new chunk
SELECT nedb.put_file('copy.txt', edited) FROM demo;
SELECT s->'unique_chunks' AS unique_chunks, s->'dedup_hits' AS dedup_hits FROM nedb.compression_stats('warm') s;

-- ---------------------------------------------------------------------------
-- The cold tier (maximum zstd ratio), tiers are separate stores
-- ---------------------------------------------------------------------------
SELECT nedb.put_file('notes_cold.bin', base, 'cold') FROM demo;
SELECT s->'unique_chunks' AS unique_chunks, s->'dedup_hits' AS dedup_hits, s->'logical_bytes' AS logical_bytes,
       (s->>'stored_bytes')::int8 <= (SELECT sum(octet_length(data)) FROM nedb.chunks c
                                        WHERE tier = 'warm' AND id IN (SELECT id FROM nedb.chunks WHERE tier = 'cold')) AS no_worse_than_warm
  FROM nedb.compression_stats('cold') s;
SELECT nedb.get_file('notes_cold.bin', 0, 'cold') = base AS cold_exact FROM demo;
SELECT try($$SELECT nedb.get_file('notes_cold.bin')$$);
SELECT try($$SELECT nedb.get_file('notes.txt', 0, 'cold')$$);
SELECT tier, version FROM nedb.file_versions('notes_cold.bin');

-- incompressible bytes are stored raw; Postgres does not compress them again
SELECT nedb.put_file('random.bin', data) FROM vr;
SELECT nedb.get_file('random.bin') = data AS random_exact FROM vr;
SELECT codec, count(*), bool_and(octet_length(data) = raw_len) AS raw_sizes
  FROM nedb.chunks WHERE tier = 'warm' GROUP BY codec ORDER BY codec;
SELECT attname, attstorage FROM pg_attribute
 WHERE attrelid IN ('nedb.chunks'::regclass, 'nedb.files'::regclass) AND attname IN ('data', 'chunks');
SELECT count(*) AS toast_compressed FROM nedb.chunks WHERE pg_column_compression(data) IS NOT NULL;

-- the empty file: no chunks, root of no leaves
SELECT nedb.put_file('empty', '');
SELECT nedb.get_file('empty') = '' AS empty_exact, nedb.file_root('empty') = repeat('0', 64) AS zero_root;
SELECT chunks, size FROM nedb.file_versions('empty');
SELECT try($$SELECT nedb.file_proof('empty', 0)$$);

-- a larger file (5 MB, chunks of every size) reads back exactly
CREATE TEMP TABLE big AS
SELECT convert_to(string_agg(md5(i::text) || CASE WHEN i % 7 = 0 THEN repeat('x', i % 5000) ELSE '' END, ''), 'UTF8') AS data
  FROM generate_series(1, 40000) i;
SELECT nedb.put_file('big.txt', data) FROM big;
SELECT nedb.get_file('big.txt') = data AS big_exact, length(data) > 5000000 AS over_5mb FROM big;
SELECT chunks > 100 AS many_chunks FROM nedb.file_versions('big.txt');

-- ---------------------------------------------------------------------------
-- Transactions, nonces, idempotency
-- ---------------------------------------------------------------------------
-- a rolled-back put_file leaves neither the version, nor its chunks, nor an op
CREATE TEMP TABLE before AS SELECT (SELECT count(*) FROM nedb.chunks) AS chunks, nedb.seq() AS seq;
BEGIN;
SELECT nedb.put_file('gone.bin', convert_to(repeat('rolled back ', 100000), 'UTF8'));
ROLLBACK;
SELECT (SELECT count(*) FROM nedb.chunks) = chunks AS same_chunks, nedb.seq() = seq AS same_seq,
       (SELECT count(*) FROM nedb.file_versions('gone.bin')) AS versions FROM before;
-- idempotency key: the retry returns the version and writes nothing
SELECT nedb.put_file('idem.txt', 'abc', idem => 'file-1') AS first,
       nedb.put_file('idem.txt', 'abc', idem => 'file-1') AS retry;
SELECT count(*) AS versions FROM nedb.file_versions('idem.txt');
SELECT count(*) AS ops FROM nedb.log WHERE idem = 'file-1';
-- nonces as every write
SELECT nedb.put_file('n.txt', 'x', client => 'svc', nonce => 5);
SELECT try($$SELECT nedb.put_file('n.txt', 'y', client => 'svc', nonce => 5)$$);
SELECT try($$SELECT nedb.put_file('n.txt', 'y', idem => 'proof-1')$$), try($$SELECT nedb.put('c', 'd', '{}', idem => 'file-1')$$);
SELECT count(*) AS versions FROM nedb.file_versions('n.txt');

-- ---------------------------------------------------------------------------
-- Bad input: a clear error, never wrong bytes
-- ---------------------------------------------------------------------------
SELECT try($$SELECT nedb.get_file('nope')$$);
SELECT try($$SELECT nedb.file_root('nope')$$);
SELECT try($$SELECT nedb.get_file('notes.txt', 2)$$);
SELECT try($$SELECT nedb.get_file('notes.txt', -3)$$);
SELECT try($$SELECT nedb.put_file('x', 'abc', 'hot')$$);
SELECT try($$SELECT nedb.get_file('notes.txt', 0, 'hot')$$);
SELECT try($$SELECT nedb.compression_stats('hot')$$);
SELECT try($$SELECT nedb.put_file('x', NULL)$$);
SELECT try($$SELECT nedb.put_file('', 'abc')$$);
SELECT try($$SELECT nedb.put_file(NULL, 'abc')$$);
SELECT try($$SELECT nedb.file_proof('notes.txt', 21, 1)$$);
SELECT try($$SELECT nedb.file_proof('notes.txt', -1)$$);
SELECT try($$SELECT nedb.merkle_root(ARRAY['xyz'])$$);

-- a tampered chunk: the read fails, naming the chunk
CREATE TEMP TABLE victim AS
SELECT c.* FROM nedb.chunks c WHERE tier = 'warm' AND codec = 1
   AND id = substr((SELECT chunks FROM nedb.files WHERE name = 'notes.txt' AND version = 0), 1 + 36 * 3, 32);
UPDATE nedb.chunks c SET data = set_byte(c.data, 20, get_byte(c.data, 20) # 4)
  FROM victim v WHERE c.tier = v.tier AND c.id = v.id;
SELECT regexp_replace(try($$SELECT nedb.get_file('notes.txt', 0)$$), '[0-9a-f]{64}', '<id>');
SELECT regexp_replace(try($$SELECT nedb.get_file('copy.txt')$$), '[0-9a-f]{64}', '<id>');
-- bytes that decompress but do not hash to the id
UPDATE nedb.chunks c SET codec = 0, data = set_byte(convert_to(repeat('z', v.raw_len), 'UTF8'), 0, 121)
  FROM victim v WHERE c.tier = v.tier AND c.id = v.id;
SELECT regexp_replace(try($$SELECT nedb.get_file('notes.txt', 0)$$), '[0-9a-f]{64}', '<id>');
-- a missing chunk
DELETE FROM nedb.chunks c USING victim v WHERE c.tier = v.tier AND c.id = v.id;
SELECT regexp_replace(try($$SELECT nedb.get_file('notes.txt', 0)$$), '[0-9a-f]{64}', '<id>');
-- the other files do not need that chunk
SELECT nedb.get_file('notes_cold.bin', 0, 'cold') = base AS cold_still_exact FROM demo;
-- put back, all reads are exact again
INSERT INTO nedb.chunks SELECT * FROM victim;
SELECT nedb.get_file('notes.txt', 0) = base AS restored FROM demo;
SELECT nedb.verify();
