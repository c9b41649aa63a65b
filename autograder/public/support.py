"""Small helpers the checks share: they only call the student's API, never solve an exercise.

Every function here is proxy-safe: it calls methods of ``nn`` objects and receives arrays
and numbers (local copies), so the same code runs in-process and against the grader's
sandboxed package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.tolerance import as_array, as_scalar


def epoch(loader: Any, what: str = "DataLoader") -> list[tuple[np.ndarray, np.ndarray]]:
    """One pass over ``loader``: the list of its (X_batch, y_batch) pairs, checked to be arrays."""
    batches = []
    for number, batch in enumerate(loader):
        if not isinstance(batch, tuple | list) or len(batch) != 2:
            raise AssertionError(f"{what}: batch {number} must be a pair (X_batch, y_batch)")
        X, y = batch
        batches.append(
            (
                as_array(X, f"{what}: X of batch {number}"),
                as_array(y, f"{what}: y of batch {number}"),
            )
        )
    return batches


def batches_of(X: np.ndarray, y: np.ndarray, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive (X, y) batches of ``size`` rows, the last one possibly smaller."""
    return [(X[i : i + size], y[i : i + size]) for i in range(0, len(X), size)]


def linear_layer(nn: Any, W: np.ndarray, b: np.ndarray) -> Any:
    """A student ``Linear`` holding exactly ``W`` (D, M) and ``b`` (M,) (any float dtype)."""
    layer = nn.Linear(W.shape[0], W.shape[1], rng=0)
    layer.W.data = W.copy()
    layer.b.data = b.copy()
    return layer


def batch_means(nn: Any, model: Any, X: np.ndarray, y: np.ndarray, batch_size: int) -> tuple:
    """(mean over samples, plain mean of the batch losses) of the student's own loss.

    The first weights each batch's loss by its size: with a correct (mean) loss it is the
    mean loss over all N samples whatever the batch size; with a faulty loss it is what a
    correct ``evaluate`` built on that loss returns, so ``evaluate`` is judged on its own
    work only. The second is the mistake to recognise when the last batch is smaller.
    """
    loss_fn = nn.CrossEntropyLoss()
    losses, sizes = [], []
    for start in range(0, len(X), batch_size):
        logits = as_array(model.forward(X[start : start + batch_size]), "model.forward(X)")
        losses.append(as_scalar(loss_fn.forward(logits, y[start : start + batch_size]), "loss"))
        sizes.append(len(y[start : start + batch_size]))
    return float(np.dot(losses, sizes) / len(X)), float(np.mean(losses))


def batched_mean_loss(nn: Any, model: Any, X: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """The student's own loss over consecutive batches, weighted by size (see batch_means)."""
    return batch_means(nn, model, X, y, batch_size)[0]
