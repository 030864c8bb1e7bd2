// Proofs and digests made by a real NEDB server (fixtures.json), checked
// locally, and every tampering an adversarial server could try refused.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const f = require('./fixtures.json');
const v = require('../src/index');

const root = (t) => f.digests[t].root;
const clone = (x) => JSON.parse(JSON.stringify(x));
// the hex string with bit i flipped
function flip(hex, i) {
  const b = Buffer.from(hex, 'hex');
  b[i >> 3] ^= 1 << (i & 7);
  return b.toString('hex');
}

test('the fixtures are what they say', () => {
  assert.equal(f.digests.length, 37);
  assert.equal(f.public_key, 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'); // RFC 8032 test 1
  assert.ok(f.inclusion.length > 60 && f.consistency.length > 60);
});

test('every inclusion proof of the server verifies, and only for its own seq, size and root', () => {
  for (const p of f.inclusion) {
    assert.ok(v.verifyInclusion(p, p.tree_seq, root(p.tree_seq)), `seq ${p.seq} in ${p.tree_seq}`);
    if (p.tree_seq > 0) {
      assert.ok(!v.verifyInclusion(p, p.tree_seq, root(p.tree_seq - 1)), 'another root');
      assert.ok(!v.verifyInclusion({ ...p, seq: (p.seq + 1) % (p.tree_seq + 1) }, p.tree_seq, root(p.tree_seq)), 'another seq');
    }
    assert.ok(!v.verifyInclusion({ ...p, tree_seq: p.tree_seq + 1 }, p.tree_seq + 1, root(p.tree_seq)), 'another size');
    assert.ok(!v.verifyInclusion(p, p.tree_seq, p.root.replace(/^./, (c) => (c === '0' ? '1' : '0'))), 'a forged root');
  }
});

test('an inclusion proof with any single bit flipped, an entry dropped, added or moved is refused', () => {
  let tried = 0;
  for (const p of f.inclusion.filter((x) => x.tree_seq === 36)) {
    const r = root(36);
    for (let i = 0; i < 256; i++) {
      assert.ok(!v.verifyInclusion({ ...p, hash: flip(p.hash, i) }, 36, r));
      assert.ok(!v.verifyInclusion(p, 36, flip(r, i)));
      tried += 2;
      for (let k = 0; k < p.path.length; k++) {
        const q = clone(p);
        q.path[k] = flip(q.path[k], i);
        assert.ok(!v.verifyInclusion(q, 36, r), `bit ${i} of entry ${k} of seq ${p.seq}`);
        tried++;
      }
    }
    for (let k = 0; k < p.path.length; k++) {
      const q = clone(p);
      q.path.splice(k, 1);
      assert.ok(!v.verifyInclusion(q, 36, r), 'an entry dropped');
    }
    assert.ok(!v.verifyInclusion({ ...p, path: [...p.path, p.path[0]] }, 36, r), 'an entry added');
    if (p.path.length > 1) assert.ok(!v.verifyInclusion({ ...p, path: [...p.path].reverse() }, 36, r), 'entries reordered');
  }
  assert.ok(tried > 30000);
});

test('every consistency proof verifies, and an inconsistent pair of sizes or roots is refused', () => {
  for (const p of f.consistency) {
    const { old_seq: o, tree_seq: t } = p;
    assert.ok(v.verifyConsistency(p, o, root(o), t, root(t)), `${o} -> ${t}`);
    assert.ok(!v.verifyConsistency(p, o, root(t), t, root(o)) || o === t, 'roots swapped');
    if (o > 0) assert.ok(!v.verifyConsistency({ ...p, old_seq: o - 1 }, o - 1, root(o - 1), t, root(t)), 'another old size');
    if (o < t) assert.ok(!v.verifyConsistency(p, o, root(o + 1), t, root(t)), 'an old root of another size');
    if (t > o && t > 0) assert.ok(!v.verifyConsistency(p, o, root(o), t, root(t - 1)), 'a new root of another size');
  }
});

test('a consistency proof with any single bit flipped or an entry dropped is refused', () => {
  for (const p of f.consistency.filter((x) => x.tree_seq === 36 && x.old_seq % 5 === 0)) {
    const { old_seq: o } = p;
    if (o === 36) continue;
    for (let k = 0; k < p.path.length; k++) {
      for (let i = 0; i < 256; i++) {
        const q = clone(p);
        q.path[k] = flip(q.path[k], i);
        assert.ok(!v.verifyConsistency(q, o, root(o), 36, root(36)), `bit ${i} of entry ${k}, ${o} -> 36`);
      }
      const q = clone(p);
      q.path.splice(k, 1);
      assert.ok(!v.verifyConsistency(q, o, root(o), 36, root(36)), 'an entry dropped');
    }
    for (let i = 0; i < 256; i++) {
      assert.ok(!v.verifyConsistency(p, o, flip(root(o), i), 36, root(36)));
      assert.ok(!v.verifyConsistency(p, o, root(o), 36, flip(root(36), i)));
    }
  }
});

test('the signed digest verifies with its key, and any bit flipped or field changed is refused', () => {
  const d = f.signed;
  assert.ok(v.verifyDigest(d, f.public_key));
  assert.equal(d.key_id, v.keyId(f.public_key));
  assert.equal(d.tree_size, 37);
  assert.equal(d.root, root(36));
  for (const field of ['root', 'head', 'signature', 'key_id']) {
    for (let i = 0; i < d[field].length * 4; i++) {
      assert.ok(!v.verifyDigest({ ...d, [field]: flip(d[field], i) }, f.public_key), `bit ${i} of ${field}`);
    }
  }
  for (let n = 0; n < 40; n++) if (n !== 37) assert.ok(!v.verifyDigest({ ...d, tree_size: n }, f.public_key));
  assert.ok(!v.verifyDigest({ ...d, tree_size: '37' }, f.public_key), 'a size as a string');
  assert.ok(!v.verifyDigest({ ...d, ts: d.ts.replace(/Z$/, '1Z') }, f.public_key), 'another time');
  assert.ok(!v.verifyDigest({ ...d, alg: 'ed448' }, f.public_key));
  const other = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'; // RFC 8032 test 2
  assert.ok(!v.verifyDigest({ ...d, key_id: v.keyId(other) }, other), 'another key');
  for (let i = 0; i < 256; i++) assert.ok(!v.verifyDigest(d, flip(f.public_key, i)));
  const { signature, ...unsigned } = d;
  assert.ok(!v.verifyDigest(unsigned, f.public_key), 'no signature');
});
