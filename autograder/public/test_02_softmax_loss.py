"""Exercises 2.1-2.5: softmax, log_softmax, one_hot, cross-entropy forward and backward.

Expected values come from examples small enough to do by hand: with logits
(0, ln 2, ln 3) the exponentials are (1, 2, 3), so the softmax is (1/6, 2/6, 3/6).
"""

from __future__ import annotations

import numpy as np
import pytest

from autograder.strategies import DTYPES, DZ_HAND, LABELS, LOGITS, LOSS_HAND, PROBS
from autograder.tolerance import FLOAT32, as_array, as_scalar, assert_close, assert_unchanged

# Returned by a mean where a sum was wanted, or the other way round, over N = 2 rows.
PER_N = {
    2.0: "N = 2: did you divide by N (a mean over the batch)?",
    0.5: "N = 2: divide by N once, not twice",
}


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
@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_one_hot_rejects_labels_out_of_range(nn, labels):
    # A negative label must be refused too: NumPy would read y = -1 as the LAST class.
    with pytest.raises(ValueError):
        nn.one_hot(np.array(labels), 3)
        raise AssertionError(
            f"one_hot({labels}, 3) must raise ValueError: every label lies in [0, K) = [0, 3), "
            "check both ends (y < 0 and y >= K)"
        )


@pytest.mark.ex2_4
def test_cross_entropy_by_hand(nn):
    loss = nn.CrossEntropyLoss().forward(LOGITS, LABELS)
    assert_close(
        loss,
        LOSS_HAND,
        "CrossEntropyLoss().forward(Z, [2, 0]) = (-log(3/6) - log(1/3)) / 2, the MEAN of the rows",
        factors={2.0: "N = 2: return the MEAN over the batch, not the sum"},
    )


@pytest.mark.ex2_4
def test_cross_entropy_is_a_mean_not_a_sum(nn):
    Z, y = np.tile(LOGITS, (3, 1)), np.tile(LABELS, 3)
    loss = nn.CrossEntropyLoss().forward(Z, y)
    assert_close(
        loss,
        LOSS_HAND,
        "loss of the batch repeated 3 times (a mean does not change)",
        factors={6.0: "N = 6: return the MEAN over the batch, not the sum"},
    )


@pytest.mark.ex2_4
def test_cross_entropy_returns_a_python_float(nn):
    for dtype in DTYPES:
        loss = nn.CrossEntropyLoss().forward(LOGITS.astype(dtype), LABELS)
        assert type(loss) is float, (
            f"CrossEntropyLoss.forward must return a Python float, got {type(loss).__name__} "
            f"for {np.dtype(dtype)} logits: wrap the result in float(...) (NumPy reductions "
            "return NumPy scalars, which e.g. json cannot write)"
        )


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
    loss_fn.forward(LOGITS, LABELS)
    assert_close(
        loss_fn.backward(),
        DZ_HAND,
        "CrossEntropyLoss.backward() after forward(Z, [2, 0]), expected (P - Y) / N",
        factors=PER_N,
    )


@pytest.mark.ex2_5
def test_cross_entropy_backward_twice_gives_the_same_gradient(nn):
    # backward must leave what forward cached untouched: calling it again changes nothing.
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(LOGITS.astype(np.float32), LABELS)
    first = as_array(loss_fn.backward(), "CrossEntropyLoss.backward()")
    second = as_array(loss_fn.backward(), "CrossEntropyLoss.backward()")
    assert np.array_equal(first, second), (
        "a second call of CrossEntropyLoss.backward() returned something else: backward "
        "overwrote what forward cached (an in-place operation such as out=self._log_probs, "
        "or -= on a cached array); compute into a new array"
    )
    assert_close(
        second,
        DZ_HAND.astype(np.float32),
        "the second backward() after one forward",
        factors=PER_N,
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
