"""harness.py — the Python side of the test harness (same protocol as tests/check.h).

    from harness import test, main, ROOT, OVSEG, SHARED, tmpdir
    @test
    def webdataset_reads_fetch_shards(): assert ...
    main()

Each test prints "PASS name" or "FAIL name: why"; the process exits 1 if any failed. The folders
made by tmpdir() are removed at the end unless KEEP_TMP is set (as tests/check.h does).
"""
import os
import shutil
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVSEG = os.environ.get("OVSEG_BIN", os.path.join(ROOT, "ovseg"))
# the pretrained uncased BERT vocabulary (make deps links .venv/minilm to the package's model folder)
MINILM_VOCAB = os.path.join(ROOT, ".venv/minilm/vocab.txt")
SHARED = os.environ.get("OVSEG_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
_tests = []
_tmpdirs = []


def test(fn):
    _tests.append(fn)
    return fn


def tmpdir(prefix="ovseg-pytest-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def main():
    try:
        import torch
        torch.set_num_threads(int(os.environ.get("OVSEG_TORCH_THREADS", "2")))
    except ImportError:
        pass
    only = sys.argv[1:]
    failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        try:
            fn()
            print(f"PASS {fn.__name__}", flush=True)
        except Exception as ex:  # noqa: BLE001 — a test failure of any kind
            failed += 1
            tb = traceback.extract_tb(ex.__traceback__)[-1]
            msg = str(ex).replace("\n", " ")[:400]
            print(f"FAIL {fn.__name__}: {os.path.basename(tb.filename)}:{tb.lineno}: {type(ex).__name__}: {msg}",
                  flush=True)
    if not os.environ.get("KEEP_TMP"):
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if failed else 0)
