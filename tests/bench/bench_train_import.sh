#!/bin/sh
# bench_train_import.sh — issue 8's check on real pretrained weights, on all 7,917 real CC3M
# captions: ovseg's text encoder imported from all-MiniLM-L6-v2 (--init-text, public BERT names)
# against transformers.BertModel loaded from the same files, both through the same projector.
# Prints the max relative error (max |diff| / max |value|); must stay below 1e-4.
set -eu
OVSEG_MINILM_CAPTIONS=0 OVSEG_SHARED=${OVSEG_SHARED:-$(cd .. && pwd)/shared} \
  .venv/bin/python tests/test_train_cli.py minilm_import_text_features_equal_transformers
