#!/bin/sh
# ablation.sh — `make ablation`: the paper's ablation of its two proxy tasks on the embedded
# synthetic data, with the same data and the same number of optimiser steps per row, over several
# seeds (mean ± sample standard deviation, and the range), each row next to the baselines measured
# on the same images: all-background, random patch-to-group assignment, the group oracle and the
# patch-level ceiling. Rows:
#   untrained                      the initial weights (one step at learning rate 0)
#   contrastive only               stage 1, entity_weight=0, S1+S2 steps
#   + masked entity completion     stage 1 (the paper's stage 1), S1+S2 steps
#   + cross-image mask consistency stage 1 for S1 steps, then stage 2 for S2 steps
# Data: DEMO_DIR's shards when `make demo` made them, else the demo's data steps run first.
# Knobs (environment): ABL_SEEDS ("1 2 3"), ABL_STEPS1 (900, as the demo), ABL_STEPS2 (100), ABL_BATCH (64),
# ABL_SET (model keys for every row; default the departures the demo reports as their own row:
# "depth1=0 text_len=24 local_patches=1 no_group_residual=1"; the demo's row of the paper's method is
# "depth1=0 text_len=24 init_std=0.08"),
# ABL_DIR (output folder), DEMO_THREADS. Model rows are evaluated on the benchmark's val split.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
O=$root/ovseg
demo=${DEMO_DIR:-$root/demo-run}
out=${ABL_DIR:-$root/ablation-run}
SEEDS=${ABL_SEEDS:-1 2 3}
S1=${ABL_STEPS1:-900}
S2=${ABL_STEPS2:-100}
BATCH=${ABL_BATCH:-64}
TH=${DEMO_THREADS:-2}
SET=${ABL_SET-depth1=0 text_len=24 local_patches=1 no_group_residual=1}
setargs=""
for kv in $SET; do setargs="$setargs --set $kv"; done

if [ ! -f "$demo/shards/manifest.json" ] || [ ! -f "$demo/shards/vocab.txt" ]; then
  echo "== data: the demo's pipeline up to the training shards ($demo)"
  DEMO_DIR=$demo DEMO_DATA_ONLY=1 sh "$root/tests/demo.sh"
fi
V=$(wc -l < "$demo/shards/vocab.txt")
mkdir -p "$out"
start=$(date +%s)
S12=$((S1 + S2))
train() { # RUN STAGE STEPS SEED [args...]
  r=$1; st=$2; n=$3; seed=$4; shift 4
  if [ -f "$out/$r/done" ]; then return 0; fi     # finished in an earlier run of this script
  rm -rf "${out:?}/$r"
  # shellcheck disable=SC2086
  $O -q train --config tiny --stage "$st" --shards "$demo/shards" --run "$out/$r" --steps "$n" \
    --batch "$BATCH" --threads "$TH" --seed "$seed" --ckpt-every "$n" --set vocab="$V" $setargs "$@" \
    > "$out/$r.log" 2>&1 || { tail -5 "$out/$r.log"; echo "ablation: training $r failed"; exit 1; }
  touch "$out/$r/done"
}
evalrow() { # ROW RUN SEED: eval on val, one TSV line per method
  row=$1; r=$2; seed=$3
  if [ ! -f "$out/$r.eval/results.json" ]; then
    $O -q eval --ckpt "$out/$r" --dataset synth --root "$demo/synth/eval" --split val --short-side 64 \
      --whole --out "$out/$r.eval" > "$out/$r.eval.log" 2>&1 || { tail -3 "$out/$r.eval.log"; exit 1; }
  fi
  awk -v row="$row" -v seed="$seed" '$1 ~ /^(model|random|group_oracle|patch_ceiling|all_background)$/ && NF == 3 \
    { print row "\t" seed "\t" $1 "\t" $2 }' "$out/$r.eval.log" >> "$out/rows.tsv"
}

: > "$out/rows.tsv"
for seed in $SEEDS; do
  echo "== seed $seed ($(( $(date +%s) - start )) s)"
  train "untrained-$seed" 1 1 "$seed" --set lr=0 --set warmup_lr=0 --set min_lr=0
  evalrow "untrained" "untrained-$seed" "$seed"
  train "contrastive-$seed" 1 "$S12" "$seed" --set entity_weight=0
  evalrow "contrastive only" "contrastive-$seed" "$seed"
  train "mec-$seed" 1 "$S12" "$seed"
  evalrow "+ masked entity completion" "mec-$seed" "$seed"
  train "s1-$seed" 1 "$S1" "$seed"
  train "s2-$seed" 2 "$S2" "$seed" --init "$out/s1-$seed"
  evalrow "+ cross-image mask consistency" "s2-$seed" "$seed"
done

echo
echo "## Ablation (synthetic benchmark, val split; tiny preset${SET:+ with $SET}; batch $BATCH;"
echo "## $S12 optimiser steps per trained row; seeds: $SEEDS; mIoU %, mean ± sample std [min, max])"
echo
awk -F'\t' '
  { k = $1 SUBSEP $3; n[k]++; s[k] += $4; q[k] += $4 * $4
    if (!(k in lo) || $4 < lo[k]) lo[k] = $4; if (!(k in hi) || $4 > hi[k]) hi[k] = $4
    if (!($1 in seen)) { seen[$1] = 1; rows[++nr] = $1 } }
  function cell(k,   m, v) { if (!(k in n)) return "-"; m = s[k] / n[k]; v = n[k] > 1 ? (q[k] - n[k] * m * m) / (n[k] - 1) : 0
    return sprintf("%.1f ± %.1f [%.1f, %.1f]", m, sqrt(v > 0 ? v : 0), lo[k], hi[k]) }
  END {
    print "| row | model | random assignment | model / random | group oracle | patch ceiling | all background |"
    print "|---|---|---|---|---|---|---|"
    for (i = 1; i <= nr; i++) { r = rows[i]; mk = r SUBSEP "model"; rk = r SUBSEP "random"
      ratio = (rk in n && s[rk] > 0) ? sprintf("%.2f", s[mk] / s[rk]) : "-"
      printf "| %s | %s | %s | %s | %s | %s | %s |\n", r, cell(mk), cell(rk), ratio, cell(r SUBSEP "group_oracle"),
        cell(r SUBSEP "patch_ceiling"), cell(r SUBSEP "all_background") } }' "$out/rows.tsv" | tee "$out/ablation.md"
echo
echo "ablation finished in $(( $(date +%s) - start )) s; table: $out/ablation.md"
