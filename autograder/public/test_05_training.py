"""Exercises 5.1-5.2: train_epoch and evaluate (lessons/05_training_mnist.ipynb).

These use your own layers, loss and optimiser, on a small problem that a linear model
learns quickly: the label is the index of the largest of 4 input features.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import batch_means, batches_of, linear_layer
from autograder.tolerance import FLOAT32, as_array, as_scalar, assert_close


def is_close(value: object, target: float) -> bool:
    """``value`` is a number within FLOAT32's tolerance of ``target``."""
    return isinstance(value, int | float | np.number) and bool(
        np.isclose(float(value), target, rtol=FLOAT32.rtol, atol=FLOAT32.atol)
    )


def loss_gives_python_floats(nn) -> bool:
    """Whether the student's CrossEntropyLoss.forward returns a Python float (Exercise 2.4)."""
    loss = nn.CrossEntropyLoss().forward(np.zeros((2, 3), np.float32), np.array([0, 1]))
    return type(loss) is float


def toy_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)
    return X, X.argmax(axis=1)


def toy_model(nn):
    W = np.random.default_rng(1).standard_normal((4, 4)).astype(np.float32) * 0.1
    return nn.Sequential(linear_layer(nn, W, np.zeros(4, np.float32)))


@pytest.mark.ex5_1
def test_train_epoch_reduces_the_loss(nn):
    X, y = toy_data(64)
    model = toy_model(nn)
    opt = nn.SGD(model.parameters(), lr=0.5)
    losses = [
        as_scalar(
            nn.train_epoch(model, nn.CrossEntropyLoss(), opt, batches_of(X, y, 16)),
            "train_epoch(...)",
        )
        for _ in range(4)
    ]
    assert losses[-1] < 0.7 * losses[0], f"the training loss should fall over 4 epochs: {losses}"


@pytest.mark.ex5_1
def test_train_epoch_returns_the_mean_loss_over_all_samples(nn):
    # With a tiny learning rate the model barely moves, so the epoch's loss is the
    # mean over all samples of the untrained model's loss (batches of 10, 10 and 5).
    X, y = toy_data(25)
    model = toy_model(nn)
    expected, unweighted = batch_means(nn, model, X, y, batch_size=10)
    loss = nn.train_epoch(
        model, nn.CrossEntropyLoss(), nn.SGD(model.parameters(), lr=1e-9), batches_of(X, y, 10)
    )
    if is_close(loss, unweighted) and not is_close(loss, expected):
        raise AssertionError(
            f"train_epoch returned {loss:.7g}, the plain mean of the 3 batch losses; expected "
            f"{expected:.7g}, the mean over all 25 samples: the last batch holds only 5 samples, "
            "so weight each batch's loss by its size (sum loss * len(y), then divide by N)"
        )
    assert_close(
        loss, expected, "train_epoch's return value: the mean loss over all 25 samples", tol=FLOAT32
    )


@pytest.mark.ex5_1
def test_train_epoch_returns_a_python_float(nn):
    X, y = toy_data(8)
    model = toy_model(nn)
    loss = nn.train_epoch(
        model, nn.CrossEntropyLoss(), nn.SGD(model.parameters(), lr=0.1), batches_of(X, y, 4)
    )
    # A NumPy scalar from your loss would be Exercise 2.4's fault (counted there, not here).
    if loss_gives_python_floats(nn):
        assert type(loss) is float, (
            f"train_epoch must return a Python float, got {type(loss).__name__}: wrap it in float()"
        )


@pytest.mark.ex5_2
def test_evaluate_accuracy_and_loss(nn):
    # Seed 3: 8 of 30 right overall, 3 of 6 in the last chunk: the two are told apart.
    X, y = toy_data(30, seed=3)
    model = toy_model(nn)
    predictions = np.asarray(model.forward(X)).argmax(axis=1)
    loss, accuracy = nn.evaluate(model, X, y, batch_size=8)
    last = float(np.mean(predictions[24:] == y[24:]))  # the last chunk: samples 24..29
    if is_close(accuracy, last):
        raise AssertionError(
            f"evaluate returned the accuracy {accuracy:.4g} of the LAST chunk only (samples 24-29 "
            "with batch_size 8): count the correct predictions of every chunk, divide by N"
        )
    assert_close(
        accuracy,
        float(np.mean(predictions == y)),
        "accuracy from evaluate: the fraction of ALL 30 samples whose argmax over the classes "
        "(axis=1) equals y",
    )
    expected, unweighted = batch_means(nn, model, X, y, batch_size=8)
    if is_close(loss, unweighted) and not is_close(loss, expected):
        raise AssertionError(
            f"evaluate returned the loss {loss:.7g}, the plain mean of the 4 chunk losses; "
            f"expected {expected:.7g}, the mean over all 30 samples: with batch_size 8 the last "
            "chunk holds only 6 samples, so weight each chunk's loss by its size (or sum, then "
            "divide by N)"
        )
    assert_close(loss, expected, "mean loss from evaluate over all 30 samples", tol=FLOAT32)


@pytest.mark.ex5_2
def test_evaluate_does_not_train_and_returns_floats(nn):
    X, y = toy_data(20)
    model = toy_model(nn)
    parameters = model.parameters()
    for index, p in enumerate(parameters):
        p.grad = np.full(p.shape, 0.25 * (index + 1), dtype=np.float32)  # as after a backward
    before = [(as_array(p.data, "p.data"), as_array(p.grad, "p.grad")) for p in parameters]
    result = nn.evaluate(model, X, y)
    for index, (p, (data, grad)) in enumerate(zip(parameters, before, strict=True)):
        assert np.array_equal(as_array(p.data, "p.data"), data), (
            f"evaluate changed parameter {index}'s data: it must not train (no optimiser step)"
        )
        assert np.array_equal(as_array(p.grad, "p.grad"), grad), (
            f"evaluate changed parameter {index}'s grad: evaluation must leave gradients alone "
            "(forward and the loss only, no model.backward)"
        )
    types = [type(value).__name__ for value in result]
    # A NumPy scalar from your loss would be Exercise 2.4's fault (counted there, not here).
    assert types == ["float", "float"] or not loss_gives_python_floats(nn), (
        f"evaluate must return (loss, accuracy) as two Python floats, got {types}: wrap them in "
        "float()"
    )


@pytest.mark.ex5_1
def test_train_epoch_zeroes_the_gradients_for_every_batch(nn):
    # After the epoch, the gradients left in the model must be those of the LAST batch
    # alone (then stepped with); without zero_grad they would be the sum over all batches.
    X, y = toy_data(12)
    model = toy_model(nn)
    optimizer = nn.SGD(model.parameters(), lr=1e-9)
    nn.train_epoch(model, nn.CrossEntropyLoss(), optimizer, batches_of(X, y, 4))
    left = [as_array(p.grad, "p.grad") for p in model.parameters()]
    model.zero_grad()
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(model.forward(X[8:]), y[8:])
    model.backward(loss_fn.backward())
    optimizer.step()
    for index, (a, p) in enumerate(zip(left, model.parameters(), strict=True)):
        # Values only: the dtype of gradients is Exercise 3.2's business.
        what = (
            f"gradient {index} after train_epoch: that of the last batch only (call "
            "optimizer.zero_grad() at the start of every batch, or gradients add up over batches)"
        )
        assert_close(a, p.grad, what, tol=FLOAT32, check_dtype=False)
