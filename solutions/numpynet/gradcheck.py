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
    for i in np.ndindex(x.shape):  # every index tuple of x, one entry at a time
        original = x[i]
        x[i] = original + eps
        f_plus = float(f())
        x[i] = original - eps
        f_minus = float(f())
        x[i] = original
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad
    ### END SOLUTION
