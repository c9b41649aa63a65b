"""Exercise 0.1: DataLoader iteration (lessons/00_setup_and_data.ipynb)."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.public.support import epoch

pytestmark = pytest.mark.ex0_1


def labelled(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A toy data set: ``n`` samples, each labelled by its index, with row (index, -index)."""
    y = np.arange(n)
    X = np.stack([y, -y], axis=1).astype(np.float32)
    return X, y


def test_batches_in_order_last_one_smaller(nn):
    X, y = labelled(10)
    batches = epoch(nn.DataLoader(X, y, batch_size=4))
    assert [len(yb) for _, yb in batches] == [4, 4, 2], (
        "batch sizes for N=10, batch_size=4: the last batch may be smaller (2 samples), keep it "
        "unless drop_last=True"
    )
    assert np.array_equal(np.concatenate([yb for _, yb in batches]), y), "order without shuffle"
    for Xb, yb in batches:
        assert Xb.shape == (len(yb), 2), "X_batch has shape (B, features)"
        assert np.array_equal(Xb[:, 0], yb), "each X row stays paired with its label"


def test_drop_last_drops_only_the_partial_batch(nn):
    X, y = labelled(10)
    batches = epoch(nn.DataLoader(X, y, batch_size=4, drop_last=True))
    assert [len(yb) for _, yb in batches] == [4, 4], "drop_last keeps only full batches"


def test_batch_size_larger_than_dataset(nn):
    X, y = labelled(3)
    batches = epoch(nn.DataLoader(X, y, batch_size=8))
    assert [len(yb) for _, yb in batches] == [3], "one batch holding all 3 samples"


def test_shuffle_visits_every_sample_once_and_reshuffles(nn):
    X, y = labelled(50)
    loader = nn.DataLoader(X, y, batch_size=8, shuffle=True, rng=0)
    first = np.concatenate([yb for _, yb in epoch(loader)])
    second = np.concatenate([yb for _, yb in epoch(loader)])
    once = "(shuffle with a permutation of 0..N-1: random integers repeat some samples)"
    assert np.array_equal(np.sort(first), y), f"every sample exactly once in epoch 1 {once}"
    assert np.array_equal(np.sort(second), y), f"every sample exactly once in epoch 2 {once}"
    assert not np.array_equal(first, y), "shuffle=True must change the order"
    assert not np.array_equal(first, second), (
        "each epoch must draw a NEW order: draw a new permutation every time __iter__ starts"
    )


def test_same_seed_same_order(nn):
    X, y = labelled(20)
    a = epoch(nn.DataLoader(X, y, batch_size=6, shuffle=True, rng=7))
    b = epoch(nn.DataLoader(X, y, batch_size=6, shuffle=True, rng=7))
    assert all(np.array_equal(ya, yb) for (_, ya), (_, yb) in zip(a, b, strict=True)), (
        "two loaders with the same rng seed must produce the same batches"
    )
