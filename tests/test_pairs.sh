# test_pairs.sh — `ovseg pairs`: every pair shares its recorded entity (a subset entity), never
# pairs a member with itself, no partner twice, members only go unpaired when no other member
# shares an entity, same seed gives the same pairs, another seed others; errors; stats.
. tests/lib.sh
db="$T/p.db"
$OVSEG init "$db" 2>/dev/null
{
  echo "BEGIN; INSERT INTO sources(id, path, columns) VALUES(1, 'caps.tsv', 'caption,url');"
  awk -F'\t' 'NR <= 1500 { gsub(/\047/, "\047\047");
    printf "INSERT INTO samples(url, url_hash, caption, source_id, line) VALUES(\047%s\047, %d, \047%s\047, 1, %d);\n", $2, NR, $1, NR }' \
    "${OVSEG_SHARED:-../shared}/data/cc3m-val-captions-odd.tsv"
  echo "COMMIT;"
} | sqlite3 "$db"
$OVSEG entities "$db" 2>/dev/null && $OVSEG subset "$db" --name cc4m --top 40 >/dev/null 2>&1 \
  && $OVSEG pairs "$db" --subset cc4m --partners 10 --seed 7 >"$T/out" 2>"$T/err" \
  && pass pairs_runs || fail pairs_runs "$(cat "$T/err")"
q() { sqlite3 "$db" "$1"; }
sid=$(q "SELECT id FROM subsets WHERE name = 'cc4m'")
n=$(q "SELECT count(*) FROM pairs WHERE subset_id = $sid")
[ "$n" -gt 1000 ] && pass pairs_made || fail pairs_made "$n pairs"
bad=$(q "SELECT count(*) FROM pairs p WHERE p.subset_id = $sid AND (
  NOT EXISTS (SELECT 1 FROM sample_entities se WHERE se.sample_id = p.sample_id AND se.entity_id = p.entity_id)
  OR NOT EXISTS (SELECT 1 FROM sample_entities se WHERE se.sample_id = p.partner_id AND se.entity_id = p.entity_id)
  OR NOT EXISTS (SELECT 1 FROM subset_entities x WHERE x.subset_id = $sid AND x.entity_id = p.entity_id)
  OR NOT EXISTS (SELECT 1 FROM subset_members m WHERE m.subset_id = $sid AND m.sample_id = p.partner_id))")
[ "$bad" = 0 ] && pass pairs_share_their_recorded_entity || fail pairs_share_their_recorded_entity "$bad bad pairs"
self=$(q "SELECT count(*) FROM pairs WHERE sample_id = partner_id OR k < 0 OR k >= 10")
[ "$self" = 0 ] && pass pairs_never_self_k_in_range || fail pairs_never_self_k_in_range "$self"
dup=$(q "SELECT count(*) FROM (SELECT sample_id, partner_id FROM pairs WHERE subset_id = $sid GROUP BY 1, 2 HAVING count(*) > 1)")
[ "$dup" = 0 ] && pass pairs_no_partner_twice || fail pairs_no_partner_twice "$dup"
# unpaired members: none of their subset entities has another member
lonely=$(q "SELECT count(*) FROM subset_members m WHERE m.subset_id = $sid
  AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.subset_id = $sid AND p.sample_id = m.sample_id)
  AND EXISTS (SELECT 1 FROM sample_entities a JOIN subset_entities x ON x.subset_id = $sid AND x.entity_id = a.entity_id
              JOIN sample_entities b ON b.entity_id = a.entity_id AND b.sample_id <> a.sample_id
              JOIN subset_members mb ON mb.subset_id = $sid AND mb.sample_id = b.sample_id
              WHERE a.sample_id = m.sample_id)")
[ "$lonely" = 0 ] && pass pairs_every_pairable_member_paired || fail pairs_every_pairable_member_paired "$lonely"
per=$(q "SELECT sum(pairs) FROM subset_entities WHERE subset_id = $sid")
mism=$(q "SELECT count(*) FROM subset_entities x WHERE x.subset_id = $sid AND x.pairs <>
  (SELECT count(*) FROM pairs p WHERE p.subset_id = $sid AND p.entity_id = x.entity_id)")
[ "$per" = "$n" ] && [ "$mism" = 0 ] && pass pairs_counted_per_entity || fail pairs_counted_per_entity "$per vs $n, $mism mismatches"
q "SELECT sample_id, k, partner_id, entity_id FROM pairs WHERE subset_id = $sid ORDER BY 1, 2" > "$T/a"
$OVSEG pairs "$db" --subset cc4m --partners 10 --seed 7 >/dev/null 2>&1
q "SELECT sample_id, k, partner_id, entity_id FROM pairs WHERE subset_id = $sid ORDER BY 1, 2" > "$T/b"
cmp -s "$T/a" "$T/b" && pass pairs_same_seed_same_pairs || fail pairs_same_seed_same_pairs "differ"
$OVSEG pairs "$db" --subset cc4m --partners 10 --seed 8 >/dev/null 2>&1
q "SELECT sample_id, k, partner_id, entity_id FROM pairs WHERE subset_id = $sid ORDER BY 1, 2" > "$T/c"
cmp -s "$T/a" "$T/c" && fail pairs_other_seed_other_pairs "identical" || pass pairs_other_seed_other_pairs
grep -q "pairs cc4m: .* members, .* pairs" "$T/out" && pass pairs_prints_summary || fail pairs_prints_summary "$(cat "$T/out")"
# a member whose only entity one other member shares: that one is its partner, whatever the seed
q "INSERT INTO samples(url, url_hash, caption, source_id, line) VALUES('http://x/a', 990001, 'a zebra', 1, 99001), ('http://x/b', 990002, 'two zebras', 1, 99002)"
$OVSEG entities "$db" 2>/dev/null; printf 'zebra\n' > "$T/z"
$OVSEG subset "$db" --name z --entities "$T/z" >/dev/null 2>&1; $OVSEG pairs "$db" --subset z --partners 5 >/dev/null 2>&1
zp=$(q "SELECT group_concat(s.url || '>' || t.url) FROM pairs p JOIN samples s ON s.id = p.sample_id JOIN samples t ON t.id = p.partner_id
  WHERE p.subset_id = (SELECT id FROM subsets WHERE name = 'z') ORDER BY 1")
case "$zp" in *"http://x/a>http://x/b"*"http://x/b>http://x/a"*|*"http://x/b>http://x/a"*"http://x/a>http://x/b"*)
  [ "$(q "SELECT count(*) FROM pairs WHERE subset_id = (SELECT id FROM subsets WHERE name = 'z')")" = 2 ] \
    && pass pairs_up_to_n_when_few_candidates || fail pairs_up_to_n_when_few_candidates "$zp";;
  *) fail pairs_up_to_n_when_few_candidates "$zp";; esac
expect_fail pairs_unknown_subset_named 1 "--subset nope" -- $OVSEG pairs "$db" --subset nope
expect_fail pairs_bad_partners 1 "--partners" -- $OVSEG pairs "$db" --subset cc4m --partners 0
$OVSEG stats "$db" pairs | grep -q "== pairs_stats" && pass pairs_stats_query_prints || fail pairs_stats_query_prints "no pairs_stats"
finish
