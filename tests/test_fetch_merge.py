"""test_fetch_merge.py — a crawl split over two "machines" (two part databases with disjoint ids,
each fetched into its own folder) merged by `ovseg merge` into one database: every sample with its
state, shard rows with paths relative to --root that lead to the right members; merging again is a
no-op; colliding ids are refused."""
import os
import sqlite3
import subprocess
import tarfile

import fetchlib
from harness import OVSEG, main, test


def merge(*args):
    return subprocess.run([OVSEG, "merge", *args], capture_output=True, text=True)


@test
def merge_two_fetched_parts_into_one_db():
    t = fetchlib.tmp()
    imgs = os.path.join(t, "img")
    good = sorted(fetchlib.make_images(imgs, 12))
    ng = fetchlib.Nginx(imgs, t)
    try:
        rows = [(ng.url(n), f"cap {n}") for n in good] + [(ng.url("gone.jpg"), "gone"), (ng.url("small.jpg"), "s")]
        parts = []
        for k in range(2):  # part k holds the rows with index % 2 == k, under their global ids
            db = os.path.join(t, f"part{k}.db")
            mine = [(i + 1, r) for i, r in enumerate(rows) if i % 2 == k]
            fetchlib.make_db(db, [])
            con = sqlite3.connect(db)
            sid = con.execute("INSERT INTO sources(path, columns, part) VALUES('/data/crawl.tsv', 'caption,url', ?)",
                              (f"{k}/2",)).lastrowid
            for i, (url, cap) in mine:
                con.execute("INSERT INTO samples(id, url, url_hash, caption, source_id, line) VALUES(?,?,?,?,?,?)",
                            (i, url, fetchlib.url_hash(url), cap, sid, i))
            con.commit()
            con.close()
            fetchlib.fetch(db, os.path.join(t, "machines", f"m{k}", "shards"), "--shard-size", 3)
            parts.append(db)
    finally:
        ng.stop()
    all_db = os.path.join(t, "all.db")
    p = merge(all_db, *parts, "--root", os.path.join(t, "machines"))
    assert p.returncode == 0, p.stderr
    con = sqlite3.connect(all_db)
    got = {r[0]: r[1:] for r in con.execute("SELECT id, state, reason, attempts FROM samples")}
    want = {}
    for db in parts:
        c = sqlite3.connect(db)
        want.update({r[0]: r[1:] for r in c.execute("SELECT id, state, reason, attempts FROM samples")})
    assert got == want and len(got) == len(rows), (got, want)
    src = con.execute("SELECT part FROM sources WHERE path = '/data/crawl.tsv'").fetchall()
    assert src == [("0/2,1/2",)], src
    n_ok = 0
    for sid, path, off in con.execute("SELECT s.id, sh.path, s.member_offset FROM samples s"
                                      " JOIN shards sh ON sh.id = s.shard_id"):
        assert path.startswith(("m0/shards/", "m1/shards/")), path
        with tarfile.open(os.path.join(t, "machines", path)) as tf:
            assert tf.getmember(f"{sid:09d}.webp").offset == off
        n_ok += 1
    assert n_ok == len(good)
    assert con.execute("SELECT count(*) FROM shards").fetchone()[0] == 2 * 2  # 6 ok per part, 3 per shard
    con.close()
    p = merge(all_db, *parts, "--root", os.path.join(t, "machines"))
    assert p.returncode == 0 and "skipped" in p.stderr, p.stderr
    assert sqlite3.connect(all_db).execute("SELECT count(*) FROM samples").fetchone()[0] == len(rows)


@test
def merge_renumbers_parts_ingested_separately():
    t = fetchlib.tmp()
    imgs = os.path.join(t, "img")
    good = sorted(fetchlib.make_images(imgs, 6))
    ng = fetchlib.Nginx(imgs, t)
    parts = []
    try:
        for k in range(2):  # both count ids from 1; one URL is in both parts
            db = os.path.join(t, f"p{k}.db")
            mine = [(ng.url(n), f"cap {n}") for n in good[3 * k:3 * k + 3]] + ([(ng.url(good[5]), "x")] if k == 0 else [])
            fetchlib.make_db(db, mine)
            fetchlib.fetch(db, os.path.join(t, f"p{k}"), "--shard-size", 2)
            parts.append(db)
    finally:
        ng.stop()
    all_db = os.path.join(t, "all.db")
    p = merge(all_db, *parts)
    assert p.returncode == 0 and "1 renumbered" in p.stderr, p.stderr
    con = sqlite3.connect(all_db)
    rows = con.execute("SELECT s.id, s.url, s.shard_key, sh.path, s.member_offset FROM samples s"
                       " JOIN shards sh ON sh.id = s.shard_id ORDER BY s.id").fetchall()
    assert len(rows) == 6 and len({r[1] for r in rows}) == 6, rows
    assert sorted(r[0] for r in rows) == [1, 2, 3, 4, 5, 6]
    for sid, url, key, path, off in rows:
        with tarfile.open(os.path.join(t, path)) as tf:
            m = tf.getmember(f"{key if key is not None else sid:09d}.webp")
            assert m.offset == off
            meta = tf.extractfile(m.name.replace(".webp", ".json")).read()
            assert url.encode() in meta
    assert [r[2] for r in rows] == [None, None, None, None, 1, 2], rows  # good[5] kept part 0's id 4


@test
def merge_wrong_root_and_missing_part_are_user_errors():
    t = fetchlib.tmp()
    a = os.path.join(t, "a.db")
    fetchlib.make_db(a, [("http://x/1.jpg", "one")])
    p = merge(os.path.join(t, "all.db"), os.path.join(t, "nope.db"))
    assert p.returncode == 1 and "nope.db" in p.stderr, p.stderr
    assert merge(os.path.join(t, "all.db"), a).returncode == 0
    os.makedirs(os.path.join(t, "other"))
    p = merge(os.path.join(t, "all.db"), a, "--root", os.path.join(t, "other"))
    assert p.returncode == 1 and "relative to" in p.stderr, p.stderr


main()
