#!/bin/sh
# run.sh — `make chaos`: runs every kill -9 suite (tests/chaos/chaos_*.sh: ingest, fetch, entities, shard,
# train, disk full) and prints a report: per suite its checks passed/failed, its closing line (trials,
# kills landed) and its wall time. Each suite prints "PASS name" / "FAIL name: why" lines like the tests.
#   sh tests/chaos/run.sh [PATTERN]     (only suites whose name contains PATTERN)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
pat=${1:-}
pass=0; fail=0
report=$(mktemp)
for s in tests/chaos/chaos_*.sh; do
  [ -f "$s" ] || continue
  n=$(basename "$s" .sh)
  [ -n "$pat" ] && case "$n" in *$pat*) ;; *) continue;; esac
  echo "## $n"
  t0=$(date +%s)
  out=$(sh "$s" 2>&1); rc=$?
  echo "$out"
  p=$(printf '%s\n' "$out" | grep -c '^PASS '); f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
  last=$(printf '%s\n' "$out" | grep -E "^$n: " | tail -n 1)
  printf '%-16s %4d passed %3d failed %5ds  %s\n' "$n" "$p" "$f" "$(( $(date +%s) - t0 ))" "${last#"$n: "}" >> "$report"
  pass=$((pass + p)); fail=$((fail + f))
done
echo "## report"
cat "$report"; rm -f "$report"
echo "chaos: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
