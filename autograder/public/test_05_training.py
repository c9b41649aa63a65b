"""Exercises 5.1-5.2: train_epoch and evaluate (lessons/05_training_mnist.ipynb).

These use your own layers, loss and optimiser, on a small problem that a linear model
learns quickly: the label is the index of the largest of 4 input features.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import batched_mean_loss, batches_of, linear_layer
from autograder.tolerance import FLOAT32, as_array, as_scalar, assert_close


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
def test_train_epoch_returns_the_mean_batch_loss(nn):
    # With a tiny learning rate the model barely moves, so the epoch's loss is the
    # mean over all samples of the untrained model's loss (batches of 10, 10 and 5).
    X, y = toy_data(25)
    model = toy_model(nn)
    expected = batched_mean_loss(nn, model, X, y, batch_size=10)
    loss = nn.train_epoch(
        model, nn.CrossEntropyLoss(), nn.SGD(model.parameters(), lr=1e-9), batches_of(X, y, 10)
    )
    assert_close(
        loss, expected, "train_epoch's return value: the mean loss over all 25 samples", tol=FLOAT32
    )


@pytest.mark.ex5_2
def test_evaluate_accuracy_and_loss(nn):
    X, y = toy_data(30, seed=5)
    model = toy_model(nn)
    predictions = np.asarray(model.forward(X)).argmax(axis=1)
    loss, accuracy = nn.evaluate(model, X, y, batch_size=8)
    assert_close(
        accuracy,
        float(np.mean(predictions == y)),
        "accuracy from evaluate (fraction of argmax == y)",
    )
    expected = batched_mean_loss(nn, model, X, y, batch_size=8)
    assert_close(loss, expected, "mean loss from evaluate over all 30 samples", tol=FLOAT32)


@pytest.mark.ex5_2
def test_evaluate_does_not_train(nn):
    X, y = toy_data(20)
    model = toy_model(nn)
    before = np.array(model.parameters()[0].data)
    nn.evaluate(model, X, y)
    assert np.array_equal(model.parameters()[0].data, before), (
        "evaluate must not change the weights"
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
        what = f"gradient {index} after train_epoch: that of the last batch only"
        assert_close(a, p.grad, what, tol=FLOAT32, check_dtype=False)
