"""The class challenge's trusted side (autograder/challenge.py).

The recipe is trained by the submission's own package in the sandbox; the grader scores
only the weights handed back after each epoch that ended within the CPU budget, on a test
set the sandbox never sees, after undoing a secret scramble of pixels and classes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_hostile_sandbox import shared_dirs, user_level  # noqa: F401 - fixtures

from autograder import challenge, exercises
from autograder.challenge import Refused, Scramble
from autograder.grade import Grader
from autograder.sandbox import Worker, choose

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = ROOT / "solutions" / exercises.CHALLENGE_FILE


def _mlp(weights: list, X: np.ndarray) -> np.ndarray:
    """Logits of an MLP written out by hand: ReLU between layers, none after the last."""
    H = X.astype(np.float64)
    for i, (W, b) in enumerate(weights):
        H = H @ W + b
        if i < len(weights) - 1:
            H = np.where(H > 0, H, 0.0)
    return H


# -- the scramble and the scoring, without a sandbox ------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), hidden=st.lists(st.integers(1, 6), min_size=1, max_size=2))
def test_undoing_the_scramble_turns_a_scrambled_model_into_the_same_model_on_mnist(
    seed: int, hidden: list[int]
) -> None:
    """For every image x and class c: model(x)[c] == scrambled model(x[pixels])[classes[c]]."""
    rng = np.random.default_rng(seed)
    sizes = [784, *hidden, 10]
    weights = [
        (rng.normal(size=(a, b)), rng.normal(size=b))
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]
    scramble = Scramble.draw(seed)
    X = rng.random((5, 784))
    seen_by_sandbox = scramble.images(X)
    for i in range(5):
        assert seen_by_sandbox[i, 0] == X[i, scramble.pixels[0]]
    scrambled_logits = _mlp(weights, seen_by_sandbox)
    logits = _mlp(scramble.undo(weights), X)
    # Equal but for the order of the sums (the rows of the first layer are reordered).
    np.testing.assert_allclose(logits, scrambled_logits[:, scramble.classes], rtol=1e-9, atol=1e-9)
    labels = rng.integers(0, 10, 7)
    assert (scramble.labels(labels) == scramble.classes[labels]).all()


def test_the_scramble_is_secret_and_fresh_per_submission() -> None:
    draws = [Scramble.draw() for _ in range(3)]
    assert all(sorted(d.pixels) == list(range(784)) for d in draws)
    assert all(sorted(d.classes) == list(range(10)) for d in draws)
    assert len({d.pixels.tobytes() for d in draws}) == 3


def test_a_keyed_scramble_is_fixed_by_the_key_and_the_submission(tmp_path: Path) -> None:
    key = challenge.course_key(tmp_path)
    assert (tmp_path / challenge.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert challenge.course_key(tmp_path) == key and len(key) == 64  # kept, not redrawn
    one = Scramble.keyed(key, "fingerprint-a")
    assert (one.pixels == Scramble.keyed(key, "fingerprint-a").pixels).all()
    assert (one.classes == Scramble.keyed(key, "fingerprint-a").classes).all()
    assert (one.pixels != Scramble.keyed(key, "fingerprint-b").pixels).any()
    (tmp_path / "elsewhere").mkdir()
    other = challenge.course_key(tmp_path / "elsewhere")
    assert other != key and (one.pixels != Scramble.keyed(other, "fingerprint-a").pixels).any()
    (tmp_path / challenge.KEY_FILE).write_text("short")
    with pytest.raises(ValueError, match="not a key"):
        challenge.course_key(tmp_path)


def test_test_metrics_are_the_mlp_accuracy_and_mean_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    weights = [
        (rng.normal(size=(784, 3)), rng.normal(size=3)),
        (rng.normal(size=(3, 10)), 0 * rng.normal(size=10)),
    ]
    X = rng.random((2500, 784)).astype(np.float32)
    y = rng.integers(0, 10, 2500)
    logits = _mlp(weights, X)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    accuracy, loss = challenge.test_metrics(weights, X, y, chunk=1000)  # chunks of 1000, 500
    assert accuracy == pytest.approx((logits.argmax(axis=1) == y).mean())
    assert loss == pytest.approx(-log_p[np.arange(2500), y].mean())


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("weights", "list of 2 (W, b) pairs, got a str"),
        ([], "list of 2 (W, b) pairs, got a list of 0"),
        ([(np.zeros((784, 4)),), (np.zeros((4, 10)), np.zeros(10))], "layer 0: expected a (W, b)"),
        ([(np.zeros((4, 784)), np.zeros(4)), (np.zeros((4, 10)), np.zeros(10))], "shape (4, 784)"),
        ([(np.zeros((784, 4)), np.zeros(4)), (np.zeros((4, 10)), np.zeros((1, 10)))], "layer 1: b"),
        ([(np.zeros((784, 4), np.int64), np.zeros(4)), (np.zeros((4, 10)), np.zeros(10))], "int64"),
        (
            [(np.zeros((784, 4), np.float16), np.zeros(4)), (np.zeros((4, 10)), np.zeros(10))],
            "float16",
        ),
        ([([[0.0] * 4] * 784, np.zeros(4)), (np.zeros((4, 10)), np.zeros(10))], "not an ndarray"),
        ([(np.full((784, 4), np.nan), np.zeros(4)), (np.zeros((4, 10)), np.zeros(10))], "NaN"),
        ([(np.zeros((784, 4)), np.zeros(4)), (np.zeros((4, 10)), np.full(10, np.inf))], "infinity"),
    ],
)
def test_weights_of_the_wrong_kind_are_refused_with_the_reason(value: object, says: str) -> None:
    with pytest.raises(Refused) as refused:
        challenge.check_weights(value, (784, 4, 10))
    assert says in str(refused.value)


def test_weights_of_the_right_kind_come_back_as_float64_copies() -> None:
    W = np.ones((784, 4), np.float32)
    out = challenge.check_weights(
        [(W, np.zeros(4, np.float32)), (np.ones((4, 10)), np.zeros(10))], (784, 4, 10)
    )
    assert out[0][0].dtype == np.float64 and out[0][0] is not W


def test_the_recipe_file_is_read_with_bounds(tmp_path: Path) -> None:
    assert challenge.read_recipe(tmp_path) is None
    recipe = tmp_path / exercises.CHALLENGE_FILE
    recipe.write_text('{"epochs": 3}')
    assert challenge.read_recipe(tmp_path) == {"epochs": 3}
    for content, says in (
        ("[1, 2]", "JSON object"),
        ('{"epochs": 3,}', "not valid JSON"),
        ("[" * 100000 + "]" * 100000, "too big"),
        ("[" * 30000 + "]" * 30000, "nested too deeply"),
        ('{"lr": NaN}', "NaN is not a number JSON allows"),
        ('{"lr": -Infinity}', "Infinity is not a number JSON allows"),
        ('{"lr": 1, "lr": 2}', "duplicate key"),
    ):
        recipe.write_text(content)
        with pytest.raises(Refused, match=says) as refused:
            challenge.read_recipe(tmp_path)
        # Named as the student knows it, not by the grader's scratch folder.
        assert str(refused.value).startswith(exercises.CHALLENGE_FILE + ":")
        assert str(tmp_path) not in str(refused.value)
    recipe.write_bytes(b'{"epochs": "\xff"}')
    with pytest.raises(Refused, match="UTF-8"):
        challenge.read_recipe(tmp_path)
    recipe.unlink()
    recipe.symlink_to("/dev/zero")
    with pytest.raises(Refused, match="link"):
        challenge.read_recipe(tmp_path)
    recipe.unlink()
    os.mkfifo(recipe)
    with pytest.raises(Refused, match="regular file"):
        challenge.read_recipe(tmp_path)


def test_points_come_at_each_threshold_and_not_below() -> None:
    for accuracy, points in ((0.9699, 0), (0.97, 5), (0.9799, 5), (0.98, 10), (1.0, 10)):
        run = challenge.ChallengeRun(60.0, status="scored", accuracy=accuracy, message="m")
        rows = challenge.rows(run)
        assert [r.id for r in rows] == [e.id for e in exercises.CHALLENGE]
        assert sum(r.points for r in rows) == points
    assert sum(e.points for e in exercises.CHALLENGE) == 10
    missing = challenge.rows(challenge.ChallengeRun(60.0, message="no challenge.json"))
    assert {r.status for r in missing} == {"not started"}
    refused = challenge.rows(challenge.ChallengeRun(60.0, status="refused", message="epochs"))
    assert {r.status for r in refused} == {"failed"} and refused[0].message == "epochs"


# -- for real: the student's package trains in the sandbox ------------------------------------
@pytest.fixture(scope="module")
def data() -> challenge.Data:
    try:
        return challenge.load_data()
    except Exception as error:  # noqa: BLE001
        pytest.skip(f"MNIST not available here: {error}")


def _submission(folder: Path, recipe: dict | None, extra: str = "") -> Path:
    """The reference package as a submission, its challenge.json, and code appended to train.py."""
    shutil.copytree(ROOT / "solutions" / "numpynet", folder / "numpynet")
    if recipe is not None:
        (folder / exercises.CHALLENGE_FILE).write_text(json.dumps(recipe))
    if extra:
        with (folder / "numpynet" / "train.py").open("a") as handle:
            handle.write("\n\n" + extra)
    return folder


def _run(
    folder: Path, data: challenge.Data, budget: float, **kwargs: object
) -> challenge.ChallengeRun:
    worker = Worker(folder, choose("any"))
    try:
        return challenge.run(worker, folder, data, budget, **kwargs)
    finally:
        worker.close()


@pytest.mark.slow
def test_the_reference_with_the_default_recipe_reaches_97_5_percent_within_the_budget(
    tmp_path: Path, data: challenge.Data
) -> None:
    recipe = json.loads(DEFAULT_RECIPE.read_text())
    folder = _submission(tmp_path / "ref", recipe)
    grader = Grader("any", assignment="challenge")
    try:
        result = grader.grade(folder)
    finally:
        grader.close()
    run = result.challenge
    assert run is not None and run["status"] == "scored", run
    assert run["accuracy"] >= 0.975
    assert run["seconds"] <= challenge.DEFAULT_BUDGET and not run["stopped"]
    assert run["scored_epoch"] == run["epochs_done"] == recipe.get("epochs", 10)
    assert run["scrambled"] and run["recipe"] == recipe
    assert result.points == sum(
        e.points for e in exercises.CHALLENGE if run["accuracy"] >= e.threshold
    )
    # The validation accuracy the run reported is the one a local run gets, within noise.
    assert abs(run["val_accuracy"] - run["accuracy"]) < 0.02


@pytest.mark.slow
def test_a_recipe_over_budget_is_stopped_and_scored_on_what_it_reached(
    tmp_path: Path, data: challenge.Data
) -> None:
    folder = _submission(tmp_path / "long", {"epochs": 200, "batch_size": 32})
    started = time.monotonic()
    run = _run(folder, data, budget=3.0)
    assert time.monotonic() - started < 60
    assert run.status == "scored", run.message
    assert "CPU budget of 3 s ran out" in run.stopped
    assert 1 <= run.scored_epoch < 200 and run.seconds <= 3.0
    assert run.epochs_done == run.scored_epoch + 1  # the epoch that crossed it is not scored
    assert run.accuracy > 0.85


@pytest.mark.slow
def test_a_run_that_never_ends_an_epoch_is_killed_by_the_cpu_limit(
    tmp_path: Path, data: challenge.Data
) -> None:
    folder = _submission(
        tmp_path / "loop",
        {"epochs": 1},
        "def challenge_fit(*args, **kwargs):\n    while True:\n        pass\n",
    )
    started = time.monotonic()
    run = _run(folder, data, budget=2.0)
    assert time.monotonic() - started < 2.0 + challenge.IMPORT_CPU_SECONDS + 15
    assert run.status == "failed" and run.accuracy is None
    assert "CPU limit" in run.message and "after 0 epochs" in run.message
    rows = challenge.rows(run)
    assert sum(r.points for r in rows) == 0 and {r.status for r in rows} == {"error"}


SEEKER = r'''
_real_challenge_fit = challenge_fit


def challenge_fit(recipe, images, labels, on_epoch=None):
    """Look everywhere for MNIST's test set before training."""
    import os

    found = []
    where = open(os.path.join(os.path.dirname(__file__), "where.txt")).read().split("\n")
    for path in where:
        for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", ""):
            try:
                with open(os.path.join(path, name), "rb") as handle:
                    handle.read(16)
                found.append("opened " + os.path.join(path, name))
            except OSError:
                pass
    for key, value in os.environ.items():
        if "mnist" in (key + value).lower() or "t10k" in value:
            found.append("environment " + key)
    for top, dirs, files in os.walk("/", followlinks=False):
        dirs[:] = [d for d in dirs if top != "/" or d not in ("proc", "sys", "dev")]
        found += [os.path.join(top, f) for f in files if "t10k" in f or "idx3" in f]
    print("SEEKER FOUND:", found)
    if len(images) != 60000:
        print("SEEKER FOUND: images besides the training set")
    return _real_challenge_fit(recipe, images, labels, on_epoch)
'''


@pytest.mark.slow
def test_a_submission_that_looks_for_the_test_set_finds_nothing(
    tmp_path: Path, data: challenge.Data
) -> None:
    folder = _submission(tmp_path / "seeker", {"epochs": 1, "batch_size": 128}, SEEKER)
    # It knows where the grader keeps MNIST (the instructor's path) and the usual caches.
    guesses = [str(data.folder), os.environ.get("MNIST_DIR", ""), str(ROOT / "data" / "mnist")]
    guesses.append(str(Path.home() / ".cache" / "numpynet" / "mnist"))
    (folder / "numpynet" / "where.txt").write_text("\n".join(guesses))
    grader = Grader("any", assignment="challenge", challenge_budget=30)
    try:
        result = grader.grade(folder)
    finally:
        grader.close()
    assert "SEEKER FOUND: []" in result.output, result.output[-2000:]
    assert "besides the training set" not in result.output
    assert result.challenge["status"] == "scored"
    assert not [p for p in result.problems if "test set" in p]


SMUGGLER = r'''
def challenge_fit(recipe, images, labels, on_epoch=None):
    """Train nothing: hand in weights trained elsewhere, on MNIST as it is."""
    import os

    stored = np.load(os.path.join(os.path.dirname(__file__), "smuggled.npz"))
    weights = [(stored["W0"], stored["b0"]), (stored["W1"], stored["b1"])]
    on_epoch({"epoch": 1, "val_acc": 0.99}, weights)
    return {"weights": weights, "history": [], "best_epoch": None}
'''


@pytest.mark.slow
def test_weights_trained_elsewhere_score_at_chance(tmp_path: Path, data: challenge.Data) -> None:
    from numpynet.layers import Linear
    from numpynet.train import TrainConfig, build_model, fit, make_splits

    config = TrainConfig(epochs=1, batch_size=128, optimizer="adam")
    X = data.train_images.astype(np.float32) / 255
    splits = make_splits(X, data.train_labels.astype(np.int64), data.X_test, data.y_test, config)
    model = fit(build_model(config), splits, config).model
    (W0, b0), (W1, b1) = [
        (lay.W.data, lay.b.data) for lay in model.layers if isinstance(lay, Linear)
    ]
    folder = _submission(tmp_path / "smuggler", {"epochs": 1}, SMUGGLER)
    np.savez(folder / "numpynet" / "smuggled.npz", W0=W0, b0=b0, W1=W1, b1=b1)
    # Without the scramble these weights would win: the scramble is what stops them.
    plain = Scramble(np.arange(784), np.arange(10))
    assert _run(folder, data, budget=10.0, scramble=plain).accuracy > 0.9
    run = _run(folder, data, budget=10.0)
    assert run.status == "scored" and run.accuracy < 0.3


@pytest.mark.slow
@pytest.mark.parametrize(
    ("weights", "says"),
    [
        ("[(W.T, b) for W, b in weights]", "shape (128, 784)"),
        ("[(W.astype(np.int32), b) for W, b in weights]", "dtype int32"),
        ("weights[:1]", "list of 2 (W, b) pairs, got a list of 1"),
    ],
)
def test_returned_weights_of_the_wrong_shape_or_dtype_are_refused_clearly(
    tmp_path: Path, data: challenge.Data, weights: str, says: str
) -> None:
    code = (
        "def challenge_fit(recipe, images, labels, on_epoch=None):\n"
        "    weights = model_weights(build_model(recipe_config(recipe)))\n"
        f"    on_epoch({{'epoch': 1}}, {weights})\n"
    )
    folder = _submission(tmp_path / "bad", {"epochs": 1}, code)
    run = _run(folder, data, budget=10.0)
    assert run.status == "failed" and says in run.message and "refused" in run.message
    assert "after epoch 1" in run.message


def test_a_submission_without_a_recipe_or_with_a_bad_one_is_told_why(
    tmp_path: Path, data: challenge.Data
) -> None:
    run = _run(_submission(tmp_path / "none", None), data, budget=5.0)
    assert run.status == "no recipe" and exercises.CHALLENGE_FILE in run.message
    run = _run(_submission(tmp_path / "typo", {"epoch": 3}), data, budget=5.0)
    assert run.status == "refused" and "epoch" in run.message


@pytest.mark.slow
def test_a_run_reporting_more_epochs_than_its_recipe_is_stopped_at_the_recipes_last(
    tmp_path: Path, data: challenge.Data
) -> None:
    code = (
        "def challenge_fit(recipe, images, labels, on_epoch=None):\n"
        "    weights = model_weights(build_model(recipe_config(recipe)))\n"
        "    for epoch in range(1, 6):\n"
        "        on_epoch({'epoch': epoch, 'val_acc': 0.1}, weights)\n"
    )
    run = _run(_submission(tmp_path / "more", {"epochs": 2}, code), data, budget=10.0)
    # The run ends at the recipe's last epoch: what it would report after is never taken.
    assert run.status == "scored" and run.scored_epoch == 2 and run.epochs_done == 2
    assert len(run.history) == 2 and not run.stopped


@pytest.mark.slow
def test_work_done_while_the_package_imports_counts_as_training_time(
    tmp_path: Path, data: challenge.Data
) -> None:
    """Training at import time, then handing the weights in at once, still pays for it."""
    code = (
        "import time as _time\n"
        "_end = _time.process_time() + 3.0\n"
        "while _time.process_time() < _end:\n"
        "    pass\n"
        "def challenge_fit(recipe, images, labels, on_epoch=None):\n"
        "    on_epoch({'epoch': 1}, model_weights(build_model(recipe_config(recipe))))\n"
    )
    run = _run(_submission(tmp_path / "early", {"epochs": 1}, code), data, budget=10.0)
    assert run.status == "scored" and run.seconds >= 3.0
    run = _run(_submission(tmp_path / "early2", {"epochs": 1}, code), data, budget=2.0)
    assert run.status == "failed" and "CPU budget of 2 s ran out during epoch 1" in run.message


def test_where_the_sandbox_could_read_the_test_set_it_is_said(tmp_path: Path) -> None:
    from autograder.sandbox import Isolation

    python = (os.path.realpath(os.sys.executable), (str(tmp_path / "site"),))
    inside = challenge.test_set_hidden(Isolation("bwrap", python=python), tmp_path / "site" / "m")
    assert inside and "which the sandbox mounts" in inside
    assert challenge.test_set_hidden(Isolation("bwrap", python=python), tmp_path / "mnist") is None
    under_usr = challenge.test_set_hidden(Isolation("bwrap", python=python), Path("/usr/share/m"))
    assert under_usr and "inside /usr," in under_usr
    assert "no isolation" in challenge.test_set_hidden(Isolation("none"), tmp_path / "mnist")


def test_without_isolation_every_challenge_report_says_the_leaderboard_is_not_trusted(
    tmp_path: Path, data: challenge.Data
) -> None:
    grader = Grader("none", assignment="challenge")
    try:
        result = grader.grade(_submission(tmp_path / "ada", None))
    finally:
        grader.close()
    assert any("cannot be trusted" in p for p in result.problems), result.problems
    assert result.challenge["status"] == "no recipe"
    grader = Grader("any", assignment="challenge")
    try:
        result = grader.grade(_submission(tmp_path / "bob", None))
    finally:
        grader.close()
    assert not any("cannot be trusted" in p for p in result.problems), result.problems


@pytest.mark.slow
def test_with_early_stopping_the_scored_epoch_is_the_best_one(
    tmp_path: Path, data: challenge.Data
) -> None:
    code = (
        "def challenge_fit(recipe, images, labels, on_epoch=None):\n"
        "    weights = model_weights(build_model(recipe_config(recipe)))\n"
        "    for epoch, loss in enumerate([0.5, 0.3, 0.4, 0.3], start=1):\n"
        "        on_epoch({'epoch': epoch, 'val_loss': loss, 'val_acc': 1 - loss}, weights)\n"
    )
    recipe = {"epochs": 4, "early_stopping": 3}
    run = _run(_submission(tmp_path / "early", recipe, code), data, budget=10.0)
    assert run.status == "scored" and run.scored_epoch == 2 and run.epochs_done == 4
    assert run.val_accuracy == pytest.approx(0.7)


def _class(folder: Path) -> Path:
    """ada: the reference and the default recipe; bob: a recipe with a typo; eve: none."""
    _submission(folder / "ada", json.loads(DEFAULT_RECIPE.read_text()))
    _submission(folder / "bob", {"epochs": 2, "hiden": [64]})
    _submission(folder / "eve", None)
    return folder


@pytest.mark.slow
def test_grade_all_runs_the_challenge_for_a_class_and_writes_the_leaderboard(
    tmp_path: Path, data: challenge.Data
) -> None:
    """``grade-all SUBMISSIONS/ --assignment challenge --out grades-challenge/``, as the
    README says (SUBMISSIONS/ being a class of three)."""
    import csv
    import subprocess
    import sys

    folder = _class(tmp_path / "SUBMISSIONS")
    out = tmp_path / "grades-challenge"
    line = f"python -m autograder grade-all SUBMISSIONS/ --assignment challenge --out {out}/"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert line.replace(f"{out}/", "grades-challenge/") in readme
    argv = [sys.executable, *line.split()[1:]]
    argv[argv.index("SUBMISSIONS/")] = f"{folder}/"
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with open(out / "leaderboard.csv", newline="") as handle:
        board = list(csv.DictReader(handle))
    assert [row["student"] for row in board] == ["ada", "bob", "eve"]
    assert board[0]["rank"] == "1" and float(board[0]["test_accuracy"]) >= 97.5
    assert board[1]["rank"] == board[2]["rank"] == ""
    assert "leaderboard.md" in done.stdout and (out / "leaderboard.md").is_file()
    with open(out / "class.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert {e.id for e in exercises.CHALLENGE} <= set(rows["ada"])
    assert float(rows["ada"]["total"]) >= 5 and float(rows["eve"]["total"]) == 0
    feedback = (out / "bob" / "feedback.md").read_text()
    assert "hiden" in feedback and "did you mean" in feedback
    results = json.loads((out / "ada" / "results.json").read_text())
    assert [entry["order"] for entry in results["leaderboard"]] == ["desc", "asc"]
    # Graded once: a second run keeps every report (same submissions, same budget); a
    # regrade would draw another scramble and time another run.
    kept = (out / "ada" / "report.json").read_text()
    again = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and (out / "ada" / "report.json").read_text() == kept
    # Regraded (--force): the course's key fixes ada's scramble, so her grade is the same.
    assert (out / challenge.KEY_FILE).stat().st_mode & 0o777 == 0o600
    forced = subprocess.run(
        argv + ["--force", "--only", "ada"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert forced.returncode == 0, forced.stderr[-2000:]
    regraded = json.loads((out / "ada" / "report.json").read_text())["challenge"]
    first = json.loads(kept)["challenge"]
    assert (out / "ada" / "report.json").read_text() != kept  # graded again: other timings
    assert regraded["accuracy"] == first["accuracy"]
    assert [r["val_loss"] for r in regraded["history"]] == [r["val_loss"] for r in first["history"]]


@pytest.mark.slow
def test_the_gradescope_zip_for_the_challenge_trains_and_fills_the_leaderboard(
    tmp_path: Path, data: challenge.Data
) -> None:

    import test_gradescope as gs

    root = gs.built_root(tmp_path, "--assignment", "challenge", "--challenge-budget", "30")
    upload = tmp_path / "upload"
    _submission(upload / "my-course", json.loads(DEFAULT_RECIPE.read_text()))  # one folder down
    results = gs.run_autograder(root, upload)  # validated against Gradescope's schema
    accuracy, seconds = (entry["value"] for entry in results["leaderboard"])
    assert accuracy >= 97.5 and 0 < seconds <= 30
    expected = sum(e.points for e in exercises.CHALLENGE if accuracy >= 100 * e.threshold)
    assert results["score"] == expected
    assert "trained the recipe `my-course/challenge.json`" in results["output"]
    assert "python -m numpynet train --recipe challenge.json" in json.dumps(results)


def test_a_separate_user_must_fail_to_read_the_test_set(user_level, shared_dirs) -> None:  # noqa: F811
    """The user level (no bubblewrap): the probe, run as a worker uid, tries the MNIST folder."""
    folder = shared_dirs[0].parent / "mnist"  # in a folder every user may traverse
    folder.mkdir(mode=0o755)
    (folder / "t10k-images-idx3-ubyte").write_bytes(b"\0" * 16)
    (folder / "t10k-images-idx3-ubyte").chmod(0o644)
    hole = challenge.test_set_hidden(user_level, folder)
    assert hole and "can read" in hole and "t10k" in hole
    folder.chmod(0o700)
    assert challenge.test_set_hidden(user_level, folder) is None


@pytest.mark.slow
def test_a_run_that_lingers_after_its_last_epoch_is_not_waited_for(
    tmp_path: Path, data: challenge.Data
) -> None:
    code = (
        "def challenge_fit(recipe, images, labels, on_epoch=None):\n"
        "    import time\n"
        "    weights = model_weights(build_model(recipe_config(recipe)))\n"
        "    on_epoch({'epoch': 1}, weights)\n"
        "    on_epoch({'epoch': 2}, weights)\n"
        "    time.sleep(600)\n"
    )
    started = time.monotonic()
    run = _run(_submission(tmp_path / "linger", {"epochs": 2}, code), data, budget=20.0)
    assert time.monotonic() - started < 20
    assert run.status == "scored" and run.scored_epoch == 2 and not run.stopped
