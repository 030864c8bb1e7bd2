// track.test.js - an application's ordinary table, written by node-postgres
// and knex as they always do, tracked by nedb (README: Tracked tables): the
// schema made by knex's schema builder, then batch inserts with RETURNING,
// upserts (onConflict().merge(), which a foreign table cannot take),
// updates, deletes, a rolled-back and a committed transaction, named
// prepared statements, connections in other time zones and DateStyles, a
// role with only table privileges, and a key change.  At the end
// nedb.verify_table is true, every change is in each row's history, in
// order, and nedb.table_as_of gives the table as it was.
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
  await q('DROP TABLE IF EXISTS customers');
  await q('DROP ROLE IF EXISTS orm_app');
  await q('CREATE EXTENSION nedb');

  const knex = knexFactory({ client: 'pg', connection: {}, pool: { min: 1, max: 3 } });
  // what each id went through, to compare with its history at the end
  const expected = new Map();
  const saw = (id, op, doc) => {
    if (!expected.has(id)) expected.set(id, []);
    expected.get(id).push(op === 'delete' ? 'delete' : `put:${doc.email}:${doc.credit}`);
  };
  try {
    await knex.schema.createTable('customers', (t) => {
      t.increments('id');
      t.string('email').notNullable().unique();
      t.integer('credit').notNullable().defaultTo(0);
      t.double('ratio');
      t.timestamp('signed_up', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      t.jsonb('prefs');
    });
    // rows before tracking are backfilled
    await knex('customers').insert([{ email: 'ann@x', credit: 1 }, { email: 'ben@x', credit: 2 }]);
    saw('1', 'put', { email: 'ann@x', credit: 1 });
    saw('2', 'put', { email: 'ben@x', credit: 2 });
    const n = (await q("SELECT nedb.track('customers') AS n"))[0].n;
    assert.equal(n, '2');
    assert.deepEqual(await q('SELECT coll, key FROM nedb.tracked'), [{ coll: 'customers', key: ['id'] }]);
    const backfilled = (await q("SELECT nedb.get('customers', '1') AS d"))[0].d;
    assert.equal(backfilled.email, 'ann@x');
    assert.equal(backfilled._evidence, 'backfill');

    // the statements return what they always did
    const ins = await knex('customers')
      .insert([{ email: 'cat@x', credit: 3, ratio: 0.1, prefs: { lang: 'fr' } }, { email: 'dan@x', credit: 4 }])
      .returning(['id', 'email', 'credit']);
    assert.deepEqual(ins, [{ id: 3, email: 'cat@x', credit: 3 }, { id: 4, email: 'dan@x', credit: 4 }]);
    saw('3', 'put', { email: 'cat@x', credit: 3 });
    saw('4', 'put', { email: 'dan@x', credit: 4 });

    // knex's upsert: INSERT ... ON CONFLICT (email) DO UPDATE
    const up = await knex('customers')
      .insert([{ email: 'ann@x', credit: 10 }, { email: 'eve@x', credit: 5 }])
      .onConflict('email').merge(['credit']).returning(['id', 'credit']);
    // (the conflicting row took a sequence value too: eve's id is not 5)
    assert.deepEqual(up.map((r) => r.credit), [10, 5]);
    assert.equal(up[0].id, 1);
    const eve = String(up[1].id);
    saw('1', 'put', { email: 'ann@x', credit: 10 });
    saw(eve, 'put', { email: 'eve@x', credit: 5 });
    // insert-ignore of an existing email: no change, so nothing chained
    const seqIgnore = (await q('SELECT nedb.seq() AS s'))[0].s;
    const ign = await knex('customers').insert({ email: 'ben@x', credit: 99 }).onConflict('email').ignore();
    assert.equal(ign.rowCount, 0);
    assert.equal((await q('SELECT nedb.seq() AS s'))[0].s, seqIgnore);

    assert.equal(await knex('customers').where({ email: 'dan@x' }).update({ credit: 40 }), 1);
    saw('4', 'put', { email: 'dan@x', credit: 40 });
    assert.equal(await knex('customers').where('credit', '<', 3).increment('credit', 100), 1);
    saw('2', 'put', { email: 'ben@x', credit: 102 });
    assert.equal(await knex('customers').where({ id: eve }).del(), 1);
    saw(eve, 'delete');

    // a rolled-back transaction leaves no trace; a committed one is chained
    const seqBefore = (await q('SELECT nedb.seq() AS s'))[0].s;
    await assert.rejects(knex.transaction(async (trx) => {
      await trx('customers').insert({ email: 'ghost@x', credit: 1 });
      await trx('customers').where({ id: 1 }).update({ credit: 0 });
      throw new Error('roll back');
    }), /roll back/);
    assert.equal((await q('SELECT nedb.seq() AS s'))[0].s, seqBefore);
    assert.equal((await knex('customers').where({ email: 'ghost@x' })).length, 0);
    await knex.transaction(async (trx) => {
      await trx('customers').insert({ id: 70, email: 'fay@x', credit: 7 });
      await trx('customers').where({ id: 70 }).update({ credit: 8 });
      await trx('customers').where({ id: 3 }).update({ credit: 30 });
    });
    saw('70', 'put', { email: 'fay@x', credit: 7 });
    saw('70', 'put', { email: 'fay@x', credit: 8 });
    saw('3', 'put', { email: 'cat@x', credit: 30 });

    // node-postgres named prepared statements, run twice each
    const setCredit = { name: 'set-credit', text: 'UPDATE customers SET credit = $2 WHERE id = $1 RETURNING credit' };
    assert.deepEqual((await pg.query({ ...setCredit, values: [3, 31] })).rows, [{ credit: 31 }]);
    assert.deepEqual((await pg.query({ ...setCredit, values: [3, 32] })).rows, [{ credit: 32 }]);
    saw('3', 'put', { email: 'cat@x', credit: 31 });
    saw('3', 'put', { email: 'cat@x', credit: 32 });

    // other sessions' time zones, DateStyle and float digits give the same
    // documents: the timestamp is stored once, in UTC
    const tz = new Client();
    await tz.connect();
    try {
      await tz.query("SET TimeZone = 'Asia/Kolkata'");
      await tz.query("SET DateStyle = 'SQL, DMY'");
      await tz.query('SET extra_float_digits = 0');
      await tz.query("INSERT INTO customers (id, email, credit, ratio, signed_up) VALUES (80, 'gus@x', 8, 0.1, '04/03/2024 17:30')");
    } finally {
      await tz.end();
    }
    saw('80', 'put', { email: 'gus@x', credit: 8 });
    await q("SET TimeZone = 'America/New_York'");
    await q("INSERT INTO customers (id, email, credit, ratio, signed_up) VALUES (90, 'hal@x', 9, 0.1, '2024-03-04 07:00')");
    await q('RESET TimeZone');
    saw('90', 'put', { email: 'hal@x', credit: 9 });
    const times = await q(`SELECT nedb.get('customers', id::text) ->> 'signed_up' AS at,
                                  nedb.get('customers', id::text) -> 'ratio' AS ratio
                             FROM customers WHERE id IN (3, 80, 90) ORDER BY id`);
    assert.deepEqual(times.slice(1).map((r) => r.at), Array(2).fill('2024-03-04T12:00:00+00:00'));
    assert.deepEqual(times.map((r) => r.ratio), [0.1, 0.1, 0.1]);

    // a role with only the table's privileges writes through knex, and its
    // changes are chained; it gains no NEDB privilege
    await q("CREATE ROLE orm_app LOGIN");
    await q('GRANT USAGE ON SCHEMA nedb TO orm_app');
    await q('GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO orm_app');
    await q('GRANT USAGE ON SEQUENCE customers_id_seq TO orm_app');
    const app = knexFactory({ client: 'pg', connection: { user: 'orm_app' }, pool: { min: 1, max: 1 } });
    try {
      const [row] = await app('customers').insert({ email: 'ida@x', credit: 10 }).returning('id');
      const ida = String(row.id);
      saw(ida, 'put', { email: 'ida@x', credit: 10 });
      await app('customers').where({ id: ida }).update({ credit: 11 });
      saw(ida, 'put', { email: 'ida@x', credit: 11 });
      await assert.rejects(app.raw('SELECT nedb.get(?, ?)', ['customers', ida]), (e) => e.code === '42501');
    } finally {
      await app.destroy();
    }

    // a key change: the old id's delete, the new id's put
    await knex('customers').where({ id: 90 }).update({ id: 900 });
    saw('90', 'delete');
    saw('900', 'put', { email: 'hal@x', credit: 9 });
    await knex('customers').where({ id: 900 }).del();
    saw('900', 'delete');
  } finally {
    await knex.destroy();
  }

  // the table is what the chain says, and the chain has every change
  const vt = (await q('SELECT * FROM nedb.verify_table($1)', ['customers']))[0];
  assert.deepEqual(vt, { ok: true, rows: String((await q('SELECT count(*) AS n FROM customers'))[0].n),
    first_bad_id: null, detail: null });
  for (const [id, ops] of expected) {
    const h = await q(`SELECT h.op, h.doc ->> 'email' AS email, h.doc ->> 'credit' AS credit
                         FROM nedb.history('customers', $1) h ORDER BY h.seq`, [id]);
    assert.deepEqual(h.map((r) => (r.op === 'delete' ? 'delete' : `put:${r.email}:${r.credit}`)), ops,
      `history of ${id}`);
  }
  // as it was before the last delete: row 900 back, typed as the table
  const past = await q(`SELECT id, email, signed_up FROM nedb.table_as_of(NULL::customers,
                          (SELECT max(seq) - 1 FROM nedb.ops)) WHERE id = 900`);
  assert.equal(past.length, 1);
  assert.equal(past[0].email, 'hal@x');
  assert.equal(past[0].signed_up.toISOString(), '2024-03-04T12:00:00.000Z');
  // an edit that bypasses the triggers is named
  await q("SET session_replication_role = replica");
  await q('UPDATE customers SET credit = -1 WHERE id = 4');
  await q('RESET session_replication_role');
  const bad = (await q('SELECT ok, first_bad_id FROM nedb.verify_table($1)', ['customers']))[0];
  assert.deepEqual(bad, { ok: false, first_bad_id: '4' });
  assert.equal((await q('SELECT nedb.verify() AS ok'))[0].ok, true);

  await q('DROP TABLE customers');
  await q('DROP OWNED BY orm_app');
  await q('DROP ROLE orm_app');
  await pg.end();
  console.log('orm test: a tracked table through node-postgres and knex passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
