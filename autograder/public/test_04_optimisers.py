"""Exercises 4.1-4.2: SGD and RMSProp steps (lessons/04_optimisers.ipynb).

Expected values are the update rules worked through with small numbers:
SGD with momentum m:  buf = m * buf + g;  p -= lr * buf
RMSProp:              v = alpha * v + (1 - alpha) * g**2;  p -= lr * g / (sqrt(v) + eps)
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.tolerance import assert_close


def parameter(nn, values, grad):
    p = nn.Parameter(np.array(values, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    return p


@pytest.mark.ex4_1
def test_sgd_step_by_hand(nn):
    p = parameter(nn, [1.0, 2.0], [0.5, -1.0])
    nn.SGD([p], lr=0.1).step()
    assert_close(p.data, np.array([0.95, 2.1]), "p.data after one SGD step (lr=0.1)")
    assert_close(p.grad, np.array([0.5, -1.0]), "p.grad (step only reads it)")


@pytest.mark.ex4_1
def test_sgd_momentum_two_steps_by_hand(nn):
    p = parameter(nn, [1.0], [2.0])
    opt = nn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()  # buf = 2,   p = 1 - 0.2 = 0.8
    opt.step()  # buf = 0.9 * 2 + 2 = 3.8,   p = 0.8 - 0.38 = 0.42
    assert_close(p.data, np.array([0.42]), "p.data after two momentum steps (lr=0.1, momentum=0.9)")


@pytest.mark.ex4_1
def test_sgd_updates_every_parameter(nn):
    a, b = parameter(nn, [0.0], [1.0]), parameter(nn, [[0.0, 0.0]], [[1.0, -1.0]])
    nn.SGD([a, b], lr=1.0).step()
    assert_close(a.data, np.array([-1.0]), "first parameter after SGD step")
    assert_close(b.data, np.array([[-1.0, 1.0]]), "second parameter after SGD step")


@pytest.mark.ex4_2
def test_rmsprop_two_steps_by_hand(nn):
    p = parameter(nn, [1.0], [2.0])
    opt = nn.RMSProp([p], lr=0.01, alpha=0.9, eps=1e-8)
    opt.step()  # v = 0.1 * 4 = 0.4
    p1 = 1.0 - 0.01 * 2.0 / (np.sqrt(0.4) + 1e-8)
    assert_close(p.data, np.array([p1]), "p.data after one RMSProp step (g=2, alpha=0.9)")
    opt.step()  # v = 0.9 * 0.4 + 0.1 * 4 = 0.76
    p2 = p1 - 0.01 * 2.0 / (np.sqrt(0.76) + 1e-8)
    assert_close(p.data, np.array([p2]), "p.data after a second RMSProp step")


@pytest.mark.ex4_2
def test_rmsprop_eps_outside_the_square_root(nn):
    # g = 1e-4: v = 0.01 * 1e-8 = 1e-10 and sqrt(v) = 1e-5, so the step is about lr;
    # sqrt(v + eps) would be about 1e-4 and the step ten times smaller.
    p = parameter(nn, [0.0], [1e-4])
    nn.RMSProp([p], lr=0.01, alpha=0.99, eps=1e-8).step()
    assert_close(
        p.data, np.array([-0.01 * 1e-4 / (1e-5 + 1e-8)]), "p.data after an RMSProp step with g=1e-4"
    )


@pytest.mark.ex4_2
def test_rmsprop_zero_gradient_does_not_move(nn):
    p = parameter(nn, [3.0, -3.0], [0.0, 0.0])
    nn.RMSProp([p]).step()
    assert_close(
        p.data, np.array([3.0, -3.0]), "p.data after a step with zero gradient (eps avoids 0/0)"
    )
