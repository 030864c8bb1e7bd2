// @nedb/verify - check what a NEDB server says, where the server cannot
// interfere: inclusion and consistency proofs of its log's Merkle tree and
// its signed digests, verified locally (README: Log proofs, Signed digests).
//
// VerifiedLog keeps the last verified state (tree_seq, root), as immudb's
// clients do: trust on first use, then every later state must come with a
// consistency proof from the saved one, and reads are checked against the
// saved root.  A server that rewrote or dropped history cannot produce such
// a proof.
'use strict';
const { blake2b256 } = require('./blake2b');
const merkle = require('./merkle');
const { keyId, verifyDigest } = require('./digest');

class VerificationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'VerificationError';
  }
}

class VerifiedLog {
  /** state: {tree_seq, root} saved from an earlier run, or null (trust on first use) */
  constructor(state = null) {
    this.state = state ? { tree_seq: state.tree_seq, root: state.root } : null;
  }

  /**
   * Move to a newer state of the log ({seq, root} as nedb.digest() gives
   * it): consistency is nedb.consistency(saved tree_seq, seq).  Throws
   * VerificationError, keeping the saved state, if the new state is not an
   * extension of the saved one.  Returns the new state.
   */
  advance(digest, consistency) {
    if (!digest || !Number.isSafeInteger(digest.seq) || typeof digest.root !== 'string') {
      throw new VerificationError('the digest is not {seq, root}');
    }
    if (this.state === null) {
      this.state = { tree_seq: digest.seq, root: digest.root };
      return this.state;
    }
    const { tree_seq: oldSeq, root: oldRoot } = this.state;
    if (digest.seq < oldSeq) {
      throw new VerificationError(`the log shrank: tree_seq ${digest.seq} after ${oldSeq}`);
    }
    if (!merkle.verifyConsistency(consistency, oldSeq, oldRoot, digest.seq, digest.root)) {
      throw new VerificationError(`the log at tree_seq ${digest.seq} does not extend the verified one at ${oldSeq}`);
    }
    this.state = { tree_seq: digest.seq, root: digest.root };
    return this.state;
  }

  /**
   * Check that op proof.seq with hash proof.hash is in the verified log (an
   * inclusion proof for the saved tree_seq: nedb.proof(seq, tree_seq)).
   */
  checkInclusion(proof) {
    if (this.state === null) throw new VerificationError('no verified state yet');
    if (!merkle.verifyInclusion(proof, this.state.tree_seq, this.state.root)) {
      throw new VerificationError(`op ${proof && proof.seq} is not in the verified log at tree_seq ${this.state.tree_seq}`);
    }
    return true;
  }

  /**
   * With a node-postgres client (or anything with query(text, values) that
   * resolves to {rows}): fetch the server's digest and the consistency
   * proof from the saved state, and advance.
   */
  async refresh(client) {
    const d = (await client.query('SELECT seq, root FROM nedb.digest()')).rows[0];
    const digest = { seq: Number(d.seq), root: d.root };
    let proof = null;
    if (this.state !== null && digest.seq >= this.state.tree_seq) {
      proof = (await client.query('SELECT nedb.consistency($1, $2) AS p', [this.state.tree_seq, digest.seq])).rows[0].p;
    }
    return this.advance(digest, proof);
  }

  /** With a client: fetch op seq's inclusion proof for the saved state and check it. */
  async fetchInclusion(client, seq) {
    if (this.state === null) throw new VerificationError('no verified state yet');
    const p = (await client.query('SELECT nedb.proof($1, $2) AS p', [seq, this.state.tree_seq])).rows[0].p;
    this.checkInclusion(p);
    return p;
  }

  toJSON() {
    return this.state;
  }
}

module.exports = {
  VerifiedLog, VerificationError, verifyDigest, keyId, blake2b256,
  verifyInclusion: merkle.verifyInclusion,
  verifyConsistency: merkle.verifyConsistency,
  leafHash: merkle.leafHash,
  nodeHash: merkle.nodeHash,
  boundRoot: merkle.boundRoot,
};
