"""test_fetch_faults.py — every fault of tests/fault/fault_server.py (and DNS / refused connections)
ends in its classified state within --timeout + 1 s, and memory stays bounded while an endless
body and a decompression bomb are refused."""
import json
import os
import sqlite3
import subprocess
import time
import urllib.request

import fetchlib
from harness import OVSEG, main, test

TIMEOUT = 2.0


def run_measured(args):
    """Runs args; returns (exit code, stderr, wall seconds, peak RSS in MB) of that process alone."""
    # /usr/bin/time reports the child's own peak: a child forked from this (large) Python process
    # would carry the parent's resident size in its ru_maxrss.
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", *args], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    lines = p.stderr.strip().split("\n")
    rss = int(lines[-1].split()[1]) / 1024
    return p.returncode, "\n".join(lines[:-1]), wall, rss


@test
def fetch_every_fault_classified_within_timeout():
    t = fetchlib.tmp()
    fetchlib.make_images(os.path.join(t, "img"), 3)
    fs = fetchlib.FaultServer(os.path.join(t, "img"))
    closed = fetchlib.free_port()
    img = "im0000.jpg"
    cases = [  # path, state, reason, http status (None = not checked)
        (f"stall/{img}", "retry", "timeout", None),
        (f"truncated/{img}", "retry", "connect", None),
        ("endless", "failed", "too_large", None),
        (f"drip/{img}", "retry", "timeout", None),
        ("loop", "failed", "redirect", None),
        (f"chain/6/{img}", "failed", "redirect", None),
        (f"chain/5/{img}", "ok", "ok", 200),
        ("file", "failed", "redirect", None),
        ("html", "failed", "not_image", 200),
        (f"wrongtype/{img}", "ok", "ok", 200),
        (f"noai/{img}", "failed", "noai", 200),
        (f"noai-other/{img}", "ok", "ok", 200),
        ("bomb", "failed", "too_large", 200),
        ("status/404", "failed", "http_4xx", 404),
        ("status/410", "failed", "http_4xx", 410),
        ("status/503", "retry", "http_5xx", 503),
        ("corrupt", "failed", "decode_error", 200),
        (f"img/{img}", "ok", "ok", 200),
        ("biglen", "failed", "too_large", None),
    ]
    rows = [(fs.url(p), f"caption {i}") for i, (p, *_) in enumerate(cases)]
    rows.append(("http://no-such-host.invalid/x.jpg", "dns"))
    rows.append((f"http://127.0.0.1:{closed}/x.jpg", "refused"))
    cases += [("dns", "retry", "dns", None), ("refused", "retry", "connect", None)]
    db = os.path.join(t, "f.db")
    fetchlib.make_db(db, rows)
    try:
        rc, err, wall, rss = run_measured([OVSEG, "fetch", db, "--out", os.path.join(t, "out"), "--timeout",
                                           str(TIMEOUT), "--max-bytes", "4M", "--workers", "64", "--per-host", "64"])
    finally:
        fs.stop()
    assert rc == 0, err[-500:]
    got = fetchlib.states(db)
    bad = []
    for i, (path, state, reason, code) in enumerate(cases):
        s = got[i + 1]
        if s[0] != state or s[1] != reason or (code is not None and s[2] != code):
            bad.append(f"{path}: got {s[:3]}, wanted {(state, reason, code)}")
    assert not bad, "; ".join(bad)
    print(f"  faults: {len(cases)} kinds classified in {wall:.2f} s wall (timeout {TIMEOUT} s), "
          f"peak RSS {rss:.1f} MB")
    assert wall <= TIMEOUT + 1.0, f"took {wall:.2f} s > timeout + 1 s"
    con = sqlite3.connect(db)
    msg = con.execute("SELECT last_error FROM samples WHERE url LIKE '%/bomb'").fetchone()[0]
    assert "30000x30000" in msg, msg


@test
def fetch_memory_bounded_on_endless_body_and_bomb():
    t = fetchlib.tmp()
    fs = fetchlib.FaultServer(t)
    db = os.path.join(t, "m.db")
    fetchlib.make_db(db, [(fs.url(f"endless?{i}"), "e%d" % i) for i in range(8)] + [(fs.url("bomb"), "b")])
    try:
        rc, err, wall, rss = run_measured([OVSEG, "fetch", db, "--out", os.path.join(t, "out"),
                                           "--max-bytes", "8M", "--timeout", "20"])
    finally:
        fs.stop()
    assert rc == 0, err[-500:]
    reasons = {s[1] for s in fetchlib.states(db).values()}
    assert reasons == {"too_large"}, reasons
    print(f"  8 endless bodies (cap 8 MB each) + a 30000x30000 bomb: peak RSS {rss:.1f} MB, {wall:.2f} s")
    # 8 transfers x 8 MB cap = 64 MB of bodies at most, plus the program; a bomb decoded would be 2.7 GB
    assert rss < 8 * 8 * 2 + 60, f"peak RSS {rss:.1f} MB"


@test
def fetch_allow_noai_keeps_noai_images():
    t = fetchlib.tmp()
    fetchlib.make_images(os.path.join(t, "img"), 1)
    fs = fetchlib.FaultServer(os.path.join(t, "img"))
    db = os.path.join(t, "n.db")
    fetchlib.make_db(db, [(fs.url("noai/im0000.jpg"), "n")])
    try:
        fetchlib.fetch(db, os.path.join(t, "out"), "--allow-noai")
    finally:
        fs.stop()
    assert fetchlib.states(db)[1][:2] == ("ok", "ok")


def most_at_once(t, flags):
    """The most /slow transfers the fault server saw at once during a fetch of 12 of them."""
    fs = fetchlib.FaultServer(os.path.join(t, "img"))
    db = os.path.join(t, f"h{len(flags)}{flags[1]}.db")
    fetchlib.make_db(db, [(fs.url(f"slow/im0000.jpg?{i}"), "s") for i in range(12)])
    try:
        fetchlib.fetch(db, os.path.join(t, "out" + flags[1]), *flags)
        with urllib.request.urlopen(fs.url("stats")) as r:
            most = json.loads(r.read())["slow_max"]
    finally:
        fs.stop()
    assert all(s[0] == "ok" for s in fetchlib.states(db).values())
    return most


@test
def fetch_per_host_and_workers_caps_hold():
    t = fetchlib.tmp()
    fetchlib.make_images(os.path.join(t, "img"), 1)
    most = most_at_once(t, ["--per-host", "3", "--workers", "64"])
    assert most == 3, f"{most} transfers at once to one host with --per-host 3"
    most = most_at_once(t, ["--workers", "2", "--per-host", "64"])
    assert most == 2, f"{most} transfers at once with --workers 2"


main()
