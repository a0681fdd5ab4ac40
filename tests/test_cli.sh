# test_cli.sh — the ovseg binary's verbs, help, version and exit codes.
. tests/lib.sh
v=$($OVSEG --version) && case "$v" in "ovseg "*) pass cli_version;; *) fail cli_version "$v";; esac
$OVSEG --help | grep -q "verbs:" && pass cli_help_lists_verbs || fail cli_help_lists_verbs "no verb list"
ok=1
for verb in init ingest stats synth fetch merge entities subset pairs shard vocab train embed eval; do
  $OVSEG $verb --help >/dev/null 2>&1 || { rc=$?; [ $rc -eq 2 ] && continue; ok=0; echo "  $verb --help exited $rc"; }
done
[ $ok = 1 ] && pass cli_every_verb_has_help || fail cli_every_verb_has_help "see above"
expect_fail cli_unknown_verb_exits_1 1 "unknown verb 'frobnicate'" -- $OVSEG frobnicate
expect_fail cli_unknown_flag_names_it 1 "--bogus" -- $OVSEG init --bogus x.db
$OVSEG init "$T/a.db" 2>/dev/null && pass cli_init_creates_db || fail cli_init_creates_db "exit $?"
expect_fail cli_init_unwritable_path 1 "$T/no/such/dir/a.db" -- $OVSEG init "$T/no/such/dir/a.db"
expect_fail cli_stats_on_directory 1 "is a directory" -- $OVSEG stats "$T"
$OVSEG stats "$T/a.db" | grep -q "== crawl_status" && pass cli_stats_prints_saved_queries || fail cli_stats_prints_saved_queries "no crawl_status"
finish
