"""Hidden checks of Exercises 1.1-1.3 against the reference: He init, Linear and ReLU forward."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import linear_layer
from autograder.tolerance import as_array, assert_close, assert_unchanged


@pytest.mark.ex1_1
@pytest.mark.parametrize("fan_in, fan_out", [(784, 128), (2000, 50), (100, 1000)])
def test_he_init_statistics(nn, fan_in, fan_out):
    W = as_array(nn.Linear(fan_in, fan_out, rng=fan_out).W.data, "Linear.W.data")
    assert W.shape == (fan_in, fan_out), f"W must have shape (in, out) = {(fan_in, fan_out)}"
    assert W.dtype == np.float32, "W must be float32"
    W = W.astype(np.float64)
    target = np.sqrt(2.0 / fan_in)
    # The std of n normal draws is estimated to 1/sqrt(2n) relative: 0.2 % for these 1e5 draws.
    assert abs(W.std() / target - 1) < 0.04, (
        f"Linear({fan_in}, {fan_out}): the std of W should be sqrt(2 / in) (He initialisation)"
    )
    assert abs(W.mean()) < 0.05 * target, "W should have mean 0"
    # A normal distribution puts 68.3 % of its mass within one std; a uniform one 57.7 %.
    inside = np.mean(np.abs(W) < target)
    assert abs(inside - 0.6827) < 0.02, "W should be drawn from a NORMAL distribution"


@pytest.mark.ex1_1
def test_he_init_bias_and_seeds(nn):
    layer = nn.Linear(30, 7, rng=5)
    b = as_array(layer.b.data, "Linear.b.data")
    assert b.shape == (7,) and b.dtype == np.float32 and not b.any(), "b: zeros (out,) float32"
    again = nn.Linear(30, 7, rng=5).W.data
    assert np.array_equal(layer.W.data, again), "Linear(..., rng=seed) must be reproducible"
    unseeded = [nn.Linear(30, 7).W.data for _ in range(2)]
    assert not np.array_equal(*unseeded), "Linear without rng must draw fresh weights"


@pytest.mark.ex1_2
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 784, 128), (37, 20, 10), (5, 3, 1)])
def test_linear_forward_matches_reference(nn, ref, dtype, shape):
    n, d, m = shape
    rng = np.random.default_rng(n * d + m)
    X = rng.random((n, d)).astype(dtype)
    W = (rng.standard_normal((d, m)) * np.sqrt(2 / d)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    X0 = X.copy()
    expected = linear_layer(ref, W, b).forward(X.copy())
    got = linear_layer(nn, W, b).forward(X)
    assert_close(got, expected, f"Linear.forward(X) for X {X.shape} {X.dtype}, W {W.shape}")
    assert_unchanged(X0, X, "Linear.forward")


@pytest.mark.ex1_3
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 10), (64, 128), (3, 4, 5)])
def test_relu_forward_matches_reference(nn, ref, dtype, shape):
    rng = np.random.default_rng(sum(shape))
    X = rng.standard_normal(shape).astype(dtype)
    X.reshape(-1)[::7] = 0.0  # exactly at the kink
    X0 = X.copy()
    got = nn.ReLU().forward(X)
    assert_close(got, ref.ReLU().forward(X.copy()), f"ReLU().forward(X) for X {shape} {X.dtype}")
    assert_unchanged(X0, X, "ReLU.forward")


@pytest.mark.ex1_3
def test_relu_forward_of_negative_zero_and_large_values(nn):
    X = np.array([[-0.0, 0.0, -1e30, 1e30, -1e-30, 1e-30]])
    got = as_array(nn.ReLU().forward(X), "ReLU().forward(X)")
    assert_close(
        got, np.array([[0.0, 0.0, 0.0, 1e30, 0.0, 1e-30]]), "ReLU().forward of extreme values"
    )
