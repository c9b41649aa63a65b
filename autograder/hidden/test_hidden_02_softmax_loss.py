"""Hidden checks of Exercises 2.1-2.5 against the reference, with properties and extremes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.strategies import DTYPES, NO_SHRINK, finite_logits, logits
from autograder.tolerance import (
    FLOAT32,
    GRADCHECK,
    as_array,
    as_scalar,
    assert_close,
    assert_unchanged,
    tolerance_for,
)

SCALES = [1.0, 30.0, 1e3, 1e4]  # 1e4: exp overflows float64 at 710 and float32 at 89


# ---- softmax ------------------------------------------------------------------------------


@pytest.mark.ex2_1
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
def test_softmax_matches_reference(nn, ref, dtype, scale):
    Z = logits((16, 10), scale, dtype, seed=int(scale))
    Z0 = Z.copy()
    got = nn.softmax(Z)
    assert_close(
        got, ref.softmax(Z.copy()), f"softmax(Z) for Z (16, 10) {Z.dtype}, |Z| ~ {scale:g}"
    )
    assert_unchanged(Z0, Z, "softmax")


@pytest.mark.ex2_1
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_axis_and_single_row(nn, ref, axis):
    Z = logits((1, 7), 3.0, np.float64, seed=axis + 5)
    assert_close(
        nn.softmax(Z, axis=axis), ref.softmax(Z, axis=axis), f"softmax(Z, axis={axis}), Z (1, 7)"
    )
    Z3 = logits((3, 4, 5), 3.0, np.float64, seed=axis + 9)
    assert_close(
        nn.softmax(Z3, axis=axis),
        ref.softmax(Z3, axis=axis),
        f"softmax(Z, axis={axis}), Z (3, 4, 5)",
    )


@pytest.mark.ex2_1
@settings(max_examples=20, phases=NO_SHRINK)
@given(Z=finite_logits(), shift=st.floats(-1e3, 1e3))
def test_softmax_rows_sum_to_one_and_ignore_shifts(nn, Z, shift):
    P = as_array(nn.softmax(Z), "softmax(Z)")
    assert P.shape == Z.shape, "softmax(Z) has the shape of Z"
    assert np.all((P >= 0) & (P <= 1)), "softmax entries are probabilities in [0, 1]"
    assert_close(P.sum(axis=1), np.ones(len(Z)), "row sums of softmax(Z)")
    # Adding a constant to a row changes nothing; near-zero entries need an absolute bound.
    shifted = as_array(nn.softmax(Z + shift), "softmax(Z + c)")
    assert_close(shifted, P, "softmax(Z + c) versus softmax(Z)", tol=GRADCHECK)


# ---- log_softmax --------------------------------------------------------------------------


@pytest.mark.ex2_2
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
def test_log_softmax_matches_reference(nn, ref, dtype, scale):
    Z = logits((16, 10), scale, dtype, seed=int(scale) + 1)
    Z0 = Z.copy()
    got = nn.log_softmax(Z)
    expected = ref.log_softmax(Z.copy())
    # Entries can be as large as 1e4: the tolerance is relative to each entry.
    assert_close(got, expected, f"log_softmax(Z) for Z (16, 10) {Z.dtype}, |Z| ~ {scale:g}")
    assert_unchanged(Z0, Z, "log_softmax")


@pytest.mark.ex2_2
@pytest.mark.parametrize("axis", [0, -1])
def test_log_softmax_axis(nn, ref, axis):
    Z = logits((3, 4, 5), 50.0, np.float64, seed=axis + 3)
    assert_close(
        nn.log_softmax(Z, axis=axis), ref.log_softmax(Z, axis=axis), f"log_softmax(Z, axis={axis})"
    )


@pytest.mark.ex2_2
@settings(max_examples=20, phases=NO_SHRINK)
@given(Z=finite_logits())
def test_log_softmax_is_normalised_and_nonpositive(nn, Z):
    L = as_array(nn.log_softmax(Z), "log_softmax(Z)")
    assert L.shape == Z.shape, "log_softmax(Z) has the shape of Z"
    assert np.all(np.isfinite(L)), "log_softmax must stay finite even where softmax rounds to 0"
    assert np.all(L <= 1e-12), "log-probabilities are <= 0"
    assert_close(np.exp(L).sum(axis=1), np.ones(len(Z)), "row sums of exp(log_softmax(Z))")


# ---- one_hot ------------------------------------------------------------------------------


@pytest.mark.ex2_3
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("n, k", [(1, 10), (50, 10), (7, 2)])
def test_one_hot_matches_reference(nn, ref, label_dtype, n, k):
    y = np.random.default_rng(n + k).integers(0, k, n).astype(label_dtype)
    y0 = y.copy()
    assert_close(nn.one_hot(y, k), ref.one_hot(y, k), f"one_hot(y, {k}) for y ({n},) {y.dtype}")
    assert_unchanged(y0, y, "one_hot")


@pytest.mark.ex2_3
def test_one_hot_of_no_labels(nn):
    Y = as_array(nn.one_hot(np.array([], dtype=np.int64), 4), "one_hot([], 4)")
    assert Y.shape == (0, 4) and Y.dtype == np.float32, (
        "one_hot of 0 labels is a (0, K) float32 array"
    )


@pytest.mark.ex2_3
@pytest.mark.parametrize("bad", [[-1, 0], [0, 10]])
def test_one_hot_rejects_out_of_range(nn, bad):
    with pytest.raises(ValueError):
        nn.one_hot(np.array(bad), 10)
        raise AssertionError("one_hot must raise ValueError for labels outside [0, K)")


# ---- cross-entropy --------------------------------------------------------------------------


def loss_tolerance(dtype):
    return FLOAT32 if dtype == np.float32 else tolerance_for(np.float64)


@pytest.mark.ex2_4
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("n", [1, 32])
def test_cross_entropy_matches_reference(nn, ref, dtype, scale, n):
    Z = logits((n, 10), scale, dtype, seed=n + int(scale))
    y = np.random.default_rng(n).integers(0, 10, n)
    Z0, y0 = Z.copy(), y.copy()
    got = as_scalar(nn.CrossEntropyLoss().forward(Z, y), "CrossEntropyLoss().forward(Z, y)")
    expected = ref.CrossEntropyLoss().forward(Z.copy(), y.copy())
    assert np.isfinite(got), f"the loss must be finite for logits of size {scale:g}"
    assert_close(
        got, expected, f"loss for Z ({n}, 10) {Z.dtype}, |Z| ~ {scale:g}", tol=loss_tolerance(dtype)
    )
    assert_unchanged(Z0, Z, "CrossEntropyLoss.forward (logits)")
    assert_unchanged(y0, y, "CrossEntropyLoss.forward (targets)")


@pytest.mark.ex2_4
@settings(max_examples=15, phases=NO_SHRINK)
@given(Z=finite_logits(min_cols=2, max_cols=6), data=st.data())
def test_cross_entropy_is_a_mean(nn, Z, data):
    y = data.draw(hnp.arrays(np.int64, len(Z), elements=st.integers(0, Z.shape[1] - 1)))
    loss = as_scalar(nn.CrossEntropyLoss().forward(Z, y), "loss")
    doubled = as_scalar(
        nn.CrossEntropyLoss().forward(np.vstack([Z, Z]), np.concatenate([y, y])), "loss"
    )
    assert_close(doubled, loss, "loss of a batch repeated twice (a MEAN does not change)")
    order = np.arange(len(Z))[::-1]
    permuted = as_scalar(nn.CrossEntropyLoss().forward(Z[order], y[order]), "loss")
    assert_close(permuted, loss, "loss of the same batch in another order")


@pytest.mark.ex2_4
def test_cross_entropy_int32_targets(nn, ref):
    Z = logits((8, 5), 2.0, np.float64, seed=4)
    y = np.arange(8, dtype=np.int32) % 5
    assert_close(
        nn.CrossEntropyLoss().forward(Z, y),
        ref.CrossEntropyLoss().forward(Z, y),
        "loss with int32 labels",
    )


@pytest.mark.ex2_5
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("n", [1, 32])
def test_cross_entropy_backward_matches_reference(nn, ref, dtype, scale, n):
    Z = logits((n, 10), scale, dtype, seed=n + int(scale) + 7)
    y = np.random.default_rng(n + 1).integers(0, 10, n)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(Z, y)
    reference = ref.CrossEntropyLoss()
    reference.forward(Z.copy(), y.copy())
    got = loss_fn.backward()
    assert_close(
        got, reference.backward(), f"backward() for Z ({n}, 10) {Z.dtype}, |Z| ~ {scale:g}"
    )


@pytest.mark.ex2_5
@pytest.mark.parametrize("n", [1, 5])
def test_cross_entropy_backward_gradient_check(nn, ref, n):
    Z = logits((n, 4), 2.0, np.float64, seed=n)
    y = np.arange(n) % 4
    loss_fn = nn.CrossEntropyLoss()
    loss_fn.forward(Z.copy(), y)
    analytic = loss_fn.backward()
    probe = Z.copy()
    numeric = ref.numerical_gradient(lambda: ref.CrossEntropyLoss().forward(probe, y), probe)
    assert_close(analytic, numeric, f"backward() versus a numerical gradient, N={n}", tol=GRADCHECK)
