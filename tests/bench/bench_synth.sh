#!/bin/sh
# bench_synth.sh — `ovseg synth` generation speed at the default sizes (long side 200–1000 px,
# 1–4 objects, 128 px eval images): images/s and rows/s with 1 thread (the baseline) and with all
# cores (OpenMP over images), same seed and rows. Target: >= 200 images/s on 2 cores.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OVSEG=${OVSEG_BIN:-./ovseg}
t=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-synth-XXXXXX")
trap 'rm -rf "$t"' EXIT
n=${SYNTH_BENCH_N:-3000}
printf '| threads | rows | images | MB | seconds | images/s | rows/s |\n|---|---|---|---|---|---|---|\n'
for th in 1 $(nproc); do
  rm -rf "$t/out"
  s=$(date +%s.%N)
  OMP_NUM_THREADS=$th "$OVSEG" synth --out "$t/out" --n "$n" --eval-n 200 --tune-n 0 --seed 1 2>"$t/log"
  e=$(date +%s.%N)
  imgs=$(sed -n 's/.* \([0-9]*\) images,.*/\1/p' "$t/log")
  mb=$(du -sm "$t/out" | cut -f1)
  awk -v th="$th" -v n="$n" -v i="$imgs" -v mb="$mb" -v s="$s" -v e="$e" \
    'BEGIN { d = e - s; printf "| %s | %d | %d | %d | %.2f | %.0f | %.0f |\n", th, n, i, mb, d, i / d, n / d }'
done
echo
echo "images = rendered and encoded images (good + truncated crawl rows, eval images);"
echo "rows/s counts every TSV row (a third fail and need no rendered image). Baseline: 1 thread."
