# test_subset.sh — `ovseg entities` + `ovseg subset` through the CLI: members contain a chosen
# entity, captions naming no entity are excluded, --require-ok keeps crawled samples only,
# --entities FILE, replacing a subset, errors, and the stats queries.
. tests/lib.sh
db="$T/s.db"
$OVSEG init "$db" 2>/dev/null
{
  echo "BEGIN; INSERT INTO sources(id, path, columns) VALUES(1, 'caps.tsv', 'caption,url');"
  awk -F'\t' 'NR <= 1200 { gsub(/\047/, "\047\047"); st = (NR % 3 == 0) ? "ok" : "pending";
    printf "INSERT INTO samples(url, url_hash, caption, source_id, line, state) VALUES(\047%s\047, %d, \047%s\047, 1, %d, \047%s\047);\n", $2, NR, $1, NR, st }' \
    "${OVSEG_SHARED:-../shared}/data/cc3m-val-captions-odd.tsv"
  # captions that name no entity
  echo "INSERT INTO samples(url, url_hash, caption, source_id, line, state) VALUES('http://x/1', 900001, '!!! ...', 1, 9001, 'ok');"
  echo "INSERT INTO samples(url, url_hash, caption, source_id, line, state) VALUES('http://x/2', 900002, 'stock vector illustration', 1, 9002, 'ok');"
  echo "INSERT INTO samples(url, url_hash, caption, source_id, line, state) VALUES('http://x/3', 900003, 'how to do it', 1, 9003, 'ok');"
  echo "COMMIT;"
} | sqlite3 "$db"

$OVSEG entities "$db" 2>"$T/err" && grep -q "1203 samples processed" "$T/err" \
  && pass subset_setup_entities_processed || fail subset_setup_entities_processed "$(cat "$T/err")"

$OVSEG subset "$db" --name cc4m --top 20 >"$T/out" 2>"$T/err" || fail subset_top_runs "$(cat "$T/err")"
n=$(sqlite3 "$db" "SELECT count(*) FROM subset_entities x JOIN subsets s ON s.id = x.subset_id WHERE s.name = 'cc4m'")
[ "$n" = 20 ] && pass subset_top_keeps_k_entities || fail subset_top_keeps_k_entities "$n entities"
bad=$(sqlite3 "$db" "SELECT count(*) FROM subset_members m JOIN subsets s ON s.id = m.subset_id AND s.name = 'cc4m'
  WHERE NOT EXISTS (SELECT 1 FROM sample_entities se JOIN subset_entities x ON x.entity_id = se.entity_id AND x.subset_id = m.subset_id
                    WHERE se.sample_id = m.sample_id)")
[ "$bad" = 0 ] && pass subset_members_contain_a_chosen_entity || fail subset_members_contain_a_chosen_entity "$bad members without"
want=$(sqlite3 "$db" "SELECT count(DISTINCT se.sample_id) FROM sample_entities se JOIN entities e ON e.id = se.entity_id
  WHERE e.id IN (SELECT id FROM entities ORDER BY samples DESC, name LIMIT 20)")
got=$(sqlite3 "$db" "SELECT members FROM subsets WHERE name = 'cc4m'")
[ "$want" = "$got" ] && pass subset_members_are_all_samples_with_an_entity || fail subset_members_are_all_samples_with_an_entity "$got vs $want"
none=$(sqlite3 "$db" "SELECT count(*) FROM subset_members WHERE sample_id IN (SELECT id FROM samples WHERE url LIKE 'http://x/%')")
[ "$none" = 0 ] && pass subset_excludes_captions_without_entities || fail subset_excludes_captions_without_entities "$none"
grep -q "subset cc4m: $got members of 1203 processed samples" "$T/out" && grep -q "people" "$T/out" \
  && pass subset_prints_summary || fail subset_prints_summary "$(head -3 "$T/out")"

! grep -q "entities are in any sample" "$T/err" && $OVSEG subset "$db" --name all --top 100000 >"$T/out" 2>"$T/err" \
  && grep -q -- "--top 100000: only [0-9]* entities are in any sample" "$T/err" \
  && pass subset_top_beyond_all_entities_warns || fail subset_top_beyond_all_entities_warns "$(cat "$T/err")"

$OVSEG subset "$db" --name crawled --top 20 --require-ok >"$T/out" 2>"$T/err"
notok=$(sqlite3 "$db" "SELECT count(*) FROM subset_members m JOIN samples s ON s.id = m.sample_id
  WHERE m.subset_id = (SELECT id FROM subsets WHERE name = 'crawled') AND s.state <> 'ok'")
cnt=$(sqlite3 "$db" "SELECT members FROM subsets WHERE name = 'crawled'")
[ "$notok" = 0 ] && [ "$cnt" -gt 50 ] && pass subset_require_ok_keeps_crawled_only || fail subset_require_ok_keeps_crawled_only "$notok not ok, $cnt members"

printf '# pets\ndog\ncat\n\nno-such-entity\n' > "$T/list"
$OVSEG subset "$db" --name pets --entities "$T/list" >"$T/out" 2>"$T/err"
ents=$(sqlite3 "$db" "SELECT group_concat(e.name) FROM (SELECT e.name FROM subset_entities x JOIN entities e ON e.id = x.entity_id
  WHERE x.subset_id = (SELECT id FROM subsets WHERE name = 'pets') ORDER BY x.rank) e")
[ "$ents" = "dog,cat" ] && grep -q "list:5: entity 'no-such-entity'" "$T/err" \
  && pass subset_entities_file_in_order_warns_unknown || fail subset_entities_file_in_order_warns_unknown "$ents / $(cat "$T/err")"

before=$(sqlite3 "$db" "SELECT count(*) FROM subsets")
$OVSEG subset "$db" --name pets --top 3 >/dev/null 2>&1
after=$(sqlite3 "$db" "SELECT count(*) FROM subsets")
k=$(sqlite3 "$db" "SELECT count(*) FROM subset_entities WHERE subset_id = (SELECT id FROM subsets WHERE name = 'pets')")
[ "$before" = "$after" ] && [ "$k" = 3 ] && pass subset_same_name_replaces || fail subset_same_name_replaces "$before/$after subsets, $k entities"

expect_fail subset_requires_name 1 "--name is required" -- $OVSEG subset "$db" --top 5
expect_fail subset_missing_file_named 1 "$T/nope.txt" -- $OVSEG subset "$db" --name x --entities "$T/nope.txt"
$OVSEG init "$T/empty.db" 2>/dev/null
expect_fail subset_without_entities_says_run_entities 1 "ovseg entities" -- $OVSEG subset "$T/empty.db" --name x

$OVSEG stats "$db" entities > "$T/stats" && grep -q "== entities_top" "$T/stats" && grep -q "== entities_cooccurrence" "$T/stats" \
  && $OVSEG stats "$db" subset | grep -q "== subset_entities" && pass subset_stats_queries_print || fail subset_stats_queries_print "$(head -5 "$T/stats")"
finish
