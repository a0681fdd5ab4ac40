"""test_shard_webdataset.py — `ovseg shard` on a database with real raw shards (tests/shard_fixture.py):
the db rows and manifest, resume and refusal, and the `webdataset` library reading the training shards
and yielding the same samples (keys, captions, json, both images) as ovseg's loader without shuffling.
The question's [MASK] tokens are checked against entity spans with Hugging Face's offsets."""
import hashlib
import json
import os
import sqlite3
import subprocess

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import numpy as np  # noqa: E402

import shard_fixture  # noqa: E402
import atexit  # noqa: E402
import shutil  # noqa: E402

from harness import OVSEG, ROOT, main, test, tmpdir  # noqa: E402


_made = []


def _tmp():
    d = tmpdir()
    _made.append(d)
    return d


atexit.register(lambda: os.environ.get("KEEP_TMP") or [shutil.rmtree(d, ignore_errors=True) for d in _made])

MODEL = os.path.join(ROOT, ".venv/minilm")
LOADER = os.path.join(ROOT, "build/tests/test_loader")
S = 64
_state = {}


def setup():
    if not _state:
        d = _tmp()
        db = shard_fixture.build(d, n=60, size=S)
        out = os.path.join(d, "train")
        r = subprocess.run([OVSEG, "-q", "shard", db, "--subset", "cc4m", "--out", out, "--shard-size", "25",
                            "--seed", "5"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        _state.update(d=d, db=db, out=out)
    return _state


@test
def shard_writes_manifest_rows_and_members():
    st = setup()
    man = json.load(open(os.path.join(st["out"], "manifest.json")))
    assert [s["samples"] for s in man["shards"]] == [25, 25, 10], man
    assert man["samples"] == 60 and man["seed"] == 5
    for s in man["shards"]:
        data = open(os.path.join(st["out"], s["path"]), "rb").read()
        assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["bytes"]
    con = sqlite3.connect(st["db"])
    assert con.execute("SELECT count(*), sum(samples) FROM shards WHERE kind='train'").fetchone() == (3, 60)
    assert con.execute("SELECT count(DISTINCT sample_id) FROM train_members").fetchone()[0] == 60
    assert con.execute("SELECT status FROM runs WHERE verb='shard'").fetchone()[0] == "ok"


@test
def shard_order_is_seeded_random():
    st = setup()
    import webdataset as wds
    keys = [s["__key__"] for s in wds.WebDataset(os.path.join(st["out"], "train-{000000..000002}.tar"), shardshuffle=False)]
    assert sorted(keys) == [f"{i:09d}" for i in range(1, 61)] and keys != sorted(keys)


@test
def shard_rerun_resumes_and_other_params_are_refused():
    st = setup()
    before = open(os.path.join(st["out"], "manifest.json")).read()
    r = subprocess.run([OVSEG, "shard", st["db"], "--subset", "cc4m", "--out", st["out"], "--shard-size", "25",
                        "--seed", "5"], capture_output=True, text=True)
    assert r.returncode == 0 and "3 already done" in r.stderr, r.stderr
    assert open(os.path.join(st["out"], "manifest.json")).read() == before
    r = subprocess.run([OVSEG, "shard", st["db"], "--subset", "cc4m", "--out", st["out"], "--shard-size", "25",
                        "--seed", "6"], capture_output=True, text=True)
    assert r.returncode == 1 and "different" in r.stderr, r.stderr
    r = subprocess.run([OVSEG, "shard", st["db"], "--subset", "nope", "--out", st["out"]], capture_output=True, text=True)
    assert r.returncode == 1 and "nope" in r.stderr, r.stderr
    other = os.path.join(st["d"], "elsewhere")
    r = subprocess.run([OVSEG, "shard", st["db"], "--subset", "cc4m", "--out", other, "--raw-root", "/nonexistent"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "--raw-root" in r.stderr and os.listdir(other) == [], r.stderr[-300:]


@test
def shard_after_a_crash_rewrites_only_the_missing_shard():
    st = setup()
    man = json.load(open(os.path.join(st["out"], "manifest.json")))
    last = os.path.join(st["out"], man["shards"][2]["path"])
    con = sqlite3.connect(st["db"])  # as if killed after the rename, before the db commit
    sid = con.execute("SELECT id FROM shards WHERE path=?", (last,)).fetchone()[0]
    con.execute("DELETE FROM train_members WHERE shard_id=?", (sid,))
    con.execute("DELETE FROM shards WHERE id=?", (sid,))
    con.commit()
    os.remove(last)
    open(last + ".tmp", "wb").write(b"half a shard")  # and a stale temporary file
    r = subprocess.run([OVSEG, "shard", st["db"], "--subset", "cc4m", "--out", st["out"], "--shard-size", "25",
                        "--seed", "5"], capture_output=True, text=True)
    assert r.returncode == 0 and "1 written, 2 already done" in r.stderr, r.stderr
    assert not os.path.exists(last + ".tmp")
    assert hashlib.sha256(open(last, "rb").read()).hexdigest() == man["shards"][2]["sha256"]
    assert con.execute("SELECT count(*) FROM train_members").fetchone()[0] == 60


def normalise(img):
    a = np.asarray(img.convert("RGB"), np.float32) / 255.0
    a = (a - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return a.transpose(2, 0, 1)


def mask_rule(tok, caption, spans):
    """The question's ids by OVSegmentor's rule, from HF's own offsets: a caption token overlapping an
    entity span becomes [MASK], consecutive ones of the same space-separated word and span collapse."""
    enc = tok(caption, add_special_tokens=False, return_offsets_mapping=True)
    b = caption.encode("utf-8")
    char2byte = [len(caption[:i].encode("utf-8")) for i in range(len(caption) + 1)]
    word_of = [caption[:i].count(" ") for i in range(len(caption) + 1)]  # fixture captions: single spaces
    out, prev = [], None
    for tid, (cs, ce) in zip(enc["input_ids"], enc["offset_mapping"]):
        bs, be = char2byte[cs], char2byte[ce]
        hit = [k for k, (s, e) in enumerate(spans) if bs < e and s < be]
        if not hit:
            out.append(tid)
            prev = None
            continue
        key = (hit[0], word_of[cs])
        if key != prev:
            out.append(tok.mask_token_id)
        prev = key
    assert len(b) == char2byte[-1]
    ids = [tok.cls_token_id] + out[:75] + [tok.sep_token_id]
    return ids + [0] * (77 - len(ids))


@test
def webdataset_yields_the_same_samples_as_the_loader():
    st = setup()
    import webdataset as wds
    from PIL import Image
    import io
    from transformers import BertTokenizerFast
    tok = BertTokenizerFast.from_pretrained(MODEL)
    dump = os.path.join(st["d"], "dump.bin")
    subprocess.run([LOADER, "dump", st["out"], os.path.join(MODEL, "vocab.txt"), str(S), dump], check=True)
    dt = np.dtype([("key", "<i8"), ("ids", "<i4", 77), ("q", "<i4", 77), ("a", "<i4", 77), ("e", "<i4", 77),
                   ("img", "<f4", (3, S, S)), ("img2", "<f4", (3, S, S))])
    got = np.fromfile(dump, dtype=dt)
    ds = wds.WebDataset(os.path.join(st["out"], "train-{000000..000002}.tar"), shardshuffle=False)
    want = list(ds)
    assert len(got) == len(want) == 60, (len(got), len(want))
    for g, w in zip(got, want):
        assert f"{int(g['key']):09d}" == w["__key__"]
        cap = w["txt"].decode("utf-8")
        meta = json.loads(w["json"])
        assert meta["key"] == w["__key__"]
        ids = tok(cap, padding="max_length", max_length=77, truncation=True)["input_ids"]
        assert list(g["ids"]) == ids, (cap, list(g["ids"][:12]), ids[:12])
        spans = [(e["start"], e["end"]) for e in meta["entities"]]
        assert spans and all(cap.encode()[s:e].decode() == x["name"] for (s, e), x in zip(spans, meta["entities"]))
        assert list(g["q"]) == mask_rule(tok, cap, spans), (cap, list(g["q"][:12]))
        names = list(dict.fromkeys(e["name"] for e in meta["entities"]))
        answer = tok.decode([t for t in g["a"] if t not in (0, 101, 102)])
        assert answer.endswith(" and ".join(names)) or answer.endswith(" ".join(names)), (answer, names)
        pair = meta["pairs"][0]
        e_ids = tok("A photo of " + pair["entity"], padding="max_length", max_length=77)["input_ids"]
        assert list(g["e"]) == e_ids
        img = normalise(Image.open(io.BytesIO(w[[k for k in w if k in ("webp", "jpg")][0]])))
        img2 = normalise(Image.open(io.BytesIO(w[pair["member"]])))
        assert np.abs(g["img"] - img).max() < 1e-4, np.abs(g["img"] - img).max()
        assert np.abs(g["img2"] - img2).max() < 1e-4, np.abs(g["img2"] - img2).max()


main()
