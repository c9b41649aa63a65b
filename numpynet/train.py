"""The trainer: everything around ``train_epoch`` that turns the parts into a result.

Nothing here is an exercise. It is the driver you run with ``python -m numpynet train``:

1. load MNIST and hold out a VALIDATION split from the 60,000 training images
   (random, fixed by the seed), so that choices are never made on the test set;
2. build the 784-128-10 MLP and its optimiser, then per epoch set the learning rate
   from the schedule, run ``train_epoch`` (with a progress bar) and ``evaluate`` on
   the training part and the validation split;
3. measure the TEST accuracy once, at the end, on the 10,000 test images;
4. write ``metrics.json``, ``metrics.csv``, ``model.npz`` and the figures.

The defaults (batch 32, RMSProp lr 2e-3, cosine decay over 10 epochs) reach about
98.1% test accuracy (98.10%, 98.13% and 98.06% for seeds 0, 1 and 2).

Lesson 07's options: Adam and AdamW (``optimizer``, ``weight_decay``), dropout between
the layers (``dropout``; then every measurement runs through ``validate``, in evaluation
mode) and early stopping (``early_stopping``: the patience; the best validation epoch's
weights are kept). With none of them the run needs no lesson-07 exercise.

The class challenge (lesson 07, section 7.7): ``recipe_config`` / ``load_recipe`` turn a
recipe (a JSON object of some of these settings, within ``RECIPE_LIMITS``) into a
TrainConfig; ``challenge_fit`` is what the grader calls in its sandbox, and
``python -m numpynet train --recipe challenge.json`` the same run locally, on the training
images only (``validation_splits``): it never loads the test set.
"""

from __future__ import annotations

import csv
import difflib
import errno
import json
import math
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import DataLoader
from .layers import MLP, Linear
from .loop import EarlyStopping, evaluate, train_epoch, validate
from .loss import CrossEntropyLoss
from .module import Module
from .optim import SGD, Adam, AdamW, Optimizer, RMSProp

OPTIMIZERS = ("rmsprop", "sgd", "adam", "adamw")
SCHEDULES = ("none", "cosine", "step")
# A learning rate that works for each optimiser when --lr is not given. SGD needs a
# much larger one: RMSProp divides the gradient by its RMS, SGD does not.
DEFAULT_LR = {"rmsprop": 2e-3, "sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
# PyTorch's defaults: Adam adds no penalty, AdamW decays by 1e-2.
DEFAULT_WEIGHT_DECAY = {"adam": 0.0, "adamw": 1e-2}


@dataclass
class TrainConfig:
    """Every choice a training run makes; saved with its metrics.

    Attributes:
        epochs: passes over the training part.
        batch_size: samples per optimiser step.
        lr: the initial learning rate; ``None`` takes ``DEFAULT_LR[optimizer]``.
        optimizer: "rmsprop", "sgd", "adam" or "adamw".
        momentum: SGD's momentum (ignored by RMSProp).
        schedule: how the learning rate changes between epochs, see ``learning_rate``.
        step_size, gamma: the "step" schedule multiplies the rate by ``gamma`` every
            ``step_size`` epochs.
        seed: fixes the validation split, the initial weights and the batch order.
        val_size: images held out of the 60,000 for validation.
        hidden: widths of the hidden layers (the course's MLP has one of 128).
        limit_train, limit_test: use only the first N images (quick tests and demos).
        weight_decay: Adam's L2 penalty or AdamW's decoupled decay; ``None`` takes
            ``DEFAULT_WEIGHT_DECAY`` (Adam and AdamW only).
        dropout: the probability of ``Dropout`` after each hidden ReLU (0: none).
        early_stopping: the patience in epochs (``None``: train every epoch); the run
            ends with the weights of the epoch with the lowest validation loss.
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None
    optimizer: str = "rmsprop"
    momentum: float = 0.9
    schedule: str = "cosine"
    step_size: int = 3
    gamma: float = 0.3
    seed: int = 0
    val_size: int = 5000
    hidden: tuple[int, ...] = (128,)
    limit_train: int | None = None
    limit_test: int | None = None
    weight_decay: float | None = None
    dropout: float = 0.0
    early_stopping: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.step_size < 1:
            raise ValueError("epochs, batch_size and step_size must be at least 1")
        if self.val_size < 1:
            raise ValueError(f"val_size must be at least 1, got {self.val_size}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        if self.weight_decay is None:
            self.weight_decay = DEFAULT_WEIGHT_DECAY.get(self.optimizer, 0.0)
        if self.weight_decay < 0 or (
            self.weight_decay and self.optimizer not in DEFAULT_WEIGHT_DECAY
        ):
            raise ValueError(
                f"weight_decay must be >= 0 and needs adam or adamw, got {self.weight_decay} "
                f"with {self.optimizer}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ValueError(f"early_stopping (patience) must be >= 1, got {self.early_stopping}")
        self.hidden = tuple(int(h) for h in self.hidden)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths of the MLP, input (784 pixels) first, 10 classes last."""
        return (784, *self.hidden, 10)


@dataclass
class Splits:
    """The three data sets of a run. X: float32 (N, 784) in [0, 1]; y: int64 (N,)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@dataclass
class TrainResult:
    """What ``fit`` and ``run`` produce.

    Attributes:
        model: the trained MLP.
        history: one dict per epoch with keys ``epoch`` (1-based), ``lr``,
            ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (losses: mean
            cross-entropy, accuracies in [0, 1], both measured after the epoch) and
            ``seconds`` (training time of the epoch, evaluation excluded).
        test_loss, test_acc: on the test set, after the last epoch (``run`` only).
        best_epoch: with early stopping, the epoch whose weights the model holds.
    """

    model: MLP
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    test_loss: float | None = None
    test_acc: float | None = None


# --------------------------------------------------------------------------- pieces


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate for ``epoch`` (0-based) under ``config.schedule``.

    With base rate r and E epochs:
        none:   r
        cosine: r * (1 + cos(pi * epoch / E)) / 2   from r down towards 0
        step:   r * gamma ** (epoch // step_size)
    """
    base = float(config.lr)
    if config.schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
    if config.schedule == "step":
        return base * config.gamma ** (epoch // config.step_size)
    return base


def split_indices(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into training and validation indices at random.

    Returns:
        (train_idx, val_idx): int64 arrays of sizes n - val_size and val_size,
        disjoint, together every index once, each sorted; the same for the same seed.

    Raises:
        ValueError: unless 0 < val_size < n.
    """
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be between 1 and {n - 1}, got {val_size}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def make_splits(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    config: TrainConfig,
) -> Splits:
    """Hold out ``config.val_size`` of the training images for validation.

    ``limit_train`` / ``limit_test`` keep only the first N images first.
    """
    if config.limit_train is not None:
        X, y = X[: config.limit_train], y[: config.limit_train]
    if config.limit_test is not None:
        X_test, y_test = X_test[: config.limit_test], y_test[: config.limit_test]
    train_idx, val_idx = split_indices(len(X), config.val_size, config.seed)
    return Splits(X[train_idx], y[train_idx], X[val_idx], y[val_idx], X_test, y_test)


def make_optimizer(config: TrainConfig, model: Module) -> Optimizer:
    """RMSProp, SGD (with ``config.momentum``), Adam or AdamW over the model's parameters."""
    if config.optimizer == "sgd":
        return SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    if config.optimizer == "adam":
        return Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return RMSProp(model.parameters(), lr=config.lr)


def measure(config: TrainConfig) -> Any:
    """What measures loss and accuracy: ``validate`` with dropout, else ``evaluate``.

    Without dropout the mode changes nothing, so a course without lesson 07 never needs
    ``validate`` (Exercise 7.5).
    """
    return validate if config.dropout > 0 else evaluate


def predict_logits(model: Module, X: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """The model's logits for every row of ``X`` (N, D): shape (N, K), in chunks."""
    chunks = [model.forward(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
    return np.concatenate(chunks, axis=0)


class _ProgressLoss(CrossEntropyLoss):
    """The usual loss, which also keeps the epoch's running mean for the progress bar."""

    def __init__(self, bar: Any | None, every: int = 25) -> None:
        super().__init__()
        self.bar, self.every = bar, every
        self.total, self.count, self.calls = 0.0, 0, 0

    @property
    def running_mean(self) -> float:
        return self.total / max(self.count, 1)

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        loss = super().forward(logits, targets)
        self.total += loss * len(targets)
        self.count += len(targets)
        self.calls += 1
        if self.bar is not None:
            self.bar.update(1)
            # Redrawing the text on every batch would cost more than a small batch.
            if self.calls % self.every == 0:
                self.bar.set_postfix(loss=f"{self.running_mean:.4f}", refresh=False)
        return loss


def _progress_bar(total: int, description: str, enabled: bool) -> Any | None:
    """A tqdm bar counting batches; updated by the loss, closed by the caller."""
    if not enabled:
        return None
    # Plain text bars (not tqdm.auto: without ipywidgets it warns in notebooks).
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="batch", leave=True)


# --------------------------------------------------------------------------- training


def fit(
    model: MLP,
    splits: Splits,
    config: TrainConfig,
    progress: bool = False,
    on_epoch: Callable[[dict, MLP], bool | None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``splits.X_train`` for ``config.epochs`` epochs.

    Before each epoch the optimiser's ``lr`` is set from the schedule; after it,
    the training part and the validation split are evaluated. The test set is
    not touched here. ``progress`` shows a bar per epoch on stderr (the command
    line turns it on). With ``config.early_stopping`` training stops after that many
    epochs without a lower validation loss, and the model gets back the weights of the
    best epoch. The model is left in evaluation mode.

    ``on_epoch(row, model)``, if given, is called after each epoch once its history row
    is appended (the model still in training mode, holding that epoch's weights), before
    early stopping records the epoch. A true return value stops training after this
    epoch; early stopping still records it and restores the best epoch's weights.

    Returns:
        a TrainResult with the model and the per-epoch history (no test figures).
    """
    loader = DataLoader(
        splits.X_train, splits.y_train, config.batch_size, shuffle=True, rng=_rngs(config)[1]
    )
    optimizer = make_optimizer(config, model)
    result = TrainResult(model=model)
    measure_ = measure(config)
    stopper = EarlyStopping(config.early_stopping) if config.early_stopping else None
    model.train()
    for epoch in range(config.epochs):
        optimizer.lr = learning_rate(config, epoch)
        bar = _progress_bar(len(loader), f"epoch {epoch + 1}/{config.epochs}", progress)
        loss_fn = _ProgressLoss(bar)
        start = time.perf_counter()
        train_epoch(model, loss_fn, optimizer, loader)
        seconds = time.perf_counter() - start
        train_loss, train_acc = measure_(model, splits.X_train, splits.y_train)
        val_loss, val_acc = measure_(model, splits.X_val, splits.y_val)
        if bar is not None:
            bar.set_postfix(loss=f"{loss_fn.running_mean:.4f}", val_acc=f"{val_acc:.2%}")
            bar.close()
        result.history.append(
            {
                "epoch": epoch + 1,
                "lr": optimizer.lr,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "seconds": seconds,
            }
        )
        stop = bool(on_epoch(result.history[-1], model)) if on_epoch is not None else False
        if stopper is not None and stopper.update(model, val_loss):
            stop = True
        if stop:
            break
    if stopper is not None:
        stopper.restore(model)
        result.best_epoch = stopper.best_epoch
    model.eval()
    return result


def _rngs(config: TrainConfig) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators (initial weights, batch order), both fixed by the seed."""
    weights, order = np.random.SeedSequence(config.seed).spawn(2)
    return np.random.default_rng(weights), np.random.default_rng(order)


def build_model(config: TrainConfig) -> MLP:
    """The MLP of ``config.sizes``, initialised from the seed."""
    return MLP(config.sizes, rng=_rngs(config)[0], dropout=config.dropout)


# --------------------------------------------------------------------------- saving


def save_model(model: MLP, path: str | Path) -> Path:
    """Save an MLP's sizes and weights to an ``.npz`` file (no pickle).

    Keys: ``sizes`` (int64, e.g. [784, 128, 10]), ``dropout`` (float64 scalar: where the
    layers sit) and, for the Linear layer at position i of ``model.layers``,
    ``layers.{i}.W`` (D, M) and ``layers.{i}.b`` (M,).
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "sizes": np.asarray(model.sizes, dtype=np.int64),
        "dropout": np.asarray(getattr(model, "dropout", 0.0), dtype=np.float64),
    }
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Linear):
            arrays[f"layers.{i}.W"] = layer.W.data
            arrays[f"layers.{i}.b"] = layer.b.data
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def load_model(path: str | Path) -> MLP:
    """Load an MLP written by ``save_model``; the file is read with ``allow_pickle=False``.

    Raises:
        ValueError: if a stored array is missing or has the wrong shape.
    """
    with np.load(path, allow_pickle=False) as stored:
        sizes = tuple(int(s) for s in stored["sizes"])
        dropout = float(stored["dropout"]) if "dropout" in stored else 0.0
        model = MLP(sizes, rng=0, dropout=dropout)  # weights are overwritten below
        model.eval()
        for i, layer in enumerate(model.layers):
            if not isinstance(layer, Linear):
                continue
            for name in ("W", "b"):
                key = f"layers.{i}.{name}"
                if key not in stored:
                    raise ValueError(f"{path}: missing array {key!r}")
                parameter = getattr(layer, name)
                value = stored[key]
                if value.shape != parameter.shape:
                    raise ValueError(
                        f"{path}: {key} has shape {value.shape}, expected {parameter.shape}"
                    )
                parameter.data = value
    return model


CSV_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")


def write_metrics(result: TrainResult, config: TrainConfig, out: str | Path) -> dict:
    """Write ``metrics.json`` (everything) and ``metrics.csv`` (one row per epoch).

    Returns:
        the dict written to ``metrics.json``: ``config``, ``history``, ``test``
        (``loss``, ``accuracy``), ``seconds_per_epoch`` (mean of the epochs).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seconds = [row["seconds"] for row in result.history]
    metrics = {
        "config": asdict(config),
        "history": result.history,
        "test": {"loss": result.test_loss, "accuracy": result.test_acc},
        "seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in CSV_COLUMNS} for row in result.history)
    return metrics


FIGURES = (
    "curves.png",
    "predictions.png",
    "confusion_matrix.png",
    "most_confused.png",
    "first_layer_weights.png",
)
# The figures that need no test set: all a run without one (``--recipe``) draws.
VALIDATION_FIGURES = ("curves.png", "first_layer_weights.png")


def write_figures(result: TrainResult, splits: Splits, out: str | Path, seed: int = 0) -> list:
    """Draw the five figures of ``FIGURES`` into ``out``; returns their paths.

    With an empty test set (a challenge recipe's run) only ``VALIDATION_FIGURES``: the
    other three show test images.
    """
    from . import plots  # matplotlib is imported only when figures are drawn

    out = Path(out)
    if len(splits.X_test) == 0:
        paths = [out / name for name in VALIDATION_FIGURES]
        plots.plot_curves(result.history, path=paths[0])
        plots.plot_first_layer_weights(result.model.layers[0].W.data, path=paths[1])
        return paths
    logits = predict_logits(result.model, splits.X_test)
    y_pred = logits.argmax(axis=1)
    # A random sample, not the first images: the grid then shows a fair share of errors.
    rng = np.random.default_rng(seed)
    sample = rng.choice(len(splits.X_test), size=min(20, len(splits.X_test)), replace=False)
    first = result.model.layers[0]
    paths = [out / name for name in FIGURES]
    figures = [
        plots.plot_curves(result.history, test_accuracy=result.test_acc, path=paths[0]),
        plots.plot_prediction_grid(
            splits.X_test[sample], logits[sample], splits.y_test[sample], path=paths[1]
        ),
        plots.plot_confusion_matrix(splits.y_test, y_pred, path=paths[2]),
        plots.plot_most_confused(splits.X_test, logits, splits.y_test, path=paths[3]),
        plots.plot_first_layer_weights(first.W.data, path=paths[4]),
    ]
    del figures  # figures are not attached to pyplot: dropping them frees them
    return paths


# --------------------------------------------------------------------------- the run


def load_splits(config: TrainConfig, data_dir: str | Path | None = None) -> Splits:
    """MNIST's training and test sets, split as ``make_splits`` describes."""
    from .mnist import load_mnist

    X, y = load_mnist("train", data_dir)
    X_test, y_test = load_mnist("test", data_dir)
    return make_splits(X, y, X_test, y_test, config)


def validation_splits(X: np.ndarray, y: np.ndarray, config: TrainConfig) -> Splits:
    """``make_splits`` of training images alone: the test set of the result is empty.

    X: float32 (N, 784), y: int64 (N,). What a challenge recipe trains on, locally
    (``python -m numpynet train --recipe``) and in the grader's sandbox (``challenge_fit``).
    """
    return make_splits(X, y, X[:0], y[:0], config)


def run(
    config: TrainConfig,
    out: str | Path,
    splits: Splits | None = None,
    data_dir: str | Path | None = None,
    progress: bool = False,
    figures: bool = True,
) -> TrainResult:
    """Train, test, and write metrics, the model and (optionally) the figures to ``out``.

    Args:
        config: the hyper-parameters and seed.
        out: the folder to write to (created if needed).
        splits: the data; ``None`` loads MNIST (from ``data_dir`` / ``MNIST_DIR``). With
            an empty test set (``validation_splits``) nothing is tested: ``test_loss`` and
            ``test_acc`` stay ``None``.
        data_dir: where MNIST is (or goes); ``None``: ``MNIST_DIR`` or the cache.
        progress: show a progress bar per epoch.
        figures: also write the figures (``FIGURES``, see ``write_figures``).

    Files written: metrics.json, metrics.csv, model.npz and ``FIGURES``.
    """
    if splits is None:
        splits = load_splits(config, data_dir)
    result = fit(build_model(config), splits, config, progress=progress)
    if len(splits.X_test):
        measured = measure(config)(result.model, splits.X_test, splits.y_test)
        result.test_loss, result.test_acc = measured
    out = Path(out)
    write_metrics(result, config, out)
    save_model(result.model, out / "model.npz")
    if figures:
        write_figures(result, splits, out, seed=config.seed)
    return result


# --------------------------------------------------------------------------- the class challenge
#
# A challenge recipe is a JSON object holding some of TrainConfig's hyper-parameters (the
# rest take TrainConfig's defaults). The grader reads a student's recipe with the
# REFERENCE's `recipe_config` (so the limits below are the grader's), trains the student's
# package with it through `challenge_fit` in its sandbox, and measures the test accuracy of
# the weights it gets back itself.

MAX_RECIPE_BYTES = 64 * 1024  # a recipe is a dozen keys: anything larger is not one


@dataclass(frozen=True)
class Limit:
    """What one recipe key accepts.

    Attributes:
        kind: "int" (a JSON integer; true/false are not integers), "number" (an integer
            or a float), "choice" (one of ``choices``) or "sizes" (a list of 1 to
            ``max_items`` integers in ``low..high``, whose MLP has at most
            ``max_parameters`` weights and biases).
        low, high: the bounds, inclusive unless ``low_open`` / ``high_open``.
        choices: the strings a "choice" accepts.
        null: what JSON ``null`` means for this key (TrainConfig's ``None``); "" when
            null is not accepted.
        max_items, max_parameters: the "sizes" limits.
    """

    kind: str
    low: int | float | None = None
    high: int | float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    null: str = ""
    max_items: int = 0
    max_parameters: int = 0

    def describe(self) -> str:
        """What is allowed, in words, e.g. "an integer in 1..200" or "a number in (0, 10]"."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(choice) for choice in self.choices)
        elif self.kind == "int":
            text = f"an integer in {self.low}..{self.high}"
        elif self.kind == "number":
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"a number in {left}{self.low:g}, {self.high:g}{right}"
        else:
            text = (
                f"a list of 1 to {self.max_items} integers in {self.low}..{self.high} (the "
                f"hidden widths; at most {self.max_parameters:,} parameters in all)"
            )
        return f"{text}, or null ({self.null})" if self.null else text

    def check(self, key: str, value: Any) -> Any:
        """``value`` if it is allowed, else a ValueError naming ``key`` and what is allowed.

        Looks only at the value's type and, for a list, at its at most ``max_items``
        elements: the cost is bounded whatever ``value`` is.
        """
        if value is None and self.null:
            return None
        ok = False
        if self.kind == "choice":
            ok = type(value) is str and value in self.choices
        elif self.kind in ("int", "number"):
            ok = self._in_bounds(value)
        elif isinstance(value, list | tuple) and 1 <= len(value) <= self.max_items:
            ok = all(_is_int(width) and self.low <= width <= self.high for width in value)
        if not ok:
            raise ValueError(f"recipe key {key!r} must be {self.describe()}, got {_show(value)}")
        if self.kind == "sizes":
            sizes = (784, *value, 10)
            count = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
            if count > self.max_parameters:
                raise ValueError(
                    f"recipe key {key!r}: an MLP {'-'.join(map(str, sizes))} has {count:,} "
                    f"parameters; at most {self.max_parameters:,} are allowed"
                )
            return tuple(value)
        return float(value) if self.kind == "number" else value

    def _in_bounds(self, value: Any) -> bool:
        number = _is_int(value) or (self.kind == "number" and type(value) is float)
        if not number or (type(value) is float and not math.isfinite(value)):
            return False
        # Compared as given (a huge JSON integer is not converted to a float first).
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


def _is_int(value: Any) -> bool:
    """An int and not a bool (JSON's true/false become Python's bool, a subclass of int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, then its type: for error messages."""
    text = repr(value)
    text = text if len(text) <= limit else text[:limit] + "..."
    return f"{text} ({type(value).__name__})"


# Every key a recipe may set, with its limits: enough for any sensible MNIST MLP, small
# enough that the grader's sandbox never allocates much (5 million float32 parameters:
# 20 MB a copy) and a run ends by itself in reasonable time.
RECIPE_LIMITS: dict[str, Limit] = {
    "hidden": Limit("sizes", low=1, high=2048, max_items=4, max_parameters=5_000_000),
    "optimizer": Limit("choice", choices=OPTIMIZERS),
    "lr": Limit("number", low=0, high=10, low_open=True, null="the optimiser's default"),
    "momentum": Limit("number", low=0, high=1, high_open=True),
    "weight_decay": Limit("number", low=0, high=10, null="the optimiser's default"),
    "schedule": Limit("choice", choices=SCHEDULES),
    "step_size": Limit("int", low=1, high=200),
    "gamma": Limit("number", low=0, high=1, low_open=True),
    "epochs": Limit("int", low=1, high=200),
    "batch_size": Limit("int", low=1, high=60_000),
    "dropout": Limit("number", low=0, high=1, high_open=True),
    "early_stopping": Limit("int", low=1, high=200, null="no early stopping"),
    "seed": Limit("int", low=0, high=2**32 - 1),
    "val_size": Limit("int", low=1, high=30_000),
}
RECIPE_KEYS: tuple[str, ...] = tuple(RECIPE_LIMITS)


def recipe_config(recipe: Mapping[str, Any]) -> TrainConfig:
    """The TrainConfig of a challenge recipe (parsed JSON); missing keys take the defaults.

    Strict, and safe on untrusted input: it only looks at the recipe's keys and values
    (bounded by ``RECIPE_LIMITS``) and runs nothing the recipe names.

    Raises:
        ValueError: the recipe is not a JSON object, has a key outside ``RECIPE_KEYS``
            (the message suggests the closest), a value of the wrong type (true/false are
            not integers; integers are accepted for numbers) or out of ``RECIPE_LIMITS``,
            or a combination TrainConfig refuses (e.g. weight_decay with rmsprop).
    """
    if not isinstance(recipe, Mapping):
        raise ValueError(
            f'a recipe must be a JSON object ({{"key": value, ...}}), got {_show(recipe)}'
        )
    values: dict[str, Any] = {}
    for key, value in recipe.items():
        if type(key) is not str or key not in RECIPE_LIMITS:
            close = difflib.get_close_matches(key, RECIPE_KEYS, n=1) if type(key) is str else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown recipe key {_show(key)}{hint} (the keys: {', '.join(RECIPE_KEYS)})"
            )
        values[key] = RECIPE_LIMITS[key].check(key, value)
    try:
        return TrainConfig(**values)
    except ValueError as error:  # a combination: e.g. weight_decay > 0 with rmsprop
        raise ValueError(f"recipe: {error}") from None


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The JSON object in the file ``path``, not yet checked as a recipe (``recipe_config``).

    Only a regular file of at most ``MAX_RECIPE_BYTES`` (not a link: the grader reads
    students' files) in UTF-8 (a byte-order mark is allowed) holding one JSON object,
    without duplicate keys or NaN/Infinity.

    Raises:
        ValueError: naming ``path`` and what is wrong (with the line and column of a JSON
            error).
    """
    path = Path(path)
    try:
        # O_NOFOLLOW: no link out of a submission; O_NONBLOCK: a FIFO cannot hang the read
        # (neither exists on Windows, where a student's own recipe needs neither).
        flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, os.O_RDONLY | flags)
    except OSError as error:
        reason = "it is a link" if error.errno == errno.ELOOP else error.strerror or error
        raise ValueError(f"{path}: cannot read the recipe: {reason}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: cannot read the recipe: not a regular file")
        size, data = info.st_size, b""
        if size <= MAX_RECIPE_BYTES:
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read(MAX_RECIPE_BYTES + 1)
    finally:
        os.close(fd)
    if size > MAX_RECIPE_BYTES or len(data) > MAX_RECIPE_BYTES:  # it may grow after fstat
        got = f"{size:,} bytes" if size > MAX_RECIPE_BYTES else "it grew while being read"
        raise ValueError(f"{path}: too big ({got}); a recipe has at most {MAX_RECIPE_BYTES:,}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    try:
        recipe = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise ValueError(f"{path}: not valid JSON: nested too deeply") from None
    except ValueError as error:  # NaN, a duplicate key, an integer of > 4300 digits
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(recipe, dict):
        raise ValueError(
            f'{path}: a recipe must be a JSON object ({{"key": value, ...}}), got {_show(recipe)}'
        )
    return recipe


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {_show(key)}")
        result[key] = value
    return result


def load_recipe(path: str | Path) -> TrainConfig:
    """``recipe_config`` of the recipe file ``path`` (see ``read_recipe``).

    Raises:
        ValueError: naming ``path``: the file is not a recipe, or the recipe is not valid.
    """
    recipe = read_recipe(path)
    try:
        return recipe_config(recipe)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def model_weights(model: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    """Copies of ``(W, b)`` of every Linear layer of ``model``, input layer first.

    W: (D, M), b: (M,). In evaluation mode (dropout is then the identity) the model
    computes ``logits = relu(...relu(X @ W0 + b0)...) @ Wk + bk``.
    """
    return [
        (np.array(layer.W.data, copy=True), np.array(layer.b.data, copy=True))
        for layer in model.layers
        if isinstance(layer, Linear)
    ]


def _plain_row(row: Mapping[str, Any]) -> dict[str, int | float]:
    """A history row as plain Python numbers (it crosses a process boundary)."""
    return {key: int(value) if key == "epoch" else float(value) for key, value in row.items()}


def challenge_fit(
    recipe: Mapping[str, Any],
    images: np.ndarray,
    labels: np.ndarray,
    on_epoch: Callable[[dict, list[tuple[np.ndarray, np.ndarray]]], bool | None] | None = None,
) -> dict[str, Any]:
    """Train an MLP with a challenge recipe on raw training images: what the grader runs.

    The images are scaled as ``load_mnist`` scales them (``mnist.scale_images``);
    ``validation_splits`` holds out the recipe's ``val_size`` of them (chosen by its
    seed): all N are training images, there is no test set. ``build_model`` and ``fit``
    do the rest.

    Args:
        recipe: the recipe (parsed JSON), checked by ``recipe_config``.
        images: uint8 (N, 784), raw pixels 0..255.
        labels: int (N,), classes 0..9.
        on_epoch: called after each epoch as ``on_epoch(row, weights)``: the epoch's history
            row (plain numbers) and ``model_weights`` of what this run would end with if
            it stopped now (with early stopping the best epoch so far, else the current
            weights). A true return value stops training.

    Returns:
        plain data: ``{"weights": model_weights(the final model), "history": [row, ...],
        "best_epoch": int or None}``.

    Raises:
        ValueError: a bad recipe, or images/labels of the wrong dtype or shape.
    """
    from .mnist import scale_images

    config = recipe_config(recipe)
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 784:
        raise ValueError(f"images must be uint8 (N, 784), got {images.dtype} {images.shape}")
    if labels.shape != images.shape[:1] or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be int ({len(images)},), got {labels.dtype} {labels.shape}")
    splits = validation_splits(scale_images(images), labels.astype(np.int64), config)
    best_loss, best_weights = math.inf, None

    def report(row: dict, model: MLP) -> bool | None:
        nonlocal best_loss, best_weights
        weights = model_weights(model)
        if config.early_stopping is not None:
            # EarlyStopping's rule: a strictly lower validation loss is a new best.
            if row["val_loss"] < best_loss:
                best_loss, best_weights = row["val_loss"], weights
            weights = best_weights if best_weights is not None else weights
        return on_epoch(_plain_row(row), weights)

    result = fit(build_model(config), splits, config, on_epoch=report if on_epoch else None)
    return {
        "weights": model_weights(result.model),
        "history": [_plain_row(row) for row in result.history],
        "best_epoch": None if result.best_epoch is None else int(result.best_epoch),
    }
