"""Lesson 07: Adam, AdamW, dropout, validation in evaluation mode, early stopping."""

from __future__ import annotations

import math

import numpy as np

from .training import Optimizer, evaluate


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay
        self.t = 0
        self.exp_avg = [np.zeros_like(p.data) for p in self.params]
        self.exp_avg_sq = [np.zeros_like(p.data) for p in self.params]

    def _decay(self, p) -> None:
        pass  # Adam's weight decay enters the gradient instead

    def _gradient(self, p):
        return p.grad + self.weight_decay * p.data if self.weight_decay else p.grad

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        # PyTorch's arrangement: the corrections folded into the step size and the root.
        step_size = self.lr / (1 - b1**self.t)
        root = math.sqrt(1 - b2**self.t)
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            self._decay(p)
            g = self._gradient(p)
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * np.square(g)
            p.data -= step_size * m / (np.sqrt(v) / root + self.eps)


class AdamW(Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _decay(self, p) -> None:
        p.data -= self.lr * self.weight_decay * p.data

    def _gradient(self, p):
        return p.grad


def validate(model, X, y, batch_size=1000):
    mode = model.training
    try:
        model.eval()
        return evaluate(model, X, y, batch_size)
    finally:
        model.train(mode)


class EarlyStopping:
    def __init__(self, patience=None) -> None:
        self.patience = patience
        self.losses: list[float] = []
        self.best_loss, self.best_epoch, self.bad_epochs, self.best_state = math.inf, 0, 0, None

    @property
    def epochs(self) -> int:
        return len(self.losses)

    def update(self, model, val_loss) -> bool:
        self.losses.append(float(val_loss))
        best = int(np.argmin(self.losses))  # the first of equal minima
        if best == len(self.losses) - 1:  # argmin is the FIRST minimum: strictly lower
            self.best_state = [np.array(p.data, copy=True) for p in model.parameters()]
        self.best_epoch, self.best_loss = best + 1, self.losses[best]
        self.bad_epochs = len(self.losses) - 1 - best
        return self.patience is not None and self.bad_epochs >= self.patience

    def restore(self, model) -> None:
        for p, saved in zip(model.parameters(), self.best_state, strict=True):
            p.data[...] = saved
