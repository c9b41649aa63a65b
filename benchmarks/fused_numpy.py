"""The fastest plain-NumPy epoch we know how to write: a bound for the reference.

The reference (solutions/numpynet) is modular: layers, a loss and an optimiser that
students write one at a time. This peer gives that structure up, to show what plain
NumPy can reach on this machine at all; the gap between the two is the price of the
modules, and the gap between this and the targets is what NumPy alone cannot close.

Same maths as the reference (float32, mean cross-entropy, gradient ``(P - Y) / N``, ReLU
mask, PyTorch's RMSProp), started from the same weights and fed the same batches;
``tests/test_benchmarks.py`` checks that both take the same steps. What it does that the
modular reference does not:

* ONE flat buffer each for parameters, gradients, RMSProp's running average and its
  scratch, the layers' arrays being views of it: the optimiser makes nine passes over
  one array per step instead of nine calls per parameter (four parameters);
* gradients written straight into that buffer (``np.matmul(..., out=)``), with no
  ``zero_grad`` and no accumulation (``grad += ...``);
* every batch-sized temporary preallocated, and ``np.square`` / ``out=`` everywhere;
* the row indices ``arange(B)`` made once, not per loss call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class FusedNumPyNet:
    """One hidden layer MLP ``D-H-K`` trained by one hand-fused loop.

    Args:
        weights: ``[(W1 (D, H), b1 (H,)), (W2 (H, K), b2 (K,))]`` float32, copied.
        lr, alpha, eps: RMSProp's, with PyTorch's update rule.
        buffers: optional flat float32 arrays ``(params, grads, square_avg, scratch)``
            to live in (data_parallel.py passes shared memory); ``params`` is filled
            from ``weights``, ``square_avg`` is left as given.
    """

    def __init__(
        self,
        weights: Sequence[tuple[np.ndarray, np.ndarray]],
        lr: float,
        alpha: float,
        eps: float,
        buffers: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        if len(weights) != 2:
            raise ValueError("the fused loop is written for exactly one hidden layer")
        arrays = [array for pair in weights for array in pair]  # W1, b1, W2, b2
        shapes = [array.shape for array in arrays]
        if buffers is None:
            size = sum(array.size for array in arrays)
            buffers = tuple(np.zeros(size, np.float32) for _ in range(4))
        self.params, self.grads, self.square_avg, self.scratch = buffers
        self.W1, self.b1, self.W2, self.b2 = flat_views(self.params, shapes)
        self.gW1, self.gb1, self.gW2, self.gb2 = flat_views(self.grads, shapes)
        for view, source in zip((self.W1, self.b1, self.W2, self.b2), arrays, strict=True):
            view[...] = source
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self._rows = np.arange(0)

    def train_epoch(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
        """One pass over ``(X (B, D) float32, y (B,) int)`` batches; the mean loss."""
        total, count = 0.0, 0
        for X, y in batches:
            total += self.gradients(X, y, len(y))
            self.update(0, len(self.params))
            count += len(y)
        return total / max(count, 1)

    def gradients(self, X: np.ndarray, y: np.ndarray, batch: int) -> float:
        """Write into ``grads`` the gradient of ``(summed loss of these rows) / batch``.

        With ``batch == len(y)`` that is the gradient of the batch's mean loss; a
        data-parallel share passes the whole batch's size. Returns the SUMMED loss.
        """
        n = len(y)
        if len(self._rows) != n:
            self._rows = np.arange(n)
        rows = self._rows
        # Forward: Z1 = X W1 + b1, H = relu(Z1), Z2 = H W2 + b2.
        Z1 = X @ self.W1
        Z1 += self.b1
        mask = Z1 > 0
        H = np.multiply(Z1, mask, out=Z1)  # Z1 is not needed again: ReLU in place
        Z2 = H @ self.W2
        Z2 += self.b2
        # Loss: log-softmax with the row max subtracted; dZ2 = (softmax - onehot) / batch.
        Z2 -= Z2.max(axis=1, keepdims=True)
        P = np.exp(Z2)
        sums = P.sum(axis=1, keepdims=True)
        loss = float(np.log(sums).sum() - Z2[rows, y].sum())
        P /= sums
        P[rows, y] -= 1.0
        P *= 1.0 / batch
        # Backward, gradients written in place into the flat buffer.
        np.matmul(H.T, P, out=self.gW2)
        P.sum(axis=0, out=self.gb2)
        dH = P @ self.W2.T
        dH *= mask
        np.matmul(X.T, dH, out=self.gW1)
        dH.sum(axis=0, out=self.gb1)
        return loss

    def update(self, lo: int, hi: int) -> None:
        """RMSProp on the entries ``[lo, hi)`` of the flat parameter vector (9 passes)."""
        rmsprop_passes(
            self.grads[lo:hi],
            self.square_avg[lo:hi],
            self.params[lo:hi],
            self.scratch[lo:hi],
            self.lr,
            self.alpha,
            self.eps,
        )


def flat_views(flat: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Consecutive views of the 1-D ``flat`` with these shapes, in order."""
    bounds = np.cumsum([0, *(int(np.prod(shape)) for shape in shapes)])
    return [
        flat[a:b].reshape(shape)
        for a, b, shape in zip(bounds[:-1], bounds[1:], shapes, strict=True)
    ]


def rmsprop_passes(
    g: np.ndarray,
    v: np.ndarray,
    p: np.ndarray,
    tmp: np.ndarray,
    lr: float,
    alpha: float,
    eps: float,
) -> None:
    """PyTorch's RMSProp step on ``p`` in nine in-place passes, as the reference's step.

    ``v`` (the running mean square) and ``p`` are updated; ``tmp`` is scratch of the
    same shape; ``g`` is only read.
    """
    v *= alpha
    np.square(g, out=tmp)
    tmp *= 1.0 - alpha
    v += tmp  # v = alpha * v + (1 - alpha) * g**2
    np.sqrt(v, out=tmp)
    tmp += eps
    np.divide(g, tmp, out=tmp)
    tmp *= lr
    p -= tmp  # p -= lr * g / (sqrt(v) + eps)
