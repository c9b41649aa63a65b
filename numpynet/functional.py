"""Softmax, log-softmax and one-hot encoding."""

from __future__ import annotations

import numpy as np


def softmax(Z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax.

    Args:
        Z: logits, any shape, float. Finite for magnitudes up to 1e4 and beyond.
        axis: the axis that sums to one.

    Returns:
        P: same shape and dtype as ``Z``, entries in [0, 1], summing to 1 along
        ``axis``. Subtracting the max first keeps ``exp`` from overflowing.
    """
    raise NotImplementedError("Exercise 2.1: softmax - see lessons/02_softmax_cross_entropy.ipynb")


def log_softmax(Z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax: ``Z - logsumexp(Z)``.

    Args:
        Z: logits, any shape, float.
        axis: the axis being normalised.

    Returns:
        same shape and dtype as ``Z``; all entries <= 0, finite even where
        the softmax itself underflows to 0.
    """
    raise NotImplementedError(
        "Exercise 2.2: log_softmax - see lessons/02_softmax_cross_entropy.ipynb"
    )


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    """One-hot encode integer labels.

    Args:
        y: integer labels, shape (N,), each in [0, num_classes).
        num_classes: K.

    Returns:
        Y: float32 array (N, K) with ``Y[i, y[i]] = 1`` and zeros elsewhere.

    Raises:
        ValueError: if a label is outside [0, K).
    """
    raise NotImplementedError("Exercise 2.3: one_hot - see lessons/02_softmax_cross_entropy.ipynb")
