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

-- every schema, function, table and view of the extension says what it is
-- (\dn+, \df+, \d+); schema nedb is one of its members
SELECT d.classid::regclass AS catalog, pg_describe_object(d.classid, d.objid, 0) AS undocumented
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'nedb'
 WHERE d.deptype = 'e'
   AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_namespace'::regclass)
   AND (d.classid <> 'pg_class'::regclass
        OR (SELECT relkind FROM pg_class WHERE oid = d.objid) IN ('r', 'v', 'm', 'f'))
   AND obj_description(d.objid, d.classid::regclass::name) IS NULL
 ORDER BY 1, 2;
SELECT e.extversion, e.extnamespace::regnamespace AS extnamespace,
       (SELECT count(*) FROM pg_depend d
         WHERE d.classid = 'pg_namespace'::regclass AND d.objid = 'nedb'::regnamespace
           AND d.refobjid = e.oid AND d.deptype = 'e') AS schema_member
  FROM pg_extension e WHERE e.extname = 'nedb';
