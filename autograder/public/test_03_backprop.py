"""Exercises 3.1-3.3: ReLU backward, Linear backward, numerical_gradient (lessons/03).

Backward passes are checked on examples small enough to multiply by hand, and by the
defining property of a gradient: for a layer that is linear in its input, moving the input
by V changes sum(dY * output) by exactly sum(dX * V).
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import linear_layer
from autograder.strategies import B_HAND, DB_HAND, DW_HAND, DX_HAND, DY_HAND, W_HAND, X_HAND
from autograder.tolerance import GRADCHECK, as_array, assert_close, assert_unchanged


@pytest.mark.ex3_1
def test_relu_backward_by_hand(nn):
    relu = nn.ReLU()
    relu.forward(np.array([[-1.0, 0.0, 2.0, 3.0]]))
    dY = np.array([[5.0, 6.0, 7.0, 8.0]])
    dX = relu.backward(dY)
    if np.array_equal(dX, dY):
        raise AssertionError(
            "ReLU.backward returned dY unchanged: multiply it by the mask X > 0 kept by forward "
            "(the gradient is 0 where the input was <= 0)"
        )
    # The gradient passes where the input was positive; at exactly 0 it is 0.
    assert_close(
        dX, np.array([[0.0, 0.0, 7.0, 8.0]]), "ReLU.backward(dY) after forward([-1, 0, 2, 3])"
    )


@pytest.mark.ex3_1
def test_relu_backward_float32_shape_and_dY_untouched(nn):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 5)).astype(np.float32)
    dY = rng.standard_normal((4, 5)).astype(np.float32)
    before = dY.copy()
    relu = nn.ReLU()
    relu.forward(X)
    expected = np.where(X > 0, dY, 0).astype(np.float32)
    assert_close(relu.backward(dY), expected, "ReLU.backward(dY)")
    assert_unchanged(before, dY, "ReLU.backward")
    assert_close(relu.backward(dY), expected, "a second ReLU.backward(dY) (the mask must stay)")


@pytest.mark.ex3_1
def test_relu_backward_uses_the_latest_forward(nn):
    relu = nn.ReLU()
    relu.forward(np.array([[1.0, -1.0]]))
    relu.forward(np.array([[-1.0, 1.0]]))
    assert_close(
        relu.backward(np.array([[1.0, 1.0]])),
        np.array([[0.0, 1.0]]),
        "ReLU.backward after two forwards",
    )


def hand_layer_backward(nn):
    layer = linear_layer(nn, W_HAND, B_HAND)
    layer.forward(X_HAND)
    return layer, layer.backward(DY_HAND)


@pytest.mark.ex3_2
def test_linear_backward_by_hand(nn):
    layer, dX = hand_layer_backward(nn)
    assert_close(dX, DX_HAND, "dX returned by Linear.backward (dX = dY @ W.T)")
    assert_close(layer.W.grad, DW_HAND, "Linear.W.grad (dW = X.T @ dY)")
    assert_close(
        layer.b.grad,
        DB_HAND,
        "Linear.b.grad (dY summed over the batch)",
        factors={0.5: "N = 2: b.grad is the SUM of dY over the batch, not the mean"},
    )


@pytest.mark.ex3_2
def test_linear_backward_accumulates(nn):
    layer, _ = hand_layer_backward(nn)
    layer.backward(DY_HAND)
    accumulate = {0.5: "backward must ADD to W.grad and b.grad (+=), not assign them"}
    assert_close(
        layer.W.grad,
        2 * DW_HAND,
        "W.grad after two backward calls (they ADD up)",
        factors=accumulate,
    )
    assert_close(layer.b.grad, 2 * DB_HAND, "b.grad after two backward calls", factors=accumulate)


@pytest.mark.ex3_2
def test_linear_backward_without_input_grad(nn):
    # MLP's first layer sets input_grad = False: its dX (the data's gradient) is never used.
    layer = linear_layer(nn, W_HAND, B_HAND)
    layer.input_grad = False
    layer.forward(X_HAND)
    dX = layer.backward(DY_HAND)
    assert dX is None, (
        f"with layer.input_grad = False, Linear.backward must return None (skip dX = dY @ W.T, "
        f"one of the three large products per batch), got {type(dX).__name__}"
    )
    assert_close(layer.W.grad, DW_HAND, "W.grad with input_grad = False (still computed)")
    assert_close(layer.b.grad, DB_HAND, "b.grad with input_grad = False (still computed)")


@pytest.mark.ex3_2
def test_linear_backward_directional_derivative(nn):
    rng = np.random.default_rng(4)
    X, V = rng.standard_normal((2, 6, 4))
    W, dW = rng.standard_normal((2, 4, 3))
    b, db = rng.standard_normal((2, 3))
    dY = rng.standard_normal((6, 3))
    layer = linear_layer(nn, W, b)
    layer.forward(X)
    dX = as_array(layer.backward(dY), "dX")
    # Y = X W + b is linear in each of X, W, b: the change of sum(dY * Y) along a direction
    # is the inner product of that direction with the gradient.
    assert_close(
        np.sum(dX * V), np.sum(dY * (V @ W)), "sum(dX * V): dX along a direction V", tol=GRADCHECK
    )
    assert_close(
        np.sum(layer.W.grad * dW), np.sum(dY * (X @ dW)), "sum(W.grad * dW)", tol=GRADCHECK
    )
    assert_close(np.sum(layer.b.grad * db), np.sum(dY * db), "sum(b.grad * db)", tol=GRADCHECK)


@pytest.mark.ex3_3
def test_numerical_gradient_of_a_cube(nn):
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    grad = nn.numerical_gradient(lambda: float(np.sum(x**3)), x)
    assert_close(
        grad, 3 * before**2, "numerical_gradient of sum(x**3) (exact: 3 x**2)", tol=GRADCHECK
    )
    assert_unchanged(
        before,
        x,
        "numerical_gradient",
        fix="perturb x in place, but put each entry back to its saved original value after "
        "the two evaluations of f",
    )


@pytest.mark.ex3_3
def test_numerical_gradient_is_a_central_difference(nn):
    # For f = sum(x**3): (f(x + h) - f(x - h)) / 2h = 3 x**2 + h**2 exactly.
    x = np.array([1.0, 2.0, -1.0])
    grad = as_array(nn.numerical_gradient(lambda: float(np.sum(x**3)), x, eps=0.5), "gradient")
    # The one-sided ((x + h)**3 - x**3) / h = 3 x**2 + 3 x h + h**2 is the usual slip.
    one_sided = 3 * x**2 + 1.5 * x + 0.25
    assert grad.shape != x.shape or not np.allclose(grad, one_sided), (
        "numerical_gradient(f, x, eps=0.5) of sum(x**3) returned the one-sided difference "
        "(f(x + eps) - f(x)) / eps; use the central one, (f(x + eps) - f(x - eps)) / (2 eps)"
    )
    assert_close(
        grad,
        3 * x**2 + 0.25,
        "numerical_gradient(f, x, eps=0.5) of sum(x**3): the central difference "
        "(f(x + eps) - f(x - eps)) / (2 eps) of a cubic is exactly 3 x**2 + eps**2",
    )


@pytest.mark.ex3_3
def test_numerical_gradient_is_float64_for_float32_x(nn):
    x = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    grad = as_array(
        nn.numerical_gradient(lambda: float(np.sum(x.astype(np.float64) ** 2)), x, eps=0.25),
        "numerical_gradient(f, x) for a float32 x",
    )
    # eps = 0.25 keeps every x +- eps exact in float32, so the central difference is exactly
    # 2x; a float32 result would round differences to ~1e-7 relative, too coarse for checks.
    assert_close(
        grad,
        2 * x.astype(np.float64),
        "numerical_gradient(f, x) of sum(x**2) for a float32 x (the result is float64)",
        tol=GRADCHECK,
    )
