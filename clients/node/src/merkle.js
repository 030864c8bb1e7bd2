// merkle.js - NEDB's log tree (README: Log proofs), checked locally: RFC 6962
// hashing with BLAKE2b-256 (leaf = H(0x00 || op hash), node = H(0x01 || left
// || right)), a root bound to its size (H(0x02 || size as 8 bytes big-endian
// || MTH)), and RFC 9162's verifiers (§2.1.3.2 inclusion, §2.1.4.2
// consistency), which bind the leaf index and both sizes.  Pure functions:
// a proof from a server is only data here.
'use strict';
const { blake2b256 } = require('./blake2b');

const HEX64 = /^[0-9a-f]{64}$/;

function hash(prefix, ...parts) {
  return blake2b256(Buffer.concat([Buffer.from([prefix]), ...parts]));
}
const leafHash = (opHash) => hash(0x00, opHash);
const nodeHash = (left, right) => hash(0x01, left, right);
function boundRoot(size, mth) {
  const n = Buffer.alloc(8);
  n.writeBigUInt64BE(BigInt(size));
  return hash(0x02, n, mth);
}

// a 64-hex-digit string as 32 bytes, or null
function hex32(s) {
  return typeof s === 'string' && HEX64.test(s) ? Buffer.from(s, 'hex') : null;
}
// a proof's path as 32-byte Buffers, or null if any entry is not one
function path(p) {
  if (!Array.isArray(p) || p.length > 64) return null;
  const out = p.map(hex32);
  return out.every((x) => x !== null) ? out : null;
}
const isSeq = (n) => Number.isSafeInteger(n) && n >= 0;

/**
 * Whether an inclusion proof (nedb.proof(seq, tree_seq): {seq, hash, path,
 * root, tree_seq}) shows that op seq with that hash is in the log of ops
 * 0..treeSeq whose root is rootHex.  The proof's own root is not trusted.
 */
function verifyInclusion(proof, treeSeq, rootHex) {
  const root = hex32(rootHex);
  if (root === null || proof === null || typeof proof !== 'object') return false;
  const h = hex32(proof.hash);
  const p = path(proof.path);
  const index = proof.seq;
  if (h === null || p === null || !isSeq(index) || !isSeq(treeSeq) || proof.tree_seq !== treeSeq) return false;
  const size = treeSeq + 1;
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash(h);
  for (const x of p) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(x, r);
      if (fn % 2 === 0) {
        while (!(fn % 2 === 1 || fn === 0)) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, x);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && boundRoot(size, r).equals(root);
}

/**
 * Whether a consistency proof (nedb.consistency(old_seq, tree_seq): {old_seq,
 * tree_seq, path, ...}) shows that the log of ops 0..oldSeq with root oldRoot
 * is a prefix of the log of ops 0..treeSeq with root newRoot.
 */
function verifyConsistency(proof, oldSeq, oldRootHex, treeSeq, newRootHex) {
  const oldRoot = hex32(oldRootHex);
  const newRoot = hex32(newRootHex);
  if (oldRoot === null || newRoot === null || proof === null || typeof proof !== 'object') return false;
  const p = path(proof.path);
  if (p === null || !isSeq(oldSeq) || !isSeq(treeSeq) || proof.old_seq !== oldSeq || proof.tree_seq !== treeSeq) {
    return false;
  }
  const first = oldSeq + 1;
  const second = treeSeq + 1;
  if (second < first) return false;
  if (first === second) return p.length === 0 && oldRoot.equals(newRoot);
  if (p.length === 0) return false;
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = p[0];
  let sr = p[0];
  for (const c of p.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (!(fn % 2 === 1 || fn === 0)) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && boundRoot(first, fr).equals(oldRoot) && boundRoot(second, sr).equals(newRoot);
}

module.exports = { leafHash, nodeHash, boundRoot, verifyInclusion, verifyConsistency };
