"""Hidden checks of Exercises 5.1-5.2: the training loop and evaluation.

``train_epoch`` is compared with the same loop written out in the test, driven through the
student's own model, loss and optimiser: a bug in a layer or in the loss then affects both
sides equally, and only the loop itself is judged. ``evaluate`` is compared with the
reference loss and the accuracy of the student's own logits.
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import batch_means, batched_mean_loss, batches_of
from autograder.tolerance import FLOAT32, as_array, as_scalar, assert_close


def toy_problem(n, d=6, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, :k].argmax(axis=1)).astype(np.int64)
    return X, y


def written_out_epoch(model, loss_fn, optimizer, batches):
    """The loop as the lesson states it, with the student's components."""
    total = 0.0
    for X, y in batches:
        optimizer.zero_grad()
        loss = as_scalar(loss_fn.forward(as_array(model.forward(X), "model.forward(X)"), y), "loss")
        model.backward(loss_fn.backward())
        optimizer.step()
        total += loss * len(y)
    return total / sum(len(y) for _, y in batches)


def weights(model):
    return [as_array(p.data, "parameter") for p in model.parameters()]


@pytest.mark.ex5_1
@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
@pytest.mark.parametrize("n, batch_size", [(40, 16), (9, 9), (6, 1)])
def test_train_epoch_is_the_written_out_loop(nn, optimizer, n, batch_size):
    X, y = toy_problem(n, seed=n)
    batches = batches_of(X, y, batch_size)
    results = []
    for _ in range(2):
        model = nn.MLP((6, 5, 4), rng=1)
        params = model.parameters()
        opt = (
            nn.SGD(params, lr=0.1, momentum=0.5)
            if optimizer == "sgd"
            else nn.RMSProp(params, lr=0.01)
        )
        results.append((model, opt))
    (model, opt), (mirror, mirror_opt) = results
    losses = [
        as_scalar(nn.train_epoch(model, nn.CrossEntropyLoss(), opt, batches), "train_epoch(...)")
        for _ in range(2)
    ]
    expected = [
        written_out_epoch(mirror, nn.CrossEntropyLoss(), mirror_opt, batches) for _ in range(2)
    ]
    case = f"{optimizer}, N={n}, batch_size={batch_size}"
    for epoch in range(2):
        assert_close(
            losses[epoch],
            expected[epoch],
            f"train_epoch's mean loss in epoch {epoch + 1} ({case})",
            tol=FLOAT32,
        )
    for index, (a, b) in enumerate(zip(weights(model), weights(mirror), strict=True)):
        assert_close(
            a,
            b,
            f"parameter {index} after 2 epochs ({case}): per batch zero_grad, forward, loss, "
            "backward, step",
        )


@pytest.mark.ex5_1
def test_train_epoch_accepts_a_dataloader(nn):
    # Coupled with Exercise 0.1 only through iteration; a list of batches would do the same.
    X, y = toy_problem(30, seed=2)
    model = nn.MLP((6, 8, 4), rng=0)
    opt = nn.SGD(model.parameters(), lr=0.2)
    loader = nn.DataLoader(X, y, batch_size=8, shuffle=True, rng=0)
    losses = [
        as_scalar(nn.train_epoch(model, nn.CrossEntropyLoss(), opt, loader), "train_epoch")
        for _ in range(6)
    ]
    assert all(np.isfinite(losses)), "train_epoch must return a finite mean loss"
    assert losses[-1] < losses[0], f"six epochs of SGD must lower the training loss: {losses}"


@pytest.mark.ex5_2
@pytest.mark.parametrize("n, batch_size", [(50, 16), (7, 1000), (1, 1), (30, 10)])
def test_evaluate_matches_the_model(nn, ref, n, batch_size):
    X, y = toy_problem(n, seed=n + 1)
    model = nn.MLP((6, 5, 4), rng=3)
    before = weights(model)
    loss, accuracy = nn.evaluate(model, X, y, batch_size=batch_size)
    logits = as_array(model.forward(X), "model.forward(X)")
    case = f"N={n}, batch_size={batch_size}"
    assert_close(
        as_scalar(accuracy, "accuracy"),
        float(np.mean(logits.argmax(axis=1) == y)),
        f"accuracy ({case}) over ALL samples",
    )
    # The loss of the whole set by the reference, or what the student's own loss gives
    # batch by batch (so a bug in Exercise 2.4 is not counted twice).
    candidates = [ref.CrossEntropyLoss().forward(logits.astype(np.float64), y)]
    weighted, plain = batch_means(nn, model, X, y, batch_size)
    candidates.append(weighted)
    loss = as_scalar(loss, "loss")
    if not any(np.isclose(loss, c, rtol=FLOAT32.rtol, atol=FLOAT32.atol) for c in candidates):
        smaller = ""
        if n % batch_size and np.isclose(loss, plain, rtol=FLOAT32.rtol, atol=FLOAT32.atol):
            smaller = (
                f": that is the plain mean of the chunk losses, but the last chunk holds only "
                f"{n % batch_size} samples; weight each chunk's loss by its size"
            )
        assert_close(loss, candidates[0], f"mean loss from evaluate ({case}){smaller}", tol=FLOAT32)
    for a, b in zip(weights(model), before, strict=True):
        assert np.array_equal(a, b), "evaluate must not change the model's parameters"


@pytest.mark.ex5_2
def test_evaluate_default_batch_size(nn, ref):
    X, y = toy_problem(1500, seed=9)
    model = nn.MLP((6, 5, 4), rng=4)
    loss, accuracy = nn.evaluate(model, X, y)
    logits = as_array(model.forward(X), "model.forward(X)")
    assert_close(
        as_scalar(accuracy, "accuracy"),
        float(np.mean(logits.argmax(axis=1) == y)),
        "accuracy over 1500 samples (default batch_size)",
    )
    expected = ref.CrossEntropyLoss().forward(logits.astype(np.float64), y)
    if not np.isclose(
        as_scalar(loss, "loss"), batched_mean_loss(nn, model, X, y, 1000), rtol=FLOAT32.rtol
    ):
        assert_close(
            loss, expected, "mean loss over 1500 samples (default batch_size)", tol=FLOAT32
        )
