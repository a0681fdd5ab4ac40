#!/bin/sh
# bench_ingest.sh — `ovseg ingest` speed on a generated 2,000,000-line TSV (the real CC3M captions
# repeated, each URL made unique), plain and gzipped, against baselines measured in the same run:
# the raw read rate (cat / zcat into wc -l) and the sqlite3 CLI's .import of the same file into a
# plain table (no index, no checks). Prints a table; no assertion (the goal is in docs/ingest.md).
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
# run NAME COMMAND...: times the command, prints a table row with rows/s
rate() { awk -v n="$N" -v a="$1" -v b="$2" 'BEGIN { t = b - a; printf "%8.2f s  %10.0f rows/s", t, n / t }'; }
row() {
  name=$1; shift
  sync; t0=$(now); "$@" >/dev/null 2>"$B/err" || { echo "$name failed: $(cat "$B/err")"; exit 1; }; t1=$(now)
  printf '%-46s %s\n' "$name" "$(rate "$t0" "$t1")"
}
ingest() { rm -f "$B/db"*; "$OVSEG" init "$B/db" 2>/dev/null; "$OVSEG" ingest "$B/db" "$@"; }
sqlite_import() {
  rm -f "$B/imp.db"*
  sqlite3 "$B/imp.db" "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(url TEXT, caption TEXT);" >/dev/null
  printf '.mode tabs\n.import %s t\n' "$1" | sqlite3 "$B/imp.db"
}

echo "ingest of $N lines ($mb MB plain, $gzmb MB gzip), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-46s %8s    %16s\n' "what" "time" "rate"
row "baseline: cat | wc -l (raw read, plain)" sh -c "cat '$B/big.tsv' | wc -l"
row "baseline: zcat | wc -l (raw read, gzip)" sh -c "zcat '$B/big.tsv.gz' | wc -l"
row "baseline: sqlite3 .import, plain table" sqlite_import "$B/big.tsv"
row "ovseg ingest, plain" ingest "$B/big.tsv"
plain=$(( $(sqlite3 "$B/db" "SELECT count(*) FROM samples") ))
t0=$(now); ingest "$B/big.tsv.gz" >/dev/null 2>&1; t1=$(now)
printf '%-46s %s\n' "ovseg ingest, gzip" "$(rate "$t0" "$t1")"
row "ovseg ingest, again (nothing new)" "$OVSEG" ingest "$B/db" "$B/big.tsv.gz"
[ "$plain" = "$N" ] || echo "WARNING: $plain rows inserted, expected $N"
echo "goal: ingest >= 1,000,000 rows/s; gzip within 1.5x of plain"
