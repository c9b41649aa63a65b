"""The GEMM floor: how fast an epoch could be if it did nothing but its matrix products.

An epoch of an MLP with widths d_0, ..., d_L on N samples multiplies, per layer l:
forward ``X @ W`` and backward ``X.T @ dY`` (2 N d_l d_{l+1} FLOPs each), and, for every
layer but the first, backward ``dY @ W.T`` (the first layer's dX is never needed).
The floor is those FLOPs divided by the float32 GEMM rate measured here with numpy
matmul on the epoch's own large shapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np


def epoch_flops(sizes: Sequence[int], n_samples: int) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of one training epoch, any batch size."""
    per_sample = 0
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        products = 2 if layer == 0 else 3  # forward and dW; dX too except for layer 0
        per_sample += products * 2 * fan_in * fan_out
    return per_sample * n_samples


def gemm_shapes(sizes: Sequence[int], batch_size: int) -> list[tuple[str, int, int, int]]:
    """The first layer's products at this batch size, as (name, m, k, n) for (m,k)@(k,n).

    They carry all but ~1% of the FLOPs of a 784-128-10 MLP.
    """
    d, m, b = sizes[0], sizes[1], batch_size
    return [("forward X@W", b, d, m), ("backward X.T@dY", d, b, m)]


def measure_rate(m: int, k: int, n: int, transposed_a: bool, seconds: float = 0.05) -> float:
    """float32 GFLOP/s of ``A @ B`` for (m, k) @ (k, n), median of 5 timed rounds.

    With ``transposed_a`` A is the transposed view of a C-ordered (k, m) array, as
    ``X.T`` is in the backward pass.
    """
    rng = np.random.default_rng(0)
    A = rng.random((k, m), dtype=np.float32).T if transposed_a else rng.random((m, k), np.float32)
    B = rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    np.matmul(A, B, out=out)  # warm up: threads started, pages touched
    start, reps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 5:  # calibrate: one round ~ seconds / 5
        np.matmul(A, B, out=out)
        reps += 1
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            np.matmul(A, B, out=out)
        rounds.append((time.perf_counter() - start) / reps)
    return 2.0 * m * k * n / float(np.median(rounds)) / 1e9


def measure_gemm_rates(
    sizes: Sequence[int], batch_sizes: Iterable[int], seconds: float = 0.05
) -> list[dict]:
    """GFLOP/s of each representative product at each batch size."""
    results = []
    for batch_size in batch_sizes:
        for name, m, k, n in gemm_shapes(sizes, batch_size):
            gflops = measure_rate(
                m, k, n, transposed_a=name.startswith("backward"), seconds=seconds
            )
            results.append(
                {"batch_size": batch_size, "product": name, "shape": [m, k, n], "gflops": gflops}
            )
    return results
