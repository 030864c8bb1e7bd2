--
-- changefeed: nedb.tip() and bounded pages of the log with nedb.since()
--
SELECT seq AS t0 FROM nedb.tip() \gset
SELECT nedb.put('feed', 'a', '{"n": 1}') IS NOT NULL AS put;
SELECT nedb.put('feed', 'b', '{"n": 2}') IS NOT NULL AS put;
SELECT nedb.delete('feed', 'a') IS NOT NULL AS deleted;
SELECT nedb.link('feed:b', 'next', 'feed:c') IS NOT NULL AS linked;
SELECT (t.seq - :t0) AS new_ops, t.hash = nedb.head() AS head_hash FROM nedb.tip() t;

-- every field of nedb.log, in seq order, with head_seq
SELECT seq - :t0 AS rel, op, payload, prev_hash = lag(hash) OVER (ORDER BY seq) AS linked,
       head_seq - :t0 AS head
  FROM nedb.since(:t0);
SELECT count(*) = 4 AS same_as_log FROM (
    SELECT seq, client, nonce, op, payload, ts, idem, prev_hash, hash, caused_by,
           evidence, confidence, valid_from, valid_to FROM nedb.since(:t0)
    INTERSECT
    SELECT * FROM nedb.log WHERE seq > :t0) x;

-- paging: a cursor and a limit; has_more is last seq < head_seq
SELECT seq - :t0 AS rel, max(seq) OVER () < head_seq AS has_more FROM nedb.since(:t0, 2);
SELECT seq - :t0 AS rel, max(seq) OVER () < head_seq AS has_more FROM nedb.since(:t0 + 2, 2);
SELECT count(*) AS past_the_end FROM nedb.since(:t0 + 4);
-- bounded whatever the limit: NULL is the default, huge is capped, negative is nothing
SELECT count(nedb.put('feed_bulk', g::text, '{}')) AS bulk FROM generate_series(1, 100001) g;
SELECT count(*) AS capped_default FROM nedb.since(:t0, NULL);
SELECT count(*) AS capped_huge FROM nedb.since(:t0, 2147483647);
SELECT count(*) AS negative FROM nedb.since(:t0, -5);
SELECT count(*) AS null_cursor_from_start FROM nedb.since(NULL, 1);

-- the whole log: EXECUTE is granted deliberately
CREATE ROLE feed_reader;
GRANT USAGE ON SCHEMA nedb TO feed_reader;
SET ROLE feed_reader;
SELECT seq >= 0 AS tip_for_all FROM nedb.tip();
SELECT try($$SELECT count(*) FROM nedb.since(0)$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION nedb.since(bigint, integer) TO feed_reader;
SET ROLE feed_reader;
SELECT count(*) AS granted FROM nedb.since(:t0);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION nedb.since(bigint, integer) FROM feed_reader;
REVOKE USAGE ON SCHEMA nedb FROM feed_reader;
DROP ROLE feed_reader;
