'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { blake2b256 } = require('../src/blake2b');

// answers of Python's hashlib.blake2b(m, digest_size=32) (= libsodium's
// crypto_generichash), across the block boundary
const seqBytes = (n) => Buffer.from(Array.from({ length: n }, (_, i) => i % 256));
const vectors = [
  [Buffer.alloc(0), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8'],
  [Buffer.from('abc'), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319'],
  [seqBytes(128), 'c3582f71ebb2be66fa5dd750f80baae97554f3b015663c8be377cfcb2488c1d1'],
  [seqBytes(129), 'f7f3c46ba2564ff4c4c162da1f5b605f9f1c4aa6a20652a9f9a337c1a2f5b9c9'],
  [Buffer.concat([seqBytes(256), seqBytes(256), seqBytes(256)]), 'b8007121274217790e2923e0ad7027986e5a99d5531ef6ae7d294140fc81615d'],
];

test('BLAKE2b-256 known answers', () => {
  for (const [m, want] of vectors) assert.equal(blake2b256(m).toString('hex'), want, `${m.length} bytes`);
});
