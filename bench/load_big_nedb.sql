-- bench/load_big_nedb.sql -- NEDB side of the 1M-document data set (db
-- "big"): 1,000,000 nedb.put of the staged block documents into collection
-- 'v', ids b1..b1000000 in height order (so the put of bN is seq N-1),
-- committed every 500 documents (the chain lock is held to commit; small
-- transactions keep each one's lock time, WAL and memory small).
\set ON_ERROR_STOP on
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
