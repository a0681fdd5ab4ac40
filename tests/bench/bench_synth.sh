#!/bin/sh
# bench_synth.sh — `ovseg synth` generation speed at the default sizes (long side 200–1000 px,
# 1–4 objects, 128 px eval images): rendered images/s and rows/s with 1 thread (the baseline) and
# with all cores (OpenMP over images), same seed and rows. Target: >= 200 images/s on 2 cores.
# The machine may be shared: "CPU s" (user + system) and "images per CPU s" show the work itself;
# wall-clock rates drop when other jobs take the cores.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OVSEG=${OVSEG_BIN:-./ovseg}
t=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-synth-XXXXXX")
trap 'rm -rf "$t"' EXIT
n=${SYNTH_BENCH_N:-3000}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| threads | rows | images | MB | wall s | CPU s | images/s | rows/s | images per CPU s |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for th in 1 $(nproc); do
  rm -rf "$t/out"
  OMP_NUM_THREADS=$th /usr/bin/time -f '%e %U %S' -o "$t/time" \
    "$OVSEG" synth --out "$t/out" --n "$n" --eval-n 200 --tune-n 0 --seed 1 2>"$t/log"
  imgs=$(sed -n 's/.* \([0-9]*\) images,.*/\1/p' "$t/log")
  mb=$(du -sm "$t/out" | cut -f1)
  read -r wall us ss < "$t/time"
  awk -v th="$th" -v n="$n" -v i="$imgs" -v mb="$mb" -v w="$wall" -v u="$us" -v s="$ss" \
    'BEGIN { c = u + s; printf "| %s | %d | %d | %d | %.2f | %.2f | %.0f | %.0f | %.0f |\n", th, n, i, mb, w, c, i / w, n / w, i / c }'
done
echo
echo "images = rendered and encoded images (good + truncated crawl rows, eval images); rows/s counts"
echo "every TSV row (a third fail and need no rendered image). Baseline: 1 thread."
