"""One epoch of training, and evaluation: the loop that ties the parts together."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .loss import CrossEntropyLoss
from .module import Module
from .optim import Optimizer


def train_epoch(
    model: Module,
    loss_fn: CrossEntropyLoss,
    optimizer: Optimizer,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
) -> float:
    """Train for one pass over ``batches``.

    For each batch (X (B, D) float32, y (B,) int): zero the gradients, forward,
    loss, backward through the loss and the model, optimiser step.

    Returns:
        the mean training loss over the epoch, weighted by batch size
        (a Python float).
    """
    ### BEGIN SOLUTION
    total, count = 0.0, 0
    for X, y in batches:
        optimizer.zero_grad()
        logits = model.forward(X)
        loss = loss_fn.forward(logits, y)
        model.backward(loss_fn.backward())
        optimizer.step()
        total += loss * len(y)
        count += len(y)
    return total / max(count, 1)
    ### END SOLUTION


def evaluate(
    model: Module,
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (X, y), without training.

    Args:
        model: the network; only its ``forward`` is called.
        X: inputs (N, D), float32.
        y: labels (N,), int.
        batch_size: rows per forward pass (bounds the memory used).

    Returns:
        (mean loss, accuracy in [0, 1]) over all N samples.
    """
    ### BEGIN SOLUTION
    loss_fn = CrossEntropyLoss()
    total_loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        Xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        logits = model.forward(Xb)
        total_loss += loss_fn.forward(logits, yb) * len(yb)
        correct += int((logits.argmax(axis=1) == yb).sum())
    n = max(len(X), 1)
    return total_loss / n, correct / n
    ### END SOLUTION
