"""Exercises 1.1-1.3: He initialisation, Linear forward, ReLU forward (lessons/01_forward_pass)."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import linear_layer
from autograder.strategies import B_HAND, DTYPES, W_HAND, X_HAND, Y_HAND
from autograder.tolerance import as_array, assert_close, assert_unchanged


@pytest.mark.ex1_1
def test_linear_init_shapes_and_dtypes(nn):
    layer = nn.Linear(784, 128, rng=0)
    W, b = as_array(layer.W.data, "Linear.W.data"), as_array(layer.b.data, "Linear.b.data")
    assert W.shape == (784, 128), f"W must have shape (in, out) = (784, 128), got {W.shape}"
    assert W.dtype == np.float32, f"W must be float32, got {W.dtype}"
    assert b.shape == (128,) and b.dtype == np.float32, (
        f"b: (128,) float32, got {b.shape} {b.dtype}"
    )
    assert not b.any(), "b starts at zero"


@pytest.mark.ex1_1
def test_linear_init_is_he_scaled(nn):
    W = as_array(nn.Linear(784, 128, rng=0).W.data, "Linear.W.data").astype(np.float64)
    target = np.sqrt(2.0 / 784)
    # 100352 draws estimate the std to about 0.3 %; 3 % separates He from 1/sqrt(in) (-29 %).
    assert abs(W.std() / target - 1) < 0.03, f"std of W is {W.std():.4f}; He init: {target:.4f}"
    assert abs(W.mean()) < 0.1 * target, f"W should have mean 0, got {W.mean():.4f}"


@pytest.mark.ex1_1
def test_linear_init_uses_rng(nn):
    a = nn.Linear(5, 3, rng=1).W.data
    b = nn.Linear(5, 3, rng=1).W.data
    c = nn.Linear(5, 3, rng=2).W.data
    assert np.array_equal(a, b), "the same rng seed must give the same weights"
    assert not np.array_equal(a, c), "different seeds must give different weights"


@pytest.mark.ex1_2
def test_linear_forward_by_hand(nn):
    layer = linear_layer(nn, W_HAND, B_HAND)
    assert_close(layer.forward(X_HAND), Y_HAND, "Linear.forward(X) for the 3 -> 2 example")


@pytest.mark.ex1_2
def test_linear_forward_shape_dtype_and_input_untouched(nn):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 7)).astype(np.float32)
    before = X.copy()
    layer = nn.Linear(7, 3, rng=0)
    W, b = layer.W.data, layer.b.data
    Y = layer.forward(X)
    assert_close(Y, X @ W + b, "Linear.forward(X) with X (5, 7), W (7, 3)")
    assert_unchanged(before, X, "Linear.forward")


@pytest.mark.ex1_2
def test_linear_forward_keeps_the_dtype_and_repeats(nn):
    for dtype in DTYPES:
        X = X_HAND.astype(dtype)
        layer = linear_layer(nn, W_HAND.astype(dtype), B_HAND.astype(dtype))
        first = as_array(layer.forward(X), "Linear.forward(X)")
        assert first.dtype == dtype, (
            f"Linear.forward with {np.dtype(dtype)} X, W and b must return {np.dtype(dtype)}, "
            f"got {first.dtype}: compute X @ W + b in the dtype of the inputs (no .astype to "
            "another dtype, no float64 constants)"
        )
        again = as_array(layer.forward(X), "Linear.forward(X)")
        assert np.array_equal(first, again), (
            "Linear.forward(X) called twice on the same X gave two different results: "
            "forward must not change W, b or X"
        )


@pytest.mark.ex1_2
def test_linear_forward_batch_of_one(nn):
    layer = linear_layer(nn, W_HAND, B_HAND)
    assert_close(layer.forward(X_HAND[1:]), Y_HAND[1:], "Linear.forward(X) for a batch of 1")


@pytest.mark.ex1_3
def test_relu_forward_by_hand(nn):
    X = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]], dtype=np.float32)
    expected = np.array([[0.0, 0.0, 0.0, 0.5, 3.0]], dtype=np.float32)
    assert_close(nn.ReLU().forward(X), expected, "ReLU().forward(X)")


@pytest.mark.ex1_3
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_forward_keeps_dtype_shape_and_input(nn, dtype):
    X = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(dtype)
    before = X.copy()
    Y = nn.ReLU().forward(X)
    assert_close(
        Y, np.where(X > 0, X, 0).astype(dtype), f"ReLU().forward(X) for {X.dtype} (2, 3, 4)"
    )
    assert_unchanged(before, X, "ReLU.forward")
