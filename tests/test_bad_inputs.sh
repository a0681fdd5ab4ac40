# test_bad_inputs.sh — runs the bad-input corpus (tests/bad/*.case): each case must exit with its
# CODE and print its MSG (naming the place), and its `after` check (if any) must hold.
. tests/lib.sh
CASES=$(pwd)/tests/bad
for c in tests/bad/*.case; do
  [ -f "$c" ] || continue
  name=$(basename "$c" .case)
  (
    T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bad-XXXXXX")
    unset -f setup after 2>/dev/null; CODE=; MSG=
    . "./$c"
    if command -v setup >/dev/null 2>&1; then setup >"$T/.setup" 2>&1 || { echo "FAIL bad_$name: setup failed: $(tail -c 300 "$T/.setup")"; exit 0; }; fi
    run >"$T/.out" 2>"$T/.err"; rc=$?
    if [ "$rc" -ne "$CODE" ]; then echo "FAIL bad_$name: exit $rc, wanted $CODE: $(head -c 300 "$T/.err")"
    elif ! grep -qF -- "$MSG" "$T/.err"; then echo "FAIL bad_$name: stderr lacks '$MSG': $(head -c 300 "$T/.err")"
    elif command -v after >/dev/null 2>&1 && ! after >"$T/.after" 2>&1; then echo "FAIL bad_$name: after-check failed: $(tail -c 300 "$T/.after")"
    else echo "PASS bad_$name"; fi
    rm -rf "$T"
  )
done
finish
