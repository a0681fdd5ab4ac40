# test_security.sh — security properties checked on the sources and through the CLI:
# no shell or program is ever started from library/verb code (so no caption or URL reaches a shell),
# SQL text is never built from data (only compile-time constants and integers; data goes through bound
# parameters), URLs other than http/https never become samples (ingest), and captions full of shell
# and SQL metacharacters are stored byte for byte. Redirects to other schemes: test_fetch_faults.py
# (/file -> redirect); tar names with .. or absolute paths: test_tarread.c, test_security.c.
. tests/lib.sh
SRC="util db ingest entities shards train eval ovseg.c"

hits=$(grep -rnE '\b(system|popen|execl|execlp|execle|execv|execvp|execvpe|fexecve|posix_spawnp?|fork|vfork|wordexp)[[:space:]]*\(' \
  --include=*.c --include=*.h $SRC | grep -v '^\S*:[0-9]*:\s*/\?\*' |
  grep -v '^ovseg.c:[0-9]*:\s*execv("/proc/self/exe", argv);' || true)
# the one exec allowed: ovseg.c re-executes itself, same argv, once, to set OMP_WAIT_POLICY
[ -z "$hits" ] && pass security_no_shell_or_exec_in_ovseg_code || fail security_no_shell_or_exec_in_ovseg_code "$hits"

# printf-built SQL: every format string holding SQL and a %s must match one of these (what fills the %s):
#   db/db.c created_at: a timestamp from ovs_iso_time; merge.c FROM %s.meta: the constant "main" or "part";
#   merge.c SET (%s / %s, shard_id: a constant column list. Integers (%lld) are not data from outside.
sqlfmt=$(grep -rnE '"[^"]*\b(SELECT|INSERT|UPDATE|DELETE|WHERE|VALUES|ATTACH|PRAGMA)\b[^"]*%[-0-9.]*[sqQ]' --include=*.c $SRC || true)
bad=$(printf '%s\n' "$sqlfmt" | grep -v -e '^db/db.c:.*created_at' -e '^ingest/merge.c:.*FROM %s\.meta' \
  -e '^ingest/merge.c:.*SET (%s' -e '^ingest/merge.c:.*%s, shard_id, member_offset' -e '^$' || true)
[ -z "$bad" ] && pass security_sql_text_never_built_from_data || fail security_sql_text_never_built_from_data "unlisted printf-built SQL: $bad"

$OVSEG init "$T/a.db" 2>/dev/null
{
  printf 'http://ok.example/1.jpg\t$(touch %s/pwned); `id`; DROP TABLE samples; --\n' "$T"
  printf "http://ok.example/2.jpg\tRobert'); DROP TABLE samples;-- & | > /tmp/x \\\\ \\\"\n"
  for u in file:///etc/passwd ftp://h/x.jpg gopher://h/x 'javascript:alert(1)' data:image/png,AAAA \
           ldap://h/x //h/x.jpg hxxp://h/x.jpg 'http:/h/x.jpg' 'http:\\h\x.jpg' ' http://h/x.jpg'; do
    printf '%s\ta caption\n' "$u"
  done
} > "$T/in.tsv"
$OVSEG -q ingest "$T/a.db" "$T/in.tsv" 2>"$T/err"
n=$(sqlite3 "$T/a.db" "SELECT count(*) FROM samples")
urls=$(sqlite3 "$T/a.db" "SELECT group_concat(url, ' ') FROM samples")
[ "$n" = 2 ] && [ "$urls" = "http://ok.example/1.jpg http://ok.example/2.jpg" ] && pass security_ingest_keeps_only_http_and_https_urls \
  || fail security_ingest_keeps_only_http_and_https_urls "$n samples: $urls"
r=$(sqlite3 "$T/a.db" "SELECT count(*) FROM rejects")
[ "$r" = 11 ] && pass security_ingest_rejects_every_other_scheme || fail security_ingest_rejects_every_other_scheme "$r rejects: $(sqlite3 "$T/a.db" 'SELECT line, reason FROM rejects')"
want=$(sed -n 1p "$T/in.tsv" | cut -f2-)
got=$(sqlite3 "$T/a.db" "SELECT caption FROM samples WHERE url = 'http://ok.example/1.jpg'")
[ "$got" = "$want" ] && [ ! -e "$T/pwned" ] && pass security_shell_and_sql_metacharacters_stored_verbatim \
  || fail security_shell_and_sql_metacharacters_stored_verbatim "got '$got'"
finish
