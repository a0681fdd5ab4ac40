#!/bin/sh
# bench_fetch.sh — `make bench`: images/s of a whole `ovseg fetch` crawl on loopback next to the
# floor (decode + resize + encode of the same files, no network, no db) measured in the same run.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
exec .venv/bin/python tests/bench/bench_fetch.py "${1:-1500}" "${2:-256}"
