--
-- repl: the SQL surface of replication (the workers themselves are tested
-- with live servers by t/007_replication.pl)
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT count(nedb.put('r', 'k' || i, jsonb_build_object('i', i))) FROM generate_series(0, 9) i;

-- export_aof in batches: at most max lines after since, the same lines
SELECT (l::jsonb) ->> 'seq' AS seq FROM nedb.export_aof(3, 2) l;
SELECT count(*) FROM nedb.export_aof(-1, 4);
SELECT count(*) FROM nedb.export_aof(8, 5);
SELECT count(*) FROM nedb.export_aof(9, 5);
SELECT count(*) FROM nedb.export_aof(2, 0);
SELECT (SELECT string_agg(l, E'\n') FROM nedb.export_aof(4, 3) l) =
       (SELECT string_agg(l, E'\n') FROM (SELECT l FROM nedb.export_aof(4) l LIMIT 3) x) AS same_lines;
SELECT try($$SELECT nedb.export_aof(0, -1)$$);

-- bad subscriptions
SELECT try($$SELECT nedb.subscribe(NULL, 'dbname=x')$$);
SELECT try($$SELECT nedb.subscribe('', 'dbname=x')$$);
SELECT try($$SELECT nedb.subscribe('up', NULL)$$);
SELECT try($$SELECT nedb.subscribe('up', 'nonsense')$$);
SELECT try($$SELECT nedb.subscribe('up', 'host=/tmp nosuchoption=1')$$);
SELECT try($$SELECT nedb.unsubscribe('up')$$);
CREATE ROLE nedb_repl_tester;
GRANT USAGE ON SCHEMA nedb TO nedb_repl_tester;
SET ROLE nedb_repl_tester;
SELECT try($$SELECT nedb.subscribe('up', 'dbname=x')$$);
SELECT try($$SELECT nedb.unsubscribe('up')$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION nedb.subscribe(text, text) TO nedb_repl_tester;
SET ROLE nedb_repl_tester;
SELECT try($$SELECT nedb.subscribe('up', 'dbname=x')$$);
RESET ROLE;
SELECT count(*) AS no_subscription FROM nedb.subscriptions;

-- a rolled-back subscribe leaves nothing: the database stays writable
BEGIN;
SELECT nedb.subscribe('up', 'host=/nonexistent port=1 dbname=nowhere connect_timeout=1');
ROLLBACK;
SELECT count(*) AS no_subscription FROM nedb.subscription;
SELECT nedb.put('r', 'still', '{}') ->> '_seq' AS seq;

-- a following database (here of a primary that is not there) refuses local writes
SELECT nedb.subscribe('up', 'host=/nonexistent port=1 dbname=nowhere connect_timeout=1');
SELECT name, state <> 'error' AS not_failed, applied_seq, applied_seq = nedb.seq() AS applied_is_head
  FROM nedb.subscriptions;
SELECT try($$SELECT nedb.put('r', 'x', '{}')$$);
SELECT try($$SELECT nedb.delete('r', 'k1')$$);
SELECT try($$SELECT nedb.link('a', 'r', 'b')$$);
SELECT try($$SELECT nedb.tx('[{"op": "put", "coll": "r", "id": "x", "doc": {}}]')$$);
SELECT try($$SELECT nedb.sweep()$$);
SELECT nedb.seq() AS nothing_written;
-- reads work as ever
SELECT nedb.get('r', 'k3');
-- one subscription per database
SELECT try($$SELECT nedb.subscribe('other', 'dbname=x')$$);
SELECT try($$SELECT nedb.subscribe('up', 'dbname=x')$$);
SELECT try($$SELECT nedb.unsubscribe('other')$$);
-- a rolled-back unsubscribe changes nothing
BEGIN;
SELECT nedb.unsubscribe('up');
ROLLBACK;
SELECT try($$SELECT nedb.put('r', 'x', '{}')$$);

-- promotion: after unsubscribe the database is writable and continues its chain
SELECT nedb.unsubscribe('up');
SELECT count(*) AS no_subscription FROM nedb.subscriptions;
SELECT nedb.put('r', 'x', '{}') ->> '_seq' AS seq;
SELECT nedb.verify();
REVOKE EXECUTE ON FUNCTION nedb.subscribe(text, text) FROM nedb_repl_tester;
REVOKE USAGE ON SCHEMA nedb FROM nedb_repl_tester;
DROP ROLE nedb_repl_tester;
