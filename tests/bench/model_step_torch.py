"""model_step_torch.py — times the PyTorch twin's training step (forward, losses, backward) on the
same shapes as tests/bench/model_step.c: model_step_torch.py CONFIG BATCH STEPS eager|compile [k=v...]."""
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import twin  # noqa: E402


def main():
    name, B, steps, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    over = {k: int(v) for k, v in (a.split("=") for a in sys.argv[5:])}
    torch.set_num_threads(int(os.environ.get("OVSEG_TORCH_THREADS", "2")))
    cfg = twin.Cfg(name, **over)
    m = twin.MultiLabelContrastive(cfg).train()
    g = torch.Generator().manual_seed(1)
    P = (cfg.img_size // cfg.patch) ** 2
    bt = {"img": torch.randn(B, 3, cfg.img_size, cfg.img_size, generator=g)}
    ids = torch.randint(1000, 21000, (B, cfg.text_len), generator=g)
    mask = torch.ones(B, cfg.text_len, dtype=torch.long)
    for k in ("", "q_", "a_"):
        bt[k + "ids"], bt[k + "mask"] = ids, mask
    gumbel = -torch.log(-torch.log(torch.rand(B, cfg.groups_out, P, generator=g).clamp(1e-10, 1 - 1e-7)))
    fwd = m.forward_train
    if mode == "compile":
        fwd = torch.compile(m.forward_train)

    def step():
        m.zero_grad(set_to_none=True)
        o = fwd(bt, gumbel)
        o["loss_total"].backward()
        return float(o["loss_total"])
    step()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        ts.append(time.perf_counter() - t0)
    med = statistics.median(ts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"img_s={B / med:.2f} step_s={med:.4f} loss={loss:.4f} rss_mib={rss:.1f} blas={torch.backends.mkldnn.is_available() and 'mkldnn/' or ''}{'mkl' if torch.backends.mkl.is_available() else 'openblas?'}")


if __name__ == "__main__":
    main()
