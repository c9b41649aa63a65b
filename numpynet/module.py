"""Parameters and modules: the containers every layer is built from.

Nothing here is an exercise: students use these classes to build their layers.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class Parameter:
    """A trainable array and the gradient accumulated for it.

    Attributes:
        data: the values, any shape, float32 unless given another float dtype.
        grad: same shape and dtype as ``data``; layers ADD into it in ``backward``
            and optimisers read it in ``step``.

    Assigning a new ``data`` array of another shape or dtype re-allocates
    ``grad`` (as zeros) so the two always match.
    """

    def __init__(self, data: np.ndarray, dtype: np.dtype | type | None = None) -> None:
        array = np.asarray(data)
        if dtype is None:
            # Keep float64 when a test asks for it; everything else trains in float32.
            dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float32
        self._data = np.array(array, dtype=dtype)  # own copy: callers keep theirs
        self.grad = np.zeros_like(self._data)

    @property
    def data(self) -> np.ndarray:
        """The values; assigning an array of another shape or dtype resets ``grad``."""
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        if value is self._data:
            return  # `p.data -= step` updated the array in place: nothing changes
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            value = value.astype(np.float32)
        # Compare with the OLD data, not the grad: a student's float64 grad must stay
        # visible to the tests rather than be silently reset here.
        if value.shape != self._data.shape or value.dtype != self._data.dtype:
            self.grad = np.zeros_like(value)
        self._data = value

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``data`` (and of ``grad``)."""
        return self._data.shape

    def zero_grad(self) -> None:
        """Set ``grad`` to zero in place (optimisers may hold a view of it)."""
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self._data.dtype})"


class Module:
    """Base class of every layer: ``forward``, ``backward`` and its parameters.

    A module caches what ``backward`` needs during ``forward``; so ``backward``
    must follow the ``forward`` whose gradient it computes.

    Attributes:
        training: True (training mode, the default) or False (evaluation mode), as
            ``torch.nn.Module.training``. Only layers that behave differently when
            training (``Dropout``) read it; ``train()`` and ``eval()`` set it.
    """

    # A class attribute: a layer that never calls super().__init__() still has a mode.
    training: bool = True

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode`` True) or evaluation mode (False), as ``torch.nn.Module``.

        The mode is set on this module and on every descendant (``children``, recursively).

        Returns:
            ``self``, so that ``model = MLP(...).train()`` reads naturally.
        """
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode for this module and every descendant: ``self.train(False)``."""
        return self.train(False)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Compute the output from ``X`` and keep what ``backward`` needs (each layer's own)."""
        raise TypeError(f"{type(self).__name__} does not define forward()")

    def backward(self, dY: np.ndarray) -> np.ndarray:
        """Return the gradient with respect to the input, given ``dY`` for the output.

        Parameter gradients are ADDED into each ``Parameter.grad`` (each layer's own).
        """
        raise TypeError(f"{type(self).__name__} does not define backward()")

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Same as ``forward``."""
        return self.forward(X)

    def children(self) -> Iterator[Module]:
        """The sub-modules held as attributes or in lists, in definition order."""
        for value in vars(self).values():
            if isinstance(value, Module):
                yield value
            elif isinstance(value, list | tuple):
                yield from (item for item in value if isinstance(item, Module))

    def parameters(self) -> list[Parameter]:
        """Every Parameter of this module and its children, each once, in order."""
        found: list[Parameter] = []
        for value in vars(self).values():
            if isinstance(value, Parameter):
                found.append(value)
        for child in self.children():
            found.extend(child.parameters())
        unique: dict[int, Parameter] = {id(p): p for p in found}
        return list(unique.values())

    def zero_grad(self) -> None:
        """Set the gradient of every parameter of this module and its children to zero."""
        for parameter in self.parameters():
            parameter.zero_grad()


class Sequential(Module):
    """Modules applied one after another; ``backward`` runs them in reverse."""

    def __init__(self, *modules: Module) -> None:
        self.layers = list(modules)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Apply every layer in order; returns the last one's output."""
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def backward(self, dY: np.ndarray) -> np.ndarray | None:
        """Back-propagate through every layer; returns the first layer's dX.

        That is None when the first layer skips it (``Linear.input_grad``, as in MLP).
        """
        for layer in reversed(self.layers):
            dY = layer.backward(dY)
        return dY

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}(\n  {inner}\n)"
