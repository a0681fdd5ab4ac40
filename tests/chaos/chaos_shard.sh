#!/bin/sh
# chaos_shard.sh — `make chaos`: kill -9 `ovseg shard` at 20 random moments (x3 kills each) of a
# 1,500-sample subset, restarting each time; every shard must be readable, the manifest consistent
# with the shards and the database, train_members without duplicates, and the end state equal to an
# uninterrupted run's (see chaos_shard.py).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
exec .venv/bin/python tests/chaos/chaos_shard.py "${1:-20}" "${2:-3}"
