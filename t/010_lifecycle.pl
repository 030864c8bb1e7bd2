# The extension's lifecycle (README: Install, Backups):
#  - pg_dump/pg_restore of a database with collections, files, grants,
#    indexes and a foreign table, into an empty database and into one where
#    CREATE EXTENSION nedb ran first: no error, the same chain, documents,
#    grants and (after create_index from nedb.indexes) index-using NQL;
#  - schema nedb is a member: DROP EXTENSION leaves no schema behind;
#  - CREATE EXTENSION nedb VERSION '1.0', data through the 1.0 API, ALTER
#    EXTENSION nedb UPDATE: every member object described the same as a
#    fresh 1.1, the data answers unchanged, and the upgraded database dumps
#    and restores as a fresh one does;
#  - a database still at 1.0 under the new library: 55000, not 42P01;
#  - a database owner who is not a superuser cannot install or dump NEDB's
#    data, a member of pg_read_all_data can (README: Backups).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lifecycle');
$node->init;
$node->append_conf('postgresql.conf', "autovacuum = off\n");
$node->start;

my $tmp = PostgreSQL::Test::Utils::tempdir;

sub sq { my ($db, $sql) = @_; return $node->safe_psql($db, $sql); }

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE dbo LOGIN;
CREATE ROLE backup LOGIN IN ROLE pg_read_all_data;
});

# the data, through functions 1.0 has too (superuser: no nedb.grant needed)
my $load = q{
SELECT nedb.put('users', i::text, jsonb_build_object('age', i * 10, 'name', 'u' || i, 'tags', jsonb_build_array('t' || (i % 3))))
  FROM generate_series(1, 40) i;
SELECT nedb.put('users', '7', '{"age": 75, "name": "seven again"}');
SELECT nedb.delete('users', '8');
SELECT nedb.put('orders', 'o' || i, jsonb_build_object('user', 'users:' || (i % 5 + 1), 'total', i * 1.5))
  FROM generate_series(1, 10) i;
SELECT nedb.link('users:1', 'follows', 'users:2');
SELECT nedb.link('users:2', 'follows', 'users:3');
SELECT nedb.unlink('users:2', 'follows', 'users:3');
SELECT nedb.tx('[{"op": "put", "coll": "orders", "id": "o99", "doc": {"total": 1}},
                 {"op": "del", "coll": "orders", "id": "o1"}]');
SELECT nedb.put_file('report.txt', convert_to(repeat('NEDB lifecycle ', 5000), 'UTF8'));
SELECT nedb.put_file('report.txt', convert_to(repeat('NEDB lifecycle, v2 ', 5000), 'UTF8'));
SELECT nedb.create_index('users', 'age', 'sorted');
SELECT nedb.create_index('users', 'name', 'eq');
SELECT nedb.create_index('users', 'tags', 'search');
GRANT USAGE ON SCHEMA nedb TO app;
CREATE FOREIGN TABLE public.users_ft (_id text, age int, name text)
    SERVER nedb OPTIONS (collection 'users');
GRANT SELECT ON public.users_ft TO app;
};
my $grants = q{
SELECT nedb.grant('users', 'app', 'read');
SELECT nedb.grant('orders', 'app', 'all');
SELECT nedb.grant_files('app', 'read');
};

# what a database answers: the chain, every document version, edges, files,
# grants, the foreign table and NQL over the collections
my $answers = q{
SELECT 'seq ' || nedb.seq() || ' head ' || nedb.head() || ' verify ' || nedb.verify();
SELECT 'versions ' || md5(string_agg(format('%s/%s [%s,%s) %s', coll, id, seq_from, seq_to, doc), E'\n'
                          ORDER BY coll, id, seq_from)) FROM nedb.versions;
SELECT 'edges ' || string_agg(format('%s -%s-> %s [%s,%s)', frm, rel, "to", seq_from, seq_to), '; '
                              ORDER BY seq_from) FROM nedb.edges;
SELECT 'files ' || string_agg(format('%s v%s %s', name, version, md5(nedb.get_file(name, version, tier))), '; '
                              ORDER BY name, version) FROM nedb.files;
SELECT 'ops ' || md5(string_agg(l::text, E'\n' ORDER BY l.seq)) FROM nedb.log l;
SELECT 'indexes ' || string_agg(format('%s.%s %s', coll, field, kind), '; ' ORDER BY coll, field, kind) FROM nedb.indexes;
SELECT 'ft ' || md5(string_agg(format('%s %s %s', _id, age, name), ';' ORDER BY _id)) FROM public.users_ft;
SELECT 'nql ' || string_agg(r::text, ' ') FROM nql('FROM users WHERE age >= 300 ORDER BY age DESC LIMIT 5') r;
SELECT 'nql ' || string_agg(r::text, ' ') FROM nql('FROM users WHERE name = ''u12''') r;
SELECT 'nql ' || count(*) FROM nql('FROM users SEARCH "t1"') r;
SELECT 'get ' || nedb.get('users', '7', 10)::text || ' ' || nedb.get('users', '7')::text;
};
# 1.1's: the grants
my $answers_grants = $answers . q{
SELECT 'grants ' || coalesce(string_agg(concat_ws(' ', object, coll, role, privilege), '; '), '') FROM nedb.privileges;
};

# the indexes nql uses: the sorted one drives ORDER BY age
sub uses_index
{
	my ($db) = @_;
	my $plan = sq($db, "SELECT string_agg(e, E'\\n') FROM nedb.explain('FROM users WHERE age >= 300 ORDER BY age DESC LIMIT 5') e");
	return $plan =~ /Index Scan (?:Backward )?using nedb_sorted_users_age_/ ? 1 : 0;
}

sub restore_ok
{
	my ($dump, $db, $label) = @_;
	$node->command_checks_all(
		[ 'pg_restore', '--exit-on-error', '-d', $db, $dump ],
		0, [qr/^$/], [qr/^$/], "$label: pg_restore without an error");
}

sub no_schema
{
	my ($db) = @_;
	return sq($db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'nedb'");
}

# a description of the extension and of every member object.  Two things
# are compared as sets, not arrays: ACL items (a function 1.0 revoked and
# the update grants to PUBLIC again has an explicit ACL where a fresh 1.1
# has the default; the privileges are the same) and the configuration
# tables in pg_extension.extconfig (the update appends nedb.grants)
my $describe_q = q{
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'nedb'),
m AS (SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
       WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rel AS (SELECT objid AS oid FROM m WHERE classid = 'pg_class'::regclass),
lines(l) AS (
  SELECT 'ext ' || extversion || ' ns ' || extnamespace::regnamespace || ' owner ' || extowner::regrole
         || ' relocatable ' || extrelocatable
         || ' config ' || (SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM unnest(extconfig) c)
         || ' condition ' || array_to_string(extcondition, ',')
    FROM pg_extension WHERE extname = 'nedb'
  UNION ALL
  -- what the extension depends on, and what depends on it other than members
  SELECT 'dep ' || pg_describe_object(classid, objid, objsubid) || ' -> '
         || pg_describe_object(refclassid, refobjid, refobjsubid) || ' ' || deptype::text
    FROM pg_depend d, ext
   WHERE (d.classid = 'pg_extension'::regclass AND d.objid = ext.oid)
      OR (d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype <> 'e')
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
         || ' comment ' || coalesce(obj_description(objid, classid::regclass::name), '-') FROM m
  UNION ALL
  SELECT 'initpriv ' || pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' '
         || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(i.initprivs) a)
    FROM pg_init_privs i JOIN m ON m.classid = i.classoid AND m.objid = i.objoid
  UNION ALL
  SELECT 'schema ' || nspname || ' owner ' || nspowner::regrole || ' '
         || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(nspacl) a), 'default')
         || ' comment ' || coalesce(obj_description(oid, 'pg_namespace'), '-')
    FROM pg_namespace WHERE nspname = 'nedb'
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' owner ' || p.proowner::regrole || ' '
         || (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(coalesce(p.proacl, acldefault('f', p.proowner))) a)
         || E'\n' || CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END
    FROM pg_proc p JOIN m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
  UNION ALL
  SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' owner ' || c.relowner::regrole || ' '
         || coalesce((SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(c.relacl) a), 'default')
         || ' options ' || coalesce(array_to_string(c.reloptions, ','), '-')
         || coalesce(' view ' || pg_get_viewdef(c.oid), '')
    FROM pg_class c JOIN rel ON rel.oid = c.oid
  UNION ALL
  SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' notnull ' || a.attnotnull || ' collation ' || coalesce(nullif(a.attcollation, 0)::regcollation::text, '-')
         || ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
         || ' acl ' || coalesce(array_to_string(a.attacl, ','), '-')
         || ' comment ' || coalesce(col_description(a.attrelid, a.attnum), '-')
    FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rel ON rel.oid = i.indrelid
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(co.oid)
    FROM pg_constraint co JOIN rel ON rel.oid = co.conrelid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
    FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'operator ' || o.oid::regoperator || ' ' || o.oprcode || ' com ' || o.oprcom::regoperator
         || ' neg ' || o.oprnegate::regoperator || ' ' || o.oprrest || ' ' || o.oprjoin
    FROM pg_operator o JOIN m ON m.classid = 'pg_operator'::regclass AND m.objid = o.oid
  UNION ALL
  SELECT 'amop ' || pg_describe_object('pg_amop'::regclass, ao.oid, 0)
    FROM pg_amop ao JOIN pg_opclass oc ON oc.opcfamily = ao.amopfamily
    JOIN m ON m.classid = 'pg_opclass'::regclass AND m.objid = oc.oid
  UNION ALL
  SELECT 'amproc ' || pg_describe_object('pg_amproc'::regclass, ap.oid, 0)
    FROM pg_amproc ap JOIN pg_opclass oc ON oc.opcfamily = ap.amprocfamily
    JOIN m ON m.classid = 'pg_opclass'::regclass AND m.objid = oc.oid
  UNION ALL
  SELECT 'fdw ' || fdwname || ' ' || fdwhandler::regproc || ' ' || fdwvalidator::regproc || ' '
         || coalesce(array_to_string(fdwacl, ','), 'default') FROM pg_foreign_data_wrapper WHERE fdwname = 'nedb'
  UNION ALL
  SELECT 'server ' || srvname || ' ' || coalesce(array_to_string(srvacl, ','), 'default')
         || ' ' || coalesce(array_to_string(srvoptions, ','), '-') FROM pg_foreign_server WHERE srvname = 'nedb'
  UNION ALL
  SELECT 'am ' || amname || ' ' || amhandler::regproc || ' ' || amtype::text FROM pg_am WHERE amname = 'nedb_sorted'
)
SELECT string_agg(l, E'\n' ORDER BY l) FROM lines;
};

# --- dump and restore -----------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE src');
sq('src', "CREATE EXTENSION nedb");
sq('src', $load . $grants);
my $src_answers = sq('src', $answers_grants);
like($src_answers, qr/verify true/, 'source: verify');
is(uses_index('src'), 1, 'source: NQL orders through the sorted index');

my $dump = "$tmp/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'src' ], 'pg_dump of a database with NEDB data');
my $list = `pg_restore -l $dump`;
unlike($list, qr/\bSCHEMA - nedb\b/, 'the dump leaves schema nedb to CREATE EXTENSION');
like($list, qr/ACL - SCHEMA nedb/, 'the dump keeps the GRANT USAGE on schema nedb');

$node->safe_psql('postgres', 'CREATE DATABASE r_empty');
$node->safe_psql('postgres', 'CREATE DATABASE r_ext');
sq('r_ext', 'CREATE EXTENSION nedb');
for my $db (qw(r_empty r_ext))
{
	restore_ok($dump, $db, $db);
	is(sq($db, $answers_grants), $src_answers, "$db: the same chain, documents, files, grants and NQL results");
	is(sq($db, "SELECT has_schema_privilege('app', 'nedb', 'USAGE')"), 't', "$db: app keeps USAGE on schema nedb");
	is(uses_index($db), 0, "$db: the indexes themselves are not dumped");
	sq($db, 'SELECT nedb.create_index(coll, field, kind) FROM nedb.indexes');
	is(uses_index($db), 1, "$db: after create_index from nedb.indexes NQL uses the index again");
	is(sq($db, $answers_grants), $src_answers, "$db: the same answers through the indexes");
	is($node->psql($db, "SET ROLE app; SELECT nedb.get('users', '3')"), 0, "$db: app reads through its restored grant");
}

sq('r_empty', 'DROP FOREIGN TABLE public.users_ft; DROP EXTENSION nedb');
is(no_schema('r_empty'), 0, 'DROP EXTENSION drops schema nedb');

# --- upgrade from 1.0 -----------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE up');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
sq('up', "CREATE EXTENSION nedb VERSION '1.0'");
is(sq('up', "SELECT extversion || ' ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'nedb'"),
	'1.0 nedb', 'CREATE EXTENSION nedb VERSION 1.0 installs 1.0 as released (schema nedb its namespace)');
sq('up', $load);
sq('fresh', "CREATE EXTENSION nedb");
sq('fresh', $load);

# the new library on a 1.0 database: what needs nedb.grants says what to do
my ($ret, $out, $err) = $node->psql('up', q{SET ROLE app; \set VERBOSITY verbose
SELECT nedb.get('users', '1')});
like($err, qr/ERROR:  55000: extension nedb in this database is older than its library/,
	'1.0 under the new library: 55000');
like($err, qr/HINT:  Run ALTER EXTENSION nedb UPDATE/, '... with the hint to update');

my $desc_10 = sq('up', $describe_q);
my $before = sq('up', $answers);
like($before, qr/verify true/, '1.0: verify');

# a dump taken at 1.0 says CREATE EXTENSION nedb WITH SCHEMA nedb, which
# 1.1 refuses; its data restores into a database with 1.1 through a list
# without the schema and the extension (README: Backups)
my $dump10 = "$tmp/up10.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump10, '-d', 'up' ], 'pg_dump at 1.0');
$node->safe_psql('postgres', 'CREATE DATABASE r_10');
$node->command_checks_all([ 'pg_restore', '-d', 'r_10', $dump10 ], 1, [qr/^$/],
	[qr/extension "nedb" must be installed in schema "pg_catalog"/], 'a 1.0 dump as it is: 1.1 refuses WITH SCHEMA nedb');
$node->safe_psql('postgres', 'DROP DATABASE r_10');
$node->safe_psql('postgres', 'CREATE DATABASE r_10');
sq('r_10', 'CREATE EXTENSION nedb');
my $list10 = join('', grep { !/ (?:SCHEMA|EXTENSION) - nedb / } `pg_restore -l $dump10`);
PostgreSQL::Test::Utils::append_to_file("$tmp/up10.list", $list10);
$node->command_checks_all([ 'pg_restore', '--exit-on-error', '-L', "$tmp/up10.list", '-d', 'r_10', $dump10 ],
	0, [qr/^$/], [qr/^$/], 'a 1.0 dump without its schema and extension into a database with 1.1');
is(sq('r_10', $answers), $before, 'r_10: the same answers as the 1.0 database');
sq('up', 'ALTER EXTENSION nedb UPDATE');
is(sq('up', "SELECT extversion FROM pg_extension WHERE extname = 'nedb'"), '1.1', 'updated to 1.1');
is(sq('up', $answers), $before, 'the update changes no data answer (seq, head, verify, documents, files)');

# documents compare with a fresh 1.1's (its hashes differ: ops carry their time)
my $docs = q{SELECT md5(string_agg(format('%s/%s [%s,%s) %s', coll, id, seq_from, seq_to, doc), E'\n' ORDER BY coll, id, seq_from))
  FROM nedb.versions};
is(sq('up', $docs), sq('fresh', $docs), 'the same documents as a fresh 1.1');
is(sq('up', 'SELECT nedb.seq()'), sq('fresh', 'SELECT nedb.seq()'), 'the same seq as a fresh 1.1');

my $desc_up = sq('up', $describe_q);
my $desc_fresh = sq('fresh', $describe_q);
isnt($desc_10, $desc_fresh, 'the description tells 1.0 from 1.1');
cmp_ok(scalar(() = $desc_fresh =~ /^member /mg), '>', 90, 'the description lists the members');
like($desc_fresh, qr/^member schema nedb comment NEDB/m, 'a fresh 1.1 has schema nedb as a member');
is($desc_up, $desc_fresh, 'updated from 1.0: every member object as a fresh 1.1 has it');
if ($desc_up ne $desc_fresh)
{
	my %f = map { $_ => 1 } split /\n/, $desc_fresh;
	my %u = map { $_ => 1 } split /\n/, $desc_up;
	diag("only after the update: $_") for grep { !$f{$_} } sort keys %u;
	diag("only fresh: $_") for grep { !$u{$_} } sort keys %f;
}

# 1.1 works on the upgraded database: grants, and the roles' view of them
sq('up', $grants);
is($node->psql('up', "SET ROLE app; SELECT nedb.get('users', '3')"), 0, 'updated: app reads through nedb.grant');
is(sq('up', "SELECT has_schema_privilege('app', 'nedb', 'USAGE')"), 't', 'updated: the 1.0 GRANT USAGE stays');

# the updated database dumps like a fresh one and restores into one that
# has the extension already
my $up_answers = sq('up', $answers_grants);
my $updump = "$tmp/up.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $updump, '-d', 'up' ], 'pg_dump of the updated database');
like(`pg_restore -l $updump`, qr/ACL - SCHEMA nedb/, 'its dump keeps the GRANT USAGE on schema nedb');
$node->safe_psql('postgres', 'CREATE DATABASE r_up');
sq('r_up', 'CREATE EXTENSION nedb');
restore_ok($updump, 'r_up', 'updated database into one with the extension');
is(sq('r_up', $answers_grants), $up_answers, 'r_up: the same answers');

sq('up', 'DROP FOREIGN TABLE public.users_ft; DROP EXTENSION nedb');
is(no_schema('up'), 0, 'updated: DROP EXTENSION drops schema nedb too');

# --- a database owner who is not a superuser ------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE shop OWNER dbo');
($ret, $out, $err) = $node->psql('shop', 'CREATE EXTENSION nedb', extra_params => [ '-U', 'dbo' ]);
like($err, qr/permission denied to create extension "nedb"/, 'the database owner cannot install nedb (not trusted)');
sq('shop', 'CREATE EXTENSION nedb');
sq('shop', "SELECT nedb.put('secrets', '1', '{\"pin\": 1234}')");
$node->command_checks_all(
	[ 'pg_dump', '-U', 'dbo', '-f', "$tmp/dbo.sql", '-d', 'shop' ],
	1, [qr/^$/], [qr/permission denied for (schema|table)/],
	"the database owner cannot dump NEDB's data (it holds every collection)");
$node->command_ok([ 'pg_dump', '-U', 'dbo', '--exclude-table-data=nedb.*', '-f', "$tmp/own.sql", '-d', 'shop' ],
	'the database owner dumps their own objects without NEDB data');
$node->command_ok([ 'pg_dump', '-U', 'backup', '-Fc', '-f', "$tmp/shop.dump", '-d', 'shop' ],
	'a member of pg_read_all_data dumps everything');
$node->safe_psql('postgres', 'CREATE DATABASE shop2');
restore_ok("$tmp/shop.dump", 'shop2', 'its dump');
is(sq('shop2', "SELECT nedb.get('secrets', '1')"), '{"_id": "1", "pin": 1234, "_seq": 0}', 'its dump has the data');

$node->stop;
done_testing();
