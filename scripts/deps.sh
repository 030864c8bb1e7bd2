#!/usr/bin/env bash
# deps.sh - install what building and testing NEDB needs (Debian 12, as root).
set -Eeuo pipefail
PGVER=${PGVER:-15}
PKGS=(make gcc postgresql-$PGVER postgresql-client-$PGVER postgresql-server-dev-$PGVER
      libzstd-dev liblzma-dev libssl-dev libsodium-dev libpq-dev libipc-run-perl
      clang-14 libfuzzer-14-dev)  # the NQL parser's fuzzing harness (tests/fuzz)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    # the whole list at once keeps the server and its headers at the same minor version
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PKGS[@]}" >/dev/null
fi
perl -MIPC::Run -e1
