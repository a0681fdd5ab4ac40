"""st_interop.py — the Python side of tests/test_safetensors.c (real `safetensors` + torch).

    st_interop.py write PATH      writes tensors of several dtypes with metadata (a fixed recipe)
    st_interop.py check PATH      loads a file written by ovseg's C writer and checks its contents
Exit 0 when fine; otherwise prints why and exits 1.
"""
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def recipe():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 5, generator=g)
    return {
        "a.weight": x,
        "a.bias": torch.arange(5, dtype=torch.float32) - 2.5,
        "half": (x * 3).to(torch.float16),
        "bf": (x * 3).to(torch.bfloat16),
        "ids": torch.tensor([[1, -2, 3], [40000000000, 5, 6]], dtype=torch.int64),
        "f64": torch.tensor([1.5, -2.25], dtype=torch.float64),
        "scalar": torch.tensor(4.0),
        "empty": torch.zeros(0, 4),
    }


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "write":
        save_file(recipe(), path, metadata={"step": "12", "note": "caf\u00e9 \"quoted\"\n"})
        return 0
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        want_meta = {"format": "ovseg-test", "text": "tab\there \"q\" \u00fc"}
        if meta != want_meta:
            print("metadata", meta)
            return 1
        keys = sorted(f.keys())
        if keys != ["m.b", "m.w", "n.i64", "scalar"]:
            print("keys", keys)
            return 1
        w = f.get_tensor("m.w")
        want = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.5 - 3
        if not torch.equal(w, want):
            print("m.w", w)
            return 1
        if f.get_tensor("m.b").shape != (7,) or f.get_tensor("m.b").sum().item() != 21.0:
            print("m.b", f.get_tensor("m.b"))
            return 1
        if f.get_tensor("n.i64").tolist() != [-1, 2**40]:
            print("n.i64", f.get_tensor("n.i64"))
            return 1
        if f.get_tensor("scalar").shape != () or f.get_tensor("scalar").item() != -2.0:
            print("scalar", f.get_tensor("scalar"))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
