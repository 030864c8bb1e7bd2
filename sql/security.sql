--
-- security: the attacks of an ordinary application role.  Nothing it
-- defines runs as the extension's owner, and it reads and changes only the
-- collections it was granted.
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
\set VERBOSITY terse

-- a statement that must leave nothing behind: 'ok' (rolled back) or its error
CREATE FUNCTION public.try_rb(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE q;
        RAISE EXCEPTION USING ERRCODE = 'NEDBX', MESSAGE = 'rolled back';
    EXCEPTION WHEN OTHERS THEN
        IF SQLSTATE = 'NEDBX' THEN RETURN 'ok'; END IF;
        RETURN SQLSTATE || CASE WHEN SQLERRM LIKE 'ESCALATED%' THEN ' ' || SQLERRM ELSE '' END;
    END;
END $$;
GRANT EXECUTE ON FUNCTION public.try_rb(text) TO PUBLIC;

SELECT nedb.put('accounts', 'alice', '{"balance": 100}') - '_seq';
SELECT nedb.put('accounts', 'bob', '{"balance": 50}') - '_seq';
SELECT nedb.put('secret', 's1', '{"pin": 1234}') - '_seq';
SELECT nedb.link('accounts:alice', 'owes', 'accounts:bob');
SELECT nedb.link('accounts:alice', 'owes', 'secret:s1');
SELECT nedb.link('secret:s1', 'owes', 'accounts:bob');
SELECT nedb.put_file('f.txt', 'hello');
SELECT nedb.create_index('accounts', 'balance', 'sorted');
CREATE FOREIGN TABLE public.acct (_id text, balance bigint) SERVER nedb OPTIONS (collection 'accounts');

-- ---------------------------------------------------------------------------
-- 1. Nothing of the caller's runs as the owner
-- ---------------------------------------------------------------------------
-- The attacker holds every NEDB privilege a non-superuser can be given, so
-- that every entry point runs its storage statements.
CREATE ROLE nedb_sec_attacker;
GRANT USAGE ON SCHEMA nedb TO nedb_sec_attacker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA nedb TO nedb_sec_attacker;
GRANT USAGE ON FOREIGN SERVER nedb TO nedb_sec_attacker;
GRANT pg_stat_scan_tables TO nedb_sec_attacker;  -- may run sorted_check
GRANT SELECT ON nedb.log, nedb.indexes TO nedb_sec_attacker;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.acct TO nedb_sec_attacker;
CREATE SCHEMA evil AUTHORIZATION nedb_sec_attacker;
SELECT nedb.grant(NULL, 'nedb_sec_attacker', 'all');
SELECT nedb.grant_files('nedb_sec_attacker', 'all');
SET ROLE nedb_sec_attacker;

-- the payload: raise if it runs with a superuser's rights
CREATE FUNCTION evil.pwn() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'ESCALATED to %', current_user;
  END IF;
  RETURN true;
END $f$;
-- temp-schema types: every base type our statements use
CREATE FUNCTION pg_temp.chk(anyelement) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.pwn() $f$;
CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (pg_temp.chk(VALUE));
CREATE DOMAIN pg_temp.int4 AS pg_catalog.int4 CHECK (pg_temp.chk(VALUE));
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.chk(VALUE));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.chk(VALUE));
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (pg_temp.chk(VALUE));
CREATE DOMAIN pg_temp.float8 AS pg_catalog.float8 CHECK (pg_temp.chk(VALUE));
CREATE DOMAIN pg_temp.numeric AS pg_catalog.numeric CHECK (pg_temp.chk(VALUE));
CREATE DOMAIN pg_temp.bool AS pg_catalog.bool CHECK (pg_temp.chk(VALUE));
-- temp-schema functions and operators (Postgres never looks there unless
-- asked to, but the attack costs nothing to try)
CREATE FUNCTION pg_temp.lower(text) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN $1 END $f$;
-- user-schema operators, functions and casts, first in search_path
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.pwn() AND pg_catalog.texteq($1, $2) $f$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE FUNCTION evil.int8_eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.pwn() AND pg_catalog.int8eq($1, $2) $f$;
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_eq);
CREATE FUNCTION evil.int8_le(bigint, bigint) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.pwn() AND pg_catalog.int8le($1, $2) $f$;
CREATE OPERATOR evil.<= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_le);
CREATE FUNCTION evil.int8_gt(bigint, bigint) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.pwn() AND pg_catalog.int8gt($1, $2) $f$;
CREATE OPERATOR evil.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_gt);
CREATE FUNCTION evil.int8_lt(bigint, bigint) RETURNS boolean LANGUAGE sql AS $f$ SELECT evil.pwn() AND pg_catalog.int8lt($1, $2) $f$;
CREATE OPERATOR evil.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_lt);
CREATE FUNCTION evil.arrow(jsonb, text) RETURNS jsonb LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.jsonb_object_field($1, $2) END $f$;
CREATE OPERATOR evil.-> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.arrow);
CREATE FUNCTION evil.arrow_text(jsonb, text) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.jsonb_object_field_text($1, $2) END $f$;
CREATE OPERATOR evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.arrow_text);
CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.textcat($1, $2) END $f$;
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.jsonb_typeof($1) END $f$;
CREATE FUNCTION evil.encode(bytea, text) RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.encode($1, $2) END $f$;
CREATE FUNCTION evil.octet_length(bytea) RETURNS integer LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.octet_length($1) END $f$;
CREATE FUNCTION evil.format(text, VARIADIC "any") RETURNS text LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN 'x' END $f$;
CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.to_regclass($1) END $f$;
CREATE FUNCTION evil.strpos(text, text) RETURNS integer LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.strpos($1, $2) END $f$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $f$ SELECT CASE WHEN evil.pwn() THEN pg_catalog.now() END $f$;
-- the payload itself fires when the attacker calls it: the test is live
SELECT try_rb($$SELECT 'a'::text OPERATOR(evil.=) 'a'$$) AS as_attacker;
SELECT try_rb($$SELECT '1'::pg_temp.int8$$) AS as_attacker_domain;
CREATE FOREIGN TABLE evil.mine (_id pg_catalog.text, balance bigint, doc pg_catalog.jsonb)
  SERVER nedb OPTIONS (collection 'accounts');
SET search_path = evil, pg_temp, pg_catalog, public;

-- every entry point, reading and writing: none may say ESCALATED
CREATE TEMP TABLE attack (n int, stmt text);
INSERT INTO attack VALUES
 (1, $$SELECT nedb.put('accounts', 'eve', '{"balance": 1}', idem => 'k1')$$),
 (2, $$SELECT nedb.delete('accounts', 'bob')$$),
 (3, $$SELECT nedb.link('accounts:eve', 'owes', 'accounts:bob')$$),
 (4, $$SELECT nedb.unlink('accounts:alice', 'owes', 'accounts:bob')$$),
 (5, $$SELECT nedb.tx('[{"op": "put", "coll": "accounts", "id": "t", "doc": {}, "if_seq": -1}, {"op": "del", "coll": "accounts", "id": "bob"}, {"op": "link", "frm": "accounts:t", "rel": "r", "to": "x"}]')$$),
 (6, $$SELECT nedb.expire('accounts', 'alice', '1 hour')$$),
 (7, $$SELECT nedb.sweep()$$),
 (8, $$SELECT nedb.get('accounts', 'alice')$$),
 (9, $$SELECT nedb.get('accounts', 'alice', 1)$$),
 (10, $$SELECT nedb.history('accounts', 'alice')$$),
 (11, $$SELECT nedb.neighbors('accounts:alice', 'owes')$$),
 (12, $$SELECT nedb.inbound('accounts:bob', 'owes', 5)$$),
 (13, $$SELECT nedb.seq(), nedb.head()$$),
 (14, $$SELECT * FROM nedb.verify_report()$$),
 (15, $$SELECT nedb.op_body(0)$$),
 (16, $$SELECT nql('FROM accounts WHERE balance > 10 ORDER BY balance DESC LIMIT 5')$$),
 (17, $$SELECT nql('FROM accounts AS OF 2 WHERE _id = "alice" TRAVERSE owes')$$),
 (18, $$SELECT nql('FROM accounts SEARCH "x" GROUP BY balance COUNT')$$),
 (19, $$SELECT nedb.explain('FROM accounts ORDER BY balance DESC LIMIT 3')$$),
 (22, $$SELECT nedb.export_aof()$$),
 (23, $$SELECT nedb.import_aof('')$$),
 (24, $$SELECT nedb.put_file('g.txt', 'abc')$$),
 (25, $$SELECT nedb.get_file('f.txt')$$),
 (26, $$SELECT nedb.file_root('f.txt'), nedb.file_proof('f.txt', 0)$$),
 (27, $$SELECT nedb.file_versions('f.txt')$$),
 (28, $$SELECT nedb.compression_stats()$$),
 (29, $$SELECT nedb.digest(), nedb.proof(1), nedb.consistency(1), nedb.fold_proof(1)$$),
 (30, $$SELECT * FROM nedb.verify_tree()$$),
 (31, $$SELECT * FROM nedb.log$$),
 (32, $$SELECT * FROM public.acct WHERE _id = 'alice' AND balance <= 1000$$),
 (33, $$SELECT * FROM public.acct ORDER BY balance DESC LIMIT 2$$),
 (34, $$INSERT INTO public.acct VALUES ('zed', 5) RETURNING *$$),
 (35, $$UPDATE public.acct SET balance = 7 WHERE _id = 'alice' RETURNING *$$),
 (36, $$DELETE FROM public.acct WHERE _id = 'bob' RETURNING *$$),
 (37, $$SELECT * FROM evil.mine WHERE _id = 'alice'$$),
 (38, $$INSERT INTO evil.mine (_id, doc) VALUES ('m1', '{"a": 1}')$$),
 (39, $$IMPORT FOREIGN SCHEMA nedb FROM SERVER nedb INTO evil$$),
 (40, $$SELECT nedb.has_privilege('accounts', 'write')$$),
 (41, $$SELECT nedb.sorted_check(i), nedb.sorted_stats(i) FROM (SELECT ('nedb.' || index_name)::regclass i FROM nedb.indexes WHERE coll = 'accounts' AND kind = 'sorted') x$$),
 (42, $$SELECT nedb.subscription_worker()$$);
SELECT n, try_rb(stmt) AS result FROM attack ORDER BY n;
-- index builds, each in its own transaction
SELECT try_rb($$SELECT nedb.create_index('accounts', 'name', 'search')$$) AS create_index;
SELECT try_rb($$SELECT nedb.create_index('accounts', 'name', 'sorted')$$) AS create_sorted;
SELECT try_rb($$SELECT nedb.drop_index('accounts', 'balance', 'sorted')$$) AS drop_index;
-- the same with the caller's schema after pg_catalog (only pg_temp shadows then)
SET search_path = pg_catalog, evil, public;
SELECT string_agg(n || ': ' || r, ', ' ORDER BY n) AS not_ok
  FROM (SELECT n, public.try_rb(stmt) r FROM pg_temp.attack) x WHERE r NOT IN ('ok');
RESET search_path;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'nedb_sec_attacker';
-- the attacker's temp types would shadow this session's own "text" from here on
DISCARD TEMP;

-- ---------------------------------------------------------------------------
-- 2. A role reads and changes only what it was granted
-- ---------------------------------------------------------------------------
CREATE ROLE nedb_sec_nobody;      -- USAGE on schema nedb only (the README's minimum)
CREATE ROLE nedb_sec_reader;      -- read accounts
CREATE ROLE nedb_sec_writer;      -- write accounts
CREATE ROLE nedb_sec_both;        -- read and write accounts, through role membership
CREATE ROLE nedb_sec_everything;  -- read every collection
CREATE ROLE nedb_sec_files;       -- read and write Cascade files
CREATE ROLE nedb_sec_auditor;     -- EXECUTE on the log-wide functions, no collection
GRANT USAGE ON SCHEMA nedb TO nedb_sec_nobody, nedb_sec_reader, nedb_sec_writer, nedb_sec_both,
    nedb_sec_everything, nedb_sec_files, nedb_sec_auditor;
SELECT nedb.grant('accounts', 'nedb_sec_reader');
SELECT nedb.grant('accounts', 'nedb_sec_writer', 'write');
GRANT nedb_sec_reader, nedb_sec_writer TO nedb_sec_both;
SELECT nedb.grant(NULL, 'nedb_sec_everything', 'read');
SELECT nedb.grant_files('nedb_sec_files', 'all');
GRANT EXECUTE ON FUNCTION nedb.export_aof(bigint, bigint), nedb.digest(bigint),
    nedb.proof(bigint, bigint), nedb.verify(), nedb.verify_report() TO nedb_sec_auditor;
GRANT SELECT ON nedb.log TO nedb_sec_auditor;
-- the table privilege is the executor's; the collection privilege is the table owner's
GRANT SELECT, INSERT, UPDATE, DELETE ON public.acct TO PUBLIC;
SELECT * FROM nedb.privileges;
SELECT nedb.seq() AS last_seq_before;

CREATE TEMP TABLE entry (n int, name text, stmt text);
INSERT INTO entry VALUES
 (1, 'get', $$SELECT nedb.get('accounts', 'alice')$$),
 (2, 'get other', $$SELECT nedb.get('secret', 's1')$$),
 (3, 'history', $$SELECT nedb.history('accounts', 'alice')$$),
 (4, 'neighbors', $$SELECT nedb.neighbors('accounts:alice', 'owes')$$),
 (5, 'inbound', $$SELECT nedb.inbound('accounts:bob', 'owes')$$),
 (6, 'op_body', $$SELECT nedb.op_body(0)$$),
 (7, 'op_body other', $$SELECT nedb.op_body(2)$$),
 (8, 'nql', $$SELECT nql('FROM accounts')$$),
 (9, 'explain', $$SELECT nedb.explain('FROM accounts')$$),
 (10, 'put', $$SELECT nedb.put('accounts', 'x', '{}')$$),
 (11, 'put other', $$SELECT nedb.put('secret', 'x', '{}')$$),
 (12, 'delete', $$SELECT nedb.delete('accounts', 'bob')$$),
 (13, 'link', $$SELECT nedb.link('accounts:alice', 'r', 'secret:s1')$$),
 (14, 'unlink other', $$SELECT nedb.unlink('secret:s1', 'owes', 'accounts:bob')$$),
 (15, 'tx', $$SELECT nedb.tx('[{"op": "put", "coll": "accounts", "id": "y", "doc": {}}]')$$),
 (16, 'tx other', $$SELECT nedb.tx('[{"op": "put", "coll": "accounts", "id": "y", "doc": {}}, {"op": "del", "coll": "secret", "id": "s1"}]')$$),
 (17, 'expire', $$SELECT nedb.expire('accounts', 'alice', '1 day')$$),
 (18, 'sweep', $$SELECT nedb.sweep()$$),
 (19, 'create_index', $$SELECT nedb.create_index('accounts', 'pin')$$),
 (20, 'import_aof', $$SELECT nedb.import_aof('')$$),
 (21, 'export_aof', $$SELECT nedb.export_aof()$$),
 (22, 'log', $$SELECT * FROM nedb.log$$),
 (23, 'digest', $$SELECT nedb.digest()$$),
 (24, 'proof', $$SELECT nedb.proof(0)$$),
 (25, 'verify', $$SELECT nedb.verify()$$),
 (26, 'seq, head', $$SELECT nedb.seq(), nedb.head()$$),
 (27, 'put_file', $$SELECT nedb.put_file('h.txt', 'x')$$),
 (28, 'get_file', $$SELECT nedb.get_file('f.txt')$$),
 (29, 'file_versions', $$SELECT nedb.file_versions('f.txt')$$),
 (30, 'compression_stats', $$SELECT nedb.compression_stats()$$),
 (31, 'table select', $$SELECT * FROM public.acct$$),
 (32, 'table insert', $$INSERT INTO public.acct VALUES ('n1', 1)$$),
 (33, 'grant', $$SELECT nedb.grant('secret', current_user::regrole)$$),
 (34, 'grants table', $$INSERT INTO nedb.grants VALUES ('collection', NULL, current_user::regrole, 'read')$$),
 (35, 'storage', $$SELECT * FROM nedb.versions$$);

CREATE FUNCTION pg_temp.matrix() RETURNS TABLE (n int, entry text, nobody text, reader text,
    writer text, both_ text, everything text, files text, auditor text)
LANGUAGE plpgsql AS $$
DECLARE
    e record;
    r text;
    res text[];
BEGIN
    FOR e IN SELECT * FROM pg_temp.entry ORDER BY 1 LOOP
        res := '{}';
        FOREACH r IN ARRAY ARRAY['nobody', 'reader', 'writer', 'both', 'everything', 'files', 'auditor'] LOOP
            PERFORM pg_catalog.set_config('role', 'nedb_sec_' || r, true);
            res := res || public.try_rb(e.stmt);
            PERFORM pg_catalog.set_config('role', 'none', true);
        END LOOP;
        n := e.n; entry := e.name;
        nobody := res[1]; reader := res[2]; writer := res[3]; both_ := res[4];
        everything := res[5]; files := res[6]; auditor := res[7];
        RETURN NEXT;
    END LOOP;
END $$;
SELECT * FROM pg_temp.matrix();
-- nothing of it stayed
SELECT nedb.seq() AS last_seq_after;

-- what a reader sees of another collection through the graph: nothing
SET ROLE nedb_sec_reader;
SELECT nedb.inbound('accounts:bob', 'owes') AS inbound_readable;
SELECT nql('FROM accounts WHERE _id = "alice" TRAVERSE owes') - '_seq' AS traverse_readable;
SELECT try($$SELECT nedb.neighbors('secret:s1', 'owes')$$);
SELECT try($$SELECT nedb.get('secret', 's1')$$);
SELECT nedb.has_privilege('accounts') AS read_accounts, nedb.has_privilege('accounts', 'write') AS write_accounts,
       nedb.has_privilege('secret') AS read_secret, nedb.has_privilege(NULL) AS read_all;
RESET ROLE;
SET ROLE nedb_sec_everything;
SELECT nedb.inbound('accounts:bob', 'owes') AS inbound_all;
RESET ROLE;

-- a foreign table needs its owner's collection privilege, as a view its owner's
GRANT USAGE ON FOREIGN SERVER nedb TO nedb_sec_reader;
CREATE SCHEMA sec_reader AUTHORIZATION nedb_sec_reader;
SET ROLE nedb_sec_reader;
CREATE FOREIGN TABLE sec_reader.acct (_id text, balance bigint) SERVER nedb OPTIONS (collection 'accounts');
CREATE FOREIGN TABLE sec_reader.sec (_id text, pin int) SERVER nedb OPTIONS (collection 'secret');
GRANT SELECT, INSERT ON sec_reader.acct, sec_reader.sec TO nedb_sec_writer;
GRANT USAGE ON SCHEMA sec_reader TO nedb_sec_writer;
SELECT _id, balance FROM sec_reader.acct ORDER BY _id;
SELECT try($$SELECT * FROM sec_reader.sec$$);
IMPORT FOREIGN SCHEMA nedb FROM SERVER nedb INTO sec_reader;
SELECT relname FROM pg_class WHERE relnamespace = 'sec_reader'::regnamespace ORDER BY 1;
RESET ROLE;
SET ROLE nedb_sec_writer;
-- the writer reads through the reader's table (its owner may read) ...
SELECT count(*) AS through_readers_table FROM sec_reader.acct;
-- ... but cannot write through it: the owner may not
SELECT try($$INSERT INTO sec_reader.acct VALUES ('w1', 1)$$);
RESET ROLE;
-- an error that says what to do
\set VERBOSITY default
SET ROLE nedb_sec_nobody;
SELECT nedb.get('accounts', 'alice');
INSERT INTO sec_reader.acct VALUES ('w1', 1);
RESET ROLE;
SET ROLE nedb_sec_writer;
INSERT INTO sec_reader.acct VALUES ('w1', 1);
RESET ROLE;
\set VERBOSITY terse

-- a grant and a revoke take effect at once (the cache follows nedb.grants)
SET ROLE nedb_sec_nobody;
SELECT nedb.has_privilege('secret') AS before_grant;
RESET ROLE;
SELECT nedb.grant('secret', 'nedb_sec_nobody');
SET ROLE nedb_sec_nobody;
SELECT nedb.has_privilege('secret') AS after_grant, nedb.get('secret', 's1') ->> 'pin' AS pin;
RESET ROLE;
SELECT nedb.revoke('secret', 'nedb_sec_nobody');
SET ROLE nedb_sec_nobody;
SELECT nedb.has_privilege('secret') AS after_revoke;
RESET ROLE;
-- bad grants
SELECT try($$SELECT nedb.grant('accounts', 'nedb_sec_reader', 'delete')$$);
SELECT try($$SELECT nedb.grant('accounts', NULL)$$);
SELECT try($$SELECT nedb.grant('', 'nedb_sec_reader')$$);
SELECT try($$SELECT nedb.grant('accounts', 'no_such_role')$$);
-- a dropped role's grant stays as its OID, harmless, and is revoked by it
CREATE ROLE nedb_sec_gone;
SELECT nedb.grant('accounts', 'nedb_sec_gone');
SELECT oid AS gone_oid FROM pg_roles WHERE rolname = 'nedb_sec_gone' \gset
DROP ROLE nedb_sec_gone;
SELECT role = :'gone_oid' AS shown_by_oid FROM nedb.privileges WHERE coll = 'accounts' AND role !~ '^nedb_sec_';
SELECT nedb.revoke('accounts', :'gone_oid'::regrole);
SELECT count(*) AS left_over FROM nedb.privileges WHERE role !~ '^nedb_sec_';

-- ---------------------------------------------------------------------------
-- 3. Indexes are found through nedb.indexes, never by their name
-- ---------------------------------------------------------------------------
-- A role that may create indexes can search for a collection whose index
-- name collides with another's (the names keep a 32-bit hash).  Here the
-- collision is made by renaming.
SELECT nedb.put('transactions', 't' || i, jsonb_build_object('amount', i)) IS NOT NULL AS put
  FROM generate_series(1, 3) i;
SELECT nedb.put('other', 'o' || i, jsonb_build_object('amount', 1000 + i, 'mine', true)) IS NOT NULL AS put
  FROM generate_series(1, 3) i;
SELECT nedb.create_index('transactions', 'amount', 'sorted');
SELECT index_name AS victim_name FROM nedb.indexes WHERE coll = 'transactions' \gset
SELECT nedb.drop_index('transactions', 'amount', 'sorted');
SELECT nedb.create_index('other', 'amount', 'sorted');
SELECT index_name AS attacker_name FROM nedb.indexes WHERE coll = 'other' \gset
ALTER INDEX nedb.:"attacker_name" RENAME TO :"victim_name";
UPDATE nedb.indexes SET index_name = :'victim_name' WHERE coll = 'other';
-- the victim's query reads its own collection, not the index of that name
SELECT nql('FROM transactions ORDER BY amount DESC LIMIT 2') - '_seq' AS top;
SELECT count(*) AS direct_scans FROM nedb.explain('FROM transactions ORDER BY amount DESC LIMIT 2') l
 WHERE l LIKE '%direct%';
-- and its own index gets a name of its own
SELECT nedb.create_index('transactions', 'amount', 'sorted');
SELECT index_name = :'victim_name' || '_2' AS renamed FROM nedb.indexes WHERE coll = 'transactions';
SELECT nql('FROM transactions ORDER BY amount DESC LIMIT 2') - '_seq' AS top;
SELECT count(*) AS direct_scans FROM nedb.explain('FROM transactions ORDER BY amount DESC LIMIT 2') l
 WHERE l LIKE '%direct%' AND l LIKE '%' || :'victim_name' || '_2%';
CREATE FOREIGN TABLE public.tr (_id text, amount bigint) SERVER nedb OPTIONS (collection 'transactions');
SELECT * FROM public.tr ORDER BY amount DESC LIMIT 2;
DROP FOREIGN TABLE public.tr;

-- ---------------------------------------------------------------------------
-- clean up
-- ---------------------------------------------------------------------------
DROP SCHEMA sec_reader CASCADE;
DROP SCHEMA evil CASCADE;
REVOKE USAGE ON FOREIGN SERVER nedb FROM nedb_sec_reader, nedb_sec_attacker;
REVOKE ALL ON public.acct FROM PUBLIC, nedb_sec_attacker;
DROP FOREIGN TABLE public.acct;
REVOKE ALL ON SCHEMA nedb FROM nedb_sec_nobody, nedb_sec_reader, nedb_sec_writer, nedb_sec_both,
    nedb_sec_everything, nedb_sec_files, nedb_sec_auditor, nedb_sec_attacker;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA nedb FROM nedb_sec_auditor, nedb_sec_attacker;
REVOKE ALL ON nedb.log, nedb.indexes FROM nedb_sec_auditor, nedb_sec_attacker;
REVOKE pg_stat_scan_tables FROM nedb_sec_attacker;
TRUNCATE nedb.grants;
DROP ROLE nedb_sec_nobody, nedb_sec_reader, nedb_sec_writer, nedb_sec_both,
    nedb_sec_everything, nedb_sec_files, nedb_sec_auditor, nedb_sec_attacker;
DROP FUNCTION public.try_rb(text);
