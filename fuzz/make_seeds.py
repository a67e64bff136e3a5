"""Writes the seed inputs of every harness into fuzz/corpus/<harness>/seed-*.

    python fuzz/make_seeds.py

Deterministic: running it again rewrites the same files. Seeds are small
valid inputs (a tiny network .npz of each kind, a PyTorch state_dict, IDX
files raw and gzip-compressed, a VGG-16 .npz with its first layers) and
byte strings that steer the structured harnesses to each of their branches
(for fuzz_core: each entry point). Inputs the fuzzers find are kept beside
them (see run.py --update-corpus).
"""
from __future__ import annotations

import gzip
import io
import os
import random
import struct
import sys
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CORPUS = os.path.join(HERE, "corpus")


def put(harness, name, data):
    folder = os.path.join(CORPUS, harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"seed-{name}"), "wb") as f:
        f.write(data)


def core_seeds(rng):
    import fuzz_core

    # the entry point is the first integer drawn, from the input's last byte
    for index, name in enumerate(fuzz_core.ENTRY_POINTS):
        put("core", f"{name}-plain", bytes([index]))
        for k in range(3):
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(40, 160)))
            put("core", f"{name}-{k}", body + bytes([index]))


def network_files():
    import fuzz_files

    files = {}
    for name, net in zip(("mlp", "cnn", "conv64"), fuzz_files.base_networks()):
        path = fuzz_files.tmp_path(f"{name}.npz")
        net.save(path)
        with open(path, "rb") as f:
            files[name] = f.read()
    return files


def torch_state_dict():
    try:
        import torch
    except ImportError:
        return None
    g = torch.Generator().manual_seed(0)
    state = {"fc1.weight": torch.randn(3, 4, generator=g), "fc1.bias": torch.randn(3, generator=g),
             "fc2.weight": torch.randn(2, 3, generator=g)}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def idx_bytes(code, shape, payload):
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + payload


def main():
    rng = random.Random(0)
    core_seeds(rng)

    networks = network_files()
    for name, data in networks.items():
        put("load", f"{name}.npz", data)
    pt = torch_state_dict()
    if pt is not None:
        put("load", "mlp.pt", pt)
        put("load_torch", "plain", b"")

    # load_npz and load_torch are structured: their inputs steer the mutations
    for k in range(8):
        put("load_npz", f"steer-{k}", bytes(rng.getrandbits(8) for _ in range(rng.randint(8, 96))))
    for k in range(6):
        put("load_torch", f"steer-{k}",
            bytes(rng.getrandbits(8) for _ in range(rng.randint(8, 96))))

    # idx: the mode is the input's last byte (0 raw, 1 gzip of the rest, 2-5 built)
    images = idx_bytes(0x08, (2, 3, 3), bytes(range(18)))
    floats = idx_bytes(0x0D, (4,), np.arange(4, dtype=">f4").tobytes())
    doubles = idx_bytes(0x0E, (2, 2), np.linspace(-1, 1, 4).astype(">f8").tobytes())
    shorts = idx_bytes(0x0B, (3,), np.array([-2, 0, 300], dtype=">i2").tobytes())
    put("idx", "images-raw", images + b"\x00")
    put("idx", "floats-raw", floats + b"\x00")
    put("idx", "doubles-raw", doubles + b"\x00")
    put("idx", "shorts-raw", shorts + b"\x00")
    put("idx", "images-gzip", gzip.compress(images, mtime=0) + b"\x00")
    put("idx", "images-gzip-of-rest", images + b"\x01")
    for mode in (2, 3, 4, 5):
        put("idx", f"built-{mode}",
            bytes(rng.getrandbits(8) for _ in range(rng.randint(4, 40))) + bytes([mode]))

    # vgg16: the mode is the last byte (0 raw bytes, 1-3 built .npz)
    rs = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, shape in (("features.0.weight", (64, 3, 3, 3)), ("features.0.bias", (64,))):
            arr = io.BytesIO()
            np.lib.format.write_array(arr, rs.standard_normal(shape).astype(np.float32))
            zf.writestr(f"{name}.npy", arr.getvalue())
    put("vgg16", "first-layer.npz", buf.getvalue() + b"\x00")
    for mode in (1, 2, 3):
        put("vgg16", f"built-{mode}",
            bytes(rng.getrandbits(8) for _ in range(rng.randint(4, 40))) + bytes([mode]))
    total = sum(os.path.getsize(os.path.join(root, f))
                for root, _, names in os.walk(CORPUS) for f in names)
    print(f"seeds written to {CORPUS} ({total} bytes in the corpus)")


if __name__ == "__main__":
    main()
