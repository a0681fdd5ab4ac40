# test_fetch_cli.sh — `ovseg fetch` / `ovseg merge` flag errors name the flag; exit codes.
. tests/lib.sh
$OVSEG init "$T/a.db" 2>/dev/null
expect_fail fetch_requires_out 1 "--out DIR is required" -- $OVSEG fetch "$T/a.db"
expect_fail fetch_bad_resize_named 1 "--resize: 'squash'" -- $OVSEG fetch "$T/a.db" --out "$T/o" --resize squash
expect_fail fetch_bad_format_named 1 "--format: 'gif'" -- $OVSEG fetch "$T/a.db" --out "$T/o" --format gif
expect_fail fetch_bad_workers_named 1 "--workers" -- $OVSEG fetch "$T/a.db" --out "$T/o" --workers 0
expect_fail fetch_bad_max_bytes_named 1 "--max-bytes" -- $OVSEG fetch "$T/a.db" --out "$T/o" --max-bytes lots
expect_fail fetch_missing_db 1 "no such database" -- $OVSEG fetch "$T/none.db" --out "$T/o"
expect_fail fetch_out_is_a_file 1 "$T/a.db" -- $OVSEG fetch "$T/a.db" --out "$T/a.db/x"
$OVSEG fetch "$T/a.db" --out "$T/o" 2>"$T/err" && grep -q "0 of 0 samples" "$T/err" \
  && pass fetch_empty_db_is_fine || fail fetch_empty_db_is_fine "$(cat "$T/err")"
sqlite3 "$T/a.db" "SELECT status FROM runs WHERE verb='fetch'" | grep -q ok \
  && pass fetch_records_run || fail fetch_records_run "no ok runs row"
expect_fail merge_needs_a_part 1 "" -- $OVSEG merge "$T/a.db"
expect_fail merge_into_itself 1 "into itself" -- $OVSEG merge "$T/a.db" "$T/a.db"
finish
