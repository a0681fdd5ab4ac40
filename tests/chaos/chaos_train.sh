#!/bin/sh
# chaos_train.sh — `make chaos`: kill -9 `ovseg train` at 20 random moments (x3 kills each) of a 24-step
# run of a small model checkpointing every 3 steps, restarting with --resume each time; the finished
# run must equal an uninterrupted one (metrics.tsv losses and lr, final checkpoint; see chaos_train.py).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
exec .venv/bin/python tests/chaos/chaos_train.py "${1:-20}" "${2:-3}"
