"""test_train_cli.py — `ovseg train` and `ovseg embed` end to end with the real model and loader on
real training shards (tests/shard_fixture.py + `ovseg shard`) and the real BERT-uncased vocab
(all-MiniLM-L6-v2's vocab.txt, 30,522 tokens):

- exact resume: 16 steps straight vs a run killed with SIGKILL after step 8's checkpoint and
  resumed: metrics.tsv loss columns identical byte for byte (1 thread), and identical ckpt-16;
- a checkpoint written by C loads with the `safetensors` library (names, shapes, metadata);
- bad input, each an error (exit 1) before any training step: a vocab of the wrong size, shards
  with no samples, a truncated checkpoint, a wrong-shape checkpoint; a loss driven to inf/NaN stops
  naming the step and the term, with the last checkpoint intact;
- `ovseg embed`: normalised pooled, per-group and text features with their keys.
"""
import json
import os

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
import signal
import subprocess
import time

from safetensors import safe_open
from safetensors.torch import load_file, save_file

import shard_fixture
from harness import MINILM_VOCAB, OVSEG, ROOT, SHARED, main, test, tmpdir

VOCAB = MINILM_VOCAB
STEPS = 16
_state = {}


def setup():
    if not _state:
        _state.update(shard_fixture.small_training(tmpdir()))
    return _state


def train_cmd(run, *extra):
    st = setup()
    return [OVSEG, "-q", "train", "--config", st["cfg"], "--shards", st["shards"] + "/*.tar", "--run", run,
            "--steps", str(STEPS), "--batch", "4", "--threads", "1", "--ckpt-every", "4", "--keep", "2",
            "--vocab", VOCAB, "--seed", "3"] + list(extra)


def run_ok(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-600:]}"
    return r


def loss_columns(run):
    with open(os.path.join(run, "metrics.tsv")) as f:
        return ["\t".join(line.split("\t")[:7]) for line in f.read().splitlines()]


def rows(run):
    try:
        return len(loss_columns(run)) - 1
    except FileNotFoundError:
        return 0


def straight():
    if "straight" not in _state:
        run = os.path.join(setup()["d"], "straight")
        run_ok(train_cmd(run))
        _state["straight"] = run
    return _state["straight"]


@test
def train_cli_writes_metrics_and_checkpoints():
    run = straight()
    cols = loss_columns(run)
    assert cols[0] == "step\tepoch\tlr\ttotal\tcontrastive\tentity\tmask", cols[0]
    assert len(cols) == STEPS + 1
    ck = os.path.join(run, "ckpt-%08d.safetensors" % STEPS)
    with safe_open(ck, framework="pt") as f:
        meta = f.metadata()
        assert meta["format"] == "ovseg-ckpt-1" and "width=64" in meta["model_config"].split("\n")
        keys = set(f.keys())
        assert "logit_scale" in keys and "img_encoder.patch_embed.proj.weight" in keys, sorted(keys)[:5]
    sd = load_file(ck)
    assert all(v.dtype.is_floating_point for v in sd.values())
    assert sorted(os.listdir(run)) == sorted(["metrics.tsv", "vocab.txt", "ckpt-%08d.safetensors" % 12,
                                               "state-%08d.safetensors" % 12, "ckpt-%08d.safetensors" % 16,
                                               "state-%08d.safetensors" % 16]), os.listdir(run)


@test
def train_cli_resume_after_kill_9_is_bit_exact():
    ref = straight()
    run = os.path.join(setup()["d"], "killed")
    p = subprocess.Popen(train_cmd(run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while rows(run) < 9 and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert rows(run) < STEPS, "finished before the kill"
    run_ok(train_cmd(run, "--resume"))
    assert loss_columns(run) == loss_columns(ref)
    a = open(os.path.join(ref, "ckpt-%08d.safetensors" % STEPS), "rb").read()
    b = open(os.path.join(run, "ckpt-%08d.safetensors" % STEPS), "rb").read()
    assert a == b, "final checkpoints differ"


@test
def train_cli_epochs_stop_after_and_resume():
    run = os.path.join(setup()["d"], "epochs")
    cmd = train_cmd(run, "--stop-after", "5")
    i = cmd.index("--steps")
    cmd[i:i + 2] = ["--epochs", "2"]
    run_ok(cmd)
    assert rows(run) == 5 and os.path.exists(os.path.join(run, "ckpt-%08d.safetensors" % 5))
    run_ok([c for c in cmd if c not in ("--stop-after", "5")] + ["--resume"])
    cols = loss_columns(run)
    assert len(cols) == 1 + 20, len(cols)  # 40 samples / batch 4 = 10 steps an epoch
    assert [c.split("\t")[1] for c in cols[1:]] == ["0"] * 10 + ["1"] * 10


def expect_fail(cmd, want):
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr[-400:]}"
    assert want in r.stderr, r.stderr[-400:]
    return r


@test
def train_cli_rejects_wrong_vocab_size():
    d = setup()["d"]
    small = os.path.join(d, "small-vocab.txt")
    with open(VOCAB) as f, open(small, "w") as g:
        g.writelines(f.readlines()[:1000])
    run = os.path.join(d, "badvocab")
    cmd = train_cmd(run)
    cmd[cmd.index("--vocab") + 1] = small
    expect_fail(cmd, "1000 tokens, but the model config's vocab is 30522")
    assert rows(run) == 0


@test
def train_cli_rejects_shards_without_samples():
    d = setup()["d"]
    empty = os.path.join(d, "empty")
    os.makedirs(empty, exist_ok=True)
    man = json.load(open(os.path.join(setup()["shards"], "manifest.json")))
    man["shards"] = []
    for k in ("samples",):
        if k in man:
            man[k] = 0
    json.dump(man, open(os.path.join(empty, "manifest.json"), "w"))
    cmd = train_cmd(os.path.join(d, "noshards"))
    cmd[cmd.index("--shards") + 1] = empty
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and "error" in r.stderr, r.stderr[-400:]
    assert rows(os.path.join(d, "noshards")) == 0


def copy_run(src, name):
    import shutil
    dst = os.path.join(setup()["d"], name)
    shutil.copytree(src, dst)
    return dst


@test
def train_cli_resume_rejects_truncated_checkpoint():
    run = copy_run(straight(), "trunc")
    ck = os.path.join(run, "ckpt-%08d.safetensors" % STEPS)
    os.truncate(ck, os.path.getsize(ck) - 100)
    r = expect_fail(train_cmd(run, "--resume", "--steps", "20"), "truncated")
    assert "tensor '" in r.stderr
    assert rows(run) == STEPS


@test
def train_cli_resume_rejects_wrong_shape_checkpoint():
    run = copy_run(straight(), "wrongshape")
    ck = os.path.join(run, "ckpt-%08d.safetensors" % STEPS)
    with safe_open(ck, framework="pt") as f:
        meta = f.metadata()
    sd = load_file(ck)
    name = "img_encoder.patch_embed.proj.bias"
    sd[name] = sd[name][:-1].clone()
    save_file(sd, ck, metadata=meta)
    expect_fail(train_cmd(run, "--resume", "--steps", "20"), f"tensor '{name}' has shape [63], the model needs [64]")
    assert rows(run) == STEPS


@test
def train_cli_nonfinite_loss_stops_naming_step_and_term():
    run = os.path.join(setup()["d"], "diverge")
    cmd = train_cmd(run, "--set", "lr=1e30", "--warmup-steps", "0", "--ckpt-every", "1")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr[-400:]
    assert "training stopped" in r.stderr and " loss is " in r.stderr or "gradient norm" in r.stderr, r.stderr[-400:]
    step = int(r.stderr.split("step ")[1].split(":")[0])
    assert rows(run) == step - 1
    if step > 1:
        with safe_open(os.path.join(run, "ckpt-%08d.safetensors" % (step - 1)), framework="pt") as f:
            assert f.metadata()["step"] == str(step - 1)


@test
def embed_writes_normalised_features_with_keys():
    st = setup()
    run = straight()
    imgs = os.path.join(st["d"], "imgs")
    os.makedirs(imgs, exist_ok=True)
    import random
    rng = random.Random(4)
    for i in range(3):
        with open(os.path.join(imgs, f"im{i}.png"), "wb") as f:
            f.write(shard_fixture.image_bytes(rng, 40 + 10 * i, "PNG"))
    texts = os.path.join(st["d"], "texts.txt")
    with open(texts, "w") as f:
        f.write("a photo of a dog\na man in the city\n")
    out = os.path.join(st["d"], "emb.safetensors")
    run_ok([OVSEG, "-q", "embed", "--ckpt", run, "--images", imgs, "--texts", texts, "--out", out, "--batch", "2"])
    with safe_open(out, framework="pt") as f:
        meta = f.metadata()
        img, grp, txt = f.get_tensor("image_features"), f.get_tensor("image_group_features"), f.get_tensor("text_features")
    assert img.shape == (3, 32) and grp.shape == (3, 8, 32) and txt.shape == (2, 32), (img.shape, grp.shape, txt.shape)
    assert (img.norm(dim=-1) - 1).abs().max() < 1e-4 and (txt.norm(dim=-1) - 1).abs().max() < 1e-4
    assert (grp.norm(dim=-1) - 1).abs().max() < 1e-4
    assert [os.path.basename(k) for k in json.loads(meta["image_keys"])] == ["im0.png", "im1.png", "im2.png"]
    assert json.loads(meta["text_keys"]) == ["a photo of a dog", "a man in the city"]
    assert meta["checkpoint"].endswith("ckpt-%08d.safetensors" % STEPS)


@test
def checkpoint_loads_strictly_into_the_twin_with_equal_features():
    """A C checkpoint loads into tests/reference/twin.py (load_state_dict strict) and the twin's eval
    features of the same image (at the model's size: no resize) and texts equal ovseg embed's."""
    import sys
    import numpy as np
    import torch
    from PIL import Image
    from transformers import BertTokenizerFast
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import twin
    st = setup()
    run = straight()
    ck = os.path.join(run, "ckpt-%08d.safetensors" % STEPS)
    with safe_open(ck, framework="pt") as f:
        mc = dict(kv.split("=", 1) for kv in f.metadata()["model_config"].strip().split("\n"))
    over = {k: int(mc[k]) for k in twin.PRESETS["tiny"]}
    model = twin.MultiLabelContrastive(twin.Cfg("tiny", **over))
    model.load_state_dict(load_file(ck), strict=True)
    model.eval()
    S = over["img_size"]
    d = os.path.join(st["d"], "twinimgs")
    os.makedirs(d, exist_ok=True)
    import random
    rng = random.Random(9)
    for i in range(2):
        with open(os.path.join(d, f"t{i}.png"), "wb") as f:
            f.write(shard_fixture.image_bytes(rng, S, "PNG"))
    texts = os.path.join(st["d"], "twintexts.txt")
    caps = ["a dog runs on the beach", "people walking in a city at night"]
    with open(texts, "w") as f:
        f.write("\n".join(caps) + "\n")
    out = os.path.join(st["d"], "twin-emb.safetensors")
    run_ok([OVSEG, "-q", "embed", "--ckpt", ck, "--images", d, "--texts", texts, "--out", out])
    got = load_file(out)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    imgs = [(np.asarray(Image.open(os.path.join(d, f"t{i}.png")).convert("RGB")) / 255.0 - mean) / std for i in range(2)]
    x = torch.tensor(np.stack(imgs), dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    gx, gf, _, _, _ = model.encode_image_eval(x)
    tok = BertTokenizerFast(VOCAB, do_lower_case=True)
    enc = tok(caps, padding="max_length", max_length=over["text_len"], truncation=True, return_tensors="pt")
    tf = model.encode_text_eval(enc["input_ids"], enc["attention_mask"])

    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max()).item()
    assert rel(got["image_features"], gx) < 1e-4, rel(got["image_features"], gx)
    assert rel(got["image_group_features"], gf) < 1e-4, rel(got["image_group_features"], gf)
    assert rel(got["text_features"], tf) < 1e-4, rel(got["text_features"], tf)


MINILM = os.path.dirname(VOCAB)
MINI_CFG = """preset = tiny
img_size = 32
patch = 8
width = 384
heads = 8
depth0 = 1
depth1 = 1
text_width = 384
text_heads = 12
text_layers = 6
text_ff = 1536
proj_hidden = 128
proj_out = 32
mem_heads = 8
text_len = 77
"""


def minilm_features(captions):
    """ovseg (text encoder imported from all-MiniLM-L6-v2, one step at lr 0) and Hugging Face
    transformers' BertModel from the same files, both through the checkpoint's text projector."""
    import sys
    import torch
    import torch.nn.functional as F
    from transformers import BertModel, BertTokenizerFast
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import twin
    st = setup()
    d = os.path.join(st["d"], "minilm")
    os.makedirs(d, exist_ok=True)
    cfg = os.path.join(d, "mini.cfg")
    with open(cfg, "w") as f:
        f.write(MINI_CFG)
    run = os.path.join(d, "run")
    if not os.path.exists(os.path.join(run, "ckpt-%08d.safetensors" % 1)):
        cmd = train_cmd(run, "--init-text", os.path.join(MINILM, "model.safetensors"), "--set", "lr=0",
                        "--set", "warmup_lr=0", "--set", "min_lr=0", "--set", "weight_decay=0")
        cmd[cmd.index("--config") + 1] = cfg
        cmd[cmd.index("--steps") + 1] = "1"
        run_ok(cmd)
    texts = os.path.join(d, "texts.txt")
    with open(texts, "w") as f:
        f.write("\n".join(captions) + "\n")
    out = os.path.join(d, "emb.safetensors")
    run_ok([OVSEG, "-q", "embed", "--ckpt", run, "--texts", texts, "--out", out, "--batch", "64"])
    got = load_file(out)["text_features"]
    ck = os.path.join(run, "ckpt-%08d.safetensors" % 1)
    with safe_open(ck, framework="pt") as f:
        mc = dict(kv.split("=", 1) for kv in f.metadata()["model_config"].strip().split("\n"))
    model = twin.MultiLabelContrastive(twin.Cfg("tiny", **{k: int(mc[k]) for k in twin.PRESETS["tiny"]}))
    model.load_state_dict(load_file(ck), strict=True)
    model.eval()
    hf = BertModel.from_pretrained(MINILM, add_pooling_layer=True).eval()
    tok = BertTokenizerFast(VOCAB, do_lower_case=True)
    want = []
    with torch.no_grad():
        for i in range(0, len(captions), 128):
            enc = tok(captions[i:i + 128], padding="max_length", max_length=77, truncation=True, return_tensors="pt")
            cls = hf(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state[:, 0]
            want.append(F.normalize(model.text_projector(cls), dim=-1))
    return got, torch.cat(want)


def real_captions(n):
    with open(os.path.join(SHARED, "data/cc3m-val-captions-odd.tsv"), encoding="utf-8") as f:
        caps = [line.split("\t")[0] for line in f.read().splitlines()]
    return caps[:n] if n else caps


@test
def minilm_import_text_features_equal_transformers():
    """Issue 8: all-MiniLM-L6-v2 imported by public names gives, through the same projector, the text
    features of transformers.BertModel (48 real captions here; all 7,917 in tests/bench/bench_train_import.sh)."""
    got, want = minilm_features(real_captions(int(os.environ.get("OVSEG_MINILM_CAPTIONS", "48"))))
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"  minilm: {len(got)} captions, max relative error {err:.3g}", flush=True)
    assert err < 1e-4, err


if __name__ == "__main__":
    main()
