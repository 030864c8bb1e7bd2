--
-- errors: bad input gets a clear error with a proper SQLSTATE and writes nothing
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;

SELECT try($$SELECT nedb.put('c', 'a', '[1, 2]')$$);
SELECT try($$SELECT nedb.put('c', 'a', '"text"')$$);
SELECT try($$SELECT nedb.put('c', 'a', '42')$$);
SELECT try($$SELECT nedb.put('c', 'a', NULL)$$);
SELECT try($$SELECT nedb.put('c', NULL, '{}')$$);
SELECT try($$SELECT nedb.put(NULL, 'a', '{}')$$);
SELECT try($$SELECT nedb.put('', 'a', '{}')$$);
SELECT try($$SELECT nedb.put('c', '', '{}')$$);
SELECT try($$SELECT nedb.put('c', repeat('x', 1025), '{}')$$);
SELECT try($$SELECT nedb.put('c', 'a', '{}', client => NULL)$$);
SELECT try($$SELECT nedb.put('c', 'a', '{}', caused_by => '{1,NULL}')$$);
SELECT try($$SELECT nedb.put('c', 'a', '{}', caused_by => '{{1},{2}}')$$);
SELECT try($$SELECT nedb.put('c', 'a', '{}', confidence => 'NaN')$$);
SELECT try($$SELECT nedb.delete('c', NULL)$$);
SELECT try($$SELECT nedb.link('a', NULL, 'b')$$);
SELECT try($$SELECT nedb.link('a', 'r', repeat('b', 2000))$$);
SELECT try($$SELECT nedb.expire('c', 'a', NULL)$$);
SELECT try($$SELECT nedb.put('c', 'a', '{}', nonce => 0)$$);
SELECT try($$SELECT nedb.put('c', 'a', '{}', nonce => -5)$$);
SELECT nedb.seq() AS nothing_written, count(*) AS no_clients FROM nedb.clients;

-- a key at the limit is fine
SELECT length(nedb.put('c', repeat('x', 1024), '{}') ->> '_id') AS id_len;
-- any JSON object works, whatever its keys and values
SELECT nedb.put('c', 'odd', '{"": 1, "a\"b": [null, {}], "é": "caf\u00e9"}') ->> '' AS empty_key;
SELECT nedb.verify();
