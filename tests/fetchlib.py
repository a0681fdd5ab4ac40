"""fetchlib.py — what the fetch tests, the benchmark and the chaos script share: a folder of real
images (Pillow), nginx serving it on 127.0.0.1, the fault server, and databases with samples rows
inserted directly (the way `ovseg ingest` leaves them)."""
import atexit
import collections
import io
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time

from harness import OVSEG, ROOT, tmpdir

_tmps = []


def tmp(prefix="ovseg-fetchtest-"):
    """A fresh temp folder, removed when the process exits (kept with KEEP_TMP=1)."""
    d = tmpdir(prefix)
    _tmps.append(d)
    return d


@atexit.register
def _cleanup():
    if not os.environ.get("KEEP_TMP"):
        for d in _tmps:
            shutil.rmtree(d, ignore_errors=True)

PY = sys.executable


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_images(folder, n=40, seed=1):
    """n real images of varied formats (jpg, png, webp) and sizes; returns {name: (w, h)} of them, and
    also writes 'small.jpg' (32x32), 'wide.jpg' (900x100) and 'rotated.jpg' (400x300, EXIF
    orientation 6: displayed 300x400)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    good = {}
    for i in range(n):
        w, h = int(rng.integers(200, 700)), int(rng.integers(200, 600))
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * (i % 7 + 1)) % 256, (yy * (i % 5 + 1)) % 256, (xx + yy + 13 * i) % 256], -1)
        img = Image.fromarray(np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8))
        name = f"im{i:04d}.{['jpg', 'png', 'webp'][i % 3]}"
        img.save(os.path.join(folder, name), quality=90)
        good[name] = (w, h)
    Image.new("RGB", (32, 32), (200, 10, 10)).save(os.path.join(folder, "small.jpg"))
    Image.new("RGB", (900, 100), (10, 200, 10)).save(os.path.join(folder, "wide.jpg"))
    rot = Image.new("RGB", (400, 300), (10, 10, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    rot.save(os.path.join(folder, "rotated.jpg"), exif=exif.tobytes())
    return good


def fast_images(folder, n, w=500, h=375, seed=2):
    """n photo-like JPEGs quickly (numpy noise on gradients), for crawls that need many files."""
    import numpy as np
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    names = []
    for i in range(n):
        base = np.stack([(xx * (i % 7 + 1)) % 256, (yy * (i % 5 + 1)) % 256, (xx + yy + 13 * i) % 256], -1)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        name = f"p{i:05d}.jpg"
        Image.fromarray(img).save(os.path.join(folder, name), quality=88)
        names.append(name)
    return names


class Nginx:
    """nginx serving root on 127.0.0.1:port, run as the current user, everything in tmp."""

    def __init__(self, root, tmp, extra="", listen="", http_extra=""):
        self.prefix = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.prefix, "nginx.conf")
        with open(conf, "w") as f:
            # as root, nginx's workers would switch to "nobody" and could not read a 0700 temp folder
            user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
            f.write(f"""daemon off;
{user}
worker_processes 1;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  {http_extra}
  client_body_temp_path {self.prefix}/tmp_body;
  proxy_temp_path {self.prefix}/tmp_proxy;
  fastcgi_temp_path {self.prefix}/tmp_fcgi;
  uwsgi_temp_path {self.prefix}/tmp_uwsgi;
  scgi_temp_path {self.prefix}/tmp_scgi;
  types {{ image/jpeg jpg; image/png png; image/webp webp; }}
  sendfile on;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{self.port} {listen};
    root {os.path.abspath(root)};
    {extra}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.prefix], stderr=subprocess.PIPE)
        wait_port(self.port, self.proc)

        self.scheme = "https" if "ssl" in listen else "http"

    def url(self, name):
        return f"{self.scheme}://127.0.0.1:{self.port}/{name}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


class FaultServer:
    def __init__(self, images):
        self.proc = subprocess.Popen([PY, os.path.join(ROOT, "tests/fault/fault_server.py"), "--dir", images],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"fault server did not start: {line!r}"
        self.port = int(line.split()[1])

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def wait_port(port, proc, timeout=10):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def url_hash(url):
    """ovs_hash64(url) as a signed 64-bit integer, as ingest stores it (util/rng.c)."""
    m = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in url.encode():
        h = ((h ^ b) * 0x100000001b3) & m
    x = (h + 0x9e3779b97f4a7c15) & m
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & m
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & m
    x ^= x >> 31
    return x - (1 << 64) if x >> 63 else x


def make_db(path, rows, first_id=1):
    """ovseg init + a sources row + samples (url, caption) with ids from first_id, state pending."""
    subprocess.run([OVSEG, "init", path], check=True, capture_output=True)
    con = sqlite3.connect(path)
    cur = con.execute("INSERT INTO sources(path, columns) VALUES(?, 'caption,url')", (path + ".tsv",))
    sid = cur.lastrowid
    for i, (url, cap) in enumerate(rows):
        con.execute("INSERT INTO samples(id, url, url_hash, caption, source_id, line) VALUES(?,?,?,?,?,?)",
                    (first_id + i, url, url_hash(url), cap, sid, i + 1))
    con.execute("UPDATE sources SET lines_done=?, inserted=? WHERE id=?", (len(rows), len(rows), sid))
    con.commit()
    con.close()


def fetch(db, out, *flags, check=True, timeout=120):
    p = subprocess.run([OVSEG, "fetch", db, "--out", out, *map(str, flags)], capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"fetch exited {p.returncode}: {p.stderr[-800:]}")
    return p


def states(db):
    con = sqlite3.connect(db)
    r = {row[0]: row[1:] for row in con.execute("SELECT id, state, reason, http_status, attempts FROM samples")}
    con.close()
    return r


def shard_keys(out):
    """{shard name: [keys]} of every .tar in out, read with tarfile."""
    res = {}
    for name in sorted(os.listdir(out)):
        if name.endswith(".tar"):
            with tarfile.open(os.path.join(out, name)) as t:
                res[name] = sorted({m.name.split(".")[0] for m in t.getmembers()})
    return res


def decode(data):
    from PIL import Image
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


SYNTH_EXPECT = {  # `ovseg synth` truth.tsv kind -> the (state, reason) outcomes a crawl may give it
    "ok": {("ok", "ok")}, "ok_redirect": {("ok", "ok")},
    "http403": {("failed", "http_4xx")}, "http404": {("failed", "http_4xx")}, "http410": {("failed", "http_4xx")},
    "redirect404": {("failed", "http_4xx")}, "html": {("failed", "not_image")},
    "truncated": {("failed", "decode_error"), ("failed", "not_image")},
    "corrupt": {("failed", "decode_error"), ("failed", "not_image")},
}


def synth_crawl_outcome(syn, db):
    """Compares a crawl of an `ovseg synth` folder with the generator's truth.tsv. Returns a dict:
    truth {url: kind}, good (rows of kinds ok/ok_redirect), ok (samples in state ok), got
    Counter{(kind, state, reason): n}, bad [(url, kind, state, reason)] of rows off SYNTH_EXPECT."""
    truth = {}
    with open(os.path.join(syn, "truth.tsv")) as f:
        for line in f:
            url, kind = line.rstrip("\n").split("\t")[:2]
            truth[url] = kind
    got = collections.Counter()
    bad = []
    con = sqlite3.connect(db)
    for url, state, reason in con.execute("SELECT url, state, reason FROM samples"):
        got[truth.get(url), state, reason] += 1
        if (state, reason) not in SYNTH_EXPECT.get(truth.get(url), set()):
            bad.append((url, truth.get(url), state, reason))
    ok = con.execute("SELECT count(*) FROM samples WHERE state = 'ok'").fetchone()[0]
    con.close()
    good = sum(k in ("ok", "ok_redirect") for k in truth.values())
    return {"truth": truth, "good": good, "ok": ok, "got": got, "bad": bad}
