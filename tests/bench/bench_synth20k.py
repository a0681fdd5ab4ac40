"""bench_synth20k.py — the "on `ovseg synth --n 20000`" checks of issues 3, 4 and 5 in one run:
synth (defaults, --seed S) → nginx (tests/serve-synth.sh) → init → ingest → fetch (defaults:
--image-size 256, webp) → entities → subset cc4m --top 100 → pairs. Prints a PASS/FAIL line per
check with its figures, then wall and CPU seconds per stage, and exits 1 when a check failed.

    .venv/bin/python tests/bench/bench_synth20k.py [N_ROWS] [SEED]   (defaults 20000, 1)"""
import collections
import hashlib
import io
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fetchlib  # noqa: E402
from harness import OVSEG, ROOT, SHARED  # noqa: E402

# docs/synth.md, "Row kinds": shares at the default --fail-rate 0.33 (failing kinds scale with it)
TARGET = {"ok": .63, "ok_redirect": .04, "http404": .09, "http410": .03, "http403": .08,
          "truncated": .02, "corrupt": .02, "html": .05, "redirect404": .04}
GROUPS = {"404/410": ("http404", "http410"), "403": ("http403",), "undecodable": ("truncated", "corrupt"),
          "html": ("html",), "redirect404": ("redirect404",)}
SERVE = os.path.join(ROOT, "tests", "serve-synth.sh")
results = []
stages = []


def check(name, ok, figures=""):
    results.append((name, bool(ok)))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + figures if figures else ''}", flush=True)


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(stage, *argv):
    """Runs one command, records its wall and CPU seconds; returns its stderr (progress is quiet)."""
    t0, c0 = time.time(), cpu_children()
    p = subprocess.run(list(map(str, argv)), capture_output=True, text=True)
    stages.append((stage, time.time() - t0, cpu_children() - c0))
    if p.returncode != 0:
        raise SystemExit(f"{stage}: exit {p.returncode}: {p.stderr[-1500:]}")
    return p.stdout + p.stderr


def copy_db(src, dst):
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


# ── issue 3 ─────────────────────────────────────────────────────────────────────────────────────
def check_shares(syn, meta, n):
    kinds = [line.split("\t")[1] for line in open(os.path.join(syn, "truth.tsv"), encoding="utf-8")]
    cnt = collections.Counter(kinds)
    scale = meta["fail_rate"] / .33
    target = {k: (v if k.startswith("ok") else v * scale) for k, v in TARGET.items()}
    target["ok"] = 1 - sum(v for k, v in target.items() if k != "ok")
    figs, worst = [], 0
    for k, t in target.items():
        got = cnt[k] / n
        worst = max(worst, abs(got - t))
        figs.append(f"{k} {100 * got:.1f}% (target {100 * t:.0f})")
    for g, ks in GROUPS.items():
        got, t = sum(cnt[k] for k in ks) / n, sum(target[k] for k in ks)
        worst = max(worst, abs(got - t))
        figs.append(f"[{g}] {100 * got:.1f}% ({100 * t:.0f})")
    check("issue3 each failure kind's share within 2 points of its target (truth.tsv)",
          worst <= .02 and len(kinds) == n and dict(cnt) == meta["kinds"],
          f"{n} rows; " + ", ".join(figs) + f"; worst off by {100 * worst:.2f} points")


def curl(url, follow):
    flags = ["-L"] if follow else []
    p = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code} %{content_type}", "--max-time", "10",
                       *flags, url], capture_output=True)
    body, _, tail = p.stdout.rpartition(b"\n")
    code, _, ctype = tail.decode().partition(" ")
    return int(code), ctype, body


def decodes(body):
    try:
        fetchlib.decode(body)
        return True
    except Exception:
        return False


def check_curl(syn):
    per_kind = collections.defaultdict(list)
    for line in open(os.path.join(syn, "truth.tsv"), encoding="utf-8"):
        url, kind, final, first, fmt = line.rstrip("\n").split("\t")
        if len(per_kind[kind]) < 3:
            per_kind[kind].append((url, int(final), int(first)))
    figs, ok = [], len(per_kind) == len(TARGET)
    for kind, rows in sorted(per_kind.items()):
        for url, final, first in rows:
            c1, _, _ = curl(url, False)
            c2, ctype, body = curl(url, True)
            good = c1 == first and c2 == final
            if kind in ("ok", "ok_redirect"):
                good &= decodes(body)
            elif kind in ("truncated", "corrupt"):
                good &= not decodes(body)
            elif kind == "html":
                good &= body.lstrip()[:1] == b"<" and not decodes(body)
            ok &= good
            if url == rows[0][0]:
                figs.append(f"{kind} {c1}{'->' + str(c2) if c2 != c1 else ''}")
            if not good:
                figs.append(f"OFF: {kind} {url} {c1}/{c2} {ctype}")
    check("issue3 curl gets 200 for a good row and the intended failure for each failing kind (3 rows a kind)",
          ok, ", ".join(figs))


# ── issue 4 ─────────────────────────────────────────────────────────────────────────────────────
def check_crawl(syn, db, out, n):
    r = fetchlib.synth_crawl_outcome(syn, db)
    per = collections.Counter()
    for (kind, state, reason), c in r["got"].items():
        per[f"{kind}->{reason}"] += c
    check("issue4 the ok share matches the generator's good rows exactly",
          r["ok"] == r["good"] and not r["bad"],
          f"{r['ok']} ok = {r['good']} good rows ({100 * r['ok'] / n:.2f}%); {len(r['bad'])} rows off "
          f"{r['bad'][:2]}; " + ", ".join(f"{k}:{c}" for k, c in sorted(per.items())))
    con = sqlite3.connect(db)
    total, stateless = con.execute(
        "SELECT count(*), sum(state NOT IN ('ok', 'failed') OR reason IS NULL) FROM samples").fetchone()
    by = con.execute("SELECT state, reason, count(*) FROM samples GROUP BY 1, 2 ORDER BY 3 DESC").fetchall()
    check("issue4 every row has a final state and a reason", total == n and stateless == 0,
          f"{total} rows, {stateless} without; " + ", ".join(f"{s}/{rs}:{c}" for s, rs, c in by))
    # observed shares of the crawl's reasons next to the targets of the kinds that give them
    obs = {rs: c / n for s, rs, c in by}
    figs = [f"http_4xx {100 * obs.get('http_4xx', 0):.1f}% (target 24)",
            f"not_image+decode_error {100 * (obs.get('not_image', 0) + obs.get('decode_error', 0)):.1f}% (target 9)"]
    print("     crawl reasons: " + ", ".join(figs))

    want = {sid: (cap, w, h, sha) for sid, cap, w, h, sha in con.execute(
        "SELECT id, caption, width, height, sha256 FROM samples WHERE state = 'ok'")}
    shard_rows = con.execute("SELECT path, samples, bytes FROM shards WHERE kind = 'raw' ORDER BY path").fetchall()
    con.close()
    tars = sorted(f for f in os.listdir(out) if f.endswith(".tar"))
    leftovers = [f for f in os.listdir(out) if f.endswith(".tmp")]
    ok_rows = [p for p, s, b in shard_rows if os.path.getsize(os.path.join(out, p)) == b]
    check("issue4 shards: one db row each, sizes and counts agree, no .tmp left",
          [p for p, _, _ in shard_rows] == tars and len(ok_rows) == len(tars) and not leftovers
          and sum(s for _, s, _ in shard_rows) == len(want),
          f"{len(tars)} shards, {sum(b for _, _, b in shard_rows) / 1e6:.1f} MB, "
          f"{sum(s for _, s, _ in shard_rows)} samples")

    bad_tar, listed = [], 0
    for f in tars:
        p = subprocess.run(["tar", "tf", os.path.join(out, f)], capture_output=True, text=True)
        names = p.stdout.split()
        listed += len(names)
        if p.returncode or len(names) != 3 * dict((q, s) for q, s, _ in shard_rows)[f]:
            bad_tar.append(f)
    check("issue4 every shard opens with `tar tf` (3 members a sample)", not bad_tar and listed == 3 * len(want),
          f"{listed} members listed; bad: {bad_tar}")

    # Python's tarfile: members sorted by key, keys unique over shards, json agrees with the db,
    # every stored image decodes at its recorded size
    keys, problems, decoded = [], [], 0
    t0 = time.time()
    for f in tars:
        with tarfile.open(os.path.join(out, f)) as t:
            members = t.getmembers()
            names = [m.name for m in members]
            if names != sorted(names, key=lambda x: (int(x.split(".")[0]), x)):
                problems.append(f"{f}: members not sorted by key")
            by_key = collections.defaultdict(dict)
            for m in members:
                k, _, ext = m.name.partition(".")
                by_key[k][ext] = t.extractfile(m).read()
            for k, parts in by_key.items():
                keys.append(int(k))
                if set(parts) != {"webp", "txt", "json"}:
                    problems.append(f"{f}:{k}: members {sorted(parts)}")
                    continue
                meta = json.loads(parts["json"])
                cap, w, h, sha = want.get(int(k), (None, 0, 0, None))
                try:
                    im = fetchlib.decode(parts["webp"])
                    decoded += 1
                    if im.size != (w, h) or im.format != "WEBP":
                        problems.append(f"{f}:{k}.webp: {im.format} {im.size}, db says {w}x{h}")
                except Exception as ex:  # noqa: BLE001 — report, do not stop
                    problems.append(f"{f}:{k}.webp: does not decode: {ex}")
                if parts["txt"].decode() != cap or meta.get("caption") != cap or meta.get("sha256") != sha:
                    problems.append(f"{f}:{k}: caption/json differ from the db")
    dec_s = time.time() - t0
    check("issue4 Python tarfile reads every shard; keys unique; json and caption agree with the db",
          not [p for p in problems if "decode" not in p] and len(keys) == len(set(keys)) and set(keys) == set(want),
          f"{len(keys)} samples, {len(set(keys))} distinct keys, {len(problems)} problems {problems[:3]}")
    check("issue4 every stored image decodes (Pillow) at the size the db records",
          decoded == len(want) and not [p for p in problems if "webp" in p],
          f"{decoded} of {len(want)} WebP images decoded in {dec_s:.1f} s")

    import webdataset as wds
    urls = [os.path.join(out, f) for f in tars]
    ds = wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("__key__", "webp", "txt", "json")
    seen, off = {}, 0
    for key, img, txt, meta in ds:
        if img.size != (meta["width"], meta["height"]) or txt != meta["caption"]:
            off += 1
        seen[int(key)] = txt
    check("issue4 webdataset.WebDataset yields every ok sample with its image, caption and json",
          off == 0 and seen == {k: v[0] for k, v in want.items()}, f"{len(seen)} samples, {off} off")
    return len(want)


def floor(syn, n_ok, fetch_wall, fetch_cpu, sample=2000):
    """The image stage alone on up to `sample` of the good rows' files (same size, threads)."""
    files = []
    for line in open(os.path.join(syn, "truth.tsv"), encoding="utf-8"):
        url, kind = line.split("\t")[:2]
        if kind == "ok":
            path = os.path.join(syn, "www", url.split("/", 3)[3].split("?")[0])
            files.append(path)
    files = files[::max(1, len(files) // sample)][:sample]
    subprocess.run(["make", "-s", "build/tests/bench/fetch_floor"], cwd=ROOT, check=True)
    cores = os.cpu_count()
    c0 = cpu_children()
    out = subprocess.run([os.path.join(ROOT, "build/tests/bench/fetch_floor"), str(cores), "256", *files],
                         capture_output=True, text=True, check=True).stdout.split()
    f_cpu = cpu_children() - c0
    f_n, f_s = int(out[2]), float(out[4])
    print()
    print(f"| crawl of synth --n (ok images), {cores} cores | images/s (wall) | vs floor | images per CPU-second |")
    print("|---|---|---|---|")
    print(f"| floor: decode+resize+encode of {f_n} of the good files, {cores} threads | {f_n / f_s:.0f} | 100% "
          f"| {f_n / f_cpu:.0f} |")
    print(f"| `ovseg fetch` whole crawl (every row, failures included) | {n_ok / fetch_wall:.0f} | "
          f"{100 * n_ok / fetch_wall / (f_n / f_s):.0f}% | {n_ok / fetch_cpu:.0f} "
          f"({100 * (n_ok / fetch_cpu) / (f_n / f_cpu):.0f}% of floor) |")
    print()


# ── issue 5 ─────────────────────────────────────────────────────────────────────────────────────
def class_free_ids(db, classes):
    """Sample ids whose caption names none of synth's classes (singular or plural, any case): the
    generator's no-entity captions (tests/test_synth.c checks class words appear only when named)."""
    pat = re.compile(r"\b(" + "|".join(map(re.escape, classes)) + r")(e?s)?\b", re.I)
    con = sqlite3.connect(db)
    ids = {i for i, cap in con.execute("SELECT id, caption FROM samples") if not pat.search(cap)}
    con.close()
    return ids


SQL_MEMBER_WITHOUT_ENTITY = """
SELECT count(*) FROM subset_members m WHERE m.subset_id = ?1 AND NOT EXISTS (
  SELECT 1 FROM sample_entities se JOIN subset_entities e ON e.entity_id = se.entity_id AND e.subset_id = ?1
  WHERE se.sample_id = m.sample_id)"""
SQL_ENTITY_NOT_MEMBER = """
SELECT count(DISTINCT se.sample_id) FROM sample_entities se
JOIN subset_entities e ON e.entity_id = se.entity_id AND e.subset_id = ?1
WHERE NOT EXISTS (SELECT 1 FROM subset_members m WHERE m.subset_id = ?1 AND m.sample_id = se.sample_id)"""
SQL_NO_ENTITY_MEMBERS = """
SELECT count(*) FROM subset_members m WHERE m.subset_id = ?1
AND NOT EXISTS (SELECT 1 FROM sample_entities se WHERE se.sample_id = m.sample_id)"""
SQL_PAIRS_OFF = """
SELECT count(*) FROM pairs p WHERE p.subset_id = ?1 AND (p.partner_id = p.sample_id
  OR NOT EXISTS (SELECT 1 FROM sample_entities se WHERE se.sample_id = p.sample_id AND se.entity_id = p.entity_id)
  OR NOT EXISTS (SELECT 1 FROM sample_entities se WHERE se.sample_id = p.partner_id AND se.entity_id = p.entity_id)
  OR NOT EXISTS (SELECT 1 FROM subset_entities e WHERE e.subset_id = ?1 AND e.entity_id = p.entity_id)
  OR NOT EXISTS (SELECT 1 FROM subset_members m WHERE m.subset_id = ?1 AND m.sample_id = p.partner_id))"""


def subset_id(con, name):
    return con.execute("SELECT id FROM subsets WHERE name = ?", (name,)).fetchone()[0]


def check_subset(db, name, free, strict):
    con = sqlite3.connect(db)
    sid = subset_id(con, name)
    members = {r[0] for r in con.execute("SELECT sample_id FROM subset_members WHERE subset_id = ?", (sid,))}
    total = con.execute("SELECT count(*) FROM samples").fetchone()[0]
    no_ent = con.execute("SELECT count(*) FROM samples s WHERE NOT EXISTS "
                         "(SELECT 1 FROM sample_entities se WHERE se.sample_id = s.id)").fetchone()[0]
    nent = con.execute("SELECT count(*) FROM subset_entities WHERE subset_id = ?", (sid,)).fetchone()[0]
    a = con.execute(SQL_MEMBER_WITHOUT_ENTITY, (sid,)).fetchone()[0]
    b = con.execute(SQL_ENTITY_NOT_MEMBER, (sid,)).fetchone()[0]
    c = con.execute(SQL_NO_ENTITY_MEMBERS, (sid,)).fetchone()[0]
    free_in = len(free & members)
    con.close()
    figs = (f"{len(members)} members of {total} ({100 * len(members) / total:.1f}%), {nent} entities; "
            f"{a} members without a subset entity, {b} samples with one left out, {c} members with no entity "
            f"({no_ent} samples have none); generator's class-free captions: {len(free)}, {free_in} of them members")
    ok = a == 0 and b == 0 and c == 0 and (free_in == 0 or not strict)
    what = ("captions that name no listed entity (the generator's class-free ones) are excluded" if strict else
            "members are exactly the samples with a subset entity; captions with no entity are excluded")
    check(f"issue5 subset {name}: {what}", ok, figs)
    return members


def pairs_of(db, name):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT p.sample_id, p.k, p.partner_id, p.entity_id FROM pairs p JOIN subsets s "
                       "ON s.id = p.subset_id AND s.name = ? ORDER BY 1, 2", (name,)).fetchall()
    con.close()
    return rows


def check_pairs(db, name, members, seed, dbs):
    con = sqlite3.connect(db)
    sid = subset_id(con, name)
    off = con.execute(SQL_PAIRS_OFF, (sid,)).fetchone()[0]
    n, paired, dup = con.execute(
        "SELECT count(*), count(DISTINCT sample_id), count(*) - count(DISTINCT sample_id || ':' || partner_id) "
        "FROM pairs WHERE subset_id = ?", (sid,)).fetchone()
    con.close()
    check(f"issue5 pairs {name}: every pair shares its recorded entity (SQL), partner a member, never itself",
          n > 0 and off == 0 and dup == 0,
          f"{n} pairs over {paired} of {len(members)} members ({n / max(1, paired):.2f} per member), "
          f"{off} off, {dup} repeated partners")
    same, other = pairs_of(dbs[0], name), pairs_of(dbs[1], name)
    mine = pairs_of(db, name)
    differ = sum(x != y for x, y in zip(mine, other)) + abs(len(mine) - len(other))
    check(f"issue5 pairs: the same seed ({seed}) gives the same pairs, another seed ({seed + 1}) others",
          mine == same and differ > len(mine) // 2,
          f"seed {seed} twice: {'identical' if mine == same else 'DIFFERENT'} ({len(mine)} rows, sha256 "
          f"{hashlib.sha256(repr(mine).encode()).hexdigest()[:12]}); seed {seed + 1}: {differ} of {len(mine)} rows differ")


def cc4m_list(t, classes):
    """The paper's 100 CC4M words where the shared reference folder has them, else synth's classes
    plus people; one name a line (names that are no entity here are warned about and skipped)."""
    src = os.path.join(SHARED, "reference", "ovsegmentor-top100-words.txt")
    words = open(src).read().split() if os.path.exists(src) else classes + ["people"]
    path = os.path.join(t, "cc4m-words.txt")
    with open(path, "w") as f:
        f.write("\n".join(w.lower() for w in words) + "\n")
    return path, ("ovsegmentor-top100-words.txt" if os.path.exists(src) else "synth classes + people")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    t = fetchlib.tmp("ovseg-synth20k-")
    print(f"work folder {t} (KEEP_TMP=1 keeps it); {os.cpu_count()} cores, load average at start "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    wall0, cpu0 = time.time(), cpu_children()
    syn, db, out = os.path.join(t, "syn"), os.path.join(t, "s.db"), os.path.join(t, "out")
    port = fetchlib.free_port()
    run("synth", OVSEG, "synth", "--out", syn, "--n", n, "--seed", seed, "--base-url", f"http://127.0.0.1:{port}/")
    meta = json.load(open(os.path.join(syn, "synth.json")))
    classes = meta["classes"][1:]
    check_shares(syn, meta, n)
    subprocess.run(["sh", SERVE, "start", syn, str(port)], check=True, capture_output=True)
    try:
        check_curl(syn)
        run("init", OVSEG, "init", db)
        run("ingest", OVSEG, "ingest", db, os.path.join(syn, "cc12m-synth.tsv"))
        msg = run("fetch", OVSEG, "fetch", db, "--out", out)
    finally:
        subprocess.run(["sh", SERVE, "stop", syn], capture_output=True)
    print("     " + "\n     ".join(line for line in msg.strip().splitlines() if line.startswith("fetch:")))
    fetch_wall, fetch_cpu = stages[-1][1], stages[-1][2]
    n_ok = check_crawl(syn, db, out, n)
    floor(syn, n_ok, fetch_wall, fetch_cpu)

    run("entities", OVSEG, "entities", db)
    free = class_free_ids(db, classes)
    msg = run("subset --top 100", OVSEG, "subset", db, "--name", "cc4m", "--top", 100).strip().splitlines()
    print("     " + "\n     ".join(line for line in msg if line.startswith("subset ") or "in any sample" in line))
    members = check_subset(db, "cc4m", free, strict=False)
    words, src = cc4m_list(t, classes)
    run("subset --entities", OVSEG, "subset", db, "--name", "cc4m_list", "--entities", words)
    print(f"     cc4m_list: the CC4M words of {src}")
    check_subset(db, "cc4m_list", free, strict=True)
    copies = [os.path.join(t, "same.db"), os.path.join(t, "other.db")]
    for c in copies:
        copy_db(db, c)
    run("pairs", OVSEG, "pairs", db, "--subset", "cc4m", "--seed", 7)
    run("pairs (copy)", OVSEG, "pairs", copies[0], "--subset", "cc4m", "--seed", 7)
    run("pairs (copy)", OVSEG, "pairs", copies[1], "--subset", "cc4m", "--seed", 8)
    check_pairs(db, "cc4m", members, 7, copies)

    print()
    print("| stage | wall s | CPU s (user+sys) |")
    print("|---|---|---|")
    for stage, w, c in stages:
        print(f"| {stage} | {w:.1f} | {c:.1f} |")
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(f"| whole script (checks included) | {time.time() - wall0:.1f} | {cpu_children() - cpu0:.1f} "
          f"+ {me.ru_utime + me.ru_stime:.1f} (the checks in Python) |")
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    fails = [name for name, ok in results if not ok]
    print(f"{len(results) - len(fails)} passed, {len(fails)} failed")
    sys.exit(1 if fails else 0)


main()
