--
-- ttl: expiry, expire(), sweep()
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

SELECT nedb.put('s', 'live', '{"v": 1}', ttl => '1 hour') ? '_expires_at' AS has_expiry;
SELECT (nedb.get('s', 'live') ->> '_expires_at')::float8 - extract(epoch FROM now()) BETWEEN 3500 AND 3700 AS in_an_hour;
SELECT nedb.put('s', 'dead', '{"v": 2}', ttl => '-1 second') ->> '_seq' AS dead_seq;
SELECT nedb.put('s', 'plain', '{"v": 3}') ->> '_seq' AS plain_seq;

-- an expired document reads as gone at HEAD, without writing anything
SELECT nedb.get('s', 'dead') AS dead_now, nedb.get('s', 'dead', 1) ->> 'v' AS dead_as_of_1;
SELECT nedb.seq();

-- expire(): re-put with a new ttl; false when missing or already expired
SELECT nedb.expire('s', 'plain', '10 minutes') AS plain, nedb.expire('s', 'nope', '1 minute') AS nope,
       nedb.expire('s', 'dead', '1 minute') AS dead;
SELECT nedb.get('s', 'plain') ->> 'v' AS v, nedb.get('s', 'plain') ? '_expires_at' AS has_expiry;
-- the re-put carries the stored document as the reference's does: its
-- _seq (the old one, hashed) and the new _expires_at; the stored version
-- gets the new _seq
SELECT nedb.op_body(nedb.seq())::jsonb -> 'payload' -> 'doc' ->> '_seq' AS payload_seq,
       (nedb.op_body(nedb.seq())::jsonb -> 'payload' -> 'doc' ->> '_expires_at')::float8
         = (nedb.get('s', 'plain') ->> '_expires_at')::float8 AS payload_expiry,
       (nedb.get('s', 'plain') ->> '_seq')::bigint = nedb.seq() AS stored_seq,
       (SELECT payload -> 'doc' ->> '_seq' FROM nedb.log WHERE seq = nedb.seq()) AS log_view_seq,
       nedb.verify() AS verifies;
SELECT nedb.expire('s', 'live', '-1 second');

-- sweep(): logs a delete for every expired document, as client __ttl__
SELECT nedb.sweep();
SELECT op, client, payload ->> 'id' AS id FROM nedb.log WHERE client = '__ttl__' ORDER BY seq;
SELECT nedb.sweep();
-- any number in _expires_at compares; none breaks reads or sweeps
SELECT nedb.put('s', 'forever', '{"_expires_at": 1e400}') ->> '_id' AS id;
SELECT nedb.put('s', 'ancient', '{"_expires_at": -1e400}') ->> '_id' AS id;
SELECT nedb.put('s', 'odd', '{"_expires_at": "tomorrow"}') ->> '_id' AS id;
SELECT nedb.get('s', 'forever') IS NOT NULL AS forever, nedb.get('s', 'ancient') IS NULL AS ancient_gone,
       nedb.get('s', 'odd') IS NOT NULL AS string_ignored;
SELECT r ->> '_id' AS id FROM nql('FROM s') r;
SELECT nedb.sweep();

-- history keeps what expired
SELECT seq, op, doc ->> 'v' AS v FROM nedb.history('s', 'dead');
SELECT nedb.verify();

-- sweep(lim): at most lim deletes, oldest first, the same ops as sweep();
-- the rest at the next call, none twice
SELECT count(nedb.put('b', 'e' || i, jsonb_build_object('i', i), ttl => '-1 second')) AS expired
  FROM generate_series(1, 5) i;
SELECT nedb.put('b', 'kept', '{}') ->> '_id' AS id;
SELECT nedb.sweep(2) AS swept;
SELECT payload ->> 'id' AS id FROM nedb.log WHERE client = '__ttl__' AND payload ->> 'coll' = 'b' ORDER BY seq;
SELECT nedb.sweep(2) AS swept;
SELECT nedb.sweep(2) AS swept;
SELECT nedb.sweep(2) AS swept;
SELECT payload ->> 'id' AS id, count(*) AS deletes, min(op) AS op
  FROM nedb.log WHERE client = '__ttl__' AND payload ->> 'coll' = 'b' GROUP BY 1 ORDER BY 1;
SELECT r ->> '_id' AS id FROM nql('FROM b') r;
SELECT try($$SELECT nedb.sweep(0)$$) AS zero, try($$SELECT nedb.sweep(-1)$$) AS negative,
       try($$SELECT nedb.sweep(NULL::integer)$$) AS null_lim;
SELECT nedb.verify();

-- granted deliberately, like sweep(); the view shows the background
-- sweeper's runs (nedb.sweep_interval, off unless set: no rows here)
SELECT p::regprocedure AS function, has_function_privilege('public', p, 'EXECUTE') AS public_may
  FROM unnest(ARRAY['nedb.sweep()'::regprocedure, 'nedb.sweep(integer)'::regprocedure,
                    'nedb.sweeper_status()'::regprocedure]) p;
SELECT has_table_privilege('public', 'nedb.sweeper', 'SELECT') AS public_may_read_sweeper;
SELECT current_setting('nedb.sweep_interval') AS sweep_interval,
       current_setting('nedb.sweep_batch') AS sweep_batch;
SELECT count(*) AS sweeper_rows FROM nedb.sweeper;
SELECT attname, atttypid::regtype FROM pg_attribute
 WHERE attrelid = 'nedb.sweeper'::regclass AND attnum > 0 ORDER BY attnum;
