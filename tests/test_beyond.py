"""Lesson 07's reference: Adam, AdamW, Dropout, modes, validate, early stopping, the trainer.

The expected values are written out here from PyTorch's documented rules, step by step in
plain Python floats (``torch.optim.Adam``, ``torch.optim.AdamW``, ``torch.nn.Dropout``), never
by calling the code under test. A cross-check against PyTorch itself runs when the bench
extra (torch) is installed, and is skipped otherwise.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numpynet as nn  # the reference: tests/conftest.py puts solutions/ first
from numpynet import cli, train

ROOT = Path(__file__).resolve().parents[1]
GRADS = [[0.5, -2.0], [1.0, 0.25], [-0.75, 3.0], [0.0, -1.0], [2.0, 0.5], [-1.5, -0.5]]


def adam_by_hand(p0, grads, lr, b1, b2, eps, wd, decoupled):
    """PyTorch's Adam/AdamW on a list of scalars, one float at a time (t counts steps)."""
    p = list(p0)
    m = [0.0] * len(p)
    v = [0.0] * len(p)
    history = []
    for t, g_step in enumerate(grads, start=1):
        for i, g in enumerate(g_step):
            if decoupled:
                p[i] = p[i] * (1 - lr * wd)
            elif wd:
                g = g + wd * p[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            p[i] = p[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
        history.append(list(p))
    return history


def run(optimizer_cls, grads, p0=(1.0, -0.5), **kwargs):
    """Two scalar parameters (float64) stepped by the reference: their values per step."""
    params = [nn.Parameter(np.array([value])) for value in p0]
    optimizer = optimizer_cls(params, **kwargs)
    history = []
    for g_step in grads:
        for p, g in zip(params, g_step, strict=True):
            p.grad = np.array([g])
        optimizer.step()
        for p, g in zip(params, g_step, strict=True):
            assert p.grad[0] == g, "step only reads p.grad"
        history.append([float(p.data[0]) for p in params])
    return history


@pytest.mark.parametrize("wd", [0.0, 0.1])
@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (0.05, (0.5, 0.8), 1e-3)])
def test_adam_follows_pytorchs_rule_for_six_steps(lr, betas, eps, wd) -> None:
    got = run(nn.Adam, GRADS, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    want = adam_by_hand((1.0, -0.5), GRADS, lr, *betas, eps, wd, decoupled=False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("wd", [0.0, 0.1, 1e-2])
def test_adamw_follows_pytorchs_rule_for_six_steps(wd) -> None:
    got = run(nn.AdamW, GRADS, lr=0.02, weight_decay=wd)
    want = adam_by_hand((1.0, -0.5), GRADS, 0.02, 0.9, 0.999, 1e-8, wd, decoupled=True)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_defaults_are_pytorchs() -> None:
    p = [nn.Parameter(np.zeros(1))]
    adam, adamw = nn.Adam(p), nn.AdamW(p)
    for opt, wd in ((adam, 0.0), (adamw, 1e-2)):
        assert (opt.lr, opt.betas, opt.eps, opt.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, wd)
    got = run(nn.AdamW, GRADS)
    want = adam_by_hand((1.0, -0.5), GRADS, 1e-3, 0.9, 0.999, 1e-8, 1e-2, decoupled=True)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_adam_counts_steps_once_per_step_and_keeps_float32() -> None:
    params = [nn.Parameter(np.ones((2, 3), dtype=np.float32)) for _ in range(3)]
    opt = nn.Adam(params, lr=0.1)
    for _ in range(4):
        for p in params:
            p.grad = np.full((2, 3), 0.5, dtype=np.float32)
        opt.step()
    assert opt.t == 4
    for p in params:  # a constant gradient: every step is lr (m_hat / sqrt(v_hat) = 1)
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, 1.0 - 4 * 0.1, rtol=1e-6)


def test_first_adam_step_is_lr_whatever_the_gradients_scale() -> None:
    for g in (1e-3, 1.0, 1e4):  # eps = 1e-8 is negligible beside |g| here
        (history,) = run(nn.Adam, [[g, -g]], lr=0.01)
        np.testing.assert_allclose(history, [1.0 - 0.01, -0.5 + 0.01], rtol=1e-6)


def test_optimisers_reject_bad_settings() -> None:
    p = [nn.Parameter(np.zeros(1))]
    for bad in ({"betas": (1.0, 0.9)}, {"eps": -1.0}, {"weight_decay": -0.1}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            nn.Adam(p, **bad)


# ---- dropout and modes ----------------------------------------------------------------------


def test_dropout_training_forward_and_backward_by_hand() -> None:
    X = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    layer = nn.Dropout(0.25, rng=3)
    keep = np.random.default_rng(3).random((3, 4)) >= 0.25  # the layer's first draw
    Y = layer.forward(X)
    assert Y.dtype == np.float32 and Y.shape == X.shape
    np.testing.assert_allclose(Y, np.where(keep, X / 0.75, 0.0), rtol=1e-6)
    dY = np.full((3, 4), 2.0, dtype=np.float32)
    np.testing.assert_allclose(layer.backward(dY), np.where(keep, 2.0 / 0.75, 0.0), rtol=1e-6)
    # Backward again: the same mask, nothing drawn.
    np.testing.assert_allclose(layer.backward(dY), np.where(keep, 2.0 / 0.75, 0.0), rtol=1e-6)
    rng = np.random.default_rng(3)
    rng.random((3, 4))
    second = rng.random((3, 4)) >= 0.25
    np.testing.assert_allclose(layer.forward(X), np.where(second, X / 0.75, 0.0), rtol=1e-6)


@pytest.mark.parametrize("p, train", [(0.0, True), (0.5, False), (0.0, False)])
def test_dropout_is_the_identity_in_eval_mode_or_with_p_zero(p, train) -> None:
    X = np.linspace(-1, 1, 12).reshape(3, 4)
    layer = nn.Dropout(p, rng=0)
    layer.train(train)
    state = layer.rng.bit_generator.state
    assert layer.forward(X) is X
    assert layer.backward(X) is X
    assert layer.rng.bit_generator.state == state, "nothing is drawn"


def test_dropout_keeps_the_expected_value() -> None:
    Y = nn.Dropout(0.3, rng=1).forward(np.ones((400, 500), dtype=np.float32))
    assert abs(float((Y != 0).mean()) - 0.7) < 0.01
    assert abs(float(Y.mean()) - 1.0) < 0.01


def test_dropout_rejects_p_outside_0_1() -> None:
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError):
            nn.Dropout(p)
    with pytest.raises(RuntimeError):
        nn.Dropout(0.5).backward(np.ones(3))


def test_train_and_eval_set_every_layer_and_return_the_module() -> None:
    model = nn.MLP((5, 7, 6, 3), rng=0, dropout=0.5)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    assert model.training and all(layer.training for layer in model.layers)
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in model.layers)
    assert model.train() is model and all(layer.training for layer in model.layers)


def test_dropout_does_not_change_the_initial_weights() -> None:
    plain, dropped = nn.MLP((6, 8, 3), rng=4), nn.MLP((6, 8, 3), rng=4, dropout=0.5)
    for a, b in zip(plain.parameters(), dropped.parameters(), strict=True):
        assert np.array_equal(a.data, b.data)


def test_validate_measures_in_eval_mode_and_restores_the_mode() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 5)).astype(np.float32), rng.integers(0, 3, 30)
    model = nn.MLP((5, 32, 3), rng=0, dropout=0.5)
    got = nn.validate(model, X, y)
    assert model.training
    assert nn.validate(model.eval(), X, y) == got and not model.training
    assert nn.evaluate(model, X, y) == got
    model.train()
    with pytest.raises(ValueError):
        nn.validate(model, X[:, :4], y)
    assert model.training, "restored when evaluate raises"


# ---- early stopping -------------------------------------------------------------------------


def test_early_stopping_keeps_copies_of_the_best_epoch() -> None:
    model = nn.MLP((3, 4, 2), rng=0)
    stopper = nn.EarlyStopping(patience=2)
    said = []
    for epoch, loss in enumerate([1.0, 0.5, 0.7, 0.5, 0.6], start=1):
        for p in model.parameters():
            p.data[...] = epoch  # in place, as an optimiser
        said.append(stopper.update(model, loss))
    assert said == [False, False, False, True, True]
    assert (stopper.best_epoch, stopper.best_loss, stopper.bad_epochs) == (2, 0.5, 3)
    stopper.restore(model)
    assert all(np.all(p.data == 2.0) for p in model.parameters())
    with pytest.raises(ValueError):
        nn.EarlyStopping(patience=0)
    with pytest.raises(RuntimeError):
        nn.EarlyStopping().restore(model)


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    X = np.random.default_rng(99).uniform(0, 1, (10, 784))[y] + rng.normal(0, 0.5, (n, 784))
    return np.clip(X, 0, 1).astype(np.float32), y


def splits(n_train: int = 600) -> train.Splits:
    return train.Splits(*synthetic(n_train, 1), *synthetic(200, 2), *synthetic(100, 3))


def test_fit_with_early_stopping_ends_on_the_best_epoch() -> None:
    config = train.TrainConfig(
        epochs=12, hidden=(64,), optimizer="adam", lr=3e-3, schedule="none", early_stopping=2
    )
    data = splits(200)
    result = train.fit(train.build_model(config), data, config)
    losses = [row["val_loss"] for row in result.history]
    best = int(np.argmin(losses)) + 1
    assert result.best_epoch == best
    assert len(losses) == 12 or len(losses) == best + 2, "stops after 2 bad epochs"
    np.testing.assert_allclose(
        nn.evaluate(result.model, data.X_val, data.y_val)[0], losses[best - 1], rtol=1e-5
    )


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "adam"},
        {"optimizer": "adamw", "weight_decay": 0.05},
        {"dropout": 0.3},
        {"optimizer": "adamw", "dropout": 0.2, "early_stopping": 2},
    ],
    ids=str,
)
def test_every_new_option_trains(options) -> None:
    config = train.TrainConfig(epochs=3, hidden=(32,), **options)
    result = train.fit(train.build_model(config), splits(), config)
    assert result.history[-1]["val_acc"] > 0.4  # chance is 0.1; 3 short epochs
    assert not result.model.training, "fit leaves the model in evaluation mode"


def test_config_defaults_and_refusals() -> None:
    assert train.TrainConfig(optimizer="adamw").weight_decay == 1e-2
    assert train.TrainConfig(optimizer="adam").weight_decay == 0.0
    assert train.TrainConfig(optimizer="adam").lr == 1e-3
    for bad in (
        {"weight_decay": 0.1},  # RMSProp has no weight decay
        {"optimizer": "adam", "weight_decay": -1.0},
        {"dropout": 1.0},
        {"early_stopping": 0},
    ):
        with pytest.raises(ValueError):
            train.TrainConfig(**bad)


def test_save_and_load_keep_the_dropout_layout(tmp_path: Path) -> None:
    model = nn.MLP((6, 8, 8, 3), rng=0, dropout=0.5).eval()
    path = train.save_model(model, tmp_path / "model.npz")
    loaded = train.load_model(path)
    X = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    assert not loaded.training
    assert np.array_equal(loaded.forward(X), model.forward(X))


def test_cli_passes_the_new_options() -> None:
    args = cli.build_parser().parse_args(
        ["train", "--optimizer", "adamw", "--weight-decay", "0.05", "--dropout", "0.2"]
        + ["--early-stopping", "3"]
    )
    assert (args.optimizer, args.weight_decay, args.dropout, args.early_stopping) == (
        "adamw",
        0.05,
        0.2,
        3,
    )


def test_cli_refuses_weight_decay_without_adam(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--weight-decay", "0.1", "--no-progress"])
    assert exit_.value.code == 2
    assert "needs adam or adamw" in capsys.readouterr().err


def course_package(target: Path) -> Path:
    """The reference with lesson 07's regions as stubs: a course student before lesson 07."""
    from autograder.examples.build import replace_region
    from autograder.exercises import BEYOND_EXERCISES

    package = target / "numpynet"
    package.mkdir(parents=True)
    for path in (ROOT / "solutions" / "numpynet").glob("*.py"):
        (package / path.name).write_bytes(path.read_bytes())
    for exercise in BEYOND_EXERCISES:
        file = package / exercise.module
        stub = f'raise NotImplementedError("{exercise.stub_message}")'
        file.write_text(replace_region(file.read_text(), exercise, stub))
    return target


@pytest.mark.slow
def test_the_course_trains_without_lesson_07_and_names_it_when_asked(tmp_path: Path) -> None:
    course = course_package(tmp_path / "course")
    program = (
        "import numpy as np, sys\n"
        "sys.path.insert(0, 'TESTS')\n"
        "from test_beyond import splits\n"
        "from numpynet import train\n"
        "options = eval(sys.argv[1])\n"
        "config = train.TrainConfig(epochs=1, hidden=(16,), **options)\n"
        "try:\n"
        "    train.fit(train.build_model(config), splits(100), config)\n"
        "except NotImplementedError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    print('trained')\n"
    ).replace("TESTS", str(ROOT / "tests"))
    said = {}
    for options in ("{}", "{'optimizer': 'adam'}", "{'dropout': 0.5}", "{'early_stopping': 1}"):
        done = subprocess.run(
            [sys.executable, "-c", program, options],
            cwd=course,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": str(course), "PATH": ""},
        )
        assert done.returncode == 0, done.stderr
        said[options] = done.stdout.strip()
    assert said["{}"] == "trained", said
    assert said["{'optimizer': 'adam'}"].startswith("Exercise 7.1: Adam step")
    assert said["{'dropout': 0.5}"].startswith("Exercise 7.3: Dropout forward")
    assert said["{'early_stopping': 1}"].startswith("Exercise 7.6: early stopping")


# ---- PyTorch, when the bench extra is installed ---------------------------------------------


def test_adam_and_adamw_match_torch_when_installed() -> None:
    torch = pytest.importorskip("torch", reason="the bench extra (PyTorch) is not installed")
    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    for ours, theirs, kwargs in (
        (nn.Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
        (nn.AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
    ):
        p = nn.Parameter(start.copy())
        t = torch.tensor(start.copy(), requires_grad=True)
        mine, peer = ours([p], **kwargs), theirs([t], **kwargs)
        for g in grads:
            p.grad = g.copy()
            t.grad = torch.tensor(g)
            mine.step()
            peer.step()
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_cli_trains_with_every_new_option_on_a_tiny_mnist_subset(tmp_path: Path) -> None:
    import json

    from test_train import MNIST, run_module

    if MNIST is None:
        pytest.skip("real MNIST not found (set MNIST_DIR)")
    tiny = ["--epochs", "4", "--limit-train", "1500", "--limit-test", "500", "--val-size", "300"]
    options = ["--optimizer", "adamw", "--weight-decay", "0.05", "--dropout", "0.2"]
    done = run_module(
        ROOT / "solutions", tmp_path, *tiny, *options, "--early-stopping", "1", "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    config = metrics["config"]
    assert (config["optimizer"], config["weight_decay"], config["dropout"]) == ("adamw", 0.05, 0.2)
    assert config["early_stopping"] == 1
    losses = [row["val_loss"] for row in metrics["history"]]
    best = int(np.argmin(losses)) + 1
    assert f"weights of epoch {best}" in done.stdout
    assert metrics["test"]["accuracy"] > 0.7  # chance is 0.1
    loaded = train.load_model(tmp_path / "model.npz")
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
