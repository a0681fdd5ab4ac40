#!/bin/sh
# bench_synth20k.sh — `make bench`: the issues' end-to-end checks on `ovseg synth --n 20000`
# (issue 3: failure shares and server answers; issue 4: the crawl, its shards and images; issue 5:
# the CC4M subset and pairs), with PASS/FAIL lines, figures, wall and CPU seconds and the load
# average. Takes several minutes (about 10 on a loaded 2-core machine); needs nginx, curl, tar.
#
#   sh tests/bench/bench_synth20k.sh [N_ROWS] [SEED]     (defaults 20000, 1)
#   KEEP_TMP=1 keeps the work folder (printed first).
# Exit status 1 when a check fails.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
exec .venv/bin/python tests/bench/bench_synth20k.py "${1:-20000}" "${2:-1}"
