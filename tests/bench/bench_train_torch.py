"""bench_train_torch.py — `make bench-train`, the PyTorch side: images/s of one stage-1 training
step of the twin (tests/reference/twin.py: forward_train, backward, clip_grad_norm_ 5.0, AdamW)
in eager mode or under torch.compile, on the same shapes, batch, threads and data as
bench_train_step.c (same deterministic batch formula), the CPU seconds of a step (all threads) and
the process's peak RSS.

    .venv/bin/python tests/bench/bench_train_torch.py eager|compile PRESET BATCH WARMUP STEPS [key=value ...]

Prints `RESULT key value` lines.
"""
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import twin  # noqa: E402


def text(B, L, vocab, salt):
    """The formula of bench_train_step.c: 3 + (7b + salt) % (L - 2) tokens, ids 1 + (131b + 17j + salt) % (vocab - 1)."""
    ids = torch.zeros(B, L, dtype=torch.int64)
    mask = torch.zeros(B, L, dtype=torch.int64)
    for b in range(B):
        n = 3 + (7 * b + salt) % (L - 2)
        for j in range(n):
            ids[b, j] = 1 + (131 * b + 17 * j + salt) % (vocab - 1)
        mask[b, :n] = 1
    return ids, mask


def make_batch(cfg, B):
    S = cfg.img_size
    n = B * 3 * S * S
    img = torch.sin(torch.tensor(0.001, dtype=torch.float32) * torch.arange(n, dtype=torch.float32)).reshape(B, 3, S, S)
    bt = {"img": img}
    bt["ids"], bt["mask"] = text(B, cfg.text_len, cfg.vocab, 0)
    bt["q_ids"], bt["q_mask"] = text(B, cfg.text_len, cfg.vocab, 1)
    bt["a_ids"], bt["a_mask"] = text(B, cfg.text_len, cfg.vocab, 2)
    return bt


def parse(v):
    try:
        return int(v)
    except ValueError:
        return float(v)


def main():
    mode, preset, B, warm, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    over = {}
    for kv in sys.argv[6:]:
        k, v = kv.split("=", 1)
        if k != "drop_path":            # the twin takes drop-path masks as input; the bench runs without
            over[k] = parse(v)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(0)
    cfg = twin.Cfg(preset, **over)
    model = twin.MultiLabelContrastive(cfg)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "norm" not in n and "LayerNorm" not in n]
    ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-5, betas=(0.9, 0.999), eps=1e-8)
    bt = make_batch(cfg, B)
    P = (cfg.img_size // cfg.patch) ** 2
    fwd = model.forward_train
    if mode == "compile":
        fwd = torch.compile(model.forward_train)

    def step():
        u = torch.rand(B, cfg.groups_out, P).clamp(1e-10, 1 - 1e-7)
        gumbel = -torch.log(-torch.log(u))
        opt.zero_grad(set_to_none=True)
        o = fwd(bt, gumbel)
        o["loss_total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        loss = float(o["loss_total"])
        if loss != loss:
            raise SystemExit("bench: loss is NaN")

    print("RESULT torch_version", torch.__version__)
    print("RESULT torch_threads", torch.get_num_threads())
    t0 = time.perf_counter()
    step()
    print("RESULT first_step_s %.2f" % (time.perf_counter() - t0), flush=True)
    for _ in range(max(0, warm - 1)):
        step()
    times, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    print("RESULT step_s %.4f" % med)
    print("RESULT step_cpu_s %.4f" % statistics.median(cpu))
    print("RESULT step_min_s %.4f" % min(times))
    print("RESULT step_max_s %.4f" % max(times))
    print("RESULT images_per_s %.3f" % (B / med))
    print("RESULT peak_rss_mib %.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0))
    print("RESULT params", sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
