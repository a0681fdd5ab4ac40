"""test_wordpiece_vocab.py — `ovseg vocab` builds a WordPiece vocabulary from the 7,917 real captions
ingested into a database: BERT's special tokens first ([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4), the
asked size, no duplicates, no [UNK] on the captions, and Hugging Face's BertTokenizerFast over the
built vocab.txt gives the same ids as ovseg's tokenizer."""
import os
import sqlite3
import subprocess

os.environ["HF_HUB_OFFLINE"] = "1"
from harness import OVSEG, ROOT, SHARED, main, test, tmpdir  # noqa: E402

BIN = os.path.join(ROOT, "build/tests/test_wordpiece")


@test
def vocab_from_captions_is_bert_format_and_pieces_every_caption():
    d = tmpdir()
    db = os.path.join(d, "db.sqlite")
    subprocess.run([OVSEG, "-q", "init", db], check=True)
    path = os.path.join(SHARED, "data/cc3m-val-captions-odd.tsv")
    caps = [line.rstrip("\n").split("\t")[0] for line in open(path, encoding="utf-8")]
    con = sqlite3.connect(db)
    con.execute("INSERT INTO sources(id,path,columns) VALUES(1,'x','caption,url')")
    con.executemany("INSERT INTO samples(id,url,url_hash,caption,source_id,line) VALUES(?,?,?,?,1,?)",
                    [(i + 1, f"http://x/{i}", i, c, i + 1) for i, c in enumerate(caps)])
    con.commit()
    con.close()
    out = os.path.join(d, "vocab.txt")
    r = subprocess.run([OVSEG, "vocab", db, "--out", out, "--size", "8000"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    toks = open(out, encoding="utf-8").read().split("\n")[:-1]
    assert toks[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], toks[:5]
    assert len(toks) == 8000 and len(set(toks)) == 8000, (len(toks), len(set(toks)))
    assert "dog" in toks and "##s" in toks
    ours = subprocess.run([BIN, "encode", out, path], check=True, capture_output=True, text=True).stdout
    ours = [list(map(int, line.split())) for line in ours.splitlines()]
    long_word = [any(len(w) > 100 for w in c.split()) for c in caps]
    unk = sum(1 for ids, lw in zip(ours, long_word) if 1 in ids and not lw)
    assert unk == 0, f"{unk} captions with [UNK]"
    import json
    from transformers import BertTokenizerFast
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:  # a model folder, as for the real vocab
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]", "sep_token": "[SEP]",
                   "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}, f)
    tok = BertTokenizerFast.from_pretrained(d)
    assert tok.pad_token_id == 0 and tok.cls_token_id == 2 and len(tok) == 8000, (tok.pad_token_id, len(tok))
    want = tok(caps, padding="max_length", max_length=77, truncation=True)["input_ids"]
    bad = [i for i in range(len(caps)) if want[i] != ours[i]]
    assert not bad, f"{len(bad)} differ from BertTokenizerFast, first {caps[bad[0]]!r}"
    lens = sum(sum(1 for t in ids if t) for ids in ours) / len(ours)
    assert lens < 30, lens


main()
