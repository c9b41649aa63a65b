"""The trainer (numpynet/train.py) and its command line (numpynet/cli.py).

Fast tests train on a small synthetic data set; the command-line tests that need the
real MNIST run on a tiny subset of it and are skipped when it is not found.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpynet as nn  # the reference: tests/conftest.py puts solutions/ first
from numpynet import cli, train

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def mnist_dir() -> Path | None:
    """The real MNIST, when MNIST_DIR or ../shared/data/mnist holds it."""
    for candidate in (os.environ.get("MNIST_DIR"), ROOT.parent / "shared" / "data" / "mnist"):
        if candidate and (Path(candidate) / "train-labels-idx1-ubyte.gz").is_file():
            return Path(candidate)
    return None


MNIST = mnist_dir()
needs_mnist = pytest.mark.skipif(MNIST is None, reason="real MNIST not found (set MNIST_DIR)")


def synthetic_splits(n_train: int = 600, n_val: int = 200, n_test: int = 200) -> train.Splits:
    """Ten noisy 'digits': each class is its own random 784-pixel template plus noise.

    Learnable but not trivial (noise of half the templates' range), so a model that
    does not train stays near chance (10%).
    """
    rng = np.random.default_rng(1234)
    templates = rng.uniform(0, 1, size=(10, 784))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, size=n)
        X = templates[y] + rng.normal(0, 0.5, size=(n, 784))
        return np.clip(X, 0, 1).astype(np.float32), y.astype(np.int64)

    return train.Splits(*draw(n_train), *draw(n_val), *draw(n_test))


SMALL = dict(epochs=3, batch_size=32, hidden=(32,), val_size=200, seed=0)


# ---- schedules ------------------------------------------------------------------------------


def test_constant_schedule_keeps_the_rate() -> None:
    config = train.TrainConfig(lr=0.01, schedule="none", epochs=5)
    assert [train.learning_rate(config, e) for e in range(5)] == [0.01] * 5


def test_cosine_schedule_follows_the_half_cosine() -> None:
    # With E = 4: cos(0) = 1, cos(pi/4) = sqrt(2)/2, cos(pi/2) = 0, cos(3 pi/4) = -sqrt(2)/2.
    config = train.TrainConfig(lr=0.1, schedule="cosine", epochs=4)
    half = math.sqrt(2) / 2
    expected = [0.1, 0.1 * (1 + half) / 2, 0.05, 0.1 * (1 - half) / 2]
    assert [train.learning_rate(config, e) for e in range(4)] == pytest.approx(expected, rel=1e-12)


def test_step_schedule_decays_every_step_size_epochs() -> None:
    config = train.TrainConfig(lr=1.0, schedule="step", epochs=7, step_size=3, gamma=0.5)
    expected = [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert [train.learning_rate(config, e) for e in range(7)] == pytest.approx(expected)


def test_default_learning_rate_depends_on_the_optimiser() -> None:
    assert train.TrainConfig(optimizer="rmsprop").lr == 2e-3
    assert train.TrainConfig(optimizer="sgd").lr == 0.1
    assert train.TrainConfig(optimizer="sgd", lr=0.5).lr == 0.5


@pytest.mark.parametrize(
    "bad",
    [{"optimizer": "lbfgs"}, {"schedule": "linear"}, {"epochs": 0}, {"val_size": 0}],
)
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(ValueError):
        train.TrainConfig(**bad)


def test_fit_sets_the_scheduled_rate_on_the_optimiser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rate each epoch TRAINS with (seen by the optimiser's step), not only the one logged."""
    seen: list[float] = []
    original_step = nn.RMSProp.step

    def spying_step(self: nn.RMSProp) -> None:
        seen.append(self.lr)
        original_step(self)

    monkeypatch.setattr(nn.RMSProp, "step", spying_step)
    config = train.TrainConfig(
        **{**SMALL, "lr": 0.004, "schedule": "step", "step_size": 1, "gamma": 0.5}
    )
    splits = synthetic_splits(n_train=64)
    result = train.fit(train.build_model(config), splits, config, progress=False)
    per_epoch = [0.004, 0.002, 0.001]
    assert [row["lr"] for row in result.history] == pytest.approx(per_epoch)
    assert seen == pytest.approx(np.repeat(per_epoch, 2))  # 64 images, batch 32: 2 steps


# ---- validation split -----------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(2, 500),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_is_a_disjoint_cover_fixed_by_the_seed(n: int, fraction: float, seed: int) -> None:
    val_size = min(n - 1, max(1, int(fraction * n)))
    fit_idx, val = train.split_indices(n, val_size, seed)
    assert len(val) == val_size and len(fit_idx) == n - val_size
    assert np.intersect1d(fit_idx, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([fit_idx, val])), np.arange(n))
    again = train.split_indices(n, val_size, seed)
    assert np.array_equal(again[0], fit_idx) and np.array_equal(again[1], val)


def test_split_depends_on_the_seed_and_is_not_the_tail() -> None:
    _, val0 = train.split_indices(60000, 5000, 0)
    _, val1 = train.split_indices(60000, 5000, 1)
    assert not np.array_equal(val0, val1)
    assert val0.min() < 1000 and val0.max() > 59000  # spread over the set, not a block


@pytest.mark.parametrize("val_size", [0, 10, 11])
def test_split_rejects_sizes_that_leave_a_part_empty(val_size: int) -> None:
    with pytest.raises(ValueError):
        train.split_indices(10, val_size, 0)


def test_make_splits_keeps_validation_rows_out_of_training() -> None:
    # Each row carries its own index, so the rows themselves show where they came from.
    X = np.repeat(np.arange(100, dtype=np.float32)[:, None], 3, axis=1)
    y = np.arange(100) % 10
    X_test, y_test = np.zeros((30, 3), np.float32), np.zeros(30, np.int64)
    config = train.TrainConfig(val_size=20, seed=3, limit_train=80, limit_test=25)
    s = train.make_splits(X, y, X_test, y_test, config)
    train_ids, val_ids = s.X_train[:, 0].astype(int), s.X_val[:, 0].astype(int)
    assert len(val_ids) == 20 and len(train_ids) == 60
    assert set(train_ids).isdisjoint(val_ids)
    assert set(train_ids) | set(val_ids) == set(range(80))  # limit_train: the first 80
    assert np.array_equal(s.y_train, train_ids % 10) and np.array_equal(s.y_val, val_ids % 10)
    assert len(s.X_test) == 25


# ---- training -------------------------------------------------------------------------------


def test_fit_reduces_the_loss_and_beats_chance() -> None:
    splits = synthetic_splits()
    config = train.TrainConfig(**SMALL)
    model = train.build_model(config)
    loss_before, _ = nn.evaluate(model, splits.X_val, splits.y_val)
    result = train.fit(model, splits, config, progress=False)
    assert len(result.history) == config.epochs
    last = result.history[-1]
    assert last["val_loss"] < 0.5 * loss_before
    assert last["train_loss"] < result.history[0]["train_loss"]
    _, test_acc = nn.evaluate(result.model, splits.X_test, splits.y_test)
    assert test_acc > 0.6  # chance is 0.1
    assert all(row["seconds"] > 0 for row in result.history)


def test_training_is_reproducible_from_the_seed() -> None:
    splits = synthetic_splits(n_train=200)
    config = train.TrainConfig(**{**SMALL, "epochs": 2})
    a = train.fit(train.build_model(config), splits, config, progress=False)
    b = train.fit(train.build_model(config), splits, config, progress=False)
    logits = [train.predict_logits(r.model, splits.X_test) for r in (a, b)]
    assert np.array_equal(logits[0], logits[1])


def test_the_seed_sets_both_the_initial_weights_and_the_batch_order() -> None:
    splits = synthetic_splits(n_train=200)
    config0 = train.TrainConfig(**{**SMALL, "epochs": 1, "seed": 0})
    config1 = train.TrainConfig(**{**SMALL, "epochs": 1, "seed": 1})
    W0 = train.build_model(config0).layers[0].W.data
    assert not np.array_equal(W0, train.build_model(config1).layers[0].W.data)
    # Same initial weights, other seed: only the batch order differs, and so does the result.
    a = train.fit(train.build_model(config0), splits, config0, progress=False)
    c = train.fit(train.build_model(config0), splits, config1, progress=False)
    assert not np.allclose(a.model.layers[0].W.data, c.model.layers[0].W.data)


@needs_mnist
@pytest.mark.slow
def test_fit_learns_a_small_mnist_subset() -> None:
    X, y = nn.load_mnist("train", MNIST)
    X_test, y_test = nn.load_mnist("test", MNIST)
    config = train.TrainConfig(epochs=2, val_size=500, limit_train=3000, limit_test=1000)
    splits = train.make_splits(X, y, X_test, y_test, config)
    result = train.fit(train.build_model(config), splits, config, progress=False)
    _, test_acc = nn.evaluate(result.model, splits.X_test, splits.y_test)
    assert test_acc > 0.8


def test_sgd_with_momentum_trains_too() -> None:
    splits = synthetic_splits()
    config = train.TrainConfig(**{**SMALL, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9})
    result = train.fit(train.build_model(config), splits, config, progress=False)
    assert result.history[-1]["val_acc"] > 0.6


# ---- the epoch callback (the class challenge's grader reads each epoch through it) ------------


def weights_of(model: nn.MLP) -> list[np.ndarray]:
    return [p.data.copy() for p in model.parameters()]


def test_on_epoch_sees_each_row_and_the_training_model_and_a_true_return_stops() -> None:
    splits = synthetic_splits(n_train=200)
    config = train.TrainConfig(**{**SMALL, "epochs": 5})
    model = train.build_model(config)
    calls: list[tuple[dict, bool]] = []

    def on_epoch(row: dict, seen: nn.MLP) -> bool:
        assert seen is model
        calls.append((row, seen.training))
        return row["epoch"] == 2

    result = train.fit(model, splits, config, on_epoch=on_epoch)
    assert len(result.history) == 2 and [row["epoch"] for row, _ in calls] == [1, 2]
    assert all(row is kept for (row, _), kept in zip(calls, result.history, strict=True))
    assert all(training for _, training in calls) and not model.training  # eval at the end


def test_on_epoch_returning_nothing_changes_nothing() -> None:
    splits = synthetic_splits(n_train=200)
    config = train.TrainConfig(**{**SMALL, "epochs": 3})
    plain = train.fit(train.build_model(config), splits, config)
    called = train.fit(train.build_model(config), splits, config, on_epoch=lambda r, m: None)
    assert [{**r, "seconds": 0} for r in plain.history] == [
        {**r, "seconds": 0} for r in called.history
    ]
    for a, b in zip(weights_of(plain.model), weights_of(called.model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_still_restores_the_best_epoch_when_on_epoch_stops_the_run() -> None:
    """The stopping epoch is recorded by early stopping too: stopped on a new best it is kept,
    stopped after the best the best one is restored."""
    splits = synthetic_splits(n_train=60)  # over-fits: the validation loss goes up and down
    config = train.TrainConfig(
        **{**SMALL, "epochs": 12, "optimizer": "adam", "lr": 0.03, "early_stopping": 100}
    )
    snapshots: list[list[np.ndarray]] = []
    full = train.fit(
        train.build_model(config),
        splits,
        config,
        on_epoch=lambda r, m: snapshots.append(weights_of(m)),
    )
    losses = [row["val_loss"] for row in full.history]
    new_best = [k for k in range(1, len(losses)) if losses[k] < min(losses[:k])]
    after_best = [k for k in range(1, len(losses)) if losses[k] >= min(losses[:k])]
    assert new_best and after_best, losses  # the setting has both kinds of epoch
    for k in (new_best[-1], after_best[0]):
        best = int(np.argmin(losses[: k + 1]))

        def stop_at(row: dict, model: nn.MLP, k: int = k) -> bool:
            return row["epoch"] == k + 1

        result = train.fit(train.build_model(config), splits, config, on_epoch=stop_at)
        assert len(result.history) == k + 1 and result.best_epoch == best + 1
        for a, b in zip(weights_of(result.model), snapshots[best], strict=True):
            np.testing.assert_array_equal(a, b)


# ---- saving ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(784, 128, 10), (20, 7, 5, 3)])
def test_save_and_load_give_identical_logits(tmp_path: Path, sizes: tuple[int, ...]) -> None:
    model = nn.MLP(sizes, rng=7)
    for p in model.parameters():  # biases are zeros at init: make them count
        p.data = p.data + np.float32(0.1)
    path = train.save_model(model, tmp_path / "sub" / "model.npz")
    loaded = train.load_model(path)
    assert loaded.sizes == sizes
    X = np.random.default_rng(0).random((16, sizes[0]), dtype=np.float32)
    assert np.array_equal(loaded.forward(X), model.forward(X))
    for before, after in zip(model.parameters(), loaded.parameters(), strict=True):
        assert after.data.dtype == before.data.dtype
    with np.load(path, allow_pickle=False) as stored:  # plain arrays only, no objects
        assert all(stored[key].dtype != object for key in stored.files)


def test_load_model_rejects_a_wrong_shape(tmp_path: Path) -> None:
    model = nn.MLP((6, 4, 3), rng=0)
    arrays = {"sizes": np.array([6, 4, 3])}
    arrays |= {"layers.0.W": np.zeros((6, 4)), "layers.0.b": np.zeros(4)}
    arrays |= {"layers.2.W": np.zeros((4, 2)), "layers.2.b": np.zeros(3)}  # W should be (4, 3)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="layers.2.W"):
        train.load_model(tmp_path / "bad.npz")
    train.save_model(model, tmp_path / "good.npz")
    assert train.load_model(tmp_path / "good.npz").sizes == (6, 4, 3)


# ---- outputs --------------------------------------------------------------------------------


def test_write_metrics_json_and_csv_agree_with_the_history(tmp_path: Path) -> None:
    config = train.TrainConfig(epochs=2)
    history = [
        {"epoch": e, "lr": 0.1 / e, "train_loss": 1.0 / e, "train_acc": 0.5 + e / 10,
         "val_loss": 1.5 / e, "val_acc": 0.4 + e / 10, "seconds": 2.0 * e}
        for e in (1, 2)
    ]  # fmt: skip
    result = train.TrainResult(model=nn.MLP((4, 3), rng=0), history=history)
    result.test_loss, result.test_acc = 0.25, 0.875
    train.write_metrics(result, config, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"] == history
    assert metrics["test"] == {"loss": 0.25, "accuracy": 0.875}
    assert metrics["config"]["epochs"] == 2 and metrics["config"]["optimizer"] == "rmsprop"
    assert metrics["seconds_per_epoch"] == pytest.approx(3.0)
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for key in ("lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"):
        assert [float(r[key]) for r in rows] == [row[key] for row in history], key
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert set(rows[0]) == {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                            "seconds"}  # fmt: skip


def test_run_writes_every_output_and_the_reported_test_accuracy_is_true(tmp_path: Path) -> None:
    splits = synthetic_splits()
    config = train.TrainConfig(**{**SMALL, "epochs": 2})
    result = train.run(config, tmp_path, splits=splits, progress=False)
    for name in ("metrics.json", "metrics.csv", "model.npz", *train.FIGURES):
        assert (tmp_path / name).is_file(), name
    for name in train.FIGURES:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC, name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # Recompute the test accuracy from the saved model, independently of the trainer.
    logits = train.load_model(tmp_path / "model.npz").forward(splits.X_test)
    accuracy = float(np.mean(logits.argmax(axis=1) == splits.y_test))
    assert metrics["test"]["accuracy"] == pytest.approx(accuracy)
    assert result.test_acc == pytest.approx(accuracy)


# ---- the command line -----------------------------------------------------------------------


def test_stub_message_names_the_exercise_and_the_lesson() -> None:
    lesson = "lessons/02_softmax_cross_entropy.ipynb"
    error = NotImplementedError(f"Exercise 2.1: softmax - see {lesson}")
    assert cli.not_implemented_message(error) == (
        f"Exercise 2.1 not implemented yet: softmax - see {lesson}"
    )
    assert cli.not_implemented_message(NotImplementedError()) == (
        "Not implemented yet: NotImplementedError"
    )


def test_cli_turns_not_implemented_into_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    def unfinished(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("Exercise 1.1: Linear He initialisation - see lessons/01.ipynb")

    monkeypatch.setattr(cli, "load_splits", lambda config, data_dir: synthetic_splits())
    monkeypatch.setattr("numpynet.mnist.ensure_mnist", lambda data_dir=None: tmp_path)
    monkeypatch.setattr("numpynet.train.build_model", unfinished)
    status = cli.main(["train", "--out", str(tmp_path), "--no-progress", "--val-size", "200"])
    err = capsys.readouterr().err
    assert status == 2
    assert "Exercise 1.1 not implemented yet: Linear He initialisation" in err
    assert "Traceback" not in err


def test_cli_rejects_bad_options_with_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "epochs" in capsys.readouterr().err


def run_module(cwd: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd), "MNIST_DIR": str(MNIST)}
    command = [sys.executable, "-m", "numpynet", "train", "--out", str(tmp_path), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@needs_mnist
@pytest.mark.slow
def test_cli_end_to_end_on_a_tiny_mnist_subset(tmp_path: Path) -> None:
    tiny = ["--epochs", "2", "--limit-train", "1200", "--limit-test", "500", "--val-size", "200"]
    done = run_module(ROOT / "solutions", tmp_path, *tiny, "--seed", "5", "--no-progress")
    assert done.returncode == 0, done.stderr
    for name in ("metrics.json", "metrics.csv", "model.npz", *train.FIGURES):
        assert (tmp_path / name).is_file(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert metrics["config"]["seed"] == 5 and metrics["config"]["limit_train"] == 1200
    assert metrics["test"]["accuracy"] > 0.7  # chance is 0.1
    assert "TEST accuracy" in done.stdout


@needs_mnist
@pytest.mark.slow
def test_cli_on_the_student_stubs_names_the_first_missing_exercise(tmp_path: Path) -> None:
    from autograder.exercises import get
    from autograder.release import build_package

    # The package a student starts from, generated here as `release` would (not read from
    # ./numpynet, which may be stale): every exercise raises NotImplementedError.
    course = tmp_path / "course"
    for name, content in build_package(ROOT / "solutions" / "numpynet").items():
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        (course / name).write_bytes(content)
    tiny = ["--epochs", "1", "--limit-train", "300", "--limit-test", "100", "--val-size", "100"]
    done = run_module(course, tmp_path / "run", *tiny, "--no-progress")
    assert done.returncode == 2, done.stdout + done.stderr
    first = get("ex1_1")  # He initialisation: the first exercise building the model needs
    assert done.stderr.strip() == (
        f"Exercise 1.1 not implemented yet: {first.title} - see {first.lesson}"
    )
