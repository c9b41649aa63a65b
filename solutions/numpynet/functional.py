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
    ### BEGIN SOLUTION
    shifted = Z - Z.max(axis=axis, keepdims=True)  # every entry <= 0: exp cannot overflow
    E = np.exp(shifted)
    return E / E.sum(axis=axis, keepdims=True)
    ### END SOLUTION


def log_softmax(Z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax: ``Z - logsumexp(Z)``.

    Args:
        Z: logits, any shape, float.
        axis: the axis being normalised.

    Returns:
        same shape and dtype as ``Z``; all entries <= 0, finite even where
        the softmax itself underflows to 0.
    """
    ### BEGIN SOLUTION
    shifted = Z - Z.max(axis=axis, keepdims=True)  # logsumexp(Z) = max + logsumexp(Z - max)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    y = np.asarray(y)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    Y = np.zeros((y.shape[0], num_classes), dtype=np.float32)
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y
    ### END SOLUTION
