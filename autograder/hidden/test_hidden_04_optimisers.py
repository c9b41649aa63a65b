"""Hidden checks of Exercises 4.1-4.2: optimiser state over several steps, against the reference.

Each check drives the student's optimiser and the reference's through the same five steps
(a new gradient every step, like training) and compares every parameter after every step.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.tolerance import as_array, assert_close

SHAPES = [(3, 2), (2,)]
STEPS = 5


def gradients(dtype, seed, tiny=False):
    """STEPS lists of gradients, one per parameter; ``tiny`` mixes in 1e-4-sized and zero ones."""
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(STEPS):
        grads = [rng.standard_normal(shape) for shape in SHAPES]
        if tiny:
            grads[0] *= 1e-4
            grads[1][0] = 0.0
        steps.append([g.astype(dtype) for g in grads])
    return steps


def run(module, make_optimizer, dtype, steps, seed):
    """Parameters of ``module`` stepped by ``make_optimizer``: the data after each step."""
    rng = np.random.default_rng(seed)
    params = [module.Parameter(rng.standard_normal(shape).astype(dtype)) for shape in SHAPES]
    optimizer = make_optimizer(module, params)
    history = []
    for grads in steps:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.copy()
        optimizer.step()
        for p, g in zip(params, grads, strict=True):
            assert np.array_equal(p.grad, g), "step() must only READ p.grad, not change it"
        history.append([as_array(p.data, "p.data") for p in params])
    return history


def compare(nn, ref, make_optimizer, what, dtype, tiny=False, seed=0):
    steps = gradients(dtype, seed, tiny)
    got = run(nn, make_optimizer, dtype, steps, seed)
    expected = run(ref, make_optimizer, dtype, steps, seed)
    for number, (mine, theirs) in enumerate(zip(got, expected, strict=True), start=1):
        for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            assert_close(a, b, f"{what}: parameter {index} {SHAPES[index]} after step {number}")


@pytest.mark.ex4_1
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lr, momentum", [(0.1, 0.0), (0.05, 0.9), (1.0, 0.5)])
def test_sgd_matches_reference_over_five_steps(nn, ref, dtype, lr, momentum):
    make = lambda module, params: module.SGD(params, lr=lr, momentum=momentum)
    compare(nn, ref, make, f"SGD(lr={lr}, momentum={momentum}) {np.dtype(dtype)}", dtype)


@pytest.mark.ex4_1
def test_sgd_momentum_buffers_are_per_parameter(nn, ref):
    # Two parameters of the SAME shape: a shared buffer would mix their histories.
    make = lambda module, params: module.SGD(params, lr=0.1, momentum=0.9)
    results = []
    for module in (nn, ref):
        a, b = (module.Parameter(np.zeros(3)) for _ in range(2))
        optimizer = make(module, [a, b])
        for _ in range(3):
            a.grad, b.grad = np.ones(3), -np.ones(3)
            optimizer.step()
        results.append((a.data, b.data))
    assert_close(
        results[0][0], results[1][0], "first of two same-shaped parameters after 3 momentum steps"
    )
    assert_close(
        results[0][1], results[1][1], "second of two same-shaped parameters after 3 momentum steps"
    )


@pytest.mark.ex4_2
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "lr, alpha, eps", [(1e-3, 0.99, 1e-8), (0.01, 0.9, 1e-8), (0.1, 0.5, 1e-3)]
)
@pytest.mark.parametrize("tiny", [False, True])
def test_rmsprop_matches_reference_over_five_steps(nn, ref, dtype, lr, alpha, eps, tiny):
    make = lambda module, params: module.RMSProp(params, lr=lr, alpha=alpha, eps=eps)
    what = f"RMSProp(lr={lr}, alpha={alpha}, eps={eps}) {np.dtype(dtype)}"
    compare(
        nn, ref, make, what + (" with tiny and zero gradients" if tiny else ""), dtype, tiny, seed=3
    )


@pytest.mark.ex4_2
def test_rmsprop_default_hyperparameters(nn, ref):
    make = lambda module, params: module.RMSProp(params)
    compare(nn, ref, make, "RMSProp(params) with the default lr, alpha, eps", np.float64, seed=4)
