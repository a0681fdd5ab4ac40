# lib.sh — helpers for shell tests: `. tests/lib.sh`, then `pass NAME` / `fail NAME WHY`,
# `expect_fail NAME EXIT_CODE MESSAGE_SUBSTRING -- command...`, and T (a fresh temp folder).
OVSEG=${OVSEG_BIN:-./ovseg}
T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-sh-XXXXXX")
_failed=0
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; _failed=1; }
# expect_fail NAME CODE SUBSTRING -- cmd...: the command must exit CODE and print SUBSTRING on stderr.
expect_fail() {
  name=$1; code=$2; want=$3; shift 4
  "$@" >"$T/.out" 2>"$T/.err"; rc=$?
  if [ "$rc" -ne "$code" ]; then fail "$name" "exit $rc, wanted $code: $(head -c 300 "$T/.err")"
  elif ! grep -qF -- "$want" "$T/.err"; then fail "$name" "stderr lacks '$want': $(head -c 300 "$T/.err")"
  else pass "$name"; fi
}
finish() { exit $_failed; }
