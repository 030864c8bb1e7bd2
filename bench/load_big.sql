-- bench/load_big.sql -- the 1M-document data set shared by verify, restart
-- and asof (db "big"; run.sh stages blocks.sql with n=1000000 as "staging").
--
-- NEDB: 1,000,000 nedb.put of the block documents into collection 'v', ids
-- b1..b1000000 in height order (so the put of bN is seq N-1), committed
-- every 500 documents.  Larger transactions get slower per document (every
-- put of a transaction updates the same nedb.clients row; see the report),
-- so 100k-document chunks are much slower than this.
-- Plain: the same documents in a heap table with a text primary key and a
-- btree on height.
\set ON_ERROR_STOP on

CREATE TABLE plain_big (id text PRIMARY KEY, height bigint NOT NULL, doc jsonb NOT NULL);
CREATE INDEX plain_big_height ON plain_big (height);
INSERT INTO plain_big SELECT id, height, doc FROM staging ORDER BY height;

DO $$
BEGIN
	FOR i IN 0..1999 LOOP
		PERFORM nedb.put('v', id, doc)
		   FROM staging WHERE height BETWEEN i * 500 + 1 AND i * 500 + 500
		  ORDER BY height;
		COMMIT;
	END LOOP;
END
$$;

VACUUM (ANALYZE) plain_big;
VACUUM (ANALYZE) nedb.ops;
VACUUM (ANALYZE) nedb.versions;
VACUUM (ANALYZE) nedb.clients;
CHECKPOINT;
