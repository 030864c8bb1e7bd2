// blake2b.js - BLAKE2b (RFC 7693) with a 32-byte digest and no key: the hash
// of NEDB's chain and Merkle tree (libsodium's crypto_generichash).  node:crypto
// offers only BLAKE2b-512, a different function (the digest length is a
// parameter of the initial state), so it is written out here.  64-bit words
// are pairs of 32-bit halves in a Uint32Array (low half first), as
// JavaScript has no fast 64-bit integers.
'use strict';

const IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

const v = new Uint32Array(32);
const m = new Uint32Array(32);

// v[a] += v[b] (64-bit, word indexes of the low halves)
function add(a, b) {
  const lo = v[a] + v[b];
  v[a + 1] = v[a + 1] + v[b + 1] + (lo > 0xffffffff ? 1 : 0);
  v[a] = lo;
}
// v[a] += m[x]
function addm(a, x) {
  const lo = v[a] + m[x];
  v[a + 1] = v[a + 1] + m[x + 1] + (lo > 0xffffffff ? 1 : 0);
  v[a] = lo;
}
// v[d] = (v[d] ^ v[a]) rotated right by n (0 < n < 64)
function xorRot(d, a, n) {
  let lo = v[d] ^ v[a];
  let hi = v[d + 1] ^ v[a + 1];
  if (n >= 32) {
    const t = lo;
    lo = hi;
    hi = t;
    n -= 32;
  }
  if (n > 0) {
    const l = (lo >>> n) | (hi << (32 - n));
    hi = (hi >>> n) | (lo << (32 - n));
    lo = l;
  }
  v[d] = lo;
  v[d + 1] = hi;
}
function g(a, b, c, d, x, y) {
  a *= 2; b *= 2; c *= 2; d *= 2;
  add(a, b); addm(a, 2 * x);
  xorRot(d, a, 32);
  add(c, d);
  xorRot(b, c, 24);
  add(a, b); addm(a, 2 * y);
  xorRot(d, a, 16);
  add(c, d);
  xorRot(b, c, 63);
}

function compress(h, block, t, last) {
  for (let i = 0; i < 32; i++) m[i] = block.readUInt32LE(4 * i);
  v.set(h, 0);
  v.set(IV, 16);
  v[24] ^= t;                            // the byte counter (below 2^32 here)
  if (last) {
    v[28] = ~v[28];
    v[29] = ~v[29];
  }
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10];
    g(0, 4, 8, 12, s[0], s[1]);
    g(1, 5, 9, 13, s[2], s[3]);
    g(2, 6, 10, 14, s[4], s[5]);
    g(3, 7, 11, 15, s[6], s[7]);
    g(0, 5, 10, 15, s[8], s[9]);
    g(1, 6, 11, 12, s[10], s[11]);
    g(2, 7, 8, 13, s[12], s[13]);
    g(3, 4, 9, 14, s[14], s[15]);
  }
  for (let i = 0; i < 16; i++) h[i] ^= v[i] ^ v[i + 16];
}

/** BLAKE2b-256 of the bytes (Buffer or Uint8Array, under 4 GiB); a 32-byte Buffer. */
function blake2b256(data) {
  const input = Buffer.from(data);
  const h = new Uint32Array(IV);
  h[0] ^= 0x01010000 ^ 32;                // no key, 32-byte digest
  let off = 0;
  // every full block but the last is compressed as not final
  while (input.length - off > 128) {
    compress(h, input.subarray(off, off + 128), off + 128, false);
    off += 128;
  }
  const last = Buffer.alloc(128);
  input.copy(last, 0, off);
  compress(h, last, input.length, true);
  const out = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) out.writeUInt32LE(h[i], 4 * i);
  return out;
}

module.exports = { blake2b256 };
