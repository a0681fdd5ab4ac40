"""twin_stage2.py — stage 2 of OVSegmentor in PyTorch on top of twin.py's model (the paper's code,
models/multi_label_contrastive.py forward_train with use_maskloss, main_pretrain.py's EMA), and the
parity fixture for tests/test_stage2_model.c:

    .venv/bin/python tests/reference/twin_stage2.py OUTDIR

Stage 2 here: the text encoder is frozen (no gradient); a momentum copy of the image encoder (train
mode, no gradient) encodes the partner image img2; m1 = qA kB^T/sqrt(C) (grad into qA only),
m2 = qB kB^T/sqrt(C); e = text_projector(CLS("A photo of <entity>")) without gradient (BatchNorm in
train mode, running statistics move); the K*0.5 groups whose normalised img_projector(feat) has
the smallest dot with normalised e are detached; L = L_stage1 + 0.1 mask_loss (maskloss_twin.py).
EMA: momentum = 0.99 momentum + 0.01 online.

OUTDIR/stage2.safetensors holds (as make_fixtures.py) param.*, mom.<img_encoder name> (momentum
weights, different from the online ones), in.* (batch with img2, e_ids, e_mask, fixed Gumbel noise),
out.* (losses, m1, m2 [B,K,h*w], detach [B,K], perm [B,K]), grad.* (float64 reference), noise.*
(PyTorch float32 error per gradient), after.* (BatchNorm buffers after the step), ema.* (momentum
after one EMA update with the step's online weights); OUTDIR/stage2.txt the config.
"""
import copy
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402
import twin  # noqa: E402
from maskloss_twin import mask_loss  # noqa: E402

MASK_WEIGHT, EMA, THRESHOLD, GROUP_RATIO = 0.1, 0.99, 0.6, 0.5
SPEC = dict(batch=3, over=dict(vocab=500, text_len=12, width=160, img_size=32, depth0=1, depth1=1, text_layers=2,
                                 proj_hidden=256, proj_out=64))


def batch_stats_projection(proj, x):
    """ProjectMLP on [B,K,C] with batch statistics and no running-statistics update."""
    conv, bn, relu = proj.linear_hidden
    h = F.batch_norm(conv(x.transpose(1, 2)), None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
    return proj.linear_out(relu(h)).transpose(1, 2)


class Stage2(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.img_encoder_momentum = copy.deepcopy(model.img_encoder)
        for p in self.img_encoder_momentum.parameters():
            p.requires_grad_(False)
        for p in model.text_encoder.parameters():   # the paper's `fixed: true`
            p.requires_grad_(False)

    def forward_train(self, batch, gumbel):
        m = self.model
        cap = {}
        def grab(mod, inp, out):
            cap["info"] = out[2]
        h = m.img_encoder.register_forward_hook(grab)
        o = m.forward_train(batch, gumbel)
        h.remove()
        qA = cap["info"]["q"]
        with torch.no_grad():
            self.img_encoder_momentum.train()
            _, _, ib = self.img_encoder_momentum(batch["img2"])
            qB, kB = ib["q"], ib["k"]
            cls = m.text_encoder.transformer(batch["e_ids"], batch["e_mask"])[:, 0]
            e = m.text_projector(cls)  # the paper ranks groups by raw dot products
            # image_feat: the batch-statistics projection of the groups (its running-statistics
            # update already happened in forward_train)
            gf = batch_stats_projection(m.img_projector, o["feat"])
            score = (gf * e[:, None, :]).sum(-1)                       # [B,K]
        B, K = score.shape
        low = score.topk(int(K * GROUP_RATIO), dim=-1, largest=False).indices
        detach = torch.zeros(B, K, dtype=torch.uint8).scatter_(1, low, 1)
        scale = qA.shape[-1] ** -0.5
        m1 = (qA @ kB.transpose(1, 2)) * scale
        m2 = (qB @ kB.transpose(1, 2)) * scale
        hh, ww = cap["info"]["hw"]
        S = batch["img"].shape[-1]
        u1 = F.interpolate(m1.reshape(B, K, hh, ww), size=(S, S), mode="bilinear", align_corners=True)
        u2 = F.interpolate(m2.reshape(B, K, hh, ww), size=(S, S), mode="bilinear", align_corners=True)
        keep = (1 - detach).to(u1.dtype)[:, :, None, None]
        u1 = u1 * keep + u1.detach() * (1 - keep)
        lm, perm = mask_loss(u1, u2, THRESHOLD)
        o.update(loss_mask=lm, m1=m1, m2=m2, detach=detach, perm=perm.int(), score=score, u2=u2)
        o["loss_total"] = o["loss_total"] + MASK_WEIGHT * lm
        return o

    @torch.no_grad()
    def ema_update(self):
        for pm, p in zip(self.img_encoder_momentum.parameters(), self.model.img_encoder.parameters()):
            pm.mul_(EMA).add_(p.detach(), alpha=1 - EMA)


def run(s2, bt, dtype):
    s2.to(dtype)
    bt = {n: (v.to(dtype) if v.is_floating_point() else v) for n, v in bt.items()}
    s2.train()
    o = s2.forward_train(bt, bt["gumbel"])
    o["loss_total"].backward()
    grads = {n: p.grad.detach().double() for n, p in s2.model.named_parameters() if p.grad is not None}
    return o, grads


def margins(o, bt):
    """Distance of the step from its discontinuities: hard assignment, threshold, detach ranking."""
    soft = (o["assign_raw"] + bt["gumbel"].to(o["assign_raw"].dtype)).softmax(dim=-2)
    top2 = soft.topk(2, dim=-2).values
    m = float((top2[:, 0] - top2[:, 1]).min().detach())
    sig = o["u2"].sigmoid().flatten(2)
    cut = sig.max(-1, keepdim=True).values * THRESHOLD
    m = min(m, float((sig - cut).abs().min()))
    sc = o["score"].sort(-1).values
    K = sc.shape[1]
    m = min(m, float((sc[:, K // 2] - sc[:, K // 2 - 1]).min()))
    return m


def make(outdir):
    torch.manual_seed(4321)
    cfg = twin.Cfg("tiny", **SPEC["over"])
    model = twin.MultiLabelContrastive(cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".norm" in n and n.endswith(".weight") or n.endswith(("LayerNorm.weight", "linear_hidden.1.weight")):
                p.add_(0.1 * torch.randn_like(p))
            elif n.endswith(".bias") and p.abs().sum() == 0:
                p.add_(0.02 * torch.randn_like(p))
        for n, b in model.named_buffers():
            if n.endswith("running_var"):
                b.uniform_(0.5, 1.5)
            elif n.endswith("running_mean"):
                b.normal_(0, 0.1)
    s2 = Stage2(model)
    with torch.no_grad():   # a momentum encoder that differs from the online one (as after training)
        for p in s2.img_encoder_momentum.parameters():
            p.add_(0.01 * torch.randn_like(p))
    t = {"param." + n: v.detach().clone().float().contiguous() for n, v in model.state_dict().items()}
    t.update({"mom." + n: v.detach().clone().float().contiguous()
              for n, v in s2.img_encoder_momentum.state_dict().items()})
    s32 = copy.deepcopy(s2)
    s2.double()
    B = SPEC["batch"]
    state0 = copy.deepcopy(s2.state_dict())
    for seed in range(7, 107):
        g = torch.Generator().manual_seed(seed)
        bt = make_fixtures.make_batch(cfg, B, g, 0.0)
        del bt["drop"]
        bt["img2"] = torch.randn(B, 3, cfg.img_size, cfg.img_size, generator=g)
        bt["e_ids"] = torch.zeros(B, cfg.text_len, dtype=torch.int32)
        bt["e_mask"] = torch.zeros(B, cfg.text_len, dtype=torch.int32)
        for b in range(B):
            n = int(torch.randint(3, 6, (1,), generator=g))
            bt["e_ids"][b, :n] = torch.randint(1, cfg.vocab, (n,), generator=g, dtype=torch.int32)
            bt["e_mask"][b, :n] = 1
        s2.load_state_dict(state0)
        s2.zero_grad(set_to_none=True)
        o, grads = run(s2, bt, torch.float64)
        if margins(o, bt) > 1e-5:
            break
    for n, v in bt.items():
        t["in." + n] = v.contiguous()
    for n in ("loss_total", "loss_contrastive", "loss_entity", "loss_mask", "m1", "m2", "score"):
        v = o[n].detach().float()
        t["out." + n] = v.contiguous().reshape(v.shape if v.ndim else (1,))
    t["out.detach"] = o["detach"].int().contiguous()
    t["out.perm"] = o["perm"].contiguous()
    for n, v in grads.items():
        t["grad." + n] = v.float().contiguous()
    for n, b in s2.model.named_buffers():
        t["after." + n] = b.detach().float().contiguous()
    _, g32 = run(s32, bt, torch.float32)
    for n, v in grads.items():
        ref = v.abs().max()
        t["noise." + n] = ((g32[n].double() - v).abs().max() / ref if ref > 0 else torch.zeros(())).float().reshape(1)
    # EMA of the float32 weights (no optimiser step in between: online = param.*)
    for n, v in s2.img_encoder_momentum.state_dict().items():
        mom, on = t["mom." + n].double(), t["param.img_encoder." + n].double()
        t["ema." + n] = (EMA * mom + (1 - EMA) * on).float().contiguous()
    save_file(t, os.path.join(outdir, "stage2.safetensors"))
    make_fixtures.write_config(os.path.join(outdir, "stage2.txt"), cfg)


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("OVSEG_TORCH_THREADS", "2")))
    os.makedirs(sys.argv[1], exist_ok=True)
    make(sys.argv[1])
