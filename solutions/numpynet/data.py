"""Mini-batches: the DataLoader."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class DataLoader:
    """Iterate over (X, y) in mini-batches.

    Args:
        X: inputs, shape (N, ...), any dtype.
        y: labels, shape (N,).
        batch_size: B >= 1.
        shuffle: draw a new random order at the start of EVERY epoch.
        rng: a Generator or a seed for the shuffling.
        drop_last: drop the final batch when it has fewer than B samples.

    Iterating yields ``(X_batch, y_batch)`` of shapes (B, ...) and (B,), the
    last possibly smaller; each sample appears exactly once per epoch (once
    at most with ``drop_last``). ``len(loader)`` is the number of batches.

    Raises:
        ValueError: if ``batch_size < 1`` or ``X`` and ``y`` differ in length.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        rng: np.random.Generator | int | None = None,
        drop_last: bool = False,
    ) -> None:
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if len(X) != len(y):
            raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
        self.X = X
        self.y = y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.rng = np.random.default_rng(rng)
        self.drop_last = drop_last

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ### BEGIN SOLUTION
        n, b = len(self.X), self.batch_size
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)  # new order per epoch
        stop = n - n % b if self.drop_last else n
        for start in range(0, stop, b):
            index = order[start : start + b]
            yield self.X[index], self.y[index]
        ### END SOLUTION
