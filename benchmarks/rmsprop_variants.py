"""Ways to run RMSProp's update of W1 (784 x 128 float32), timed against numpy's nine passes.

The reference's ``RMSProp.step`` makes nine in-place passes over each parameter on one
core (``fused_numpy.rmsprop_passes``, timed here, makes the same nine). This script
times, in one run and as ratios to those nine passes, the ideas for doing better that
benchmarks/README.md reports as tried and dropped:

* ``sqrt only``      the one pass ``np.sqrt`` takes (what the hardware's float32 square
                     root costs: about a third of the update);
* ``chunks K``       the same nine passes over K slices, so that each fits the L2 cache;
* ``two threads``    the two halves on two Python threads (numpy releases the GIL);
* ``numexpr``        two multi-threaded numexpr expressions (only when it is installed).

Each variant is timed twice: alone, and right after a (128, 784) @ (784, 128) product as
in training, when OpenBLAS's second thread is still spinning. Usage::

    .venv/bin/python benchmarks/rmsprop_variants.py [--threads N] [--steps S]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import threads  # stdlib only; must configure the thread pools before numpy loads

ALPHA, LR, EPS = 0.99, 1e-3, 1e-8


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    parser.add_argument("--steps", type=int, default=2000, help="updates timed per variant")
    args = parser.parse_args(argv)
    threads.prepare_threads(args.threads)
    import numpy as np
    from fused_numpy import rmsprop_passes  # numpy loads only now

    def nine_passes(g, v, p, tmp) -> None:  # noqa: ANN001 - numpy arrays
        rmsprop_passes(g, v, p, tmp, LR, ALPHA, EPS)

    rng = np.random.default_rng(0)
    n = 784 * 128
    g = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    v = (np.abs(rng.standard_normal(n)) * 1e-6).astype(np.float32)
    p = rng.standard_normal(n).astype(np.float32)
    tmp = np.empty_like(p)
    X = rng.random((128, 784), dtype=np.float32)
    W = rng.standard_normal((784, 128)).astype(np.float32)

    def chunked(parts: int) -> Callable[[], None]:
        bounds = np.linspace(0, n, parts + 1).astype(int)
        pieces = [(g[a:b], v[a:b], p[a:b], tmp[a:b]) for a, b in pairwise(bounds)]
        return lambda: [nine_passes(*piece) for piece in pieces]

    pool = ThreadPoolExecutor(1)
    halves = [(g[: n // 2], v[: n // 2], p[: n // 2], tmp[: n // 2])]
    halves.append((g[n // 2 :], v[n // 2 :], p[n // 2 :], tmp[n // 2 :]))

    def two_threads() -> None:
        other = pool.submit(nine_passes, *halves[1])
        nine_passes(*halves[0])
        other.result()

    variants: dict[str, Callable[[], None]] = {
        "nine passes": lambda: nine_passes(g, v, p, tmp),
        "sqrt only": lambda: np.sqrt(v, out=tmp),
        "chunks 2": chunked(2),
        "chunks 4": chunked(4),
        "chunks 8": chunked(8),
        "two threads": two_threads,
    }
    try:
        import numexpr

        names = {"g": g, "v": v, "p": p}
        names |= dict(
            zip(("a", "c", "lr", "eps"), map(np.float32, (ALPHA, 1 - ALPHA, LR, EPS)), strict=True)
        )

        def with_numexpr() -> None:
            numexpr.evaluate("a * v + c * g * g", local_dict=names, out=v)
            numexpr.evaluate("p - lr * g / (sqrt(v) + eps)", local_dict=names, out=p)

        variants["numexpr"] = with_numexpr
    except ImportError:
        print("numexpr not installed: its row is skipped")

    results: dict[str, float] = {}
    with threads.limit_threads(args.threads):
        for after_product in (False, True):
            for name, run in variants.items():
                run()  # warm
                total = 0.0
                for _ in range(args.steps):
                    if after_product:
                        X @ W
                    start = time.perf_counter()
                    run()
                    total += time.perf_counter() - start
                key = f"{name}{' (after a product)' if after_product else ''}"
                results[key] = total / args.steps * 1e6
    pool.shutdown()
    print(f"RMSProp update of {n} float32 values, {args.threads} BLAS threads, microseconds")
    for after in ("", " (after a product)"):
        base = results[f"nine passes{after}"]
        for name in variants:
            us = results[f"{name}{after}"]
            print(f"  {name + after:<36} {us:8.1f} us   {us / base:5.2f} x nine passes")
    return results


if __name__ == "__main__":
    main()
