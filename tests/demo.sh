#!/bin/sh
# demo.sh — `make demo`: the main job. Runs the pipeline stages that exist on the embedded data.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${DEMO_DIR:-$root/demo-run}
mkdir -p "$out"
rm -f "$out/ovseg.db"
./ovseg init "$out/ovseg.db"
./ovseg ingest "$out/ovseg.db" --columns caption,url ../shared/data/cc3m-val-captions-odd.tsv
./ovseg stats "$out/ovseg.db"
