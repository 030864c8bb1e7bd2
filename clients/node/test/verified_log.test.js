// VerifiedLog against servers: an honest one growing its log, and servers
// that forked, shrank or dropped an op (built from the honest fixtures).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const f = require('./fixtures.json');
const { VerifiedLog, VerificationError } = require('../src/index');

// a node-postgres-like client answering from the fixtures, seeing the log at tree_seq `now`
function server(now, tamper = (q, rows) => rows) {
  const incl = new Map(f.inclusion.map((p) => [`${p.seq}/${p.tree_seq}`, p]));
  const cons = new Map(f.consistency.map((p) => [`${p.old_seq}/${p.tree_seq}`, p]));
  return {
    now,
    async query(text, values = []) {
      let rows;
      if (text.includes('nedb.digest()')) rows = [{ seq: String(this.now), root: f.digests[this.now].root }];
      else if (text.includes('nedb.consistency')) rows = [{ p: cons.get(`${values[0]}/${values[1]}`) ?? null }];
      else if (text.includes('nedb.proof')) rows = [{ p: incl.get(`${values[0]}/${values[1]}`) ?? null }];
      else throw new Error(`unexpected query ${text}`);
      return { rows: tamper(text, rows) };
    },
  };
}

test('trust on first use, then every later state is checked against the saved one', async () => {
  const s = server(6);
  const log = new VerifiedLog();
  assert.deepEqual(await log.refresh(s), { tree_seq: 6, root: f.digests[6].root });
  for (const now of [7, 15, 36, 36]) {
    s.now = now;
    await log.refresh(s);
    assert.equal(log.state.tree_seq, now);
  }
  // a saved state resumes where it was (as `nedb verify --state` does)
  const again = new VerifiedLog(JSON.parse(JSON.stringify(log)));
  assert.equal((await again.refresh(s)).tree_seq, 36);
  for (const seq of [0, 5, 17, 36]) await log.fetchInclusion(s, seq);
});

test('a server whose history changed is refused, and the saved state kept', async () => {
  const log = new VerifiedLog({ tree_seq: 7, root: f.digests[7].root });
  // a forged root for the new size (history rewritten behind it)
  const forged = server(36, (q, rows) => (q.includes('digest') ? [{ ...rows[0], root: f.digests[35].root }] : rows));
  await assert.rejects(log.refresh(forged), VerificationError);
  assert.deepEqual(log.state, { tree_seq: 7, root: f.digests[7].root });
  // the log shrank
  await assert.rejects(log.refresh(server(6)), /shrank/);
  // a consistency proof for another pair of sizes
  const other = server(36, (q, rows) => (q.includes('consistency') ? [{ p: f.consistency.find((p) => p.old_seq === 6 && p.tree_seq === 36) }] : rows));
  await assert.rejects(log.refresh(other), VerificationError);
  // no proof at all
  await assert.rejects(log.refresh(server(36, (q, rows) => (q.includes('consistency') ? [{ p: null }] : rows))), VerificationError);
  assert.deepEqual(log.state, { tree_seq: 7, root: f.digests[7].root });
});

test('a read whose op is not in the verified log is refused', async () => {
  const log = new VerifiedLog({ tree_seq: 36, root: f.digests[36].root });
  const p = f.inclusion.find((x) => x.seq === 9 && x.tree_seq === 36);
  log.checkInclusion(p);
  // the op rewritten (its hash), or dropped (another op's proof under its seq)
  assert.throws(() => log.checkInclusion({ ...p, hash: f.inclusion.find((x) => x.seq === 10 && x.tree_seq === 36).hash }), VerificationError);
  assert.throws(() => log.checkInclusion({ ...f.inclusion.find((x) => x.seq === 10 && x.tree_seq === 36), seq: 9 }), VerificationError);
  // a proof for an older tree than the verified one
  assert.throws(() => log.checkInclusion(f.inclusion.find((x) => x.seq === 3 && x.tree_seq === 15)), VerificationError);
});
