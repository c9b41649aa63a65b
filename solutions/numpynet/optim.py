"""Optimisers: plain/momentum SGD and RMSProp, with PyTorch's update rules."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .module import Parameter


class Optimizer:
    """Holds the parameters to update; ``step`` applies one update in place."""

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero, before the next backward pass."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Update every parameter in place from its gradient (defined by each optimiser)."""
        raise TypeError(f"{type(self).__name__} does not define step()")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's form).

    Per parameter p with gradient g:
        buf = momentum * buf + g        (buf starts at 0, so the first buf is g)
        p  -= lr * buf                  (with momentum 0 this is p -= lr * g)

    ``p.data`` is updated IN PLACE; ``p.grad`` is only read.
    """

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.buffers = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """One update of every parameter by the rule above, in place."""
        ### BEGIN SOLUTION
        for p, buf in zip(self.params, self.buffers, strict=True):
            if self.momentum:
                buf *= self.momentum  # buf = momentum * buf + g, in place: the state
                buf += p.grad
                p.data -= self.lr * buf
            else:
                p.data -= self.lr * p.grad
        ### END SOLUTION


class RMSProp(Optimizer):
    """RMSProp, exactly as ``torch.optim.RMSprop`` (no momentum, not centred).

    Per parameter p with gradient g, and a running mean square v starting at 0:
        v  = alpha * v + (1 - alpha) * g**2
        p -= lr * g / (sqrt(v) + eps)          (eps OUTSIDE the square root)

    alpha and eps default to PyTorch's (0.99, 1e-8); the course's default
    learning rate is 1e-3 (PyTorch's is 1e-2). Updates happen IN PLACE.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        alpha: float = 0.99,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.alpha = alpha
        self.eps = eps
        self.square_avg = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """One update of every parameter and its ``square_avg`` by the rule above, in place."""
        ### BEGIN SOLUTION
        lr, alpha, eps = self.lr, self.alpha, self.eps
        for p, v in zip(self.params, self.square_avg, strict=True):
            g = p.grad
            # v = alpha * v + (1 - alpha) * g**2, updated in place: v is the optimiser's state.
            v *= alpha
            v += (1 - alpha) * g**2
            p.data -= lr * g / (np.sqrt(v) + eps)
        ### END SOLUTION
