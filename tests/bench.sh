#!/bin/sh
# bench.sh — `make bench`: every figure as a table with its baseline measured in the same run.
# Benchmarks unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (they halve sgemm speed here).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
for b in tests/bench/bench_*.sh; do
  [ -f "$b" ] || continue
  echo "## $(basename "$b" .sh)"
  sh "$b"
  echo
done
