"""test_stage2_model_resume.py — `ovseg train --stage 2 --init STAGE1_RUN` end to end on real shards
with partners (tests/shard_fixture.py + `ovseg shard`), the real BERT-uncased vocab and a small model:

- stage 2 starts from a stage-1 run: the model config comes from the checkpoint, the mask column is
  filled (finite, > 0), the text encoder does not change, the checkpoints hold the momentum encoder
  as "img_encoder_momentum.*" equal to 0.99-EMA of the online weights (step 1: exactly
  0.99·init + 0.01·online);
- exact resume: a stage-2 run killed with SIGKILL after a checkpoint and resumed writes the same
  metrics.tsv loss columns and the same final checkpoint (momentum weights included) as a straight run.
"""
import os
import signal
import subprocess
import time

import torch
from safetensors.torch import load_file

import harness
import test_train_cli as t1  # its helpers (shards, small config, vocab); not its tests
from harness import OVSEG, main, test

harness._tests.clear()

STEPS = 8
_state = {}


def stage1():
    if "s1" not in _state:
        st = t1.setup()
        run = os.path.join(st["d"], "s2-stage1")
        cmd = t1.train_cmd(run)
        i = cmd.index("--steps")
        cmd[i + 1] = "4"
        t1.run_ok(cmd)
        _state["s1"] = run
    return _state["s1"]


def cmd2(run, *extra):
    st = t1.setup()
    return [OVSEG, "-q", "train", "--stage", "2", "--shards", st["shards"] + "/*.tar", "--run", run,
            "--steps", str(STEPS), "--batch", "4", "--threads", "1", "--ckpt-every", "2", "--keep", "2",
            "--vocab", t1.VOCAB, "--seed", "4"] + list(extra)


def straight():
    if "straight" not in _state:
        run = os.path.join(t1.setup()["d"], "s2-straight")
        t1.run_ok(cmd2(run, "--init", stage1()))
        _state["straight"] = run
    return _state["straight"]


def ckpt(run, step):
    return load_file(os.path.join(run, "ckpt-%08d.safetensors" % step))


@test
def stage2_trains_from_stage1_with_mask_loss_and_frozen_text():
    run = straight()
    cols = [r.split("\t") for r in t1.loss_columns(run)]
    assert cols[0][6] == "mask", cols[0]
    masks = [float(r[6]) for r in cols[1:]]
    assert len(masks) == STEPS and all(0 < m < 10 for m in masks), masks
    init = ckpt(stage1(), 4)
    last = ckpt(run, STEPS)
    for k, v in init.items():
        if k.startswith("text_encoder."):
            assert torch.equal(v, last[k]), f"{k} changed in stage 2"
    moved = [k for k in init if k.startswith("img_encoder.") and not torch.equal(init[k], last[k])]
    assert moved, "the image encoder did not train"
    mom = {k[len("img_encoder_momentum."):]: v for k, v in last.items() if k.startswith("img_encoder_momentum.")}
    assert len(mom) == len([k for k in init if k.startswith("img_encoder.")]), len(mom)


@test
def stage2_momentum_is_ema_of_online_weights():
    run = os.path.join(t1.setup()["d"], "s2-one")
    cmd = cmd2(run, "--init", stage1())
    i = cmd.index("--steps")
    cmd[i + 1] = "1"
    t1.run_ok(cmd)
    init, one = ckpt(stage1(), 4), ckpt(run, 1)
    worst = 0.0
    for k, v in init.items():
        if not k.startswith("img_encoder."):
            continue
        want = 0.99 * v.double() + 0.01 * one[k].double()
        got = one["img_encoder_momentum." + k[len("img_encoder."):]].double()
        worst = max(worst, float((want - got).abs().max()) / max(float(want.abs().max()), 1e-12))
    assert worst < 1e-6, worst


@test
def stage2_resume_after_kill_9_is_bit_exact():
    ref = straight()
    run = os.path.join(t1.setup()["d"], "s2-killed")
    p = subprocess.Popen(cmd2(run, "--init", stage1()), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while t1.rows(run) < 3 and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert t1.rows(run) < STEPS, "finished before the kill"
    t1.run_ok(cmd2(run, "--resume"))
    assert t1.loss_columns(run) == t1.loss_columns(ref)
    a = open(os.path.join(ref, "ckpt-%08d.safetensors" % STEPS), "rb").read()
    b = open(os.path.join(run, "ckpt-%08d.safetensors" % STEPS), "rb").read()
    assert a == b, "final checkpoints differ"


@test
def stage2_resume_without_momentum_tensor_is_rejected_by_name():
    from safetensors import safe_open
    from safetensors.torch import save_file
    run = t1.copy_run(straight(), "s2-nomom")
    ck = os.path.join(run, "ckpt-%08d.safetensors" % STEPS)
    with safe_open(ck, framework="pt") as f:
        meta = f.metadata()
    sd = load_file(ck)
    name = "img_encoder_momentum.pos_embed"
    del sd[name]
    save_file(sd, ck, metadata=meta)
    t1.expect_fail(cmd2(run, "--resume", "--steps", str(STEPS + 2)), name)
    assert t1.rows(run) == STEPS


@test
def stage2_checkpoint_loads_in_embed():
    st = t1.setup()
    texts = os.path.join(st["d"], "s2-texts.txt")
    with open(texts, "w") as f:
        f.write("a photo of a dog\n")
    out = os.path.join(st["d"], "s2-emb.safetensors")
    t1.run_ok([OVSEG, "-q", "embed", "--ckpt", straight(), "--texts", texts, "--out", out])
    from safetensors import safe_open
    with safe_open(out, framework="pt") as f:
        assert f.get_tensor("text_features").shape == (1, 32)


if __name__ == "__main__":
    main()
