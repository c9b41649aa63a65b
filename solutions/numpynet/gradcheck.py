"""Numerical gradients by central differences, to check analytic ones."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function with respect to ``x``.

    Args:
        f: takes no argument and returns a scalar that depends on the CURRENT
            contents of ``x`` (so it reads ``x`` by reference).
        x: float array, any shape, perturbed IN PLACE one entry at a time and
            restored exactly afterwards. Use float64: float32 is too coarse.
        eps: the step h in ``(f(x + h) - f(x - h)) / (2 h)``.

    Returns:
        array of ``x``'s shape, float64: the estimated df/dx.
    """
    ### BEGIN SOLUTION
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)  # a view: writing it perturbs x itself
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        f_plus = float(f())
        flat[i] = original - eps
        f_minus = float(f())
        flat[i] = original
        grad.reshape(-1)[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad
    ### END SOLUTION
