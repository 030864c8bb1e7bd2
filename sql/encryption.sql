--
-- encryption: a reference database encrypted at rest imports with its
-- key.enc and the master key from the file nedb.tmk_file names; an export
-- can be sealed the same way.  Vectors: data/encrypted_aof_vectors.json
-- (the reference v2.8.2 run with NEDB_TMK set).
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
\set vec `cat data/encrypted_aof_vectors.json`
SELECT (:'vec'::jsonb -> 'key_enc')::text AS key_enc, :'vec'::jsonb ->> 'tmk_hex' AS tmk_hex \gset
CREATE TABLE vec_lines AS
SELECT o::int AS n, l AS enc, (:'vec'::jsonb -> 'plaintext_lines') ->> (o::int - 1) AS plain
  FROM jsonb_array_elements_text(:'vec'::jsonb -> 'aof_lines') WITH ORDINALITY a(l, o);
SELECT count(*) AS lines, count(*) FILTER (WHERE enc::jsonb ? 'enc') AS encrypted FROM vec_lines;
CREATE FUNCTION pg_temp.aof(which text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(CASE which WHEN 'enc' THEN enc WHEN 'plain' THEN plain
                      ELSE CASE WHEN n % 2 = 0 THEN enc ELSE plain END END, E'\n' ORDER BY n)
      FROM vec_lines $$;

-- master key files (psql runs on the server's machine here): the vectors'
-- key, another one, one too short, one others can read
SELECT current_setting('data_directory') || '/nedb_regress_tmk' AS tmkfile,
       current_setting('data_directory') || '/nedb_regress_tmk_other' AS otherfile,
       current_setting('data_directory') || '/nedb_regress_tmk_short' AS shortfile,
       current_setting('data_directory') || '/nedb_regress_tmk_open' AS openfile \gset
\setenv TMKHEX :tmk_hex
\setenv TMKFILE :tmkfile
\setenv OTHERFILE :otherfile
\setenv SHORTFILE :shortfile
\setenv OPENFILE :openfile
\! perl -e 'print pack("H*", $ENV{TMKHEX}), "\n"' > "$TMKFILE"; printf 'another master key, long enough' > "$OTHERFILE"; printf 'too short' > "$SHORTFILE"; cp "$TMKFILE" "$OPENFILE"; chmod 600 "$TMKFILE" "$OTHERFILE" "$SHORTFILE"; chmod 644 "$OPENFILE"

-- no master key configured, an encrypted file without key.enc: refused, nothing imported
SELECT try($$SELECT nedb.import_aof(pg_temp.aof('enc'), $$ || quote_literal(:'key_enc') || $$)$$);
SELECT try($$SELECT nedb.import_aof(pg_temp.aof('enc'))$$);
SELECT try($$SELECT nedb.import_aof(pg_temp.aof('mixed'))$$);
SELECT nedb.seq();
-- the GUC is for superusers only
CREATE ROLE enc_user;
SET ROLE enc_user;
SELECT try($$SET nedb.tmk_file = '/tmp/x'$$);
SELECT try($$SHOW nedb.tmk_file$$);
RESET ROLE;
DROP ROLE enc_user;

-- bad master key files
SET nedb.tmk_file = :'shortfile';
SELECT regexp_replace(try($$SELECT nedb.new_key_enc()$$), '"[^"]*"', '"..."') AS short;
SET nedb.tmk_file = :'openfile';
SELECT regexp_replace(try($$SELECT nedb.new_key_enc()$$), '"[^"]*"', '"..."') AS readable_by_others;
SET nedb.tmk_file = :'otherfile';
SELECT try($$SELECT nedb.import_aof(pg_temp.aof('enc'), $$ || quote_literal(:'key_enc') || $$)$$) AS wrong_master_key;
SELECT nedb.seq();

-- the vectors: the same seq, head, documents and export as the plaintext
SET nedb.tmk_file = :'tmkfile';
SELECT nedb.import_aof(pg_temp.aof('enc'), :'key_enc');
SELECT nedb.seq() = (:'vec'::jsonb ->> 'final_seq')::bigint AS seq, nedb.head() = :'vec'::jsonb ->> 'head' AS head,
       nedb.verify() AS verify;
SELECT nedb.get('users', 'alice') AS alice, nedb.get('orders', 'o1') - '_seq' AS o1;
SELECT count(*) AS lines, count(*) FILTER (WHERE e::jsonb = v.plain::jsonb) AS as_the_plaintext
  FROM nedb.export_aof() WITH ORDINALITY x(e, o) JOIN vec_lines v ON v.n = x.o;
SELECT nedb.head() AS enc_head \gset
-- plaintext and mixed files: the same head
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT nedb.import_aof(pg_temp.aof('plain'));
SELECT nedb.head() = :'enc_head' AS same_head;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT nedb.import_aof(pg_temp.aof('mixed'), :'key_enc');
SELECT nedb.head() = :'enc_head' AS same_head;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

-- every single-byte change of every line's ciphertext (nonce, ciphertext,
-- tag) is refused whole, naming its line
CREATE FUNCTION pg_temp.flipped(line int, pos int) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(CASE WHEN v.n = line
        THEN jsonb_build_object('enc', 1, 'ct', translate(encode(set_byte(b, pos, get_byte(b, pos) # 1), 'base64'), E'\n', ''))::text
        ELSE v.enc END, E'\n' ORDER BY v.n)
      FROM vec_lines v, LATERAL (SELECT decode((SELECT enc::jsonb ->> 'ct' FROM vec_lines WHERE n = line), 'base64')) d(b) $$;
CREATE FUNCTION pg_temp.refusals(OUT line int, OUT bytes int, OUT refused int, OUT naming_the_line int)
    RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
    len int;
    msg text;
BEGIN
    FOR line IN SELECT n FROM vec_lines ORDER BY n LOOP
        len := length(decode((SELECT enc::jsonb ->> 'ct' FROM vec_lines WHERE n = line), 'base64'));
        bytes := len; refused := 0; naming_the_line := 0;
        FOR pos IN 0 .. len - 1 LOOP
            BEGIN
                PERFORM nedb.import_aof(pg_temp.flipped(line, pos), current_setting('enc.key_enc'));
            EXCEPTION WHEN data_corrupted THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                refused := refused + 1;
                IF msg = format('the ciphertext of AOF line %s does not authenticate', line) THEN
                    naming_the_line := naming_the_line + 1;
                END IF;
            END;
        END LOOP;
        RETURN NEXT;
    END LOOP;
END $$;
SELECT set_config('enc.key_enc', :'key_enc', false) IS NOT NULL AS set;
SELECT * FROM pg_temp.refusals();
SELECT nedb.seq() AS nothing_imported;

-- every single-byte change of key.enc's nonce or wrapped key: refused
SELECT f AS field, count(*) AS bytes,
       count(*) FILTER (WHERE try(format('SELECT nedb.import_aof(%L, %L)', pg_temp.aof('enc'),
           jsonb_set(:'key_enc'::jsonb, ARRAY[f], to_jsonb(encode(set_byte(decode(:'key_enc'::jsonb ->> f, 'hex'), i,
               get_byte(decode(:'key_enc'::jsonb ->> f, 'hex'), i) # 1), 'hex')))::text))
           LIKE '28000: the master key does not open key.enc') AS refused
  FROM unnest(ARRAY['n', 'ct']) f, LATERAL generate_series(0, length(decode(:'key_enc'::jsonb ->> f, 'hex')) - 1) i
 GROUP BY f ORDER BY f;
-- malformed key.enc
SELECT try(format('SELECT nedb.import_aof(%L, %L)', pg_temp.aof('enc'), k)) AS malformed_key_enc
  FROM (VALUES ('not json'), ('[]'), ('{"v": 2, "alg": "AES-256-GCM", "n": "00", "ct": "00"}'),
               ((:'key_enc'::jsonb - 'n')::text), (jsonb_set(:'key_enc'::jsonb, '{ct}', '"abcd"')::text),
               (jsonb_set(:'key_enc'::jsonb, '{alg}', '"AES-128-CBC"')::text)) t(k);
-- malformed, truncated and nested envelopes
SELECT try(format('SELECT nedb.import_aof(%L, %L)', l, :'key_enc')) AS bad_envelope
  FROM (VALUES ('{"enc": 1}'), ('{"enc": 2, "ct": "AAAA"}'), ('{"enc": 1, "ct": "AAAA", "x": 1}'),
               ('{"enc": 1, "ct": "not base64!"}'), ('{"enc": 1, "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'),
               ((SELECT jsonb_build_object('enc', 1, 'ct', left(enc::jsonb ->> 'ct', 40))::text FROM vec_lines WHERE n = 1)),
               ((SELECT left(enc, 60) FROM vec_lines WHERE n = 1))) t(l);
SELECT nedb.seq() AS nothing_imported;

-- export sealed under a new key.enc: every line an envelope, and it imports
-- back (into a fresh database) to the same head
SELECT nedb.import_aof(pg_temp.aof('plain'));
SELECT nedb.new_key_enc() AS new_key \gset
SELECT (:'new_key'::jsonb ?& ARRAY['v', 'alg', 'n', 'ct']) AND :'new_key'::jsonb ->> 'alg' = 'AES-256-GCM'
       AND length(:'new_key'::jsonb ->> 'n') = 24 AND length(:'new_key'::jsonb ->> 'ct') = 96 AS key_enc_shape;
CREATE TABLE sealed AS SELECT o::int AS n, l FROM nedb.export_aof(-1, NULL, :'new_key') WITH ORDINALITY x(l, o);
SELECT count(*) AS lines, count(*) FILTER (WHERE l::jsonb ?& ARRAY['enc', 'ct'] AND l::jsonb -> 'enc' = '1'
       AND position('users' IN l) = 0) AS sealed FROM sealed;
-- a fresh nonce each time: the same export twice differs everywhere
SELECT count(*) FILTER (WHERE a.l = b) AS equal_lines
  FROM sealed a JOIN nedb.export_aof(-1, NULL, :'new_key') WITH ORDINALITY x(b, o) ON x.o = a.n;
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT nedb.import_aof(string_agg(l, E'\n' ORDER BY n), :'new_key') FROM sealed;
SELECT nedb.head() = :'enc_head' AS same_head, nedb.verify() AS verify;
-- the vectors' key.enc does not open the new export
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
SELECT try(format('SELECT nedb.import_aof(%L, %L)', (SELECT string_agg(l, E'\n' ORDER BY n) FROM sealed), :'key_enc')) AS other_data_key;
-- the privileges: revoked from PUBLIC, as import_aof(text) and export_aof
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.proname IN ('import_aof', 'export_aof', 'new_key_enc', 'rewrap_key')
   AND p.pronamespace = 'nedb'::regnamespace ORDER BY 1::text;

-- Cascade at rest: with a master key configured, chunks are sealed under
-- the database's data key (made at the first upload, kept wrapped in
-- nedb.data_key); compression first, dedup and roots by the plaintext
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
CREATE TABLE files_in (name text, data bytea);
INSERT INTO files_in VALUES ('text', convert_to(repeat('every line the same, compressible ', 4000), 'UTF8')),
    ('random', (SELECT decode(string_agg(md5(g::text), ''), 'hex') FROM generate_series(1, 8000) g)),
    ('text2', convert_to(repeat('another line, compressible too ', 4000), 'UTF8'));
RESET nedb.tmk_file;
SELECT nedb.put_file('plain', data) FROM files_in WHERE name = 'text';
SET nedb.tmk_file = :'tmkfile';
SELECT count(*) AS data_keys FROM nedb.data_key;
SELECT nedb.put_file(name, data) AS version FROM files_in ORDER BY name;
SELECT nedb.put_file('random', data, 'cold') AS version FROM files_in WHERE name = 'random';
SELECT count(*) AS data_keys, bool_and(key_enc::jsonb ->> 'alg' = 'AES-256-GCM') AS wrapped FROM nedb.data_key;
-- the plaintext upload's chunks stay as they were; the text's same chunks are dedup hits
SELECT tier, codec, count(*) AS chunks, sum(raw_len) AS raw, sum(octet_length(data)) < sum(raw_len) AS smaller
  FROM nedb.chunks GROUP BY 1, 2 ORDER BY 1, 2;
-- no 32-byte window of the incompressible file is in any stored chunk
SELECT count(*) AS plaintext_windows_stored FROM nedb.chunks c, files_in f, generate_series(0, 127968, 997) o
 WHERE f.name = 'random' AND position(substring(f.data from o + 1 for 32) IN c.data) > 0;
SELECT f.name, md5(nedb.get_file(f.name)) = md5(f.data) AS same, nedb.file_root(f.name) = nedb.chunk_root(f.data) AS root
  FROM files_in f ORDER BY 1;
SELECT md5(nedb.get_file('random', tier => 'cold')) = md5(data) AS cold_same FROM files_in WHERE name = 'random';
SELECT nedb.verify_file_proof(nedb.file_proof('random', 0)) AS proof;
-- no master key: the sealed chunks are refused, the plaintext ones still read
RESET nedb.tmk_file;
SELECT regexp_replace(try($$SELECT nedb.get_file('random')$$), 'chunk [0-9a-f]+', 'chunk …') AS no_master_key;
SELECT length(nedb.get_file('plain')) AS plain_still_reads;
-- another master key: refused
SET nedb.tmk_file = :'otherfile';
SELECT try($$SELECT nedb.get_file('random')$$) AS other_master_key;
-- a sealed chunk changed: refused as corrupted, never garbage
SET nedb.tmk_file = :'tmkfile';
BEGIN;
UPDATE nedb.chunks SET data = set_byte(data, 20, get_byte(data, 20) # 1)
 WHERE (tier, id) = (SELECT tier, id FROM nedb.chunks WHERE codec >= 2 AND tier = 'cold' LIMIT 1);
SELECT regexp_replace(try($$SELECT nedb.get_file('random', tier => 'cold')$$), 'chunk [0-9a-f]+', 'chunk …') AS tampered;
ROLLBACK;
-- key rotation: the data key rewrapped by another master key, chunks untouched
SELECT md5(string_agg(data, '' ORDER BY tier, id)) AS chunks_before FROM nedb.chunks \gset
SELECT key_enc AS old_key_enc FROM nedb.data_key \gset
SET nedb.tmk_file = :'otherfile';
SELECT nedb.rewrap_key(:'tmkfile');
SELECT key_enc <> :'old_key_enc' AS rewrapped, rewrapped_at IS NOT NULL AS stamped FROM nedb.data_key;
SELECT md5(string_agg(data, '' ORDER BY tier, id)) = :'chunks_before' AS chunks_untouched FROM nedb.chunks;
SELECT f.name, md5(nedb.get_file(f.name)) = md5(f.data) AS same FROM files_in f ORDER BY 1;
SET nedb.tmk_file = :'tmkfile';
SELECT try($$SELECT nedb.get_file('random')$$) AS old_master_key;
SELECT try(format('SELECT nedb.rewrap_key(%L)', :'tmkfile')) AS rewrap_with_the_wrong_old_key;
-- a data key made in a rolled-back subtransaction does not seal later chunks
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
BEGIN;
SAVEPOINT s;
SELECT nedb.put_file('gone', data) FROM files_in WHERE name = 'text';
ROLLBACK TO s;
SELECT count(*) AS data_keys_after_rollback FROM nedb.data_key;
SELECT nedb.put_file('kept', data) FROM files_in WHERE name = 'random';
COMMIT;
SELECT count(*) AS data_keys, md5(nedb.get_file('kept')) = (SELECT md5(data) FROM files_in WHERE name = 'random') AS same
  FROM nedb.data_key;
-- superusers only
CREATE ROLE enc_user;
GRANT USAGE ON SCHEMA nedb TO enc_user;
SET ROLE enc_user;
SELECT try(format('SELECT nedb.rewrap_key(%L)', :'otherfile')) AS rewrap_by_others;
RESET ROLE;
DROP OWNED BY enc_user;
DROP ROLE enc_user;
DROP TABLE files_in;

RESET nedb.tmk_file;
DROP TABLE vec_lines, sealed;
\! rm -f "$TMKFILE" "$OTHERFILE" "$SHORTFILE" "$OPENFILE"
