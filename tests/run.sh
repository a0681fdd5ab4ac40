#!/bin/sh
# run.sh — runs every test program and prints one closing line "N passed, N failed".
#   tests/run.sh BUILD_DIR [PATTERN]
# Runs: BUILD_DIR/tests/test_* (C), tests/test_*.py (with .venv's python), tests/test_*.sh.
# Each prints "PASS name" / "FAIL name: why"; a program that exits non-zero without printing a
# FAIL line counts as one failure. Exits 1 if anything failed.
set -u
build=${1:-build}
pat=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
export OVSEG_SHARED=${OVSEG_SHARED:-$(cd "$root/.." && pwd)/shared}
py=$root/.venv/bin/python
log=$(mktemp)
pass=0; fail=0
run_one() { # name, command...
  name=$1; shift
  start=$(date +%s)
  "$@" >"$log" 2>&1
  rc=$?
  p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
  grep -E '^(PASS|FAIL) ' "$log" | sed "s|^|  |"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "  FAIL $name: exited $rc; last output:"; tail -n 15 "$log" | sed 's/^/    /'
  elif [ "$f" -gt 0 ]; then
    echo "  --- $name output (last 30 lines):"; grep -vE '^(PASS) ' "$log" | tail -n 30 | sed 's/^/    /'
  fi
  echo "$name: $p passed, $f failed ($(( $(date +%s) - start ))s)"
  pass=$((pass + p)); fail=$((fail + f))
}
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  case "$t" in *.d|*.o) continue;; esac
  n=$(basename "$t"); [ -n "$pat" ] && case "$n" in *$pat*) ;; *) continue;; esac
  run_one "$n" "$t"
done
for t in tests/test_*.py; do
  [ -f "$t" ] || continue
  n=$(basename "$t"); [ -n "$pat" ] && case "$n" in *$pat*) ;; *) continue;; esac
  run_one "$n" "$py" "$t"
done
for t in tests/test_*.sh; do
  [ -f "$t" ] || continue
  n=$(basename "$t"); [ -n "$pat" ] && case "$n" in *$pat*) ;; *) continue;; esac
  run_one "$n" sh "$t"
done
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
