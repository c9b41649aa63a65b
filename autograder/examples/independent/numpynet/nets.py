"""Parameters, modules and the two layers."""

from __future__ import annotations

import numpy as np


class Parameter:
    """Values ``data`` and their accumulated gradient ``grad`` (same shape and dtype)."""

    def __init__(self, data, dtype=None) -> None:
        values = np.asarray(data)
        if dtype is None:
            dtype = values.dtype if values.dtype.kind == "f" else np.float32
        self.data = np.array(values, dtype=dtype)

    def __setattr__(self, name, value) -> None:
        if name == "data":
            value = np.asarray(value)
            if value.dtype.kind != "f":
                value = value.astype(np.float32)
            grad = self.__dict__.get("grad")
            if grad is None or grad.shape != value.shape or grad.dtype != value.dtype:
                object.__setattr__(self, "grad", np.zeros(value.shape, value.dtype))
        object.__setattr__(self, name, value)

    @property
    def shape(self):
        return self.data.shape

    def zero_grad(self) -> None:
        self.grad[...] = 0


class Module:
    training = True

    def train(self, mode=True):
        stack = [self]
        while stack:  # every module reachable from self, iteratively
            module = stack.pop()
            module.training = bool(mode)
            for value in vars(module).values():
                items = value if isinstance(value, list | tuple) else [value]
                stack += [item for item in items if isinstance(item, Module)]
        return self

    def eval(self):
        return self.train(mode=False)

    def forward(self, X):
        raise TypeError("forward is not defined")

    def backward(self, dY):
        raise TypeError("backward is not defined")

    def __call__(self, X):
        return self.forward(X)

    def parameters(self) -> list[Parameter]:
        found: list[Parameter] = []

        def visit(value) -> None:
            if isinstance(value, Parameter):
                if all(value is not p for p in found):
                    found.append(value)
            elif isinstance(value, Module):
                for child in vars(value).values():
                    visit(child)
            elif isinstance(value, list | tuple):
                for child in value:
                    visit(child)

        for value in vars(self).values():
            visit(value)
        return found

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()


class Sequential(Module):
    def __init__(self, *modules: Module) -> None:
        self.layers = list(modules)

    def forward(self, X):
        out = X
        for layer in self.layers:
            out = layer.forward(out)
        return out

    def backward(self, dY):
        grad = dY
        for layer in self.layers[::-1]:
            grad = layer.backward(grad)
        return grad

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)


class Linear(Module):
    """``X @ W + b`` with He-normal ``W`` (in, out) and zero ``b`` (out,), float32."""

    def __init__(self, in_features: int, out_features: int, rng=None) -> None:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        scale = (2.0 / in_features) ** 0.5
        self.W = Parameter(
            generator.normal(0.0, scale, size=(in_features, out_features)).astype(np.float32)
        )
        self.b = Parameter(np.zeros((out_features,), np.float32))
        self.cache = None
        self.input_grad = True  # False: backward skips dX and returns None

    def forward(self, X):
        self.cache = X
        return np.einsum("nd,dm->nm", X, self.W.data) + self.b.data

    def backward(self, dY):
        X = self.cache
        np.add(self.W.grad, np.einsum("nd,nm->dm", X, dY), out=self.W.grad, casting="unsafe")
        np.add(self.b.grad, np.einsum("nm->m", dY), out=self.b.grad, casting="unsafe")
        if not self.input_grad:
            return None
        return np.einsum("nm,dm->nd", dY, self.W.data)


class ReLU(Module):
    def __init__(self) -> None:
        self.positive = None

    def forward(self, X):
        self.positive = X > 0
        return np.where(self.positive, X, np.zeros((), X.dtype))

    def backward(self, dY):
        return np.where(self.positive, dY, np.zeros((), dY.dtype))


class Dropout(Module):
    def __init__(self, p=0.5, rng=None) -> None:
        self.p = p
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.factor = None

    def forward(self, X):
        if self.training and self.p > 0:
            uniform = self.rng.random(X.shape)
            self.factor = np.where(uniform < self.p, 0.0, 1.0 / (1.0 - self.p)).astype(X.dtype)
            return X * self.factor
        self.factor = None
        return X

    def backward(self, dY):
        return dY if self.factor is None else dY * self.factor


class MLP(Sequential):
    def __init__(self, sizes=(784, 128, 10), rng=None, dropout=0.0) -> None:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        sizes = tuple(sizes)
        modules: list[Module] = [Linear(sizes[0], sizes[1], rng=generator)]
        for fan_in, fan_out in zip(sizes[1:-1], sizes[2:], strict=True):
            modules.append(ReLU())
            if dropout:
                modules.append(Dropout(dropout, rng=generator))
            modules.append(Linear(fan_in, fan_out, rng=generator))
        super().__init__(*modules)
        modules[0].input_grad = False  # the data's gradient is never needed
        self.sizes = sizes
