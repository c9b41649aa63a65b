"""Exercises 7.1-7.6: Adam, AdamW, dropout, validate, early stopping (lessons/07_beyond_rmsprop).

Expected values are the rules of lesson 07 worked through with small numbers (PyTorch's
``torch.optim.Adam``/``AdamW`` and ``torch.nn.Dropout`` semantics):

Adam:   t += 1 per step; g += wd * p (L2, Adam only); m = b1 m + (1 - b1) g;
        v = b2 v + (1 - b2) g**2; p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)
AdamW:  p *= 1 - lr * wd, then Adam's update with the plain g
Dropout (training, p > 0): keep = rng.random(X.shape) >= p; Y = X * keep / (1 - p)
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.tolerance import as_array, as_scalar, assert_close


def parameter(nn, values, grad):
    p = nn.Parameter(np.array(values, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    return p


def adam_steps(p0, grads, lr, betas=(0.9, 0.999), eps=1e-8, wd=0.0, decoupled=False, **bug):
    """The trajectory of one scalar parameter under the rule above (and named mistakes)."""
    b1, b2 = betas
    p, m, v, out = float(p0), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1 + bug.get("t_offset", 0)):
        if decoupled:
            p *= 1 - lr * wd
        elif wd:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        c1, c2 = (1 - b2**t, 1 - b1**t) if bug.get("swapped") else (1 - b1**t, 1 - b2**t)
        m_hat = m if bug.get("no_m_correction") else m / c1
        v_hat = v if bug.get("no_v_correction") else v / c2
        denom = np.sqrt(v_hat + eps) if bug.get("eps_inside") else np.sqrt(v_hat) + eps
        p -= lr * m_hat / denom
        out.append(p)
    return np.array(out)


ADAM_MISTAKES = {
    "no_m_correction": "the FIRST moment was not bias-corrected: use m / (1 - beta1**t)",
    "no_v_correction": "the SECOND moment was not bias-corrected: use v / (1 - beta2**t)",
    "eps_inside": "eps went INSIDE the square root: sqrt(v_hat) + eps, as PyTorch",
    "swapped": "the bias corrections are swapped between the moments: m / (1 - beta1**t) "
    "and v / (1 - beta2**t)",
}


def name_adam_mistake(got, p0, grads, lr, **settings):
    """An AssertionError naming the mistake whose trajectory ``got`` follows, if any."""
    swapped = ("no_m_correction", "no_v_correction")
    cases = [({k: True}, why) for k, why in ADAM_MISTAKES.items()]
    cases.append(
        (
            dict.fromkeys(swapped, True),
            "neither moment was bias-corrected: m / (1 - beta1**t) and v / (1 - beta2**t)",
        )
    )
    right = adam_steps(p0, grads, lr, **settings)
    for bug, why in cases:
        wrong = adam_steps(p0, grads, lr, **settings, **bug)
        if np.allclose(wrong, right, rtol=1e-6, atol=0):
            continue  # this mistake does not show with these numbers
        if got.shape == wrong.shape and np.allclose(got, wrong, rtol=1e-9, atol=0):
            raise AssertionError(f"Adam(lr={lr}) from p = {p0} with gradients {grads}: {why}")


def trajectory(nn, optimizer_cls, p0, grads, **kwargs):
    p = parameter(nn, [p0], [0.0])
    opt = optimizer_cls([p], **kwargs)
    got = []
    for g in grads:
        p.grad = np.array([g], dtype=np.float64)
        opt.step()
        got.append(as_array(p.data, "p.data")[0])
    return np.array(got)


@pytest.mark.ex7_1
def test_adam_first_step_moves_by_lr(nn):
    got = trajectory(nn, nn.Adam, 1.0, [2.0], lr=0.1)
    name_adam_mistake(got, 1.0, [2.0], 0.1)
    assert_close(
        got,
        adam_steps(1.0, [2.0], 0.1),
        "p after ONE Adam(lr=0.1) step from p = 1 with g = 2: m = 0.1 * 2 = 0.2 and "
        "v = 0.001 * 4 = 0.004 are tiny because they start at 0; bias correction gives "
        "m_hat = 0.2 / 0.1 = 2 and v_hat = 0.004 / 0.001 = 4, so p = 1 - 0.1 * 2 / (2 + 1e-8), "
        "about 0.9: the first step is about lr",
    )


@pytest.mark.ex7_1
def test_adam_five_steps_by_hand(nn):
    grads = [2.0, -1.0, 0.5, 3.0, -2.0]
    got = trajectory(nn, nn.Adam, 1.0, grads, lr=0.01, betas=(0.8, 0.9))
    name_adam_mistake(got, 1.0, grads, 0.01, betas=(0.8, 0.9))
    assert_close(
        got,
        adam_steps(1.0, grads, 0.01, betas=(0.8, 0.9)),
        f"p after each of 5 steps of Adam(lr=0.01, betas=(0.8, 0.9)) with gradients {grads} "
        "(m and v kept between steps, t = 1, 2, ... in the corrections)",
    )


@pytest.mark.ex7_1
def test_adam_counts_steps_not_parameters(nn):
    a, b = parameter(nn, [1.0], [2.0]), parameter(nn, [1.0], [2.0])
    nn.Adam([a, b], lr=0.1).step()
    first = adam_steps(1.0, [2.0], 0.1)
    per_parameter = adam_steps(1.0, [2.0], 0.1, t_offset=1)
    got = as_array(b.data, "second parameter's data")
    if np.allclose(got, per_parameter[-1:], rtol=1e-9, atol=0):
        raise AssertionError(
            "after one Adam step of two identical parameters the second moved as if t were 2: "
            "t counts STEPS (one increment per step() call, shared by every parameter), not "
            "parameters"
        )
    assert_close(got, first, "the second of two identical parameters after one Adam step")
    assert_close(
        as_array(a.data, "first parameter's data"), first, "the first of two after one step"
    )


@pytest.mark.ex7_1
def test_adam_eps_outside_the_square_root(nn):
    grads = [1e-4, 1e-4]
    got = trajectory(nn, nn.Adam, 0.0, grads, lr=0.01)
    name_adam_mistake(got, 0.0, grads, 0.01)
    assert_close(
        got,
        adam_steps(0.0, grads, 0.01),
        "p after two Adam(lr=0.01) steps with g = 1e-4: v_hat = 1e-8, sqrt(v_hat) = 1e-4 and "
        "each step is about lr (eps OUTSIDE the square root)",
    )


@pytest.mark.ex7_1
def test_adam_weight_decay_is_an_l2_gradient(nn):
    got = trajectory(nn, nn.Adam, 1.0, [0.0], lr=0.1, weight_decay=0.1)
    if np.allclose(got, [0.99]):
        raise AssertionError(
            "Adam(lr=0.1, weight_decay=0.1) from p = 1 with g = 0 gave p = 0.99, AdamW's "
            "decoupled decay: Adam's weight_decay ADDS wd * p to the gradient (an L2 penalty)"
        )
    assert_close(
        got,
        adam_steps(1.0, [0.0], 0.1, wd=0.1),
        "p after one Adam(lr=0.1, weight_decay=0.1) step from p = 1 with g = 0: the gradient "
        "becomes g + wd * p = 0.1 and the first step is about lr, so p is about 0.9",
    )


@pytest.mark.ex7_1
def test_adam_defaults_are_pytorchs(nn):
    grads = [1.0, 1.0, -0.5]
    got = trajectory(nn, nn.Adam, 0.5, grads)
    assert_close(
        got,
        adam_steps(0.5, grads, 1e-3),
        "p after 3 steps of Adam() with its defaults: PyTorch's lr 1e-3, betas (0.9, 0.999), "
        "eps 1e-8, weight_decay 0",
    )


@pytest.mark.ex7_2
def test_adamw_decay_is_decoupled(nn):
    got = trajectory(nn, nn.AdamW, 1.0, [0.0], lr=0.1, weight_decay=0.1)
    if np.allclose(got, adam_steps(1.0, [0.0], 0.1, wd=0.1)):
        raise AssertionError(
            "AdamW(lr=0.1, weight_decay=0.1) from p = 1 with g = 0 moved like Adam's L2 "
            "penalty (p about 0.9): AdamW's decay is DECOUPLED, p *= 1 - lr * wd before the "
            "Adam update, and never enters m or v"
        )
    assert_close(
        got,
        np.array([0.99]),
        "p after one AdamW(lr=0.1, weight_decay=0.1) step from p = 1 with g = 0: "
        "p *= 1 - 0.1 * 0.1 gives 0.99, and m = 0 adds no step",
    )


@pytest.mark.ex7_2
def test_adamw_five_steps_by_hand(nn):
    grads = [2.0, -1.0, 0.5, 3.0, -2.0]
    got = trajectory(nn, nn.AdamW, 1.0, grads, lr=0.05, weight_decay=0.5)
    assert_close(
        got,
        adam_steps(1.0, grads, 0.05, wd=0.5, decoupled=True),
        f"p after each of 5 steps of AdamW(lr=0.05, weight_decay=0.5) with gradients {grads}: "
        "p *= 1 - lr * wd, then Adam's bias-corrected update with the plain gradient",
    )


@pytest.mark.ex7_2
def test_adamw_default_weight_decay(nn):
    grads = [1.0, -1.0]
    got = trajectory(nn, nn.AdamW, 2.0, grads)
    assert_close(
        got,
        adam_steps(2.0, grads, 1e-3, wd=1e-2, decoupled=True),
        "p after 2 steps of AdamW() with its defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8 "
        "and weight_decay 1e-2 (PyTorch's)",
    )


def keep_mask(seed, shape, p):
    return np.random.default_rng(seed).random(shape) >= p


def inputs(dtype=np.float32):
    return (np.arange(1, 25, dtype=np.float64).reshape(4, 6) / 7).astype(dtype)


@pytest.mark.ex7_3
def test_dropout_forward_in_training_by_hand(nn):
    X, p = inputs(), 0.25
    layer = nn.Dropout(p, rng=7)
    Y = as_array(layer.forward(X), "Dropout(0.25).forward(X)")
    keep = keep_mask(7, X.shape, p)
    if Y.shape == X.shape and np.allclose(Y, X * keep):
        raise AssertionError(
            "Dropout(0.25) in training mode zeroed the right elements but did not scale the "
            "others: inverted dropout returns X * keep / (1 - p), so that the expected "
            "output equals X"
        )
    if Y.shape == X.shape and np.allclose(Y, X * ~keep / p):
        raise AssertionError(
            "Dropout(0.25) kept the elements it should drop: keep = rng.random(X.shape) >= p "
            "(p is the probability of DROPPING)"
        )
    assert_close(
        Y,
        (X * keep / (1 - p)).astype(np.float32),
        "Dropout(0.25, rng=7).forward(X) in training mode: keep = "
        "default_rng(7).random(X.shape) >= 0.25, Y = X * keep / 0.75 (float32 in, float32 out)",
    )


@pytest.mark.ex7_3
def test_dropout_forward_in_eval_mode_is_the_identity(nn):
    X = inputs()
    layer = nn.Dropout(0.5, rng=0)
    layer.eval()
    Y = as_array(layer.forward(X), "Dropout(0.5).forward(X) in evaluation mode")
    if Y.shape == X.shape and np.allclose(Y, X / 0.5):
        raise AssertionError(
            "Dropout(0.5) in evaluation mode scaled X by 1 / (1 - p): with inverted dropout "
            "the scaling happens in TRAINING, and evaluation is the identity"
        )
    assert_close(Y, X, "Dropout(0.5).forward(X) after .eval(): the identity")
    assert_close(
        as_array(layer.forward(X), "a second forward in evaluation mode"),
        X,
        "a second Dropout.forward in evaluation mode (no mask, nothing random)",
    )


@pytest.mark.ex7_3
def test_dropout_with_p_zero_is_the_identity(nn):
    X = inputs(np.float64)
    Y = as_array(nn.Dropout(0.0, rng=0).forward(X), "Dropout(0.0).forward(X) when training")
    assert_close(Y, X, "Dropout(0.0).forward(X) in training mode: nothing dropped or scaled")


@pytest.mark.ex7_3
def test_dropout_masks_come_from_the_layers_generator(nn):
    X = np.ones((3, 5))
    layer = nn.Dropout(0.5, rng=11)
    first = as_array(layer.forward(X), "first forward")
    second = as_array(layer.forward(X), "second forward")
    rng = np.random.default_rng(11)
    assert_close(
        np.stack([first, second]),
        np.stack([(rng.random(X.shape) >= 0.5) * 2.0 for _ in range(2)]),
        "two forwards of Dropout(0.5, rng=11) on ones (3, 5): each draws a NEW mask "
        "self.rng.random(X.shape) >= p from the layer's own generator",
    )


def forward_backward(nn, p, train, seed=3):
    X = inputs(np.float64) - 1.05  # no zeros: Y / X is the factor forward applied
    layer = nn.Dropout(p, rng=seed)
    if not train:
        layer.eval()
    Y = as_array(layer.forward(X), f"Dropout({p}).forward(X)")
    dY = np.linspace(-2.0, 3.0, X.size).reshape(X.shape)
    dX = as_array(layer.backward(dY), f"Dropout({p}).backward(dY)")
    return X, Y, dY, dX


@pytest.mark.ex7_4
@pytest.mark.parametrize("p, train", [(0.5, True), (0.2, True), (0.5, False), (0.0, True)])
def test_dropout_backward_uses_the_forward_mask(nn, p, train):
    X, Y, dY, dX = forward_backward(nn, p, train)
    mode = "training" if train else "evaluation"
    expected = dY * (Y / X)  # Y = X * factor element-wise, so dX = dY * factor
    if train and p > 0:
        fresh = np.random.default_rng(3)
        fresh.random(X.shape)  # the mask forward drew
        again = dY * (fresh.random(X.shape) >= p) / (1 - p)
        if dX.shape == X.shape and np.allclose(dX, again):
            raise AssertionError(
                f"Dropout({p}).backward in training drew a NEW mask: backward must reuse the "
                "mask of the forward pass (the gradient of the function forward computed)"
            )
    assert_close(
        dX,
        expected,
        f"Dropout({p}).backward(dY) in {mode} mode: dY times the same factor forward applied "
        "to each element (keep / (1 - p) when training, 1 in evaluation)",
    )


def small_model(nn, dropout=0.5, seed=0):
    return nn.MLP((6, 32, 3), rng=seed, dropout=dropout)


def data(n=20, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n)


@pytest.mark.ex7_5
def test_validate_measures_in_evaluation_mode_and_restores_training(nn):
    X, y = data()
    model = small_model(nn)
    got = [as_scalar(v, "validate(...)") for v in nn.validate(model, X, y)]
    if not model.training:
        raise AssertionError(
            "validate left a model that was TRAINING in evaluation mode: remember "
            "model.training on entry and restore it with model.train(was_training)"
        )
    model.eval()
    expected = [as_scalar(v, "evaluate(...)") for v in nn.evaluate(model, X, y)]
    if not np.allclose(got, expected):
        raise AssertionError(
            f"validate gave (loss, accuracy) {got}, but evaluate in evaluation mode gives "
            f"{expected}: dropout was on while measuring; call model.eval() first"
        )
    assert_close(np.array(got), np.array(expected), "validate(model, X, y): loss and accuracy")


@pytest.mark.ex7_5
def test_validate_keeps_evaluation_mode(nn):
    X, y = data()
    model = small_model(nn).eval()
    nn.validate(model, X, y)
    if model.training:
        raise AssertionError(
            "validate put a model that was in EVALUATION mode into training mode: restore "
            "the mode found on entry (model.train(was_training)), not always train()"
        )
    if any(layer.training for layer in model.layers):
        raise AssertionError("after validate a layer of the model is in training mode")


@pytest.mark.ex7_5
def test_validate_restores_the_mode_when_evaluate_fails(nn):
    model = small_model(nn)
    X = np.zeros((4, 5), dtype=np.float32)  # 5 features for a 6-input model: forward fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the student's code raises
        nn.validate(model, X, np.zeros(4, dtype=np.int64))
    assert model.training, (
        "validate left the model in evaluation mode when evaluate raised: restore the mode "
        "in a `finally:` block"
    )


LOSSES = [1.0, 0.8, 0.9, 0.7, 0.75, 0.7, 0.76]


def set_weights(nn, model, value):
    """Every parameter of ``model`` filled with ``value``, IN PLACE (the provided restore)."""
    filler = nn.EarlyStopping()
    filler.best_state = [np.full(shape, value, dtype=np.float32) for shape in shapes(model)]
    filler.restore(model)


def shapes(model):
    return [tuple(as_array(p.data, "parameter").shape) for p in model.parameters()]


@pytest.mark.ex7_6
def test_early_stopping_by_hand(nn):
    model = small_model(nn, dropout=0.0)
    stopper = nn.EarlyStopping(patience=2)
    said = []
    for epoch, loss in enumerate(LOSSES[:6], start=1):
        set_weights(nn, model, float(epoch))  # in place, as an optimiser does
        said.append(bool(stopper.update(model, loss)))
    assert said == [False, False, False, False, False, True], (
        f"EarlyStopping(patience=2).update with validation losses {LOSSES[:6]} returned "
        f"{said}: the best is 0.7 at epoch 4; 0.75 and 0.7 (not strictly lower) are two bad "
        "epochs, so only the sixth call says stop"
    )
    assert stopper.best_epoch == 4, f"best_epoch is {stopper.best_epoch}, expected 4"
    assert_close(as_scalar(stopper.best_loss, "best_loss"), 0.7, "best_loss")
    state = stopper.best_state
    if all(np.all(a == 6.0) for a in state):
        raise AssertionError(
            "best_state holds the weights of the LAST epoch, not of the best: it keeps "
            "references to p.data, which the optimiser changes in place; store p.data.copy()"
        )
    for index, array in enumerate(state):
        assert_close(
            as_array(array, f"best_state[{index}]"),
            np.full(shapes(model)[index], 4.0, dtype=np.float32),
            f"best_state[{index}]: a copy of parameter {index} at the best epoch (4)",
        )


@pytest.mark.ex7_6
def test_early_stopping_without_patience_never_stops(nn):
    model = small_model(nn, dropout=0.0)
    stopper = nn.EarlyStopping()
    said = [bool(stopper.update(model, loss)) for loss in [3.0, 4.0, 5.0, 6.0, 7.0]]
    assert not any(said), f"EarlyStopping() (patience None) said stop: {said}"
    assert stopper.best_epoch == 1 and stopper.bad_epochs == 4, (
        f"after losses 3, 4, 5, 6, 7: best_epoch {stopper.best_epoch} (expected 1), "
        f"bad_epochs {stopper.bad_epochs} (expected 4)"
    )
