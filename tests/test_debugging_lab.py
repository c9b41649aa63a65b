"""Lesson 06, the debugging lab: the mysteries, their answer key, and how they are graded.

* the payload shipped in debugging_lab.py is the catalogue's current code, and each mystery
  replaces only what its catalogue entry rewrites;
* the notebook's hidden answer key, the lab table and the catalogue agree, and the released
  notebook and module do not show the key or the buggy code in plain text;
* every mystery shows its intended symptom when the lesson's OWN recipe functions (taken
  from the source notebook) run on it, and the healthy network shows none (needs MNIST);
* through the real grader, all answers right earn every autograded point of the lab, wrong
  answers none, and the feedback names the experiment, never the component.
"""

from __future__ import annotations

import ast
import base64
import json
import math
import sys
import zlib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import exercises, lab
from autograder.cells import quiet
from autograder.examples.bugs import BY_NAME
from autograder.examples.hostile_notebooks import write_base
from autograder.grade import Grader
from autograder.sandbox import choose

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "lessons" / "06_debugging_lab.ipynb"
RELEASED = ROOT / "lessons" / "06_debugging_lab.ipynb"
NAME = "06_debugging_lab"
MNIST = next(
    (
        Path(p)
        for p in (
            __import__("os").environ.get("MNIST_DIR"),
            ROOT.parent / "shared" / "data" / "mnist",
            ROOT / "data" / "mnist",
        )
        if p and (Path(p) / "train-images-idx3-ubyte.gz").is_file()
    ),
    None,
)
needs_mnist = pytest.mark.skipif(MNIST is None, reason="real MNIST not found (set MNIST_DIR)")


def _cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def _by_id(path: Path) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in _cells(path) if "nbgrader" in c.metadata}


# -- the payload and the key ----------------------------------------------------------------
def test_the_shipped_payload_is_the_catalogues_current_code() -> None:
    assert lab.shipped_payload() == lab.payload(), "run `python -m autograder.lab`, then release"
    assert (ROOT / "lessons" / "debugging_lab.py").read_bytes() == lab.LAB_MODULE.read_bytes()


@pytest.mark.parametrize("k", sorted(lab.MYSTERIES))
def test_each_mystery_is_one_catalogue_bug_and_its_answer_is_the_exercise_it_loses(k) -> None:
    mystery = lab.MYSTERIES[k]
    entry = BY_NAME[mystery.bug]
    (lost,) = entry.loses  # exactly one component is broken
    assert mystery.component == exercises.get(lost).qualname
    spec = lab.spec()[str(k)]
    rewritten = {exercises.get(e).qualname for e in entry.regions}
    assert set(spec["patches"]) == rewritten  # only what the entry rewrites is replaced
    assert mystery.component in spec["patches"]


def test_the_notebooks_hidden_key_is_the_lab_table() -> None:
    cells = _by_id(SOURCE)
    for k, mystery in lab.MYSTERIES.items():
        test = cells[f"l06_mystery_{k}"]
        hidden = test.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
        (check,) = ast.parse(hidden).body
        assert isinstance(check, ast.Assert)
        assert ast.unparse(check.test) == f"answer == {mystery.component!r}"
        assert mystery.diagnostic in ast.literal_eval(check.msg)  # the feedback
        assert test.metadata["nbgrader"]["points"] == 2
    names: dict = {}
    exec(cells["l06_answers"].source, names)  # noqa: S102 - our own source notebook
    assert names["ANSWERS"] == {k: m.component for k, m in lab.MYSTERIES.items()}
    assert names["COMPONENTS"] == lab.COMPONENTS
    assert len(lab.MYSTERIES) >= 6
    assert len({m.bug for m in lab.MYSTERIES.values()}) == len(lab.MYSTERIES)


def test_the_released_lab_shows_neither_the_key_nor_the_buggy_code() -> None:
    released = RELEASED.read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in released and "answer ==" not in released
    for mystery in lab.MYSTERIES.values():
        assert mystery.bug not in released
    module = (ROOT / "lessons" / "debugging_lab.py").read_text(encoding="utf-8")
    for name in BY_NAME:
        assert name not in module
    assert "return dY\n" not in module and "argmax(axis=0)" not in module
    # ...but the payload decodes to the table's code (so the check above is not vacuous).
    decoded = zlib.decompress(base64.b64decode(lab.shipped_payload())).decode()
    assert "argmax(axis=0)" in decoded and json.loads(decoded) == lab.spec()


# -- the symptoms -----------------------------------------------------------------------------
def _recipe(X_test: np.ndarray, y_test: np.ndarray) -> dict:
    """The recipe functions of the source notebook (its top-level defs), ready to call."""
    sys.path.insert(0, str(SOURCE.parent))
    try:
        import debugging_lab
    finally:
        sys.path.remove(str(SOURCE.parent))
    import numpynet as nn

    scope = {
        "np": np,
        "nn": nn,
        "math": math,
        "lab": debugging_lab,
        "quiet": quiet,
        "X_test": X_test,
        "y_test": y_test,
    }
    for cell in _cells(SOURCE):
        if cell.cell_type != "code" or cell.source.startswith("%"):
            continue
        tree = ast.parse(cell.source)
        defs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
        exec(compile(ast.Module(defs, []), "<lesson 06>", "exec"), scope)  # noqa: S102
    return scope


@pytest.fixture(scope="module")
def recipe() -> dict:
    import numpynet as nn

    X, y = nn.load_mnist("train", MNIST)
    X_test, y_test = nn.load_mnist("test", MNIST)
    scope = _recipe(X_test[:1000], y_test[:1000])
    X, y = X[:3000], y[:3000]
    lab_module = scope["lab"]
    results = {}
    for k in (0, *lab_module.MYSTERY_IDS):

        def fresh(k=k):
            return lab_module.healthy(X, y) if k == 0 else lab_module.mystery(k, X, y)

        results[k] = {
            "init8": scope["loss_at_init"](fresh(), X[:8], y[:8]),
            "init256": scope["loss_at_init"](fresh(), X[:256], y[:256]),
            "check": scope["gradient_check"](fresh(), X[:8], y[:8]),
            "overfit": scope["overfit"](fresh(), X[:64], y[:64]),
            "curves": scope["curves"](fresh()),
            "invariants": scope["invariants"](fresh(), X[:64], y[:64]),
        }
    return results


LN10 = math.log(10)


def _broken_invariants(result: dict) -> set[str]:
    return {name for name, holds in result["invariants"].items() if not holds}


def _failing_layers(result: dict) -> set[str]:
    return {name for name, (error, _) in result["check"].items() if error > 1e-6}


@needs_mnist
def test_the_healthy_network_shows_the_numbers_the_lesson_promises(recipe) -> None:
    healthy = recipe[0]
    assert abs(healthy["init8"] - LN10) < 0.3 and abs(healthy["init256"] - LN10) < 0.3
    assert not _failing_layers(healthy)
    assert healthy["overfit"][-1] < 0.01
    train = [row[0] for row in healthy["curves"]]
    assert train == sorted(train, reverse=True) and train[-1] < 0.4
    assert all(row[2] == row[3] and row[2] > 0.8 for row in healthy["curves"])
    assert not _broken_invariants(healthy)


def _healthy_at_init_and_check(result: dict) -> bool:
    return abs(result["init256"] - LN10) < 0.3 and not _failing_layers(result)


@needs_mnist
def test_mystery_relu_backward_fails_the_gradient_check_in_the_first_layer_only(recipe) -> None:
    result = recipe[1]
    assert abs(result["init256"] - LN10) < 0.3
    assert _failing_layers(result) == {"W1", "b1"}


@needs_mnist
def test_mystery_loss_backward_is_off_by_the_batch_size_and_gets_stuck_at_ln10(recipe) -> None:
    result = recipe[2]
    assert abs(result["init256"] - LN10) < 0.3
    assert all(abs(ratio - 8) < 1e-3 for _, ratio in result["check"].values())  # N = 8
    train = [row[0] for row in result["curves"]]
    assert train[0] > 5 and abs(train[-1] - LN10) < 0.3  # blew up, then stuck at ln 10
    assert result["curves"][-1][3] < 0.2
    assert result["overfit"][-1] > 1.0


@needs_mnist
def test_mystery_train_epoch_passes_the_checks_but_the_loss_explodes(recipe) -> None:
    result = recipe[3]
    assert _healthy_at_init_and_check(result)
    train = [row[0] for row in result["curves"]]
    assert train[-1] > train[0] > 5  # the loss grows epoch after epoch
    assert result["overfit"][-1] > result["overfit"][0]
    assert _broken_invariants(result) == {"train_epoch leaves one batch's gradient"}


@needs_mnist
def test_mystery_sgd_step_learns_slowly_and_breaks_the_step_rule(recipe) -> None:
    result = recipe[4]
    assert _healthy_at_init_and_check(result)
    assert result["curves"][0][0] > 1.5 * recipe[0]["curves"][0][0]  # slow
    assert result["overfit"][-1] > 20 * recipe[0]["overfit"][-1]
    assert result["curves"][-1][3] > 0.7  # but it does learn
    assert _broken_invariants(result) == {"first step is p - lr * g"}


@needs_mnist
def test_mystery_evaluate_reports_a_wrong_accuracy_for_a_good_loss(recipe) -> None:
    result = recipe[5]
    assert _healthy_at_init_and_check(result)
    assert result["overfit"][-1] < 0.01
    last = result["curves"][-1]
    assert last[1] < 0.5 and last[3] > 0.8 and last[2] < 0.2  # loss fine, accuracy not
    assert _broken_invariants(result) == {"evaluate's accuracy = own count"}


@needs_mnist
def test_mystery_loss_forward_is_batch_size_times_ln10_at_init(recipe) -> None:
    result = recipe[6]
    assert result["init8"] == pytest.approx(8 * recipe[0]["init8"], rel=1e-4)
    assert result["init256"] == pytest.approx(256 * recipe[0]["init256"], rel=1e-4)
    assert all(abs(ratio - 1 / 8) < 1e-4 for _, ratio in result["check"].values())
    assert _broken_invariants(result) == {"loss is a mean"}
    assert result["curves"][-1][3] > 0.8  # training itself works


@needs_mnist
def test_mystery_linear_forward_has_dead_biases_in_the_gradient_check(recipe) -> None:
    result = recipe[7]
    assert abs(result["init256"] - LN10) < 0.3
    assert _failing_layers(result) == {"b1", "b2"}
    assert all(result["check"][b][0] == pytest.approx(1.0) for b in ("b1", "b2"))


@needs_mnist
def test_every_mystery_differs_from_the_healthy_network_somewhere(recipe) -> None:
    """Guard: the symptom checks above would also catch a mystery that broke nothing."""
    for k in sorted(lab.MYSTERIES):
        result = recipe[k]
        assert (
            _failing_layers(result)
            or _broken_invariants(result)
            or result["curves"][0][0] > 1.5 * recipe[0]["curves"][0][0]
        ), k


# -- grading ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(choose("auto"), timeout=10, notebooks="always", assignment="lab")


def _set_answers(submission: Path, source: str) -> None:
    path = submission / "lessons" / f"{NAME}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "l06_answers"
    )
    cell.source = source
    nbformat.write(notebook, path)


def _lab(result) -> dict:
    return result.notebooks["notebooks"][NAME]


def _answer_cell(answers: dict[int, str]) -> str:
    return f"COMPONENTS = {lab.COMPONENTS!r}\nANSWERS = {answers!r}\n"


def test_all_answers_right_earn_every_autograded_point_of_the_lab(grader, tmp_path) -> None:
    submission = write_base("solved", tmp_path / "ada")
    _set_answers(submission, _answer_cell({k: m.component for k, m in lab.MYSTERIES.items()}))
    result = _lab(grader.grade(submission))
    assert result["score"] == result["max_score"] == 2 * len(lab.MYSTERIES)
    assert result["manual_max_score"] == 7
    assert result["cells"]["l06_evidence"]["status"] == "needs manual grading"


def test_wrong_answers_earn_nothing_and_the_feedback_names_the_experiment(grader, tmp_path):
    submission = write_base("solved", tmp_path / "bob")
    # A valid id for every mystery, but never the right one.
    wrong = {
        k: next(c for c in lab.COMPONENTS if c != m.component) for k, m in lab.MYSTERIES.items()
    }
    _set_answers(submission, _answer_cell(wrong))
    result = _lab(grader.grade(submission))
    assert result["score"] == 0
    for k, mystery in lab.MYSTERIES.items():
        cell = result["cells"][f"l06_mystery_{k}"]
        assert cell["status"] == "failed"
        assert "a hidden check failed" in cell["failure"]
        assert mystery.diagnostic.split(" - ")[0] in " ".join(cell["failure"].split())
        assert mystery.component not in cell["failure"].replace(wrong[k], "")


def test_unanswered_and_invalid_answers_say_so(grader, tmp_path) -> None:
    submission = write_base("solved", tmp_path / "cy")
    _set_answers(submission, _answer_cell({1: "ReLU.backwards"}))
    result = _lab(grader.grade(submission))
    assert result["score"] == 0
    assert "not one of the ids" in result["cells"]["l06_mystery_1"]["failure"]
    second = result["cells"]["l06_mystery_2"]
    assert second["status"] == "not started" and "not answered yet" in second["failure"]


# -- the lab is its own assignment ------------------------------------------------------------
def test_the_course_bundle_leaves_the_lab_out_and_the_lab_bundle_is_the_lab(tmp_path) -> None:
    from autograder import release

    generated = release.build(ROOT)
    course = release.bundle_files(ROOT, generated)
    assert not set(release.LAB_FILES) & set(course)
    assert "06_debugging_lab" not in course["README.md"].decode()
    assert f"lessons/{NAME}.ipynb" in generated  # ...though release makes it
    assert release.main(["--bundle", str(tmp_path / "lab.zip"), "--assignment", "lab"]) == 0
    import zipfile

    names = zipfile.ZipFile(tmp_path / "lab.zip").namelist()
    assert sorted(names) == sorted(f"numpynet-course/{n}" for n in (*release.LAB_FILES, "LAB.md"))


def test_each_assignment_grades_its_own_work(tmp_path) -> None:
    """The course grades the package and lessons 00-05 (205 points), the lab lesson 06 alone."""
    submission = write_base("solved", tmp_path / "dee")
    course = Grader(choose("auto"), timeout=10, notebooks="always").grade(submission)
    assert NAME not in course.notebooks["notebooks"]
    assert course.max_total == 205 and course.points == course.max_points == 150
    (submission / "lessons" / f"{NAME}.ipynb").unlink()  # handed in before the lab was out
    again = Grader(choose("auto"), timeout=10, notebooks="always").grade(submission)
    assert again.total == course.total  # the lab is not counted against the course
    lab_only = Grader(choose("auto"), timeout=10, notebooks="always", assignment="lab")
    result = lab_only.grade(write_base("solved", tmp_path / "eve"))
    assert result.exercises == [] and list(result.notebooks["notebooks"]) == [NAME]
    assert result.max_total == 2 * len(lab.MYSTERIES) + 7
