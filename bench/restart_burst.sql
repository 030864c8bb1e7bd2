-- bench/restart_burst.sql -- the writes before each immediate stop of the
-- restart benchmark: 20,000 nedb.put of block documents under new ids
-- (collection 'r', ids <seq at start>.<block id>) in 500-document
-- transactions, so that crash recovery has the same amount of WAL to replay
-- before either probe.
DO $$
DECLARE
	tag text := nedb.seq()::text;
BEGIN
	FOR i IN 0..39 LOOP
		PERFORM nedb.put('r', tag || '.' || id, doc)
		   FROM staging WHERE height BETWEEN i * 500 + 1 AND i * 500 + 500
		  ORDER BY height;
		COMMIT;
	END LOOP;
END
$$;
