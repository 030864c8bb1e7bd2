# common.sh - shared by test.sh and demo.sh: a build copy owned by postgres
# and throwaway clusters (initdb refuses root).
PGVER=${PGVER:-15}
# NEDB_PGBIN: another (relocated) installation, so parallel work does not share one
PGBIN=${NEDB_PGBIN:-/usr/lib/postgresql/$PGVER/bin}
PG_CONFIG=$PGBIN/pg_config
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
unset PGDATABASE PGSERVICE PGHOSTADDR PGOPTIONS PGPASSWORD PGSSLMODE LC_ALL PGHOST PGPORT PGUSER || true
export LANG=C.UTF-8
# TAP runs of several trees at once must not pick the same free port
export PG_TEST_PORT_DIR=${PG_TEST_PORT_DIR:-/tmp/nedb-portlock}
mkdir -p "$PG_TEST_PORT_DIR" && chmod 1777 "$PG_TEST_PORT_DIR"

as_pg() { runuser -u postgres -- "$@"; }

# build_and_install WORK: copy the tree to WORK/src, build with -Werror, install
build_and_install() {
    local work=$1
    rm -rf "$work/src"
    mkdir -p "$work/src"
    tar -C "$REPO" --exclude=.git -cf - . | tar -C "$work/src" -xf -
    make -C "$work/src" -s PG_CONFIG="$PG_CONFIG" clean
    make -C "$work/src" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" COPT=-Werror with_llvm=no
    make -C "$work/src" -s PG_CONFIG="$PG_CONFIG" with_llvm=no install >/dev/null
    chown -R postgres:postgres "$work"
}

# cluster_up WORK PORT [extra conf lines...]: initdb + start, socket in WORK/sock
cluster_up() {
    local work=$1 port=$2
    shift 2
    as_pg mkdir -p "$work/sock"
    rm -rf "$work/data"
    (cd "$work" && as_pg "$PGBIN/initdb" -D "$work/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 -N >"$work/initdb.log")
    {
        echo "listen_addresses = ''"
        echo "port = $port"
        echo "unix_socket_directories = '$work/sock'"
        printf '%s\n' "$@"
    } >>"$work/data/postgresql.conf"
    (cd "$work" && as_pg "$PGBIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 start >/dev/null)
}

cluster_down() {
    local work=$1
    [[ -f $work/data/postmaster.pid ]] &&
        (cd "$work" && as_pg "$PGBIN/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1) || true
}
