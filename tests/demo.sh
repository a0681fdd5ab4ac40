#!/bin/sh
# demo.sh — `make demo`, the README's main command: the whole OVSegmentor pipeline on the embedded
# synthetic dataset. Generates the CC12M-like crawl, serves it with nginx on 127.0.0.1, crawls it,
# extracts entities, keeps the CC4M-style subset, pairs images, writes training shards, trains
# stage 1 and stage 2, evaluates zero-shot segmentation on the held-out benchmark with overlays and
# baselines, and prints a summary. Knobs (environment): DEMO_DIR, DEMO_N (crawl rows),
# DEMO_STEPS1 / DEMO_STEPS2 (optimiser steps), DEMO_BATCH, DEMO_THREADS, DEMO_PORT, DEMO_SET
# (extra `--set key=value` words for the model, e.g. the departures of docs/demo.md).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
O=$root/ovseg
out=${DEMO_DIR:-$root/demo-run}
N=${DEMO_N:-12000}
S1=${DEMO_STEPS1:-600}
S2=${DEMO_STEPS2:-100}
BATCH=${DEMO_BATCH:-64}
THREADS=${DEMO_THREADS:-2}
PORT=${DEMO_PORT:-8089}
SET=${DEMO_SET:-}
py=$root/.venv/bin/python
step() { printf '\n== %s\n' "$*"; }
setargs=""
for kv in $SET; do setargs="$setargs --set $kv"; done

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

step "train stage 1 ($S1 steps, batch $BATCH): contrastive + masked entity completion"
$O train --config tiny --shards shards --run run1 --steps "$S1" --batch "$BATCH" --threads "$THREADS" \
  --ckpt-every 100 --set vocab="$V" $setargs

stage2=0
step "train stage 2 ($S2 steps): + cross-image mask consistency"
if $O train --config tiny --stage 2 --init run1 --shards shards --run run2 --steps "$S2" --batch "$BATCH" \
     --threads "$THREADS" --ckpt-every 50 --set vocab="$V" $setargs; then stage2=1
else echo "stage 2 did not run (see above); evaluating stage 1"; fi
final=run1; [ $stage2 = 1 ] && final=run2

step "zero-shot segmentation on the held-out benchmark ($final)"
$O eval --ckpt $final --dataset synth --root synth/eval --split val --short-side 64 --whole \
  --out eval --overlays 8 --db ovseg.db

step "summary"
echo "-- crawl by state and reason"; $O stats ovseg.db crawl_status | sed -n '2,20p'
echo "-- entity top-10"; $O stats ovseg.db entities_top | sed -n '2,13p'
echo "-- subset"; $O stats ovseg.db subset_summary | sed -n '2,5p'
for r in run1 run2; do
  [ -f $r/metrics.tsv ] && "$py" "$root/tests/tools/plot_curve.py" $r/metrics.tsv $r/curve.png "$r" && echo "training curve: $out/$r/curve.png"
done
echo "overlays: $out/eval/overlays/"
echo "-- final mIoU table (eval/results.json)"
$O stats ovseg.db eval_results | sed -n '2,20p'
echo "demo finished in $(( $(date +%s) - start )) s"
