"""Optimisers: plain/momentum SGD, RMSProp, Adam and AdamW, with PyTorch's update rules."""

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


class Adam(Optimizer):
    """Adam, exactly as ``torch.optim.Adam`` (``amsgrad=False``, not maximising).

    Per step, ``t`` counts the calls of ``step`` (1 on the first call) and is SHARED by
    every parameter. Per parameter p with gradient g, moments m and v starting at 0:
        g  = g + weight_decay * p                 (only when weight_decay != 0: an L2 penalty)
        m  = beta1 * m + (1 - beta1) * g
        v  = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)                (bias correction of the FIRST moment)
        v_hat = v / (1 - beta2**t)                (bias correction of the SECOND moment)
        p -= lr * m_hat / (sqrt(v_hat) + eps)     (eps OUTSIDE the square root)

    Defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.
    ``p.data``, ``exp_avg`` and ``exp_avg_sq`` are updated IN PLACE; ``p.grad`` is only read.

    Attributes:
        t: steps taken so far (int, 0 before the first).
        exp_avg: m per parameter, same shape and dtype as its data.
        exp_avg_sq: v per parameter, same shape and dtype as its data.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        beta1, beta2 = (float(beta) for beta in betas)
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if eps < 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
        self.betas = (beta1, beta2)
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self.exp_avg = [np.zeros_like(p.data) for p in self.params]
        self.exp_avg_sq = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        """One update of every parameter and its moments by the rule above, in place."""
        ### BEGIN SOLUTION
        self.t += 1  # once per step, not once per parameter
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.t
        correction2 = 1 - beta2**self.t
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.data  # L2 penalty: a new array, grad unchanged
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g**2
            p.data -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)
        ### END SOLUTION


class AdamW(Adam):
    """AdamW, exactly as ``torch.optim.AdamW``: Adam with DECOUPLED weight decay.

    Per step (``t`` as in Adam, shared by every parameter), per parameter p:
        p *= 1 - lr * weight_decay                (decay first, from the current p)
        then Adam's update with the plain gradient g (no weight_decay * p added to g).

    Defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
    Attributes and in-place updates as in ``Adam``.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def step(self) -> None:
        """One decoupled decay and Adam update of every parameter by the rule above, in place."""
        ### BEGIN SOLUTION
        self.t += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.t
        correction2 = 1 - beta2**self.t
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            p.data *= 1 - self.lr * self.weight_decay  # decoupled: never enters m or v
            g = p.grad
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g**2
            p.data -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)
        ### END SOLUTION
