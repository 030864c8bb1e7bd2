#!/usr/bin/env bash
# demo.sh - the main job: deps, build, install, a throwaway Postgres with nedb,
# demo data (block-explorer documents), the demo queries.  Run as root.
#   sudo bash scripts/demo.sh            # N=10000 blocks; KEEP=1 leaves the server running
set -Eeuo pipefail
source "$(dirname "$0")/common.sh"
[[ $(id -u) -eq 0 ]] || { echo "demo.sh: run as root (it installs packages and the extension)" >&2; exit 2; }

WORK=${NEDB_DEMO_WORK:-/tmp/nedb-demo}
PORT=${NEDB_DEMO_PORT:-55433}
N=${N:-10000}
[[ ${KEEP:-0} == 1 ]] || trap 'cluster_down "$WORK"' EXIT

bash "$REPO/scripts/deps.sh"
cluster_down "$WORK"
build_and_install "$WORK"
cluster_up "$WORK" "$PORT"
as_pg "$PGBIN/psql" -X -h "$WORK/sock" -p "$PORT" -d postgres -v n="$N" \
    -v blocks_query="$(grep -v '^--' "$REPO/demo/blocks.sql" | sed 's/(1, :n)/(1, '"$N"')/; s/;$//')" \
    -f "$REPO/demo/demo.sql"
if [[ ${KEEP:-0} == 1 ]]; then
    echo "server left running: psql -h $WORK/sock -p $PORT -U postgres postgres"
fi
