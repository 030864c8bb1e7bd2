// orm.test.js - node-postgres and knex using a nedb foreign table like any
// table: create, read with filter and order, update, delete, prepared
// statements, a rolled-back transaction that leaves no trace, inserts of an
// existing id (23505; insert-ignore skips them), a timestamptz written from
// connections in different time zones read back equal, and the write
// settings as transaction state (a session-level SET refused, SET LOCAL in a
// knex transaction, a retried idempotency key reported as a no-op), and a
// transaction's puts staged for COMMIT while another connection writes.
// Connection from the usual PG* environment variables.
'use strict';
const assert = require('node:assert/strict');
const { Client } = require('pg');
const knexFactory = require('knex');

async function main() {
  const pg = new Client();
  await pg.connect();
  const q = async (text, values) => (await pg.query(text, values)).rows;

  await q('DROP EXTENSION IF EXISTS nedb CASCADE');
  await q('CREATE EXTENSION nedb');
  await q(`CREATE FOREIGN TABLE users (_id text, _seq bigint, name text, age bigint,
           city text OPTIONS (field 'address.city'), doc jsonb)
           SERVER nedb OPTIONS (collection 'users')`);
  await q("SELECT nedb.create_index('users', 'age', 'sorted')");

  // node-postgres: parameterized statements (extended protocol)
  let rows = await q('INSERT INTO users (_id, name, age, city) VALUES ($1, $2, $3, $4) RETURNING _id, _seq, doc',
    ['alice', 'Alice', 30, 'Paris']);
  assert.equal(rows[0]._id, 'alice');
  assert.equal(rows[0]._seq, '0');          // bigint comes as a string
  assert.deepEqual(rows[0].doc, { _id: 'alice', _seq: 0, name: 'Alice', age: 30, address: { city: 'Paris' } });
  for (const [id, name, age] of [['bob', 'Bob', 25], ['carol', 'Carol', 35], ['dave', 'Dave', 19]]) {
    await q('INSERT INTO users (_id, name, age) VALUES ($1, $2, $3)', [id, name, age]);
  }
  rows = await q('SELECT _id, age FROM users WHERE age > $1 ORDER BY age DESC LIMIT $2', [20, 2]);
  assert.deepEqual(rows.map((r) => r._id), ['carol', 'alice']);
  // a named prepared statement, run twice
  const byId = { name: 'user-by-id', text: 'SELECT name, city FROM users WHERE _id = $1' };
  assert.deepEqual((await pg.query({ ...byId, values: ['alice'] })).rows, [{ name: 'Alice', city: 'Paris' }]);
  assert.deepEqual((await pg.query({ ...byId, values: ['bob'] })).rows, [{ name: 'Bob', city: null }]);
  rows = await q('UPDATE users SET age = age + 1 WHERE _id = $1 RETURNING age, _seq', ['bob']);
  assert.equal(rows[0].age, '26');
  assert.equal(rows[0]._seq, '4');
  rows = await q('DELETE FROM users WHERE _id = $1 RETURNING _id', ['dave']);
  assert.equal(rows.length, 1);
  assert.equal((await q("SELECT nedb.get('users', 'dave') AS d"))[0].d, null);
  // a rolled-back transaction leaves no trace
  const seqBefore = (await q('SELECT nedb.seq() AS s'))[0].s;
  await q('BEGIN');
  await q("INSERT INTO users (_id, name, age) VALUES ('temp', 'Temp', 1)");
  assert.equal((await q("SELECT count(*)::int AS n FROM users WHERE _id = 'temp'"))[0].n, 1);
  await q('ROLLBACK');
  assert.equal((await q("SELECT count(*)::int AS n FROM users WHERE _id = 'temp'"))[0].n, 0);
  assert.equal((await q('SELECT nedb.seq() AS s'))[0].s, seqBefore);
  // a type error names the document and the field
  await q(`SELECT nedb.put('users', 'odd', '{"age": "old"}')`);
  await assert.rejects(q('SELECT sum(age) FROM users'),
    (e) => e.code === '42804' && /field "age" of document "odd"/.test(e.message));
  await q("SELECT nedb.delete('users', 'odd')");

  // knex: the query builder's create / read / update / delete / transaction
  const knex = knexFactory({ client: 'pg', connection: {}, pool: { min: 1, max: 2 } });
  try {
    const ins = await knex('users').insert([{ _id: 'erin', name: 'Erin', age: 41, city: 'Oslo' },
      { _id: 'frank', name: 'Frank', age: 22 }]).returning(['_id', 'age']);
    assert.deepEqual(ins.map((r) => r._id), ['erin', 'frank']);
    const old = await knex('users').select('_id', 'name', 'age').where('age', '>=', 30)
      .orderBy('age', 'desc');
    assert.deepEqual(old.map((r) => r._id), ['erin', 'carol', 'alice']);
    const some = await knex('users').select('_id').whereIn('_id', ['alice', 'carol', 'nobody'])
      .orderBy('_id');
    assert.deepEqual(some.map((r) => r._id), ['alice', 'carol']);
    const byCity = await knex('users').first('name').where({ city: 'Oslo' });
    assert.equal(byCity.name, 'Erin');
    const n = await knex('users').where({ _id: 'frank' }).update({ name: 'Franklin', age: 23 });
    assert.equal(n, 1);
    const frank = await knex('users').first('name', 'age', 'doc').where('_id', 'frank');
    assert.equal(frank.name, 'Franklin');
    assert.equal(frank.doc.age, 23);
    assert.equal(await knex('users').where('_id', 'erin').del(), 1);
    await assert.rejects(knex.transaction(async (trx) => {
      await trx('users').insert({ _id: 'ghost', name: 'Ghost', age: 99 });
      const seen = await trx('users').count({ n: '*' }).where('_id', 'ghost');
      assert.equal(Number(seen[0].n), 1);
      throw new Error('roll back');
    }), /roll back/);
    assert.equal((await knex('users').where('_id', 'ghost')).length, 0);
    const names = (await knex('users').select('_id').orderBy('_id')).map((r) => r._id);
    assert.deepEqual(names, ['alice', 'bob', 'carol', 'frank']);
  } finally {
    await knex.destroy();
  }

  assert.equal((await q('SELECT nedb.verify() AS ok'))[0].ok, true);
  const ops = await q('SELECT op, count(*)::int AS n FROM nedb.log GROUP BY op ORDER BY op');
  assert.deepEqual(ops, [{ op: 'delete', n: 3 }, { op: 'put', n: 9 }]);

  // INSERT inserts: an existing id is a unique violation (23505, with the
  // detail and table an ORM maps to its unique-constraint error), and
  // insert-ignore (ON CONFLICT DO NOTHING) skips it, leaving the document whole
  await q(`CREATE FOREIGN TABLE accounts (_id text, owner text, balance bigint)
           SERVER nedb OPTIONS (collection 'accounts')`);
  await q("INSERT INTO accounts VALUES ('alice', 'Alice', 100)");
  const dup = (e) => e.code === '23505' && e.detail === 'Key (_id)=(alice) already exists.' &&
    e.table === 'accounts' && /unique _id of collection "accounts"/.test(e.message);
  await assert.rejects(q('INSERT INTO accounts (_id, balance) VALUES ($1, $2)', ['alice', 0]), dup);
  let res = await pg.query('INSERT INTO accounts (_id, balance) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING RETURNING _id',
    ['alice', 0, 'bob', 5]);
  assert.equal(res.command, 'INSERT');
  assert.equal(res.rowCount, 1);              // the command tag counts the inserted row only
  assert.deepEqual(res.rows, [{ _id: 'bob' }]);
  res = await pg.query("INSERT INTO accounts (_id, balance) VALUES ('alice', 0) ON CONFLICT DO NOTHING");
  assert.equal(res.rowCount, 0);
  const knex2 = knexFactory({ client: 'pg', connection: {}, pool: { min: 1, max: 1 } });
  try {
    const seqBeforeIgnore = (await q('SELECT nedb.seq() AS s'))[0].s;
    // knex's insert-ignore: .onConflict().ignore() is ON CONFLICT DO NOTHING
    const ins = await knex2('accounts').insert([{ _id: 'alice', balance: 0 }, { _id: 'carol', balance: 7 }])
      .onConflict().ignore().returning('_id');
    assert.deepEqual(ins.map((r) => r._id), ['carol']);
    const none = await knex2('accounts').insert({ _id: 'alice', owner: 'Mallory' }).onConflict().ignore();
    assert.equal(none.rowCount, 0);
    assert.equal((await q('SELECT nedb.seq() AS s'))[0].s, String(Number(seqBeforeIgnore) + 1));
    await assert.rejects(knex2('accounts').insert({ _id: 'alice', balance: 1 }), dup);
    // a conflict target needs a unique index, which a foreign table cannot have
    await assert.rejects(knex2('accounts').insert({ _id: 'alice', balance: 1 }).onConflict('_id').ignore(),
      (e) => e.code === '42P10');
    const alice = await knex2('accounts').first('owner', 'balance').where('_id', 'alice');
    assert.deepEqual(alice, { owner: 'Alice', balance: '100' });
    // a duplicate in a transaction fails it as a unique violation does
    await assert.rejects(knex2.transaction(async (trx) => {
      await trx('accounts').insert({ _id: 'dora', balance: 1 });
      await trx('accounts').insert({ _id: 'dora', balance: 2 });
    }), (e) => e.code === '23505');
    assert.equal((await knex2('accounts').where('_id', 'dora')).length, 0);
  } finally {
    await knex2.destroy();
  }

  // dates and times are stored in one form whatever the session's settings:
  // a timestamptz written from connections in different time zones (and a
  // date under another DateStyle) reads back equal on every connection
  await q(`CREATE FOREIGN TABLE events (_id text, at timestamptz, day date, doc jsonb)
           SERVER nedb OPTIONS (collection 'events')`);
  const ny = new Client();
  const kol = new Client();
  await ny.connect();
  await kol.connect();
  try {
    await ny.query("SET TimeZone = 'America/New_York'");
    await kol.query("SET TimeZone = 'Asia/Kolkata'");
    await kol.query("SET DateStyle = 'SQL, DMY'");
    await ny.query("INSERT INTO events (_id, at, day) VALUES ('ny', '2024-03-04 07:00', '2024-03-04')");
    await kol.query("INSERT INTO events (_id, at, day) VALUES ('kol', '2024-03-04 17:30', '04/03/2024')");
    // a JS Date parameter: node-postgres sends it with the process's offset
    await kol.query('INSERT INTO events (_id, at) VALUES ($1, $2)', ['js', new Date(Date.UTC(2024, 2, 4, 12))]);
    await kol.query('RESET DateStyle');       // node-postgres parses ISO output
    for (const c of [pg, ny, kol]) {
      const r = (await c.query("SELECT _id, at, day::text AS day, doc ->> 'at' AS stored FROM events ORDER BY _id")).rows;
      assert.deepEqual(r.map((x) => x._id), ['js', 'kol', 'ny']);
      assert.deepEqual(r.map((x) => x.at.toISOString()), Array(3).fill('2024-03-04T12:00:00.000Z'));
      assert.deepEqual(r.map((x) => x.stored), Array(3).fill('2024-03-04T12:00:00+00:00'));
      assert.deepEqual(r.map((x) => x.day), [null, '2024-03-04', '2024-03-04']);
    }

    // a session-level SET of a write setting is refused: it would stay armed
    // for every later statement on the connection (or the pool's next user)
    await assert.rejects(ny.query("SET nedb.idem = 'k1'"),
      (e) => e.code === '55000' && /SET LOCAL nedb\.idem/.test(e.hint));
    await ny.query("INSERT INTO events (_id) VALUES ('after-set-1')");
    res = await ny.query("INSERT INTO events (_id) VALUES ('after-set-2') RETURNING _id");
    assert.equal(res.rowCount, 1);
    assert.deepEqual(res.rows, [{ _id: 'after-set-2' }]);
    assert.equal((await q("SELECT count(*)::int AS n FROM events WHERE _id LIKE 'after-set-%'"))[0].n, 2);
  } finally {
    await ny.end();
    await kol.end();
  }
  // SET LOCAL in the transaction (set_config(..., true)) is the way; a retried
  // key is a no-op reported as one (no row, not counted), and the pooled
  // connection's next user writes without it
  const knex3 = knexFactory({ client: 'pg', connection: {}, pool: { min: 1, max: 1 } });
  try {
    const order = (key, id) => knex3.transaction(async (trx) => {
      await trx.raw("SELECT set_config('nedb.idem', ?, true)", [key]);
      return trx('events').insert({ _id: id }).returning('_id');
    });
    assert.deepEqual(await order('order-1', 'o1'), [{ _id: 'o1' }]);
    assert.deepEqual(await order('order-1', 'o1'), []);
    assert.deepEqual(await order('order-1', 'o1-again'), []);
    const plain = await knex3('events').insert({ _id: 'o2' });
    assert.equal(plain.rowCount, 1);
    await assert.rejects(knex3.raw("SET nedb.client = 'shop'"), (e) => e.code === '55000');
    await knex3.transaction(async (trx) => {
      await trx.raw("SET LOCAL nedb.client = 'shop'");
      await trx('events').insert({ _id: 'o3' });
    });
    const ops = await knex3.raw("SELECT id, client, idem FROM nedb.ops WHERE id IN ('o1', 'o1-again', 'o2', 'o3') ORDER BY seq");
    assert.deepEqual(ops.rows, [{ id: 'o1', client: 'local', idem: 'order-1' },
      { id: 'o2', client: 'local', idem: null }, { id: 'o3', client: 'shop', idem: null }]);
  } finally {
    await knex3.destroy();
  }

  // a transaction block's puts are staged for COMMIT (nedb.sequencing =
  // auto): they return _seq null, hold no lock while the client works (an
  // autocommit writer on another connection goes first), and take their
  // seqs, in order, at COMMIT; a foreign table with insert 'replace' says
  // RETURNING _seq is NULL, not a guess
  await q(`CREATE FOREIGN TABLE blocks (_id text, _seq bigint, height bigint)
           SERVER nedb OPTIONS (collection 'blocks', insert 'replace')`);
  const knex4 = knexFactory({ client: 'pg', connection: {}, pool: { min: 2, max: 2 } });
  try {
    const live = new Client();
    await live.connect();
    await live.query("SET statement_timeout = '10s'");   // fail, not hang, if it waits
    let liveSeq;
    await knex4.transaction(async (trx) => {
      const put = await trx.raw("SELECT nedb.put('blocks', 'b1', '{\"height\": 1}') AS d");
      assert.equal(put.rows[0].d._seq, null);
      const ins = await trx('blocks').insert({ _id: 'b2', height: 2 }).returning(['_id', '_seq']);
      assert.deepEqual(ins, [{ _id: 'b2', _seq: null }]);
      // the live writer is not blocked by the open transaction
      liveSeq = (await live.query("SELECT nedb.put('blocks', 'live', '{}') ->> '_seq' AS s")).rows[0].s;
      assert.notEqual(liveSeq, null);
    });
    await live.end();
    const ops = await knex4.raw("SELECT id, seq FROM nedb.ops WHERE coll = 'blocks' ORDER BY seq");
    assert.deepEqual(ops.rows.map((r) => r.id), ['live', 'b1', 'b2']);
    assert.equal(ops.rows[0].seq, liveSeq);
    const got = await knex4('blocks').select('_id', '_seq').orderBy('_seq');
    assert.deepEqual(got.map((r) => r._id), ['live', 'b1', 'b2']);
    assert.ok(got.every((r) => r._seq !== null));
  } finally {
    await knex4.destroy();
  }

  assert.equal((await q('SELECT nedb.verify() AS ok'))[0].ok, true);
  await pg.end();
  console.log('orm test: node-postgres and knex passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
