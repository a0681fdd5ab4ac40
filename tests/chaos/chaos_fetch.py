"""chaos_fetch.py — kill -9 `ovseg fetch` at random moments of a crawl, restart it each time, and
check that the end state equals an uninterrupted crawl: the same set of ok samples (and the same
state for every row), no key in two shards, shards holding exactly the ok samples, no .tmp left,
PRAGMA integrity_check ok.

    .venv/bin/python tests/chaos/chaos_fetch.py [TRIALS] [KILLS_PER_TRIAL]   (defaults 20, 3)
Used by tests/test_fetch_kill.py (5 trials) and tests/chaos/chaos_fetch.sh (`make chaos`)."""
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fetchlib  # noqa: E402
from harness import OVSEG  # noqa: E402

FLAGS = ["--shard-size", "7", "--workers", "8", "--per-host", "8", "--threads", "1", "--image-size", "128"]


def setup(n_images=int(os.environ.get("OVSEG_CHAOS_IMAGES", "120"))):
    t = fetchlib.tmp("ovseg-chaos-")
    imgs = os.path.join(t, "img")
    names = fetchlib.fast_images(imgs, n_images, 480, 360)
    fetchlib.make_images(imgs, 0)  # small.jpg, wide.jpg, rotated.jpg
    ng = fetchlib.Nginx(imgs, t)
    rows = [(ng.url(n), f"caption {i}") for i, n in enumerate(names)]
    for i in range(0, len(rows), 10):  # failures interleaved: 404, too_small
        rows.insert(i, (ng.url(f"gone{i}.jpg"), "gone") if i % 20 else (ng.url(f"small.jpg?{i}"), "small"))
    base = os.path.join(t, "base.db")
    fetchlib.make_db(base, rows)
    return t, ng, base


def reference(t, base):
    db = os.path.join(t, "ref.db")
    shutil.copy(base, db)
    t0 = time.time()
    fetchlib.fetch(db, os.path.join(t, "ref"), *FLAGS)
    return fetchlib.states(db), time.time() - t0


def check_end_state(db, out, ref_states):
    st = fetchlib.states(db)
    diff = [(k, st.get(k), v) for k, v in ref_states.items() if st.get(k) != v]
    assert not diff, f"states differ from the uninterrupted crawl: {diff[:5]}"
    files = os.listdir(out)
    assert not [f for f in files if f.endswith(".tmp")], f"left .tmp: {files}"
    keys = fetchlib.shard_keys(out)
    allkeys = [k for ks in keys.values() for k in ks]
    assert len(allkeys) == len(set(allkeys)), "a key is in two shards"
    ok = {i for i, s in st.items() if s[0] == "ok"}
    assert {int(k) for k in allkeys} == ok, "shards do not hold exactly the ok samples"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for sid, path, off in con.execute("SELECT s.id, sh.path, s.member_offset FROM samples s"
                                      " JOIN shards sh ON sh.id = s.shard_id"):
        with tarfile.open(os.path.join(out, path)) as tf:
            m = tf.getmember(f"{sid:09d}.webp")
            assert m.offset == off, (sid, path, off)
    n_db = con.execute("SELECT count(*) FROM shards").fetchone()[0]
    assert n_db == len(keys), f"{n_db} shard rows, {len(keys)} files"
    con.close()


def trial(t, base, ref_states, duration, kills, rng, k):
    db = os.path.join(t, f"trial{k}.db")
    out = os.path.join(t, f"trial{k}")
    shutil.copy(base, db)
    moments = []
    for _ in range(kills):
        p = subprocess.Popen([OVSEG, "fetch", db, "--out", out, *FLAGS], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        at = rng.uniform(0.02, duration)
        time.sleep(at)
        p.send_signal(signal.SIGKILL)
        p.wait()
        st = fetchlib.states(db)
        moments.append(f"{at:.2f}s:{sum(v[0] == 'ok' for v in st.values())}ok/"
                       f"{sum(v[0] != 'pending' for v in st.values())}done")
    fetchlib.fetch(db, out, *FLAGS)
    check_end_state(db, out, ref_states)
    shutil.rmtree(out)
    return moments


def run(trials=20, kills=3, seed=None):
    t, ng, base = setup()
    try:
        ref_states, duration = reference(t, base)
        n_ok = sum(s[0] == "ok" for s in ref_states.values())
        print(f"  uninterrupted crawl: {len(ref_states)} samples, {n_ok} ok, {duration:.2f} s")
        rng = random.Random(seed if seed is not None else time.time_ns())
        for k in range(trials):
            moments = trial(t, base, ref_states, duration, kills, rng, k)
            print(f"  trial {k + 1}/{trials}: killed at {', '.join(moments)} (db state after each kill);"
                  " resumed: same end state")
    finally:
        ng.stop()
        shutil.rmtree(t, ignore_errors=True)


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 20, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    print("PASS chaos_fetch_kill9_resume")
    print(f"chaos_fetch: {int(sys.argv[1]) if len(sys.argv) > 1 else 20} trials, same end state after every resume")
