"""shard_fixture.py — builds what `ovseg shard` reads, directly (no crawl): an ovseg database with
samples, raw fetch shards (real WebP/JPEG images in tar files, offsets in samples.member_offset),
entities with byte spans, a subset and pairs. Used by test_shard*.py and the loader bench."""
import io
import os
import random
import sqlite3
import subprocess
import tarfile

from harness import OVSEG, SHARED

ENTITIES = ["man", "woman", "person", "people", "dog", "tree", "car", "city", "water", "building", "girl", "boy"]


# a small model config (on top of tiny) so that 2 cores do a training step in well under a second
SMALL_CONFIG = """preset = tiny
img_size = 32
patch = 8
width = 64
heads = 2
depth0 = 1
depth1 = 1
text_width = 64
text_heads = 2
text_layers = 1
text_ff = 128
proj_hidden = 128
proj_out = 32
mem_heads = 2
text_len = 16
"""

def real_captions(n):
    """The first n real CC3M captions that contain one of ENTITIES as a space-separated word."""
    out = []
    with open(os.path.join(SHARED, "data/cc3m-val-captions-odd.tsv"), encoding="utf-8") as f:
        for line in f:
            cap = line.rstrip("\n").split("\t")[0]
            if any(w in ENTITIES for w in cap.split(" ")):
                out.append(cap)
                if len(out) == n:
                    break
    return out


def spans(cap):
    """(name, start, end) byte spans of every entity word in cap."""
    res, pos = [], 0
    for w in cap.split(" "):
        b = len(cap[:pos].encode("utf-8"))
        if w in ENTITIES:
            res.append((w, b, b + len(w.encode("utf-8"))))
        pos += len(w) + 1
    return res


def image_bytes(rng, size, fmt):
    from PIL import Image
    import numpy as np
    yy, xx = np.mgrid[0:size, 0:size]
    c = [rng.randrange(256) for _ in range(6)]
    a = np.stack([(c[k] + xx * c[k + 3] // size + yy * (255 - c[k + 3]) // size) for k in range(3)], -1)
    a = (a + np.random.default_rng(rng.randrange(1 << 30)).integers(0, 40, a.shape)) % 256
    a = a.astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt, quality=85)
    return buf.getvalue()


def build(d, n=60, raw_shard=25, size=64, jpeg_every=7, seed=1, partners=2):
    """Creates d/db.sqlite and d/raw/*.tar; returns the db path. Every sample is in subset 'cc4m'."""
    rng = random.Random(seed)
    db = os.path.join(d, "db.sqlite")
    subprocess.run([OVSEG, "-q", "init", db], check=True)
    os.makedirs(os.path.join(d, "raw"), exist_ok=True)
    caps = real_captions(n)
    con = sqlite3.connect(db)
    con.execute("INSERT INTO sources(id,path,columns) VALUES(1,'fixture.tsv','caption,url')")
    for name in ENTITIES:
        con.execute("INSERT INTO entities(name) VALUES(?)", (name,))
    ent_id = {r[1]: r[0] for r in con.execute("SELECT id,name FROM entities")}
    con.execute("INSERT INTO subsets(id,name,params,created_at) VALUES(1,'cc4m','{}','now')")
    for s0 in range(0, n, raw_shard):
        sid = s0 // raw_shard + 1
        rel = f"raw/shard-{sid - 1:06d}.tar"
        path = os.path.join(d, rel)
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
            for i in range(s0, min(n, s0 + raw_shard)):
                key = i + 1
                fmt = "JPEG" if jpeg_every and i % jpeg_every == jpeg_every - 1 else "WEBP"
                img = image_bytes(rng, size, fmt)
                ext = "jpg" if fmt == "JPEG" else "webp"
                ti = tarfile.TarInfo(f"{key:09d}.{ext}")
                ti.size = len(img)
                off = tf.offset  # the header of the member about to be added
                tf.addfile(ti, io.BytesIO(img))
                txt = caps[i].encode("utf-8")
                ti2 = tarfile.TarInfo(f"{key:09d}.txt")
                ti2.size = len(txt)
                tf.addfile(ti2, io.BytesIO(txt))
                con.execute("INSERT INTO samples(id,url,url_hash,caption,source_id,line,state,reason,width,height,"
                            "shard_id,member_offset) VALUES(?,?,?,?,1,?,'ok','ok',?,?,?,?)",
                            (key, f"http://x/{key}.jpg", key, caps[i], key, size, size, sid, off))
        con.execute("INSERT INTO shards(id,kind,path,samples,bytes,created_at) VALUES(?,?,?,?,?,'now')",
                    (sid, "raw", rel, min(n, s0 + raw_shard) - s0, os.path.getsize(path)))
    by_ent = {}
    for i in range(n):
        key = i + 1
        con.execute("INSERT INTO subset_members(subset_id,sample_id) VALUES(1,?)", (key,))
        for name, b, e in spans(caps[i]):
            con.execute("INSERT OR IGNORE INTO sample_entities(sample_id,entity_id,start,end) VALUES(?,?,?,?)",
                        (key, ent_id[name], b, e))
            by_ent.setdefault(name, []).append(key)
    for i in range(n):
        key = i + 1
        names = [s[0] for s in spans(caps[i])]
        for k in range(partners):
            name = rng.choice(names)
            con.execute("INSERT INTO pairs(subset_id,sample_id,k,partner_id,entity_id) VALUES(1,?,?,?,?)",
                        (key, k, rng.choice(by_ent[name]), ent_id[name]))
    con.commit()
    con.close()
    return db


def small_training(d):
    """The training tests' set-up in folder d: 40 samples (48 px) in two training shards of 20
    (seed 5) and SMALL_CONFIG as a config file; returns {d, shards, cfg}."""
    db = build(d, n=40, size=48)
    out = os.path.join(d, "train")
    r = subprocess.run([OVSEG, "-q", "shard", db, "--subset", "cc4m", "--out", out, "--shard-size", "20",
                        "--seed", "5"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cfg = os.path.join(d, "small.cfg")
    with open(cfg, "w") as f:
        f.write(SMALL_CONFIG)
    return {"d": d, "shards": out, "cfg": cfg}
