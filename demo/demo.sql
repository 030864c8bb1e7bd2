-- NEDB demo: a block explorer's documents in a hash-chained, time-traveling store
\set ON_ERROR_STOP 1
\pset pager off
\timing off
CREATE EXTENSION IF NOT EXISTS nedb;

\echo '== load :n blocks through nedb.put, 500 per transaction'
SELECT format('SELECT count(nedb.put(''blocks'', id, doc)) FROM (%s) b WHERE height BETWEEN %s AND %s',
              :'blocks_query', lo, lo + 499)
  FROM generate_series(1, :n, 500) lo \gexec
SELECT nedb.create_index('blocks', 'height', 'sorted');
SELECT nedb.create_index('blocks', 'miner', 'eq');

\echo '== the chain: seq, head, verify'
SELECT nedb.seq() AS seq, nedb.head() AS head, nedb.verify() AS verify;

\echo '== a point read, and NQL: the latest ten blocks through the sorted index'
SELECT nedb.get('blocks', 'b42') - 'txids' AS block_42;
SELECT b ->> 'height' AS height, b ->> 'miner' AS miner, left(b ->> 'hash', 16) AS hash
  FROM nql('FROM blocks ORDER BY height DESC LIMIT 10') b;
SELECT l AS plan FROM nedb.explain('FROM blocks ORDER BY height DESC LIMIT 10') l;
-- Postgres's own EXPLAIN shows the same path (the NEDB NQL Scan node), with ANALYZE the rows read
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT * FROM nql('FROM blocks WHERE height > 9000 ORDER BY height DESC LIMIT 10');
SELECT * FROM nql('FROM blocks WHERE height > 9000 GROUP BY miner COUNT');

\echo '== a reorg: block b42 is replaced; AS OF still sees the old one'
SELECT nedb.seq() AS before_reorg \gset
SELECT nedb.put('blocks', 'b42', (nedb.get('blocks', 'b42') - '_seq') || '{"hash": "reorged", "orphaned": false}') ->> '_seq' AS reorg_seq;
SELECT nedb.get('blocks', 'b42') ->> 'hash' AS now, nedb.get('blocks', 'b42', :before_reorg) ->> 'hash' AS as_of_before;
SELECT seq, op, doc ->> 'hash' AS hash FROM nedb.history('blocks', 'b42');

\echo '== relations, replay protection, idempotency, an atomic batch'
SELECT nedb.link('blocks:b42', 'parent', 'blocks:b41');
SELECT * FROM nedb.neighbors('blocks:b42', 'parent');
SELECT nedb.put('alerts', 'a1', '{"msg": "new tip"}', client => 'indexer', nonce => 1) ->> '_seq' AS seq;
DO $$ BEGIN
    PERFORM nedb.put('alerts', 'a1', '{"msg": "replayed"}', client => 'indexer', nonce => 1);
EXCEPTION WHEN unique_violation THEN RAISE NOTICE 'refused: %', SQLERRM;
END $$;
SELECT nedb.put('alerts', 'a2', '{"msg": "once"}', idem => 'alert-a2') ->> '_seq' AS first;
SELECT nedb.put('alerts', 'a2', '{"msg": "once"}', idem => 'alert-a2') ->> '_seq' AS retried;
SELECT nedb.seq() AS seq_unchanged;
SELECT nedb.tx('[{"op": "put", "coll": "alerts", "id": "a3", "doc": {"msg": "batched"}, "if_seq": -1},
                 {"op": "link", "frm": "alerts:a3", "rel": "about", "to": "blocks:b42"}]') - 'results' AS tx;

\echo '== the collection as a foreign table: plain SQL, pushed down to the sorted index, writes through the chain'
CREATE FOREIGN TABLE blocks_ft (_id text, _seq bigint, height bigint, miner text, hash text)
  SERVER nedb OPTIONS (collection 'blocks');
SELECT _id, height, miner FROM blocks_ft WHERE height > :n - 100 ORDER BY height DESC LIMIT 3;
EXPLAIN (VERBOSE, COSTS OFF) SELECT _id FROM blocks_ft ORDER BY height DESC LIMIT 3;
INSERT INTO blocks_ft (_id, height, miner, hash) VALUES ('b' || (:n + 1), :n + 1, 'omega', 'tip')
  RETURNING _id, _seq;
SELECT nedb.get('blocks', 'b' || (:n + 1)) AS written_through_the_chain;

\echo '== log proofs: this op is in the log, and today''s log extends an older one'
SELECT seq, left(root, 16) AS root FROM nedb.digest();
SELECT nedb.verify_inclusion(nedb.proof(42), d.seq, d.root) AS op_42_included,
       nedb.verify_consistency(nedb.consistency(100), 100, (nedb.digest(100)).root, d.seq, d.root)
         AS extends_log_at_100,
       jsonb_array_length(nedb.proof(42) -> 'path') AS proof_hashes
  FROM nedb.digest() d;

\echo '== Cascade: files in content-defined, deduplicated, zstd-compressed chunks'
SELECT nedb.put_file('explorer.log', convert_to(string_agg(format('block %s mined by %s', g, 'm' || g % 7), E'\n'), 'UTF8'))
  AS version FROM generate_series(1, 20000) g;
SELECT nedb.put_file('explorer.log', overlay(nedb.get_file('explorer.log') PLACING convert_to('EDITED', 'UTF8') FROM 200000))
  AS version;
SELECT version, size, chunks, left(root, 16) AS root FROM nedb.file_versions('explorer.log');
SELECT nedb.compression_stats('warm') AS warm_tier;

\echo '== tamper-evidence: the log is append-only, and verify proves it'
DO $$ BEGIN
    UPDATE nedb.ops SET nonce = 0 WHERE seq = 0;
EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'refused: %', SQLERRM;
END $$;
SELECT * FROM nedb.verify_report();

\echo '== the first op, as a reference AOF line'
SELECT left(l, 160) || '...' AS aof_line FROM nedb.export_aof() l LIMIT 1;

