"""The PyTorch peer: the same MLP, loss, optimiser and batches, on the CPU.

PyTorch is optional (``pip install -e '.[bench]'``); ``load_torch`` returns None when it
is missing, and the benchmark then times everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import numpy as np


def load_torch(threads: int | None) -> ModuleType | None:
    """Import torch and give it ``threads`` intra-op threads; None when not installed."""
    try:
        import torch
    except ImportError:
        return None
    if threads is not None:
        torch.set_num_threads(threads)
    return torch


class TorchPeer:
    """``Linear, ReLU, Linear, ...`` with ``torch.optim.RMSprop``, started from given weights.

    Args:
        torch: the imported module (from ``load_torch``).
        weights: per Linear layer, ``(W (D, M), b (M,))`` float32 numpy arrays, the
            reference's layout; copied, so both trainers start from the same point.
        lr, alpha, eps: RMSprop's, as the reference's RMSProp gets them.
    """

    def __init__(
        self,
        torch: ModuleType,
        weights: Sequence[tuple[np.ndarray, np.ndarray]],
        lr: float,
        alpha: float,
        eps: float,
    ) -> None:
        self.torch = torch
        layers: list[Any] = []
        for index, (W, b) in enumerate(weights):
            if index > 0:
                layers.append(torch.nn.ReLU())
            linear = torch.nn.Linear(*W.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
        self.model = torch.nn.Sequential(*layers)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.RMSprop(self.model.parameters(), lr=lr, alpha=alpha, eps=eps)

    def train_epoch(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
        """Train on the numpy batches (shared memory, no copy); returns the mean loss."""
        from_numpy = self.torch.from_numpy
        model, loss_fn, optimizer = self.model, self.loss_fn, self.optimizer
        total, count = 0.0, 0
        for X, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(from_numpy(X)), from_numpy(y))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            count += len(y)
        return total / max(count, 1)
