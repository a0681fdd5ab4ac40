"""test_import_twin.py — issue 8: pretrained weights written by the PyTorch twin
(tests/reference/twin.py) under the public names import into ovseg, and ovseg's features then equal
the twin's.

The twin (a small tiny-based config, seeded random weights) writes its image encoder under DINO /
timm ViT names (`patch_embed.proj.*`, `pos_embed` [1, 1+P, C] with a cls row, `cls_token`,
`blocks.N.*` numbered across both grouping layers, `norm.*`, plus an ignored `head.*`) and its text
encoder under Hugging Face `BertForPreTraining` names (`bert.embeddings.*`, `bert.encoder.layer.N.*`,
`bert.pooler.*`, plus the ignored `bert.embeddings.position_ids` and `cls.*`). `ovseg train
--init-vit --init-text` runs one step at learning rate 0 and writes a checkpoint; then
- every imported tensor in that checkpoint equals the twin's bit for bit (by the twin's
  state_dict name), and the tensors the import does not cover (group tokens, grouping block,
  projection heads) are ovseg's own initialisation, not the twin's;
- the checkpoint loads strictly into a fresh twin, whose eval-mode image (pooled and per group) and
  text features equal `ovseg embed`'s on the same images and captions (max-abs diff / max-abs < 1e-4).
"""
import os
import random
import shutil
import subprocess
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import shard_fixture
from harness import OVSEG, ROOT, SHARED, main, test, tmpdir

sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import twin  # noqa: E402

BERT_VOCAB = os.path.join(ROOT, ".venv/minilm/vocab.txt")
# depth0 = 2, depth1 = 1: DINO block 2 must land on img_encoder.layers.1.blocks.0
CFG = dict(img_size=32, patch=8, width=64, heads=2, depth0=2, depth1=1, text_width=64, text_heads=2,
           text_layers=2, text_ff=128, proj_hidden=128, proj_out=32, mem_heads=2, text_len=16,
           vocab=2100, max_pos=64)
IMG, TXT = "img_encoder.", "text_encoder.transformer."
_state = {}


def vit_public_names(sd, depth0, g):
    """The twin's image encoder as a DINO/timm ViT: {public name: tensor}, {public: twin name}."""
    out, to_twin = {}, {}
    for name, v in sd.items():
        if not name.startswith(IMG):
            continue
        rest = name[len(IMG):]
        if rest.startswith("layers.") and ".blocks." in rest:
            layer, _, blk, tail = rest.split(".", 4)[1:]
            pub = "blocks.%d.%s" % (int(blk) + (depth0 if layer == "1" else 0), tail)
        elif rest.startswith(("patch_embed.proj.", "norm.")):
            pub = rest
        elif rest == "pos_embed":
            pub = rest
            v = torch.cat([torch.randn(1, v.shape[1], generator=g), v]).unsqueeze(0)  # [1, 1+P, C]: a cls row
        else:
            continue  # group tokens, grouping block: not in a ViT
        out[pub] = v.contiguous()
        to_twin[pub] = name
    C = sd[IMG + "pos_embed"].shape[1]
    out["cls_token"] = torch.randn(1, 1, C, generator=g)  # ignored by the import
    out["head.weight"], out["head.bias"] = torch.randn(10, C, generator=g), torch.randn(10, generator=g)
    return out, to_twin


def bert_public_names(sd, g):
    """The twin's text encoder as a BertForPreTraining: `bert.` prefix, plus tensors the import ignores."""
    out, to_twin = {}, {}
    for name, v in sd.items():
        if name.startswith(TXT):
            pub = "bert." + name[len(TXT):]
            out[pub] = v.contiguous()
            to_twin[pub] = name
    out["bert.embeddings.position_ids"] = torch.arange(CFG["max_pos"]).unsqueeze(0)
    out["cls.predictions.bias"] = torch.randn(CFG["vocab"], generator=g)
    return out, to_twin


def run_ok(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-600:]}"
    return r


def setup():
    """The twin, its two public-name files, and ovseg's checkpoint after importing them."""
    if _state:
        return _state
    d = tmpdir()
    torch.manual_seed(11)
    model = twin.MultiLabelContrastive(twin.Cfg("tiny", **CFG))
    with torch.no_grad():  # every tensor distinct from any initialisation (LayerNorm 1/0, zero biases)
        for n, p in model.named_parameters():
            if n.startswith((IMG, TXT)):
                p.add_(0.02 * torch.randn_like(p))
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(12)
    vit, vit_map = vit_public_names(sd, CFG["depth0"], g)
    bert, bert_map = bert_public_names(sd, g)
    vit_f, bert_f = os.path.join(d, "dino.safetensors"), os.path.join(d, "bert.safetensors")
    save_file(vit, vit_f)
    save_file(bert, bert_f)

    vocab = os.path.join(d, "vocab.txt")
    with open(BERT_VOCAB) as f, open(vocab, "w") as out:
        out.writelines(f.readlines()[:CFG["vocab"]])  # the specials, then "the", "of", ...
    db = shard_fixture.build(d, n=8, size=40)
    shards = os.path.join(d, "shards")
    run_ok([OVSEG, "-q", "shard", db, "--subset", "cc4m", "--out", shards, "--shard-size", "8", "--seed", "5"])
    cfg = os.path.join(d, "import.cfg")
    with open(cfg, "w") as f:
        f.write("preset = tiny\n" + "".join(f"{k} = {v}\n" for k, v in CFG.items()))
    run = os.path.join(d, "run")
    run_ok([OVSEG, "-q", "train", "--config", cfg, "--shards", shards + "/*.tar", "--run", run, "--steps", "1",
            "--batch", "4", "--threads", "1", "--vocab", vocab, "--seed", "3", "--init-vit", vit_f,
            "--init-text", bert_f, "--set", "lr=0", "--set", "warmup_lr=0", "--set", "min_lr=0",
            "--set", "weight_decay=0"])
    ck = os.path.join(run, "ckpt-%08d.safetensors" % 1)
    _state.update(d=d, sd=sd, ck=ck, vocab=vocab, mapped={**vit_map, **bert_map})
    return _state


@test
def import_twin_written_dino_and_bert_weights_bit_exact():
    st = setup()
    sd, got = st["sd"], load_file(st["ck"])
    twin_names = set(st["mapped"].values())
    # the import covers every image-encoder tensor but the grouping layer's own, and the whole BERT
    want = {n for n in sd if n.startswith(TXT) or n.startswith(IMG) and ".downsample." not in n
            and not n.endswith("group_token")}
    assert twin_names == want, sorted(twin_names ^ want)[:6]
    bad = [n for n in sorted(twin_names) if got[n].shape != sd[n].shape or not torch.equal(got[n], sd[n].float())]
    assert not bad, f"{len(bad)} of {len(twin_names)} imported tensors differ: {bad[:4]}"
    # not imported: ovseg's own initialisation (the twin's random weights were not copied)
    for n in ("img_encoder.layers.0.group_token", "img_encoder.layers.0.downsample.assign.q_proj.weight",
              "img_projector.linear_out.weight", "text_projector.linear_out.weight"):
        assert not torch.equal(got[n], sd[n].float()), f"{n} equals the twin's, but no file provides it"
    print(f"  {len(twin_names)} tensors imported bit for bit "
          f"({sum(n.startswith(IMG) for n in twin_names)} ViT, {sum(n.startswith(TXT) for n in twin_names)} BERT)",
          flush=True)


@test
def features_after_import_match_twin():
    import numpy as np
    from PIL import Image
    from transformers import BertTokenizerFast
    st = setup()
    with safe_open(st["ck"], framework="pt") as f:
        mc = dict(kv.split("=", 1) for kv in f.metadata()["model_config"].strip().split("\n"))
    over = {k: int(mc[k]) for k in twin.PRESETS["tiny"]}
    assert all(over[k] == v for k, v in CFG.items()), over
    model = twin.MultiLabelContrastive(twin.Cfg("tiny", **over))
    model.load_state_dict(load_file(st["ck"]), strict=True)
    model.eval()
    S = CFG["img_size"]
    d = os.path.join(st["d"], "imgs")
    os.makedirs(d, exist_ok=True)
    rng = random.Random(9)
    for i in range(3):  # at the model's size: embed neither resizes nor crops
        with open(os.path.join(d, f"t{i}.png"), "wb") as f:
            f.write(shard_fixture.image_bytes(rng, S, "PNG"))
    with open(os.path.join(SHARED, "data/cc3m-val-captions-odd.tsv"), encoding="utf-8") as f:
        caps = [next(f).split("\t")[0] for _ in range(6)]
    caps += ["the man and the woman in the city", "a"]
    texts = os.path.join(st["d"], "texts.txt")
    with open(texts, "w") as f:
        f.write("\n".join(caps) + "\n")
    out = os.path.join(st["d"], "emb.safetensors")
    run_ok([OVSEG, "-q", "embed", "--ckpt", st["ck"], "--images", d, "--texts", texts, "--out", out])
    got = load_file(out)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    imgs = [(np.asarray(Image.open(os.path.join(d, f"t{i}.png")).convert("RGB")) / 255.0 - mean) / std for i in range(3)]
    x = torch.tensor(np.stack(imgs), dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    gx, gf, _, _, _ = model.encode_image_eval(x)
    tok = BertTokenizerFast(st["vocab"], do_lower_case=True)
    enc = tok(caps, padding="max_length", max_length=CFG["text_len"], truncation=True, return_tensors="pt")
    tf = model.encode_text_eval(enc["input_ids"], enc["attention_mask"])

    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max()).item()
    errs = {"image": rel(got["image_features"], gx), "groups": rel(got["image_group_features"], gf),
            "text": rel(got["text_features"], tf)}
    print("  max relative error: " + ", ".join(f"{k} {v:.3g}" for k, v in errs.items()), flush=True)
    assert got["image_features"].shape == gx.shape and got["text_features"].shape == tf.shape
    assert all(v < 1e-4 for v in errs.values()), errs
    shutil.rmtree(st["d"], ignore_errors=True)


if __name__ == "__main__":
    main()
