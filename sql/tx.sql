--
-- tx: all-or-nothing batches with if_seq preconditions
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

SELECT nedb.put('acct', 'a', '{"bal": 100}') ->> '_seq' AS a_seq;    -- 0
SELECT nedb.put('acct', 'b', '{"bal": 0}') ->> '_seq' AS b_seq;      -- 1

-- a transfer guarded by the versions it read
SELECT nedb.tx('[
  {"op": "put", "coll": "acct", "id": "a", "doc": {"bal": 60}, "if_seq": 0},
  {"op": "put", "coll": "acct", "id": "b", "doc": {"bal": 40}, "if_seq": 1},
  {"op": "put", "coll": "acct", "id": "c", "doc": {"bal": 0}, "if_seq": -1},
  {"op": "link", "frm": "acct:a", "rel": "paid", "to": "acct:b"},
  {"op": "del", "coll": "acct", "id": "zz"}
]');

-- a stale precondition: nothing is written, the failures are listed
SELECT try($$SELECT nedb.tx('[
  {"op": "put", "coll": "acct", "id": "a", "doc": {"bal": 0}, "if_seq": 0},
  {"op": "put", "coll": "acct", "id": "c", "doc": {"bal": 1}, "if_seq": -1},
  {"op": "put", "coll": "acct", "id": "b", "doc": {"bal": 1}, "if_seq": 3}
]')$$);
SELECT nedb.seq();
DO $$
BEGIN
    PERFORM nedb.tx('[{"op": "put", "coll": "acct", "id": "a", "doc": {}, "if_seq": 0},
                      {"op": "del", "coll": "acct", "id": "new", "if_seq": 7}]');
EXCEPTION WHEN serialization_failure THEN
    DECLARE d text;
    BEGIN
        GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
        RAISE NOTICE 'detail: %', d;
    END;
END $$;

-- if_seq -1 means absent; a tombstone counts as absent; a delete's seq is a version
SELECT nedb.delete('acct', 'c');
SELECT nedb.tx('[{"op": "put", "coll": "acct", "id": "c", "doc": {"bal": 5}, "if_seq": -1}]') -> 'count' AS count;
SELECT nedb.delete('acct', 'c') AS del_seq \gset
SELECT nedb.tx(format('[{"op": "put", "coll": "acct", "id": "c", "doc": {"bal": 6}, "if_seq": %s}]', :del_seq)::jsonb) -> 'results' -> 0 -> 'doc' ->> 'bal' AS bal;

-- malformed ops: refused before anything is written (the reference applied the earlier ones)
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {}}, {"op": "put", "id": "2", "doc": {}}]')$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {}}, {"op": "frobnicate"}]')$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": [1]}]')$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {}, "if_sq": 3}]')$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {}, "if_seq": -2}]')$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {}, "if_seq": 1.5}]')$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {}, "if_seq": "3"}]')$$);
SELECT try($$SELECT nedb.tx('[1]')$$);
SELECT try($$SELECT nedb.tx('{"op": "put"}')$$);
SELECT try($$SELECT nedb.tx(NULL)$$);
-- a stale nonce part-way: the earlier ops are rolled back too
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {}, "client": "k", "nonce": 5},
                               {"op": "put", "coll": "x", "id": "2", "doc": {}, "client": "k", "nonce": 5}]')$$);
SELECT nedb.get('x', '1') AS nothing, count(*) AS k_nonces FROM nedb.clients WHERE client = 'k';

-- idem keys dedupe inside a tx; empty tx is fine
SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "1", "doc": {"n": 1}, "idem": "t-1"},
                 {"op": "put", "coll": "x", "id": "1", "doc": {"n": 2}, "idem": "t-1"}]') -> 'results';
SELECT nedb.tx('[]');
-- provenance and ttl in a tx op
WITH r AS (SELECT nedb.tx('[{"op": "put", "coll": "x", "id": "p", "doc": {}, "caused_by": [0, 1],
                             "evidence": "tool_result", "ttl_s": 60}]') -> 'results' -> 0 -> 'doc' AS d)
SELECT d #- '{_expires_at}' AS doc,
       (d ->> '_expires_at')::float8 - extract(epoch FROM now()) BETWEEN 30 AND 90 AS expires_in_a_minute
  FROM r;
SELECT caused_by, evidence FROM nedb.log WHERE seq = nedb.seq();
SELECT nedb.verify();
