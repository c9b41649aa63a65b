"""MNIST loader (interim version; hardened version follows)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read(path: Path) -> bytes:
    gz = path.with_name(path.name + ".gz")
    if path.exists():
        return path.read_bytes()
    with gzip.open(gz, "rb") as f:
        return f.read()


def load_mnist(split: str, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return X float32 (N, 784) in [0, 1] and y int64 (N,) for split 'train' or 'test'."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    d = Path(data_dir or os.environ.get("MNIST_DIR") or Path(__file__).resolve().parents[2] / "data" / "mnist")
    img, lab = (_read(d / n) for n in _FILES[split])
    X = np.frombuffer(img, dtype=np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0
    y = np.frombuffer(lab, dtype=np.uint8, offset=8).astype(np.int64)
    return X, y
