"""The timed part of the speed benchmark: data sets, trainers, and interleaved epochs.

Import it only after ``threads.prepare_threads`` (speed.py does): it loads numpy.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

import numpy as np
from data_parallel import ParallelPeer
from fused_numpy import FusedNumPyNet
from original_numpynet import OriginalNumPyNet
from torch_peer import TorchPeer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "solutions"))  # the REFERENCE numpynet, not the student stubs
import numpynet as nn  # noqa: E402

Dataset = tuple[np.ndarray, np.ndarray]


def synthetic_data(n: int, sizes: tuple[int, ...], seed: int) -> Dataset:
    """MNIST-shaped random data: X float32 (n, D) in [0, 1), y int64 from a linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0]), dtype=np.float32)
    teacher = rng.standard_normal((sizes[0], sizes[-1])).astype(np.float32)
    return X, (X @ teacher).argmax(axis=1).astype(np.int64)  # learnable labels


def mnist_data(n: int, data_dir: str | None) -> Dataset | None:
    """The first ``n`` MNIST training rows from ``data_dir``; None (and a note) when absent."""
    if data_dir is None or not Path(data_dir).is_dir():
        print(f"NOTE: no MNIST folder ({data_dir!r}): set MNIST_DIR; real data skipped.\n")
        return None
    X, y = nn.load_mnist("train", data_dir=data_dir)
    return X[:n], y[:n]


def make_trainers(
    X: np.ndarray,
    X64: np.ndarray | None,
    y: np.ndarray,
    batch_size: int,
    sizes: tuple[int, ...],
    optim: dict[str, float],
    seed: int,
    torch: ModuleType | None,
    runners: list[str],
    workers: int,
    cleanup: ExitStack,
) -> dict[str, Callable[[], float]]:
    """One zero-argument "train one epoch" callable per runner, all from the same start.

    ``parallel`` and ``fused-parallel`` (data_parallel.py) run on ``workers``
    processes (skipped with one); ``cleanup`` stops their helper processes when the
    caller is done with the trainers.

    The reference, PyTorch and the fused loop start from the same weights and see the
    same batches in the same order (DataLoaders drawing permutations from the same seed).
    """
    model = nn.MLP(sizes, rng=seed)
    initial = [(layer.W.data.copy(), layer.b.data.copy()) for layer in model.layers[::2]]
    loss_fn = nn.CrossEntropyLoss()
    optimizer = nn.RMSProp(model.parameters(), **optim)
    batches = nn.DataLoader(X, y, batch_size, shuffle=True, rng=seed)
    trainers = {"reference": lambda: nn.train_epoch(model, loss_fn, optimizer, batches)}
    for name, kind in (("parallel", "modular"), ("fused-parallel", "fused")):
        if name in runners and workers > 1 and len(initial) == 2 and _has_threadpoolctl():
            peer = ParallelPeer(kind, initial, optim, X, y, batch_size, seed, workers)
            trainers[name] = cleanup.enter_context(peer).train_epoch
    if torch is not None and "pytorch" in runners:
        peer = TorchPeer(torch, initial, **optim)
        peer_batches = nn.DataLoader(X, y, batch_size, shuffle=True, rng=seed)
        trainers["pytorch"] = lambda: peer.train_epoch(peer_batches)
    if "fused" in runners and len(initial) == 2:
        fused = FusedNumPyNet(initial, **optim)
        fused_batches = nn.DataLoader(X, y, batch_size, shuffle=True, rng=seed)
        trainers["fused"] = lambda: fused.train_epoch(fused_batches)
    if X64 is not None and "original" in runners:
        original = OriginalNumPyNet(sizes, seed=seed, **optim)
        original_rng = np.random.default_rng(seed)
        trainers["original"] = lambda: original.train_epoch(X64, y, batch_size, original_rng)
    return {name: run for name, run in trainers.items() if name in runners}


@functools.cache  # the note is printed once
def _has_threadpoolctl() -> bool:
    """The data-parallel peers hold this process's BLAS at one thread through it."""
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        print("NOTE: threadpoolctl is not installed: the data-parallel runners are skipped.")
        return False
    return True


def time_epochs(
    trainers: dict[str, Callable[[], float]], repeats: int, settle: float
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds and mean loss of ``repeats`` epochs of each trainer, trainers interleaved.

    One untimed epoch each first (threads started, caches and pages warm). The order
    rotates every round so that slow drifts of a shared machine hit every trainer alike,
    and each epoch starts after ``settle`` idle seconds (speed.py's SETTLE_SECONDS says why).
    """
    names = list(trainers)
    times: dict[str, list[float]] = {name: [] for name in names}
    losses: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats + 1):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(settle)
            start = time.perf_counter()
            loss = trainers[name]()
            elapsed = time.perf_counter() - start
            if repeat > 0:
                times[name].append(elapsed)
                losses[name].append(float(loss))
    return times, losses
