# cli_gen_aof.py N FILE -- a reference-format AOF of N ops for bench/cli.sh:
# json.dumps lines (default separators) chained with BLAKE2b-256 over the
# canonical body, as the reference writes them.  About 600-byte block
# documents (floats, nested lists, a non-ASCII string), 1 delete in 50.
import hashlib
import json
import random
import sys

n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
prev = "0" * 64
with open(path, "w") as f:
    for seq in range(n):
        if seq % 50 == 49:
            i = rnd.randrange(seq)
            op, payload = "delete", {"key": "blocks:b%d" % i, "coll": "blocks", "id": "b%d" % i}
        else:
            doc = {
                "_id": "b%d" % seq,
                "height": seq,
                "hash": "%064x" % rnd.getrandbits(256),
                "parent": "%064x" % rnd.getrandbits(256),
                "miner": "miner-%d" % rnd.randrange(100),
                "reward": rnd.random() * 6.25,
                "difficulty": rnd.random() * 1e13,
                "size": rnd.randrange(1, 4000000),
                "txs": ["%016x" % rnd.getrandbits(64) for _ in range(rnd.randrange(3, 9))],
                "note": "bloc n\u00b0%d" % seq,
                "final": rnd.random() < 0.9,
            }
            op, payload = "put", {"key": "blocks:b%d" % seq, "coll": "blocks", "id": "b%d" % seq, "doc": doc}
        rec = {"seq": seq, "client": "bench", "nonce": seq + 1, "op": op, "payload": payload,
               "ts": 1700000000.0 + seq * 0.0123457, "idem": None}
        body = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
        h = hashlib.blake2b(prev.encode() + body, digest_size=32).hexdigest()
        rec["prev_hash"], rec["hash"] = prev, h
        f.write(json.dumps(rec) + "\n")
        prev = h
print(prev)
