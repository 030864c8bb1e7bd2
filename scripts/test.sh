#!/usr/bin/env bash
# test.sh - everything: deps, build (-Werror), pg_regress, TAP, NQL parser and JSON scanner fuzzing. Run as root.
#   sudo bash scripts/test.sh
set -Eeuo pipefail
source "$(dirname "$0")/common.sh"
[[ $(id -u) -eq 0 ]] || { echo "test.sh: run as root (it installs packages and the extension)" >&2; exit 2; }

WORK=${NEDB_TEST_WORK:-/tmp/nedb-test}
PORT=${NEDB_TEST_PORT:-55432}
trap 'cluster_down "$WORK"' EXIT

bash "$REPO/scripts/deps.sh"
cluster_down "$WORK"
build_and_install "$WORK"
SRC=$WORK/src
failed=()

echo "== pg_regress and isolation (shared_preload_libraries = nedb: the library must load either way)"
cluster_up "$WORK" "$PORT" "shared_preload_libraries = 'nedb'" "fsync = off" \
    "autovacuum = off"  # tests that VACUUM must not race an autoanalyze's snapshot
if ! as_pg env PGHOST="$WORK/sock" PGPORT="$PORT" PGUSER=postgres \
        make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS=; then
    failed+=(regress)
    for d in "$SRC/regression.diffs" "$SRC/output_iso/regression.diffs"; do
        [[ -f $d ]] && cat "$d"
    done
fi
echo "== ORM clients on a foreign table and on a tracked table (node-postgres, knex; tests/orm)"
if ! { as_pg "$PGBIN/createdb" -h "$WORK/sock" -p "$PORT" -U postgres nedb_orm &&
       as_pg "$PGBIN/createdb" -h "$WORK/sock" -p "$PORT" -U postgres nedb_orm_track &&
       (cd "$SRC/tests/orm" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error &&
        PGHOST="$WORK/sock" PGPORT="$PORT" PGUSER=postgres PGDATABASE=nedb_orm node orm.test.js &&
        PGHOST="$WORK/sock" PGPORT="$PORT" PGUSER=postgres PGDATABASE=nedb_orm_track node track.test.js); }; then
    failed+=(orm)
fi
echo "== an encrypted export opened by the reference's rules alone (node:crypto; tests/encryption)"
if ! { as_pg "$PGBIN/createdb" -h "$WORK/sock" -p "$PORT" -U postgres nedb_enc &&
       as_pg env PATH="$PGBIN:$PATH" bash "$SRC/tests/encryption/run.sh" \
           "host=$WORK/sock port=$PORT user=postgres dbname=nedb_enc" "$WORK/encryption"; }; then
    failed+=(encryption)
fi
if grep -E 'terminated by signal|PANIC|TRAP:' "$WORK/server.log"; then
    failed+=(server-log)
fi
cluster_down "$WORK"

echo "== the JavaScript verifier (clients/node, node --test, no network)"
if ! (cd "$SRC/clients/node" && node --test test/); then
    failed+=(js-verifier)
fi

echo "== TAP"
if ! as_pg make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" installcheck REGRESS= ISOLATION= PROVE_FLAGS=--timer; then
    failed+=(tap)
    for f in "$SRC"/tmp_check/log/*; do [[ -f $f ]] && { echo "---- $f"; tail -40 "$f"; }; done
fi

echo "== fuzzing: the NQL parser, canon_scan against Postgres's JSON parser (libFuzzer with ASan and UBSan, ${NEDB_FUZZ_SECS:-30} s each; tests/fuzz)"
if ! PG_CONFIG="$PG_CONFIG" bash "$SRC/tests/fuzz/run.sh" "${NEDB_FUZZ_SECS:-30}" "$WORK/fuzz"; then
    failed+=(fuzz)
fi

if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]} (artifacts in $WORK)"
    exit 1
fi
echo "all tests passed"
