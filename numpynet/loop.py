"""One epoch of training, evaluation (in evaluation mode), and early stopping."""

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
    raise NotImplementedError("Exercise 5.1: train_epoch - see lessons/05_training_mnist.ipynb")


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
    raise NotImplementedError("Exercise 5.2: evaluate - see lessons/05_training_mnist.ipynb")


def validate(
    model: Module,
    X: np.ndarray,
    y: np.ndarray,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """``evaluate`` in evaluation mode, then the model back in the mode it was in.

    Dropout (lesson 07) must be off when measuring: ``model.eval()``, then ``evaluate``,
    then ``model.train(mode)`` with the mode found on entry (training or evaluation), also
    when ``evaluate`` raises. Arguments and result as ``evaluate``.
    """
    raise NotImplementedError(
        "Exercise 7.5: validate in eval mode - see lessons/07_beyond_rmsprop.ipynb"
    )


class EarlyStopping:
    """Keep the parameters of the epoch with the lowest validation loss.

    Args:
        patience: stop after this many epochs in a row without a new best (``None``:
            never say stop, only remember the best epoch).

    Attributes:
        epochs: ``update`` calls so far (the epochs seen).
        best_loss: the lowest validation loss seen (``inf`` before the first update).
        best_epoch: the 1-based epoch that gave it (0 before the first update).
        best_state: COPIES of every parameter's data at that epoch, in
            ``model.parameters()`` order (``None`` before the first update): copies, since
            the optimiser keeps changing the parameters in place.
        bad_epochs: epochs since the best one (0 right after a new best).
    """

    def __init__(self, patience: int | None = None) -> None:
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be at least 1 (or None), got {patience}")
        self.patience = patience
        self.epochs = 0
        self.best_loss = float("inf")
        self.best_epoch = 0
        self.best_state: list[np.ndarray] | None = None
        self.bad_epochs = 0

    def update(self, model: Module, val_loss: float) -> bool:
        """Record one epoch's validation loss; returns True when training should stop.

        A loss strictly lower than ``best_loss`` is a new best: remember it, its epoch
        and a copy of every parameter, and reset ``bad_epochs``; otherwise count one more
        bad epoch. Stop when ``patience`` is set and ``bad_epochs >= patience``.
        """
        raise NotImplementedError(
            "Exercise 7.6: early stopping - see lessons/07_beyond_rmsprop.ipynb"
        )

    def restore(self, model: Module) -> None:
        """Copy the best epoch's parameters back into ``model``, in place."""
        if self.best_state is None:
            raise RuntimeError("EarlyStopping.restore called before any update")
        for parameter, saved in zip(model.parameters(), self.best_state, strict=True):
            parameter.data[...] = saved
