"""The speed benchmark and the fast paths of the reference it times.

No timing is asserted here (speed is measured by benchmarks/speed.py, as ratios). These
tests check that the benchmark runs and reports what it says, that it compares like with
like (same model, batches and optimiser as PyTorch), and that every speed-up in the
reference keeps the maths: RMSProp against torch.optim.RMSprop, the skipped dX of the
first layer, the per-batch gather of the DataLoader, buffers that never alias.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpynet as nn  # the reference: tests/conftest.py puts solutions/ first

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from data_parallel import ParallelPeer, split  # noqa: E402
from fused_numpy import FusedNumPyNet  # noqa: E402
from gemm_floor import epoch_flops  # noqa: E402
from original_numpynet import OriginalNumPyNet  # noqa: E402
from torch_peer import TorchPeer  # noqa: E402

try:
    import torch
except ImportError:  # the optional extra `bench` is not installed
    torch = None
needs_torch = pytest.mark.skipif(
    torch is None, reason="PyTorch not installed (pip install -e '.[bench]')"
)
FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}


# ---- the benchmark script -----------------------------------------------------------------


def run_speed(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run benchmarks/speed.py on tiny synthetic data; return its JSON report."""
    out = tmp_path / "speed.json"
    command = [sys.executable, str(BENCHMARKS / "speed.py"), "--samples", "96", "--repeats", "2"]
    command += ["--batch-sizes", "32", "64", "--data", "synthetic", "--threads", "1"]
    command += ["--gemm-seconds", "0.005", "--settle", "0", "--out", str(out), *args]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    report["stdout"] = result.stdout
    return report


def test_speed_script_reports_every_runner_and_ratio(tmp_path):
    report = run_speed(tmp_path)
    runners = {"reference", "fused", "original"} | ({"pytorch"} if torch is not None else set())
    assert [row["batch_size"] for row in report["results"]] == [32, 64]
    for row in report["results"]:
        seconds = row["seconds_per_epoch"]
        assert set(seconds) == runners | {"floor"}
        assert all(len(row["all_seconds"][name]) == 2 for name in runners)  # --repeats 2
        assert seconds["reference"] == pytest.approx(
            float(np.median(row["all_seconds"]["reference"]))
        )
        assert row["ratios"]["reference/floor"] == pytest.approx(
            seconds["reference"] / seconds["floor"]
        )
        if torch is not None:
            ratio = seconds["reference"] / seconds["pytorch"]
            assert row["ratios"]["reference/pytorch"] == pytest.approx(ratio)
        losses = row["mean_loss_per_epoch"]["reference"]
        assert all(np.isfinite(losses)) and losses[-1] < np.log(10) + 0.5
    # The floor is the epoch's GEMM FLOPs over the best measured rate.
    floor = report["results"][0]["seconds_per_epoch"]["floor"]
    assert floor == pytest.approx(
        epoch_flops((784, 128, 10), 96) / (report["gemm"]["peak_gflops"] * 1e9)
    )
    assert "ref/torch" in report["stdout"] and "ref/floor" in report["stdout"]
    assert report["settle_seconds"] == 0.0
    # One process (--threads 1): nothing to split, so no data-parallel runner.
    assert "parallel" not in report["results"][0]["seconds_per_epoch"]


def test_speed_script_times_the_data_parallel_peers(tmp_path):
    report = run_speed(
        tmp_path, "--threads", "2", "--runners", "reference", "parallel", "fused-parallel"
    )
    for row in report["results"]:
        seconds, ratios = row["seconds_per_epoch"], row["ratios"]
        assert set(seconds) == {"reference", "parallel", "fused-parallel", "floor"}
        for runner in ("parallel", "fused-parallel"):
            assert ratios[f"{runner}/floor"] == pytest.approx(seconds[runner] / seconds["floor"])
            losses = row["mean_loss_per_epoch"][runner]
            # The same batches and maths as the reference: the same mean losses.
            np.testing.assert_allclose(losses, row["mean_loss_per_epoch"]["reference"], rtol=1e-4)
    assert "fused-parallel held to the same targets" in report["stdout"]


def test_speed_script_sets_the_thread_count(tmp_path):
    report = run_speed(tmp_path, "--runners", "reference")
    environment = report["environment"]
    assert environment["threads_requested"] == 1
    assert environment["thread_pools"]["environment"]["OPENBLAS_NUM_THREADS"] == "1"
    blas = [p for p in environment["thread_pools"]["pools"] if p["user_api"] == "blas"]
    assert all(pool["num_threads"] == 1 for pool in blas)  # empty without threadpoolctl
    assert "OPENBLAS_CORETYPE" in environment["thread_pools"]["environment"]


def test_speed_script_runs_without_torch(tmp_path):
    # A `torch` that fails to import, found first on the path: as if it were not installed.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("raise ImportError('no torch here')\n")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    report = run_speed(tmp_path, env=env)
    assert "PyTorch is not installed" in report["stdout"]
    assert report["environment"]["torch"] is None
    for row in report["results"]:
        assert "pytorch" not in row["seconds_per_epoch"]
        assert "reference/pytorch" not in row["ratios"]
        assert {"reference", "original", "floor"} <= set(row["seconds_per_epoch"])


def test_rmsprop_variants_script_prints_every_variant_as_a_ratio():
    command = [sys.executable, str(BENCHMARKS / "rmsprop_variants.py"), "--steps", "3"]
    result = subprocess.run(
        [*command, "--threads", "1"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for variant in ("nine passes", "sqrt only", "chunks 8", "two threads"):
        assert variant in result.stdout and f"{variant} (after a product)" in result.stdout
    assert "1.00 x nine passes" in result.stdout


def test_speed_script_skips_the_data_parallel_peers_without_threadpoolctl(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "threadpoolctl.py").write_text("raise ImportError('no threadpoolctl here')\n")
    env = {**os.environ, "PYTHONPATH": str(fake)}
    report = run_speed(tmp_path, "--threads", "2", "--runners", "reference", "parallel", env=env)
    assert "data-parallel runners are skipped" in report["stdout"]
    assert all(set(row["seconds_per_epoch"]) == {"reference", "floor"} for row in report["results"])


def test_epoch_flops_counts_five_products_not_six():
    # 784-128-10 per sample: forward 2 products, backward dW for both layers and dX for
    # the second only; 2 FLOPs per multiply-add.
    big, small = 784 * 128, 128 * 10
    assert epoch_flops((784, 128, 10), 1) == 2 * (2 * big + 3 * small)
    assert epoch_flops((784, 128, 10), 60000) == 60000 * 2 * (2 * big + 3 * small)
    assert epoch_flops((3, 4, 5, 2), 1) == 2 * (2 * 12 + 3 * 20 + 3 * 10)


def test_original_loop_learns_in_float64():
    rng = np.random.default_rng(0)
    X = rng.random((256, 6))
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    net = OriginalNumPyNet((6, 16, 2), seed=0, lr=1e-2)
    assert net.layers[0].W.dtype == np.float64
    losses = [net.train_epoch(X, y, 32, np.random.default_rng(1)) for _ in range(30)]
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]


# ---- PyTorch cross-checks: the peer computes what the reference computes ------------------


@needs_torch
def test_rmsprop_matches_torch_over_many_steps():
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (5, 3)]
    params = [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    mirrors = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    ours = nn.RMSProp(params, lr=1e-2, alpha=0.9, eps=1e-6)
    theirs = torch.optim.RMSprop(mirrors, lr=1e-2, alpha=0.9, eps=1e-6)
    for step in range(25):
        for p, m in zip(params, mirrors, strict=True):
            g = rng.standard_normal(p.shape).astype(np.float32) * 10.0 ** (step % 3 - 1)
            p.grad[...] = g
            m.grad = torch.from_numpy(g.copy())
        grads = [p.grad.copy() for p in params]
        ours.step()
        theirs.step()
        for p, m, g in zip(params, mirrors, grads, strict=True):
            np.testing.assert_allclose(p.data, m.detach().numpy(), **FLOAT32)
            np.testing.assert_array_equal(p.grad, g)  # step reads the gradient only
    for v, m in zip(ours.square_avg, mirrors, strict=True):
        np.testing.assert_allclose(v, theirs.state[m]["square_avg"].numpy(), **FLOAT32)


@needs_torch
def test_benchmark_peers_train_alike():
    """Same start, batches and optimiser: the reference and the PyTorch peer agree."""
    rng = np.random.default_rng(3)
    X = rng.random((200, 20), dtype=np.float32)
    y = rng.integers(0, 4, 200)
    model = nn.MLP((20, 16, 4), rng=0)
    peer = TorchPeer(
        torch, [(layer.W.data, layer.b.data) for layer in model.layers[::2]], 1e-3, 0.99, 1e-8
    )
    optimizer = nn.RMSProp(model.parameters(), lr=1e-3)
    for _ in range(3):
        ours = nn.train_epoch(
            model, nn.CrossEntropyLoss(), optimizer, nn.DataLoader(X, y, 32, shuffle=True, rng=5)
        )
        theirs = peer.train_epoch(nn.DataLoader(X, y, 32, shuffle=True, rng=5))
        assert ours == pytest.approx(theirs, rel=1e-5)
    linears = [module for module in peer.model if isinstance(module, torch.nn.Linear)]
    for layer, linear in zip(model.layers[::2], linears, strict=True):
        np.testing.assert_allclose(
            layer.W.data, linear.weight.detach().numpy().T, rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(layer.b.data, linear.bias.detach().numpy(), rtol=1e-4, atol=1e-5)


# ---- the plain-NumPy alternatives take the reference's steps --------------------------------


def small_problem(n: int = 250) -> tuple[np.ndarray, np.ndarray, nn.MLP]:
    rng = np.random.default_rng(3)
    X = rng.random((n, 20), dtype=np.float32)
    return X, rng.integers(0, 4, n), nn.MLP((20, 16, 4), rng=0)


def weights_of(model: nn.MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(layer.W.data.copy(), layer.b.data.copy()) for layer in model.layers[::2]]


def assert_same_parameters(model: nn.MLP, arrays: list[np.ndarray]) -> None:
    ours = [a for layer in model.layers[::2] for a in (layer.W.data, layer.b.data)]
    for mine, theirs in zip(ours, arrays, strict=True):
        np.testing.assert_allclose(theirs, mine, rtol=1e-4, atol=1e-5)


def test_fused_loop_takes_the_reference_steps():
    X, y, model = small_problem()
    fused = FusedNumPyNet(weights_of(model), lr=1e-3, alpha=0.99, eps=1e-8)
    optimizer = nn.RMSProp(model.parameters(), lr=1e-3)
    ours_batches = nn.DataLoader(X, y, 32, shuffle=True, rng=5)
    fused_batches = nn.DataLoader(X, y, 32, shuffle=True, rng=5)
    for _ in range(3):
        ours = nn.train_epoch(model, nn.CrossEntropyLoss(), optimizer, ours_batches)
        assert fused.train_epoch(fused_batches) == pytest.approx(ours, rel=1e-5)
    assert_same_parameters(model, [fused.W1, fused.b1, fused.W2, fused.b2])
    np.testing.assert_allclose(
        fused.square_avg, np.concatenate([v.ravel() for v in optimizer.square_avg]), rtol=1e-4
    )


@pytest.mark.parametrize(("kind", "workers"), [("modular", 2), ("fused", 2), ("modular", 3)])
def test_parallel_peers_take_the_single_process_steps(kind, workers):
    # Batch 33 over 250 rows: shares of 17 and 16 rows, and a last batch of 19.
    X, y, model = small_problem()
    optim = {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8}
    optimizer = nn.RMSProp(model.parameters(), **optim)
    batches = nn.DataLoader(X, y, 33, shuffle=True, rng=5)
    with ParallelPeer(kind, weights_of(model), optim, X, y, 33, seed=5, workers=workers) as peer:
        for _ in range(2):
            ours = nn.train_epoch(model, nn.CrossEntropyLoss(), optimizer, batches)
            assert peer.train_epoch() == pytest.approx(ours, rel=1e-5)
        assert_same_parameters(model, peer.parameters())
        helpers = list(peer.processes)
        assert len(helpers) == workers - 1 and all(p.is_alive() for p in helpers)
    assert not any(p.is_alive() for p in helpers)  # closing stops every helper


def test_parallel_peer_stops_its_helpers_when_training_fails():
    X, y, model = small_problem(64)
    y[5] = 9  # no such class among 4: the loss cannot index it
    optim = {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8}
    peer = ParallelPeer("modular", weights_of(model), optim, X, y, 32, seed=0, workers=2)
    helpers = list(peer.processes)
    # Whichever process meets the bad row first, the error names it (a helper's comes
    # back with its traceback).
    with pytest.raises((IndexError, RuntimeError), match="index 9 is out of bounds"):
        peer.train_epoch()
    assert peer.processes == [] and not any(p.is_alive() for p in helpers)


def test_parallel_peer_keeps_a_message_that_comes_while_it_waits_for_another_helper():
    # Helper 2 is ready before helper 1: waiting for helper 1 must not take helper 2's
    # message for a failure (the first CI run of this code met exactly that).
    import multiprocessing
    import threading
    from types import SimpleNamespace

    pipes = [multiprocessing.Pipe() for _ in range(2)]
    peer = ParallelPeer.__new__(ParallelPeer)
    peer.processes = [SimpleNamespace(is_alive=lambda: True, exitcode=None)] * 2
    peer.conns = [ours for ours, _ in pipes]
    peer.inboxes = [deque(), deque()]
    pipes[1][1].send(("ready", None))
    threading.Timer(0.2, pipes[0][1].send, [("ready", "first")]).start()
    assert peer._receive(0, "ready") == "first"
    assert peer._receive(1, "ready") is None
    pipes[0][1].send(("error", "Traceback: boom"))
    with pytest.raises(RuntimeError, match="boom"):
        peer._receive(0, "done")


@given(st.integers(0, 1000), st.integers(1, 9))
def test_split_covers_the_range_in_near_equal_parts(total, parts):
    pieces = split(total, parts)
    assert pieces[0][0] == 0 and pieces[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    sizes = [b - a for a, b in pieces]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


# ---- the fast paths of the reference keep the maths ----------------------------------------


def test_mlp_skips_only_the_first_dx():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((9, 6)), rng.integers(0, 3, 9)
    fast, full = nn.MLP((6, 5, 4, 3), rng=2), nn.MLP((6, 5, 4, 3), rng=2)
    full.layers[0].input_grad = True
    assert [getattr(layer, "input_grad", None) for layer in fast.layers] == [
        False,
        None,
        True,
        None,
        True,  # fmt: skip
    ]
    returned = {}
    for name, model in (("fast", fast), ("full", full)):
        for p in model.parameters():
            p.data = p.data.astype(np.float64)
        loss_fn = nn.CrossEntropyLoss()
        loss_fn.forward(model.forward(X), y)
        returned[name] = model.backward(loss_fn.backward())
    assert returned["fast"] is None and returned["full"].shape == X.shape
    for a, b in zip(fast.parameters(), full.parameters(), strict=True):
        np.testing.assert_array_equal(a.grad, b.grad)
    # ... and those gradients are right: a float64 numerical check of every parameter.
    loss_fn = nn.CrossEntropyLoss()
    for p in fast.parameters():
        numeric = nn.numerical_gradient(lambda: loss_fn.forward(fast.forward(X), y), p.data)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-6, atol=1e-8)


def test_linear_without_input_grad_returns_none_and_same_parameter_grads():
    rng = np.random.default_rng(1)
    X, dY = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 2))
    a, b = nn.Linear(3, 2, rng=0), nn.Linear(3, 2, rng=0)
    b.input_grad = False
    for layer in (a, b):
        layer.forward(X)
    assert a.backward(dY.astype(np.float32)).shape == X.shape
    assert b.backward(dY.astype(np.float32)) is None
    np.testing.assert_array_equal(a.W.grad, b.W.grad)
    np.testing.assert_array_equal(a.b.grad, b.b.grad)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_dataloader_gathers_each_batch_from_one_permutation(
    n, batch_size, shuffle, drop_last, seed
):
    X = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    loader = nn.DataLoader(X, y, batch_size, shuffle=shuffle, rng=seed, drop_last=drop_last)
    batches = list(loader)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    expected = [order[s : s + batch_size] for s in range(0, stop, batch_size)]
    assert len(batches) == len(expected) == len(loader)
    for (Xb, yb), index in zip(batches, expected, strict=True):
        np.testing.assert_array_equal(yb, index)
        np.testing.assert_array_equal(Xb, X[index])  # rows stay with their labels
        # Batches are fresh copies, gathered when they are used: safe to keep or change.
        assert not np.shares_memory(Xb, X)


def test_shuffled_loader_draws_a_new_order_every_epoch():
    X, y = np.zeros((50, 1), np.float32), np.arange(50)
    loader = nn.DataLoader(X, y, 50, shuffle=True, rng=0)
    first, second = (next(iter(loader))[1] for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(50))
    assert not np.array_equal(first, second)


def test_rmsprop_updates_parameters_and_state_in_place():
    rng = np.random.default_rng(2)
    p = nn.Parameter(rng.standard_normal((4, 3)).astype(np.float32))
    p.grad[...] = rng.standard_normal((4, 3))
    data, start, grad = p.data, p.data.astype(np.float64), p.grad.copy()
    optimizer = nn.RMSProp([p], lr=0.1)
    state = optimizer.square_avg[0]
    optimizer.step()
    assert p.data is data  # updated in place: layers holding p.data see the step
    assert optimizer.square_avg[0] is state  # the running mean square too
    assert p.data.dtype == state.dtype == np.float32
    np.testing.assert_array_equal(p.grad, grad)  # the gradient is only read
    v = 0.01 * grad.astype(np.float64) ** 2
    np.testing.assert_allclose(optimizer.square_avg[0], v, rtol=1e-6)
    np.testing.assert_allclose(p.data, start - 0.1 * grad / (np.sqrt(v) + 1e-8), **FLOAT32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "make", [lambda: nn.ReLU(), lambda: nn.Linear(6, 6, rng=0)], ids=["relu", "linear"]
)
def test_layer_backward_leaves_dy_alone_and_returns_fresh_arrays(make, dtype):
    rng = np.random.default_rng(5)
    layer = make()
    for p in layer.parameters():
        p.data = p.data.astype(dtype)
    X, dY = rng.standard_normal((5, 6)).astype(dtype), rng.standard_normal((5, 6)).astype(dtype)
    kept = dY.copy()
    layer.forward(X)
    first = layer.backward(dY)
    second = layer.backward(dY)
    np.testing.assert_array_equal(dY, kept)
    np.testing.assert_array_equal(first, second)
    assert not np.shares_memory(first, dY) and not np.shares_memory(first, second)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_passes_leave_the_callers_dy_alone(dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 6)).astype(dtype)
    model = nn.MLP((6, 4, 3), rng=0)
    model.layers[0].input_grad = True
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    dZ = rng.standard_normal((5, 3)).astype(dtype)
    kept = dZ.copy()
    model.forward(X)
    dX1 = model.backward(dZ)
    dX2 = model.backward(dZ)  # buffers reused inside must not leak into results
    np.testing.assert_array_equal(dZ, kept)
    np.testing.assert_array_equal(dX1, dX2)
    assert dX1.dtype == dtype and not np.shares_memory(dX1, dX2)
