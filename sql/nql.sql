--
-- nql: the query language (grammar, Python comparison semantics, clauses, errors)
--
DROP EXTENSION nedb CASCADE;
CREATE EXTENSION nedb;
select nedb.put('users','alice','{"name":"Alice","age":30,"city":"Paris","bio":"Rust-lang hacker"}');
select nedb.put('users','bob','{"name":"Bob","age":25,"city":"Berlin"}');
select nedb.put('users','carol','{"name":"Carol","age":35,"city":"Paris","active":true}');
select nedb.put('users','dave','{"name":"Dave","age":null}');
select nedb.put('users','eve','{"name":"Eve","age":1}');
select nedb.link('users:alice','follows','users:bob');
select r->>'_id' id, r->'age' age from nql('FROM users WHERE age > 20 ORDER BY age DESC') r;
select r->>'_id' id from nql('FROM users WHERE age != 25') r;
select r->>'_id' id from nql('FROM users WHERE age = null') r;
select r->>'_id' id from nql('from users order by age') r;
select r->>'_id' id from nql('FROM users ORDER BY age DESC LIMIT 2') r;
select r->>'_id' id from nql('FROM users WHERE city = Paris AND age >= 30') r;
select r->>'_id' id from nql('FROM users SEARCH "rust"') r;
select r->>'_id' id from nql('FROM users WHERE _id = "alice" TRAVERSE follows') r;
select * from nql('FROM users GROUP BY city COUNT');
select * from nql('FROM users GROUP BY city AVG age');
select * from nql('FROM users LIMIT -1');
select r->>'_id' from nql('FROM users AS OF 1') r;
select * from nql('FROM nothing');
SELECT try($q$SELECT nql('users')$q$);
SELECT try($q$SELECT nql('FROM users WHERE')$q$);
SELECT try($q$SELECT nql('FROM users WHERE age > 5 OR x = 1')$q$);
SELECT try($q$SELECT nql('FROM users LIMIT 5 WHERE age > 1')$q$);
SELECT try($q$SELECT nql('FROM users WHERE age == 1')$q$);
SELECT try($q$SELECT nql('FROM users AS 5')$q$);
