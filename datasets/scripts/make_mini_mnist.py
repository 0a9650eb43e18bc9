#!/usr/bin/env python3
"""Cut the embedded mini MNIST out of the real MNIST.

Reads the four canonical IDX gzip files of MNIST, picks a class-balanced
random subset (200 train images per digit = 2,000 train, 50 test images per
digit = 500 test) with a fixed seed, and writes four IDX gzip files with the
canonical names. Selected images keep their original relative order. The gzip
header carries no name and mtime 0, so the output bytes are reproducible.

Usage (from the repository root):

    python3 datasets/scripts/make_mini_mnist.py [SRC_DIR] [OUT_DIR]

SRC_DIR defaults to $ZOO_DATA_DIR/mnist, else ../shared/data/mnist;
OUT_DIR defaults to datasets/data/mnist-mini next to this script.
Only the Python standard library is used.
"""

import gzip
import hashlib
import os
import random
import struct
import sys

SEED = 20240501
TRAIN_PER_CLASS = 200
TEST_PER_CLASS = 50
NUM_CLASSES = 10


def read_idx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic != expected_magic:
        sys.exit(f"{path}: magic {magic}, expected {expected_magic}")
    if magic == 2051:
        count, rows, cols = struct.unpack(">III", data[4:16])
        size = rows * cols
        body = data[16:]
        if len(body) != count * size:
            sys.exit(f"{path}: length does not match header")
        return [body[i * size:(i + 1) * size] for i in range(count)], (rows, cols)
    count = struct.unpack(">I", data[4:8])[0]
    body = data[8:]
    if len(body) != count:
        sys.exit(f"{path}: length does not match header")
    return list(body), None


def pick(labels, per_class, rng):
    by_class = [[] for _ in range(NUM_CLASSES)]
    for i, label in enumerate(labels):
        by_class[label].append(i)
    chosen = []
    for indices in by_class:
        if len(indices) < per_class:
            sys.exit(f"not enough images in a class: {len(indices)} < {per_class}")
        chosen.extend(rng.sample(indices, per_class))
    return sorted(chosen)


def write_gz(path, payload):
    with open(path, "wb") as raw:
        # filename="" and mtime=0: byte-for-byte reproducible output.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(payload)
    return hashlib.sha256(payload).hexdigest()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_src = os.path.join(os.environ["ZOO_DATA_DIR"], "mnist") if os.environ.get(
        "ZOO_DATA_DIR") else os.path.join(here, "..", "..", "..", "shared", "data", "mnist")
    src = sys.argv[1] if len(sys.argv) > 1 else default_src
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "data", "mnist-mini")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)
    for prefix, per_class in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
        images, (rows, cols) = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"), 2051)
        labels, _ = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"), 2049)
        if len(images) != len(labels):
            sys.exit(f"{prefix}: {len(images)} images but {len(labels)} labels")
        chosen = pick(labels, per_class, rng)
        image_bytes = struct.pack(">IIII", 2051, len(chosen), rows, cols) + b"".join(
            images[i] for i in chosen)
        label_bytes = struct.pack(">II", 2049, len(chosen)) + bytes(labels[i] for i in chosen)
        for name, payload in ((f"{prefix}-images-idx3-ubyte.gz", image_bytes),
                              (f"{prefix}-labels-idx1-ubyte.gz", label_bytes)):
            digest = write_gz(os.path.join(out, name), payload)
            print(f"{name}: {len(chosen)} items, sha256 (decompressed) {digest}")


if __name__ == "__main__":
    main()
