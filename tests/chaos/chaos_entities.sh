#!/bin/sh
# chaos_entities.sh — `make chaos`: kill -9 `ovseg entities` at random moments of a run over 126,672
# samples (the 7,917 real CC3M captions, 16 URLs each), 20 trials of up to 3 kills each, restarting
# after every kill. Each trial's end state must equal an uninterrupted run's: the same (sample, entity,
# start, end) rows, the same entities counts, every sample at the current rules version, the counts
# equal to a recount from sample_entities (no lost, no doubled batch), integrity_check ok.
#   sh tests/chaos/chaos_entities.sh [TRIALS] [KILLS]
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
OVSEG=${OVSEG_BIN:-$root/ovseg}
TRIALS=${1:-20}; KILLS=${2:-3}
T=$(mktemp -d "${TMPDIR:-/tmp}/ovseg-chaos-entities-XXXXXX")
trap 'rm -rf "$T"' EXIT
src="${OVSEG_SHARED:-$root/../shared}/data/cc3m-val-captions-odd.tsv"
FLAGS="--batch 4000"

awk -F'\t' '{ for (r = 0; r < 16; r++) print $1 "\t" $2 "?r=" r }' "$src" > "$T/big.tsv"
"$OVSEG" -q init "$T/base.db" || exit 2
"$OVSEG" -q ingest --columns caption,url "$T/base.db" "$T/big.tsv" >/dev/null 2>"$T/err" || { echo "FAIL chaos_entities_setup: $(cat "$T/err")"; exit 1; }
sqlite3 "$T/base.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null

snapshot() { # the end state, in a canonical order
  sqlite3 "$1" "SELECT se.sample_id, e.name, se.start, se.end FROM sample_entities se JOIN entities e ON e.id = se.entity_id
                  ORDER BY se.sample_id, se.start;
                SELECT name, occurrences, samples FROM entities WHERE samples > 0 ORDER BY name;
                SELECT entities_version, count(*) FROM samples GROUP BY entities_version" | sha256sum | cut -c1-16
}
checks() { # db -> "" when fine, else why
  [ "$(sqlite3 "$1" 'PRAGMA integrity_check')" = ok ] || { echo "integrity_check failed"; return; }
  d=$(sqlite3 "$1" "SELECT count(*) FROM samples WHERE entities_version IS NULL OR entities_version != (SELECT entities_version FROM samples LIMIT 1)")
  [ "$d" = 0 ] || { echo "$d samples not processed with the current rules"; return; }
  d=$(sqlite3 "$1" "SELECT count(*) FROM entities e LEFT JOIN (SELECT entity_id, count(*) n, count(DISTINCT sample_id) s
                      FROM sample_entities GROUP BY entity_id) c ON c.entity_id = e.id
                    WHERE e.occurrences != coalesce(c.n, 0) OR e.samples != coalesce(c.s, 0)")
  [ "$d" = 0 ] || echo "$d entities whose counts differ from a recount of sample_entities"
}
run_entities() { "$OVSEG" -q entities $FLAGS "$1" >/dev/null 2>"$T/err"; }

cp "$T/base.db" "$T/ref.db"
t0=$(date +%s.%N)
run_entities "$T/ref.db" || { echo "FAIL chaos_entities_reference: $(cat "$T/err")"; exit 1; }
t1=$(date +%s.%N)
why=$(checks "$T/ref.db"); [ -z "$why" ] || { echo "FAIL chaos_entities_reference: $why"; exit 1; }
ref=$(snapshot "$T/ref.db")
dur=$(echo "$t1 $t0" | awk '{ printf "%.3f", $1 - $2 }')
nrows=$(sqlite3 "$T/ref.db" 'SELECT count(*) FROM sample_entities'); nsamp=$(sqlite3 "$T/ref.db" 'SELECT count(*) FROM samples')
echo "reference: $nsamp samples, $nrows entity rows in ${dur}s"

fails=0; kills=0; partial=0
for trial in $(seq 1 "$TRIALS"); do
  db="$T/t$trial.db"; rm -f "$db"*
  cp "$T/base.db" "$db"
  k=0; runs=0
  while :; do
    runs=$((runs + 1))
    "$OVSEG" -q entities $FLAGS "$db" >/dev/null 2>"$T/err" &
    pid=$!
    if [ "$k" -lt "$KILLS" ]; then
      # a random moment within the reference run's duration (seeded by trial and kill)
      w=$(awk -v s="$trial$k" -v k="$k" -v d="$dur" 'BEGIN { srand(s); printf "%.3f", rand() * d * (k == 0 ? 1.0 : 0.6) }')
      sleep "$w"
      k=$((k + 1)); kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
      wait "$pid" 2>/dev/null
      n=$(sqlite3 "$db" 'SELECT count(*) FROM samples WHERE entities_version IS NOT NULL' 2>/dev/null)
      [ "${n:-0}" -gt 0 ] && [ "${n:-0}" -lt "$nsamp" ] && partial=$((partial + 1))
      continue
    fi
    wait "$pid" || { echo "FAIL chaos_entities_trial_$trial: restart failed: $(tail -c 300 "$T/err")"; fails=$((fails + 1)); break; }
    why=$(checks "$db")
    got=$(snapshot "$db")
    if [ -n "$why" ]; then echo "FAIL chaos_entities_trial_$trial: $why"; fails=$((fails + 1))
    elif [ "$got" != "$ref" ]; then echo "FAIL chaos_entities_trial_$trial: end state differs from the uninterrupted run ($(sqlite3 "$db" 'SELECT count(*) FROM sample_entities') rows)"; fails=$((fails + 1))
    else echo "PASS chaos_entities_trial_$trial: $k kill moments, $runs runs, $nrows entity rows, counts exact, integrity ok"; fi
    break
  done
  rm -f "$db"*
done
echo "chaos_entities: $TRIALS trials, $kills kill -9 sent to a running entities, $partial left it part-way, $fails failed"
[ "$fails" -eq 0 ]
