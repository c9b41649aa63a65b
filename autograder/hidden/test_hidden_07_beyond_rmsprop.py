"""Hidden checks of Exercises 7.1-7.6: against the reference, over several steps and shapes.

The optimisers are driven with the student's and the reference's classes through the same
five steps (a new gradient every step, two parameters of different shapes, float32 and
float64); dropout is compared mask for mask on shapes Hypothesis draws; early stopping on
loss sequences Hypothesis draws, against the rule written out here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.hidden.test_hidden_04_optimisers import compare
from autograder.tolerance import as_array, as_scalar, assert_close

ADAM_SETTINGS = [
    {},
    {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.002, "betas": (0.0, 0.5), "weight_decay": 0.01},
]


@pytest.mark.ex7_1
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_matches_reference_over_five_steps(nn, ref, dtype, settings):
    make = lambda module, params: module.Adam(params, **settings)
    compare(nn, ref, make, f"Adam({settings}), {np.dtype(dtype)}", dtype)


@pytest.mark.ex7_1
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_with_tiny_and_zero_gradients(nn, ref, dtype, settings):
    make = lambda module, params: module.Adam(params, **settings)
    what = f"Adam({settings}), {np.dtype(dtype)}, gradients of 1e-4 and 0"
    compare(nn, ref, make, what, dtype, tiny=True)


@pytest.mark.ex7_2
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adamw_matches_reference_over_five_steps(nn, ref, dtype, settings):
    make = lambda module, params: module.AdamW(params, **settings)
    compare(nn, ref, make, f"AdamW({settings}), {np.dtype(dtype)}", dtype)


@pytest.mark.ex7_2
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adamw_with_tiny_and_zero_gradients(nn, ref, dtype):
    make = lambda module, params: module.AdamW(params, lr=0.01, weight_decay=0.5)
    what = f"AdamW(lr=0.01, weight_decay=0.5), {np.dtype(dtype)}, gradients of 1e-4 and 0"
    compare(nn, ref, make, what, dtype, tiny=True)


@pytest.mark.ex7_2
def test_adamw_without_decay_is_adam(nn, ref):
    make = lambda module, params: module.AdamW(params, lr=0.01, weight_decay=0.0)
    compare(nn, ref, make, "AdamW(lr=0.01, weight_decay=0)", np.float64, tiny=True)


shapes = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)


def both(nn, ref, p, seed, train):
    layers = []
    for module in (nn, ref):
        layer = module.Dropout(p, rng=seed)
        if not train:
            layer.eval()
        layers.append(layer)
    return layers


@pytest.mark.ex7_3
@given(shape=shapes, p=st.sampled_from([0.0, 0.1, 0.5, 0.9]), seed=st.integers(0, 2**16))
def test_dropout_forward_matches_reference(nn, ref, shape, p, seed):
    X = np.random.default_rng(seed + 1).standard_normal(shape).astype(np.float32)
    for train in (True, False):
        mine, theirs = both(nn, ref, p, seed, train)
        mode = "training" if train else "evaluation"
        for call in (1, 2):  # the second call draws the generator's next mask
            assert_close(
                as_array(mine.forward(X), "Dropout.forward(X)"),
                theirs.forward(X),
                f"Dropout({p}, rng={seed}).forward(X) for X {shape} float32 in {mode} mode, "
                f"call {call}",
            )


@pytest.mark.ex7_3
def test_dropout_drops_about_p(nn):
    X = np.ones((200, 100), dtype=np.float32)
    Y = as_array(nn.Dropout(0.3, rng=5).forward(X), "Dropout(0.3).forward(ones)")
    kept = float(np.mean(Y != 0))
    assert abs(kept - 0.7) < 0.02, f"Dropout(0.3) kept {kept:.3f} of 20,000 ones, expected 0.7"
    mean = float(Y.mean())
    assert abs(mean - 1.0) < 0.03, (
        f"Dropout(0.3) on 20,000 ones has mean {mean:.3f}: inverted dropout keeps the expected "
        "output equal to the input (mean about 1)"
    )


@pytest.mark.ex7_4
@given(shape=shapes, p=st.sampled_from([0.0, 0.2, 0.5]), seed=st.integers(0, 2**16))
def test_dropout_backward_matches_its_forward(nn, shape, p, seed):
    rng = np.random.default_rng(seed + 1)
    X = (rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)).astype(np.float64)
    dY = rng.standard_normal(shape)
    for train in (True, False):
        layer = nn.Dropout(p, rng=seed)
        if not train:
            layer.eval()
        Y = as_array(layer.forward(X), "Dropout.forward(X)")
        for call in (1, 2):  # backward twice: the same mask both times
            assert_close(
                as_array(layer.backward(dY), "Dropout.backward(dY)"),
                dY * (Y / X),
                f"Dropout({p}).backward(dY) call {call} after one forward, X {shape}, "
                f"{'training' if train else 'evaluation'} mode: dY times forward's factor",
            )


@pytest.mark.ex7_5
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_validate_matches_evaluate_in_evaluation_mode(nn, p):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 8)).astype(np.float32)
    y = rng.integers(0, 4, 50)
    model = nn.MLP((8, 16, 16, 4), rng=1, dropout=p)
    got = [as_scalar(v, "validate") for v in nn.validate(model, X, y, 7)]
    got_again = [as_scalar(v, "validate") for v in nn.validate(model, X, y, 7)]
    assert model.training, "validate must leave a training model in training mode"
    model.eval()
    expected = [as_scalar(v, "evaluate") for v in nn.evaluate(model, X, y, 7)]
    assert_close(np.array(got), np.array(expected), f"validate (MLP with dropout {p})")
    assert_close(np.array(got_again), np.array(expected), "validate called a second time")


def expected_stops(losses, patience):
    best, bad, said, best_epoch = float("inf"), 0, [], 0
    for epoch, loss in enumerate(losses, start=1):
        if loss < best:
            best, bad, best_epoch = loss, 0, epoch
        else:
            bad += 1
        said.append(patience is not None and bad >= patience)
    return said, best_epoch, bad


@pytest.mark.ex7_6
@given(
    losses=st.lists(st.sampled_from([0.5, 0.6, 0.7, 0.8, 1.0]), min_size=1, max_size=8),
    patience=st.sampled_from([None, 1, 2, 3]),
)
def test_early_stopping_matches_the_rule(nn, losses, patience):
    from autograder.public.test_07_beyond_rmsprop import set_weights, shapes, small_model

    model = small_model(nn, dropout=0.0)
    stopper = nn.EarlyStopping(patience=patience)
    said = []
    for epoch, loss in enumerate(losses, start=1):
        set_weights(nn, model, float(epoch))
        said.append(bool(stopper.update(model, loss)))
    want, best_epoch, bad = expected_stops(losses, patience)
    what = f"EarlyStopping(patience={patience}) with validation losses {losses}"
    assert said == want, f"{what}: update returned {said}, expected {want}"
    assert stopper.best_epoch == best_epoch, f"{what}: best_epoch {stopper.best_epoch}"
    assert stopper.bad_epochs == bad, f"{what}: bad_epochs {stopper.bad_epochs}, expected {bad}"
    assert_close(as_scalar(stopper.best_loss, "best_loss"), min(losses), f"{what}: best_loss")
    for index, array in enumerate(stopper.best_state):
        assert_close(
            as_array(array, "best_state"),
            np.full(shapes(model)[index], float(best_epoch), dtype=np.float32),
            f"{what}: best_state[{index}] (a copy of the best epoch's parameter)",
        )
