#!/usr/bin/env bash
# run.sh - build the libFuzzer harnesses (the NQL parser; canon_scan against
# Postgres's JSON parser) and run each for a bounded time over a scratch copy
# of its seed corpus; non-zero if either finds anything.
#   bash tests/fuzz/run.sh [seconds (default 30)] [work dir (default /tmp/nedb-fuzz)]
# PG_CONFIG: the PostgreSQL whose server headers to compile against.
set -Eeuo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SECS=${1:-30}
WORK=${2:-/tmp/nedb-fuzz}
PG_CONFIG=${PG_CONFIG:-pg_config}
CC=${FUZZ_CC:-clang-14}

rm -rf "$WORK"
mkdir -p "$WORK"
CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
    -fwrapv -fno-strict-aliasing -Wall -Werror -Wno-ignored-attributes
    -I"$("$PG_CONFIG" --includedir-server)" -I"$REPO/src")

# fuzz NAME DICT SOURCES...: build NAME's harness, run it over a scratch copy of its corpus
fuzz() {
    local name=$1 dict=$2
    shift 2
    mkdir -p "$WORK/$name/corpus" "$WORK/$name/artifacts"
    cp "$HERE/${name}_corpus"/* "$WORK/$name/corpus/"
    "$CC" "${CFLAGS[@]}" "$@" -lm -o "$WORK/$name/fuzz"
    # -rss_limit_mb: a parser of a few kB needs little; -timeout: no input may stall it
    if ! (cd "$WORK/$name" && ./fuzz -dict="$HERE/$dict" -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
            -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$WORK/$name/artifacts/" \
            corpus >fuzz.log 2>&1); then
        tail -60 "$WORK/$name/fuzz.log"
        echo "$name fuzz: FOUND a failure (artifacts in $WORK/$name/artifacts)" >&2
        return 1
    fi
    grep -E '^stat::(number_of_executed_units|new_units_added)|^Done|answered' "$WORK/$name/fuzz.log" || true
    echo "$name fuzz: nothing found in ${SECS}s"
}

status=0
# the NQL lexer and parser
fuzz nql nql.dict "$HERE/nql_fuzz.c" "$HERE/pgstub.c" "$REPO/src/nql_parse.c" || status=1
# canon_scan against Postgres's JSON parser (libpgcommon's jsonapi.o)
fuzz canon canon.dict "$HERE/canon_fuzz.c" "$HERE/pgstub.c" "$REPO/src/canon_scan.c" \
    "$("$PG_CONFIG" --pkglibdir)/libpgcommon.a" || status=1
exit $status
