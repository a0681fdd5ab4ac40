#!/bin/sh
# run.sh — `make chaos`: runs every kill -9 suite (tests/chaos/chaos_*.sh) and prints a report of
# trials and checks. Each suite prints "PASS name" / "FAIL name: why" lines like the tests.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export OVSEG_BIN=${OVSEG_BIN:-$root/ovseg}
pass=0; fail=0
for s in tests/chaos/chaos_*.sh; do
  [ -f "$s" ] || continue
  echo "## $(basename "$s" .sh)"
  out=$(sh "$s" 2>&1); echo "$out"
  pass=$((pass + $(printf '%s\n' "$out" | grep -c '^PASS '))); fail=$((fail + $(printf '%s\n' "$out" | grep -c '^FAIL ')))
done
echo "chaos: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
