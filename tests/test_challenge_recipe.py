"""The class challenge, student side: the recipe, ``challenge_fit`` and ``train --recipe``.

The grader (autograder/challenge.py) checks a student's recipe with the reference's
``recipe_config`` and calls the student's ``challenge_fit`` in its sandbox; these tests pin
down both, with expected values written here by hand (not read from ``RECIPE_LIMITS``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mnist_fixtures import sha256_table, small_files

import numpynet as nn  # the reference: tests/conftest.py puts solutions/ first
from autograder import release
from numpynet import cli, mnist, train

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = ROOT / "solutions" / "challenge.json"
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
MNIST = Path(os.environ.get("MNIST_DIR") or SHARED_MNIST)
needs_mnist = pytest.mark.skipif(
    not (MNIST / "train-labels-idx1-ubyte.gz").is_file()
    and not (MNIST / "train-labels-idx1-ubyte").is_file(),
    reason=f"real MNIST not found in {MNIST} (set MNIST_DIR)",
)

# What each key accepts and refuses, written from the documented limits (lesson 07, 7.7).
GOOD = {
    "hidden": [[1], [2048], [1, 1, 1, 1], [2048, 1024], (64, 32)],
    "optimizer": ["rmsprop", "sgd", "adam", "adamw"],
    "lr": [1e-12, 10, 10.0, 3, None],
    "momentum": [0, 0.0, 0.999],
    "weight_decay": [0, 0.0, None],  # > 0 needs adam or adamw: see the combination test
    "schedule": ["none", "cosine", "step"],
    "step_size": [1, 200],
    "gamma": [1e-9, 1, 0.5],
    "epochs": [1, 200],
    "batch_size": [1, 60_000],
    "dropout": [0, 0.0, 0.999],
    "early_stopping": [1, 200, None],
    "seed": [0, 4_294_967_295],
    "val_size": [1, 30_000],
}
BAD = {
    "hidden": [[], [0], [2049], [1, 1, 1, 1, 1], [True], [3.0], ["3"], 128, "128", None],
    "optimizer": ["Adam", "adagrad", "", 1, None],
    "lr": [0, 0.0, -1e-3, 10.000001, 11, True, "0.1", float("nan"), float("inf"), 10**400],
    "momentum": [1, 1.0, -0.1, False, None],
    "weight_decay": [-0.1, 10.5, True, "0"],
    "schedule": ["linear", "Cosine", None, 0],
    "step_size": [0, 201, 2.0, True, None],
    "gamma": [0, 0.0, 1.5, -1, None],
    "epochs": [0, 201, -3, 2.0, True, "10", None, 10**100],
    "batch_size": [0, 60_001, 32.0, False],
    "dropout": [1, 1.0, -0.1, True, None],
    "early_stopping": [0, 201, 2.5, True],
    "seed": [-1, 4_294_967_296, 1.0, True, None],
    "val_size": [0, 30_001, 5000.0, None],
}
# A word of what is allowed that each key's message must contain.
ALLOWED = {
    "hidden": "1 to 4 integers in 1..2048",
    "optimizer": "'rmsprop', 'sgd', 'adam', 'adamw'",
    "lr": "(0, 10]",
    "momentum": "[0, 1)",
    "weight_decay": "[0, 10]",
    "schedule": "'none', 'cosine', 'step'",
    "step_size": "1..200",
    "gamma": "(0, 1]",
    "epochs": "1..200",
    "batch_size": "1..60000",
    "dropout": "[0, 1)",
    "early_stopping": "1..200",
    "seed": "0..4294967295",
    "val_size": "1..30000",
}


def test_the_recipe_keys_are_the_trainers_hyper_parameters() -> None:
    assert set(train.RECIPE_KEYS) == set(GOOD) == set(BAD) == set(train.RECIPE_LIMITS)
    fields = set(asdict(train.TrainConfig()))
    assert set(train.RECIPE_KEYS) == fields - {"limit_train", "limit_test"}


def test_an_empty_recipe_is_the_trainers_defaults() -> None:
    assert asdict(train.recipe_config({})) == asdict(train.TrainConfig())


def test_missing_keys_take_the_defaults() -> None:
    config = train.recipe_config({"epochs": 3, "optimizer": "adam", "hidden": [64, 32]})
    expected = train.TrainConfig(epochs=3, optimizer="adam", hidden=(64, 32))
    assert asdict(config) == asdict(expected)
    assert config.lr == 1e-3 and config.hidden == (64, 32)  # Adam's default rate


@pytest.mark.parametrize("key, value", [(k, v) for k, values in GOOD.items() for v in values])
def test_each_key_accepts_its_limits(key: str, value: object) -> None:
    config = train.recipe_config({key: value})
    if value is None:
        return  # null: TrainConfig's default (checked below for lr and early_stopping)
    got = getattr(config, key)
    assert got == (tuple(value) if isinstance(value, list | tuple) else value)
    if key in ("lr", "momentum", "weight_decay", "gamma", "dropout"):
        assert type(got) is float  # an integer is a fine number, stored as a float


@pytest.mark.parametrize("key, value", [(k, v) for k, values in BAD.items() for v in values])
def test_each_key_refuses_a_wrong_type_or_value_naming_the_key_and_its_limits(
    key: str, value: object
) -> None:
    with pytest.raises(ValueError) as error:
        train.recipe_config({key: value})
    message = str(error.value)
    assert f"'{key}'" in message and ALLOWED[key] in message, message
    assert len(message) < 400, message


def test_null_means_the_default_or_no_early_stopping() -> None:
    config = train.recipe_config({"lr": None, "weight_decay": None, "early_stopping": None})
    assert config.lr == 2e-3 and config.weight_decay == 0.0 and config.early_stopping is None
    adamw = train.recipe_config({"optimizer": "adamw", "weight_decay": None})
    assert adamw.weight_decay == 1e-2


INT_RANGES = {
    "step_size": (1, 200),
    "epochs": (1, 200),
    "batch_size": (1, 60_000),
    "early_stopping": (1, 200),
    "seed": (0, 2**32 - 1),
    "val_size": (1, 30_000),
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(INT_RANGES)), st.integers(-(2**70), 2**70))
def test_integer_keys_accept_exactly_their_range(key: str, value: int) -> None:
    low, high = INT_RANGES[key]
    if low <= value <= high:
        assert getattr(train.recipe_config({key: value}), key) == value
    else:
        with pytest.raises(ValueError, match=f"'{key}'"):
            train.recipe_config({key: value})


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted(INT_RANGES)),
    st.one_of(st.booleans(), st.floats(), st.text(max_size=5), st.lists(st.integers(), max_size=3)),
)
def test_integer_keys_refuse_anything_but_an_integer(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"'{key}' must be an integer"):
        train.recipe_config({key: value})


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_the_learning_rate_is_a_finite_number_in_0_to_10(lr: float) -> None:
    if 0 < lr <= 10:
        assert train.recipe_config({"lr": lr}).lr == lr
    else:
        with pytest.raises(ValueError, match="'lr' must be a number in"):
            train.recipe_config({"lr": lr})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 2048), min_size=1, max_size=4))
def test_hidden_sizes_are_refused_exactly_above_five_million_parameters(
    hidden: list[int],
) -> None:
    sizes = [784, *hidden, 10]
    count = sum((a + 1) * b for a, b in zip(sizes, sizes[1:], strict=False))
    if count <= 5_000_000:
        assert train.recipe_config({"hidden": hidden}).sizes == tuple(sizes)
    else:
        with pytest.raises(ValueError, match=f"{count:,} parameters; at most 5,000,000"):
            train.recipe_config({"hidden": hidden})


def test_the_parameter_limit_by_hand() -> None:
    # 784-2048-2048-10: 785 * 2048 + 2049 * 2048 + 2049 * 10 = 5,824,522 > 5,000,000.
    with pytest.raises(ValueError, match="784-2048-2048-10 has 5,824,522 parameters"):
        train.recipe_config({"hidden": [2048, 2048]})
    # 784-2048-1024-10: 1,607,680 + 2,098,176 + 10,250 = 3,716,106.
    assert train.recipe_config({"hidden": [2048, 1024]}).hidden == (2048, 1024)


def test_a_huge_list_is_refused_by_its_length_with_a_short_message() -> None:
    with pytest.raises(ValueError, match="'hidden' must be a list of 1 to 4") as error:
        train.recipe_config({"hidden": [1] * 1_000_000})
    assert len(str(error.value)) < 400


@pytest.mark.parametrize(
    "key, hint",
    [("hiden", "hidden"), ("epoch", "epochs"), ("batchsize", "batch_size"), ("LR", None)],
)
def test_an_unknown_key_is_refused_with_the_closest_one(key: str, hint: str | None) -> None:
    with pytest.raises(ValueError, match=f"unknown recipe key '{key}'") as error:
        train.recipe_config({key: 1})
    message = str(error.value)
    if hint:
        assert f"did you mean '{hint}'?" in message
    assert "val_size" in message  # the keys are listed


@pytest.mark.parametrize("key", ["limit_train", "limit_test"])
def test_the_limits_for_quick_tests_are_not_recipe_keys(key: str) -> None:
    with pytest.raises(ValueError, match=f"unknown recipe key '{key}'"):
        train.recipe_config({key: 100})


def test_a_key_that_is_not_a_string_is_unknown() -> None:
    with pytest.raises(ValueError, match="unknown recipe key 1"):
        train.recipe_config({1: 2})


@pytest.mark.parametrize("recipe", [[], [1, 2], "epochs", 3, None, True])
def test_a_recipe_must_be_an_object(recipe: object) -> None:
    with pytest.raises(ValueError, match="a recipe must be a JSON object"):
        train.recipe_config(recipe)  # type: ignore[arg-type]


def test_a_combination_the_trainer_refuses_names_the_key() -> None:
    with pytest.raises(ValueError, match="recipe: weight_decay .* with rmsprop"):
        train.recipe_config({"weight_decay": 0.1})
    assert train.recipe_config({"optimizer": "adam", "weight_decay": 0.1}).weight_decay == 0.1


# ---- the recipe file ---------------------------------------------------------------------------


def write(tmp_path: Path, content: str | bytes, name: str = "challenge.json") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_load_recipe_reads_a_recipe_file(tmp_path: Path) -> None:
    path = write(tmp_path, '{"epochs": 2, "hidden": [32]}')
    assert asdict(train.load_recipe(path)) == asdict(train.TrainConfig(epochs=2, hidden=(32,)))
    assert train.read_recipe(path) == {"epochs": 2, "hidden": [32]}


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, b'\xef\xbb\xbf{"epochs": 2}')
    assert train.load_recipe(path).epochs == 2


def test_a_recipe_of_exactly_64_kib_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    body = '{"epochs": 2}'
    exact = write(tmp_path, body + " " * (65_536 - len(body)), "exact.json")
    assert train.load_recipe(exact).epochs == 2
    over = write(tmp_path, body + " " * (65_537 - len(body)), "over.json")
    with pytest.raises(ValueError, match=r"over\.json: too big \(65,537 bytes"):
        train.load_recipe(over)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "challenge.json"
    with open(huge, "wb") as handle:
        handle.truncate(64 * 2**30)  # sparse: 64 GiB that reading would have to allocate
    with pytest.raises(ValueError, match="too big"):
        train.read_recipe(huge)


@pytest.mark.parametrize(
    "content, says",
    [
        (b'{"lr": "\xff"}', "not UTF-8 text (byte 8"),
        (
            '{\n  "lr": 0.1,\n}',
            "not valid JSON: Expecting property name enclosed in double quotes (line 3, column 1)",
        ),  # fmt: skip
        ("", "not valid JSON: Expecting value (line 1, column 1)"),
        ('{"lr": NaN}', "not valid JSON: NaN is not a number JSON allows"),
        ('{"lr": Infinity}', "not valid JSON: Infinity is not a number JSON allows"),
        ('{"lr": 0.1, "lr": 0.2}', "not valid JSON: duplicate key 'lr'"),
        ("[" * 60_000, "not valid JSON"),
        ('{"epochs": 1' + "0" * 5000 + "}", "not valid JSON"),
        ("[1, 2]", "a recipe must be a JSON object"),
        ('"epochs"', "a recipe must be a JSON object"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, content: str | bytes, says: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(ValueError) as error:
        train.load_recipe(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and says in message, message


def test_a_bad_recipe_in_a_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '{"epochs": 0}')
    with pytest.raises(ValueError, match=rf"^{path}: recipe key 'epochs' must be an integer"):
        train.load_recipe(path)


def test_a_link_a_folder_a_fifo_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    target = write(tmp_path, '{"epochs": 2}', "real.json")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    (tmp_path / "folder.json").mkdir()
    os.mkfifo(tmp_path / "fifo.json")  # nobody writes: a blocking read would hang
    cases = {
        link: "it is a link",
        tmp_path / "folder.json": "cannot read the recipe",
        tmp_path / "fifo.json": "not a regular file",
        tmp_path / "missing.json": "No such file or directory",
    }
    for path, says in cases.items():
        outcome: list[object] = []

        def read(path: Path = path, outcome: list[object] = outcome) -> None:
            try:
                outcome.append(train.read_recipe(path))
            except ValueError as error:
                outcome.append(error)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert outcome, f"read_recipe({path}) hung"
        assert isinstance(outcome[0], ValueError), outcome
        assert str(outcome[0]).startswith(f"{path}: ") and says in str(outcome[0]), outcome


def test_the_default_recipe_is_the_course_trainer_cut_to_4_epochs_and_shows_every_key() -> None:
    """Lesson 07 says so; the file lists every key so that a student sees each knob."""
    recipe = json.loads(DEFAULT_RECIPE.read_text())
    assert list(recipe) == list(train.RECIPE_KEYS)
    assert asdict(train.load_recipe(DEFAULT_RECIPE)) == asdict(train.TrainConfig(epochs=4))


def test_release_puts_the_default_recipe_at_the_root_and_in_lesson_07s_bundle() -> None:
    generated = release.build(ROOT)
    default = DEFAULT_RECIPE.read_bytes()
    assert generated["challenge.json"] == default == (ROOT / "challenge.json").read_bytes()
    assert release.bundle_files(ROOT, generated, "beyond")["challenge.json"] == default
    assert "challenge.json" not in release.bundle_files(ROOT, generated, "course")


def test_release_check_notices_an_edited_or_missing_root_recipe(tmp_path: Path) -> None:
    generated = release.build(ROOT)
    release.write_tree(generated, tmp_path)
    assert release.diff(generated, release.existing_files(tmp_path)) == ""
    (tmp_path / "challenge.json").write_text("{}\n")
    assert "challenge.json (on disk)" in release.diff(generated, release.existing_files(tmp_path))
    (tmp_path / "challenge.json").unlink()
    assert "missing: challenge.json" in release.diff(generated, release.existing_files(tmp_path))


# ---- the images ----------------------------------------------------------------------------------


def test_scale_images_is_what_load_mnist_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On small IDX files (their checksums registered for the test): the same float32 bits."""
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    files = small_files(names, seed=3)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        monkeypatch.setitem(mnist.SHA256, name, sha256_table(files)[name])
    X, _ = mnist.load_mnist("train", tmp_path)
    raw = np.frombuffer(files[names[0]], np.uint8, offset=16).reshape(-1, 784)
    scaled = mnist.scale_images(raw)
    assert scaled.dtype == np.float32 and scaled.shape == (20, 784)
    np.testing.assert_array_equal(scaled, X)
    # By hand: pixel / 255 in float32, rows in row-major order.
    np.testing.assert_array_equal(scaled, raw.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(mnist.scale_images(raw.reshape(-1, 28, 28)), scaled)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int8])
def test_scale_images_refuses_anything_but_uint8(dtype: type) -> None:
    with pytest.raises(ValueError, match="must be uint8"):
        mnist.scale_images(np.zeros((2, 784), dtype=dtype))


# ---- challenge_fit -------------------------------------------------------------------------------


def synthetic_digits(
    n: int = 400, seed: int = 5, noise: float = 60.0
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 784) images: each class a random template plus noise; int (n,) labels."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, size=(10, 784))
    y = rng.integers(0, 10, size=n)
    X = np.clip(templates[y] + rng.normal(0, noise, size=(n, 784)), 0, 255)
    return X.astype(np.uint8), y.astype(np.int64)


def mlp_logits(weights: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray) -> np.ndarray:
    """The trusted forward pass, written here: ReLU between affine maps, none after the last."""
    h = X.astype(np.float64)
    for i, (W, b) in enumerate(weights):
        h = h @ W.astype(np.float64) + b.astype(np.float64)
        if i < len(weights) - 1:
            h = np.maximum(h, 0.0)
    return h


def is_plain(value: object) -> bool:
    """Only dicts, lists, tuples, str keys, Python ints/floats, None and ndarrays."""
    if isinstance(value, dict):
        return all(type(k) is str and is_plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(is_plain(v) for v in value)
    return value is None or type(value) in (int, float) or type(value) is np.ndarray


RECIPE = {"hidden": [64, 32], "epochs": 3, "val_size": 100, "batch_size": 32, "dropout": 0.1}


def reproduce(recipe: dict, images: np.ndarray, labels: np.ndarray) -> train.TrainResult:
    """What challenge_fit documents, done step by step: scale, split, build, fit."""
    config = train.recipe_config(recipe)
    X = images.astype(np.float32) / np.float32(255)
    splits = train.make_splits(X, labels, X[:0], labels[:0], config)
    return train.fit(train.build_model(config), splits, config)


def test_challenge_fit_trains_as_documented_and_returns_the_models_weights() -> None:
    images, labels = synthetic_digits()
    out = train.challenge_fit(RECIPE, images, labels)
    assert set(out) == {"weights", "history", "best_epoch"} and out["best_epoch"] is None
    shapes = [(W.shape, b.shape) for W, b in out["weights"]]
    assert shapes == [((784, 64), (64,)), ((64, 32), (32,)), ((32, 10), (10,))]
    assert is_plain(out)
    expected = reproduce(RECIPE, images, labels)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in out["history"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in expected.history]
    X = images.astype(np.float32) / 255
    want = train.predict_logits(expected.model, X)  # in evaluation mode: no dropout
    np.testing.assert_allclose(mlp_logits(out["weights"], X), want, rtol=1e-4, atol=1e-4)
    assert out["history"][-1]["val_acc"] > 0.5  # it learned: chance is 0.1


def test_model_weights_are_copies_of_every_linear_layer_in_order() -> None:
    model = nn.MLP((784, 16, 8, 10), rng=0, dropout=0.5)
    weights = train.model_weights(model)
    linears = [layer for layer in model.layers if isinstance(layer, nn.Linear)]
    assert len(weights) == 3 == len(linears)
    for (W, b), layer in zip(weights, linears, strict=True):
        np.testing.assert_array_equal(W, layer.W.data)
        np.testing.assert_array_equal(b, layer.b.data)
        W += 1.0  # a copy: the model does not change
        assert not np.array_equal(W, layer.W.data)
    model.eval()
    X = np.random.default_rng(0).uniform(0, 1, size=(7, 784)).astype(np.float32)
    fresh = train.model_weights(model)
    np.testing.assert_allclose(mlp_logits(fresh, X), model.forward(X), rtol=1e-4, atol=1e-5)


def test_the_callback_gets_each_row_and_the_current_weights_and_can_stop_the_run() -> None:
    images, labels = synthetic_digits()
    seen: list[tuple[dict, list]] = []

    def on_epoch(row: dict, weights: list) -> bool:
        seen.append((row, weights))
        return row["epoch"] == 2

    out = train.challenge_fit({**RECIPE, "epochs": 5}, images, labels, on_epoch)
    assert [row["epoch"] for row, _ in seen] == [1, 2] and len(out["history"]) == 2
    assert [row for row, _ in seen] == out["history"] and is_plain(seen)
    for W, b in seen[-1][1]:
        assert type(W) is np.ndarray and type(b) is np.ndarray
    for (W, b), (W2, b2) in zip(seen[-1][1], out["weights"], strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    assert not np.array_equal(seen[0][1][0][0], seen[1][1][0][0])  # epoch 1's, then 2's


def test_rows_cross_the_process_boundary_as_plain_numbers_whatever_evaluate_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A student's ``evaluate`` may return numpy scalars: the rows handed on are Python's."""
    real = train.evaluate

    def numpy_scalars(*args: object, **kwargs: object) -> tuple[np.float32, np.float32]:
        loss, acc = real(*args, **kwargs)
        return np.float32(loss), np.float32(acc)

    monkeypatch.setattr(train, "evaluate", numpy_scalars)  # what measures without dropout
    images, labels = synthetic_digits(n=200)
    rows: list[dict] = []
    recipe = {**RECIPE, "epochs": 2, "dropout": 0}
    out = train.challenge_fit(recipe, images, labels, lambda r, w: rows.append(r))
    assert type(rows[0]["val_loss"]) is float
    assert len(rows) == 2 and is_plain(rows) and is_plain(out)


OVERFIT = {"hidden": [64], "epochs": 12, "val_size": 300, "optimizer": "adam", "lr": 0.03}


def test_with_early_stopping_the_callback_gets_the_best_epochs_weights_so_far() -> None:
    """A setting that over-fits 100 images: the validation loss turns up, so the best epoch
    so far is often not the current one."""
    images, labels = synthetic_digits(n=400, seed=9, noise=400.0)
    recipe = {**OVERFIT, "early_stopping": 200}  # keeps the best epoch, never stops
    seen: list[tuple[dict, list]] = []
    out = train.challenge_fit(recipe, images, labels, lambda r, w: seen.append((r, w)))
    losses = [row["val_loss"] for row, _ in seen]
    bests = [int(np.argmin(losses[: k + 1])) for k in range(len(losses))]  # first minimum
    assert any(best != k for k, best in enumerate(bests)), losses  # the setting over-fits
    for k, best in enumerate(bests):
        for (W, b), (Wb, bb) in zip(seen[k][1], seen[best][1], strict=True):
            np.testing.assert_array_equal(W, Wb)
            np.testing.assert_array_equal(b, bb)
    assert out["best_epoch"] == bests[-1] + 1
    for (W, _), (Wb, _) in zip(out["weights"], seen[-1][1], strict=True):
        np.testing.assert_array_equal(W, Wb)


@pytest.mark.parametrize(
    "images, labels, says",
    [
        (np.zeros((50, 784), np.float32), np.zeros(50, np.int64), "images must be uint8"),
        (np.zeros((50, 28, 28), np.uint8), np.zeros(50, np.int64), "images must be uint8 (N, 784)"),
        (np.zeros((50, 784), np.uint8), np.zeros(49, np.int64), "labels must be int (50,)"),
        (np.zeros((50, 784), np.uint8), np.zeros(50, np.float32), "labels must be int (50,)"),
    ],
)
def test_challenge_fit_refuses_data_of_the_wrong_kind(
    images: np.ndarray, labels: np.ndarray, says: str
) -> None:
    with pytest.raises(ValueError) as error:
        train.challenge_fit({"val_size": 10}, images, labels)
    assert says in str(error.value)


def test_challenge_fit_refuses_a_bad_recipe_before_training() -> None:
    images, labels = synthetic_digits(n=50)
    with pytest.raises(ValueError, match="'epochs' must be an integer"):
        train.challenge_fit({"epochs": "many"}, images, labels, lambda r, w: pytest.fail("ran"))


# ---- python -m numpynet train --recipe ----------------------------------------------------------


@pytest.fixture
def small_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with 20-image TRAINING files only (checksums registered): no test set."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    files = small_files(names, seed=4)
    for name, content in files.items():
        (folder / name).write_bytes(content)
        monkeypatch.setitem(mnist.SHA256, name, sha256_table(files)[name])
    return folder


def test_train_recipe_reports_validation_only_and_never_touches_the_test_set(
    tmp_path: Path, small_mnist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = write(tmp_path, '{"hidden": [8], "epochs": 2, "val_size": 5, "batch_size": 4}')
    out = tmp_path / "run"
    argv = ["train", "--recipe", str(recipe), "--out", str(out), "--data-dir", str(small_mnist)]
    assert cli.main([*argv, "--no-progress"]) == 0
    printed = capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"] == {"loss": None, "accuracy": None}
    assert metrics["config"]["epochs"] == 2 and metrics["config"]["hidden"] == [8]
    assert len(metrics["history"]) == 2
    val = metrics["history"][-1]["val_acc"]
    assert f"VALIDATION accuracy {val:.2%}" in printed.out
    assert "the test accuracy is measured by the grader only" in printed.out
    assert "TEST accuracy" not in printed.out and "test accuracy 0" not in printed.out
    assert "15 images, validation 5" in printed.out
    written = sorted(p.name for p in out.iterdir())
    assert written == ["curves.png", "first_layer_weights.png", "metrics.csv", "metrics.json",
                       "model.npz"]  # fmt: skip
    assert sorted(p.name for p in small_mnist.iterdir()) == sorted(
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    )  # the test files were neither read nor fetched
    # The hidden --limit-train (for tests) keeps the first N images before the split.
    limited = [*argv[:4], str(tmp_path / "limited"), *argv[5:], "--limit-train", "12"]
    assert cli.main([*limited, "--no-progress"]) == 0
    assert "on 7 images, validation 5" in capsys.readouterr().out


@pytest.mark.parametrize("key", sorted(GOOD))
def test_train_recipe_refuses_every_hyper_parameter_option(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even given at its default value: the recipe is the one source of the settings."""
    defaults = asdict(train.TrainConfig())
    value = defaults[key] if defaults[key] is not None else GOOD[key][0]
    values = [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
    option = "--" + key.replace("_", "-")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--recipe", "challenge.json", option, *values])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"--recipe cannot be combined with {option}:" in err


def test_train_recipe_names_every_clashing_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["train", "--epochs", "3", "--recipe", "r.json", "--lr", "0.1", "--epo", "4"])
    assert "--recipe cannot be combined with --epochs, --lr:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, says",
    [
        ('{"epochs": 0}', "recipe key 'epochs' must be an integer in 1..200, got 0"),
        (
            "{\n\n  epochs: 3}",
            "not valid JSON: Expecting property name enclosed in double quotes (line 3, column 3)",
        ),  # fmt: skip
        (None, "cannot read the recipe"),
    ],
)
def test_train_recipe_with_a_bad_file_exits_2_with_the_message(
    tmp_path: Path, content: str | None, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "challenge.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["train", "--recipe", str(path), "--out", str(tmp_path / "run")]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith(f"error: {path}: ") and says in printed.err, printed.err
    assert "Traceback" not in printed.err and not (tmp_path / "run").exists()


def test_train_recipe_with_too_few_images_for_its_validation_split_exits_2(
    tmp_path: Path, small_mnist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = write(tmp_path, '{"val_size": 20}')  # the small files have 20 images
    argv = ["train", "--recipe", str(recipe), "--data-dir", str(small_mnist)]
    assert cli.main(argv) == 2
    assert "val_size must be between 1 and 19, got 20" in capsys.readouterr().err


def beyond_commands() -> list[str]:
    """The commands BEYOND.md shows in an indented block."""
    return [line.strip() for line in release.BEYOND_README.splitlines() if line.startswith("    ")]


@pytest.mark.slow
@needs_mnist
def test_the_beyond_notes_command_runs_as_written_in_a_course_folder(tmp_path: Path) -> None:
    """``python -m numpynet train --recipe challenge.json`` in a folder holding a finished
    package (the reference) and the bundle's challenge.json: validation accuracy only."""
    command = "python -m numpynet train --recipe challenge.json"
    assert beyond_commands() == [command]
    course = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "solutions" / "numpynet", course / "numpynet", ignore=ignore)
    # The bundle's copy (test_release_puts_the_default_recipe_at_the_root_and_in_lesson_07s_bundle)
    shutil.copyfile(DEFAULT_RECIPE, course / "challenge.json")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MNIST_DIR"] = str(MNIST)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", command], cwd=course, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((course / "runs" / "train" / "metrics.json").read_text())
    assert metrics["test"] == {"loss": None, "accuracy": None} and len(metrics["history"]) == 4
    assert f"VALIDATION accuracy {metrics['history'][-1]['val_acc']:.2%}" in done.stdout
    assert "TEST accuracy" not in done.stdout and "55,000 images, validation 5,000" in done.stdout
