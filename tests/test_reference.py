"""The reference numpynet (solutions/numpynet, first on the path via tests/conftest.py).

Every analytic gradient is checked against numerical_gradient in float64 (itself checked
against derivatives known in closed form); properties are tested with hypothesis; the
optimiser steps against values worked out by hand from the update rules; the softmax family
must stay finite and silent (warnings are errors) for logits up to 1e4; and a short run on
synthetic data must learn.

The public and hidden checks (autograder/public, autograder/hidden) also run against the
reference, which must pass all of them: see tests/test_bug_catalogue.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numpynet as nn
from autograder.tolerance import FLOAT32, GRADCHECK, assert_close

assert "solutions" in nn.__file__, f"tests must see the reference, got {nn.__file__}"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- numerical_gradient, the yardstick of every gradient check ------------------------------


def test_numerical_gradient_of_known_functions():
    x = rng().standard_normal((3, 4))
    x0 = x.copy()
    A = rng(1).standard_normal((3, 4))
    grad = nn.numerical_gradient(lambda: float(np.sum(A * np.sin(x)) + np.sum(x) ** 2), x)
    assert grad.dtype == np.float64 and grad.shape == x.shape
    assert_close(
        grad, A * np.cos(x0) + 2 * np.sum(x0), "d/dx [sum(A sin x) + (sum x)^2]", tol=GRADCHECK
    )
    assert np.array_equal(x, x0), "x is restored exactly"


def test_numerical_gradient_is_central():
    # (f(x + h) - f(x - h)) / 2h of sum(x^3) is 3 x^2 + h^2 exactly.
    x = np.array([1.0, -2.0, 0.5])
    grad = nn.numerical_gradient(lambda: float(np.sum(x**3)), x, eps=0.5)
    assert_close(grad, 3 * x**2 + 0.25, "central difference with h = 0.5")


# ---- gradient checks of every layer and of the loss (float64) -------------------------------


def float64_linear(d: int, m: int, seed: int) -> nn.Linear:
    layer = nn.Linear(d, m, rng=seed)
    layer.W.data = rng(seed).standard_normal((d, m))
    layer.b.data = rng(seed + 1).standard_normal(m)
    return layer


@pytest.mark.parametrize("n, d, m", [(1, 3, 2), (5, 4, 3), (8, 7, 1)])
def test_linear_gradients(n, d, m):
    layer = float64_linear(d, m, seed=n)
    X, G = rng(2).standard_normal((n, d)), rng(3).standard_normal((n, m))
    layer.forward(X)
    dX = layer.backward(G)
    Xp = X.copy()
    loss = lambda: float(np.sum(G * layer.forward(Xp)))
    assert_close(dX, nn.numerical_gradient(loss, Xp), "dX", tol=GRADCHECK)
    # The numerical gradients perturb W and b through the layer itself.
    W_grad, b_grad = layer.W.grad.copy(), layer.b.grad.copy()
    assert_close(W_grad, nn.numerical_gradient(loss, layer.W.data), "W.grad", tol=GRADCHECK)
    assert_close(b_grad, nn.numerical_gradient(loss, layer.b.data), "b.grad", tol=GRADCHECK)


def test_linear_gradients_accumulate():
    layer = float64_linear(4, 3, seed=0)
    X, G = rng(1).standard_normal((6, 4)), rng(2).standard_normal((6, 3))
    layer.forward(X)
    layer.backward(G)
    once = layer.W.grad.copy(), layer.b.grad.copy()
    layer.backward(G)
    assert_close(layer.W.grad, 2 * once[0], "W.grad after two backward calls")
    assert_close(layer.b.grad, 2 * once[1], "b.grad after two backward calls")
    layer.zero_grad()
    assert not layer.W.grad.any() and not layer.b.grad.any()


def test_relu_gradient():
    X = rng(4).standard_normal((5, 6))
    X += 0.1 * np.sign(X)  # away from the kink, where the derivative is defined
    G = rng(5).standard_normal((5, 6))
    relu = nn.ReLU()
    relu.forward(X)
    dX = relu.backward(G)
    Xp = X.copy()
    numeric = nn.numerical_gradient(lambda: float(np.sum(G * nn.ReLU().forward(Xp))), Xp)
    assert_close(dX, numeric, "ReLU dX", tol=GRADCHECK)


def test_relu_gradient_at_zero_is_zero():
    relu = nn.ReLU()
    relu.forward(np.array([[0.0, -0.0, 1.0]]))
    assert_close(relu.backward(np.ones((1, 3))), np.array([[0.0, 0.0, 1.0]]), "ReLU'(0)")


@pytest.mark.parametrize("n", [1, 4])
def test_cross_entropy_gradient(n):
    Z = 3 * rng(n).standard_normal((n, 5))
    y = np.arange(n) % 5
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(Z, y)
    dZ = loss_fn.backward()
    Zp = Z.copy()
    numeric = nn.numerical_gradient(lambda: nn.CrossEntropyLoss().forward(Zp, y), Zp)
    assert_close(dZ, numeric, "dL/dZ", tol=GRADCHECK)


def test_mlp_gradient_end_to_end():
    model = nn.MLP((4, 5, 3), rng=0)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    X, y = rng(6).standard_normal((6, 4)), np.array([0, 1, 2, 0, 1, 2])
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(model.forward(X), y)
    model.backward(loss_fn.backward())
    loss = lambda: nn.CrossEntropyLoss().forward(model.forward(X), y)
    for index, p in enumerate(model.parameters()):
        analytic = p.grad.copy()
        assert_close(
            analytic, nn.numerical_gradient(loss, p.data), f"parameter {index}", tol=GRADCHECK
        )


# ---- properties (hypothesis) ----------------------------------------------------------------

logit_arrays = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 8)),
    elements=st.floats(-1e4, 1e4, allow_nan=False),
)


@settings(max_examples=50, deadline=None)
@given(Z=logit_arrays, shift=st.floats(-1e3, 1e3))
def test_softmax_rows_sum_to_one_and_ignore_shifts(Z, shift):
    P = nn.softmax(Z)
    assert np.all((P >= 0) & (P <= 1))
    assert_close(P.sum(axis=1), np.ones(len(Z)), "row sums")
    assert_close(nn.softmax(Z + shift), P, "softmax(Z + c)", tol=GRADCHECK)


@settings(max_examples=50, deadline=None)
@given(Z=logit_arrays)
def test_log_softmax_is_normalised(Z):
    L = nn.log_softmax(Z)
    assert np.all(np.isfinite(L)) and np.all(L <= 0)
    assert_close(np.exp(L).sum(axis=1), np.ones(len(Z)), "sum of exp(log_softmax)")


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 70),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_dataloader_covers_every_index_once(n, batch_size, shuffle, drop_last, seed):
    X, y = np.arange(n, dtype=np.float32)[:, None], np.arange(n)
    loader = nn.DataLoader(X, y, batch_size, shuffle=shuffle, rng=seed, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    for Xb, yb in batches:
        assert np.array_equal(Xb[:, 0], yb), "rows stay paired with labels"
        assert len(yb) == batch_size or (not drop_last and yb is batches[-1][1])
    assert len(np.unique(seen)) == len(seen), "no sample twice"
    expected = n - n % batch_size if drop_last else n
    assert len(seen) == expected
    if not shuffle:
        assert np.array_equal(seen, y[:expected])


@settings(max_examples=50, deadline=None)
@given(Z=logit_arrays, data=st.data(), copies=st.integers(2, 4))
def test_loss_is_the_mean(Z, data, copies):
    y = data.draw(hnp.arrays(np.int64, len(Z), elements=st.integers(0, Z.shape[1] - 1)))
    loss = nn.CrossEntropyLoss().forward(Z, y)
    repeated = nn.CrossEntropyLoss().forward(np.tile(Z, (copies, 1)), np.tile(y, copies))
    assert_close(repeated, loss, "loss of a batch repeated")
    # The mean of per-sample losses, each -log softmax(Z)[i, y_i] >= 0.
    singles = [nn.CrossEntropyLoss().forward(Z[i : i + 1], y[i : i + 1]) for i in range(len(Z))]
    assert min(singles) >= 0
    assert_close(loss, float(np.mean(singles)), "mean of per-sample losses")


def test_dataloader_reshuffles_every_epoch_reproducibly():
    X, y = np.zeros((30, 1)), np.arange(30)
    first = [np.concatenate([b for _, b in nn.DataLoader(X, y, 7, shuffle=True, rng=3)])]
    loader = nn.DataLoader(X, y, 7, shuffle=True, rng=3)
    epochs = [np.concatenate([b for _, b in loader]) for _ in range(2)]
    assert np.array_equal(epochs[0], first[0]), "same seed, same first epoch"
    assert not np.array_equal(epochs[0], epochs[1]), "a new order every epoch"


# ---- hand-derived values ----------------------------------------------------------------------


def test_softmax_log_softmax_one_hot_by_hand():
    Z = np.log(np.array([[1.0, 2.0, 3.0]]))
    assert_close(nn.softmax(Z), np.array([[1 / 6, 2 / 6, 3 / 6]]), "softmax")
    assert_close(nn.log_softmax(Z), np.log(np.array([[1 / 6, 2 / 6, 3 / 6]])), "log_softmax")
    Y = nn.one_hot(np.array([2, 0]), 3)
    assert Y.dtype == np.float32
    assert_close(Y, np.array([[0, 0, 1], [1, 0, 0]], np.float32), "one_hot")
    with pytest.raises(ValueError):
        nn.one_hot(np.array([3]), 3)


def test_cross_entropy_by_hand():
    loss_fn = nn.CrossEntropyLoss()
    Z = np.log(np.array([[1.0, 3.0], [1.0, 1.0]]))  # probabilities (1/4, 3/4) and (1/2, 1/2)
    assert_close(loss_fn.forward(Z, np.array([1, 0])), (np.log(4 / 3) + np.log(2)) / 2, "loss")
    assert_close(loss_fn.backward(), np.array([[0.125, -0.125], [-0.25, 0.25]]), "(P - Y) / N")


def make_param(value: float, grad: float) -> nn.Parameter:
    p = nn.Parameter(np.array([value], dtype=np.float64))
    p.grad[...] = grad
    return p


def test_rmsprop_by_hand():
    p = make_param(1.0, 2.0)
    opt = nn.RMSProp([p], lr=0.01, alpha=0.9, eps=1e-8)
    opt.step()  # v = 0.9 * 0 + 0.1 * 2^2 = 0.4
    assert_close(p.data, np.array([1.0 - 0.01 * 2 / (np.sqrt(0.4) + 1e-8)]), "step 1")
    opt.step()  # v = 0.9 * 0.4 + 0.1 * 4 = 0.76
    expected = 1.0 - 0.01 * 2 / (np.sqrt(0.4) + 1e-8) - 0.01 * 2 / (np.sqrt(0.76) + 1e-8)
    assert_close(p.data, np.array([expected]), "step 2")
    # eps outside the root: g = 1e-4 and alpha 0.99 give sqrt(v) = 1e-5 exactly.
    q = make_param(0.0, 1e-4)
    nn.RMSProp([q], lr=0.01).step()
    assert_close(q.data, np.array([-0.01 * 1e-4 / (1e-5 + 1e-8)]), "small gradient")


def test_sgd_by_hand():
    p = make_param(1.0, 2.0)
    opt = nn.SGD([p], lr=0.1, momentum=0.9)
    opt.step()  # buf = 2, p = 0.8
    opt.step()  # buf = 0.9 * 2 + 2 = 3.8, p = 0.8 - 0.38
    assert_close(p.data, np.array([0.42]), "two momentum steps")
    q = make_param(1.0, -3.0)
    nn.SGD([q], lr=0.5).step()
    assert_close(q.data, np.array([2.5]), "plain step")
    assert_close(q.grad, np.array([-3.0]), "grad only read")


def test_he_initialisation():
    layer = nn.Linear(784, 128, rng=0)
    assert layer.W.data.dtype == np.float32 and layer.W.data.shape == (784, 128)
    assert layer.b.data.dtype == np.float32 and not layer.b.data.any()
    assert abs(layer.W.data.std() / np.sqrt(2 / 784) - 1) < 0.03


def test_parameter_reallocates_grad_with_data():
    p = nn.Parameter(np.zeros((2, 3)))
    p.data = np.ones(4, dtype=np.float64)
    assert p.grad.shape == (4,) and p.grad.dtype == np.float64 and not p.grad.any()


# ---- numerical stability ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1e2, 1e3, 1e4])
def test_softmax_family_is_finite_and_silent_for_huge_logits(dtype, size):
    Z = np.array([[size, 0.0, -size], [0.0, size, size]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        P = nn.softmax(Z)
        L = nn.log_softmax(Z)
        loss_fn = nn.CrossEntropyLoss()
        loss = loss_fn.forward(Z, np.array([2, 0]))
        dZ = loss_fn.backward()
    # exp(-size) underflows to 0 for size >= 1e3 and is < 4e-44 for 1e2: below tolerance.
    assert_close(P, np.array([[1, 0, 0], [0, 0.5, 0.5]], dtype), "softmax of huge logits")
    expected_L = np.array([[0, -size, -2 * size], [-size - np.log(2), -np.log(2), -np.log(2)]])
    assert_close(L, expected_L.astype(dtype), "log_softmax of huge logits")
    assert_close(loss, (2 * size + size + np.log(2)) / 2, "loss", tol=FLOAT32)
    assert np.all(np.isfinite(dZ))


# ---- end to end ----------------------------------------------------------------------------------


def test_training_on_synthetic_data_learns():
    generator = rng(7)
    centres = 3 * generator.standard_normal((3, 20))
    y = generator.integers(0, 3, 600)
    X = (centres[y] + generator.standard_normal((600, 20))).astype(np.float32)
    model = nn.MLP((20, 32, 3), rng=0)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = nn.RMSProp(model.parameters(), lr=1e-2)
    loader = nn.DataLoader(X[:500], y[:500], batch_size=50, shuffle=True, rng=0)
    start_loss, _ = nn.evaluate(model, X[500:], y[500:])
    losses = [nn.train_epoch(model, loss_fn, optimizer, loader) for _ in range(5)]
    end_loss, accuracy = nn.evaluate(model, X[500:], y[500:])
    assert losses[-1] < 0.5 * losses[0], losses
    assert end_loss < 0.25 * start_loss
    assert accuracy > 0.9


def test_float32_stays_float32_through_the_network():
    model = nn.MLP((6, 5, 3), rng=0)
    X = rng(8).standard_normal((4, 6)).astype(np.float32)
    logits = model.forward(X)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(logits, np.array([0, 1, 2, 0]))
    dZ = loss_fn.backward()
    model.backward(dZ)
    assert logits.dtype == dZ.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    layer = nn.Linear(6, 5, rng=0)
    layer.forward(X)
    assert layer.backward(np.ones((4, 5), np.float32)).dtype == np.float32


def tiny_step_model() -> tuple[nn.MLP, nn.SGD]:
    # lr 1e-12: the model does not measurably move, so each batch sees the same weights.
    model = nn.MLP((3, 4, 2), rng=1)
    return model, nn.SGD(model.parameters(), lr=1e-12)


def test_train_epoch_weights_batches_and_zeroes_gradients():
    X = rng(9).standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0])
    batches = [(X[:3], y[:3]), (X[3:], y[3:])]
    model, optimizer = tiny_step_model()
    losses = [nn.CrossEntropyLoss().forward(model.forward(Xb), yb) for Xb, yb in batches]
    mean = nn.train_epoch(model, nn.CrossEntropyLoss(), optimizer, batches)
    assert_close(mean, (3 * losses[0] + 1 * losses[1]) / 4, "batch-size-weighted mean", tol=FLOAT32)
    # The gradients left behind are those of the LAST batch alone (zero_grad per batch).
    left = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(model.forward(X[3:]), y[3:])
    model.backward(loss_fn.backward())
    for index, (a, p) in enumerate(zip(left, model.parameters(), strict=True)):
        assert_close(a, p.grad, f"gradient {index} after train_epoch")


def test_evaluate_counts_every_sample():
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    model.layers[0].W.data = np.eye(2, dtype=np.float32)  # logits = X: argmax is known
    X = np.array([[1, 0], [0, 1], [2, 0], [0, 3], [1, 2], [3, 1], [0, 1]], dtype=np.float32)
    y = np.array([0, 1, 0, 1, 1, 1, 0])  # the last two are predicted wrong: 5 of 7 right
    loss, accuracy = nn.evaluate(model, X, y, batch_size=3)
    assert accuracy == pytest.approx(5 / 7)
    whole = nn.CrossEntropyLoss().forward(X.astype(np.float64), y)
    assert_close(loss, whole, "mean loss over 7 samples in batches of 3", tol=FLOAT32)


# ---- Parameter: data and grad stay paired ----------------------------------------------------


def test_parameter_reallocates_grad_only_when_data_changes_shape_or_dtype():
    p = nn.Parameter(np.ones((2, 3)))
    assert p.data.dtype == np.float64 and p.grad.shape == (2, 3)
    p.grad += 5.0
    p.data -= 0.5  # in place through the setter: the gradient is kept
    assert_close(p.grad, np.full((2, 3), 5.0), "grad after an in-place update")
    p.grad = p.grad.astype(np.float32)  # a student's mismatched grad stays visible
    p.data = p.data * 2  # same shape and dtype as before: keep the grad
    assert p.grad.dtype == np.float32 and p.grad[0, 0] == 5.0
    p.data = np.zeros((4,), dtype=np.float32)  # a new shape: a fresh zero grad
    assert p.grad.shape == (4,) and p.grad.dtype == np.float32 and not p.grad.any()
    assert nn.Parameter(np.arange(3)).data.dtype == np.float32  # integers train as float32
