# test_synth.sh — `ovseg synth` trees (byte-identical per seed with 1 or all threads, different across seeds, re-runs
# leave no stale file, foreign folders refused) and tests/serve-synth.sh (real nginx on a free
# port: curl gets the intended answer for every row kind; stop leaves no process behind).
. tests/lib.sh
small="--n 300 --eval-n 20 --tune-n 10 --max-side 400"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port/
# stop the server even when the test dies half-way
trap 'sh tests/serve-synth.sh stop "$T/a" >/dev/null 2>&1; [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"' EXIT
tree() { (cd "$1" && find . -type f ! -path './nginx/*' | LC_ALL=C sort | xargs sha256sum); }

$OVSEG synth --out "$T/a" $small --seed 1 --base-url "$base" 2>/dev/null &&
  OMP_NUM_THREADS=1 $OVSEG synth --out "$T/b" $small --seed 1 --base-url "$base" 2>/dev/null &&
  $OVSEG synth --out "$T/c" $small --seed 2 --base-url "$base" 2>/dev/null || fail synth_runs "exit $?"
tree "$T/a" > "$T/a.sum"; tree "$T/b" > "$T/b.sum"; tree "$T/c" > "$T/c.sum"
nfiles=$(wc -l < "$T/a.sum")
if [ "$nfiles" -gt 250 ] && cmp -s "$T/a.sum" "$T/b.sum"; then pass synth_same_seed_gives_byte_identical_tree_any_threads
else fail synth_same_seed_gives_byte_identical_tree_any_threads "$nfiles files; $(diff "$T/a.sum" "$T/b.sum" | head -3)"; fi
if ! cmp -s "$T/a.sum" "$T/c.sum" && ! cmp -s "$T/a/cc12m-synth.tsv" "$T/c/cc12m-synth.tsv"; then
  pass synth_different_seed_gives_different_tree
else fail synth_different_seed_gives_different_tree "trees equal"; fi

rows=$(wc -l < "$T/a/cc12m-synth.tsv"); cols=$(awk -F'\t' 'NF != 2' "$T/a/cc12m-synth.tsv" | wc -l)
ev=$(wc -l < "$T/a/eval/ImageSets/Segmentation/val.txt"); tu=$(wc -l < "$T/a/eval/ImageSets/Segmentation/tune.txt")
if [ "$rows" -eq 300 ] && [ "$cols" -eq 0 ] && [ "$ev" -eq 20 ] && [ "$tu" -eq 10 ] && [ -f "$T/a/synth.json" ] &&
   [ ! -e "$T/a/.synth-in-progress" ]; then pass synth_writes_tsv_truth_and_eval_lists
else fail synth_writes_tsv_truth_and_eval_lists "rows=$rows badcols=$cols val=$ev tune=$tu"; fi

# a re-run into the same folder with fewer rows leaves exactly the fresh tree
$OVSEG synth --out "$T/c" --n 100 --eval-n 5 --tune-n 5 --max-side 400 --seed 1 --base-url "$base" 2>/dev/null
$OVSEG synth --out "$T/d" --n 100 --eval-n 5 --tune-n 5 --max-side 400 --seed 1 --base-url "$base" 2>/dev/null
if [ "$(tree "$T/c")" = "$(tree "$T/d")" ]; then pass synth_rerun_leaves_no_stale_files
else fail synth_rerun_leaves_no_stale_files "trees differ"; fi

# kill -9 mid-run, then run again: the same tree as an uninterrupted run
$OVSEG synth --out "$T/k" $small --seed 1 --base-url "$base" 2>/dev/null &
kpid=$!
sleep 0.3
kill -9 $kpid 2>/dev/null; wait $kpid 2>/dev/null
$OVSEG synth --out "$T/k" $small --seed 1 --base-url "$base" 2>/dev/null
if [ "$(tree "$T/k")" = "$(cat "$T/a.sum")" ]; then pass synth_rerun_after_kill9_gives_the_same_tree
else fail synth_rerun_after_kill9_gives_the_same_tree "trees differ"; fi

mkdir -p "$T/foreign/www"
expect_fail synth_refuses_a_foreign_folder 1 "not an ovseg synth folder" -- $OVSEG synth --out "$T/foreign" --n 10
expect_fail synth_bad_flag_is_named 1 "--max-objects" -- $OVSEG synth --out "$T/e" --max-objects 0

# the real server: one row of each kind, first answer and final answer
if sh tests/serve-synth.sh start "$T/a" "$port" >/dev/null 2>"$T/serve.err"; then
  ok=1; msg=""
  for k in ok ok_redirect http404 http410 http403 truncated corrupt html redirect404; do
    line=$(awk -F'\t' -v k="$k" '$2 == k' "$T/a/truth.tsv" | head -n 1)
    [ -n "$line" ] || { ok=0; msg="$msg no $k row;"; continue; }
    url=$(echo "$line" | cut -f1); want=$(echo "$line" | cut -f3); want1=$(echo "$line" | cut -f4)
    got1=$(curl -s -o /dev/null -w '%{http_code}' "$url")
    got=$(curl -sL -o "$T/body" -w '%{http_code}' "$url")
    [ "$got" = "$want" ] && [ "$got1" = "$want1" ] || { ok=0; msg="$msg $k: $got1/$got wanted $want1/$want;"; }
    case $k in
      ok|ok_redirect) head -c 4 "$T/body" | od -An -tx1 | grep -qE 'ff d8 ff|89 50 4e 47|52 49 46 46' || { ok=0; msg="$msg $k: not an image;"; } ;;
      html) grep -q '<!DOCTYPE html>' "$T/body" || { ok=0; msg="$msg html: no html body;"; } ;;
    esac
  done
  [ $ok = 1 ] && pass serve_synth_curl_gets_the_intended_answer_per_kind || fail serve_synth_curl_gets_the_intended_answer_per_kind "$msg"
  page=$(awk -F'\t' '$2 == "html" && $1 ~ /\/page\// {print $1; exit}' "$T/a/truth.tsv")
  ct=$(curl -s -o /dev/null -w '%{content_type}' "$page")
  case "$ct" in text/html*) pass serve_synth_page_is_served_as_text_html;; *) fail serve_synth_page_is_served_as_text_html "$page: $ct";; esac
  pid=$(cat "$T/a/nginx/nginx.pid")
  sh tests/serve-synth.sh stop "$T/a" >/dev/null 2>&1
  if ! kill -0 "$pid" 2>/dev/null && ! curl -s -o /dev/null "$base" && [ ! -e "$T/a/nginx/nginx.pid" ]; then
    pass serve_synth_stop_ends_nginx
  else fail serve_synth_stop_ends_nginx "pid $pid still alive or port answers"; fi
  grep -q "$T/a/nginx" "$T/a/nginx/nginx.conf" && ! grep -qE '/var/|/run/' "$T/a/nginx/nginx.conf" &&
    pass serve_synth_config_keeps_state_inside_the_folder || fail serve_synth_config_keeps_state_inside_the_folder "see nginx.conf"
else
  fail serve_synth_starts "$(cat "$T/serve.err")"
fi
finish
