"""Softmax cross-entropy, the loss of the classifier."""

from __future__ import annotations

import numpy as np

from .functional import log_softmax


class CrossEntropyLoss:
    """Mean softmax cross-entropy between logits and integer labels.

    ``forward`` returns ``-mean_i log softmax(Z)[i, y_i]`` and keeps what
    ``backward`` needs; ``backward`` returns ``(softmax(Z) - onehot(y)) / N``.
    """

    def __init__(self) -> None:
        self._log_probs: np.ndarray | None = None
        self._targets: np.ndarray | None = None

    def __call__(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """Same as ``forward``."""
        return self.forward(logits, targets)

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        """Mean cross-entropy.

        Args:
            logits: Z, shape (N, K), float.
            targets: y, integer labels, shape (N,), in [0, K).

        Returns:
            the MEAN loss over the batch, a Python float (not the sum: the
            learning rate must not depend on the batch size).

        Keeps ``self._log_probs`` (N, K) and ``self._targets`` (N,) for ``backward``.
        """
        ### BEGIN SOLUTION
        log_probs = log_softmax(logits, axis=1)
        self._log_probs = log_probs
        self._targets = targets
        N = logits.shape[0]
        return float(-log_probs[np.arange(N), targets].mean())
        ### END SOLUTION

    def backward(self) -> np.ndarray:
        """Gradient of the mean loss with respect to the logits.

        Returns:
            dZ: shape (N, K), dtype of the logits, ``(softmax(Z) - onehot(y)) / N``.
        """
        if self._log_probs is None:
            raise RuntimeError("CrossEntropyLoss.backward called before forward")
        ### BEGIN SOLUTION
        log_probs, targets = self._log_probs, self._targets
        N = log_probs.shape[0]
        P = np.exp(log_probs)  # softmax, recovered from the cached log-softmax
        P[np.arange(N), targets] -= 1.0  # P - Y: Y is 1 at each row's label, 0 elsewhere
        return P / N
        ### END SOLUTION
