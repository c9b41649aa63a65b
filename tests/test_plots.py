"""The figures (numpynet/plots.py): what each one draws, checked on the returned Figure.

Expected values come from small hand-made inputs (counts, probabilities, orderings
computed here), not from the plotting code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from numpynet import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RED = to_rgba(plots.WRONG)
GREEN = to_rgba(plots.RIGHT)

HISTORY = [
    {"epoch": 1, "train_loss": 0.5, "val_loss": 0.6, "train_acc": 0.90, "val_acc": 0.88},
    {"epoch": 2, "train_loss": 0.2, "val_loss": 0.3, "train_acc": 0.95, "val_acc": 0.93},
    {"epoch": 3, "train_loss": 0.1, "val_loss": 0.25, "train_acc": 0.99, "val_acc": 0.95},
]


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.axison]


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---- curves ---------------------------------------------------------------------------------


def test_curves_show_loss_and_accuracy_for_both_parts(tmp_path: Path) -> None:
    fig = plots.plot_curves(HISTORY, test_accuracy=0.94, path=tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC
    loss, acc = fig.axes
    assert loss.get_title() == "Loss" and acc.get_title() == "Accuracy"
    assert loss.get_xlabel() == acc.get_xlabel() == "epoch"
    assert "cross-entropy" in loss.get_ylabel() and loss.get_yscale() == "log"
    assert legend_texts(loss) == ["training", "validation"]
    assert legend_texts(acc) == ["training", "validation", "test, final: 94.00%"]
    train, val = loss.get_lines()[:2]
    assert list(train.get_xdata()) == [1, 2, 3]
    assert list(val.get_ydata()) == [0.6, 0.3, 0.25]
    assert list(acc.get_lines()[1].get_ydata()) == pytest.approx([88, 93, 95])  # percent
    assert acc.get_lines()[2].get_ydata()[0] == pytest.approx(94)


def test_curves_accept_columns_as_well_as_rows() -> None:
    columns = {key: [row[key] for row in HISTORY] for key in HISTORY[0] if key != "epoch"}
    fig = plots.plot_curves(columns)
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [1, 2, 3]  # epochs from 1
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == pytest.approx([90, 95, 99])
    assert len(fig.axes[1].get_lines()) == 2  # no test line when none is given


def test_curves_plot_a_per_epoch_test_series_from_epoch_0() -> None:
    # The form lesson 05 uses: the whole training set and the test set, epoch 0 = untrained.
    history = {"epoch": [0, 1, 2], "train_loss": [2.3, 0.3, 0.2], "train_acc": [0.1, 0.9, 0.95],
               "test_loss": [2.3, 0.35, 0.25], "test_acc": [0.1, 0.89, 0.93]}  # fmt: skip
    loss, acc = plots.plot_curves(history).axes
    assert legend_texts(loss) == ["training", "test"]
    assert list(acc.get_lines()[1].get_xdata()) == [0, 1, 2]
    assert list(acc.get_lines()[1].get_ydata()) == pytest.approx([10, 89, 93])


def test_curves_refuse_a_history_without_any_series() -> None:
    with pytest.raises(ValueError, match="train_loss"):
        plots.plot_curves({"epoch": [1, 2], "loss": [0.5, 0.4]})


# ---- prediction grid -------------------------------------------------------------------------


def test_prediction_grid_shows_each_image_beside_its_probabilities(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.random((6, 784), dtype=np.float32)
    logits = np.zeros((6, 10))
    logits[np.arange(6), [3, 1, 4, 1, 5, 9]] = 5.0  # predicted classes
    labels = np.array([3, 1, 4, 7, 5, 9])  # sample 3 is wrong (7 predicted as 1)
    fig = plots.plot_prediction_grid(images, logits, labels, path=tmp_path / "g.png", columns=3)
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC
    assert len(fig.axes) == 12  # image and bars for each of 6
    expected_top = np.exp(5) / (np.exp(5) + 9)  # softmax of one 5 among nine 0s
    for i in range(6):
        image_ax, bar_ax = fig.axes[2 * i], fig.axes[2 * i + 1]
        assert np.array_equal(image_ax.get_images()[0].get_array(), images[i].reshape(28, 28))
        heights = np.array([p.get_height() + p.get_y() for p in bar_ax.patches])
        assert heights.argmax() == logits[i].argmax()
        assert heights.max() == pytest.approx(expected_top)
        assert heights.sum() == pytest.approx(1.0, abs=1e-5)
        wrong = i == 3
        assert image_ax.get_title() == f"true {labels[i]}, pred {logits[i].argmax()}"
        assert to_rgba(image_ax.title.get_color()) == (RED if wrong else GREEN)
        assert to_rgba(bar_ax.patches[logits[i].argmax()].get_facecolor()) == (
            RED if wrong else GREEN
        )
    assert "5 of 6 correct" in fig._suptitle.get_text()


# ---- confusion matrix -----------------------------------------------------------------------


def test_confusion_matrix_counts_rows_true_columns_predicted() -> None:
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert np.array_equal(plots.confusion_matrix(y_true, y_pred, 3), expected)


def test_confusion_matrix_figure_writes_every_count_in_its_cell(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 10, 500)
    y_pred = np.where(rng.random(500) < 0.8, y_true, rng.integers(0, 10, 500))
    fig = plots.plot_confusion_matrix(y_true, y_pred, path=tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG_MAGIC
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "true label"
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text())
             for t in ax.texts}  # fmt: skip
    assert len(cells) == 100
    for t in range(10):
        for p in range(10):
            assert cells[t, p] == np.sum((y_true == t) & (y_pred == p))
    accuracy = np.mean(y_true == y_pred)
    assert f"{accuracy:.2%} correct" in ax.get_title() and "500 images" in ax.get_title()


# ---- most confused --------------------------------------------------------------------------


def test_most_confused_orders_mistakes_by_confidence() -> None:
    # Wrong predictions: 1 (p(pred) from logit 2), 3 (logit 6), 4 (logit 4); 0 and 2 right.
    logits = np.zeros((5, 3))
    logits[[0, 1, 2, 3, 4], [0, 1, 2, 0, 1]] = [9.0, 2.0, 9.0, 6.0, 4.0]
    labels = np.array([0, 0, 2, 2, 0])
    assert list(plots.most_confused(logits, labels, k=10)) == [3, 4, 1]
    assert list(plots.most_confused(logits, labels, k=2)) == [3, 4]
    assert list(plots.most_confused(logits, np.array([0, 1, 2, 0, 1]))) == []


def test_most_confused_figure_titles_the_mistakes(tmp_path: Path) -> None:
    images = np.random.default_rng(2).random((5, 28, 28))
    logits = np.zeros((5, 3))
    logits[[0, 1, 2, 3, 4], [0, 1, 2, 0, 1]] = [9.0, 2.0, 9.0, 6.0, 4.0]
    labels = np.array([0, 0, 2, 2, 0])
    fig = plots.plot_most_confused(images, logits, labels, path=tmp_path / "w.png", columns=2)
    assert (tmp_path / "w.png").read_bytes()[:8] == PNG_MAGIC
    shown = visible_axes(fig)
    assert len(shown) == 3
    first = shown[0]
    assert first.get_title().startswith("true 2, pred 0\np(0) = ")
    p_pred = np.exp(6) / (np.exp(6) + 2)
    assert f"p(0) = {p_pred:.3f}" in first.get_title()
    assert np.array_equal(first.get_images()[0].get_array(), images[3])
    assert to_rgba(first.title.get_color()) == RED
    assert "3 wrong of 5" in fig._suptitle.get_text()


def test_most_confused_without_mistakes_says_so() -> None:
    logits = np.eye(3)
    fig = plots.plot_most_confused(np.zeros((3, 784)), logits, np.arange(3))
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == ["no mistakes"]


# ---- first-layer weights --------------------------------------------------------------------


def test_first_layer_weights_one_image_per_unit_on_a_centred_scale(tmp_path: Path) -> None:
    W = np.random.default_rng(3).normal(0, 0.1, size=(784, 20))
    W[:, 0] += 0.05  # skewed, so a scale that is not centred would show it
    fig = plots.plot_first_layer_weights(W, path=tmp_path / "f.png", n=12, columns=5)
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG_MAGIC
    units = [ax for ax in visible_axes(fig) if ax.get_images() and ax.get_title()]
    assert len(units) == 12
    for unit, ax in enumerate(units):
        image = ax.get_images()[0]
        assert np.array_equal(image.get_array(), W[:, unit].reshape(28, 28))
        low, high = image.get_clim()
        assert low == -high and high > 0
        assert ax.get_title() == f"unit {unit}"
    assert units[0].get_images()[0].get_cmap().name == "RdBu_r"
    assert "12 of 20 hidden units" in fig._suptitle.get_text()
    colorbars = [ax for ax in fig.axes if "weight" in ax.get_ylabel()]
    assert len(colorbars) == 1
