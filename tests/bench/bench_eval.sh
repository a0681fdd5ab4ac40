#!/bin/sh
# bench_eval.sh — eval images/s at the paper's protocol (short side 448, slide 448/224), ovseg's C
# implementation next to the PyTorch twin (tests/reference/eval_twin.py), same image, same run.
# Row 1 uses a tiny linear encoder shared by both, so it measures the protocol's own cost
# (resize, window bookkeeping, upsampling, scoring, final resize). Both sides use 2 threads.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
make -s build/tests/test_eval_twin >/dev/null
echo "| what | ovseg images/s | PyTorch twin images/s |"
echo "|---|---|---|"
OMP_NUM_THREADS=2 OVSEG_EVAL_BENCH=${OVSEG_EVAL_BENCH:-20} build/tests/test_eval_twin | grep '^|'
