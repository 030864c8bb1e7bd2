--
-- signing: digests signed with Ed25519 by a key from a file
--
SELECT try($$SELECT nedb.sign_digest()$$);
SELECT current_setting('data_directory') || '/nedb_regress_signing.key' AS keyfile \gset
SELECT current_setting('data_directory') || '/nedb_regress_bad.key' AS badfile \gset
-- RFC 8032's test 1 seed: the public key is the RFC's
COPY (SELECT '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60') TO :'keyfile';
COPY (SELECT 'not a seed') TO :'badfile';
SELECT current_setting('data_directory') || '/nedb_regress_open.key' AS openfile \gset
COPY (SELECT '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60') TO :'openfile';
-- COPY writes 0644; a key must be the owner's alone (psql runs on the server's machine here)
\setenv KEYFILE :keyfile
\setenv BADFILE :badfile
\! chmod 600 "$KEYFILE" "$BADFILE"
SET nedb.signing_key_file = :'keyfile';
SELECT * FROM nedb.signing_key();

SELECT nedb.put('signed', 'a', '{"n": 1}') IS NOT NULL AS put;
SELECT nedb.sign_digest() AS d \gset
SELECT (:'d'::jsonb) ->> 'alg' AS alg, (:'d'::jsonb -> 'v') AS v,
       ((:'d'::jsonb) ->> 'tree_size')::bigint = d.seq + 1 AS tree_size,
       (:'d'::jsonb) ->> 'root' = d.root AS root, (:'d'::jsonb) ->> 'head' = d.head AS head,
       (:'d'::jsonb) ->> 'ts' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS ts,
       length((:'d'::jsonb) ->> 'signature') AS sig_hex
  FROM nedb.digest() d;
SELECT nedb.verify_digest(:'d', public_key) AS valid FROM nedb.signing_key();

-- every single-bit flip of every hex field, every other tree size, a wrong
-- key, missing or mistyped members: not valid
CREATE FUNCTION pg_temp.flip(h text, i int) RETURNS text LANGUAGE sql AS $$
    SELECT overlay(h placing to_hex(('x' || lpad(substr(h, i / 4 + 1, 1), 8, '0'))::bit(32)::int
                                    # (1 << (i % 4))) from i / 4 + 1 for 1) $$;
SELECT f AS field, count(*) AS flips, count(*) FILTER (WHERE nedb.verify_digest(
           jsonb_set(:'d'::jsonb, ARRAY[f], to_jsonb(pg_temp.flip((:'d'::jsonb) ->> f, i))),
           k.public_key)) AS accepted
  FROM nedb.signing_key() k, unnest(ARRAY['root', 'head', 'signature', 'key_id']) f,
       LATERAL generate_series(0, length((:'d'::jsonb) ->> f) * 4 - 1) i
 GROUP BY f ORDER BY f;
SELECT count(*) FILTER (WHERE nedb.verify_digest(jsonb_set(:'d'::jsonb, '{tree_size}', to_jsonb(n)), k.public_key)) AS other_sizes_accepted
  FROM nedb.signing_key() k, generate_series(0, 200) n
 WHERE n <> ((:'d'::jsonb) ->> 'tree_size')::bigint;
SELECT nedb.verify_digest(jsonb_set(:'d'::jsonb, '{ts}', '"2000-01-01T00:00:00.000000Z"'), public_key) AS other_ts,
       nedb.verify_digest(jsonb_set(:'d'::jsonb, '{tree_size}', to_jsonb(((:'d'::jsonb) ->> 'tree_size'))), public_key) AS size_as_string,
       nedb.verify_digest(jsonb_set(:'d'::jsonb, '{tree_size}', to_jsonb(((:'d'::jsonb) ->> 'tree_size')::numeric + 0.0)), public_key) AS size_as_decimal,
       nedb.verify_digest(:'d'::jsonb - 'head', public_key) AS no_head,
       nedb.verify_digest(jsonb_set(:'d'::jsonb, '{alg}', '"rsa"'), public_key) AS other_alg,
       nedb.verify_digest(:'d', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511b') AS other_key,
       nedb.verify_digest(:'d', 'zz') AS bad_key,
       nedb.verify_digest('[1, 2]', public_key) AS not_an_object
  FROM nedb.signing_key();

-- the key file: missing, malformed, not a file; and only a superuser sets it
SET nedb.signing_key_file = '/nonexistent/nedb.key';
SELECT try($$SELECT nedb.sign_digest()$$) AS missing;
SET nedb.signing_key_file = :'badfile';
SELECT regexp_replace(try($$SELECT nedb.sign_digest()$$), '"[^"]*"', '"…"') AS malformed;
SET nedb.signing_key_file = :'openfile';
SELECT regexp_replace(try($$SELECT nedb.sign_digest()$$), '"[^"]*"', '"…"') AS readable_by_others;
SELECT current_setting('data_directory') AS datadir \gset
SET nedb.signing_key_file = :'datadir';
SELECT regexp_replace(try($$SELECT nedb.sign_digest()$$), '"[^"]*"', '"…"') AS not_a_file;
RESET nedb.signing_key_file;
CREATE ROLE sign_user;
GRANT USAGE ON SCHEMA nedb TO sign_user;
SET ROLE sign_user;
SELECT try($$SET nedb.signing_key_file = '/tmp/x'$$);
SELECT try($$SELECT current_setting('nedb.signing_key_file')$$);
SELECT try($$SELECT nedb.sign_digest()$$);
RESET ROLE;
REVOKE USAGE ON SCHEMA nedb FROM sign_user;
DROP ROLE sign_user;
\setenv OPENFILE :openfile
\! rm -f "$KEYFILE" "$BADFILE" "$OPENFILE"
