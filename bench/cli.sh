#!/usr/bin/env bash
# bench/cli.sh -- `nedb verify-aof` over a 1M-op reference-format AOF (issue
# 17: at least 500k ops/s).  Needs no server: the AOF is generated once by
# cli_gen_aof.py into bench/out/ (CLI_OPS ops, default 1,000,000; about
# 750 MB; CLI_AOF puts it elsewhere), then checked CLI_REPS times (default
# 3); prints the median, and the CPU time per op of each run.
#   bash bench/cli.sh            # nedb from PATH, else the build tree's cli/nedb
set -Eeuo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
N=${CLI_OPS:-1000000}
REPS=${CLI_REPS:-3}
OUT=$HERE/out
AOF=${CLI_AOF:-$OUT/cli_$N.aof}
NEDB=$(command -v nedb || echo "$HERE/../cli/nedb")
mkdir -p "$OUT"
if [[ ! -s $AOF ]]; then
	echo "generating $N ops into $AOF" >&2
	python3 "$HERE/cli_gen_aof.py" "$N" "$AOF.tmp" >"$AOF.head"
	mv "$AOF.tmp" "$AOF"
fi
# read once so that every run finds the file in the page cache
cat "$AOF" >/dev/null
rates=()
cpus=()
for ((i = 0; i < REPS; i++)); do
	err=$(/usr/bin/time -f 'cpu %U %S' "$NEDB" verify-aof -q "$AOF" 2>&1 >/dev/null) || { echo "$err" >&2; exit 1; }
	rates+=("$(sed -n "s/.*(\([0-9]*\) ops\/s.*/\1/p" <<<"$err")")
	# CPU time per op, whatever else the machine runs meanwhile
	cpus+=("$(awk -v n="$N" '/^cpu / { printf "%.2f", ($2 + $3) * 1e6 / n }' <<<"$err")")
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((REPS + 1) / 2))p")
verdict=MISS
((median >= 500000)) && verdict=PASS
echo "cli verify-aof: $N ops, $(du -m "$AOF" | cut -f1) MB, median of $REPS: $median ops/s" \
	"(runs: ${rates[*]}; CPU us/op: ${cpus[*]}; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))" \
	"(bar >= 500000) $verdict"
