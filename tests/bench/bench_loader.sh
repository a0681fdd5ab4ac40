#!/bin/sh
# bench_loader.sh — the streaming loader's images/s at 224 px from 256 px WebP training shards
# (1,000 photo-like images written by test_loader mkshards), with 1 and 2 decode threads, next to the
# bare WebP decode rate of the same images measured in the same run.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
make -s build/tests/test_loader >/dev/null
t=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-loader-XXXXXX")
trap 'rm -rf "$t"' EXIT
build/tests/test_loader mkshards "$t/shards" 2 500 >/dev/null
build/tests/test_loader bench "$t/shards" .venv/minilm/vocab.txt
echo "cores: $(nproc), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
