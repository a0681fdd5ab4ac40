"""plot_curve.py — draws a run's training curve (loss terms over steps, from metrics.tsv) as a PNG
with Pillow, so `make demo` leaves a picture in the run folder.

    python plot_curve.py RUNDIR/metrics.tsv OUT.png [TITLE]
"""
import csv
import sys

from PIL import Image, ImageDraw

COLOURS = {"total": (20, 20, 20), "contrastive": (200, 40, 40), "entity": (40, 90, 200), "mask": (30, 150, 60)}


def main():
    src, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else src
    rows = list(csv.DictReader(open(src), delimiter="\t"))
    if not rows:
        sys.exit(f"{src}: no rows")
    steps = [int(r["step"]) for r in rows]
    series = {k: [float(r[k]) for r in rows] for k in COLOURS if k in rows[0]}
    series = {k: v for k, v in series.items() if max(v) > 0}
    W, H, L, R, T, B = 800, 450, 60, 20, 40, 40
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    ymax = max(max(v) for v in series.values()) * 1.05
    xmin, xmax = min(steps), max(max(steps), min(steps) + 1)
    X = lambda s: L + (s - xmin) / (xmax - xmin) * (W - L - R)
    Y = lambda v: T + (1 - v / ymax) * (H - T - B)
    d.rectangle([L, T, W - R, H - B], outline=(120, 120, 120))
    for i in range(6):
        v = ymax * i / 5
        d.line([L - 4, Y(v), L, Y(v)], fill=(120, 120, 120))
        d.text((4, Y(v) - 6), f"{v:.2f}", fill=(60, 60, 60))
    for i in range(6):
        s = xmin + (xmax - xmin) * i / 5
        d.text((X(s) - 10, H - B + 6), f"{int(s)}", fill=(60, 60, 60))
    d.text((L, 10), f"{title}   (x: step, y: loss)", fill=(0, 0, 0))
    lx = W - R - 150
    for k, (name, v) in enumerate(series.items()):
        pts = [(X(s), Y(y)) for s, y in zip(steps, v)]
        if len(pts) > 1:
            d.line(pts, fill=COLOURS[name], width=2)
        d.line([lx, T + 12 + 16 * k, lx + 20, T + 12 + 16 * k], fill=COLOURS[name], width=3)
        d.text((lx + 26, T + 6 + 16 * k), name, fill=(0, 0, 0))
    img.save(out)


if __name__ == "__main__":
    main()
