// reference_open.js - opens an encrypted AOF by the reference's rules alone
// (python/nedb/crypto.py, as ../shared/reference/SEMANTICS.md §17 states
// them), with node:crypto: nothing of NEDB's C code is used, so an export
// that opens here is one the reference can load.
//
//   node reference_open.js TMK_FILE KEY_ENC_FILE < sealed.aof > plain.aof
//
// TMK: the file's bytes, white space at either end stripped, stretched by
// HKDF-SHA256 (salt "NEDB-hkdf-v1", info "nedb-key") to 32 bytes; key.enc
// {"v":1,"alg":"AES-256-GCM","n":hex,"ct":hex(ciphertext || tag)} under it
// with AAD "NEDB-DEK-v1"; each line {"enc":1,"ct":base64(nonce12 ||
// ciphertext || tag16)} under the DEK with AAD "NEDB-data-v1"; a line
// without "enc" is passed through.  Exit status 1 on any line that does not
// open, naming it.
'use strict';
const fs = require('node:fs');
const crypto = require('node:crypto');

function open(key, aad, nonce, ct, tag) {
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]);
}

const [tmkFile, keyEncFile] = process.argv.slice(2);
// Python's bytes.strip(): ASCII space, \t, \n, \r, \v, \f at either end
const raw = fs.readFileSync(tmkFile);
const ws = (b) => [0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c].includes(b);
let lo = 0;
let hi = raw.length;
while (lo < hi && ws(raw[lo])) lo++;
while (hi > lo && ws(raw[hi - 1])) hi--;
const tmk = raw.subarray(lo, hi);
const kek = Buffer.from(crypto.hkdfSync('sha256', tmk, Buffer.from('NEDB-hkdf-v1'), Buffer.from('nedb-key'), 32));
const keyEnc = JSON.parse(fs.readFileSync(keyEncFile, 'utf8'));
if (keyEnc.v !== 1 || keyEnc.alg !== 'AES-256-GCM') throw new Error('not a v1 AES-256-GCM key.enc');
const wrapped = Buffer.from(keyEnc.ct, 'hex');
const dek = open(kek, 'NEDB-DEK-v1', Buffer.from(keyEnc.n, 'hex'), wrapped.subarray(0, -16), wrapped.subarray(-16));

const lines = fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.length > 0);
const out = [];
lines.forEach((line, i) => {
  const env = JSON.parse(line);
  if (!('enc' in env)) { out.push(line); return; }
  const blob = Buffer.from(env.ct, 'base64');
  try {
    out.push(open(dek, 'NEDB-data-v1', blob.subarray(0, 12), blob.subarray(12, -16), blob.subarray(-16)).toString('utf8'));
  } catch (e) {
    console.error(`line ${i + 1} does not open: ${e.message}`);
    process.exit(1);
  }
});
process.stdout.write(out.join('\n') + '\n');
