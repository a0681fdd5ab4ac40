#!/bin/sh
# bench_entities.sh — entity extraction figures (make bench):
#   1. quality on the 300 hand-labelled captions, next to OVSegmentor's exact-word-match filter;
#   2. extraction speed on one core next to that filter in C (same captions, sampled with replacement);
#   3. the whole `ovseg entities` on N captions (default 2,000,000) including SQLite writes, next to
#      the floor of just reading the captions with sqlite3; then a second run (no work) and an
#      incremental run after 1% new rows; then `ovseg subset --top 100`, `ovseg pairs` and the
#      entities saved queries on the result.
# ENT_BENCH_N sets N. Rates are per wall second and per CPU second (user+sys): the machine is shared,
# so the load average is printed too.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
shared=${OVSEG_SHARED:-$root/../shared}
caps="$shared/data/cc3m-val-captions-odd.tsv"
n=${ENT_BENCH_N:-2000000}
ovseg=${OVSEG_BIN:-$root/ovseg}
mkdir -p build/bench
make -s build/tests/test_entities_quality >/dev/null
cc -std=c17 -O2 -D_GNU_SOURCE -I. -o build/bench/entities_speed tests/bench/entities_speed.c build/libovseg.a \
  $(pkg-config --libs libpcre2-8) -lm -fopenmp

echo "### quality (tests/data/entities-gold.tsv)"
./build/tests/test_entities_quality --report
echo
echo "### extraction speed"
./build/bench/entities_speed "$caps" 1000000
echo

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-bench-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
db="$tmp/b.db"
"$ovseg" init "$db" 2>/dev/null
sqlite3 "$db" <<SQL
CREATE TEMP TABLE c(cap TEXT, url TEXT);
.mode tabs
.import $caps c
INSERT INTO sources(id, path, columns) VALUES(1, 'bench', 'caption,url');
CREATE TEMP TABLE pick AS WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < $n)
  SELECT x, 1 + ((x * 2654435761 + 97) % 1000003) % (SELECT count(*) FROM c) AS r FROM k;
INSERT INTO samples(url, url_hash, caption, source_id, line)
  SELECT c.url || '#' || p.x, p.x, c.cap, 1, p.x FROM pick p JOIN c ON c.rowid = p.r ORDER BY p.x;
SQL

# timed CMD...: prints "wall cpu" seconds
timed() {
  /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
  awk '{ printf "%.2f %.2f", $1, $2 + $3 }' "$tmp/t"
}
row() { # label samples "wall cpu"
  echo "$3" | awk -v l="$1" -v n="$2" '{ printf "| %s | %d | %.1f | %.1f | %.0f | %.0f |\n", l, n, $1, $2, n / ($1 > 0 ? $1 : 1e-9), n / ($2 > 0 ? $2 : 1e-9) }'
}
echo "### whole \`ovseg entities\` on $n captions (load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
echo "| run | samples | wall s | CPU s | samples/wall s | samples/CPU s |"
echo "|---|---|---|---|---|---|"
row "floor: sqlite3 reads every caption" "$n" "$(timed sqlite3 "$db" "SELECT sum(length(caption)) FROM samples")"
row "ovseg entities, from scratch" "$n" "$(timed "$ovseg" entities "$db")"
row "ovseg entities again (no work)" "$n" "$(timed "$ovseg" entities "$db")"
add=$((n / 100))
sqlite3 "$db" "INSERT INTO samples(url, url_hash, caption, source_id, line)
  SELECT url || '+', url_hash + $n + 1, caption, 1, line + $n FROM samples WHERE id <= $add"
row "ovseg entities after 1% new rows" "$add" "$(timed "$ovseg" entities "$db")"
n2=$((n + add))
row "ovseg subset --top 100" "$n2" "$(timed "$ovseg" subset "$db" --name cc4m --top 100)"
members=$(sqlite3 "$db" "SELECT members FROM subsets WHERE name = 'cc4m'")
row "ovseg pairs --partners 10 (members)" "$members" "$(timed "$ovseg" pairs "$db" --subset cc4m --partners 10)"
row "ovseg stats DB entities (samples)" "$n2" "$(timed "$ovseg" stats "$db" entities)"
rows=$(sqlite3 "$db" "SELECT count(*) FROM sample_entities")
echo
echo "$rows sample_entities rows; database $(du -m "$db" | cut -f1) MB"
