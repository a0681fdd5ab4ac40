"""chaos_train.py — kill -9 `ovseg train` at random moments (a small model on real training shards,
checkpoints every 3 steps), restart it each time (`--resume` once a complete checkpoint exists, else a
fresh start), and check that the finished run equals an uninterrupted one: metrics.tsv's step, epoch,
lr and loss columns byte for byte (so no step lost or repeated, and the loss curve after every resume
is the uninterrupted run's), the same final checkpoint bytes, no .tmp left, at most --keep checkpoint
pairs, every checkpoint and state file a readable safetensors file.

    .venv/bin/python tests/chaos/chaos_train.py [TRIALS] [KILLS_PER_TRIAL]   (defaults 20, 3)"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import shard_fixture  # noqa: E402
from harness import MINILM_VOCAB, OVSEG, ROOT  # noqa: E402

VOCAB = MINILM_VOCAB
SMALL = shard_fixture.SMALL_CONFIG
STEPS, EVERY, KEEP = 24, 3, 2


def train_cmd(t, run, resume):
    return [OVSEG, "-q", "train", "--config", os.path.join(t, "small.cfg"), "--shards", os.path.join(t, "train") + "/*.tar",
            "--run", run, "--steps", str(STEPS), "--batch", "4", "--threads", "1", "--ckpt-every", str(EVERY),
            "--keep", str(KEEP), "--vocab", VOCAB, "--seed", "3"] + (["--resume"] if resume else [])


def has_ckpt(run):
    if not os.path.isdir(run):
        return False
    names = os.listdir(run)
    return any(n.startswith("ckpt-") and n.endswith(".safetensors") and n.replace("ckpt-", "state-") in names
               for n in names)


def loss_columns(run):
    with open(os.path.join(run, "metrics.tsv")) as f:
        return ["\t".join(line.split("\t")[:7]) for line in f.read().splitlines()]


def end_state(run, ref):
    """Checks the invariants against the reference run folder; returns '' when fine, else why."""
    names = sorted(os.listdir(run))
    tmp = [n for n in names if n.endswith(".tmp")]
    if tmp:
        return f"left temporary files {tmp}"
    ck = [n for n in names if n.startswith("ckpt-")]
    st = [n for n in names if n.startswith("state-")]
    if len(ck) > KEEP or [c.replace("ckpt-", "state-") for c in ck] != st:
        return f"checkpoints {ck} and states {st} (keep {KEEP})"
    from safetensors import safe_open
    for n in ck + st:
        with safe_open(os.path.join(run, n), framework="pt") as f:
            for k in f.keys():
                f.get_slice(k)
    got, want = loss_columns(run), loss_columns(ref)
    steps = [r.split("\t")[0] for r in got[1:]]
    if steps != [str(i) for i in range(1, STEPS + 1)] and steps != [str(i) for i in range(STEPS)]:
        return f"metrics.tsv steps {steps}"
    if got != want:
        bad = next(i for i in range(min(len(got), len(want))) if got[i] != want[i]) if len(got) == len(want) else -1
        return f"metrics.tsv differs from the uninterrupted run (first at row {bad}: {got[bad] if bad >= 0 else len(got)})"
    last = "ckpt-%08d.safetensors" % STEPS
    if open(os.path.join(run, last), "rb").read() != open(os.path.join(ref, last), "rb").read():
        return f"{last} differs from the uninterrupted run's"
    return ""


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    t = tempfile.mkdtemp(prefix="ovseg-chaos-train-")
    try:
        db = shard_fixture.build(t, n=40, size=48)
        r = subprocess.run([OVSEG, "-q", "shard", db, "--subset", "cc4m", "--out", os.path.join(t, "train"),
                            "--shard-size", "20", "--seed", "5"], capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL chaos_train_setup: {r.stderr[-400:]}")
            return 1
        with open(os.path.join(t, "small.cfg"), "w") as f:
            f.write(SMALL)
        ref = os.path.join(t, "ref")
        t0 = time.time()
        r = subprocess.run(train_cmd(t, ref, False), capture_output=True, text=True)
        dur = time.time() - t0
        if r.returncode:
            print(f"FAIL chaos_train_reference: {r.stderr[-400:]}")
            return 1
        print(f"reference: {STEPS} steps, checkpoint every {EVERY}, in {dur:.2f}s")
        fails = sent = resumed = fresh = 0
        for trial in range(1, trials + 1):
            rng = random.Random(trial)
            run = os.path.join(t, f"t{trial}")
            runs = k = 0
            while True:
                runs += 1
                resume = has_ckpt(run)
                resumed += resume
                fresh += not resume
                p = subprocess.Popen(train_cmd(t, run, resume), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if k < kills:
                    time.sleep(rng.random() * dur * (1.0 if k == 0 else 0.6))
                    k += 1
                    if p.poll() is None:
                        p.kill()
                        sent += 1
                    p.wait()
                    continue
                err = p.communicate()[1].decode()
                if p.returncode:
                    why = f"restart failed (exit {p.returncode}): {err[-300:]}"
                else:
                    why = end_state(run, ref)
                break
            if why:
                print(f"FAIL chaos_train_trial_{trial}: {why}")
                fails += 1
            else:
                print(f"PASS chaos_train_trial_{trial}: {k} kill moments, {runs} runs, {STEPS} steps equal to the "
                      "uninterrupted run (losses, lr, final checkpoint)")
            shutil.rmtree(run, ignore_errors=True)
        print(f"chaos_train: {trials} trials, {sent} kill -9 sent to a running train, {resumed} restarts with --resume, "
              f"{fresh} fresh starts, {fails} failed")
        return 1 if fails else 0
    finally:
        shutil.rmtree(t, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
