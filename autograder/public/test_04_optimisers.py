"""Exercises 4.1-4.2: SGD and RMSProp steps (lessons/04_optimisers.ipynb).

Expected values are the update rules worked through with small numbers:
SGD with momentum m:  buf = m * buf + g;  p -= lr * buf
RMSProp:              v = alpha * v + (1 - alpha) * g**2;  p -= lr * g / (sqrt(v) + eps)
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.tolerance import assert_close

SIGN = {-1.0: "the step went the wrong way: p -= lr * g (descend the gradient)"}


def parameter(nn, values, grad):
    p = nn.Parameter(np.array(values, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    return p


@pytest.mark.ex4_1
def test_sgd_step_by_hand(nn):
    p = parameter(nn, [1.0, 2.0], [0.5, -1.0])
    nn.SGD([p], lr=0.1).step()
    assert_close(
        p.data,
        np.array([0.95, 2.1]),
        "p.data after one SGD step: p - lr * g = [1, 2] - 0.1 * [0.5, -1] = [0.95, 2.1]",
        factors=SIGN,
    )
    assert_close(p.grad, np.array([0.5, -1.0]), "p.grad (step only reads it)")


@pytest.mark.ex4_1
def test_sgd_momentum_two_steps_by_hand(nn):
    p = parameter(nn, [1.0], [2.0])
    opt = nn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    assert_close(
        p.data,
        np.array([0.8]),
        "p.data after ONE step of SGD(lr=0.1, momentum=0.9) with g = 2: the buffer starts at 0, "
        "so buf = 0.9 * 0 + g = 2 and p = 1 - 0.1 * 2 = 0.8 (PyTorch's rule: no (1 - momentum) "
        "factor on g)",
    )
    opt.step()
    assert_close(
        p.data,
        np.array([0.42]),
        "p.data after TWO steps of SGD(lr=0.1, momentum=0.9) with g = 2: step 2 has "
        "buf = 0.9 * 2 + 2 = 3.8 and p = 0.8 - 0.1 * 3.8 = 0.42 (keep one buffer per parameter "
        "between steps; buf = momentum * buf + g, then p -= lr * buf)",
    )


@pytest.mark.ex4_1
def test_sgd_updates_every_parameter(nn):
    a, b = parameter(nn, [0.0], [1.0]), parameter(nn, [[0.0, 0.0]], [[1.0, -1.0]])
    nn.SGD([a, b], lr=1.0).step()
    every = "(lr=1 from 0: p = -g; step() must update EVERY parameter in its list)"
    assert_close(a.data, np.array([-1.0]), f"first parameter after SGD step {every}")
    assert_close(b.data, np.array([[-1.0, 1.0]]), f"second parameter after SGD step {every}")


@pytest.mark.ex4_2
def test_rmsprop_two_steps_by_hand(nn):
    p = parameter(nn, [1.0], [2.0])
    opt = nn.RMSProp([p], lr=0.01, alpha=0.9, eps=1e-8)
    opt.step()  # v = 0.1 * 4 = 0.4
    p1 = 1.0 - 0.01 * 2.0 / (np.sqrt(0.4) + 1e-8)
    swapped = 1.0 - 0.01 * 2.0 / (np.sqrt(0.9 * 4.0) + 1e-8)  # v = alpha * g**2
    if np.allclose(p.data, swapped):
        raise AssertionError(
            "after one RMSProp(alpha=0.9) step with g = 2, p.data is what v = alpha * g**2 = 3.6 "
            "gives: alpha and 1 - alpha are swapped; v = alpha * v + (1 - alpha) * g**2, the NEW "
            "g**2 weighted by (1 - alpha)"
        )
    assert_close(
        p.data,
        np.array([p1]),
        "p.data after one RMSProp(lr=0.01, alpha=0.9, eps=1e-8) step with g = 2: "
        "v = 0.9 * 0 + 0.1 * 2**2 = 0.4 and p = 1 - 0.01 * 2 / (sqrt(0.4) + 1e-8)",
    )
    opt.step()  # v = 0.9 * 0.4 + 0.1 * 4 = 0.76
    p2 = p1 - 0.01 * 2.0 / (np.sqrt(0.76) + 1e-8)
    assert_close(
        p.data,
        np.array([p2]),
        "p.data after a second RMSProp step with g = 2: v = 0.9 * 0.4 + 0.1 * 4 = 0.76 (v is "
        "kept between steps) and p -= 0.01 * 2 / (sqrt(0.76) + 1e-8)",
    )


@pytest.mark.ex4_2
def test_rmsprop_eps_outside_the_square_root(nn):
    # g = 1e-4: v = 0.01 * 1e-8 = 1e-10 and sqrt(v) = 1e-5, so the step is about lr;
    # sqrt(v + eps) would be about 1e-4 and the step ten times smaller.
    p = parameter(nn, [0.0], [1e-4])
    nn.RMSProp([p], lr=0.01, alpha=0.99, eps=1e-8).step()
    assert_close(
        p.data,
        np.array([-0.01 * 1e-4 / (1e-5 + 1e-8)]),
        "p.data after an RMSProp(lr=0.01, alpha=0.99, eps=1e-8) step with g = 1e-4 from p = 0: "
        "v = 0.01 * 1e-8 = 1e-10, sqrt(v) = 1e-5, so p = -0.01 * 1e-4 / (1e-5 + 1e-8), about "
        "-lr; eps belongs OUTSIDE the square root (sqrt(v + eps) gives a step ten times smaller)",
    )


@pytest.mark.ex4_2
def test_rmsprop_zero_gradient_does_not_move(nn):
    p = parameter(nn, [3.0, -3.0], [0.0, 0.0])
    nn.RMSProp([p]).step()
    assert_close(
        p.data, np.array([3.0, -3.0]), "p.data after a step with zero gradient (eps avoids 0/0)"
    )
