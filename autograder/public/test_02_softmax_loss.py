"""Exercises 2.1-2.5: softmax, log_softmax, one_hot, cross-entropy forward and backward.

Expected values come from examples small enough to do by hand: with logits
(0, ln 2, ln 3) the exponentials are (1, 2, 3), so the softmax is (1/6, 2/6, 3/6).
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.tolerance import FLOAT32, as_array, as_scalar, assert_close, assert_unchanged

LOGITS = np.log(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]))  # (2, 3) float64
PROBS = np.array([[1 / 6, 2 / 6, 3 / 6], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.ex2_1
def test_softmax_by_hand(nn):
    assert_close(nn.softmax(LOGITS), PROBS, "softmax(Z) for Z = log([[1, 2, 3], [1, 1, 1]])")


@pytest.mark.ex2_1
def test_softmax_axis_0(nn):
    assert_close(nn.softmax(LOGITS.T, axis=0), PROBS.T, "softmax(Z, axis=0)")


@pytest.mark.ex2_1
def test_softmax_large_logits_do_not_overflow(nn):
    Z = LOGITS + 1000.0  # exp(1000) overflows: subtract the row max first
    with np.errstate(all="ignore"):
        assert_close(nn.softmax(Z), PROBS, "softmax(Z + 1000): adding a constant changes nothing")


@pytest.mark.ex2_1
def test_softmax_float32_and_input_untouched(nn):
    Z = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    before = Z.copy()
    P = as_array(nn.softmax(Z), "softmax(Z)")
    assert P.dtype == np.float32, f"float32 logits give float32 probabilities, got {P.dtype}"
    assert_close(P.sum(axis=1), np.ones(4, np.float32), "the row sums of softmax(Z)")
    assert_unchanged(before, Z, "softmax")


@pytest.mark.ex2_2
def test_log_softmax_by_hand(nn):
    assert_close(
        nn.log_softmax(LOGITS), np.log(PROBS), "log_softmax(Z) for Z = log([[1, 2, 3], ...])"
    )


@pytest.mark.ex2_2
def test_log_softmax_where_softmax_underflows(nn):
    # softmax((0, 1000)) = (e^-1000, 1) rounds to (0, 1): its log would be -inf.
    Z = np.array([[0.0, 1000.0], [-1000.0, 1000.0]])
    expected = np.array([[-1000.0, 0.0], [-2000.0, 0.0]])
    with np.errstate(all="ignore"):
        assert_close(
            nn.log_softmax(Z), expected, "log_softmax(Z) for Z = [[0, 1000], [-1000, 1000]]"
        )


@pytest.mark.ex2_2
def test_log_softmax_float32_and_axis_0(nn):
    Z = LOGITS.T.astype(np.float32)
    before = Z.copy()
    assert_close(
        nn.log_softmax(Z, axis=0), np.log(PROBS.T).astype(np.float32), "log_softmax(Z, axis=0)"
    )
    assert_unchanged(before, Z, "log_softmax")


@pytest.mark.ex2_3
def test_one_hot_by_hand(nn):
    expected = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    assert_close(nn.one_hot(np.array([2, 0, 1, 2]), 3), expected, "one_hot([2, 0, 1, 2], 3)")


@pytest.mark.ex2_3
def test_one_hot_rejects_labels_out_of_range(nn):
    with pytest.raises(ValueError):
        nn.one_hot(np.array([0, 3]), 3)


@pytest.mark.ex2_4
def test_cross_entropy_by_hand(nn):
    # Row 0: -log(3/6) for label 2; row 1: -log(1/3) for label 0; the MEAN of the two.
    loss = nn.CrossEntropyLoss().forward(LOGITS, np.array([2, 0]))
    assert_close(loss, (np.log(2) + np.log(3)) / 2, "CrossEntropyLoss().forward(Z, [2, 0])")


@pytest.mark.ex2_4
def test_cross_entropy_is_a_mean_not_a_sum(nn):
    Z, y = np.tile(LOGITS, (3, 1)), np.array([2, 0] * 3)
    loss = nn.CrossEntropyLoss().forward(Z, y)
    assert_close(loss, (np.log(2) + np.log(3)) / 2, "loss of the batch repeated 3 times")


@pytest.mark.ex2_4
def test_cross_entropy_large_logits(nn):
    Z = np.array([[1e4, 0.0], [0.0, 1e4]], dtype=np.float32)
    with np.errstate(all="ignore"):
        loss = as_scalar(nn.CrossEntropyLoss().forward(Z, np.array([0, 0])), "loss")
    # Row 0 is right with certainty (loss 0); row 1 is wrong by 1e4 nats.
    assert_close(loss, 5000.0, "loss for float32 logits of size 1e4", tol=FLOAT32)


@pytest.mark.ex2_5
def test_cross_entropy_backward_by_hand(nn):
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(LOGITS, np.array([2, 0]))
    # (P - Y) / N with N = 2.
    expected = (PROBS - np.array([[0, 0, 1], [1, 0, 0]])) / 2
    assert_close(
        loss_fn.backward(), expected, "CrossEntropyLoss.backward() after forward(Z, [2, 0])"
    )


@pytest.mark.ex2_5
def test_cross_entropy_backward_float32_rows_sum_to_zero(nn):
    Z = np.random.default_rng(2).standard_normal((6, 10)).astype(np.float32)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(Z, np.arange(6))
    dZ = as_array(loss_fn.backward(), "CrossEntropyLoss.backward()")
    assert dZ.dtype == np.float32 and dZ.shape == (6, 10), (
        f"dZ has the logits' shape and dtype (6, 10) float32, got {dZ.shape} {dZ.dtype}"
    )
    assert_close(dZ.sum(axis=1), np.zeros(6, np.float32), "row sums of dZ (P and Y both sum to 1)")
