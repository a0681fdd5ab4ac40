"""chaos_diskfull.py — disk full and read-only output folders for `ovseg fetch` and `ovseg shard`.
A 300 KB tmpfs fills up part-way; a read-only tmpfs refuses the first write. Each must exit non-zero
with a message naming the file and the cause, leave no .tmp, keep the database consistent (nothing
recorded that is not on disk), and a rerun with room must finish the job."""
import os
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fetchlib  # noqa: E402
import shard_fixture  # noqa: E402
from harness import OVSEG  # noqa: E402

results = []


def check(name, cond, why=""):
    print(f"PASS {name}" if cond else f"FAIL {name}: {why}")
    if cond and "_fails_" in name:  # the message the user sees
        print("     " + why.strip().splitlines()[-1])
    results.append(cond)


def mount(path, opts):
    os.makedirs(path, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], capture_output=True).returncode == 0


def umount(path):
    subprocess.run(["umount", path], capture_output=True)


def no_tmp(folder):
    return [f for f in os.listdir(folder) if f.endswith(".tmp")] if os.path.isdir(folder) else []


def shard_cases(t):
    d = os.path.join(t, "fx")
    os.makedirs(d)
    db = shard_fixture.build(d, n=200, size=128)
    full, ro = os.path.join(t, "full"), os.path.join(t, "ro")
    if not mount(full, "size=300k"):
        print("SKIP diskfull_shard: cannot mount a tmpfs (not root?)")
        return
    try:
        p = subprocess.run([OVSEG, "shard", db, "--subset", "cc4m", "--out", full, "--shard-size", "50"],
                           capture_output=True, text=True)
        check("diskfull_shard_fails_naming_file", p.returncode == 1 and "No space left on device" in p.stderr
              and "train-00000" in p.stderr, f"exit {p.returncode}: {p.stderr[-300:]}")
        check("diskfull_shard_leaves_no_tmp", not no_tmp(full), str(no_tmp(full)))
        con = sqlite3.connect(db)
        rows = [r[0] for r in con.execute("SELECT path FROM shards WHERE kind='train'")]
        on_disk = all(os.path.exists(r if os.path.isabs(r) else os.path.join(os.getcwd(), r)) for r in rows)
        check("diskfull_shard_records_only_written_shards", on_disk, f"rows {rows}")
        con.close()
    finally:
        umount(full)
    p = subprocess.run([OVSEG, "shard", db, "--subset", "cc4m", "--out", full, "--shard-size", "50"],
                       capture_output=True, text=True)
    n = sqlite3.connect(db).execute("SELECT count(*) FROM train_members").fetchone()[0]
    check("diskfull_shard_rerun_with_room_finishes", p.returncode == 0 and n == 200, f"exit {p.returncode}, {n} members: {p.stderr[-300:]}")
    train_cases(t, full)
    if mount(ro, "ro,size=1m"):
        try:
            p = subprocess.run([OVSEG, "shard", db, "--subset", "cc4m", "--out", ro, "--seed", "3"], capture_output=True, text=True)
            check("readonly_shard_fails_naming_file", p.returncode == 1 and f"{ro}/train-000000.tar.tmp: Read-only file system" in p.stderr,
                  f"exit {p.returncode}: {p.stderr[-300:]}")
            p = subprocess.run([OVSEG, "shard", db, "--subset", "cc4m", "--out", ro + "/sub"], capture_output=True, text=True)
            check("readonly_shard_mkdir_fails_naming_folder", p.returncode == 1 and f"mkdir {ro}/sub: Read-only file system" in p.stderr,
                  f"exit {p.returncode}: {p.stderr[-300:]}")
        finally:
            umount(ro)


def train_cases(t, shards):
    """Checkpoints into a 1 MB tmpfs (a checkpoint pair of the small model is about 24 MB)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import chaos_train
    cfg = os.path.join(t, "small.cfg")
    with open(cfg, "w") as f:
        f.write(chaos_train.SMALL)
    run = os.path.join(t, "trun")
    if not mount(run, "size=1m"):
        print("SKIP diskfull_train: cannot mount a tmpfs (not root?)")
        return
    try:
        p = subprocess.run([OVSEG, "train", "--config", cfg, "--shards", shards + "/*.tar", "--run", run, "--steps", "2",
                            "--batch", "4", "--threads", "1", "--ckpt-every", "1", "--vocab", chaos_train.VOCAB],
                           capture_output=True, text=True)
        check("diskfull_train_checkpoint_fails_naming_file", p.returncode == 1 and "No space left on device" in p.stderr
              and f"{run}/state-00000001.safetensors.tmp" in p.stderr, f"exit {p.returncode}: {p.stderr[-300:]}")
        check("diskfull_train_leaves_no_tmp_and_no_half_pair", not no_tmp(run)
              and not [n for n in os.listdir(run) if n.startswith("ckpt-")], str(os.listdir(run)))
    finally:
        umount(run)


def db_cases(t):
    """A database on a 1 MB tmpfs (an empty database of 16 KiB pages takes 416 KB): ingest fills it; the error names the database, the file stays intact."""
    d = os.path.join(t, "dbfull")
    if not mount(d, "size=1m"):
        print("SKIP diskfull_db: cannot mount a tmpfs (not root?)")
        return
    try:
        db = os.path.join(d, "x.db")
        subprocess.run([OVSEG, "-q", "init", db], check=True)
        src = os.path.join(os.environ.get("OVSEG_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared")),
                           "data/cc3m-val-captions-odd.tsv")
        p = subprocess.run([OVSEG, "ingest", "--columns", "caption,url", "--batch", "500", db, src], capture_output=True, text=True)
        check("diskfull_ingest_db_fails_naming_database", p.returncode == 1 and db in p.stderr
              and "full" in p.stderr, f"exit {p.returncode}: {p.stderr[-300:]}")
        con = sqlite3.connect(db)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        n, lines = con.execute("SELECT (SELECT count(*) FROM samples), (SELECT coalesce(sum(lines_done), 0) FROM sources)").fetchone()
        con.close()
        check("diskfull_ingest_db_intact_and_consistent", ok == "ok" and n == lines, f"integrity {ok}, {n} samples, {lines} lines done")
    finally:
        umount(d)


def fetch_cases(t):
    imgs = os.path.join(t, "img")
    names = fetchlib.fast_images(imgs, 60, 480, 360)
    ng = fetchlib.Nginx(imgs, t)
    try:
        db = os.path.join(t, "f.db")
        fetchlib.make_db(db, [(ng.url(n), f"caption {i}") for i, n in enumerate(names)])
        full, ro = os.path.join(t, "ffull"), os.path.join(t, "fro")
        if not mount(full, "size=300k"):
            print("SKIP diskfull_fetch: cannot mount a tmpfs (not root?)")
            return
        try:
            p = fetchlib.fetch(db, full, "--shard-size", "10", "--workers", "8", "--threads", "1", check=False)
            check("diskfull_fetch_fails_naming_file", p.returncode == 1 and "No space left on device" in p.stderr,
                  f"exit {p.returncode}: {p.stderr[-300:]}")
            check("diskfull_fetch_leaves_no_tmp", not no_tmp(full), str(no_tmp(full)))
            con = sqlite3.connect(db)
            check("diskfull_fetch_db_intact", con.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
            missing = [r[0] for r in con.execute("SELECT path FROM shards WHERE kind='raw'")
                       if not os.path.exists(os.path.join(full, os.path.basename(r[0])))]
            check("diskfull_fetch_records_only_written_shards", not missing, f"recorded but absent: {missing}")
            con.close()
            kept = sorted(os.listdir(full))
        finally:
            umount(full)
        os.makedirs(full, exist_ok=True)
        # the shards written before the disk filled were on the tmpfs: copy nothing, rerun into the (now
        # plain) folder: samples recorded as ok point at shards that are gone, so check only that the
        # rerun completes and every pending sample is done
        p = fetchlib.fetch(db, full, "--shard-size", "10", "--workers", "8", "--threads", "1", check=False)
        pending = sqlite3.connect(db).execute("SELECT count(*) FROM samples WHERE state='pending'").fetchone()[0]
        check("diskfull_fetch_rerun_with_room_finishes", p.returncode == 0 and pending == 0,
              f"exit {p.returncode}, {pending} pending (kept {kept}): {p.stderr[-300:]}")
        if mount(ro, "ro,size=1m"):
            try:
                db2 = os.path.join(t, "f2.db")
                fetchlib.make_db(db2, [(ng.url(n), f"caption {i}") for i, n in enumerate(names[:5])])
                p = fetchlib.fetch(db2, ro, "--shard-size", "10", check=False)
                check("readonly_fetch_fails_naming_folder", p.returncode == 1 and "Read-only file system" in p.stderr
                      and ro in p.stderr, f"exit {p.returncode}: {p.stderr[-300:]}")
                st = sqlite3.connect(db2).execute("SELECT count(*) FROM samples WHERE state='ok'").fetchone()[0]
                check("readonly_fetch_records_nothing_ok", st == 0, f"{st} ok samples with nowhere to store them")
            finally:
                umount(ro)
    finally:
        ng.stop()


def main():
    t = fetchlib.tmp("ovseg-chaos-diskfull-")
    try:
        shard_cases(t)
        fetch_cases(t)
        db_cases(t)
    finally:
        for m in ("full", "ro", "ffull", "fro", "trun", "dbfull"):
            umount(os.path.join(t, m))
        shutil.rmtree(t, ignore_errors=True)
    print(f"chaos_diskfull: {len(results)} checks, {results.count(False)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
