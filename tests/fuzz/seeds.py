#!/usr/bin/env python3
"""seeds.py SQL_FILE... OUT_DIR: the NQL query texts of nql('...') and
nedb.explain('...') calls (SQL string literals, '' unescaped), one file each."""
import hashlib, os, re, sys

CALL = re.compile(r"(?:\bnql|\bexplain)\s*\(\s*'((?:[^']|'')*)'")
*files, out = sys.argv[1:]
os.makedirs(out, exist_ok=True)
seen = set()
for f in files:
    with open(f, encoding="utf-8") as fh:
        for m in CALL.finditer(fh.read()):
            q = m.group(1).replace("''", "'")
            if q in seen:
                continue
            seen.add(q)
            name = hashlib.sha1(q.encode()).hexdigest()[:16]
            with open(os.path.join(out, name), "w", encoding="utf-8") as o:
                o.write(q)
print(f"{len(seen)} seeds in {out}")
