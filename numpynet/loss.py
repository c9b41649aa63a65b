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
        raise NotImplementedError(
            "Exercise 2.4: cross-entropy forward - see lessons/02_softmax_cross_entropy.ipynb"
        )

    def backward(self) -> np.ndarray:
        """Gradient of the mean loss with respect to the logits.

        Returns:
            dZ: shape (N, K), dtype of the logits, ``(softmax(Z) - onehot(y)) / N``.
        """
        if self._log_probs is None:
            raise RuntimeError("CrossEntropyLoss.backward called before forward")
        raise NotImplementedError(
            "Exercise 2.5: cross-entropy backward - see lessons/02_softmax_cross_entropy.ipynb"
        )
