# test_entities_cli.sh — the `ovseg entities` verb: --explain, --export, runs log, flags and errors.
. tests/lib.sh
out=$($OVSEG entities --explain "a dog on the beach" 2>&1)
case "$out" in *"dog/N"*"beach/N"*"dog[2,5)"*) pass entities_cli_explain;; *) fail entities_cli_explain "$out";; esac
db="$T/e.db"
$OVSEG init "$db" 2>/dev/null
sqlite3 "$db" "INSERT INTO sources(id, path, columns) VALUES(1, 'x', 'caption,url');
  INSERT INTO samples(url, url_hash, caption, source_id, line) VALUES('http://a/1', 1, 'two dogs and a cat', 1, 1),
  ('http://a/2', 2, '!!!', 1, 2), ('http://a/3', 3, 'a man on a bike', 1, 3),
  ('http://a/4', 4, 'a cat' || char(9) || 'tab' || char(10) || 'line', 1, 4);"
$OVSEG entities "$db" --export "$T/x.tsv" 2>/dev/null
printf 'http://a/1\ttwo dogs and a cat\tcat,dog\nhttp://a/2\t!!!\t\nhttp://a/3\ta man on a bike\tbicycle,people\nhttp://a/4\ta cat tab line\tline\n' > "$T/want"
cmp -s "$T/x.tsv" "$T/want" && pass entities_cli_export_format || fail entities_cli_export_format "$(cat "$T/x.tsv")"
st=$(sqlite3 "$db" "SELECT status || ' ' || json_extract(counts, '$.processed') FROM runs WHERE verb = 'entities'")
[ "$st" = "ok 4" ] && pass entities_cli_records_run || fail entities_cli_records_run "$st"
$OVSEG entities "$db" 2>"$T/err"; grep -q " 0 samples processed" "$T/err" && pass entities_cli_second_run_no_work || fail entities_cli_second_run_no_work "$(cat "$T/err")"
expect_fail entities_cli_needs_db 1 "missing DB" -- $OVSEG entities
expect_fail entities_cli_bad_wordnet 1 "$T/nown/index.noun" -- $OVSEG entities "$db" --wordnet "$T/nown"
expect_fail entities_cli_bad_rules_dir 1 "$T/norules/rules.txt" -- $OVSEG entities "$db" --rules "$T/norules"
expect_fail entities_cli_export_unwritable 1 "--export" -- $OVSEG entities "$db" --export "$T/no/dir/x.tsv"
# kill -9 in the middle: the next run finishes the work and the result equals a run never killed
k="$T/k.db"; $OVSEG init "$k" 2>/dev/null
{ echo "BEGIN; INSERT INTO sources(id, path, columns) VALUES(1, 'x', 'caption,url');"
  for r in 0 1 2; do awk -F'\t' -v r=$r '{ gsub(/\047/, "\047\047");
    printf "INSERT INTO samples(url, url_hash, caption, source_id, line) VALUES(\047%s#%d\047, %d, \047%s\047, 1, %d);\n", $2, r, r * 100000 + NR, $1, NR }' \
    "${OVSEG_SHARED:-../shared}/data/cc3m-val-captions-odd.tsv"; done
  echo "COMMIT;"; } | sqlite3 "$k"
cp "$k" "$T/k2.db"
$OVSEG entities "$k" --batch 500 2>/dev/null & pid=$!
sleep 0.4; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
part=$(sqlite3 "$k" "SELECT count(*) FROM samples WHERE entities_version IS NOT NULL")
$OVSEG entities "$k" 2>/dev/null; $OVSEG entities "$T/k2.db" 2>/dev/null
dump() { sqlite3 "$1" "SELECT name, occurrences, samples FROM entities WHERE samples > 0 ORDER BY name;
  SELECT s.line, s.url, se.start, se.end, e.name FROM sample_entities se JOIN samples s ON s.id = se.sample_id
  JOIN entities e ON e.id = se.entity_id ORDER BY s.id, se.start; SELECT count(*) FROM samples WHERE entities_version IS NULL"; }
dump "$k" > "$T/d1"; dump "$T/k2.db" > "$T/d2"
echo "  (killed with $part of 23751 samples done)"
cmp -s "$T/d1" "$T/d2" && pass entities_cli_kill9_resumes_to_same_result \
  || fail entities_cli_kill9_resumes_to_same_result "differs from an uninterrupted run"
finish
