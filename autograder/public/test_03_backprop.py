"""Exercises 3.1-3.3: ReLU backward, Linear backward, numerical_gradient (lessons/03).

Backward passes are checked on examples small enough to multiply by hand, and by the
defining property of a gradient: for a layer that is linear in its input, moving the input
by V changes sum(dY * output) by exactly sum(dX * V).
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import linear_layer
from autograder.public.test_01_forward import B_HAND, W_HAND, X_HAND
from autograder.tolerance import GRADCHECK, as_array, assert_close, assert_unchanged


@pytest.mark.ex3_1
def test_relu_backward_by_hand(nn):
    relu = nn.ReLU()
    relu.forward(np.array([[-1.0, 0.0, 2.0, 3.0]]))
    dX = relu.backward(np.array([[5.0, 6.0, 7.0, 8.0]]))
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
    assert_close(relu.backward(dY), np.where(X > 0, dY, 0).astype(np.float32), "ReLU.backward(dY)")
    assert_unchanged(before, dY, "ReLU.backward")


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
    dY = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    return layer, layer.backward(dY)


@pytest.mark.ex3_2
def test_linear_backward_by_hand(nn):
    layer, dX = hand_layer_backward(nn)
    # dX = dY @ W.T; dW = X.T @ dY; db = dY summed over the batch.
    assert_close(dX, np.array([[1, 3, 5], [2, 4, 6]], np.float32), "dX returned by Linear.backward")
    assert_close(layer.W.grad, np.array([[1, 0], [0, 1], [0, -1]], np.float32), "Linear.W.grad")
    assert_close(
        layer.b.grad, np.array([1, 1], np.float32), "Linear.b.grad (summed over the batch)"
    )


@pytest.mark.ex3_2
def test_linear_backward_accumulates(nn):
    layer, _ = hand_layer_backward(nn)
    layer.backward(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    assert_close(
        layer.W.grad,
        2 * np.array([[1, 0], [0, 1], [0, -1]], np.float32),
        "W.grad after two backward calls (they ADD up)",
    )
    assert_close(layer.b.grad, np.array([2, 2], np.float32), "b.grad after two backward calls")


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
    assert_unchanged(before, x, "numerical_gradient (x restored after each perturbation)")


@pytest.mark.ex3_3
def test_numerical_gradient_is_a_central_difference(nn):
    # For f = sum(x**3): (f(x + h) - f(x - h)) / 2h = 3 x**2 + h**2 exactly.
    x = np.array([1.0, 2.0, -1.0])
    grad = nn.numerical_gradient(lambda: float(np.sum(x**3)), x, eps=0.5)
    assert_close(grad, 3 * x**2 + 0.25, "numerical_gradient(f, x, eps=0.5) of sum(x**3)")
