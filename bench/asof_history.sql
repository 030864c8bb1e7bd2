-- bench/asof_history.sql -- before the asof reads: a second version of
-- b1..b20000 (20,000 overwrites of collection 'v' with the same block
-- documents, 500 per transaction), so some keys have history and an AS OF
-- read of them must skip the newer version.
DO $$
BEGIN
	FOR i IN 0..39 LOOP
		PERFORM nedb.put('v', id, doc)
		   FROM staging WHERE height BETWEEN i * 500 + 1 AND i * 500 + 500
		  ORDER BY height;
		COMMIT;
	END LOOP;
END
$$;
