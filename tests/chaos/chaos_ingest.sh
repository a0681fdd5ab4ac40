#!/bin/sh
# chaos_ingest.sh — `make chaos`: kill -9 `ovseg ingest` at random moments of a large ingest
# (100,000 lines: real CC3M captions with unique URLs, 1 in 50 lines bad, duplicates), 20 trials of
# up to 3 kills each, restarting after every kill. Each trial's end state must equal an uninterrupted
# run's: the same samples (url, caption, line), the same rejects, no duplicates, integrity_check ok.
#   sh tests/chaos/chaos_ingest.sh [TRIALS] [KILLS]
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OVSEG=${OVSEG_BIN:-$root/ovseg}
TRIALS=${1:-20}; KILLS=${2:-3}
T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-chaos-ingest-XXXXXX")
trap 'rm -rf "$T"' EXIT
src="${OVSEG_SHARED:-$root/../shared}/data/cc3m-val-captions-odd.tsv"

# 100,000 lines: caption<TAB>url with a unique query per line; every 50th line bad, every 97th a duplicate URL
awk -F'\t' 'BEGIN { n = 0 }
  { cap[NR] = $1; url[NR] = $2 }
  END { for (i = 0; i < 100000; i++) { k = i % NR + 1
          if (i % 50 == 49) print cap[k] "\tftp://bad/" i
          else if (i % 97 == 96) print cap[k] "\t" last
          else { last = url[k] "?n=" i; print cap[k] "\t" last } } }' "$src" | gzip -1 > "$T/big.tsv.gz"

snapshot() { # the end state, in a canonical order
  sqlite3 "$1" "SELECT url, caption, line, source_id FROM samples ORDER BY url_hash;
                SELECT '#rejects', count(*) FROM rejects; SELECT reason, count(*) FROM rejects GROUP BY reason ORDER BY reason;
                SELECT lines_done, inserted, duplicates, rejected FROM sources" | sha256sum | cut -c1-16
}
checks() { # db -> "" when fine, else why
  [ "$(sqlite3 "$1" 'PRAGMA integrity_check')" = ok ] || { echo "integrity_check failed"; return; }
  d=$(sqlite3 "$1" 'SELECT count(*) - count(DISTINCT url) FROM samples'); [ "$d" = 0 ] || { echo "$d duplicated samples"; return; }
  d=$(sqlite3 "$1" 'SELECT count(*) FROM (SELECT line FROM rejects GROUP BY source_id, line HAVING count(*) > 1)'); [ "$d" = 0 ] || { echo "$d duplicated rejects"; return; }
  d=$(sqlite3 "$1" "SELECT count(*) FROM sqlite_master WHERE name IN ('samples_url_hash', 'samples_state')"); [ "$d" = 2 ] || echo "samples indexes missing after the last run"
}

"$OVSEG" -q init "$T/ref.db" || exit 2
t0=$(date +%s.%N)
"$OVSEG" -q ingest --columns caption,url --batch 5000 "$T/ref.db" "$T/big.tsv.gz" 2>"$T/err" || { echo "FAIL chaos_ingest_reference: ingest failed"; exit 1; }
t1=$(date +%s.%N)
ref=$(snapshot "$T/ref.db")
dur=$(echo "$t1 $t0" | awk '{ printf "%.3f", $1 - $2 }')
nref=$(sqlite3 "$T/ref.db" 'SELECT count(*) FROM samples'); rref=$(sqlite3 "$T/ref.db" 'SELECT count(*) FROM rejects')
echo "reference: $nref samples, $rref rejects in ${dur}s"

fails=0; kills=0
for trial in $(seq 1 "$TRIALS"); do
  db="$T/t$trial.db"; rm -f "$db"*
  "$OVSEG" -q init "$db"
  k=0; runs=0
  while :; do
    runs=$((runs + 1))
    "$OVSEG" -q ingest --columns caption,url --batch 5000 "$db" "$T/big.tsv.gz" >/dev/null 2>"$T/err" &
    pid=$!
    if [ "$k" -lt "$KILLS" ]; then
      # a random moment within the reference run's duration (seeded by trial and kill)
      w=$(awk -v s="$trial$k" -v k="$k" -v d="$dur" 'BEGIN { srand(s); printf "%.3f", rand() * d * (k == 0 ? 1.0 : 0.5) }')
      sleep "$w"
      k=$((k + 1)); kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
      wait "$pid" 2>/dev/null
      continue
    fi
    wait "$pid" || { echo "FAIL chaos_ingest_trial_$trial: restart failed: $(tail -c 300 "$T/err")"; fails=$((fails + 1)); break; }
    why=$(checks "$db")
    got=$(snapshot "$db")
    if [ -n "$why" ]; then echo "FAIL chaos_ingest_trial_$trial: $why"; fails=$((fails + 1))
    elif [ "$got" != "$ref" ]; then echo "FAIL chaos_ingest_trial_$trial: end state differs from the uninterrupted run ($(sqlite3 "$db" 'SELECT count(*) FROM samples') samples, $(sqlite3 "$db" 'SELECT count(*) FROM rejects') rejects)"; fails=$((fails + 1))
    else echo "PASS chaos_ingest_trial_$trial: $k kill moments, $runs runs, $nref samples, $rref rejects, integrity ok"; fi
    break
  done
  rm -f "$db"*
done
echo "chaos_ingest: $TRIALS trials, $kills kill -9 sent to a running ingest, $fails failed"
[ "$fails" -eq 0 ]
