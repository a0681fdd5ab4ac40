"""maskloss_twin.py — the stage-2 mask consistency loss in PyTorch, following the paper's code
(models/multi_label_contrastive.py compute_cross_loss + mask_loss, models/losses.py dice_loss and
HungarianMatcher with scipy's linear_sum_assignment). Writes raw little-endian float32/int32 files
for tests/test_stage2.c:

    python maskloss_twin.py OUTDIR [B G h w S seed]

Files: dims.txt, m1.f32 [B,G,h,w], m2.f32, detach.u8 [B,G], loss.f32 [1], dm1.f32, perm.i32 [B,G].
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


def mask_loss(m1, m2, threshold):
    """m1, m2: [b, k, H, W] upsampled maps; m2 carries no gradient."""
    bs, k = m1.shape[:2]
    m1 = m1.flatten(2)
    m2 = m2.flatten(2)
    n1, n2 = F.normalize(m1, dim=-1), F.normalize(m2, dim=-1)
    cost = torch.cdist(n1.detach(), n2.detach(), p=2)
    rows, cols = [], []
    for i in range(bs):
        r, c = linear_sum_assignment(cost[i].numpy())
        rows.append(r), cols.append(c)
    rows = torch.tensor(np.array(rows)).long()
    cols = torch.tensor(np.array(cols)).long()
    m1 = m1[torch.arange(bs).unsqueeze(1), rows]
    m2 = m2[torch.arange(bs).unsqueeze(1), cols]
    m2 = m2.sigmoid().reshape(bs * k, -1)
    cut = m2.max(dim=-1, keepdim=True)[0] * threshold
    t = m2 - cut
    t = (t >= 0).float().reshape(bs, k, -1)
    mx = m1.max(dim=-1, keepdim=True)[0]
    mn = m1.min(dim=-1, keepdim=True)[0]
    p = (m1 - mn) / (mx - mn)
    p, t = p.flatten(1), t.flatten(1)
    loss = 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)
    return loss.sum() / k, cols


def main():
    out = sys.argv[1]
    B, G, h, w, S, seed = (int(x) for x in (sys.argv[2:8] if len(sys.argv) > 7 else (2, 8, 7, 7, 56, 0)))
    torch.manual_seed(seed)
    os.makedirs(out, exist_ok=True)
    m1 = (torch.randn(B, G, h, w) * 2).requires_grad_(True)
    m2 = torch.randn(B, G, h, w) * 2
    detach = torch.zeros(B, G, dtype=torch.uint8)
    for b in range(B):
        detach[b, torch.randperm(G)[: G // 2]] = 1
    u1 = F.interpolate(m1, size=(S, S), mode="bilinear", align_corners=True)
    u2 = F.interpolate(m2, size=(S, S), mode="bilinear", align_corners=True)
    keep = (1 - detach).float()[:, :, None, None]
    u1 = u1 * keep + u1.detach() * (1 - keep)  # the paper detaches the chosen groups' maps
    loss, perm = mask_loss(u1, u2.detach(), 0.6)
    loss.backward()
    with open(os.path.join(out, "dims.txt"), "w") as f:
        f.write(f"{B} {G} {h} {w} {S}\n")
    m1.detach().numpy().astype("<f4").tofile(os.path.join(out, "m1.f32"))
    m2.numpy().astype("<f4").tofile(os.path.join(out, "m2.f32"))
    detach.numpy().tofile(os.path.join(out, "detach.u8"))
    np.array([loss.item()], dtype="<f4").tofile(os.path.join(out, "loss.f32"))
    m1.grad.numpy().astype("<f4").tofile(os.path.join(out, "dm1.f32"))
    perm.numpy().astype("<i4").tofile(os.path.join(out, "perm.i32"))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
