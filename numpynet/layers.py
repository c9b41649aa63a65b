"""Layers of the MLP: the affine map, the ReLU non-linearity and dropout."""

from __future__ import annotations

import numpy as np

from .module import Module, Parameter, Sequential


class Linear(Module):
    """Affine layer ``Y = X @ W + b``.

    Args:
        in_features: D, the size of each input row.
        out_features: M, the size of each output row.
        rng: a ``numpy.random.Generator`` or a seed (``None``: fresh entropy).

    Attributes:
        W: Parameter of shape (D, M), float32, He-initialised:
            normal with mean 0 and standard deviation sqrt(2 / D).
        b: Parameter of shape (M,), float32, zeros.
        input_grad: True (the default): ``backward`` returns dX. ``MLP`` sets it to
            False on its FIRST layer, whose input is the data: nobody needs dX there,
            and skipping it saves one of the three large matrix products per batch.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        rng = np.random.default_rng(rng)
        # Exercise 1.1: He initialisation. Build `W` (D, M) and `b` (M,) as float32.
        raise NotImplementedError(
            "Exercise 1.1: Linear He initialisation - see lessons/01_forward_pass.ipynb"
        )
        self.W = Parameter(W)
        self.b = Parameter(b)
        self.input_grad = True
        self._X: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Compute ``X @ W + b``.

        Args:
            X: inputs, shape (N, D).

        Returns:
            Y: shape (N, M); float32 when X and W are float32 (as in training),
            float64 when both are float64. ``X`` is kept for ``backward`` and is
            not changed.
        """
        self._X = X
        raise NotImplementedError(
            "Exercise 1.2: Linear forward - see lessons/01_forward_pass.ipynb"
        )

    def backward(self, dY: np.ndarray) -> np.ndarray | None:
        """Back-propagate through the affine map.

        Args:
            dY: gradient of the loss with respect to ``Y``, shape (N, M).

        Returns:
            dX: gradient with respect to ``X``, shape (N, D); None when
            ``input_grad`` is False (then only the parameter gradients are computed).

        Side effects:
            ADDS ``X.T @ dY`` (D, M) to ``W.grad`` and ``dY`` summed over the
            batch (M,) to ``b.grad``: gradients accumulate until ``zero_grad``.
        """
        X = self._X
        if X is None:
            raise RuntimeError("Linear.backward called before forward")
        raise NotImplementedError(
            "Exercise 3.2: Linear backward - see lessons/03_backpropagation.ipynb"
        )

    def __repr__(self) -> str:
        D, M = self.W.shape
        return f"Linear(in_features={D}, out_features={M})"


class ReLU(Module):
    """Rectified linear unit ``max(0, x)``, element-wise, any shape."""

    def __init__(self) -> None:
        self._mask: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Return ``max(0, X)``, same shape and dtype as ``X``; ``X`` is not changed.

        Keep what ``backward`` needs in ``self._mask``: where ``X > 0``, boolean.
        """
        raise NotImplementedError("Exercise 1.3: ReLU forward - see lessons/01_forward_pass.ipynb")

    def backward(self, dY: np.ndarray) -> np.ndarray:
        """Return ``dY * (X > 0)``: the gradient passes only where the input was positive.

        At exactly 0 the gradient is 0 (the sub-gradient PyTorch uses).
        """
        if self._mask is None:
            raise RuntimeError("ReLU.backward called before forward")
        raise NotImplementedError(
            "Exercise 3.1: ReLU backward - see lessons/03_backpropagation.ipynb"
        )

    def __repr__(self) -> str:
        return "ReLU()"


class Dropout(Module):
    """Inverted dropout, as ``torch.nn.Dropout``: zero each element with probability p.

    Args:
        p: the probability of zeroing an element, 0 <= p < 1.
        rng: a ``numpy.random.Generator`` or a seed: the layer's OWN generator, the only
            source of its masks (``None``: fresh entropy).

    In training mode (``self.training``, see ``Module.train``) with p > 0, ``forward``
    draws ``keep = self.rng.random(X.shape) >= p`` (one float64 uniform per element, in
    the order numpy fills ``X.shape``) and returns ``X * keep / (1 - p)``: the kept
    elements are scaled up so that the expected output equals ``X``. ``backward`` returns
    ``dY * keep / (1 - p)`` with the SAME mask (no new draw). In evaluation mode, or with
    p = 0, both are the identity and nothing is drawn. Outputs keep the input's shape and
    float dtype.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | int | None = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = np.random.default_rng(rng)
        self._mask: np.ndarray | None = None  # keep / (1 - p), or None for the identity
        self._forwarded = False

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Return ``X * keep / (1 - p)`` when training (p > 0), else ``X`` itself.

        The result has the same shape and dtype as ``X``. Keep what ``backward`` needs in
        ``self._mask``: ``keep.astype(X.dtype) / (1 - p)`` when training with p > 0, ``None``
        otherwise (the identity).
        """
        self._forwarded = True
        raise NotImplementedError(
            "Exercise 7.3: Dropout forward - see lessons/07_beyond_rmsprop.ipynb"
        )

    def backward(self, dY: np.ndarray) -> np.ndarray:
        """Return ``dY * keep / (1 - p)`` with the mask of the last ``forward`` (or ``dY``)."""
        if not self._forwarded:
            raise RuntimeError("Dropout.backward called before forward")
        raise NotImplementedError(
            "Exercise 7.4: Dropout backward - see lessons/07_beyond_rmsprop.ipynb"
        )

    def __repr__(self) -> str:
        return f"Dropout(p={self.p:g})"


class MLP(Sequential):
    """Multi-layer perceptron: Linear, ReLU, Linear, ReLU, ..., Linear.

    Args:
        sizes: layer widths, input first, for example (784, 128, 10).
        rng: a Generator or a seed, shared by every layer's initialisation.
        dropout: with p > 0, a ``Dropout(p)`` after every hidden ReLU (Linear, ReLU,
            Dropout, ..., Linear); its masks come from the same generator, drawn only
            after every weight: the initial weights do not depend on ``dropout``.

    The output is raw logits (N, sizes[-1]); the softmax lives in the loss.
    ``backward`` fills every parameter's gradient and returns None: the first
    layer has ``input_grad = False`` (see Linear), as nothing needs the gradient
    of the data. Set ``model.layers[0].input_grad = True`` to get dX back.
    """

    def __init__(
        self,
        sizes: tuple[int, ...] = (784, 128, 10),
        rng: np.random.Generator | int | None = None,
        dropout: float = 0.0,
    ) -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least two sizes, got {sizes!r}")
        rng = np.random.default_rng(rng)
        layers: list[Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            if index > 0:
                layers.append(ReLU())
                if dropout > 0:
                    layers.append(Dropout(dropout, rng=rng))
            layers.append(Linear(fan_in, fan_out, rng=rng))
        super().__init__(*layers)
        layers[0].input_grad = False  # skip dX of the data: one large product fewer
        self.sizes = tuple(sizes)
        self.dropout = float(dropout)
