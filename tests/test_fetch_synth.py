"""test_fetch_synth.py — `ovseg synth` → `ovseg ingest` → `ovseg fetch` over tests/serve-synth.sh's
nginx: the ok samples are exactly the generator's good rows (truth.tsv kinds ok, ok_redirect) and
every failing kind ends in its expected reason. Rows: $OVSEG_SYNTH_N (300; the issues' 20000-row
checks, this one included, are tests/bench/bench_synth20k.sh). Prints SKIP (and
passes nothing) where synth, ingest or the serve script are not in this tree yet."""
import os
import subprocess
import sys

import fetchlib
from harness import OVSEG, ROOT, main, test

N = int(os.environ.get("OVSEG_SYNTH_N", "300"))
SERVE = os.environ.get("OVSEG_SERVE_SYNTH", os.path.join(ROOT, "tests/serve-synth.sh"))


def available():
    for verb in ("synth", "ingest"):
        p = subprocess.run([OVSEG, verb, "--help"], capture_output=True)
        if p.returncode != 0:
            return False
    return os.path.exists(SERVE)


@test
def fetch_synth_crawl_ok_exactly_the_good_rows():
    t = fetchlib.tmp()
    syn = os.path.join(t, "syn")
    port = fetchlib.free_port()
    subprocess.run([OVSEG, "synth", "--out", syn, "--n", str(N), "--eval-n", "4", "--tune-n", "4",
                    "--base-url", f"http://127.0.0.1:{port}/"], check=True, capture_output=True)
    subprocess.run(["sh", SERVE, "start", syn, str(port)], check=True, capture_output=True)
    try:
        db = os.path.join(t, "s.db")
        subprocess.run([OVSEG, "init", db], check=True, capture_output=True)
        subprocess.run([OVSEG, "ingest", db, os.path.join(syn, "cc12m-synth.tsv")], check=True, capture_output=True)
        fetchlib.fetch(db, os.path.join(t, "out"), "--per-host", 64, "--shard-size", 1000, timeout=1800)
    finally:
        subprocess.run(["sh", SERVE, "stop", syn], capture_output=True)
    r = fetchlib.synth_crawl_outcome(syn, db)
    ok, good, got, bad = r["ok"], r["good"], r["got"], r["bad"]
    assert not bad, f"{len(bad)} rows off: {bad[:3]}"
    assert ok == good and len(r["truth"]) == N, (ok, good, len(r["truth"]))
    keys = [k for ks in fetchlib.shard_keys(os.path.join(t, "out")).values() for k in ks]
    assert len(keys) == len(set(keys)) == ok
    print(f"  synth --n {N}: {ok} ok = the {good} good rows; " +
          ", ".join(f"{k}->{r}:{n}" for (k, s, r), n in sorted(got.items()) if s != "ok"))


if available():
    main()
else:
    print("SKIP fetch_synth_crawl_ok_exactly_the_good_rows: ovseg synth/ingest or tests/serve-synth.sh not in this tree")
    sys.exit(0)
