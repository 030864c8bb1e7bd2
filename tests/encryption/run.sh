#!/usr/bin/env bash
# run.sh - an encrypted export opened by reference_open.js (node:crypto, the
# reference's rules, none of our C): puts, a new key.enc, export_aof sealed
# under it, opened, compared byte for byte with the plaintext export.
#   run.sh PSQL_CONNINFO WORKDIR   (as the server's OS user: the key file is read by the server)
set -Eeuo pipefail
conn=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
tmk=$work/tmk
head -c 48 /dev/urandom >"$tmk"
chmod 600 "$tmk"
q() { PGOPTIONS="-c nedb.tmk_file=$tmk" psql -X -q -At -v ON_ERROR_STOP=1 -d "$conn" "$@"; }
q -c "DROP EXTENSION IF EXISTS nedb CASCADE" -c "CREATE EXTENSION nedb"
q -c "SELECT count(nedb.put('c' || g % 3, 'id' || g, jsonb_build_object('g', g, 'f', g / 7.0, 's', 'naïve ☃ \"q\"' || g))) FROM generate_series(1, 2000) g" \
  -c "SELECT count(nedb.delete('c1', 'id' || g)) FROM generate_series(1, 2000, 97) g" >/dev/null
q -c "SELECT nedb.new_key_enc()" >"$work/key.enc"
q -c "SELECT l FROM nedb.export_aof(-1, NULL, pg_read_file('$work/key.enc')) l" >"$work/sealed.aof"
q -c "SELECT l FROM nedb.export_aof() l" >"$work/plain.aof"
if grep -q '"payload"' "$work/sealed.aof"; then
    echo "encryption: the sealed export holds plaintext" >&2
    exit 1
fi
node "$here/reference_open.js" "$tmk" "$work/key.enc" <"$work/sealed.aof" >"$work/opened.aof"
cmp "$work/opened.aof" "$work/plain.aof"
echo "encryption: $(wc -l <"$work/sealed.aof") sealed lines open by the reference's rules to the plaintext export"
