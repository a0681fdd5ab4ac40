# test_ingest.sh — `ovseg ingest` end to end on real files: the real CC3M caption file, every
# bad-line kind, every compression (made with the real gzip/bzip2/xz/zstd tools), --part, a file
# that grows, broken inputs and databases, and kill -9 in the middle of a large ingest.
. tests/lib.sh
REAL=${OVSEG_SHARED:-../shared}/data/cc3m-val-captions-odd.tsv
q() { sqlite3 "$1" "$2"; }

# ── the real caption file: every line accounted for; a second run adds nothing ──────────────
$OVSEG init "$T/real.db" 2>/dev/null
$OVSEG ingest "$T/real.db" "$REAL" --columns caption,url >"$T/out" 2>"$T/err"; rc=$?
lines=$(wc -l <"$REAL")
got=$(q "$T/real.db" "SELECT lines_done, inserted + duplicates + rejected FROM sources")
n=$(q "$T/real.db" "SELECT count(*) FROM samples")
ins=$(q "$T/real.db" "SELECT inserted FROM sources")
if [ $rc -eq 0 ] && [ "$got" = "$lines|$lines" ] && [ "$n" = "$ins" ] && grep -q "$lines lines read" "$T/out"; then
  pass ingest_real_file_accounts_for_every_line
else fail ingest_real_file_accounts_for_every_line "rc=$rc sources=$got samples=$n/$ins out=$(cat "$T/out" "$T/err")"; fi
first=$(q "$T/real.db" "SELECT caption || '|' || url FROM samples WHERE line = 1")
want=$(head -n 1 "$REAL" | awk -F'\t' '{print $1 "|" $2}')
[ "$first" = "$want" ] && pass ingest_caption_url_columns_in_right_place || fail ingest_caption_url_columns_in_right_place "$first"
$OVSEG ingest "$T/real.db" "$REAL" --columns caption,url >"$T/out" 2>&1
n2=$(q "$T/real.db" "SELECT count(*) FROM samples")
if [ "$n2" = "$n" ] && grep -q "0 lines read (after $lines ingested before): 0 inserted" "$T/out"; then pass ingest_rerun_inserts_nothing
else fail ingest_rerun_inserts_nothing "samples $n -> $n2: $(cat "$T/out")"; fi
runs=$(q "$T/real.db" "SELECT count(*), sum(status = 'ok'), sum(counts LIKE '%\"inserted\":$n,%') FROM runs WHERE verb = 'ingest'")
[ "$runs" = "2|2|1" ] && pass ingest_records_runs_with_counts || fail ingest_records_runs_with_counts "$runs"
expect_fail ingest_refuses_other_column_order 1 "was ingested with --columns caption,url" -- $OVSEG ingest "$T/real.db" "$REAL"

# ── a file that grows: only the new lines ───────────────────────────────────────────────────
head -n 5000 "$REAL" >"$T/grow.tsv"
$OVSEG init "$T/grow.db" 2>/dev/null
$OVSEG ingest "$T/grow.db" "$T/grow.tsv" --columns caption,url >/dev/null 2>&1
tail -n +5001 "$REAL" >>"$T/grow.tsv"
$OVSEG ingest "$T/grow.db" "$T/grow.tsv" --columns caption,url >"$T/out" 2>&1
got=$(q "$T/grow.db" "SELECT count(*), min(line), max(line) FROM samples")
if grep -q "$((lines - 5000)) lines read (after 5000 ingested before)" "$T/out" && [ "$got" = "$n|1|$lines" ]; then
  pass ingest_grown_file_adds_only_new_lines
else fail ingest_grown_file_adds_only_new_lines "$got: $(cat "$T/out")"; fi

head -n 100 "$REAL" >"$T/grow.tsv"
$OVSEG ingest "$T/grow.db" "$T/grow.tsv" --columns caption,url >"$T/out" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "has 100 lines, fewer than the $lines ingested before" "$T/out" &&
   [ "$(q "$T/grow.db" "SELECT count(*), lines_done FROM samples, sources")" = "$n|$lines" ]; then pass ingest_shrunk_file_warns_adds_nothing
else fail ingest_shrunk_file_warns_adds_nothing "rc=$rc $(cat "$T/out")"; fi

# ── every bad-line kind: rejected with its reason and line number, never an abort ───────────
long() { head -c "$1" /dev/zero | tr '\0' "$2"; }
{
  printf 'http://a.example/1.jpg\tA dog on a "red" sofa\n'      # 1 ok
  printf 'no tab on this line\n'                                # 2 missing_tab
  printf '\tcaption without url\n'                              # 3 empty_url
  printf 'ftp://a.example/2.jpg\ta caption\n'                   # 4 bad_scheme
  printf 'http://a.example/%s.jpg\tlong url\n' "$(long 2100 u)" # 5 url_too_long
  printf 'http://a.example/3.jpg\t%s\n' "$(long 5000 c)"       # 6 caption_too_long
  printf 'http://a.example/4.jpg\t  \n'                         # 7 empty_caption
  printf 'http://a.example/5.jpg\tcaf\351 au lait\n'            # 8 bad_utf8
  printf 'http://a.example/6.jpg\tnul\000byte\n'                # 9 nul_byte
  printf 'http://\tno host\n'                                   # 10 bad_url
  printf '%s\n' "$(long 20000 x)"                               # 11 line_too_long
  printf 'HTTPS://a.example/7.jpg\twindows line\r\n'            # 12 ok, \r stripped
  printf 'http://a.example/1.jpg\tthe same url again\n'         # 13 duplicate
  printf '\n'                                                   # 14 missing_tab (blank)
  printf 'http://a.example/8.jpg\tcaf\303\251 with\ttab inside' # 15 ok, no final newline
} >"$T/bad.tsv"
$OVSEG init "$T/bad.db" 2>/dev/null
$OVSEG ingest "$T/bad.db" "$T/bad.tsv" >"$T/out" 2>&1; rc=$?
got=$(q "$T/bad.db" "SELECT group_concat(line || ':' || reason, ' ') FROM (SELECT * FROM rejects ORDER BY line)")
want="2:missing_tab 3:empty_url 4:bad_scheme 5:url_too_long 6:caption_too_long 7:empty_caption 8:bad_utf8 9:nul_byte 10:bad_url 11:line_too_long 14:missing_tab"
[ $rc -eq 0 ] && [ "$got" = "$want" ] && pass ingest_rejects_each_bad_kind_with_line || fail ingest_rejects_each_bad_kind_with_line "rc=$rc got '$got'"
got=$(q "$T/bad.db" "SELECT group_concat(line || '=' || caption, '|') FROM (SELECT * FROM samples ORDER BY line)")
want=$(printf '1=A dog on a "red" sofa|12=windows line|15=caf\303\251 with\ttab inside')
[ "$got" = "$want" ] && pass ingest_keeps_quotes_tabs_strips_cr || fail ingest_keeps_quotes_tabs_strips_cr "$got"
if grep -q "15 lines read: 3 inserted, 1 duplicates, 11 rejected (line_too_long 1, nul_byte 1, bad_utf8 1, missing_tab 2," "$T/out"; then
  pass ingest_summary_counts_by_reason
else fail ingest_summary_counts_by_reason "$(cat "$T/out")"; fi
$OVSEG stats "$T/bad.db" ingest >"$T/out" 2>&1
if grep -q "missing_tab  *2" "$T/out" && grep -q "bad.tsv  *url,caption  *-  *15  *3  *1  *11  *0" "$T/out"; then
  pass ingest_stats_shows_sources_and_rejects
else fail ingest_stats_shows_sources_and_rejects "$(cat "$T/out")"; fi

# ── every compression gives the same rows ───────────────────────────────────────────────────
cat "$T/bad.tsv" "$REAL" >"$T/mix.tsv"
gzip -c "$T/mix.tsv" >"$T/mix.tsv.gz"; bzip2 -c "$T/mix.tsv" >"$T/mix.tsv.bz2"
xz -1 -c "$T/mix.tsv" >"$T/mix.tsv.xz"; zstd -q -c "$T/mix.tsv" >"$T/mix.tsv.zst"
ok=1
for f in mix.tsv mix.tsv.gz mix.tsv.bz2 mix.tsv.xz mix.tsv.zst; do
  $OVSEG init "$T/$f.db" 2>/dev/null
  $OVSEG ingest "$T/$f.db" "$T/$f" >/dev/null 2>&1 || { ok=0; echo "ingest of $f failed"; }
  q "$T/$f.db" "SELECT id, url, caption, line FROM samples ORDER BY id; SELECT line, reason, excerpt FROM rejects ORDER BY line" >"$T/$f.dump"
  cmp -s "$T/mix.tsv.dump" "$T/$f.dump" || { ok=0; echo "$f differs from plain"; }
done
printf '' | gzip -c >"$T/empty.tsv.gz"; : >"$T/empty.tsv"
$OVSEG ingest "$T/mix.tsv.db" "$T/empty.tsv.gz" "$T/empty.tsv" >"$T/out" 2>&1 && grep -q "empty.tsv.gz: 0 lines read" "$T/out" ||
  { ok=0; echo "empty files: $(cat "$T/out")"; }
[ $ok = 1 ] && [ -s "$T/mix.tsv.dump" ] && pass ingest_all_compressions_give_identical_rows || fail ingest_all_compressions_give_identical_rows "see above"

# ── --part i/N: disjoint parts that make up the whole ───────────────────────────────────────
for p in 0 1; do
  $OVSEG init "$T/p$p.db" 2>/dev/null
  $OVSEG ingest "$T/p$p.db" "$REAL" --columns caption,url --part $p/2 >/dev/null 2>&1
done
got=$(q "$T/p0.db" "ATTACH '$T/p1.db' AS b; ATTACH '$T/real.db' AS w;
  SELECT (SELECT count(*) FROM main.samples), (SELECT count(*) FROM b.samples),
         (SELECT count(*) FROM main.samples WHERE url IN (SELECT url FROM b.samples)),
         (SELECT count(*) FROM w.samples WHERE url NOT IN (SELECT url FROM main.samples UNION ALL SELECT url FROM b.samples)),
         (SELECT sum(url_hash % 2 <> 0) FROM main.samples),
         (SELECT lines_done - inserted - duplicates - rejected - other_part FROM main.sources)")
c0=${got%%|*}; rest=${got#*|}; c1=${rest%%|*}
if [ "$((c0 + c1))" = "$n" ] && [ "${rest#*|}" = "0|0|0|0" ] && [ "$c0" -gt 0 ] && [ "$c1" -gt 0 ]; then pass ingest_parts_are_disjoint_and_whole
else fail ingest_parts_are_disjoint_and_whole "$got (whole $n)"; fi
expect_fail ingest_bad_part_flag 1 "--part" -- $OVSEG ingest "$T/p0.db" "$REAL" --part 2/2
expect_fail ingest_refuses_other_part 1 "was ingested with --part 0/2; use the same (now --part 1/2)" -- \
  $OVSEG ingest "$T/p0.db" "$REAL" --columns caption,url --part 1/2

# another connection holds the database open: ingest stays in WAL mode and works
$OVSEG init "$T/busy.db" 2>/dev/null
(echo "SELECT count(*) FROM samples;"; sleep 2) | sqlite3 "$T/busy.db" >/dev/null &
bpid=$!; sleep 0.3
$OVSEG ingest "$T/busy.db" "$T/grow.tsv" --columns caption,url >"$T/out" 2>&1; rc=$?
wait $bpid
got=$(q "$T/busy.db" "SELECT count(*) FROM samples; PRAGMA journal_mode" | tr '\n' ' ')
[ $rc -eq 0 ] && [ "$got" = "100 wal " ] && pass ingest_works_beside_another_connection ||
  fail ingest_works_beside_another_connection "rc=$rc $got $(cat "$T/out")"

# ── broken input and databases: clear message, exit 1, earlier rows kept ────────────────────
awk -F'\t' '{for (i = 0; i < 8; i++) printf "%s?copy=%d\t%s\n", $2, i, $1}' "$REAL" | gzip -c >"$T/trunc.tsv.gz"
size=$(wc -c <"$T/trunc.tsv.gz")
head -c $((size / 2)) "$T/trunc.tsv.gz" >"$T/cut.tsv.gz"
$OVSEG init "$T/cut.db" 2>/dev/null
$OVSEG ingest "$T/cut.db" "$T/cut.tsv.gz" --batch 5000 >/dev/null 2>"$T/err"; rc=$?
got=$(q "$T/cut.db" "SELECT lines_done, (SELECT count(*) FROM samples) FROM sources")
done_=${got%%|*}
if [ $rc -eq 1 ] && grep -q "cut.tsv.gz:$((done_ + 1)): input broken here" "$T/err" && [ "$done_" -gt 10000 ] &&
   [ "$got" = "$done_|$done_" ]; then pass ingest_truncated_gz_keeps_rows_names_line
else fail ingest_truncated_gz_keeps_rows_names_line "rc=$rc db=$got: $(cat "$T/err")"; fi
$OVSEG ingest "$T/cut.db" "$T/cut.tsv.gz" >/dev/null 2>&1
got2=$(q "$T/cut.db" "SELECT lines_done, (SELECT count(*) FROM samples) FROM sources")
[ "$got2" = "$got" ] && pass ingest_truncated_gz_rerun_adds_nothing || fail ingest_truncated_gz_rerun_adds_nothing "$got -> $got2"
expect_fail ingest_missing_file 1 "$T/nope.tsv: No such file" -- $OVSEG ingest "$T/real.db" "$REAL" "$T/nope.tsv"
expect_fail ingest_directory 1 "$T: is a directory" -- $OVSEG ingest "$T/real.db" "$T"
expect_fail ingest_missing_db 1 "$T/no/such.db" -- $OVSEG ingest "$T/no/such.db" "$REAL"
expect_fail ingest_db_is_a_directory 1 "is a directory" -- $OVSEG ingest "$T" "$REAL"
cp "$T/bad.db" "$T/ro.db"
if [ "$(id -u)" = 0 ]; then chattr +i "$T/ro.db" 2>/dev/null && ro=1 || ro=0; else chmod 444 "$T/ro.db"; ro=1; fi
if [ $ro = 1 ]; then
  expect_fail ingest_unwritable_db 1 "$T/ro.db: cannot write to the database" -- $OVSEG ingest "$T/ro.db" "$REAL" --columns caption,url
  [ "$(id -u)" = 0 ] && chattr -i "$T/ro.db"
  [ "$(q "$T/ro.db" "SELECT count(*) FROM samples")" = 3 ] && pass ingest_unwritable_db_keeps_rows || fail ingest_unwritable_db_keeps_rows "rows lost"
else echo "(skipped ingest_unwritable_db: cannot make a read-only file here)"; fi
[ "$(q "$T/real.db" "SELECT count(*) FROM samples")" = "$n" ] && pass ingest_errors_keep_earlier_rows || fail ingest_errors_keep_earlier_rows "rows changed"

# ── kill -9 in the middle of a large ingest, then again: nothing lost, nothing twice ────────
awk -F'\t' '{for (i = 0; i < 26; i++) printf "%s\t%s?k=%d\n", $1, $2, i}' "$REAL" | head -n 200000 >"$T/big.tsv"
awk 'NR % 1000 == 0' "$T/big.tsv" >>"$T/big.tsv"   # 200 duplicates at the end
total=$(wc -l <"$T/big.tsv")
ok=1
for trial in 1 2 3; do
  rm -f "$T/k.db"*; $OVSEG init "$T/k.db" 2>/dev/null
  $OVSEG ingest "$T/k.db" "$T/big.tsv" --columns caption,url --batch 10000 >/dev/null 2>&1 &
  pid=$!
  i=0   # wait for the first commits (the file grows), then a random moment more
  while [ "$(stat -c %s "$T/k.db")" -lt 2000000 ] && [ $i -lt 500 ] && kill -0 $pid 2>/dev/null; do sleep 0.01; i=$((i + 1)); done
  sleep "0.$(awk -v s="$trial$$" 'BEGIN { srand(s); printf "%02d", rand() * 40 }')"
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  before=$(q "$T/k.db" "SELECT count(*) FROM samples; SELECT count(*) FROM sqlite_master WHERE name LIKE 'samples_%'" 2>/dev/null | tr '\n' ' ')
  if [ $trial = 2 ]; then  # another verb first: it builds the index the killed bulk ingest had dropped
    $OVSEG stats "$T/k.db" >/dev/null 2>&1 || ok=0
    [ "$(q "$T/k.db" "SELECT count(*) FROM sqlite_master WHERE name IN ('samples_url_hash', 'samples_state')")" = 2 ] || ok=0
  fi
  $OVSEG ingest "$T/k.db" "$T/big.tsv" --columns caption,url >/dev/null 2>"$T/err" || { ok=0; cat "$T/err"; }
  got=$(q "$T/k.db" "PRAGMA integrity_check; SELECT count(*), count(DISTINCT url), count(DISTINCT line) FROM samples;
    SELECT lines_done, inserted, duplicates, rejected FROM sources; PRAGMA journal_mode;
    SELECT count(*) FROM sqlite_master WHERE name IN ('samples_url_hash', 'samples_state')" | tr '\n' ' ')
  echo "  trial $trial: rows, indexes at kill: $before; after: $got"
  [ "$got" = "ok 200000|200000|200000 $total|200000|200|0 wal 2 " ] || ok=0
done
[ $ok = 1 ] && pass ingest_kill9_then_resume_no_loss_no_duplicates_indexes_back || fail ingest_kill9_then_resume_no_loss_no_duplicates_indexes_back "see trials above"
finish
