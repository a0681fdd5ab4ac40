"""adamw_ref.py — the PyTorch side of tests/test_adamw.c.

    adamw_ref.py OUT.safetensors

Builds a few parameter tensors (weights with weight decay; a bias and a norm weight without; a
buffer that is not trained), then runs STEPS steps of: random gradients (some steps scaled so that
clipping triggers), torch.nn.utils.clip_grad_norm_(5.0), torch.optim.AdamW (0.9, 0.999, 1e-8,
weight decay 0.05 / 0 per group) at the learning rate of timm's per-iteration CosineLRScheduler
(formula transcribed from timm.scheduler.CosineLRScheduler, t_in_epochs=False). Writes the initial
parameters, each step's gradients, the parameters after each step, the grad norms and lrs.
"""
import math
import sys

import torch
from safetensors.torch import save_file

SPECS = [("a.weight", (16, 8), 1), ("a.bias", (16,), 0), ("norm.weight", (8,), 0), ("b.weight", (4, 16), 1)]
STEPS = 6


def timm_cosine(t, base, warmup_lr, min_lr, warmup_t, t_initial):
    if t < warmup_t:
        return warmup_lr + t * (base - warmup_lr) / warmup_t
    i = t // t_initial
    t_curr = t - t_initial * i
    if i < 1:
        return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * t_curr / t_initial))
    return min_lr


def main():
    torch.manual_seed(3)
    params = {n: torch.nn.Parameter(torch.randn(*s)) for n, s, _ in SPECS}
    out = {f"p0.{n}": p.detach().clone() for n, p in params.items()}
    groups = [{"params": [params[n] for n, _, d in SPECS if d], "weight_decay": 0.05},
              {"params": [params[n] for n, _, d in SPECS if not d], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    meta = {}
    for step in range(1, STEPS + 1):
        lr = timm_cosine(step - 1, 3e-2, 1e-3, 1e-4, 2, STEPS)
        for g in opt.param_groups:
            g["lr"] = lr
        scale = 10.0 if step % 2 else 0.05
        for n, p in params.items():
            p.grad = torch.randn_like(p) * scale
            out[f"g{step}.{n}"] = p.grad.detach().clone()
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), 5.0)
        opt.step()
        for n, p in params.items():
            out[f"p{step}.{n}"] = p.detach().clone()
        meta[f"lr{step}"] = repr(lr)
        meta[f"norm{step}"] = repr(norm.item())
    # the schedule alone, over a longer run with warmup
    meta["sched"] = " ".join(repr(timm_cosine(t, 6.4e-4, 1.6e-5, 1.6e-4, 7, 40)) for t in range(45))
    save_file(out, sys.argv[1], metadata=meta)


if __name__ == "__main__":
    main()
