-- bench/load_big_plain.sql -- plain side of the 1M-document data set shared
-- by verify, restart and asof (db "big"; run.sh has staged blocks.sql with
-- n=1000000 as "staging"): the same documents in a heap table with a text
-- primary key and a btree on height, one INSERT ... SELECT.
\set ON_ERROR_STOP on
CREATE TABLE plain_big (id text PRIMARY KEY, height bigint NOT NULL, doc jsonb NOT NULL);
CREATE INDEX plain_big_height ON plain_big (height);
INSERT INTO plain_big SELECT id, height, doc FROM staging ORDER BY height;
