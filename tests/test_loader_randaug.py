"""test_loader_randaug.py — ovseg's RandAugment ops (shards/randaug.c) against PIL's ImageOps /
ImageEnhance / Image.transform, which timm's RandAugment calls: pixel ops and enhancers exact, geometric
ops (bilinear, fill = ImageNet mean) exact but for a few edge pixels off by one."""
import os
import subprocess

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

import atexit  # noqa: E402
import shutil  # noqa: E402

from harness import OVSEG, ROOT, main, test, tmpdir


_made = []


def _tmp():
    d = tmpdir()
    _made.append(d)
    return d


atexit.register(lambda: os.environ.get("KEEP_TMP") or [shutil.rmtree(d, ignore_errors=True) for d in _made])

# the test binary of the build that made OVSEG_BIN (build-asan/ovseg under `make asan`), else build/
_bdir = os.path.dirname(os.path.abspath(OVSEG))
BIN = os.path.join(_bdir if os.path.basename(_bdir).startswith("build") else os.path.join(ROOT, "build"), "tests/test_loader")
FILL = (124, 116, 104)
OPS = ["autocontrast", "equalize", "invert", "rotate", "posterize", "solarize", "solarize_add", "color", "contrast",
       "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y"]


def photo(w=96, h=80, seed=3):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([40 + xx * 1.5, 60 + yy * 1.2, 30 + (xx + yy)], -1)
    a[(xx - 40) ** 2 + (yy - 30) ** 2 < 300] += (80, -30, 20)
    a += rng.normal(0, 6, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def ours(img, op, arg):
    d = _tmp()
    src, dst = os.path.join(d, "in.rgb"), os.path.join(d, "out.rgb")
    open(src, "wb").write(img.tobytes())
    subprocess.run([BIN, "raop", str(OPS.index(op)), repr(float(arg)), str(img.width), str(img.height), src, dst], check=True)
    return np.frombuffer(open(dst, "rb").read(), np.uint8).reshape(img.height, img.width, 3).astype(int)


def pil(img, op, arg):
    if op == "autocontrast": return ImageOps.autocontrast(img)
    if op == "equalize": return ImageOps.equalize(img)
    if op == "invert": return ImageOps.invert(img)
    if op == "posterize": return ImageOps.posterize(img, int(arg))
    if op == "solarize": return ImageOps.solarize(img, int(arg))
    if op == "solarize_add":
        lut = [min(255, i + int(arg)) if i < 128 else i for i in range(256)]
        return img.point(lut * 3)
    if op == "color": return ImageEnhance.Color(img).enhance(arg)
    if op == "contrast": return ImageEnhance.Contrast(img).enhance(arg)
    if op == "brightness": return ImageEnhance.Brightness(img).enhance(arg)
    if op == "sharpness": return ImageEnhance.Sharpness(img).enhance(arg)
    kw = dict(resample=Image.BILINEAR, fillcolor=FILL)
    if op == "rotate": return img.rotate(arg, **kw)
    m = {"shear_x": (1, arg, 0, 0, 1, 0), "shear_y": (1, 0, 0, arg, 1, 0), "translate_x": (1, 0, arg, 0, 1, 0),
         "translate_y": (1, 0, 0, 0, 1, arg)}[op]
    return img.transform(img.size, Image.AFFINE, m, **kw)


CASES = [("autocontrast", 0), ("equalize", 0), ("invert", 0), ("posterize", 2), ("posterize", 4), ("solarize", 128),
         ("solarize", 40), ("solarize_add", 99), ("color", 0.3), ("color", 1.8), ("contrast", 0.2), ("contrast", 1.7),
         ("brightness", 0.5), ("brightness", 1.6), ("sharpness", 0.1), ("sharpness", 1.9), ("rotate", 27.0),
         ("rotate", -13.5), ("shear_x", 0.27), ("shear_y", -0.2), ("translate_x", 30.6), ("translate_y", -17.2)]


@test
def randaug_ops_match_pil():
    img = photo()
    for op, arg in CASES:
        got, want = ours(img, op, arg), np.asarray(pil(img, op, arg), int)
        diff = np.abs(got - want)
        if op in ("autocontrast", "equalize", "invert", "posterize", "solarize", "solarize_add"):
            assert diff.max() == 0, (op, arg, diff.max())
        elif op in ("color", "contrast", "brightness", "sharpness"):
            assert diff.max() <= 1, (op, arg, diff.max())
        else:  # geometric: the same sampling; a few pixels at the image edge may differ by 1
            assert diff.max() <= 1 and (diff > 0).mean() < 0.02, (op, arg, diff.max(), (diff > 0).mean())


main()
