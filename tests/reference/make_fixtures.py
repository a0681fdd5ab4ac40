"""make_fixtures.py — writes the twin's parity fixtures (safetensors) for the C model tests.

    .venv/bin/python tests/reference/make_fixtures.py OUTDIR [tiny|paper ...]

For each config writes OUTDIR/<config>.safetensors holding, under prefixes:
  param.<state_dict name>  weights and buffers before the step (the C model loads these)
  in.<name>                the batch (img, ids, mask, q_ids, q_mask, a_ids, a_mask) and gumbel noise
  out.<name>               forward outputs and each loss term
  grad.<name>              the gradient of loss_total for every parameter that gets one
  after.<name>             BatchNorm buffers after the step (running statistics)
  noise.<name>             [1] relative error of the same gradient computed by PyTorch in float32
  eval.<name>              eval-mode encode outputs (after the step's buffers) for the images and ids
  adamw.loss               [10] loss_total of 10 float32 training steps on the same batch and
                           noise, each followed by clip_grad_norm_(5.0) and AdamW (lr 1e-4,
                           weight decay 0.05 except 1-D parameters and biases, as ovseg decides)
and OUTDIR/<config>.txt with the config as `key = value` lines (ovs_config_load reads it).
`paper` here is the reduced paper: the paper's widths (768, 4096, 256) with fewer layers, a small
image, short text and a small vocabulary so that fixtures stay small and quick.
"""
import copy
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twin  # noqa: E402

FIXTURES = {
    "tiny": dict(name="tiny", batch=4, noise=True, drop_path=0.5,
                 over=dict(vocab=500, text_len=12, width=160)),   # 160 vs text 128: align_proj_img
    "paper": dict(name="paper", batch=4, noise=True, drop_path=0.0, over=dict(img_size=32, depth0=1, depth1=1, text_layers=1,
                                                 text_len=8, vocab=300, max_pos=64)),
}


def make_batch(cfg, B, g, drop_path=0.0):
    def text(min_len):
        ids = torch.zeros(B, cfg.text_len, dtype=torch.int32)
        mask = torch.zeros(B, cfg.text_len, dtype=torch.int32)
        for b in range(B):
            n = int(torch.randint(min_len, cfg.text_len + 1, (1,), generator=g))
            ids[b, :n] = torch.randint(1, cfg.vocab, (n,), generator=g, dtype=torch.int32)
            mask[b, :n] = 1
        return ids, mask
    bt = {"img": torch.randn(B, 3, cfg.img_size, cfg.img_size, generator=g)}
    bt["ids"], bt["mask"] = text(3)
    bt["q_ids"], bt["q_mask"] = text(3)
    bt["a_ids"], bt["a_mask"] = text(2)
    P = (cfg.img_size // cfg.patch) ** 2
    u = torch.rand(B, cfg.groups_out, P, generator=g).clamp(1e-10, 1 - 1e-7)
    bt["gumbel"] = -torch.log(-torch.log(u))
    # drop-path factors per block and sample (timm: keep ~ Bernoulli(1 - rate), scaled by 1/keep)
    nb = cfg.depth0 + cfg.depth1
    rates = torch.linspace(0, drop_path, nb).tolist() if nb > 1 else [0.0]
    drop = torch.ones(nb, B)
    for i, r in enumerate(rates):
        keep = 1.0 - r
        drop[i] = torch.bernoulli(torch.full((B,), keep), generator=g) / keep
    bt["drop"] = drop
    return bt


def step(model, bt, dtype):
    """One training forward/backward in dtype: (outputs, grads, buffers after, kink margin)."""
    model.to(dtype)
    bt = {n: (v.to(dtype) if v.is_floating_point() else v) for n, v in bt.items()}
    relu_min = [float("inf")]

    def hook(mod, inp, out):
        if torch.is_grad_enabled():   # ReLUs on the gradient's path only
            relu_min[0] = min(relu_min[0], float(inp[0].detach().abs().min()))
    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    model.train()
    drop = [row for row in bt["drop"]] if bt["drop"].ne(1).any() else None
    o = model.forward_train(bt, bt["gumbel"], drop)
    o["loss_total"].backward()
    for h in hooks:
        h.remove()
    soft = (o["assign_raw"] + bt["gumbel"]).softmax(dim=-2)
    top2 = soft.topk(2, dim=-2).values
    margin = min(relu_min[0], float((top2[:, 0] - top2[:, 1]).min().detach()))
    grads = {n: p.grad.detach().double() for n, p in model.named_parameters() if p.grad is not None}
    bufs = {n: b.detach() for n, b in model.named_buffers()}
    return o, grads, bufs, margin


def adamw_losses(model, bt, steps):
    """loss_total of `steps` float32 AdamW steps on one batch with fixed noise (the C test repeats them)."""
    model.float().train()
    bt = {n: (v.float() if v.is_floating_point() else v) for n, v in bt.items()}
    decay = [p for n, p in model.named_parameters() if not (p.ndim == 1 or n.endswith(".bias"))]
    ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    drop = [row for row in bt["drop"]] if bt["drop"].ne(1).any() else None
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        o = model.forward_train(bt, bt["gumbel"], drop)
        o["loss_total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(float(o["loss_total"].detach()))
    return torch.tensor(losses, dtype=torch.float32)


def write_config(path, cfg):
    with open(path, "w") as f:
        for k, v in sorted(cfg.__dict__.items()):
            f.write(f"{k} = {v}\n")


def make(outdir, key):
    spec = FIXTURES[key]
    torch.manual_seed(1234)
    cfg = twin.Cfg(spec["name"], **spec["over"])
    model = twin.MultiLabelContrastive(cfg)
    # non-trivial LayerNorm/BatchNorm affine parameters and buffers so that every path is tested
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith(("norm1.weight", "norm2.weight", "LayerNorm.weight", "linear_hidden.1.weight")) or \
                    ".norm" in n and n.endswith(".weight"):
                p.add_(0.1 * torch.randn_like(p))
            elif n.endswith(".bias") and p.abs().sum() == 0:
                p.add_(0.02 * torch.randn_like(p))
        for n, b in model.named_buffers():
            if n.endswith("running_var"):
                b.uniform_(0.5, 1.5)
            elif n.endswith("running_mean"):
                b.normal_(0, 0.1)
    t = {}
    for n, v in model.state_dict().items():
        t["param." + n] = v.detach().clone().float().contiguous()
    fp32 = copy.deepcopy(model) if spec["noise"] else None
    fp32_adamw = copy.deepcopy(model)
    # the reference is computed in float64 from exactly these float32 weights and inputs, so that
    # it is the true value the C model's float32 result is measured against
    model.double()
    # a batch whose ReLU inputs and hard assignments are not within rounding of their kinks
    buffers0 = {n: b.clone() for n, b in model.named_buffers()}
    for seed in range(99, 199):
        g = torch.Generator().manual_seed(seed)
        bt = make_batch(cfg, spec["batch"], g, spec["drop_path"])
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(buffers0[n])
        o, grads, bufs, margin = step(model, bt, torch.float64)
        bufs = {n: b.clone() for n, b in bufs.items()}
        if margin > 1e-5:
            break
    for n, v in bt.items():
        t["in." + n] = v.contiguous()
    for n, v in o.items():
        t["out." + n] = v.detach().float().contiguous().reshape(v.shape if v.ndim else (1,))
    for n, v in grads.items():
        t["grad." + n] = v.float().contiguous()
    for n, v in bufs.items():
        t["after." + n] = v.float().contiguous()
    # PyTorch's own float32 rounding error per gradient (the floor of what float32 can show)
    _, g32, _, _ = step(fp32, bt, torch.float32) if spec["noise"] else (None, None, None, None)
    for n, v in (grads.items() if g32 else ()):
        ref = v.abs().max()
        t["noise." + n] = ((g32[n].double() - v).abs().max() / ref if ref > 0 else torch.zeros(())).float().reshape(1)
    state = {k[6:]: v for k, v in t.items() if k.startswith("param.")}
    state.update(bufs)                 # eval sees the running statistics after the step
    model.load_state_dict(state)
    model.eval()
    # eval at the training size and at a different size (position-embedding interpolation)
    for tag, img in (("", bt["img"]), ("big.", torch.nn.functional.interpolate(bt["img"], scale_factor=1.5))):
        img = img.float().contiguous()
        gx, gf, hard, raw, hw = model.encode_image_eval(img.double())
        t[f"eval.{tag}img"] = img.clone()
        t[f"eval.{tag}image_x"] = gx.float().contiguous()
        t[f"eval.{tag}groups"] = gf.float().contiguous()
        t[f"eval.{tag}hard"] = hard.float().contiguous()
        t[f"eval.{tag}raw"] = raw.float().contiguous()
    t["eval.text"] = model.encode_text_eval(bt["ids"], bt["mask"]).float().contiguous()
    t["adamw.loss"] = adamw_losses(fp32_adamw, bt, 10)
    save_file(t, os.path.join(outdir, key + ".safetensors"))
    write_config(os.path.join(outdir, key + ".txt"), cfg)


def main():
    torch.set_num_threads(int(os.environ.get("OVSEG_TORCH_THREADS", "2")))
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for key in sys.argv[2:] or list(FIXTURES):
        make(outdir, key)


if __name__ == "__main__":
    main()
