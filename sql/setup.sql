--
-- setup: the extension, the test helper, and an empty database's invariants
--
CREATE EXTENSION nedb;

-- run a statement; report 'ok' or its SQLSTATE and message
CREATE FUNCTION public.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- empty database: seq -1, head 64 zeros, verify true
SELECT nedb.seq() AS seq, nedb.head() = repeat('0', 64) AS genesis, nedb.verify() AS verify;
SELECT * FROM nedb.verify_report();
SELECT count(*) FROM nedb.log;
SELECT * FROM nedb.export_aof();

-- the core needs no shared_preload_libraries; its tables are plain relations
SELECT c.relname, c.relkind, c.relpersistence
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'nedb' AND c.relkind IN ('r', 'v') ORDER BY 1;
