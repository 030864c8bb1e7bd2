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
SELECT l AS plan FROM nedb.explain('FROM blocks ORDER BY height DESC LIMIT 10') l LIMIT 1;
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

\echo '== tamper-evidence: the log is append-only, and verify proves it'
DO $$ BEGIN
    UPDATE nedb.ops SET nonce = 0 WHERE seq = 0;
EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'refused: %', SQLERRM;
END $$;
SELECT * FROM nedb.verify_report();

\echo '== the first op, as a reference AOF line'
SELECT left(l, 160) || '...' AS aof_line FROM nedb.export_aof() l LIMIT 1;

