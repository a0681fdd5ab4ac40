"""test_fetch.py — `ovseg fetch` against nginx on 127.0.0.1 serving real images: states of every
row, shards readable with `tar tf`, tarfile and webdataset, every stored image decodes, the db
points at the right members, re-runs do only what is left, retries stop after --retries."""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import tarfile
import time

import fetchlib
from harness import main, test

_env = {}


def crawl_env():
    """One nginx + image folder + a finished crawl shared by the read-only tests."""
    if _env:
        return _env
    t = fetchlib.tmp()
    imgs = os.path.join(t, "img")
    good = fetchlib.make_images(imgs, 30)
    log = os.path.join(t, "access.log")
    ng = fetchlib.Nginx(imgs, t, extra=f"access_log {log} p;", http_extra="log_format p '$connection $status';")
    rows = [(ng.url(k), f"a photo number {i} \u00e9 \"quoted\"") for i, k in enumerate(sorted(good))]
    rows += [(ng.url("small.jpg"), "small"), (ng.url("wide.jpg"), "wide"), (ng.url("rotated.jpg"), "rotated"),
             (ng.url("missing.jpg"), "404")]
    db = os.path.join(t, "c.db")
    fetchlib.make_db(db, rows)
    out = os.path.join(t, "out")
    fetchlib.fetch(db, out, "--shard-size", 8)
    with open(log) as f:
        conns = [line.split()[0] for line in f]
    _env.update(t=t, ng=ng, db=db, out=out, good=good, rows=rows, conns=conns)
    return _env


@test
def fetch_every_row_gets_its_state():
    env = crawl_env()
    st = fetchlib.states(env["db"])
    n = len(env["good"])
    assert all(st[i][:2] == ("ok", "ok") for i in range(1, n + 1)), st
    assert st[n + 1][:2] == ("failed", "too_small")
    assert st[n + 2][:2] == ("failed", "bad_aspect")
    assert st[n + 3][:2] == ("ok", "ok")
    assert st[n + 4][:3] == ("failed", "http_4xx", 404)
    assert all(s[3] == 1 for s in st.values()), "one attempt each"


@test
def fetch_http_keeps_connections_alive():
    env = crawl_env()
    conns = env["conns"]
    assert len(conns) == len(env["rows"]), len(conns)
    assert len(set(conns)) <= 8, f"{len(set(conns))} connections for {len(conns)} requests (--per-host 8)"


@test
def fetch_shards_list_with_tar_tf_sorted_by_key():
    env = crawl_env()
    tars = sorted(f for f in os.listdir(env["out"]) if f.endswith(".tar"))
    assert tars == ["000000.tar", "000001.tar", "000002.tar", "000003.tar"], tars
    for name in tars:
        names = subprocess.run(["tar", "tf", os.path.join(env["out"], name)], capture_output=True, text=True,
                               check=True).stdout.split()
        assert names == sorted(names), names
        keys = [n.split(".")[0] for n in names]
        assert all(len(k) == 9 and k.isdigit() for k in keys)
        assert sorted({n.split(".", 1)[1] for n in names}) == ["json", "txt", "webp"]


@test
def fetch_shards_read_with_tarfile_and_db_offsets_point_at_images():
    env = crawl_env()
    con = sqlite3.connect(env["db"])
    rows = con.execute("SELECT s.id, s.caption, s.url, s.width, s.height, s.orig_width, s.orig_height, s.sha256,"
                       " s.member_offset, sh.path FROM samples s JOIN shards sh ON sh.id = s.shard_id"
                       " WHERE s.state = 'ok'").fetchall()
    assert len(rows) == len(env["good"]) + 1
    for sid, cap, url, w, h, ow, oh, sha, off, path in rows:
        key = f"{sid:09d}"
        with tarfile.open(os.path.join(env["out"], path)) as t:
            m = {x.name: x for x in t.getmembers()}
            assert m[key + ".webp"].offset == off, (key, off)
            meta = json.loads(t.extractfile(key + ".json").read())
            assert t.extractfile(key + ".txt").read().decode() == cap
            img = fetchlib.decode(t.extractfile(key + ".webp").read())
        assert img.size == (w, h) == (meta["width"], meta["height"])
        assert min(w, h) == 256, (w, h)
        assert meta["url"] == url and meta["caption"] == cap and meta["sha256"] == sha and meta["status"] == "ok"
        assert (meta["orig_width"], meta["orig_height"]) == (ow, oh)
        name = url.rsplit("/", 1)[1]
        with open(os.path.join(env["t"], "img", name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == sha, "sha256 of the downloaded bytes"
        if name == "rotated.jpg":
            assert (ow, oh) == (300, 400) and h > w, "EXIF orientation applied"
        else:
            assert (ow, oh) == env["good"][name]
    shards = con.execute("SELECT kind, path, samples, bytes, stats FROM shards ORDER BY path").fetchall()
    assert [s[2] for s in shards] == [8, 8, 8, 7], shards
    for kind, path, n, nbytes, stats in shards:
        assert kind == "raw" and os.path.getsize(os.path.join(env["out"], path)) == nbytes
        assert json.loads(stats)["ok"] == n
    run = con.execute("SELECT verb, status, counts FROM runs WHERE verb = 'fetch'").fetchone()
    assert run[1] == "ok" and json.loads(run[2])["ok"] == len(env["good"]) + 1, run


@test
def fetch_shards_read_with_webdataset():
    import webdataset as wds
    env = crawl_env()
    urls = sorted(os.path.join(env["out"], f) for f in os.listdir(env["out"]) if f.endswith(".tar"))
    ds = wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("__key__", "webp", "txt", "json")
    seen = {}
    for key, img, txt, meta in ds:
        assert img.size == (meta["width"], meta["height"]) and txt == meta["caption"]
        seen[int(key)] = txt
    con = sqlite3.connect(env["db"])
    want = dict(con.execute("SELECT id, caption FROM samples WHERE state = 'ok'"))
    assert seen == want


@test
def fetch_rerun_does_nothing_when_done():
    env = crawl_env()
    p = fetchlib.fetch(env["db"], env["out"])
    assert "0 of 0 samples" in p.stderr, p.stderr
    assert len([f for f in os.listdir(env["out"]) if f.endswith(".tar")]) == 4


@test
def fetch_refuses_other_out_dir():
    env = crawl_env()
    p = fetchlib.fetch(env["db"], os.path.join(env["t"], "elsewhere"), check=False)
    assert p.returncode == 1 and "the shards of" in p.stderr, p.stderr


@test
def fetch_limit_then_rest_same_result():
    env = crawl_env()
    t = fetchlib.tmp()
    db = os.path.join(t, "l.db")
    fetchlib.make_db(db, env["rows"])
    out = os.path.join(t, "out")
    fetchlib.fetch(db, out, "--limit", 10, "--shard-size", 8)
    st = fetchlib.states(db)
    assert sum(s[0] != "pending" for s in st.values()) == 10
    fetchlib.fetch(db, out, "--shard-size", 8)
    assert fetchlib.states(db) == fetchlib.states(env["db"])
    keys = [k for ks in fetchlib.shard_keys(out).values() for k in ks]
    assert len(keys) == len(set(keys)) == len(env["good"]) + 1


@test
def fetch_retries_only_retriable_and_stops_after_retries():
    t = fetchlib.tmp()
    fs = fetchlib.FaultServer(t)
    db = os.path.join(t, "r.db")
    fetchlib.make_db(db, [(fs.url("status/503"), "5xx"), (fs.url("status/404"), "4xx")])
    out = os.path.join(t, "out")
    try:
        for _ in range(4):
            fetchlib.fetch(db, out, "--retries", 2)
    finally:
        fs.stop()
    st = fetchlib.states(db)
    assert st[1] == ("retry", "http_5xx", 503, 3), st[1]  # 1 try + 2 retries
    assert st[2] == ("failed", "http_4xx", 404, 1), st[2]


@test
def fetch_resize_modes_and_jpg():
    env = crawl_env()
    for mode, fmt, check in [("center_crop", "jpg", lambda w, h, ow, oh: (w, h) == (128, 128)),
                             ("border", "webp", lambda w, h, ow, oh: (w, h) == (128, 128)),
                             ("none", "webp", lambda w, h, ow, oh: (w, h) == (ow, oh))]:
        t = fetchlib.tmp()
        db = os.path.join(t, "m.db")
        fetchlib.make_db(db, env["rows"][:4])
        fetchlib.fetch(db, os.path.join(t, "out"), "--resize", mode, "--format", fmt, "--image-size", 128)
        con = sqlite3.connect(db)
        rows = con.execute("SELECT width, height, orig_width, orig_height FROM samples WHERE state='ok'").fetchall()
        assert len(rows) == 4 and all(check(*r) for r in rows), (mode, rows)
        with tarfile.open(os.path.join(t, "out", "000000.tar")) as tf:
            imgs = [m for m in tf.getmembers() if m.name.endswith("." + fmt)]
            assert len(imgs) == 4
            for m in imgs:
                fetchlib.decode(tf.extractfile(m).read())


@test
def fetch_cleans_stale_tmp_and_unrecorded_shards():
    env = crawl_env()
    t = fetchlib.tmp()
    db = os.path.join(t, "s.db")
    fetchlib.make_db(db, env["rows"][:5])
    out = os.path.join(t, "out")
    os.makedirs(out)
    for name in ["000000.tar.tmp", "000000.tar", "000007.tar.tmp"]:
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"junk" * 100)
    with open(os.path.join(out, "notes.txt"), "w") as f:
        f.write("mine")
    p = fetchlib.fetch(db, out)
    assert "2 .tmp, 1 unrecorded" in p.stderr, p.stderr
    assert sorted(os.listdir(out)) == ["000000.tar", "notes.txt"]
    with tarfile.open(os.path.join(out, "000000.tar")) as tf:
        assert len(tf.getmembers()) == 15


@test
def fetch_ctrl_c_writes_what_is_done_and_resumes():
    env = crawl_env()
    t = fetchlib.tmp()
    fs = fetchlib.FaultServer(os.path.join(env["t"], "img"))
    db = os.path.join(t, "i.db")
    good = [r for r in env["rows"] if r[1] not in ("small", "wide", "404")]
    fetchlib.make_db(db, good + [(fs.url("stall/im0000.jpg"), "stalls")])
    out = os.path.join(t, "out")
    try:
        p = subprocess.Popen([fetchlib.OVSEG, "fetch", db, "--out", out, "--timeout", "3", "--shard-size", "1000"],
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the good samples take well under a second; the stalled one holds on for 3 s
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=20)[1]
        assert p.returncode == 1 and "interrupted" in err, (p.returncode, err[-400:])
        st = fetchlib.states(db)
        assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
        n_ok = sum(s[0] == "ok" for s in st.values())
        keys = [k for ks in fetchlib.shard_keys(out).values() for k in ks]
        assert len(keys) == n_ok, (len(keys), n_ok)
        fetchlib.fetch(db, out, "--timeout", "1", "--shard-size", "1000")
    finally:
        fs.stop()
    st = fetchlib.states(db)
    assert sum(s[0] == "ok" for s in st.values()) == len(good), st
    assert st[len(good) + 1][:2] == ("retry", "timeout"), st[len(good) + 1]


@test
def fetch_https_uses_http2_on_few_connections():
    env = crawl_env()
    t = fetchlib.tmp()
    cert, key = os.path.join(t, "cert.pem"), os.path.join(t, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    log = os.path.join(t, "access.log")
    ng = fetchlib.Nginx(os.path.join(env["t"], "img"), t, listen="ssl http2",
                        extra=f"ssl_certificate {cert}; ssl_certificate_key {key}; access_log {log} p;",
                        http_extra="log_format p '$server_protocol $connection';")
    try:
        names = sorted(env["good"])[:12]
        db = os.path.join(t, "h.db")
        fetchlib.make_db(db, [(ng.url(n), n) for n in names])
        p = fetchlib.fetch(db, os.path.join(t, "bad"), check=False)  # self-signed: refused without --ca-file
        assert all(s[:2] == ("retry", "connect") for s in fetchlib.states(db).values()), fetchlib.states(db)
        db2 = os.path.join(t, "h2.db")
        fetchlib.make_db(db2, [(ng.url(n), n) for n in names])
        fetchlib.fetch(db2, os.path.join(t, "out"), "--ca-file", cert)
        assert all(s[:2] == ("ok", "ok") for s in fetchlib.states(db2).values())
    finally:
        ng.stop()
    with open(log) as f:
        lines = [line.split() for line in f]
    assert len(lines) == len(names) and {p for p, _ in lines} == {"HTTP/2.0"}, lines
    conns = {c for _, c in lines}
    print(f"  https: {len(lines)} images over HTTP/2 on {len(conns)} connection(s)")
    assert len(conns) <= 2, conns


try:
    main()
finally:
    if _env:
        _env["ng"].stop()
