#!/bin/sh
# bench_eval.sh — eval images/s at the paper's protocol (short side 448, slide 448/224), ovseg's C
# implementation next to the PyTorch twin (tests/reference/eval_twin.py), same image, same run.
# Row 1 uses a tiny linear encoder shared by both, so it measures the protocol's own cost
# (resize, window bookkeeping, upsampling, scoring, final resize). Both sides use 2 threads.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
make -s build/tests/test_eval_twin >/dev/null
echo "| what | ovseg images/s | PyTorch twin images/s |"
echo "|---|---|---|"
OMP_NUM_THREADS=2 OVSEG_EVAL_BENCH=${OVSEG_EVAL_BENCH:-20} build/tests/test_eval_twin | grep '^|'

# Rows 2+: the whole `ovseg eval` (model + protocol) on a randomly initialised checkpoint written
# by the model twin, against the twin running the same protocol (tests/reference/eval_twin.py).
# Needs the model part (tests/reference/twin.py and a build whose eval has a model).
for preset in ${OVSEG_EVAL_BENCH_PRESETS:-tiny}; do  # OVSEG_EVAL_BENCH_PRESETS="tiny paper" for ViT-B too
  OMP_NUM_THREADS=2 .venv/bin/python - "$preset" "${OVSEG_EVAL_BENCH_IMAGES:-2}" <<'PY'
import os, subprocess, sys, time
sys.path.insert(0, "tests"); sys.path.insert(0, "tests/reference")
import numpy as np, torch
torch.set_num_threads(2)
import test_eval_model_twin as T
preset, n = sys.argv[1], int(sys.argv[2])
if not T.have_model():
    print(f"| {preset} model, 448/224 | n/a (no model in this build) | n/a |")
    sys.exit(0)
import twin, eval_twin
from transformers import BertTokenizerFast
from PIL import Image
torch.manual_seed(0)
cfg = twin.Cfg(preset)
model = twin.MultiLabelContrastive(cfg).eval()
d = T.tmpdir()
ck, root, out = os.path.join(d, "ckpt-1.safetensors"), os.path.join(d, "synth"), os.path.join(d, "out")
ids = T.make_dataset(root)[:n]
import shutil; shutil.copy(T.VOCAB, os.path.join(d, "vocab.txt"))
t0 = time.perf_counter()
T.run_eval(model, cfg, ck, ["--dataset", "synth", "--root", root, "--out", out, "--no-baselines", "--limit", str(n)])
c = n / (time.perf_counter() - t0)  # includes loading the checkpoint and embedding the prompts
tok = BertTokenizerFast.from_pretrained(T.MODEL_DIR)
t0 = time.perf_counter()
with torch.no_grad():
    text = eval_twin.twin_class_embeddings(model, tok, T.NAMES, cfg.text_len)
    scale = torch.clamp(model.logit_scale.exp(), max=100).item()
    for i in ids:
        img = np.asarray(Image.open(os.path.join(root, "JPEGImages", i + ".png")).convert("RGB"))
        eval_twin.segment(img, eval_twin.TwinEncoder(model), text, scale).argmax(0)
t = n / (time.perf_counter() - t0)
shapes = ["200x150 (2 windows)", "120x260 (3 windows)"][:n]
print(f"| {preset} model, 448/224, {n} image(s): {', '.join(shapes)}; ovseg incl. checkpoint load | {c:.3f} | {t:.3f} |")
PY
done
