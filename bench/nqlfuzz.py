#!/usr/bin/env python3
"""nqlfuzz.py -- generated and mutated NQL queries as SQL statements for
bench/fuzz.sh: one statement per line over nql() and nedb.explain(), errors
expected.

    python3 bench/nqlfuzz.py COUNT SEED [SEEDS_FILE]

Queries come from the grammar (every clause, in and out of order, names
that are keywords, numbers in every spelling, strings with quotes, Unicode
and control characters), from mutating those and the seed queries of
SEEDS_FILE (one per line: character and token insertions, deletions,
swaps, duplications, truncations), and now and then a large one (long
literals and names, thousands of conditions or tokens, texts over the 1 MB
bound)."""
import random
import sys

KEYWORDS = ["FROM", "AS", "OF", "WHERE", "AND", "SEARCH", "ORDER", "BY", "ASC", "DESC",
            "TRAVERSE", "TRACE", "REVERSE", "LIMIT", "VALID", "TRUE", "FALSE", "NULL",
            "GROUP", "COUNT", "SUM", "AVG", "MIN", "MAX"]
COLLS = ["blocks", "mixed", "plain", "facts", "nothing", "Blocks", "from", "count"]
FIELDS = ["height", "n", "k", "s", "v", "tags", "obj", "_id", "_seq", "_valid_from",
          "_caused_by", "missing", "order", "limit", "x_1", "Height"]
RELS = ["next", "cites", "none", "follows"]
OPS = ["=", "!=", "<", "<=", ">", ">=", "==", "=<", "<>", "!", "=>"]
JUNK = [";", ",", "*", ".", "-", "(", ")", "\\", "`", "$", "#", "@", "%", "+", "/", "[", "]",
        "{", "}", "\t", "\n", "\r", "\x01", "\x7f", "é", "ü", "€", "𝄞", "😀", "\u200b",
        "\ufeff", "'", '"', "''", '""', "e", "E", "0x", "_"]


def rnum(r):
    c = r.randrange(16)
    if c == 0:
        return "0" * r.randrange(1, 5) + str(r.randrange(100))
    if c == 1:
        return "-" + "0" * r.randrange(0, 3) + str(r.randrange(100))
    if c == 2:
        return str(r.randrange(10)) + "." + str(r.randrange(1000))
    if c == 3:
        return "-0" if r.random() < 0.5 else "-0.0"
    if c == 4:
        return "9" * r.choice([18, 19, 20, 40, 309, 400, 999, 1000, 1001])
    if c == 5:
        return "0." + "0" * r.randrange(1, 400) + "1"
    if c == 6:
        return r.choice(["1e999", ".5", "5.", "+5", "1_000", "0x10", "--1", "1.2.3", "-", "1e5"])
    if c == 7:
        return str(r.choice([-2**63, 2**63 - 1, 2**63, -2**63 - 1, 2**64]))
    return str(r.randrange(-5, 60))


def rstr(r):
    c = r.randrange(10)
    body = "".join(r.choice(["a", "b", "rust", " ", "n1", "z", "é", "€", "'", "\\", "%", "_",
                             "2024-06-01", "\t", "😀"]) for _ in range(r.randrange(0, 6)))
    if c == 0:
        return "'" + body.replace("'", "") + "'"
    if c == 1:
        return '""'
    if c == 2:
        return '"' + body  # unterminated
    return '"' + body.replace('"', "") + '"'


def rvalue(r):
    c = r.randrange(6)
    if c == 0:
        return rstr(r)
    if c == 1:
        return r.choice(["true", "FALSE", "null", "Null", "word", "from", "count"])
    return rnum(r)


def rname(r, pool):
    c = r.randrange(12)
    if c == 0:
        return r.choice(KEYWORDS).lower()
    if c == 1:
        return r.choice(["_", "a" * r.randrange(1, 80), "A1", "x" + str(r.randrange(9))])
    return r.choice(pool)


def grammar(r):
    parts = ["FROM", rname(r, COLLS)]
    if r.random() < 0.2:
        parts += ["AS", "OF", rnum(r)]
    if r.random() < 0.1:
        parts += ["VALID"] + r.choice([["AS", "OF"], ["OF"], []]) + [rstr(r)]
    if r.random() < 0.6:
        parts.append("WHERE")
        for i in range(r.choice([1, 1, 2, 3, 5])):
            if i:
                parts.append("AND")
            parts += [rname(r, FIELDS), r.choice(OPS[:6] if r.random() < 0.9 else OPS), rvalue(r)]
    if r.random() < 0.15:
        parts += ["SEARCH", rstr(r)]
    if r.random() < 0.4:
        parts += ["ORDER", "BY", rname(r, FIELDS)] + r.choice([[], ["ASC"], ["DESC"], ["desc"]])
    if r.random() < 0.1:
        parts += ["TRAVERSE", rname(r, RELS)]
    if r.random() < 0.1:
        parts += ["TRACE", rname(r, FIELDS)] + r.choice([[], ["REVERSE"]])
    if r.random() < 0.4:
        parts += ["LIMIT", rnum(r)]
    if r.random() < 0.25:
        parts += ["GROUP", "BY", rname(r, FIELDS)]
        agg = r.randrange(4)
        if agg == 1:
            parts.append("COUNT")
        elif agg >= 2:
            parts += [r.choice(["SUM", "AVG", "MIN", "MAX"]), rname(r, FIELDS)]
    if r.random() < 0.1:
        r.shuffle(parts)
    seps = [" "] * 20 + ["  ", "\t", "\n", ""]
    out = parts[0]
    for p in parts[1:]:
        out += r.choice(seps) + p
    if r.random() < 0.3:
        out = "".join(ch.lower() if r.random() < 0.5 else ch.upper() for ch in out)
    return out


def valid(r):
    """a query that parses: the executor's paths rather than the parser's errors"""
    q = "FROM " + r.choice(["blocks", "mixed", "plain", "facts"])
    if r.random() < 0.15:
        q += " AS OF %d" % r.randrange(-2, 4000)
    if r.random() < 0.1:
        q += ' VALID AS OF "2024-0%d-15"' % r.randrange(1, 10)
    if r.random() < 0.7:
        q += " WHERE " + " AND ".join(
            "%s %s %s" % (r.choice(["height", "n", "k", "s", "v", "_id", "_seq", "obj", "tags"]),
                          r.choice(OPS[:6]),
                          r.choice([str(r.randrange(-3, 1600)), "%d.5" % r.randrange(20), '"k%d"' % r.randrange(6),
                                    "true", "false", "null", "k1", '"rust zeta word1"', '"b0007"']))
            for _ in range(r.choice([1, 1, 2, 3])))
    if r.random() < 0.15:
        q += ' SEARCH "%s"' % r.choice(["rust", "zeta", "word1", "rust zeta", "", "nothing", "Rust word2"])
    if r.random() < 0.5:
        q += " ORDER BY %s%s" % (r.choice(["height", "n", "v", "k", "s", "_id", "tags", "missing"]),
                                 r.choice(["", " ASC", " DESC"]))
    if r.random() < 0.1:
        q += " TRAVERSE " + r.choice(["next", "cites"])
    if r.random() < 0.1:
        q += " TRACE x" + r.choice(["", " REVERSE"])
    if r.random() < 0.5:
        q += " LIMIT %d" % r.choice([0, 1, 5, 10, 100, -1, -5, 5000])
    if r.random() < 0.2:
        q += " GROUP BY %s%s" % (r.choice(["k", "n", "v", "tags", "obj", "missing"]),
                                 r.choice(["", " COUNT", " SUM n", " AVG height", " MIN v", " MAX n"]))
    return q


def mutate(r, s):
    for _ in range(r.choice([1, 1, 2, 3, 8])):
        c = r.randrange(8)
        i = r.randrange(len(s) + 1)
        if c == 0:
            s = s[:i] + r.choice(JUNK) + s[i:]
        elif c == 1 and s:
            j = min(len(s), i + r.randrange(1, 8))
            s = s[:i] + s[j:]
        elif c == 2:
            s = s[:i] + r.choice(KEYWORDS + OPS) + " " + s[i:]
        elif c == 3:
            s = s[:i]
        elif c == 4 and s:
            j = min(len(s), i + r.randrange(1, 20))
            s = s[:i] + s[i:j] * r.randrange(2, 5) + s[j:]
        elif c == 5:
            s = s[:i] + " " + rvalue(r) + " " + s[i:]
        elif c == 6:
            toks = s.split(" ")
            if len(toks) > 1:
                a, b = r.randrange(len(toks)), r.randrange(len(toks))
                toks[a], toks[b] = toks[b], toks[a]
                s = " ".join(toks)
        else:
            s = s[:i] + chr(r.choice([r.randrange(1, 128), r.randrange(128, 0x800),
                                      r.randrange(0x800, 0xd800), r.randrange(0x10000, 0x10ffff)])) + s[i:]
    return s


def large(r):
    c = r.randrange(9)
    if c == 0:
        return 'FROM blocks WHERE s = "' + "z" * r.choice([10000, 200000, 1048000]) + '"'
    if c == 1:
        return "FROM blocks WHERE " + " AND ".join("n > %d" % i for i in range(r.choice([100, 3000])))
    if c == 2:
        return "FROM x " + "= " * r.choice([1000, 100000, 600000])
    if c == 3:
        return "FROM " + "c" * r.choice([64, 1000, 100000]) + " ORDER BY " + "f" * 5000
    if c == 4:
        return "FROM blocks WHERE " + "f" * 300000 + " = 1 GROUP BY " + "g" * 1000
    if c == 5:
        return "FROM blocks SEARCH \"" + " ".join("w%d" % i for i in range(20000)) + "\""
    if c == 6:
        return "FROM c " + "=" * r.choice([1048577, 2000000])
    if c == 7:
        return "FROM mixed WHERE v = " + "1" * r.choice([1000, 1001, 5000]) + " ORDER BY v"
    return "'" * 50000 + " FROM"


def sql_literal(s):
    return "'" + s.replace("'", "''") + "'"


def statement(r, q):
    c = r.randrange(10)
    lit = sql_literal(q)
    if c < 5:
        return "SELECT count(*) FROM nql(%s);" % lit
    if c < 7:
        return "SELECT md5(string_agg(r::text, ',')) FROM nql(%s) r;" % lit
    return "SELECT count(*), sum(length(l)) FROM nedb.explain(%s) l;" % lit


def main():
    count, seed = int(sys.argv[1]), int(sys.argv[2])
    seeds = []
    if len(sys.argv) > 3:
        with open(sys.argv[3], encoding="utf-8") as f:
            seeds = [l.rstrip("\n") for l in f if l.strip()]
    r = random.Random(seed)
    out = sys.stdout
    for _ in range(count):
        c = r.random()
        if c < 0.002:
            q = large(r)
        elif c < 0.25:
            q = valid(r)
        elif c < 0.45:
            q = grammar(r)
        elif c < 0.8:
            q = mutate(r, grammar(r))
        elif seeds:
            q = mutate(r, r.choice(seeds))
        else:
            q = mutate(r, grammar(r))
        q = q.replace("\x00", "")
        out.write(statement(r, q) + "\n")


if __name__ == "__main__":
    main()
