"""test_dist_train_cli.py — `mpirun -np 2 ovseg train` end to end on real shards over loopback
(issue 12): each rank reads its own shard, rank 0 writes metrics and checkpoints (every rank's
loader cursor in the state, joined by '|');

- kill -9 of mpirun mid-training: both ranks end with it within 0.5 s (OpenMPI gives each rank a
  process group of its own; ovseg asks the kernel to kill a rank when its launcher dies), then
  `--resume` with 2 ranks:
  metrics.tsv loss columns and the final checkpoint byte for byte as an uninterrupted 2-rank run;
- the same for stage 2 (--init from the 2-rank stage-1 run; mask loss, momentum encoder);
- kill -9 of one rank: the job ends by itself (no hang) with mpirun naming the dead rank, the last
  checkpoint is intact and the run resumes to the same result;
- resuming a 2-rank run with another number of ranks, and a global batch that the ranks cannot
  split, are clear errors.
Skipped when ovseg was built without MPI or mpirun is missing. Each rank runs 1 thread.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import shard_fixture
from harness import MINILM_VOCAB, OVSEG, ROOT, main, test, tmpdir

VOCAB = MINILM_VOCAB
STEPS = 20   # long enough that a kill after checkpoint 2 lands before the end on a fast machine
S2_STEPS = 12  # the same for the stage-2 job (6 steps could finish before the kill on an idle machine)
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", "--mca", "btl", "self,tcp",
          "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", "-x", "OMP_NUM_THREADS=1"]
_state = {}
# under `make asan`: full stacks in the ranks, so that tests/lsan.supp matches Open MPI's own allocations
if "ASAN_OPTIONS" in os.environ:
    os.environ["ASAN_OPTIONS"] += ":fast_unwind_on_malloc=0"


def have_mpi():
    if shutil.which("mpirun") is None:
        return False
    nm = subprocess.run(["sh", "-c", f"ldd '{OVSEG}' | grep -q libmpi"], capture_output=True)
    return nm.returncode == 0


def setup():
    if not _state:
        _state.update(shard_fixture.small_training(tmpdir()))
    return _state


def train_args(run, *extra):
    st = setup()
    return [OVSEG, "train", "--config", st["cfg"], "--shards", st["shards"] + "/*.tar", "--run", run,
            "--steps", str(STEPS), "--batch", "4", "--threads", "1", "--ckpt-every", "2", "--keep", "2",
            "--vocab", VOCAB, "--seed", "3"] + list(extra)


def mpi_cmd(run, *extra):
    return MPIRUN + train_args(run, *extra)


def run_ok(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-1500:]}"
    return r


def loss_columns(run):
    with open(os.path.join(run, "metrics.tsv")) as f:
        return ["\t".join(line.split("\t")[:7]) for line in f.read().splitlines()]


def ckpt(run, step):
    with open(os.path.join(run, "ckpt-%08d.safetensors" % step), "rb") as f:
        return f.read()


def newest(run):
    steps = [int(m.group(1)) for n in os.listdir(run) for m in [re.match(r"ckpt-(\d+)\.safetensors$", n)] if m]
    return max(steps) if steps else 0


def straight():
    if "straight" not in _state:
        run = os.path.join(setup()["d"], "straight")
        r = run_ok(mpi_cmd(run))
        _state["straight"] = run
        _state["straight_log"] = r.stderr
    return _state["straight"]


def start(run, log):
    """the job (mpirun) in its own session; the ranks die with mpirun (PR_SET_PDEATHSIG, train/dist.c)"""
    f = open(log, "w")
    return subprocess.Popen(mpi_cmd(run), stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def running(pid):
    """the process exists and is not a zombie"""
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, p, limit=180):
    t0 = time.time()
    while not cond() and p.poll() is None and time.time() - t0 < limit:
        time.sleep(0.05)


@test
def dist_cli_two_ranks_write_metrics_and_both_cursors():
    if not have_mpi():
        print("  (built without MPI: skipped)")
        return
    run = straight()
    cols = loss_columns(run)
    assert len(cols) == STEPS + 1, cols
    log = _state["straight_log"]
    assert "rank 0 of 2: pid" in log and "rank 1 of 2: pid" in log, log[-800:]
    assert "; 40 samples per epoch" in log, log[-800:]  # 2 ranks x 10 batches of 2
    from safetensors import safe_open
    with safe_open(os.path.join(run, "state-%08d.safetensors" % STEPS), framework="pt") as f:
        meta = f.metadata()
    assert meta["world"] == "2", meta.get("world")
    cur = meta["cursor"].split("|")
    assert len(cur) == 2 and " rank=0 " in cur[0] and " rank=1 " in cur[1], meta["cursor"]


@test
def dist_cli_kill_9_of_the_job_then_resume_continues_exactly():
    if not have_mpi():
        print("  (built without MPI: skipped)")
        return
    ref = straight()
    run = os.path.join(setup()["d"], "killed")
    p = start(run, run + ".log")
    wait_for(lambda: os.path.isdir(run) and newest(run) >= 2, p)
    os.killpg(p.pid, signal.SIGKILL)   # mpirun only: OpenMPI gives every rank a process group of its own
    p.wait()
    ranks = [int(x) for x in re.findall(r"rank \d of 2: pid (\d+)", open(run + ".log").read())]
    assert len(ranks) == 2, open(run + ".log").read()[-800:]
    t0 = time.time()
    while any(map(running, ranks)) and time.time() - t0 < 0.5:
        time.sleep(0.01)
    alive = [r for r in ranks if running(r)]
    # without PR_SET_PDEATHSIG the orphaned ranks trained on for ~1 s, long enough to write a
    # checkpoint beside the resumed job (whose two ranks then resumed from different steps and hung)
    assert not alive, "ranks %s still run 0.5 s after kill -9 of mpirun" % alive
    print(f"  both ranks ended {time.time() - t0:.2f} s after kill -9 of mpirun")
    assert newest(run) < STEPS, "finished before the kill"
    run_ok(mpi_cmd(run, "--resume"))
    assert loss_columns(run) == loss_columns(ref)
    assert ckpt(run, STEPS) == ckpt(ref, STEPS), "final checkpoints differ"


@test
def dist_cli_a_dead_rank_ends_the_job_and_the_checkpoint_resumes():
    if not have_mpi():
        print("  (built without MPI: skipped)")
        return
    ref = straight()
    run = os.path.join(setup()["d"], "deadrank")
    log = run + ".log"
    p = start(run, log)
    pid = None
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 120:
        m = re.search(r"rank 1 of 2: pid (\d+)", open(log).read())
        if m and os.path.isdir(run) and newest(run) >= 2:
            pid = int(m.group(1))
            break
        time.sleep(0.05)
    assert pid, "rank 1 never started or no checkpoint: " + open(log).read()[-800:]
    os.kill(pid, signal.SIGKILL)
    t0 = time.time()
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise AssertionError("the job hung after rank 1 died")
    out = open(log).read()
    assert rc != 0, "mpirun exited 0 after a rank died"
    assert "signal 9" in out or "Killed" in out, out[-1500:]
    print(f"  job ended {time.time() - t0:.1f} s after the kill, exit {rc}; mpirun said: "
          + next((l.strip() for l in out.splitlines() if "signal 9" in l or "Killed" in l), "?"))
    assert newest(run) < STEPS, "finished before the kill"
    run_ok(mpi_cmd(run, "--resume"))
    assert loss_columns(run) == loss_columns(ref)
    assert ckpt(run, STEPS) == ckpt(ref, STEPS), "final checkpoints differ"


def stage2_cmd(run, *extra):
    cmd = mpi_cmd(run, "--stage", "2", *extra)
    i = cmd.index("--config")
    del cmd[i:i + 2]
    cmd[cmd.index("--steps") + 1] = str(S2_STEPS)
    return cmd + (["--init", straight()] if "--resume" not in extra else [])


@test
def dist_cli_stage2_kill_9_of_the_job_then_resume_continues_exactly():
    if not have_mpi():
        print("  (built without MPI: skipped)")
        return
    ref = os.path.join(setup()["d"], "s2-straight")
    run_ok(stage2_cmd(ref))
    cols = loss_columns(ref)
    assert len(cols) == S2_STEPS + 1 and all(float(c.split("\t")[6]) > 0 for c in cols[1:]), cols  # the mask loss
    from safetensors import safe_open
    with safe_open(os.path.join(ref, "ckpt-%08d.safetensors" % S2_STEPS), framework="pt") as f:
        assert any(k.startswith("img_encoder_momentum.") for k in f.keys())
    run = os.path.join(setup()["d"], "s2-killed")
    f = open(run + ".log", "w")
    p = subprocess.Popen(stage2_cmd(run), stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: os.path.isdir(run) and newest(run) >= 2, p)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert newest(run) < S2_STEPS, "finished before the kill"
    run_ok(stage2_cmd(run, "--resume"))
    assert loss_columns(run) == cols
    assert ckpt(run, S2_STEPS) == ckpt(ref, S2_STEPS), "final checkpoints differ (momentum encoder included)"


@test
def dist_cli_resume_with_other_ranks_and_unsplittable_batch_are_errors():
    if not have_mpi():
        print("  (built without MPI: skipped)")
        return
    ref = straight()
    copy = os.path.join(setup()["d"], "one-rank")
    shutil.copytree(ref, copy)
    r = subprocess.run(train_args(copy, "--resume", "--steps", str(STEPS + 2)), capture_output=True, text=True)
    assert r.returncode == 1 and "written by a job of 2 rank(s), this one has 1" in r.stderr, r.stderr[-600:]
    r = subprocess.run(MPIRUN + train_args(os.path.join(setup()["d"], "odd"), "--batch", "5"), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "global batch must be a multiple of the 2 ranks" in r.stderr, r.stderr[-600:]


if __name__ == "__main__":
    main()
