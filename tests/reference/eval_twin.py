"""eval_twin.py — a PyTorch implementation of OVSegmentor's zero-shot segmentation protocol (the
paper's code: segmentation/evaluation/group_vit_seg.py on mmseg's EncoderDecoder), the reference the
C implementation (eval/segment.c) is checked against.

    resize short side to 448 (long <= 2048), bilinear, rounded to 8 bits; ImageNet mean/std;
    mmseg slide inference (crop 448, stride 224, logits summed / count) or whole image;
    per window: soft group map -> bilinear to the window -> one-hot argmax group;
      raw = s * G T^T; P = softmax(raw); top-5 of softmax(s * I T^T); Ag = softmax(raw[top5]) * P
      logits[1+c] = onehot @ Ag; background = 1 where max_c < min(bg_thresh, Ag.max())
    window logits averaged, bilinear to the original size.

An encoder is a callable x[1,3,h,w] -> (soft [G,gh,gw], group_feat [G,D], image_feat [D]).
`LinearEncoder` is a small deterministic encoder defined identically in tests/test_eval_twin.c, so
the protocol can be compared without a trained model. Command line (used by the C test):

    eval_twin.py --linear DIR...   reads DIR/image.png, DIR/params.bin (DIR/whole: whole-image mode),
                                   writes DIR/scores_twin.bin
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def rescale_size(w, h, short=448, long=2048):
    sc = min(long / max(w, h), short / min(w, h))
    return int(w * sc + 0.5), int(h * sc + 0.5)


def prepare(img, short=448, long=2048):
    """img: uint8 HxWx3 -> normalised [1,3,nh,nw]."""
    h, w = img.shape[:2]
    nw, nh = rescale_size(w, h, short, long)
    x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    x = torch.floor(x + 0.5).clamp(0, 255)
    return (x - MEAN) / STD


def window_logits(encoder, crop, text, scale, bg_thresh, with_bg=True, topk=5):
    soft, gf, imf = encoder(crop)
    h, w = crop.shape[-2:]
    up = F.interpolate(soft[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    onehot = F.one_hot(up.argmax(0), soft.shape[0]).float()  # [h,w,G]
    raw = scale * gf @ text.T
    pre = raw.softmax(-1)
    avg = (scale * imf @ text.T).softmax(-1)
    keep = torch.zeros_like(avg, dtype=torch.bool)
    keep[avg.topk(min(topk, text.shape[0])).indices] = True
    ag = raw.masked_fill(~keep[None], float("-inf")).softmax(-1) * pre
    fg = onehot @ ag  # [h,w,C]
    out = torch.zeros(text.shape[0] + int(with_bg), h, w)
    off = int(with_bg)
    out[off:] = fg.permute(2, 0, 1)
    if with_bg:
        th = min(bg_thresh, ag.max().item())
        out[0][fg.max(-1).values < th] = 1
    return out


def slide_windows(size, crop, stride):
    n = max(size - crop + stride - 1, 0) // stride + 1
    starts = []
    for i in range(n):
        b = min(i * stride + crop, size)
        starts.append(max(b - crop, 0))
    return starts


def segment(img, encoder, text, scale, bg_thresh=0.95, with_bg=True, whole=False, window=448, stride=224,
            short=448):
    """Returns the class logits [C, H, W] at the original size (argmax = the prediction)."""
    x = prepare(img, short)
    _, _, nh, nw = x.shape
    C = text.shape[0] + int(with_bg)
    acc = torch.zeros(C, nh, nw)
    cnt = torch.zeros(nh, nw)
    if whole:
        wins = [(0, 0, nh, nw)]
    else:
        ch, cw = min(window, nh), min(window, nw)
        wins = [(y, x0, ch, cw) for y in slide_windows(nh, ch, stride) for x0 in slide_windows(nw, cw, stride)]
    for y, x0, ch, cw in wins:
        crop = x[:, :, y:y + ch, x0:x0 + cw]
        acc[:, y:y + ch, x0:x0 + cw] += window_logits(encoder, crop, text, scale, bg_thresh, with_bg)
        cnt[y:y + ch, x0:x0 + cw] += 1
    acc = acc / cnt
    H, W = img.shape[:2]
    return F.interpolate(acc[None], size=(H, W), mode="bilinear", align_corners=False)[0]


class LinearEncoder:
    """Patch 16; per patch the mean of the 3 normalised channels m; soft = softmax_g(A m + b);
    f = Cm m + cb; group g = normalise(sum_p soft[g,p] f_p); image = normalise(mean_p f_p)."""

    def __init__(self, A, b, Cm, cb):
        self.A, self.b, self.Cm, self.cb = A, b, Cm, cb

    def __call__(self, x):
        h, w = x.shape[-2:]
        gh, gw = h // 16, w // 16
        m = F.avg_pool2d(x[:, :, :gh * 16, :gw * 16], 16)[0].reshape(3, gh * gw)  # [3, np]
        soft = (self.A @ m + self.b[:, None]).softmax(0)  # [G, np]
        f = self.Cm @ m + self.cb[:, None]  # [D, np]
        gf = F.normalize(soft @ f.T, dim=-1)
        imf = F.normalize(f.mean(1), dim=0)
        return soft.reshape(-1, gh, gw), gf, imf


def read_params(path):
    """params.bin: int32 G, D, N; float32 scale, bg_thresh; A[G,3], b[G], Cm[D,3], cb[D], text[N,D]."""
    raw = open(path, "rb").read()
    G, D, N = np.frombuffer(raw[:12], dtype="<i4")
    v = torch.from_numpy(np.frombuffer(raw[12:], dtype="<f4").copy())
    scale, bg = v[0].item(), v[1].item()
    o = 2
    parts = []
    for n in (G * 3, G, D * 3, D, N * D):
        parts.append(v[o:o + n])
        o += n
    A, b, Cm, cb, text = parts
    return LinearEncoder(A.view(G, 3), b, Cm.view(D, 3), cb), text.view(N, D), scale, bg


class TwinEncoder:
    """The model twin (tests/reference/twin.py, MultiLabelContrastive in eval mode) as an encoder:
    soft = softmax over the groups of the assignment logits, on the patch grid."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        gx, gf, _hard, raw, (gh, gw) = self.model.encode_image_eval(x)
        soft = raw[0].softmax(dim=0)  # [K, gh*gw]
        return soft.reshape(-1, gh, gw), gf[0], gx[0]


def twin_class_embeddings(model, tokenizer, names, text_len, templates=("a photo of a {}.",)):
    """Normalised mean over templates of the normalised [CLS] projections (GroupViT's recipe)."""
    out = []
    for n in names:
        enc = tokenizer([t.format(n) for t in templates], padding="max_length", max_length=text_len,
                        truncation=True, return_tensors="pt")
        f = model.encode_text_eval(enc["input_ids"], enc["attention_mask"])
        out.append(F.normalize(f.mean(0), dim=0))
    return torch.stack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--linear", required=True, nargs="+")
    ap.add_argument("--bench", type=int, default=0, help="print images/s over this many runs instead")
    a = ap.parse_args()
    torch.set_num_threads(2)
    from PIL import Image
    for d in a.linear:
        img = np.asarray(Image.open(os.path.join(d, "image.png")).convert("RGB"))
        enc, text, scale, bg = read_params(os.path.join(d, "params.bin"))
        whole = os.path.exists(os.path.join(d, "whole"))
        with torch.no_grad():
            if a.bench:
                import time
                t0 = time.perf_counter()
                for _ in range(a.bench):
                    segment(img, enc, text, scale, bg_thresh=bg, whole=whole).argmax(0)
                print(f"{a.bench / (time.perf_counter() - t0):.3f}")
                continue
            out = segment(img, enc, text, scale, bg_thresh=bg, whole=whole)
        out.numpy().astype("<f4").tofile(os.path.join(d, "scores_twin.bin"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
