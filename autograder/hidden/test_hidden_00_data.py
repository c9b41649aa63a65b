"""Hidden checks of Exercise 0.1 (DataLoader): every sample once per epoch, for any N and B."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.public.support import epoch
from autograder.strategies import NO_SHRINK
from autograder.tolerance import assert_unchanged

pytestmark = pytest.mark.ex0_1


def dataset(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 2, 2) uint8 whose pixels encode the index, labels = index."""
    y = np.arange(n, dtype=np.int64)
    X = np.repeat((y % 251).astype(np.uint8)[:, None, None], 2, axis=1).repeat(2, axis=2)
    return X, y


@settings(max_examples=15, phases=NO_SHRINK)
@given(
    n=st.integers(1, 30),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
def test_every_index_once_per_epoch(nn, n, batch_size, shuffle, drop_last):
    X, y = dataset(n)
    X0, y0 = X.copy(), y.copy()
    loader = nn.DataLoader(X, y, batch_size, shuffle=shuffle, rng=n, drop_last=drop_last)
    case = f"N={n}, batch_size={batch_size}, shuffle={shuffle}, drop_last={drop_last}"
    full, rest = divmod(n, batch_size)
    sizes = [batch_size] * full + ([rest] if rest and not drop_last else [])
    for number in (1, 2):
        batches = epoch(loader)
        assert [len(yb) for _, yb in batches] == sizes, f"batch sizes in epoch {number} ({case})"
        seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
        assert len(np.unique(seen)) == len(seen), f"a sample repeats within epoch {number} ({case})"
        if not drop_last:
            assert np.array_equal(np.sort(seen), y), f"some sample is missing ({case})"
        if not shuffle:
            assert np.array_equal(seen, y[: len(seen)]), f"without shuffle keep the order ({case})"
        for Xb, yb in batches:
            assert Xb.shape == (len(yb), 2, 2) and Xb.dtype == np.uint8, (
                f"X batches keep the sample shape and dtype ({case})"
            )
            assert np.array_equal(Xb[:, 0, 0], (yb % 251).astype(np.uint8)), (
                f"X rows must stay paired with their labels ({case})"
            )
    assert_unchanged(X0, X, "DataLoader (X)")
    assert_unchanged(y0, y, "DataLoader (y)")


@pytest.mark.parametrize("drop_last", [False, True])
def test_shuffle_draws_a_new_order_every_epoch(nn, drop_last):
    X, y = dataset(40)
    loader = nn.DataLoader(X, y, 6, shuffle=True, rng=3, drop_last=drop_last)
    orders = [np.concatenate([yb for _, yb in epoch(loader)]) for _ in range(3)]
    assert not np.array_equal(orders[0], np.arange(len(orders[0]))), "shuffle=True must shuffle"
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2]), (
        "each epoch must be reshuffled (draw a new permutation every time you iterate)"
    )
    if drop_last:
        dropped = [set(range(40)) - set(order.tolist()) for order in orders]
        assert dropped[0] != dropped[1] or dropped[1] != dropped[2], (
            "with drop_last and shuffle, WHICH samples are dropped changes between epochs"
        )


def test_partial_last_batch_with_shuffle(nn):
    X, y = dataset(23)
    batches = epoch(nn.DataLoader(X, y, 5, shuffle=True, rng=1))
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3], "23 samples in batches of 5"
    seen = np.concatenate([yb for _, yb in batches])
    assert np.array_equal(np.sort(seen), y), "the partial batch completes the epoch"


def test_seed_makes_the_order_reproducible(nn):
    X, y = dataset(30)
    a = [yb for _, yb in epoch(nn.DataLoader(X, y, 4, shuffle=True, rng=11))]
    b = [yb for _, yb in epoch(nn.DataLoader(X, y, 4, shuffle=True, rng=11))]
    c = [yb for _, yb in epoch(nn.DataLoader(X, y, 4, shuffle=True, rng=12))]
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True)), (
        "the same rng seed must give the same order (draw from self.rng)"
    )
    assert not all(np.array_equal(p, q) for p, q in zip(a, c, strict=True)), (
        "another seed must give another order"
    )
