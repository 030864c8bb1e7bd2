#!/usr/bin/env bash
# run.sh - build the NQL parser's libFuzzer harness and run it for a bounded
# time over a scratch copy of the seed corpus; non-zero if it finds anything.
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
mkdir -p "$WORK/corpus" "$WORK/artifacts"
cp "$HERE"/corpus/* "$WORK/corpus/"
"$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fwrapv -fno-strict-aliasing -Wall -Werror -Wno-ignored-attributes \
    -I"$("$PG_CONFIG" --includedir-server)" -I"$REPO/src" \
    "$HERE/nql_fuzz.c" "$HERE/pgstub.c" "$REPO/src/nql_parse.c" -lm -o "$WORK/nql_fuzz"
# -rss_limit_mb: the parser of a 4 kB input needs little; -timeout: no input may stall it
if ! (cd "$WORK" && ./nql_fuzz -dict="$HERE/nql.dict" -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
        -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$WORK/artifacts/" \
        corpus >"$WORK/fuzz.log" 2>&1); then
    tail -60 "$WORK/fuzz.log"
    echo "nql fuzz: FOUND a failure (artifacts in $WORK/artifacts)" >&2
    exit 1
fi
grep -E '^stat::(number_of_executed_units|new_units_added)|^Done' "$WORK/fuzz.log" || true
echo "nql fuzz: nothing found in ${SECS}s"
