"""Hidden checks of Exercises 3.1-3.3: backward passes and numerical_gradient.

Backward passes are held to the reference and to numerical gradients (float64, the
reference's numerical_gradient on the trusted side); the student's numerical_gradient to
known derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import linear_layer
from autograder.tolerance import GRADCHECK, as_array, assert_close, assert_unchanged

# ---- ReLU backward ------------------------------------------------------------------------


@pytest.mark.ex3_1
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5), (32, 128), (2, 3, 4)])
def test_relu_backward_matches_reference(nn, ref, dtype, shape):
    rng = np.random.default_rng(sum(shape) + 1)
    X = rng.standard_normal(shape).astype(dtype)
    X.reshape(-1)[::5] = 0.0  # the kink: the gradient there is 0
    dY = rng.standard_normal(shape).astype(dtype)
    dY0 = dY.copy()
    relu, expected = nn.ReLU(), ref.ReLU()
    relu.forward(X)
    expected.forward(X.copy())
    got = relu.backward(dY)
    assert_close(
        got, expected.backward(dY.copy()), f"ReLU.backward(dY) for {shape} {X.dtype} (zeros in X)"
    )
    assert_unchanged(dY0, dY, "ReLU.backward")


@pytest.mark.ex3_1
def test_relu_backward_gradient_check(nn, ref):
    rng = np.random.default_rng(8)
    X = rng.standard_normal((4, 6))
    X += np.sign(X) * 0.1  # keep every entry 0.1 away from the kink
    G = rng.standard_normal((4, 6))
    relu = nn.ReLU()
    relu.forward(X.copy())
    analytic = relu.backward(G)
    probe = X.copy()
    numeric = ref.numerical_gradient(lambda: float(np.sum(G * np.maximum(probe, 0))), probe)
    assert_close(analytic, numeric, "ReLU.backward versus a numerical gradient", tol=GRADCHECK)


@pytest.mark.ex3_1
def test_relu_backward_at_zero_is_zero(nn):
    relu = nn.ReLU()
    relu.forward(np.zeros((2, 3)))
    got = as_array(relu.backward(np.ones((2, 3))), "ReLU.backward(dY)")
    assert_close(got, np.zeros((2, 3)), "ReLU.backward at X = 0 (the gradient there is 0)")


# ---- Linear backward ----------------------------------------------------------------------


def random_layer_case(n, d, m, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    W = rng.standard_normal((d, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    dY = rng.standard_normal((n, m)).astype(dtype)
    return X, W, b, dY


@pytest.mark.ex3_2
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d, m", [(1, 6, 3), (32, 128, 10), (7, 5, 1)])
def test_linear_backward_matches_reference(nn, ref, dtype, n, d, m):
    X, W, b, dY = random_layer_case(n, d, m, dtype, seed=n + d + m)
    dY0 = dY.copy()
    layer, expected = linear_layer(nn, W, b), linear_layer(ref, W, b)
    layer.forward(X)
    expected.forward(X.copy())
    dX = layer.backward(dY)
    case = f"X ({n}, {d}) {X.dtype}, W ({d}, {m})"
    assert_close(dX, expected.backward(dY.copy()), f"dX from Linear.backward, {case}")
    assert_close(layer.W.grad, expected.W.grad, f"W.grad after Linear.backward, {case}")
    assert_close(
        layer.b.grad, expected.b.grad, f"b.grad after Linear.backward (sum over the batch), {case}"
    )
    assert_unchanged(dY0, dY, "Linear.backward")


@pytest.mark.ex3_2
def test_linear_backward_gradient_check(nn, ref):
    X, W, b, G = random_layer_case(5, 4, 3, np.float64, seed=21)
    layer = linear_layer(nn, W, b)
    layer.forward(X.copy())
    dX = layer.backward(G)
    # L = sum(G * (X W + b)): its gradients are what backward(G) must return / accumulate.
    Xp, Wp, bp = X.copy(), W.copy(), b.copy()
    loss = lambda: float(np.sum(G * (Xp @ Wp + bp)))
    assert_close(
        dX, ref.numerical_gradient(loss, Xp), "dX versus a numerical gradient", tol=GRADCHECK
    )
    assert_close(
        layer.W.grad,
        ref.numerical_gradient(loss, Wp),
        "W.grad versus a numerical gradient",
        tol=GRADCHECK,
    )
    assert_close(
        layer.b.grad,
        ref.numerical_gradient(loss, bp),
        "b.grad versus a numerical gradient",
        tol=GRADCHECK,
    )


@pytest.mark.ex3_2
def test_linear_backward_accumulates_and_zero_grad_resets(nn):
    X, W, b, dY = random_layer_case(6, 4, 3, np.float64, seed=2)
    layer = linear_layer(nn, W, b)
    layer.forward(X)
    dX1 = as_array(layer.backward(dY), "dX")
    W1, b1 = as_array(layer.W.grad, "W.grad"), as_array(layer.b.grad, "b.grad")
    dX2 = layer.backward(dY)
    assert_close(dX2, dX1, "dX of a second backward call (the same)")
    assert_close(
        layer.W.grad, 2 * W1, "W.grad after backward twice: gradients ADD (+=), not overwrite"
    )
    assert_close(
        layer.b.grad, 2 * b1, "b.grad after backward twice: gradients ADD (+=), not overwrite"
    )
    layer.zero_grad()
    layer.forward(X)
    layer.backward(dY)
    assert_close(layer.W.grad, W1, "W.grad after zero_grad and one backward")


@pytest.mark.ex3_2
def test_linear_backward_keeps_float32_grads(nn):
    X, W, b, dY = random_layer_case(4, 3, 2, np.float32, seed=3)
    layer = linear_layer(nn, W, b)
    layer.forward(X)
    layer.backward(dY)
    for name, grad in (("W.grad", layer.W.grad), ("b.grad", layer.b.grad)):
        assert as_array(grad, name).dtype == np.float32, (
            f"{name} must stay float32 for float32 parameters"
        )


# ---- numerical_gradient -------------------------------------------------------------------


@pytest.mark.ex3_3
def test_numerical_gradient_of_a_coupled_function(nn):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3))
    A = rng.standard_normal((2, 3))
    x0 = x.copy()
    f = lambda: float(np.sum(A * np.sin(x)) + np.sum(x) ** 2)
    grad = nn.numerical_gradient(f, x)
    exact = A * np.cos(x0) + 2 * np.sum(x0)
    # A perturbation left in x shows in the later entries' values. Exact restoration (not a
    # few ulps off) is the public check's: one check per promise (bugs.py, partial credit).
    assert_close(grad, exact, "numerical_gradient of sum(A sin x) + (sum x)**2", tol=GRADCHECK)


@pytest.mark.ex3_3
def test_numerical_gradient_returns_float64_of_x_shape(nn):
    x = np.linspace(-1.0, 1.0, 6).reshape(3, 2, 1)
    grad = as_array(
        nn.numerical_gradient(lambda: float(np.sum(x**2)), x), "numerical_gradient(f, x)"
    )
    assert grad.shape == x.shape, f"the gradient has the shape of x {x.shape}, got {grad.shape}"
    assert_close(grad, 2 * x, "numerical_gradient of sum(x**2) for x (3, 2, 1)", tol=GRADCHECK)


@pytest.mark.ex3_3
@pytest.mark.parametrize("eps", [1e-3, 0.25])
def test_numerical_gradient_uses_eps_centrally(nn, eps):
    x = np.array([0.5, -1.5, 2.0])
    grad = nn.numerical_gradient(lambda: float(np.sum(x**3)), x, eps=eps)
    # Central difference of a cubic: 3 x**2 + eps**2, exactly (up to rounding).
    assert_close(
        grad, 3 * x**2 + eps**2, f"numerical_gradient(f, x, eps={eps}) of sum(x**3)", tol=GRADCHECK
    )


@pytest.mark.ex3_3
def test_numerical_gradient_checks_a_reference_layer(nn, ref):
    # What the lesson uses it for: the gradient of a loss through a (reference) layer.
    rng = np.random.default_rng(6)
    Z = rng.standard_normal((3, 4))
    y = np.array([0, 3, 1])
    probe = Z.copy()
    grad = nn.numerical_gradient(lambda: ref.CrossEntropyLoss().forward(probe, y), probe)
    loss_fn = ref.CrossEntropyLoss()
    loss_fn.forward(Z, y)
    assert_close(grad, loss_fn.backward(), "numerical_gradient of the cross-entropy", tol=GRADCHECK)
