"""chaos_shard.py — kill -9 `ovseg shard` at random moments, restart it each time, and check that the
end state equals an uninterrupted run: the same shard files (sha256), every shard a readable tar whose
keys are exactly its train_members rows, the manifest listing exactly the shards with their sample
counts, bytes and sha256, no sample in two shards, no .tmp left, PRAGMA integrity_check ok.

    .venv/bin/python tests/chaos/chaos_shard.py [TRIALS] [KILLS_PER_TRIAL]   (defaults 20, 3)"""
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import shard_fixture  # noqa: E402
from harness import OVSEG  # noqa: E402

N = int(os.environ.get("OVSEG_CHAOS_SAMPLES", "1500"))
FLAGS = ["--subset", "cc4m", "--shard-size", "100", "--partners-per-sample", "2", "--seed", "7"]


def run_shard(db, out):
    return subprocess.Popen([OVSEG, "-q", "shard", db, "--out", out, *FLAGS], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def end_state(t, db, out):
    """Checks the invariants; returns {shard file: sha256} for comparison with the reference."""
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check failed"
    dup = con.execute("SELECT count(*) - count(DISTINCT sample_id) FROM train_members").fetchone()[0]
    assert dup == 0, f"{dup} samples in two train shards"
    files = sorted(os.listdir(out))
    assert not [f for f in files if f.endswith(".tmp") or f.startswith(".")], f"left temporary files: {files}"
    man = json.load(open(os.path.join(out, "manifest.json")))
    listed = {s["path"]: s for s in man["shards"]}
    tars = {f for f in files if f.endswith(".tar")}
    assert set(listed) == tars, f"manifest lists {sorted(listed)[:3]}.. but the folder holds {sorted(tars)[:3]}.."
    assert man["samples"] == sum(s["samples"] for s in man["shards"]), "manifest total differs from its shards"
    sums, seen = {}, set()
    for name in sorted(tars):
        path = os.path.join(out, name)
        data = open(path, "rb").read()
        sha = hashlib.sha256(data).hexdigest()
        assert listed[name]["sha256"] == sha and listed[name]["bytes"] == len(data), f"{name}: manifest sha/bytes differ"
        with tarfile.open(path) as tf:  # readable to the end, every member complete
            keys = set()
            for m in tf:
                tf.extractfile(m).read()
                keys.add(int(m.name.split("/")[-1].split(".")[0]))
        assert len(keys) == listed[name]["samples"], f"{name}: {len(keys)} keys, manifest says {listed[name]['samples']}"
        rows = {r[0] for r in con.execute("SELECT m.sample_id FROM train_members m JOIN shards s ON s.id = m.shard_id "
                                          "WHERE s.kind = 'train' AND s.path LIKE ?", ("%" + name,))}
        assert rows == keys, f"{name}: train_members differ from the shard's keys"
        assert not keys & seen, f"{name}: a key is in two shards"
        seen |= keys
        sums[name] = sha
    n = con.execute("SELECT count(*) FROM train_members").fetchone()[0]
    assert n == len(seen), f"train_members has {n} rows, shards hold {len(seen)} samples"
    con.close()
    return sums


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    t = tempfile.mkdtemp(prefix="ovseg-chaos-shard-")
    try:
        base = os.path.join(t, "base")
        os.makedirs(base)
        shard_fixture.build(base, n=N, raw_shard=250, size=160)
        os.symlink(os.path.join(base, "raw"), os.path.join(t, "raw"))  # raw paths resolve from the db folder
        ref_db = os.path.join(t, "ref.sqlite")
        shutil.copy(os.path.join(base, "db.sqlite"), ref_db)
        t0 = time.time()
        p = run_shard(ref_db, os.path.join(t, "ref-out"))
        assert p.wait() == 0, p.stderr.read().decode()
        dur = time.time() - t0
        ref = end_state(t, ref_db, os.path.join(t, "ref-out"))
        print(f"reference: {N} samples in {len(ref)} shards in {dur:.2f}s")
        failed = landed = 0
        for trial in range(1, trials + 1):
            rng = random.Random(trial)
            db = os.path.join(t, "db.sqlite")
            out = os.path.join(t, "out")
            shutil.copy(os.path.join(base, "db.sqlite"), db)
            shutil.rmtree(out, ignore_errors=True)
            runs = 0
            try:
                for k in range(kills):
                    p = run_shard(db, out)
                    runs += 1
                    time.sleep(rng.random() * dur * (1.0 if k == 0 else 0.5))
                    if p.poll() is None:
                        p.kill()
                        landed += 1
                    p.wait()
                p = run_shard(db, out)
                runs += 1
                assert p.wait() == 0, "restart failed: " + p.stderr.read().decode()[-300:]
                got = end_state(t, db, out)
                assert got == ref, "shards differ from the uninterrupted run"
                print(f"PASS chaos_shard_trial_{trial}: {runs} runs, {len(got)} shards readable, manifest and "
                      f"train_members consistent, no duplicates, same bytes as uninterrupted")
            except AssertionError as ex:
                failed += 1
                print(f"FAIL chaos_shard_trial_{trial}: {ex}")
            for f in os.listdir(t):
                if f.startswith("db.sqlite"):
                    os.remove(os.path.join(t, f))
        print(f"chaos_shard: {trials} trials, {landed} kill -9 landed on a running shard, {failed} failed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(t, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
