/* nedb--1.0--1.1.sql -- ALTER EXTENSION nedb UPDATE: 1.0 to 1.1 (README: Install, Versions and upgrading) */

\echo Use "ALTER EXTENSION nedb UPDATE TO '1.1'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Schema nedb becomes a member of the extension, as a fresh 1.1 has it.
-- 1.0's control file said schema = nedb: CREATE EXTENSION created the schema
-- before the extension, recorded it as the extension's namespace
-- (pg_extension.extnamespace) and made the extension depend on it (a normal
-- pg_depend row).  A member schema cannot also be the namespace the
-- extension lives in (DROP SCHEMA and DROP EXTENSION would each need the
-- other first; ALTER EXTENSION ADD SCHEMA refuses it), so the extension's
-- namespace becomes pg_catalog, as 1.1's control file says and a fresh 1.1
-- has it: pg_catalog is pinned, so a fresh 1.1 has no dependency row on it
-- and neither does an updated one.  Only a superuser runs this script (the
-- extension needs one), and these two rows are all CREATE EXTENSION records
-- about the namespace.  Nothing lives in pg_catalog because of it: every
-- object keeps its schema, nedb or public.
-- ---------------------------------------------------------------------------
DELETE FROM pg_catalog.pg_depend
 WHERE classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND objid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'nedb')
   AND objsubid = 0
   AND refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
   AND refobjid = 'nedb'::pg_catalog.regnamespace
   AND deptype = 'n';
UPDATE pg_catalog.pg_extension SET extnamespace = 'pg_catalog'::pg_catalog.regnamespace
 WHERE extname = 'nedb';
ALTER EXTENSION nedb ADD SCHEMA nedb;
-- ADD records the schema's privileges as they are now (e.g. GRANT USAGE to
-- an application role) as the extension's initial privileges, which
-- pg_dump would then leave out; a fresh 1.1's schema has none recorded.
DELETE FROM pg_catalog.pg_init_privs
 WHERE classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
   AND objoid = 'nedb'::pg_catalog.regnamespace;
COMMENT ON SCHEMA nedb IS 'NEDB: its storage, functions and views (owned by the role that ran CREATE EXTENSION: the storage access runs as it).';

-- ---------------------------------------------------------------------------
-- Privileges (README: Privileges).  Functions run their storage access as
-- the owner of schema nedb; these rows say which role may read or write
-- which collection (coll NULL: every collection) and Cascade's files.  The
-- schema's owner and superusers may do everything, and alone may grant.
-- ---------------------------------------------------------------------------
CREATE TABLE nedb.grants (
    object      text COLLATE "C" NOT NULL CHECK (object IN ('collection', 'files')),
    coll        text COLLATE "C",
    grantee     regrole NOT NULL,
    privilege   text COLLATE "C" NOT NULL CHECK (privilege IN ('read', 'write')),
    CHECK (object = 'collection' OR coll IS NULL)
);
-- names are never empty, so '' stands for NULL (every collection) here
CREATE UNIQUE INDEX grants_one ON nedb.grants (object, (COALESCE(coll, '')), grantee, privilege);
SELECT pg_catalog.pg_extension_config_dump('nedb.grants', '');
REVOKE ALL ON nedb.grants FROM PUBLIC;

CREATE FUNCTION nedb.catalog_changed()
    RETURNS trigger AS 'MODULE_PATHNAME', 'nedb_catalog_changed' LANGUAGE C;
CREATE TRIGGER grants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nedb.grants
    FOR EACH STATEMENT EXECUTE FUNCTION nedb.catalog_changed();

CREATE FUNCTION nedb.grant(coll text, role regrole, privilege text DEFAULT 'read')
    RETURNS void AS 'MODULE_PATHNAME', 'nedb_grant' LANGUAGE C VOLATILE;
CREATE FUNCTION nedb.revoke(coll text, role regrole, privilege text DEFAULT 'all')
    RETURNS void AS 'MODULE_PATHNAME', 'nedb_revoke' LANGUAGE C VOLATILE;
CREATE FUNCTION nedb.grant_files(role regrole, privilege text DEFAULT 'read')
    RETURNS void AS 'MODULE_PATHNAME', 'nedb_grant_files' LANGUAGE C VOLATILE;
CREATE FUNCTION nedb.revoke_files(role regrole, privilege text DEFAULT 'all')
    RETURNS void AS 'MODULE_PATHNAME', 'nedb_revoke_files' LANGUAGE C VOLATILE;
-- the current role's privilege on a collection (NULL: every collection)
CREATE FUNCTION nedb.has_privilege(coll text, privilege text DEFAULT 'read')
    RETURNS boolean AS 'MODULE_PATHNAME', 'nedb_has_privilege' LANGUAGE C STABLE;
REVOKE EXECUTE ON FUNCTION nedb.grant(text, regrole, text), nedb.revoke(text, regrole, text),
    nedb.grant_files(regrole, text), nedb.revoke_files(regrole, text) FROM PUBLIC;

-- who may do what, for the NEDB owner (not granted to PUBLIC)
CREATE VIEW nedb.privileges AS
SELECT g.object, g.coll, g.grantee::pg_catalog.text AS role, g.privilege
  FROM nedb.grants g
 ORDER BY g.object, g.coll NULLS FIRST, g.grantee::pg_catalog.text, g.privilege;

-- ---------------------------------------------------------------------------
-- Function privileges.  1.0 revoked the writes, NQL and put_file from PUBLIC;
-- 1.1 checks each collection's privilege (nedb.grant) in every function over
-- one collection, and grants deliberately those over the whole log, every
-- collection or the storage (README: Privileges).  A role that wrote with a
-- 1.0 EXECUTE grant needs nedb.grant now; EXECUTE grants to roles stay.
-- ---------------------------------------------------------------------------
GRANT EXECUTE ON FUNCTION
    nedb.put(text, text, jsonb, text, bigint, text, interval, bigint[], text, float8, text, text),
    nedb.delete(text, text, text, bigint, text),
    nedb.link(text, text, text, text, bigint),
    nedb.unlink(text, text, text, text, bigint),
    nedb.tx(jsonb), nedb.expire(text, text, interval),
    public.nql(text), nedb.explain(text),
    nedb.put_file(text, bytea, text, text, bigint, text)
  TO PUBLIC;
REVOKE EXECUTE ON FUNCTION
    nedb.export_aof(bigint, bigint), nedb.verify_report(), nedb.verify(),
    nedb.digest(bigint), nedb.proof(bigint, bigint),
    nedb.consistency(bigint, bigint), nedb.fold_proof(bigint), nedb.verify_tree(),
    nedb.subscription_worker()
  FROM PUBLIC;

-- A GRANT or REVOKE in an extension script records the object's whole ACL
-- as its initial privileges (what pg_dump leaves out), grants to roles made
-- since 1.0 included.  Record what a fresh 1.1 records instead: nothing for
-- the functions PUBLIC may execute, the owner alone for those revoked.
DELETE FROM pg_catalog.pg_init_privs
 WHERE classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND objoid IN ('nedb.put(text, text, jsonb, text, bigint, text, interval, bigint[], text, float8, text, text)'::pg_catalog.regprocedure,
                  'nedb.delete(text, text, text, bigint, text)'::pg_catalog.regprocedure,
                  'nedb.link(text, text, text, text, bigint)'::pg_catalog.regprocedure,
                  'nedb.unlink(text, text, text, text, bigint)'::pg_catalog.regprocedure,
                  'nedb.tx(jsonb)'::pg_catalog.regprocedure,
                  'nedb.expire(text, text, interval)'::pg_catalog.regprocedure,
                  'public.nql(text)'::pg_catalog.regprocedure,
                  'nedb.explain(text)'::pg_catalog.regprocedure,
                  'nedb.put_file(text, bytea, text, text, bigint, text)'::pg_catalog.regprocedure);
UPDATE pg_catalog.pg_init_privs i
   SET initprivs = ARRAY[pg_catalog.makeaclitem(p.proowner, p.proowner, 'EXECUTE', false)]
  FROM pg_catalog.pg_proc p
 WHERE i.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
   AND i.objoid = p.oid
   AND p.oid IN ('nedb.export_aof(bigint, bigint)'::pg_catalog.regprocedure,
                 'nedb.verify_report()'::pg_catalog.regprocedure,
                 'nedb.verify()'::pg_catalog.regprocedure,
                 'nedb.digest(bigint)'::pg_catalog.regprocedure,
                 'nedb.proof(bigint, bigint)'::pg_catalog.regprocedure,
                 'nedb.consistency(bigint, bigint)'::pg_catalog.regprocedure,
                 'nedb.fold_proof(bigint)'::pg_catalog.regprocedure,
                 'nedb.verify_tree()'::pg_catalog.regprocedure,
                 'nedb.subscription_worker()'::pg_catalog.regprocedure);

-- ---------------------------------------------------------------------------
-- The planner's row estimate of nql() from a constant query text
-- ---------------------------------------------------------------------------
CREATE FUNCTION nedb.nql_support(internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'nedb_nql_support' LANGUAGE C STRICT;
ALTER FUNCTION public.nql(text) SUPPORT nedb.nql_support;

-- ---------------------------------------------------------------------------
-- What \d+ and \df+ show
-- ---------------------------------------------------------------------------
COMMENT ON TABLE nedb.ops IS 'The op log: one row per op, dense seq in commit order, each hash chained to the previous (append-only).';
COMMENT ON TABLE nedb.versions IS 'Document versions [seq_from, seq_to); doc NULL is a delete. Derived from the log.';
COMMENT ON TABLE nedb.edges IS 'Graph edges (frm, rel, to), live in [seq_from, seq_to). Derived from the log.';
-- Who holds the chain lock and who waits for it (the chain is one lock per
-- database: src/chain.c's tag, advisory space, class 0x4E45)
CREATE VIEW nedb.chain_writers AS
SELECT l.pid,
       l.granted AS holds_chain,
       l.waitstart AS waiting_since,
       a.xact_start,
       a.usename,
       a.application_name,
       a.state,
       a.query
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory'
   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                      WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
   AND l.classid = 1145193288 AND l.objid = 0 AND l.objsubid = 20037
   AND l.mode = 'ExclusiveLock';

COMMENT ON VIEW nedb.clients IS 'Each client''s last nonce (its replay-protection high-water mark).';
COMMENT ON VIEW nedb.chain_writers IS 'Sessions that hold the chain lock (holds_chain) or wait for it (since waiting_since).';
COMMENT ON TABLE nedb.indexes IS 'The indexes nedb.create_index built: (coll, field, kind) and the index''s name.';
COMMENT ON TABLE nedb.grants IS 'Collection and file privileges; change them with nedb.grant / nedb.revoke.';
COMMENT ON VIEW nedb.privileges IS 'Who may read and write which collection, and Cascade files.';
COMMENT ON TABLE nedb.chunks IS 'Cascade: content-addressed chunks (BLAKE2b-256), deduplicated per tier, zstd-compressed.';
COMMENT ON TABLE nedb.files IS 'Cascade: one row per file version, its chunk recipe and Merkle root.';
COMMENT ON TABLE nedb.log_tree IS 'The Merkle tree over the op hashes, kept at append (log proofs).';
COMMENT ON TABLE nedb.subscription IS 'The NEDB database this one follows, if any (replication).';
COMMENT ON VIEW nedb.log IS 'The op log, every field, hashes as hex, in seq order.';
COMMENT ON VIEW nedb.subscriptions IS 'This database''s subscription and its apply worker''s state and lag.';

COMMENT ON FUNCTION nedb.refuse_log_change() IS 'Trigger: the log is append-only.';
COMMENT ON FUNCTION nedb.catalog_changed() IS 'Trigger of nedb.grants and nedb.tracked: every session reloads its copy of the table.';
COMMENT ON FUNCTION nedb.grant(text, regrole, text) IS 'Grant a role read, write or all on a collection (NULL: every collection).';
COMMENT ON FUNCTION nedb.revoke(text, regrole, text) IS 'Revoke a role''s read, write or all on a collection (NULL: the grant on every collection).';
COMMENT ON FUNCTION nedb.grant_files(regrole, text) IS 'Grant a role read, write or all on Cascade files.';
COMMENT ON FUNCTION nedb.revoke_files(regrole, text) IS 'Revoke a role''s read, write or all on Cascade files.';
COMMENT ON FUNCTION nedb.has_privilege(text, text) IS 'Whether the current role may read (or write, all) a collection (NULL: every collection).';
COMMENT ON FUNCTION nedb.put(text, text, jsonb, text, bigint, text, interval, bigint[], text, float8, text, text) IS 'Write a document: one put op in the chain; returns the stored document with its _seq.';
COMMENT ON FUNCTION nedb.delete(text, text, text, bigint, text) IS 'Delete a document: one delete op; returns its seq.';
COMMENT ON FUNCTION nedb.link(text, text, text, text, bigint) IS 'Add the edge frm -rel-> to: one link op; returns its seq.';
COMMENT ON FUNCTION nedb.unlink(text, text, text, text, bigint) IS 'Remove the edge frm -rel-> to: one unlink op; returns its seq.';
COMMENT ON FUNCTION nedb.tx(jsonb) IS 'Apply a list of ops atomically, with if_seq preconditions.';
COMMENT ON FUNCTION nedb.expire(text, text, interval) IS 'Give a document a time to live (a put of it with _expires_at).';
COMMENT ON FUNCTION nedb.sweep() IS 'Log the deletes of every expired document (client __ttl__); returns how many.';
COMMENT ON FUNCTION nedb.get(text, text, bigint) IS 'A document now, or AS OF a seq (inclusive); NULL if none.';
COMMENT ON FUNCTION nedb.neighbors(text, text, bigint) IS 'Outgoing rel edges of a node, in link order (now or AS OF).';
COMMENT ON FUNCTION nedb.inbound(text, text, bigint) IS 'Incoming rel edges of a node, in link order (now or AS OF).';
COMMENT ON FUNCTION nedb.history(text, text) IS 'Every version of a document: (seq, put or delete, doc).';
COMMENT ON FUNCTION nedb.seq() IS 'The last seq of the chain (-1 when empty).';
COMMENT ON FUNCTION nedb.head() IS 'The hash of the last op (64 zeros when empty).';
COMMENT ON FUNCTION nedb.verify_report() IS 'Recompute the whole chain: ok, ops checked, the first bad seq and why.';
COMMENT ON FUNCTION nedb.verify() IS 'Whether the whole chain recomputes to its stored hashes.';
COMMENT ON FUNCTION nedb.op_body(bigint) IS 'The canonical body of one op, exactly as hashed into the chain.';
COMMENT ON FUNCTION nedb.canonical(jsonb) IS 'Canonical JSON of a value (the reference''s json.dumps(sort_keys=True)).';
COMMENT ON FUNCTION public.nql(text) IS 'Run an NQL query (FROM coll [AS OF n] [WHERE ...] [ORDER BY ...] [LIMIT n] ...): one jsonb per row.';
COMMENT ON FUNCTION nedb.explain(text) IS 'The access path nql() takes for a query, and Postgres''s plan of it.';
COMMENT ON FUNCTION nedb.nql_support(internal) IS 'Planner support of nql(): its rows from a constant query text (LIMIT, GROUP BY, the collection''s size).';
COMMENT ON FUNCTION nedb.tokens(jsonb) IS 'Search tokens of a value ([a-z0-9]+ over lowercased strings).';
COMMENT ON FUNCTION nedb.create_index(text, text, text) IS 'Build an eq, sorted (ordered) or search index on a collection''s field.';
COMMENT ON FUNCTION nedb.drop_index(text, text, text) IS 'Drop an index nedb.create_index built.';
COMMENT ON FUNCTION nedb.jsonb_order_cmp(jsonb, jsonb) IS 'NEDB order of jsonb values: -1, 0 or 1.';
COMMENT ON FUNCTION nedb.jsonb_order_lt(jsonb, jsonb) IS 'NEDB order: less than.';
COMMENT ON FUNCTION nedb.jsonb_order_le(jsonb, jsonb) IS 'NEDB order: less than or equal.';
COMMENT ON FUNCTION nedb.jsonb_order_eq(jsonb, jsonb) IS 'NEDB order: equal.';
COMMENT ON FUNCTION nedb.jsonb_order_ge(jsonb, jsonb) IS 'NEDB order: greater than or equal.';
COMMENT ON FUNCTION nedb.jsonb_order_gt(jsonb, jsonb) IS 'NEDB order: greater than.';
COMMENT ON FUNCTION nedb.sorted_handler(internal) IS 'Handler of the nedb_sorted index access method.';
COMMENT ON FUNCTION nedb.sorted_check(regclass) IS 'Check a nedb_sorted index''s structure; its leaf entry count, or XX002 at the first fault.';
COMMENT ON FUNCTION nedb.sorted_stats(regclass) IS 'Page counts of a nedb_sorted index by kind, and its entries.';
COMMENT ON FUNCTION nedb.export_aof(bigint, bigint) IS 'The log as the reference''s AOF lines (after seq since, at most max).';
COMMENT ON FUNCTION nedb.import_aof(text) IS 'Append the reference''s AOF lines to the chain, each checked against its hash.';
COMMENT ON FUNCTION nedb.fdw_handler() IS 'Handler of the nedb foreign-data wrapper (collections as foreign tables).';
COMMENT ON FUNCTION nedb.fdw_validator(text[], oid) IS 'Validator of the nedb foreign-data wrapper''s options.';
COMMENT ON FUNCTION nedb.put_file(text, bytea, text, text, bigint, text) IS 'Store a file version in Cascade (chunked, deduplicated, compressed): one put_file op; returns its version.';
COMMENT ON FUNCTION nedb.get_file(text, integer, text) IS 'A file version''s bytes, each chunk checked against its id.';
COMMENT ON FUNCTION nedb.file_root(text, integer, text) IS 'A file version''s Merkle root.';
COMMENT ON FUNCTION nedb.file_proof(text, integer, integer, text) IS 'The Merkle proof that a chunk is part of a file version.';
COMMENT ON FUNCTION nedb.verify_file_proof(jsonb) IS 'Check a file proof.';
COMMENT ON FUNCTION nedb.compression_stats(text) IS 'A tier''s logical and stored bytes, unique chunks, dedup hits and ratio.';
COMMENT ON FUNCTION nedb.file_versions(text) IS 'Every version of a file: tier, version, seq, size, chunks, root.';
COMMENT ON FUNCTION nedb.chunk_boundaries(bytea) IS 'How Cascade would chunk the bytes: (idx, off, len, id).';
COMMENT ON FUNCTION nedb.chunk_root(bytea) IS 'The Merkle root the bytes would have as a file.';
COMMENT ON FUNCTION nedb.merkle_root(text[]) IS 'The reference''s Merkle root of a list of chunk ids (hex).';
COMMENT ON FUNCTION nedb.digest(bigint) IS 'The log''s size, head and Merkle root (now or as of a seq).';
COMMENT ON FUNCTION nedb.proof(bigint, bigint) IS 'The inclusion proof of an op in the log''s Merkle tree.';
COMMENT ON FUNCTION nedb.consistency(bigint, bigint) IS 'The consistency proof between two sizes of the log''s Merkle tree.';
COMMENT ON FUNCTION nedb.verify_inclusion(jsonb, bigint, text) IS 'Check an inclusion proof against a root.';
COMMENT ON FUNCTION nedb.verify_consistency(jsonb, bigint, text, bigint, text) IS 'Check a consistency proof between two roots.';
COMMENT ON FUNCTION nedb.fold_proof(bigint) IS 'The reference''s O(n) fold proof of an op.';
COMMENT ON FUNCTION nedb.verify_fold_proof(jsonb) IS 'Check a fold proof.';
COMMENT ON FUNCTION nedb.verify_tree() IS 'Rebuild the Merkle tree from the op hashes and compare it with nedb.log_tree.';
COMMENT ON FUNCTION nedb.subscribe(text, text) IS 'Follow another NEDB database''s chain (its apply worker needs shared_preload_libraries).';
COMMENT ON FUNCTION nedb.unsubscribe(text) IS 'Stop following: the database becomes writable.';
COMMENT ON FUNCTION nedb.subscription_worker() IS 'The live state of this database''s apply worker.';
COMMENT ON ACCESS METHOD nedb_sorted IS 'NEDB''s B+-tree index access method.';
COMMENT ON FOREIGN DATA WRAPPER nedb IS 'NEDB collections as foreign tables.';
COMMENT ON SERVER nedb IS 'The NEDB collections of this database.';
COMMENT ON SCHEMA nedb IS 'NEDB: its storage, functions and views (owned by the role that ran CREATE EXTENSION: the storage access runs as it).';

-- ---------------------------------------------------------------------------
-- The changefeed (README: Changefeed): where the log ends, and one bounded
-- page of it after a cursor.  LISTEN nedb_ops is the live part.
-- ---------------------------------------------------------------------------
CREATE FUNCTION nedb.tip(OUT seq bigint, OUT hash text)
    RETURNS record LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT s, h FROM nedb.seq() s, nedb.head() h $$;

CREATE FUNCTION nedb.since(after_seq bigint, lim integer DEFAULT 10000)
    RETURNS TABLE (seq bigint, client text, nonce bigint, op text, payload jsonb,
                   ts double precision, idem text, prev_hash text, hash text,
                   caused_by bigint[], evidence text, confidence double precision,
                   valid_from text, valid_to text, head_seq bigint)
    -- nedb.log's rows without its executor (src/changefeed.c); a page is at
    -- most 100,000 ops, whatever lim says; head_seq (the same in every row,
    -- from the same snapshot) tells whether there is more
    AS 'MODULE_PATHNAME', 'nedb_since' LANGUAGE C STABLE ROWS 10000;
-- the whole log, every collection: granted deliberately, like nedb.log
REVOKE EXECUTE ON FUNCTION nedb.since(bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION nedb.tip() IS 'The last seq and head hash of the chain (-1 and the zero hash when empty).';
COMMENT ON FUNCTION nedb.since(bigint, integer) IS 'One page of the op log after after_seq, in seq order, at most lim (default 10,000, never more than 100,000) ops; head_seq says whether there is more.';

-- what a follower reads (src/repl_apply.c): each op's canonical body, the
-- text its hash is computed over, as stored or rebuilt
CREATE FUNCTION nedb.export_bodies(since bigint, max bigint)
    RETURNS TABLE (seq bigint, hash text, body text)
    AS 'MODULE_PATHNAME', 'nedb_export_bodies' LANGUAGE C STABLE;
-- the whole log, like nedb.export_aof
REVOKE EXECUTE ON FUNCTION nedb.export_bodies(bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION nedb.export_bodies(bigint, bigint) IS 'The ops after seq since (at most max, all when NULL): seq, hash and the canonical body the hash is computed over; what a follower applies.';

-- ---------------------------------------------------------------------------
-- Signed digests (README: Signed digests): the digest signed with Ed25519 by
-- a key read from nedb.signing_key_file (src/sign.c)
-- ---------------------------------------------------------------------------
CREATE FUNCTION nedb.sign_digest()
    RETURNS jsonb AS 'MODULE_PATHNAME', 'nedb_sign_digest' LANGUAGE C VOLATILE;
CREATE FUNCTION nedb.signing_key(OUT key_id text, OUT public_key text)
    RETURNS record AS 'MODULE_PATHNAME', 'nedb_signing_key' LANGUAGE C VOLATILE;
CREATE FUNCTION nedb.verify_digest(digest jsonb, public_key text)
    RETURNS boolean AS 'MODULE_PATHNAME', 'nedb_verify_digest' LANGUAGE C IMMUTABLE STRICT;
-- a digest is the head and root, like nedb.digest: for auditors
REVOKE EXECUTE ON FUNCTION nedb.sign_digest() FROM PUBLIC;
COMMENT ON FUNCTION nedb.sign_digest() IS 'The digest now (tree_size, root, head, ts) signed with Ed25519 by the key in nedb.signing_key_file.';
COMMENT ON FUNCTION nedb.signing_key() IS 'The signing key''s id and Ed25519 public key (hex), for verifiers.';
COMMENT ON FUNCTION nedb.verify_digest(jsonb, text) IS 'Whether a signed digest is intact and signed by the given Ed25519 public key (hex).';

-- Signed digests kept (README: Signed digests): one per tree size, stored
-- by nedb.store_digest(), which the digest signer runs every
-- nedb.digest_interval.  Dumped: they are the evidence auditors compare.
CREATE TABLE nedb.digests (
    tree_size   bigint PRIMARY KEY,
    digest      jsonb NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('nedb.digests', '');
REVOKE ALL ON nedb.digests FROM PUBLIC;
CREATE FUNCTION nedb.store_digest() RETURNS jsonb LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO nedb.digests (tree_size, digest)
    SELECT (d OPERATOR(pg_catalog.->>) 'tree_size')::bigint, d FROM nedb.sign_digest() d
    ON CONFLICT (tree_size) DO NOTHING
    RETURNING digest $$;
REVOKE EXECUTE ON FUNCTION nedb.store_digest() FROM PUBLIC;
COMMENT ON TABLE nedb.digests IS 'Signed digests of the log, one per tree size (nedb.store_digest, the digest signer).';
COMMENT ON FUNCTION nedb.store_digest() IS 'Sign a digest of the log now and keep it in nedb.digests; NULL if one of this tree size is kept already.';

-- ---------------------------------------------------------------------------
-- Encrypted reference databases (README: Encryption at rest): the master key
-- from the file nedb.tmk_file names, key.enc as the reference writes it
-- (src/at_rest.c).
-- ---------------------------------------------------------------------------
CREATE FUNCTION nedb.import_aof(lines text, key_enc text)
    RETURNS bigint AS 'MODULE_PATHNAME', 'nedb_import_aof' LANGUAGE C VOLATILE;
CREATE FUNCTION nedb.export_aof(since bigint, max bigint, key_enc text)
    RETURNS SETOF text AS 'MODULE_PATHNAME', 'nedb_export_aof' LANGUAGE C STABLE;
CREATE FUNCTION nedb.new_key_enc()
    RETURNS text AS 'MODULE_PATHNAME', 'nedb_new_key_enc' LANGUAGE C VOLATILE;
REVOKE EXECUTE ON FUNCTION nedb.import_aof(text, text), nedb.export_aof(bigint, bigint, text),
    nedb.new_key_enc() FROM PUBLIC;
COMMENT ON FUNCTION nedb.import_aof(text, text) IS 'Append a reference database''s AOF lines, encrypted ones opened with its key.enc and the master key in nedb.tmk_file.';
COMMENT ON FUNCTION nedb.export_aof(bigint, bigint, text) IS 'The log as the reference''s AOF lines, each sealed under the data key key_enc wraps (master key in nedb.tmk_file).';
COMMENT ON FUNCTION nedb.new_key_enc() IS 'A key.enc for a new encrypted database: a fresh data key wrapped by the master key in nedb.tmk_file.';

-- Cascade's chunks at rest: with nedb.tmk_file set, new chunks are sealed
-- under this database's data key (compressed first; codec + 2), which the
-- master key wraps here, in the reference's key.enc form.  Dumped: a
-- restore needs it (and the master key) to read the chunks.
CREATE TABLE nedb.data_key (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    key_enc      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    rewrapped_at timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('nedb.data_key', '');
REVOKE ALL ON nedb.data_key FROM PUBLIC;
CREATE FUNCTION nedb.rewrap_key(old_tmk_file text)
    RETURNS void AS 'MODULE_PATHNAME', 'nedb_rewrap_key' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION nedb.rewrap_key(text) FROM PUBLIC;
COMMENT ON TABLE nedb.data_key IS 'Cascade''s data key, wrapped by the master key (nedb.tmk_file), as the reference''s key.enc.';
COMMENT ON FUNCTION nedb.rewrap_key(text) IS 'Rewrap Cascade''s data key: opened with the master key in old_tmk_file, wrapped by the one nedb.tmk_file names; chunks untouched.';

-- ---------------------------------------------------------------------------
-- Tracked tables (README: Tracked tables): an ordinary table's rows chained
-- into a collection by statement-level triggers (src/track.c).
-- ---------------------------------------------------------------------------
CREATE TABLE nedb.tracked (
    relid       regclass PRIMARY KEY,
    coll        text COLLATE "C" NOT NULL UNIQUE,
    key         text[] NOT NULL,
    tracked_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('nedb.tracked', '');
REVOKE ALL ON nedb.tracked FROM PUBLIC;
-- which table goes to which collection is no secret (table_as_of reads it)
GRANT SELECT ON nedb.tracked TO PUBLIC;
CREATE TRIGGER tracked_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nedb.tracked
    FOR EACH STATEMENT EXECUTE FUNCTION nedb.catalog_changed();

CREATE FUNCTION nedb.track(tbl regclass, coll text DEFAULT NULL, key text[] DEFAULT NULL)
    RETURNS bigint AS 'MODULE_PATHNAME', 'nedb_track' LANGUAGE C;
CREATE FUNCTION nedb.untrack(tbl regclass)
    RETURNS void AS 'MODULE_PATHNAME', 'nedb_untrack' LANGUAGE C STRICT;
CREATE FUNCTION nedb.track_trigger()
    RETURNS trigger AS 'MODULE_PATHNAME', 'nedb_track_trigger' LANGUAGE C;
-- a key column renamed is followed, one dropped refused; a table dropped
-- is no longer tracked (created last: nothing above is altered after them)
CREATE FUNCTION nedb.track_ddl()
    RETURNS event_trigger AS 'MODULE_PATHNAME', 'nedb_track_ddl' LANGUAGE C;

CREATE FUNCTION nedb.table_as_of(tbl anyelement, seq bigint)
    RETURNS SETOF anyelement LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c text;
BEGIN
    SELECT t.coll INTO c FROM nedb.tracked t
     WHERE t.relid = (SELECT y.typrelid FROM pg_type y WHERE y.oid = pg_typeof(tbl))::regclass;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not the row type of a tracked table', pg_typeof(tbl)
            USING ERRCODE = '55000';
    END IF;
    RETURN QUERY SELECT r.* FROM public.nql(format('FROM %s AS OF %s', c, seq)) d,
                                 jsonb_populate_record(tbl, d) r;
END $$;

CREATE FUNCTION nedb.verify_table(tbl regclass, OUT ok boolean, OUT "rows" bigint,
                                  OUT first_bad_id text, OUT detail text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    -- documents and ids are made under these (track_output_push)
    SET TimeZone = 'UTC' SET DateStyle = 'ISO, MDY' SET IntervalStyle = 'postgres'
    SET extra_float_digits = 1 SET bytea_output = 'hex' AS $$
DECLARE
    tr nedb.tracked;
    idx text;
BEGIN
    SELECT * INTO tr FROM nedb.tracked t WHERE t.relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not tracked', tbl USING ERRCODE = '55000';
    END IF;
    -- the id as src/track_rows.c makes it: the key's JSON value (a string
    -- as itself), or the JSON array of the key values
    IF cardinality(tr.key) = 1 THEN
        idx := format('(to_jsonb(t.%I) #>> ''{}'')', tr.key[1]);
    ELSE
        SELECT '(jsonb_build_array(' || string_agg(format('t.%I', k), ', ' ORDER BY n) || '))::text'
          INTO idx FROM unnest(tr.key) WITH ORDINALITY u(k, n);
    END IF;
    -- each document read as a row of the table as it is now: members it
    -- has no column for (NEDB's _id, _seq, ..., dropped columns) are left
    -- out, columns added since come back NULL
    EXECUTE format($q$
        WITH tab AS (SELECT %s AS id, to_jsonb(t) AS doc FROM ONLY %s t),
             ch AS (SELECT d->>'_id' AS id, to_jsonb(jsonb_populate_record(NULL::%s, d)) AS doc
                      FROM public.nql(%L) d),
             bad AS (SELECT coalesce(tab.id, ch.id) AS id, tab.doc AS td, ch.doc AS cd
                       FROM tab FULL JOIN ch ON tab.id = ch.id
                      WHERE tab.doc IS DISTINCT FROM ch.doc
                      ORDER BY 1 LIMIT 1)
        SELECT NOT EXISTS (SELECT 1 FROM bad), (SELECT count(*) FROM tab),
               (SELECT id FROM bad),
               (SELECT CASE WHEN td IS NULL THEN 'in the chain, not in the table'
                            WHEN cd IS NULL THEN 'in the table, not in the chain'
                            ELSE 'the row differs from its document' END FROM bad)
        $q$, idx, tbl, tbl, 'FROM ' || tr.coll)
      INTO ok, "rows", first_bad_id, detail;
END $$;

COMMENT ON TABLE nedb.tracked IS 'Tables nedb.track chains into a collection: the table, its collection, its key columns.';
COMMENT ON FUNCTION nedb.track(regclass, text, text[]) IS 'Track a table: backfill its rows into a collection and chain every later INSERT, UPDATE and DELETE; returns the rows backfilled.';
COMMENT ON FUNCTION nedb.untrack(regclass) IS 'Stop tracking a table; its history stays in the chain.';
COMMENT ON FUNCTION nedb.track_trigger() IS 'Trigger of tracked tables: chains the statement''s rows (transition tables); refuses TRUNCATE.';
COMMENT ON FUNCTION nedb.table_as_of(anyelement, bigint) IS 'A tracked table''s rows as of seq, as its row type: SELECT * FROM nedb.table_as_of(NULL::t, seq).';
COMMENT ON FUNCTION nedb.verify_table(regclass) IS 'Compare a tracked table''s rows with its collection''s current documents; names the first id that differs.';
COMMENT ON TRIGGER tracked_changed ON nedb.tracked IS 'Every session reloads its copy of the tracking of the tables.';
COMMENT ON FUNCTION nedb.track_ddl() IS 'Event trigger of tracked tables: follows a renamed key column, refuses to drop one, ends the tracking of a dropped table.';

CREATE EVENT TRIGGER nedb_track_alter_start ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION nedb.track_ddl();
CREATE EVENT TRIGGER nedb_track_alter_end ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION nedb.track_ddl();
CREATE EVENT TRIGGER nedb_track_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED') EXECUTE FUNCTION nedb.track_ddl();
COMMENT ON EVENT TRIGGER nedb_track_alter_start IS 'Tracked tables: the key columns before an ALTER TABLE.';
COMMENT ON EVENT TRIGGER nedb_track_alter_end IS 'Tracked tables: a key column renamed is followed, one dropped refused.';
COMMENT ON EVENT TRIGGER nedb_track_drop IS 'Tracked tables: a dropped table is no longer tracked.';

-- ---------------------------------------------------------------------------
-- The TTL sweeper (README: Expiry): nedb.sweep in bounded batches, and what
-- the background sweeper did (shared_preload_libraries, nedb.sweep_interval)
-- ---------------------------------------------------------------------------
CREATE FUNCTION nedb.sweep(lim integer)
    RETURNS integer AS 'MODULE_PATHNAME', 'nedb_sweep' LANGUAGE C VOLATILE;

CREATE FUNCTION nedb.sweeper_status(OUT database name, OUT pid integer, OUT runs bigint,
                                    OUT last_start timestamptz, OUT last_end timestamptz,
                                    OUT last_deleted bigint, OUT total_deleted bigint,
                                    OUT last_error text, OUT last_error_at timestamptz)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'nedb_sweeper_status' LANGUAGE C VOLATILE;

CREATE VIEW nedb.sweeper AS
SELECT database, pid, runs, last_start, last_end, last_deleted, total_deleted,
       last_error, last_error_at
  FROM nedb.sweeper_status();

REVOKE EXECUTE ON FUNCTION nedb.sweep(integer), nedb.sweeper_status() FROM PUBLIC;

COMMENT ON FUNCTION nedb.sweep(integer) IS 'Log the deletes of at most lim expired documents, oldest first (client __ttl__); returns how many.';
COMMENT ON FUNCTION nedb.sweeper_status() IS 'The background TTL sweeper''s runs, one row per database it swept since the server started.';
COMMENT ON VIEW nedb.sweeper IS 'The background TTL sweeper: per database, its worker now (pid), runs, the last run''s start, end and deletes, all deletes, the last error.';

-- ---------------------------------------------------------------------------
-- Index builds that do not hold up writers, and indexes that create
-- themselves (README: Indexes).  With the library preloaded, the index
-- builder (a background worker) runs CREATE INDEX CONCURRENTLY, which a
-- function cannot: for nedb.create_index(..., concurrently => true), and
-- for the fields queried nedb.auto_index_threshold times without an index
-- while nedb.auto_index is on.
-- ---------------------------------------------------------------------------
ALTER TABLE nedb.indexes ADD COLUMN auto boolean NOT NULL DEFAULT false;

CREATE FUNCTION nedb.create_index(coll text, field text, kind text, concurrently boolean)
    RETURNS void AS 'MODULE_PATHNAME', 'nedb_create_index' LANGUAGE C VOLATILE;

-- every build the index builder was asked for, and how it ended
CREATE TABLE nedb.index_build_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    coll          text NOT NULL,
    field         text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('eq', 'sorted', 'search')),
    auto          boolean NOT NULL,
    state         text NOT NULL CHECK (state IN ('queued', 'building', 'built', 'failed', 'skipped')),
    requested_by  name NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    pid           integer,
    index_name    name,
    error         text
);
CREATE INDEX index_build_log_open ON nedb.index_build_log (id) WHERE state IN ('queued', 'building');

CREATE FUNCTION nedb.index_candidates_status(OUT coll text, OUT field text, OUT kind text,
                                             OUT misses bigint, OUT state text,
                                             OUT first_miss timestamptz, OUT last_miss timestamptz,
                                             OUT checked_at timestamptz)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'nedb_index_candidates_status' LANGUAGE C VOLATILE;

CREATE VIEW nedb.index_candidates AS
SELECT c.coll, c.field, c.kind, c.misses, c.state, c.first_miss, c.last_miss, c.checked_at,
       i.index_name
  FROM nedb.index_candidates_status() c
  LEFT JOIN nedb.indexes i ON i.coll OPERATOR(pg_catalog.=) c.coll
                          AND i.field OPERATOR(pg_catalog.=) c.field
                          AND i.kind OPERATOR(pg_catalog.=) c.kind;

CREATE VIEW nedb.index_builds AS
SELECT b.id, b.coll, b.field, b.kind, b.auto, b.state, b.index_name, b.requested_by,
       b.requested_at, b.started_at, b.finished_at, b.pid,
       p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total, b.error
  FROM nedb.index_build_log b
  LEFT JOIN pg_catalog.pg_stat_progress_create_index p
    ON b.state OPERATOR(pg_catalog.=) 'building' AND p.pid OPERATOR(pg_catalog.=) b.pid;

REVOKE ALL ON nedb.index_build_log, nedb.index_candidates, nedb.index_builds FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION
    nedb.create_index(text, text, text, boolean), nedb.index_candidates_status()
  FROM PUBLIC;

COMMENT ON COLUMN nedb.indexes.auto IS 'Built by the index builder because nedb.auto_index counted enough queries that wanted it.';
COMMENT ON FUNCTION nedb.create_index(text, text, text, boolean) IS 'Build an index; concurrently => true queues it for the index builder (CREATE INDEX CONCURRENTLY: puts go on meanwhile; nedb.index_builds).';
COMMENT ON TABLE nedb.index_build_log IS 'The index builder''s builds: queued, building, built, failed (with the error) or skipped (the index was there).';
COMMENT ON FUNCTION nedb.index_candidates_status() IS 'The queries counted by nedb.auto_index in this database since the server started: per (coll, field, kind), misses and state.';
COMMENT ON VIEW nedb.index_candidates IS 'Fields queried without an index (nedb.auto_index): misses, state (counting, wanted, building, built, too small, failed) and the index built.';
COMMENT ON VIEW nedb.index_builds IS 'The index builder''s builds with, while one runs, its phase and progress (pg_stat_progress_create_index) and, when one failed, the error.';

-- Backends keep what nedb.indexes says (indexes.c); any change of its rows
-- tells them to read it again, through a relcache invalidation of
-- nedb.versions (as CREATE and DROP INDEX on it send).
CREATE FUNCTION nedb.indexes_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'nedb_indexes_changed' LANGUAGE C;
CREATE TRIGGER indexes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nedb.indexes
    FOR EACH STATEMENT EXECUTE FUNCTION nedb.indexes_changed();
COMMENT ON FUNCTION nedb.indexes_changed() IS 'Trigger on nedb.indexes: every backend reads the indexes again after a change.';
