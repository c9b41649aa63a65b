"""Data-parallel peers: the same training, split over several processes.

In one process, NumPy's BLAS spreads the two large matrix products over the cores,
but every element-wise pass (ReLU, softmax, the optimiser's nine passes over W1) and
the batch gather run on ONE core while the others wait: on two cores that is about
half of an epoch at batch 128. These peers measure what keeping every core busy buys.

``ParallelPeer`` starts ``workers - 1`` helper processes (this one is rank 0), each
with a replica of the model; parameters, gradients (one vector per process) and the
optimiser's state live in shared memory as flat float32 vectors. Per batch:

1. each process gathers ITS share of the batch's rows and writes the gradient of
   ``(their summed loss) / batch`` into its gradient vector; the shares add up to the
   gradient of the batch's MEAN loss;
2. all wait for each other; each sums the shares of ITS slice of the flat parameter
   vector and applies RMSProp to that slice only;
3. all wait again: every slice is updated, the next batch can start.

The maths (and the batch order: a permutation per epoch from ``default_rng(seed)``,
as ``DataLoader(shuffle=True, rng=seed)`` draws it) is the single-process one; only the
order of floating-point additions differs. ``tests/test_benchmarks.py`` checks both
take the same steps. Each process runs its BLAS on one thread. Two replicas:

* ``modular``: the reference's ``MLP``, ``CrossEntropyLoss`` and ``RMSProp`` (a
  ``Parameter`` per slice), every parameter a view of the shared vectors: what the
  course's own code would gain from processes;
* ``fused``: ``FusedNumPyNet``'s hand-fused forward, backward and update.

Not part of the course: it is here to put numbers on a design decision (see
benchmarks/README.md).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
from fused_numpy import FusedNumPyNet, flat_views

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Waiting for the other processes: spin (they are usually microseconds away), then block
# with a timeout and check that they are still alive.
_SPINS = 20_000
_POLL_SECONDS = 0.05


def split(total: int, parts: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each part of ``range(total)``; sizes differ by at most one."""
    base, extra = divmod(total, parts)
    bounds = np.cumsum([0] + [base + (k < extra) for k in range(parts)])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class _Shared:
    """Arrays in shared memory, picklable only when handed to a process at its start."""

    def __init__(self) -> None:
        self.buffers: dict[str, tuple[Any, str, tuple[int, ...]]] = {}

    def new(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        dtype = np.dtype(dtype)
        raw = mp.RawArray("b", max(int(np.prod(shape)) * dtype.itemsize, 1))
        self.buffers[name] = (raw, dtype.str, tuple(shape))
        return self[name]

    def __getitem__(self, name: str) -> np.ndarray:
        raw, dtype, shape = self.buffers[name]
        return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape))).reshape(shape)


class _Barrier:
    """Every process waits until all have arrived.

    ``posts[k][j]`` counts the arrivals of process j announced to process k. Semaphores
    rather than flags in shared memory: a release publishes the writes made before it
    to the process that acquires it, on every processor (flags would be enough on x86).
    """

    def __init__(self, posts: Sequence[Sequence[Any]], rank: int, alive: Callable[[], None]):
        self.posts, self.rank, self.alive = posts, rank, alive

    def wait(self) -> None:
        world = len(self.posts)
        for other in range(world):
            if other != self.rank:
                self.posts[other][self.rank].release()
        for other in range(world):
            if other == self.rank:
                continue
            semaphore = self.posts[self.rank][other]
            for _ in range(_SPINS):
                if semaphore.acquire(False):
                    break
            else:
                while not semaphore.acquire(timeout=_POLL_SECONDS):
                    self.alive()


class _Replica:
    """One process's part: its share of each batch, its slice of the parameter vector.

    Subclasses say how the share's gradient is written into this process's gradient
    vector (``gradient``) and how the slice is updated (``update``).
    """

    def __init__(self, shared: _Shared, rank: int, world: int, setup: dict) -> None:
        self.rank, self.world = rank, world
        self.X, self.y, self.order = shared["X"], shared["y"], shared["order"]
        self.grads = shared["grads"]
        self.lo, self.hi = split(len(shared["params"]), world)[rank]

    def run_epoch(self, rows: int, batch_size: int, barrier: _Barrier) -> float:
        """Train on ``order[:rows]`` in batches; returns this process's summed loss."""
        total = 0.0
        for start in range(0, rows, batch_size):
            batch = min(batch_size, rows - start)
            a, b = split(batch, self.world)[self.rank]
            index = self.order[start + a : start + b]
            total += self.gradient(self.X[index], self.y[index], batch)
            barrier.wait()  # every share of the gradient is written
            mine = self.grads[self.rank, self.lo : self.hi]
            for other in range(self.world):
                if other != self.rank:
                    mine += self.grads[other, self.lo : self.hi]
            self.update()
            barrier.wait()  # every slice is updated
        return total

    def gradient(self, X: np.ndarray, y: np.ndarray, batch: int) -> float:
        """Write the gradient of ``(summed loss of these rows) / batch``; the loss sum."""
        raise NotImplementedError

    def update(self) -> None:
        raise NotImplementedError


class _ModularReplica(_Replica):
    """The reference's MLP, loss and RMSProp, every array a view of the shared vectors."""

    def __init__(self, shared: _Shared, rank: int, world: int, setup: dict) -> None:
        super().__init__(shared, rank, world, setup)
        if str(ROOT / "solutions") not in sys.path:  # the reference, as epochs.py loads it
            sys.path.insert(0, str(ROOT / "solutions"))
        import numpynet as nn

        shapes = setup["shapes"]
        self.model = nn.MLP((shapes[0][0], *(shape[1] for shape in shapes[::2])), rng=0)
        self.loss_fn = nn.CrossEntropyLoss()
        params = self.model.parameters()  # W1, b1, W2, b2: the layout of the flat vector
        grad = self.grads[rank]
        views = zip(flat_views(shared["params"], shapes), flat_views(grad, shapes), strict=True)
        for p, (data, g) in zip(params, views, strict=True):
            p.data, p.grad = data, g
        piece = nn.Parameter(np.zeros(1, np.float32))
        piece.data, piece.grad = shared["params"][self.lo : self.hi], grad[self.lo : self.hi]
        self.optimizer = nn.RMSProp([piece], **setup["optim"])
        self.optimizer.square_avg = [shared["square_avg"][self.lo : self.hi]]

    def gradient(self, X: np.ndarray, y: np.ndarray, batch: int) -> float:
        self.grads[self.rank].fill(0)  # zero_grad of every parameter at once
        if not len(y):
            return 0.0
        loss = self.loss_fn.forward(self.model.forward(X), y) * len(y)
        dZ = self.loss_fn.backward()
        dZ *= len(y) / batch  # this share of the batch MEAN
        self.model.backward(dZ)
        return loss

    def update(self) -> None:
        self.optimizer.step()


class _FusedReplica(_Replica):
    """FusedNumPyNet's forward, backward and update, living in the shared vectors."""

    def __init__(self, shared: _Shared, rank: int, world: int, setup: dict) -> None:
        super().__init__(shared, rank, world, setup)
        buffers = (shared["params"], self.grads[rank], shared["square_avg"], shared["scratch"])
        self.fused = FusedNumPyNet(setup["weights"], **setup["optim"], buffers=buffers)

    def gradient(self, X: np.ndarray, y: np.ndarray, batch: int) -> float:
        if not len(y):
            self.fused.grads.fill(0)
            return 0.0
        return self.fused.gradients(X, y, batch)

    def update(self) -> None:
        self.fused.update(self.lo, self.hi)


REPLICAS = {"modular": _ModularReplica, "fused": _FusedReplica}


def _helper(rank: int, world: int, kind: str, shared: _Shared, setup: dict, posts, conn) -> None:
    """A helper process: build the replica, then train an epoch whenever rank 0 asks."""
    parent = mp.parent_process()

    def alive() -> None:
        if (parent is not None and not parent.is_alive()) or conn.poll():
            raise SystemExit  # rank 0 is gone, or stopped mid-epoch after a failure

    try:
        replica = REPLICAS[kind](shared, rank, world, setup)
        barrier = _Barrier(posts, rank, alive)
        conn.send(("ready", None))
        while True:
            while not conn.poll(_POLL_SECONDS):
                alive()
            message, args = conn.recv()
            if message == "stop":
                return
            conn.send(("done", replica.run_epoch(*args, barrier)))
    except SystemExit:
        return
    except BaseException:  # noqa: BLE001 - whatever it is, rank 0 reports it
        conn.send(("error", traceback.format_exc()))


class ParallelPeer:
    """Train 784-128-10 with RMSProp on ``workers`` processes, this one included.

    Args:
        kind: "modular" (the reference's classes) or "fused" (FusedNumPyNet).
        weights: ``[(W1, b1), (W2, b2)]`` float32, the starting point (copied).
        optim: ``{"lr", "alpha", "eps"}`` for RMSProp.
        X, y: the training set (copied into shared memory once).
        batch_size, seed: batches as ``DataLoader(X, y, batch_size, True, rng=seed)``.
        workers: processes (>= 2; with one there is nothing to split).

    Needs threadpoolctl (the dev extra) to hold rank 0's BLAS at one thread.
    Use as a context manager, or call ``close``.
    """

    def __init__(
        self,
        kind: str,
        weights: Sequence[tuple[np.ndarray, np.ndarray]],
        optim: dict[str, float],
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        seed: int,
        workers: int,
    ) -> None:
        from threadpoolctl import threadpool_limits  # fails early when missing

        if kind not in REPLICAS or workers < 2:
            raise ValueError(f"kind must be one of {tuple(REPLICAS)} and workers >= 2")
        self.limits = threadpool_limits
        self.batch_size, self.rng = batch_size, np.random.default_rng(seed)
        arrays = [array for pair in weights for array in pair]  # W1, b1, W2, b2
        self.shapes = [array.shape for array in arrays]
        self.shared = shared = _Shared()
        shared.new("params", (sum(a.size for a in arrays),), np.float32)[:] = np.concatenate(
            [array.ravel() for array in arrays]
        )
        size = len(shared["params"])
        shared.new("grads", (workers, size), np.float32)
        shared.new("square_avg", (size,), np.float32)
        shared.new("scratch", (size,), np.float32)
        shared.new("X", X.shape, X.dtype)[...] = X
        shared.new("y", y.shape, y.dtype)[...] = y
        shared.new("order", (len(X),), np.int64)
        setup = {"weights": list(weights), "shapes": self.shapes, "optim": dict(optim)}
        context = mp.get_context("spawn")  # the same on Linux, macOS and Windows
        posts = [[context.Semaphore(0) for _ in range(workers)] for _ in range(workers)]
        self.processes, self.conns = [], []
        # Messages read from a helper while waiting for another one, kept in order.
        self.inboxes: list[deque[tuple[str, Any]]] = []
        # Helpers inherit the environment at their start: one BLAS thread each.
        with patch.dict(os.environ, dict.fromkeys(THREAD_VARIABLES, "1")):
            for rank in range(1, workers):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_helper,
                    args=(rank, workers, kind, shared, setup, posts, theirs),
                    daemon=True,
                    name=f"parallel-peer-{rank}",
                )
                process.start()
                theirs.close()
                self.processes.append(process)
                self.conns.append(ours)
                self.inboxes.append(deque())
        try:
            self.replica = REPLICAS[kind](shared, 0, workers, setup)
            self.barrier = _Barrier(posts, 0, self._check_helpers)
            for index in range(len(self.conns)):
                self._receive(index, "ready")
        except BaseException:
            self.close()
            raise

    def train_epoch(self) -> float:
        """One shuffled pass over the data; the mean training loss."""
        rows = len(self.shared["X"])
        self.shared["order"][:] = self.rng.permutation(rows)
        try:
            with self.limits(limits=1, user_api="blas"):
                for conn in self.conns:
                    conn.send(("epoch", (rows, self.batch_size)))
                total = self.replica.run_epoch(rows, self.batch_size, self.barrier)
                for index in range(len(self.conns)):
                    total += self._receive(index, "done")
        except BaseException:
            self.close()
            raise
        return total / rows

    def parameters(self) -> list[np.ndarray]:
        """``[W1, b1, W2, b2]``: copies of the current values."""
        return [view.copy() for view in flat_views(self.shared["params"], self.shapes)]

    def close(self) -> None:
        """Stop the helpers (idempotent)."""
        for conn in self.conns:
            with suppress(OSError):  # a helper that died has closed its end
                conn.send(("stop", None))
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
        for conn in self.conns:
            conn.close()
        self.processes, self.conns, self.inboxes = [], [], []

    def __enter__(self) -> ParallelPeer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _receive(self, index: int, expected: str) -> Any:
        """The next message of helper ``index``, which must be ``expected``."""
        inbox = self.inboxes[index]
        while not inbox:
            self._check_helpers(wait=(index, _POLL_SECONDS))
        message, payload = inbox.popleft()
        if message != expected:
            raise RuntimeError(f"a data-parallel helper said {message!r}, not {expected!r}")
        return payload

    def _check_helpers(self, wait: tuple[int, float] | None = None) -> None:
        """Read what the helpers sent (into their inboxes); raise if one failed or died.

        ``wait=(index, seconds)`` first waits that long for a message from that helper.
        """
        if wait is not None:
            self.conns[wait[0]].poll(wait[1])
        for process, conn, inbox in zip(self.processes, self.conns, self.inboxes, strict=True):
            while conn.poll():
                message, payload = conn.recv()
                if message == "error":
                    raise RuntimeError(f"a data-parallel helper failed:\n{payload}")
                inbox.append((message, payload))
            if not process.is_alive():
                raise RuntimeError(f"a data-parallel helper died (exit code {process.exitcode})")
