#!/bin/sh
# demo.sh — `make demo`, the README's main command: the whole OVSegmentor pipeline on the embedded
# synthetic dataset. Generates the CC12M-like crawl, serves it with nginx on 127.0.0.1, crawls it,
# extracts entities, keeps the CC4M-style subset, pairs images, writes training shards, trains
# stage 1 and stage 2, evaluates zero-shot segmentation on the held-out benchmark with overlays and
# baselines, and prints a summary. Knobs (environment): DEMO_DIR, DEMO_N (crawl rows),
# DEMO_STEPS1 / DEMO_STEPS2 (optimiser steps), DEMO_BATCH, DEMO_THREADS, DEMO_PORT,
# DEMO_ROWS (the model variants trained and reported, one per line as `label|model keys`; default:
# the paper's method, and the same with the two departures of docs/demo.md as its own row),
# DEMO_DATA_ONLY=1 (stop after the training shards; used by tests/ablation.sh).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
O=$root/ovseg
out=${DEMO_DIR:-$root/demo-run}
N=${DEMO_N:-12000}
S1=${DEMO_STEPS1:-900}
S2=${DEMO_STEPS2:-100}
BATCH=${DEMO_BATCH:-64}
THREADS=${DEMO_THREADS:-2}
PORT=${DEMO_PORT:-8089}
ROWS=${DEMO_ROWS:-"paper's method|depth1=0 text_len=24 init_std=0.08
+ local patches, no group residual (departure)|depth1=0 text_len=24 local_patches=1 no_group_residual=1"}
py=$root/.venv/bin/python
step() { printf '\n== %s\n' "$*"; }

rm -rf "$out" && mkdir -p "$out" && cd "$out"
start=$(date +%s)

step "synth: $N crawl rows + benchmark (1-2 large objects per image; docs/synth.md)"
$O synth --out synth --n "$N" --eval-n 300 --tune-n 100 --seed 1 --max-objects 2 \
  --min-size 0.55 --max-size 0.95 --eval-size 64 --max-side 400 --base-url "http://127.0.0.1:$PORT/"
sh "$root/tests/serve-synth.sh" start synth "$PORT"
trap 'sh "$root/tests/serve-synth.sh" stop "$out/synth" >/dev/null 2>&1 || true' EXIT

step "init + ingest"
$O init ovseg.db
$O ingest ovseg.db synth/cc12m-synth.tsv

step "fetch (libcurl, real HTTP on 127.0.0.1)"
$O fetch ovseg.db --out raw --image-size 80 --shard-size 5000 || [ $? -eq 1 ]
sh "$root/tests/serve-synth.sh" stop synth

step "entities, subset (CC4M rule: top-100 entities), pairs"
$O entities ovseg.db
$O subset ovseg.db --name cc4m --top 100 --require-ok >/dev/null
$O pairs ovseg.db --subset cc4m --partners 10 --seed 1

step "training shards + vocabulary"
$O shard ovseg.db --subset cc4m --out shards --raw-root raw
$O vocab ovseg.db --out shards/vocab.txt --size 1000
V=$(wc -l < shards/vocab.txt)

[ "${DEMO_DATA_ONLY:-0}" = 1 ] && { echo "data ready in $(( $(date +%s) - start )) s: $out/shards"; exit 0; }

# eval_ckpt CKPT SPLIT OUT [args...]: zero-shot segmentation with the baselines of the same images
eval_ckpt() {
  ck=$1; split=$2; eo=$3; shift 3
  $O eval --ckpt "$ck" --vocab shards/vocab.txt --dataset synth --root synth/eval --split "$split" \
    --short-side 64 --whole --out "$eo" "$@" > "$eo.log" 2>&1 || { cat "$eo.log"; return 1; }
}
# methods LOG: "model random group_oracle patch_ceiling all_background" mIoU from an eval log
methods() { awk '$1 ~ /^(model|random|group_oracle|patch_ceiling|all_background)$/ && NF == 3 { v[$1] = $2 }
  END { print v["model"], v["random"], v["group_oracle"], v["patch_ceiling"], v["all_background"] }' "$1"; }
# wall_at METRICS STEP: training seconds at that step
wall_at() { awk -F'\t' -v s="$2" '$1 == s { print $9 }' "$1"; }

printf 'label\tstage\tstep\tminutes\tmodel\trandom\tgroup_oracle\tpatch_ceiling\tall_background\n' > curve.tsv
printf '%s\n' "$ROWS" > rows.txt
i=0
while IFS='|' read -r label keys; do
  [ -n "$label" ] || continue
  i=$((i + 1)); r=row$i
  setargs=""
  for kv in $keys; do setargs="$setargs --set $kv"; done
  step "[$label] train stage 1 ($S1 steps, batch $BATCH): contrastive + masked entity completion"
  # shellcheck disable=SC2086
  $O train --config tiny --shards shards --run $r-stage1 --steps "$S1" --batch "$BATCH" --threads "$THREADS" \
    --ckpt-every $(( (S1 + 3) / 4 )) --keep 10 --set vocab="$V" $setargs < /dev/null
  final=$r-stage1
  step "[$label] train stage 2 ($S2 steps): + cross-image mask consistency"
  # shellcheck disable=SC2086
  if $O train --config tiny --stage 2 --init $r-stage1 --shards shards --run $r-stage2 --steps "$S2" \
       --batch "$BATCH" --threads "$THREADS" --ckpt-every $(( (S2 + 1) / 2 )) --keep 10 --set vocab="$V" $setargs < /dev/null
  then final=$r-stage2; else echo "stage 2 did not run (see above); reporting stage 1"; fi
  step "[$label] zero-shot mIoU of every checkpoint on the benchmark (val split), with baselines"
  t1=$(tail -n 1 $r-stage1/metrics.tsv | cut -f9)
  for st in 1 2; do
    [ -d $r-stage$st ] || continue
    for ck in $r-stage$st/ckpt-*.safetensors; do
      [ -f "$ck" ] || continue
      n=$(basename "$ck" .safetensors | sed 's/ckpt-0*//')
      eval_ckpt "$ck" val "$ck.eval" < /dev/null || exit 1
      w=$(wall_at $r-stage$st/metrics.tsv "$n"); [ $st = 2 ] && w=$(awk -v a="$t1" -v b="$w" 'BEGIN { print a + b }')
      printf '%s\t%s\t%s\t%s\t%s\n' "$label" $st "$n" "$(awk -v w="$w" 'BEGIN { printf "%.2f", w / 60 }')" \
        "$(methods "$ck.eval.log" | tr ' ' '\t')" >> curve.tsv
      printf '  stage %s step %5s: model %s, random %s, group oracle %s\n' $st "$n" $(methods "$ck.eval.log" | cut -d' ' -f1-3)
    done
  done
  echo "$label|$final" >> finals.txt
done < rows.txt

step "final evaluation with overlays (val split)"
: > table.tsv
while IFS='|' read -r label final; do
  eo=eval-$(echo "$final" | cut -d- -f1)
  eval_ckpt "$final" val "$eo" --overlays 8 --db ovseg.db < /dev/null || exit 1
  printf '%s\t%s\t%s\n' "$label" "$final" "$(methods "$eo.log" | tr ' ' '\t')" >> table.tsv
  echo "[$label] overlays: $out/$eo/overlays/"
done < finals.txt

step "summary"
echo "-- crawl by state and reason"; $O stats ovseg.db crawl_status | sed -n '2,20p'
echo "-- entity top-10"; $O stats ovseg.db entities_top | sed -n '2,13p'
echo "-- subset"; $O stats ovseg.db subset_summary | sed -n '2,5p'
for d in row*-stage1 row*-stage2; do
  [ -f $d/metrics.tsv ] && "$py" "$root/tests/tools/plot_curve.py" $d/metrics.tsv $d/curve.png "$d" && echo "training curve (losses): $out/$d/curve.png"
done
"$py" "$root/tests/tools/plot_miou.py" curve.tsv miou-curve.png "ovseg demo" && echo "mIoU over training time: $out/miou-curve.png"
echo
echo "-- final zero-shot mIoU on the synthetic benchmark (val split, $(wc -l < synth/eval/ImageSets/Segmentation/val.txt) images; %)"
echo "| model | checkpoint | mIoU | random assignment | mIoU / random | group oracle | patch ceiling | all background |"
echo "|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %.2f | %s | %s | %s |\n", $1, $2, $3, $4, ($4 > 0 ? $3 / $4 : 0), $5, $6, $7 }' table.tsv
echo
echo "demo finished in $(( $(date +%s) - start )) s"
