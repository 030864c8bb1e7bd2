// digest.js - a signed digest (nedb.sign_digest(), README: Signed digests)
// checked with the signer's Ed25519 public key: the message is the
// digest's fields, one per line, "nedb-digest-v1\n<tree_size>\n<root>\n
// <head>\n<ts>\n"; key_id is the first 8 bytes of BLAKE2b-256(public key).
'use strict';
const crypto = require('node:crypto');
const { blake2b256 } = require('./blake2b');

const HEX = (n) => new RegExp(`^[0-9a-f]{${n}}$`);
// an Ed25519 public key as DER SubjectPublicKeyInfo (RFC 8410), for node:crypto
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The key id of a public key (hex): the first 8 bytes of its BLAKE2b-256. */
function keyId(publicKeyHex) {
  return blake2b256(Buffer.from(publicKeyHex, 'hex')).subarray(0, 8).toString('hex');
}

/** Whether a digest object is intact and signed by the key (64 hex digits). */
function verifyDigest(d, publicKeyHex) {
  if (d === null || typeof d !== 'object' || !HEX(64).test(publicKeyHex)) return false;
  const { v, alg, tree_size: size, root, head, ts, key_id: kid, signature } = d;
  if (v !== 1 || alg !== 'ed25519' || !Number.isSafeInteger(size) || size < 0 ||
      !HEX(64).test(root) || !HEX(64).test(head) || typeof ts !== 'string' ||
      !HEX(16).test(kid) || !HEX(128).test(signature) || kid !== keyId(publicKeyHex)) {
    return false;
  }
  const key = crypto.createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki',
  });
  const msg = Buffer.from(`nedb-digest-v1\n${size}\n${root}\n${head}\n${ts}\n`);
  return crypto.verify(null, msg, key, Buffer.from(signature, 'hex'));
}

module.exports = { keyId, verifyDigest };
