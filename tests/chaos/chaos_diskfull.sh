#!/bin/sh
# chaos_diskfull.sh — `make chaos`: fetch and shard writing into a full disk (a 300 KB tmpfs) and into a
# read-only folder (a read-only tmpfs) must stop with a clear error naming the file, leave no .tmp,
# record nothing that was not written, and finish on a rerun once there is room (see chaos_diskfull.py).
# Needs root (mount); prints SKIP lines otherwise.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
exec .venv/bin/python tests/chaos/chaos_diskfull.py
