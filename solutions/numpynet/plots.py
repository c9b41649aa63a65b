"""Figures of a training run, drawn from plain arrays.

Nothing here is an exercise. Every function takes NumPy arrays (or the trainer's
history), returns a matplotlib ``Figure`` and, given ``path``, also saves it as PNG.
The figures are not attached to pyplot, so nothing pops up and nothing leaks: in a
notebook, end a cell with the returned figure to display it.

    plot_curves(history)                          loss and accuracy per epoch
    plot_prediction_grid(images, logits, labels)  images beside their probabilities
    plot_confusion_matrix(y_true, y_pred)         counts, rows true / columns predicted
    plot_most_confused(images, logits, labels)    the most confident mistakes
    plot_first_layer_weights(W)                   what the first layer's units look for

Shapes: images (N, 784) or (N, 28, 28) in [0, 1]; logits (N, K); labels (N,) int.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullLocator, PercentFormatter

from .functional import softmax

RIGHT = "tab:green"
WRONG = "tab:red"
TRUE_CLASS = "tab:blue"
OTHER = "0.75"
FLOOR = 1e-6  # smallest probability the bar charts show


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)  # a Figure without pyplot renders with Agg
    return fig


def _prob(p: float) -> str:
    """A probability, readable both near 1 and near 0: 0.973, 1.000, 3e-05."""
    return f"{p:.3f}" if p >= 0.01 else f"{p:.0e}"


def _as_images(images: np.ndarray) -> np.ndarray:
    """(N, 784) or (N, 28, 28) -> (N, 28, 28)."""
    images = np.asarray(images)
    side = int(round(np.sqrt(images[0].size)))
    return images.reshape(len(images), side, side)


def _columns(history: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]]) -> dict:
    """A history as one array per key, whether given as rows or as columns."""
    if isinstance(history, Mapping):
        return {key: np.asarray(values, dtype=float) for key, values in history.items()}
    keys = history[0].keys() if len(history) else ()
    return {key: np.array([row[key] for row in history], dtype=float) for key in keys}


# The series plot_curves knows: key prefix -> legend label and marker.
SERIES = {"train": ("training", "o-"), "val": ("validation", "s-"), "test": ("test", "^-")}


def plot_curves(
    history: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]],
    test_accuracy: float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Loss and accuracy per epoch, one line per data set.

    Args:
        history: the trainer's history (a list of dicts, one per epoch) or a dict of
            lists. Plots every series present among ``train_loss``/``train_acc``,
            ``val_loss``/``val_acc`` and ``test_loss``/``test_acc`` (losses: mean
            cross-entropy; accuracies in [0, 1]); ``epoch`` gives the x values
            (default 1, 2, ...; 0 may stand for "before training").
        test_accuracy: a final test accuracy in [0, 1], drawn as a dashed line.
        path: where to save the PNG, or None.

    Returns:
        a Figure with two axes: loss (log scale) and accuracy (%).
    """
    h = _columns(history)
    present = [prefix for prefix in SERIES if f"{prefix}_loss" in h or f"{prefix}_acc" in h]
    if not present:
        raise ValueError(f"history has none of {[f'{p}_loss' for p in SERIES]}: {list(h)}")
    n = len(h.get(f"{present[0]}_loss", h.get(f"{present[0]}_acc")))
    epochs = h.get("epoch", np.arange(1, n + 1))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, key, title in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy")):
        scale = 100.0 if key == "acc" else 1.0
        for prefix in present:
            if f"{prefix}_{key}" in h:
                label, style = SERIES[prefix]
                ax.plot(epochs, scale * h[f"{prefix}_{key}"], style, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("mean cross-entropy (log scale)")
    ax_acc.set_ylabel("accuracy")
    ax_acc.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    if test_accuracy is not None:
        ax_acc.axhline(
            100 * test_accuracy, color="k", ls="--", lw=1, label=f"test, final: {test_accuracy:.2%}"
        )
    ax_loss.legend()
    ax_acc.legend(loc="lower right")
    fig.suptitle("Training curves (measured after each epoch)")
    return _save(fig, path)


def plot_prediction_grid(
    images: np.ndarray,
    logits: np.ndarray,
    labels: np.ndarray,
    path: str | Path | None = None,
    columns: int = 4,
) -> Figure:
    """Each image beside a bar chart of its softmax probabilities.

    Args:
        images: (N, 784) or (N, 28, 28), N small (about 20).
        logits: (N, K) the model's outputs for those images.
        labels: (N,) the true classes.
        path: where to save the PNG, or None.
        columns: image/bar-chart pairs per row.

    Returns:
        a Figure with 2 N axes (image, bars, image, bars, ...); the bars use a log
        scale from 1e-6 to 1 so that the runner-up classes stay visible. A correct
        prediction's bar and title are green, a wrong one's red, and the true
        class's bar is then blue.
    """
    images = _as_images(images)
    labels = np.asarray(labels)
    probs = softmax(np.asarray(logits, dtype=np.float64), axis=1)
    n, K = probs.shape
    pred = probs.argmax(axis=1)
    rows = -(-n // columns)
    # A fixed layout: "constrained" would measure 2 N axes' text and take seconds.
    height = 1.9 * rows + 1.4
    fig = Figure(figsize=(3.4 * columns, height))
    grid = fig.add_gridspec(
        rows, 2 * columns, width_ratios=[1, 1.4] * columns,
        left=0.04, right=0.99, bottom=0.95 / height, top=1 - 0.75 / height,
        wspace=0.45, hspace=0.55,
    )  # fmt: skip
    for i in range(n):
        r, c = divmod(i, columns)
        ax_img = fig.add_subplot(grid[r, 2 * c])
        ax_bar = fig.add_subplot(grid[r, 2 * c + 1])
        correct = pred[i] == labels[i]
        ax_img.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_title(
            f"true {labels[i]}, pred {pred[i]}", color=RIGHT if correct else WRONG, fontsize=10
        )
        colors = [OTHER] * K
        if not correct:
            colors[labels[i]] = TRUE_CLASS
        colors[pred[i]] = RIGHT if correct else WRONG
        # A log scale: a trained model gives ~1 to one class, and the linear bars of
        # the others (1e-3, 1e-6, ...) would all look like nothing.
        ax_bar.bar(np.arange(K), np.maximum(probs[i], FLOOR) - FLOOR, bottom=FLOOR, color=colors)
        ax_bar.set_yscale("log")
        ax_bar.set_ylim(FLOOR, 1.5)
        ax_bar.set_xticks(np.arange(K))
        ax_bar.set_yticks([1e-6, 1e-3, 1])
        ax_bar.yaxis.set_minor_locator(NullLocator())  # dozens of minor ticks: slow, noisy
        ax_bar.tick_params(labelsize=7)
        ax_bar.set_title(f"p({pred[i]}) = {_prob(probs[i, pred[i]])}", fontsize=9)
        if i + columns >= n:  # bottom of its column
            ax_bar.set_xlabel("class", fontsize=8)
        if c == 0:
            ax_bar.set_ylabel("probability (log)", fontsize=8)
    fig.legend(
        handles=[
            Patch(color=RIGHT, label="prediction, correct"),
            Patch(color=WRONG, label="prediction, wrong"),
            Patch(color=TRUE_CLASS, label="true class (when wrong)"),
        ],
        loc="lower center",
        ncols=3,
    )
    n_correct = int((pred == labels).sum())
    fig.suptitle(
        f"Test images and the model's softmax probabilities (log scale): {n_correct} of {n} correct"
    )
    return _save(fig, path)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Counts C (K, K), int64: ``C[t, p]`` images of true class t predicted as p."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    path: str | Path | None = None,
    num_classes: int = 10,
) -> Figure:
    """The confusion matrix as a heat map with the count in every cell.

    Args:
        y_true: (N,) true classes in [0, num_classes).
        y_pred: (N,) predicted classes in [0, num_classes).
        path: where to save the PNG, or None.
        num_classes: K, the number of rows and columns.

    Returns:
        a Figure whose first axes shows ``confusion_matrix(y_true, y_pred)``: rows
        are true classes, columns predicted ones. The colours are on a log scale
        so that the few mistakes stay visible next to the large diagonal.
    """
    counts = confusion_matrix(y_true, y_pred, num_classes)
    n, correct = int(counts.sum()), int(np.trace(counts))
    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    ax = fig.subplots()
    norm = LogNorm(vmin=1, vmax=max(int(counts.max()), 2))
    shown = np.ma.masked_equal(counts, 0)  # log(0) has no colour: zeros stay white
    image = ax.imshow(shown, cmap="Blues", norm=norm)
    for t in range(num_classes):
        for p in range(num_classes):
            value = counts[t, p]
            dark = value > 0 and norm(value) > 0.6
            ax.text(
                p, t, str(value), ha="center", va="center", fontsize=9,
                color="white" if dark else ("black" if value else "0.7"),
            )  # fmt: skip
    ticks = np.arange(num_classes)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(
        f"Confusion matrix on the test set ({n:,} images, {correct / max(n, 1):.2%} correct)"
    )
    fig.colorbar(image, ax=ax, label="number of images (log scale)", shrink=0.85)
    return _save(fig, path)


def most_confused(logits: np.ndarray, labels: np.ndarray, k: int = 12) -> np.ndarray:
    """Indices of the (at most) ``k`` wrong predictions made with the highest probability.

    Args:
        logits: (N, K), the model's outputs.
        labels: (N,), the true classes.
        k: how many mistakes at most.

    Returns:
        int array, most confident mistake first.
    """
    probs = softmax(np.asarray(logits, dtype=np.float64), axis=1)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != np.asarray(labels))
    confidence = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:k]]


def plot_most_confused(
    images: np.ndarray,
    logits: np.ndarray,
    labels: np.ndarray,
    path: str | Path | None = None,
    k: int = 12,
    columns: int = 6,
) -> Figure:
    """The ``k`` mistakes the model was most sure of, with true and predicted labels.

    Args:
        images: (N, 784) or (N, 28, 28). Pass the whole test set: the mistakes are
            picked by ``most_confused``.
        logits: (N, K), the model's outputs for ``images``.
        labels: (N,), the true classes.
        path: where to save the PNG, or None.
        k: how many mistakes at most.
        columns: images per row of the figure.

    Returns:
        a Figure with one axes per mistake shown (one saying so if there is none).
    """
    images = _as_images(images)
    labels = np.asarray(labels)
    probs = softmax(np.asarray(logits, dtype=np.float64), axis=1)
    pred = probs.argmax(axis=1)
    chosen = most_confused(logits, labels, k)
    n_wrong = int((pred != labels).sum())
    rows = max(1, -(-len(chosen) // columns))
    fig = Figure(figsize=(2.1 * columns, 2.5 * rows + 0.6), layout="constrained")
    if len(chosen) == 0:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=14)
        ax.set_axis_off()
    axes = fig.subplots(rows, columns, squeeze=False).ravel() if len(chosen) else []
    for ax, index in zip(axes, chosen, strict=False):
        t, p = labels[index], pred[index]
        ax.imshow(images[index], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(
            f"true {t}, pred {p}\np({p}) = {_prob(probs[index, p])}, "
            f"p({t}) = {_prob(probs[index, t])}",
            color=WRONG,
            fontsize=9,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes)[len(chosen) :]:
        ax.set_axis_off()
    fig.suptitle(
        f"The {len(chosen)} most confident mistakes ({n_wrong} wrong of {len(labels):,}); "
        "p = the model's softmax probability"
    )
    return _save(fig, path)


def plot_first_layer_weights(
    W: np.ndarray,
    path: str | Path | None = None,
    n: int = 64,
    columns: int = 8,
) -> Figure:
    """The weights into the first ``n`` hidden units, each as a 28x28 image.

    Args:
        W: the first Linear layer's weights, (784, H).
        path: where to save the PNG, or None.
        n: how many hidden units (at most H).
        columns: images per row of the figure.

    Returns:
        a Figure with one axes per unit and a colour bar. Red: the unit's input is
        raised by ink at that pixel; blue: lowered. The colour scale is shared and
        centred at 0 (clipped at the 99.5th percentile of |W| so outliers do not
        wash the rest out).
    """
    W = np.asarray(W)
    n = min(n, W.shape[1])
    side = int(round(np.sqrt(W.shape[0])))
    limit = float(np.percentile(np.abs(W[:, :n]), 99.5)) or 1.0
    rows = -(-n // columns)
    # A fixed layout: "constrained" would measure every one of the n axes (seconds).
    width, height = 1.35 * columns + 1.5, 1.35 * rows + 0.9
    right = 1 - 1.4 / width  # room for the colour bar
    axes = Figure(figsize=(width, height)).subplots(
        rows, columns, squeeze=False,
        gridspec_kw=dict(left=0.02, right=right, bottom=0.1 / height, top=1 - 0.75 / height,
                         wspace=0.1, hspace=0.3),
    )  # fmt: skip
    fig = axes[0, 0].figure
    image = None
    for unit, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if unit >= n:
            ax.set_axis_off()
            continue
        image = ax.imshow(W[:, unit].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"unit {unit}", fontsize=8)
    bar_axes = fig.add_axes((right + 0.25 / width, 0.2, 0.2 / width, 0.6))
    fig.colorbar(image, cax=bar_axes, label="weight (red +, blue -)")
    fig.suptitle(
        f"First-layer weights: {n} of {W.shape[1]} hidden units, each as a {side}x{side} image"
    )
    return _save(fig, path)
