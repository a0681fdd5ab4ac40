#!/bin/sh
# bench_ingest.sh — `ovseg ingest` speed on a generated 2,000,000-line TSV (the real CC3M captions
# repeated, each URL made unique), plain and gzipped, against baselines measured in the same run:
# the raw read rate (cat / zcat into wc -l) and the sqlite3 CLI's .import of the same file into a
# plain table (no index, no checks). Prints a table; no assertion (the goal is in docs/ingest.md).
# Under each ovseg row, from `ovseg -v`: the way taken (bulk/incremental), the writer and reader
# threads' CPU seconds and the time spent building the url_hash index at the end.
#   sh tests/bench/bench_ingest.sh [LINES]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OVSEG=${OVSEG_BIN:-$root/ovseg}
REAL=${OVSEG_SHARED:-$root/../shared}/data/cc3m-val-captions-odd.tsv
N=${1:-2000000}
B=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-XXXXXX")
trap 'rm -rf "$B"' EXIT

awk -F'\t' -v n="$N" '{ c[NR] = $1; u[NR] = $2 }
  END { for (i = 0; i < n; i++) { k = i % NR + 1; printf "%s?v=%d\t%s\n", u[k], i, c[k] } }' "$REAL" >"$B/big.tsv"
gzip -c "$B/big.tsv" >"$B/big.tsv.gz"
mb=$(( $(wc -c <"$B/big.tsv") / 1000000 )); gzmb=$(( $(wc -c <"$B/big.tsv.gz") / 1000000 ))

now() { date +%s.%N; }
# CPU seconds (user + sys) used by the finished children of this shell so far
# (times must run in this shell, not in a $(...) subshell)
cpu() { times >"$B/times"; awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } print s }' "$B/times"; }
# rate T0 T1 C0 C1: wall seconds, CPU seconds, rows per wall second and per CPU second
rate() { awk -v n="$N" -v a="$1" -v b="$2" -v c="$3" -v d="$4" \
  'BEGIN { t = b - a; c = d - c; printf "%8.2f s %8.2f s %10.0f rows/s %10.0f rows/cpu-s", t, c, n / t, (c > 0 ? n / c : 0) }'; }
# row NAME COMMAND...: runs the command, prints a table row
row() {
  name=$1; shift
  sync; cpu >"$B/c0"; t0=$(now)
  "$@" >/dev/null 2>"$B/err" || { echo "$name failed: $(cat "$B/err")"; exit 1; }
  t1=$(now); cpu >"$B/c1"
  c0=$(cat "$B/c0"); c1=$(cat "$B/c1")
  printf '%-42s %s\n' "$name" "$(rate "$t0" "$t1" "$c0" "$c1")"
  sed -n 's/^debug: [^ ]*: /    /p' "$B/err"   # ovseg -v: per-thread CPU, index build
}
ingest() { rm -f "$B/db"*; "$OVSEG" init "$B/db" 2>/dev/null; "$OVSEG" -v ingest "$B/db" "$@"; }
sqlite_import() {
  rm -f "$B/imp.db"*
  sqlite3 "$B/imp.db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(url TEXT, caption TEXT);" >/dev/null
  printf '.mode tabs\n.import %s t\n' "$1" | sqlite3 "$B/imp.db"
}

echo "ingest of $N lines ($mb MB plain, $gzmb MB gzip), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-42s %10s %10s %17s %20s\n' "what" "wall" "cpu" "rate (wall)" "rate (cpu)"
row "baseline: cat | wc -l (raw read, plain)" sh -c "cat '$B/big.tsv' | wc -l"
row "baseline: zcat | wc -l (raw read, gzip)" sh -c "zcat '$B/big.tsv.gz' | wc -l"
row "baseline: sqlite3 .import, plain table" sqlite_import "$B/big.tsv"
row "ovseg ingest, plain" ingest "$B/big.tsv"
plain=$(( $(sqlite3 "$B/db" "SELECT count(*) FROM samples") ))
row "ovseg ingest, gzip" ingest "$B/big.tsv.gz"
row "ovseg ingest, again (nothing new)" "$OVSEG" -v ingest "$B/db" "$B/big.tsv.gz"
row "ovseg ingest --bulk no, plain" ingest --bulk no "$B/big.tsv"
[ "$plain" = "$N" ] || echo "WARNING: $plain rows inserted, expected $N"
echo "goal: ingest >= 1,000,000 rows/s; gzip within 1.5x of plain (cpu = user + sys of all threads;"
echo "wall figures are only meaningful when the load above is below the core count)"
