# test_fuzz_smoke.sh — the short fuzz smoke run: every fuzz target (tests/fuzz/fuzz_*.c) over its
# seed corpus plus 2,000 seeded random mutations, without libFuzzer (see tests/fuzz/README.md).
. tests/lib.sh
build=${BUILD:-$(dirname "$(dirname "$OVSEG")")/build}
[ -d "$build/fuzz" ] || build=build
for r in "$build"/fuzz/replay_*; do
  [ -x "$r" ] || continue
  name=${r##*/replay_}
  if "$r" "tests/fuzz/corpus/$name" 2000 1 >"$T/out" 2>&1; then pass "fuzz_smoke_$name"
  else fail "fuzz_smoke_$name" "$(tail -n 5 "$T/out" | tr '\n' ' ')"; fi
done
finish
