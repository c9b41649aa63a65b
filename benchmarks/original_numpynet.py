"""The baseline a student starts from: a re-creation of the original NumPyNet loop.

Deliberately NOT optimised, and NOT to be copied: it is what the course improves on.
It keeps the original's habits, each of which costs time (or correctness):

* float64 everywhere (the data set is converted once, before timing, as the original
  loaded it: ``pixels / 255.0``);
* unscaled initialisation: ``W = randn(D, M)``, no He factor;
* the SUMMED loss, so the output gradient is ``P - Y`` with no ``1 / N``;
* one-hot targets built per batch with ``np.eye(K)[y]``;
* a fancy-index copy of every batch (``X[idx[start:stop]]``);
* each layer's ``backward`` returns ``dX``, the first layer's included;
* expression-style updates that allocate temporaries:
  ``cache = alpha * cache + (1 - alpha) * g**2; W -= lr * g / (sqrt(cache) + eps)``.

The update is RMSProp with PyTorch's formula, so the arithmetic per step matches the
reference's; only how it is written differs.
"""

from __future__ import annotations

import numpy as np


class Dense:
    """``Y = X @ W + b`` with float64 parameters drawn from an unscaled normal."""

    def __init__(self, fan_in: int, fan_out: int, rng: np.random.Generator) -> None:
        self.W = rng.standard_normal((fan_in, fan_out))  # float64, std 1: no He factor
        self.b = np.zeros(fan_out)
        self.cache_W = np.zeros_like(self.W)
        self.cache_b = np.zeros_like(self.b)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.X = X
        return X @ self.W + self.b

    def backward(self, dY: np.ndarray) -> np.ndarray:
        self.dW = self.X.T @ dY
        self.db = np.sum(dY, axis=0)
        return dY @ self.W.T

    def update(self, lr: float, alpha: float, eps: float) -> None:
        self.cache_W = alpha * self.cache_W + (1 - alpha) * self.dW**2
        self.W -= lr * self.dW / (np.sqrt(self.cache_W) + eps)
        self.cache_b = alpha * self.cache_b + (1 - alpha) * self.db**2
        self.b -= lr * self.db / (np.sqrt(self.cache_b) + eps)


class Relu:
    def forward(self, X: np.ndarray) -> np.ndarray:
        self.X = X
        return np.maximum(0, X)

    def backward(self, dY: np.ndarray) -> np.ndarray:
        return dY * (self.X > 0)


class OriginalNumPyNet:
    """784-128-10 (or any ``sizes``) trained with RMSProp on the summed cross-entropy.

    Args:
        sizes: layer widths, input first.
        seed: seeds the initialisation.
        lr, alpha, eps: RMSProp's (the same values the reference and PyTorch get).
    """

    def __init__(
        self,
        sizes: tuple[int, ...] = (784, 128, 10),
        seed: int = 0,
        lr: float = 1e-3,
        alpha: float = 0.99,
        eps: float = 1e-8,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.layers: list = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            if index > 0:
                self.layers.append(Relu())
            self.layers.append(Dense(fan_in, fan_out, rng))
        self.num_classes = sizes[-1]
        self.lr, self.alpha, self.eps = lr, alpha, eps

    def train_epoch(
        self, X: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator
    ) -> float:
        """One shuffled pass over (X float64 (N, D), y int (N,)); returns the mean loss."""
        idx = rng.permutation(len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            batch = idx[start : start + batch_size]
            out = X[batch]
            Y = np.eye(self.num_classes)[y[batch]]
            for layer in self.layers:
                out = layer.forward(out)
            exp = np.exp(out - np.max(out, axis=1, keepdims=True))
            P = exp / np.sum(exp, axis=1, keepdims=True)
            total += -np.sum(Y * np.log(P + 1e-12))  # summed over the batch
            grad = P - Y  # gradient of the SUMMED loss: no 1 / N
            for layer in reversed(self.layers):
                grad = layer.backward(grad)
            for layer in self.layers:
                if isinstance(layer, Dense):
                    layer.update(self.lr, self.alpha, self.eps)
        return total / len(X)
