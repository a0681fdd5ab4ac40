"""plot_miou.py — draws zero-shot mIoU over training time as a PNG with Pillow: the model next to the
baselines measured on the same images at each checkpoint (random patch-to-group assignment, the
group oracle, all-background), so `make demo` leaves the learning curve in the run folder.

    python plot_miou.py CURVE.tsv OUT.png [TITLE]

CURVE.tsv columns (header line): label, stage, step, minutes, model, random, group_oracle,
patch_ceiling, all_background (mIoU in percent; minutes of training wall time since stage 1 began).
Rows with the same label form one line per method; the first label is drawn solid, others dashed.
"""
import csv
import sys

from PIL import Image, ImageDraw

METHODS = [("model", (200, 40, 40)), ("group_oracle", (40, 90, 200)), ("random", (120, 120, 120)),
           ("all_background", (30, 150, 60))]


def dashed(d, pts, colour, width, dash):
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        n = max(1, int(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 // dash))
        for i in range(0, n, 2):
            a, b = i / n, min(1.0, (i + 1) / n)
            d.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)), (x0 + b * (x1 - x0), y0 + b * (y1 - y0))],
                   fill=colour, width=width)


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else src
    rows = list(csv.DictReader(open(src), delimiter="\t"))
    if not rows:
        sys.exit(f"{src}: no rows")
    labels = list(dict.fromkeys(r["label"] for r in rows))
    xs = [float(r["minutes"]) for r in rows]
    ceiling = max(float(r["patch_ceiling"]) for r in rows)
    W, H, L, R, T, B = 900, 500, 60, 20, 40, 90
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    ymax = max(ceiling, 1.0) * 1.05
    xmin, xmax = 0.0, max(max(xs), 1e-3)
    X = lambda v: L + (v - xmin) / (xmax - xmin) * (W - L - R)
    Y = lambda v: T + (1 - v / ymax) * (H - T - B)
    d.rectangle([L, T, W - R, H - B], outline=(120, 120, 120))
    for k in range(0, 11):
        v = ymax * k / 10
        d.line([(L - 4, Y(v)), (L, Y(v))], fill=(120, 120, 120))
        d.text((4, Y(v) - 6), f"{v:.0f}", fill=(60, 60, 60))
    for k in range(0, 11):
        v = xmax * k / 10
        d.line([(X(v), H - B), (X(v), H - B + 4)], fill=(120, 120, 120))
        d.text((X(v) - 10, H - B + 6), f"{v:.1f}", fill=(60, 60, 60))
    d.text((L, 8), f"{title}: zero-shot mIoU (%) over training minutes", fill=(0, 0, 0))
    d.line([(L, Y(ceiling)), (W - R, Y(ceiling))], fill=(180, 180, 180))
    d.text((W - R - 150, Y(ceiling) - 14), f"patch ceiling {ceiling:.1f}", fill=(120, 120, 120))
    for li, lab in enumerate(labels):
        sub = [r for r in rows if r["label"] == lab]
        for name, colour in METHODS:
            pts = [(X(float(r["minutes"])), Y(float(r[name]))) for r in sub]
            if len(pts) == 1:
                d.ellipse([pts[0][0] - 3, pts[0][1] - 3, pts[0][0] + 3, pts[0][1] + 3], outline=colour)
            elif li == 0:
                d.line(pts, fill=colour, width=2)
            else:
                dashed(d, pts, colour, 2, 6)
            for r, (x, y) in zip(sub, pts):
                if r["stage"] == "2" and name == "model":
                    d.rectangle([x - 2, y - 2, x + 2, y + 2], fill=colour)
    y = H - B + 26
    x = L
    for name, colour in METHODS:
        d.line([(x, y + 6), (x + 24, y + 6)], fill=colour, width=3)
        d.text((x + 30, y), name, fill=(0, 0, 0))
        x += 170
    d.text((L, y + 20), "lines: " + ", ".join(f"{lab} ({'solid' if i == 0 else 'dashed'})" for i, lab in enumerate(labels))
           + "; filled squares: stage 2 checkpoints", fill=(0, 0, 0))
    img.save(out)


if __name__ == "__main__":
    main()
