#!/bin/sh
# chaos_fetch.sh — `make chaos`: kill -9 `ovseg fetch` at 20 random moments (x3 kills each) of a
# crawl served by nginx on 127.0.0.1, restarting each time; the end state must equal an
# uninterrupted crawl's (see chaos_fetch.py).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
export OVSEG_CHAOS_IMAGES=${OVSEG_CHAOS_IMAGES:-300}
exec .venv/bin/python tests/chaos/chaos_fetch.py "${1:-20}" "${2:-3}"
