"""Lesson 06, the debugging lab: per-student mysteries, their key, and how they are graded.

* the payload shipped in debugging_lab.py is the catalogue's current code; every lab bug is
  one catalogue bug that loses exactly its component;
* draws: for 50 random identities, seven distinct components, each mystery built from the
  bug drawn for it; a classmate's correct answers score at chance under another identity;
  the instructor's secret is in no released file or bundle;
* every lab bug shows its intended symptom when the lesson's OWN recipe functions (taken
  from the source notebook) run on it, the healthy network shows none, bugs of different
  components show different symptoms, and every component in the answer list is exposed
  (needs MNIST; all bugs in a slow test, one student's seven mysteries in the fast one);
* a mystery's objects and functions look like a healthy network's under type(), is and
  __name__;
* through the real grader: the submitter's key decides, a different STUDENT is reported,
  wrong answers' feedback names the experiment, never the component; before the due date
  neither the feedback nor Gradescope's results.json shows a per-mystery result or score.
"""

from __future__ import annotations

import ast
import base64
import json
import math
import random
import sys
import zipfile
import zlib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import exercises, lab, report
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
# 50 identities drawn at random (seeded: the same 50 on every run).
IDENTITIES = [
    "".join(random.Random(i).choices("abcdefghijklmnopqrstuvwxyz0123456789._@", k=8))
    for i in range(50)
]


def _cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def _by_id(path: Path) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in _cells(path) if "nbgrader" in c.metadata}


# -- the payload, the pool and the key --------------------------------------------------------
def _module():
    sys.path.insert(0, str(SOURCE.parent))
    try:
        import debugging_lab
    finally:
        sys.path.remove(str(SOURCE.parent))
    return debugging_lab


def test_the_shipped_payload_is_the_catalogues_current_code() -> None:
    assert lab.shipped_payload() == lab.payload(), "run `python -m autograder.lab`, then release"
    assert (ROOT / "lessons" / "debugging_lab.py").read_bytes() == lab.LAB_MODULE.read_bytes()


@pytest.mark.parametrize("entry", lab.LAB_BUGS, ids=lambda entry: entry.bug)
def test_each_lab_bug_is_one_catalogue_bug_and_its_answer_is_the_exercise_it_loses(entry) -> None:
    bug = BY_NAME[entry.bug]
    lost = {exercises.get(e).qualname for e in bug.loses}
    assert entry.component in lost
    # log_softmax_of_softmax also loses the loss in the package, which calls log_softmax; in
    # the lab the loss keeps the student's own: only the mystery's copy is broken.
    assert not (lost - {entry.component}) & set(lab.patches(entry.bug)) - {entry.component}
    component = lab.COMPONENTS.index(entry.component)
    patches = lab.spec()["pool"][component]["bugs"][lab.POOL[component][1].index(entry.bug)]
    assert set(patches) == {exercises.get(e).qualname for e in bug.regions}
    assert entry.component in patches


def _hidden(cell) -> str:
    return cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]


def test_the_notebook_grades_against_the_submitters_draw_and_lists_the_pool() -> None:
    cells = _by_id(SOURCE)
    for k in lab.MYSTERY_IDS:
        test = cells[f"l06_mystery_{k}"]
        tree = ast.parse(_hidden(test))
        assert ast.unparse(tree.body[1].value) == f"graded({k}, STUDENT)"
        assert ast.unparse(tree.body[2].test) == "answer == right"
        assert test.metadata["nbgrader"]["points"] == 2
    assert "check_student(STUDENT)" in _hidden(cells["l06_student_check"])
    for grade_id, solution in lab.solutions().items():
        assert solution in cells[grade_id].source, "run `python -m autograder.lab`, then release"
    names: dict = {}
    exec(cells["l06_student"].source, names)  # noqa: S102 - our own source notebook
    exec(cells["l06_answers"].source, names)  # noqa: S102
    assert names["STUDENT"] == lab.code_for("instructor")
    assert names["ANSWERS"] == lab.key("instructor")
    assert names["COMPONENTS"] == lab.COMPONENTS
    markdown = "\n".join(c.source for c in _cells(SOURCE) if c.cell_type == "markdown")
    listed = [line[3:-1] for line in markdown.splitlines() if line.startswith("* `")]
    assert [c for c in listed if c in exercises.BY_ID or "." in c or c.islower()][-14:] == list(
        lab.COMPONENTS
    )


def test_the_released_lab_shows_neither_the_key_nor_the_buggy_code_nor_the_secret() -> None:
    released = RELEASED.read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in released and "graded(" not in released
    assert lab.code_for("instructor") not in released  # the solution's code is stripped
    module = (ROOT / "lessons" / "debugging_lab.py").read_text(encoding="utf-8")
    for name in BY_NAME:
        assert name not in module and name not in released
    assert "return dY\n" not in module and "argmax(axis=0)" not in module
    # ...but the payload decodes to the pool's code (so the check above is not vacuous).
    decoded = zlib.decompress(base64.b64decode(lab.shipped_payload())).decode()
    assert "argmax(axis=0)" in decoded and json.loads(decoded) == lab.spec()


def test_the_secret_is_in_no_released_file_and_no_bundle(tmp_path) -> None:
    from autograder import release

    generated = release.build(ROOT)
    assert lab.SECRET.encode() in (ROOT / "autograder" / "lab.py").read_bytes()  # not vacuous
    for name, data in generated.items():
        assert lab.SECRET.encode() not in data, name
    for assignment in release.ASSIGNMENTS:
        out = tmp_path / f"{assignment}.zip"
        assert release.main(["--bundle", str(out), "--assignment", assignment]) == 0
        with zipfile.ZipFile(out) as bundle:
            for member in bundle.namelist():
                assert lab.SECRET.encode() not in bundle.read(member), member


# -- identities and draws ---------------------------------------------------------------------
def test_lab_codes_need_the_secret() -> None:
    code = lab.code_for("jdoe")
    assert code.startswith("jdoe-") and _module().CODE.match(code)
    assert lab.code_for("jdoe", secret="another term") != code
    assert lab.code_for("ada") != code
    spaced = lab.code_for(" A Student ")  # a Gradescope name when there is no email
    assert spaced.startswith("A_Student-") and _module().CODE.match(spaced)


def test_every_draw_of_50_identities_has_seven_distinct_components_built_as_drawn() -> None:
    module = _module()
    built: list = []
    original, pool = module._build, lab.spec()["pool"]
    module._build = lambda patches, X, y, seed: built.append(patches)
    try:
        for identity in IDENTITIES:
            code = lab.code_for(identity)
            drawn = lab.draw(code)
            assert len({entry.component for entry in drawn.values()}) == 7
            for k, entry in drawn.items():
                built.clear()
                module.mystery(k, None, None, code)
                component = lab.COMPONENTS.index(entry.component)
                bug = lab.POOL[component][1].index(entry.bug)
                assert built == [pool[component]["bugs"][bug]]
    finally:
        module._build = original
    with pytest.raises(ValueError, match="lab code"):
        module.mystery(1, None, None, "jdoe")  # an identity is not a code


def test_a_classmates_answers_score_at_chance_under_another_identity() -> None:
    """Over 1,225 pairs of the 50 identities: matches per mystery ~ 1 / len(COMPONENTS)."""
    keys = [lab.key(identity) for identity in IDENTITIES]
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1 :]]
    matches = sum(a[k] == b[k] for a, b in pairs for k in lab.MYSTERY_IDS)
    trials = len(pairs) * len(lab.MYSTERY_IDS)
    chance = 1 / len(lab.COMPONENTS)  # a uniformly random valid answer
    # Pairs share identities, so allow a generous margin; equal keys would give 1.0.
    assert matches / trials < chance + 0.03, (matches / trials, chance)
    # Each mystery's component is spread over the whole pool, not a few favourites.
    for k in lab.MYSTERY_IDS:
        assert len({key[k] for key in keys}) >= len(lab.COMPONENTS) - 3


# -- the symptoms -----------------------------------------------------------------------------
def _recipe(X_test: np.ndarray, y_test: np.ndarray) -> dict:
    """The recipe functions of the source notebook (its top-level defs), ready to call."""
    import numpynet as nn

    scope = {
        "np": np,
        "nn": nn,
        "math": math,
        "lab": _module(),
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


def _bug_patches(bug: str) -> dict:
    component = lab.COMPONENTS.index(lab.BY_BUG[bug].component)
    return lab.spec()["pool"][component]["bugs"][lab.POOL[component][1].index(bug)]


LN10 = math.log(10)


class Lab:
    """MNIST, the recipe, and the recipe's results on any network, each computed once."""

    def __init__(self) -> None:
        import numpynet as nn

        X, y = nn.load_mnist("train", MNIST)
        X_test, y_test = nn.load_mnist("test", MNIST)
        self.scope = _recipe(X_test[:1000], y_test[:1000])
        self.X, self.y = X[:3000], y[:3000]
        self.module = self.scope["lab"]
        self._results: dict = {}

    def results(self, fresh) -> dict:
        """Every step of the recipe, each on a fresh network from ``fresh()``."""
        s, X, y = self.scope, self.X, self.y
        return {
            "init8": s["loss_at_init"](fresh(), X[:8], y[:8]),
            "init256": s["loss_at_init"](fresh(), X[:256], y[:256]),
            "check": s["gradient_check"](fresh(), X[:8], y[:8]),
            "alone": s["one_at_a_time"](fresh(), X[:64], y[:64]),
            "overfit": s["overfit"](fresh(), X[:64], y[:64]),
            "curves": s["curves"](fresh()),
            "invariants": s["invariants"](fresh(), X[:64], y[:64]),
        }

    def of_bug(self, bug: str | None) -> dict:
        if bug not in self._results:
            patches = {} if bug is None else _bug_patches(bug)
            self._results[bug] = self.results(
                lambda: self.module._build(patches, self.X, self.y, 0)
            )
        return self._results[bug]

    def broken(self, result: dict) -> set[str]:
        """The recipe checks that fail, by name (lab.py's names for the numeric steps)."""
        healthy = self.of_bug(None)
        flags = {**result["alone"], **result["invariants"]}
        flags[lab.INIT] = abs(result["init256"] - LN10) < 0.3
        flags[lab.GRADIENTS] = all(error < 1e-6 for error, _ in result["check"].values())
        for name, (error, _) in result["check"].items():
            flags[f"{name} gradient"] = error < 1e-6
        flags[lab.LEARNS] = result["curves"][0][0] < 1.5 * healthy["curves"][0][0]
        flags[lab.ACCURACY] = flags[lab.ACCURACY] and all(
            row[2] == row[3] for row in result["curves"]
        )
        return {name for name, holds in flags.items() if not holds}

    def signature(self, result: dict) -> tuple:
        """What the recipe shows: failing checks and how each gradient ratio reads."""
        ratios = tuple(
            "ok" if error < 1e-6 else ("inf" if math.isinf(ratio) else f"{ratio:.3g}")
            for error, ratio in result["check"].values()
        )
        return tuple(sorted(self.broken(result))), ratios


@pytest.fixture(scope="module")
def mnist_lab() -> Lab:
    return Lab()


@needs_mnist
def test_the_healthy_network_shows_the_numbers_the_lesson_promises(mnist_lab) -> None:
    healthy = mnist_lab.of_bug(None)
    assert abs(healthy["init8"] - LN10) < 0.3 and abs(healthy["init256"] - LN10) < 0.3
    assert healthy["overfit"][-1] < 0.01
    train = [row[0] for row in healthy["curves"]]
    assert train == sorted(train, reverse=True) and train[-1] < 0.4
    assert all(row[2] == row[3] and row[2] > 0.8 for row in healthy["curves"])
    assert mnist_lab.broken(healthy) == set()
    assert len(healthy["alone"]) >= 15 and len(healthy["invariants"]) >= 10  # all were run


@needs_mnist
def test_one_students_seven_mysteries_show_their_symptoms_through_the_recipe(mnist_lab) -> None:
    """The CI sample: a student's real mysteries, built by mystery(k, X, y, STUDENT)."""
    code = lab.code_for("ada")
    for k, entry in lab.draw(code).items():
        X, y = mnist_lab.X, mnist_lab.y
        result = mnist_lab.results(lambda k=k, X=X, y=y: mnist_lab.module.mystery(k, X, y, code))
        broken = mnist_lab.broken(result)
        assert set(entry.shows) <= broken, (k, entry.bug, broken)


@needs_mnist
@pytest.mark.slow
@pytest.mark.parametrize("entry", lab.LAB_BUGS, ids=lambda entry: entry.bug)
def test_every_lab_bug_shows_its_symptom_through_the_recipe(mnist_lab, entry) -> None:
    """All of the pool, so every draw of every identity (each is made of these bugs)."""
    broken = mnist_lab.broken(mnist_lab.of_bug(entry.bug))
    assert broken, f"{entry.bug}: the recipe shows nothing"
    assert set(entry.shows) <= broken, (entry.bug, broken)


@needs_mnist
@pytest.mark.slow
def test_the_recipe_tells_every_component_apart_and_exposes_each_one(mnist_lab) -> None:
    """Bugs of different components never look the same; every listed component is exposed."""
    signatures = {e.bug: mnist_lab.signature(mnist_lab.of_bug(e.bug)) for e in lab.LAB_BUGS}
    for a in lab.LAB_BUGS:
        for b in lab.LAB_BUGS:
            if a.component != b.component:
                assert signatures[a.bug] != signatures[b.bug], (a.bug, b.bug, signatures[a.bug])
    exposed = {e.component for e in lab.LAB_BUGS if signatures[e.bug][0]}
    assert exposed == set(lab.COMPONENTS)


@needs_mnist
@pytest.mark.slow
def test_the_ratios_the_lesson_explains(mnist_lab) -> None:
    """inf: the loss does not use the parameter; a clean factor: a missing 1/N or sum."""
    no_bias = mnist_lab.of_bug("linear_forward_no_bias")["check"]
    assert math.isinf(no_bias["b1"][1]) and math.isinf(no_bias["b2"][1])
    mean = mnist_lab.of_bug("linear_bias_grad_mean")["check"]
    assert mean["b1"][1] == pytest.approx(1 / 8, rel=1e-4)  # N = 8: a mean, not a sum
    by_n = mnist_lab.of_bug("loss_grad_not_divided_by_n")["check"]
    assert all(ratio == pytest.approx(8, rel=1e-4) for _, ratio in by_n.values())
    relu = mnist_lab.of_bug("relu_backward_no_mask")
    assert mnist_lab.broken(relu) >= {"W1 gradient", "b1 gradient", "layer 1 dX"}
    assert "layer 0 W gradient" not in mnist_lab.broken(relu)  # Linear alone is fine


# -- no type or identity shortcut -------------------------------------------------------------
def _looks(m, nn) -> list:
    """What type(), is and __name__ say about every object and function of a network."""
    seen = []
    for obj in [*m.model.layers, m.loss_fn, m.optimizer, m.loader]:
        for cls in (nn.Linear, nn.ReLU, nn.CrossEntropyLoss, nn.SGD, nn.DataLoader):
            seen.append((type(obj) is cls, isinstance(obj, cls)))
        for name in ("forward", "backward", "step", "__iter__"):
            method = getattr(obj, name, None)
            if method is not None:
                own = getattr(type(obj), name)
                seen.append((name, type(method), method.__name__, method.__qualname__,
                             method is own, getattr(method, "__func__", None) is own,
                             getattr(method, "__code__", None)))  # fmt: skip
    for name in ("train_epoch", "evaluate", "softmax", "log_softmax", "one_hot",
                 "numerical_gradient"):  # fmt: skip
        function = getattr(m, name)
        same = function is getattr(nn, name)
        seen.append((name, type(function), function.__name__, function.__qualname__,
                     function.__module__, same, function.__code__))  # fmt: skip
    return seen


@pytest.mark.parametrize("entry", lab.LAB_BUGS, ids=lambda entry: entry.bug)
def test_a_mystery_looks_like_a_healthy_network_under_type_is_and_name(entry) -> None:
    import numpynet as nn

    X = np.random.default_rng(0).random((70, 784), dtype=np.float32)
    y = np.arange(70) % 10
    module = _module()
    healthy = _looks(module.healthy(X, y), nn)
    assert _looks(module._build(_bug_patches(entry.bug), X, y, 0), nn) == healthy
    assert (True, True) in healthy  # type(layer) is nn.Linear etc.: the comparisons ran


# -- grading ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(choose("auto"), timeout=10, notebooks="always", assignment="lab")


def _set(submission: Path, grade_id: str, source: str) -> None:
    path = submission / "lessons" / f"{NAME}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    cell.source = source
    nbformat.write(notebook, path)


def _submit(tmp_path: Path, folder: str, student: str, answers: dict[int, str]) -> Path:
    """A solved submission in ``folder`` (the identity graded) stating ``student``."""
    submission = write_base("solved", tmp_path / folder)
    _set(submission, "l06_student", f"STUDENT = {student!r}\n")
    _set(submission, "l06_answers", f"COMPONENTS = {lab.COMPONENTS!r}\nANSWERS = {answers!r}\n")
    return submission


def _lab(result) -> dict:
    return result.notebooks["notebooks"][NAME]


def test_all_answers_right_earn_every_autograded_point_of_the_lab(grader, tmp_path) -> None:
    submission = _submit(tmp_path, "ada", lab.code_for("ada"), lab.key("ada"))
    result = _lab(grader.grade(submission))
    assert result["score"] == result["max_score"] == 2 * len(lab.MYSTERY_IDS) + 1
    assert result["cells"]["l06_student_check"]["status"] == "passed"
    assert result["manual_max_score"] == 7
    assert result["cells"]["l06_evidence"]["status"] == "needs manual grading"


def test_a_classmates_answers_and_code_are_graded_against_the_submitters_key(grader, tmp_path):
    """Copying ada's STUDENT and ANSWERS as bob: bob's key decides, and the report says so."""
    ada, bob = lab.key("ada"), lab.key("bob")
    submission = _submit(tmp_path, "bob", lab.code_for("ada"), ada)
    result = _lab(grader.grade(submission))
    same = [k for k in lab.MYSTERY_IDS if ada[k] == bob[k]]
    assert result["score"] == 2 * len(same) < 2 * len(lab.MYSTERY_IDS)
    for k in lab.MYSTERY_IDS:
        assert result["cells"][f"l06_mystery_{k}"]["passed"] == (k in same)
    said = result["cells"]["l06_student_check"]
    assert said["status"] == "failed" and "'bob'" in said["failure"]
    assert "graded against 'bob'" in " ".join(said["failure"].split())


def test_wrong_answers_earn_nothing_and_the_feedback_names_the_experiment(grader, tmp_path):
    key = lab.key("cy")
    wrong = {k: next(c for c in lab.COMPONENTS if c != key[k]) for k in lab.MYSTERY_IDS}
    result = _lab(grader.grade(_submit(tmp_path, "cy", lab.code_for("cy"), wrong)))
    assert result["score"] == 1  # the lab code's point only
    for k, entry in lab.draw(lab.code_for("cy")).items():
        cell = result["cells"][f"l06_mystery_{k}"]
        assert cell["status"] == "failed"
        assert "a hidden check failed" in cell["failure"]
        assert entry.diagnostic.split(" - ")[0] in " ".join(cell["failure"].split())
        assert entry.component not in cell["failure"].replace(wrong[k], "")


def test_unanswered_and_invalid_answers_say_so(grader, tmp_path) -> None:
    result = _lab(
        grader.grade(_submit(tmp_path, "dee", lab.code_for("dee"), {1: "ReLU.backwards"}))
    )
    assert result["score"] == 1  # the lab code's point only
    assert "not one of the ids" in result["cells"]["l06_mystery_1"]["failure"]
    second = result["cells"]["l06_mystery_2"]
    assert second["status"] == "not started" and "not answered yet" in second["failure"]


# -- nothing to probe before the due date -----------------------------------------------------
def test_the_feedback_before_the_due_date_counts_valid_ids_only(grader, tmp_path, monkeypatch):
    key = lab.key("eve")
    answers = {**key, 1: "ReLU.backwards", 2: next(c for c in lab.COMPONENTS if c != key[2])}
    result = grader.grade(_submit(tmp_path, "eve", lab.code_for("eve"), answers))
    text = report.feedback(result)
    assert "6 of 7 answers are valid component ids" in text
    score = f"{2 * 5 + 1}/{2 * 7 + 1 + 7}"  # five right answers and the code's point, of 22
    for word in ("l06_mystery", "points", score, "/22", "passed", "failed"):
        assert word not in text
    # Graded with everything else (--assignment all): the lab's results are in the totals,
    # so the whole report waits for the due date too.
    result.assignment = "all"
    text = report.feedback(result)
    assert "6 of 7 answers are valid component ids" in text and "after the lab's due date" in text
    assert "points" not in text and score not in text
    result.assignment = "lab"
    monkeypatch.setenv(lab.DETAILS_VARIABLE, "1")  # the instructor releases the details
    assert f"notebooks {score}" in report.feedback(result)
    assert not lab.embargoed("all") and not lab.embargoed("lab")
    monkeypatch.delenv(lab.DETAILS_VARIABLE)
    assert lab.embargoed("all") and lab.embargoed("lab") and not lab.embargoed("course")


def _gradescope(tmp_path: Path, email: str, student: str, answers: dict) -> dict:
    from autograder import gradescope

    upload = _submit(tmp_path / "up", "upload", student, answers)
    (upload.parent / "submission_metadata.json").write_text(
        json.dumps({"users": [{"email": email, "name": "A Student", "id": 1}]})
    )
    config = {"assignment": "lab", "timeout": 10, "hidden": "after_published"}
    return gradescope.run(upload, tmp_path / "results", config=config)


def test_gradescope_shows_no_per_mystery_result_or_score_before_the_due_date(tmp_path) -> None:
    email = "jdoe@uni.example"
    data = _gradescope(tmp_path, email, lab.code_for(email), lab.key(email))
    assert data["visibility"] == "after_due_date"  # the lab's total
    shown = [t for t in data["tests"] if t["visibility"] != "after_due_date"]
    assert [t["name"] for t in shown] == ["Lesson 06: answers received"]
    for test in shown:
        assert test["max_score"] == 0 == test["score"]
        assert "l06_mystery" not in test["output"] and "7 of 7 answers are valid" in test["output"]
    assert "l06_mystery" not in data["output"]
    # Not vacuous: the submitter's key was used (full marks, hidden) and results exist.
    assert data["score"] == 2 * len(lab.MYSTERY_IDS) + 1


def test_gradescope_grades_the_submitter_from_its_metadata(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(lab.DETAILS_VARIABLE, "1")
    data = _gradescope(tmp_path, "ada@uni.example", lab.code_for("bob"), lab.key("bob"))
    assert data.get("visibility", "visible") == "visible"
    shown = json.dumps(data["tests"])
    assert "l06_student_check" in shown and "l06_mystery" in shown  # details, once released
    assert data["score"] < 2 * len(lab.MYSTERY_IDS)  # + 1 for a matching code: not given


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
    assert result.max_total == 2 * len(lab.MYSTERY_IDS) + 1 + 7


def test_the_readme_command_prints_each_students_lab_code() -> None:
    import subprocess

    command = "python -m autograder.lab codes jdoe ada"  # as the README prints it
    assert command in " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    argv = [sys.executable, *command.split()[1:]]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"{i}\t{lab.code_for(i)}" for i in ("jdoe", "ada")]


def test_grade_says_lab_details_only_with_the_instructors_flag(tmp_path, monkeypatch) -> None:
    from autograder import cli

    monkeypatch.delenv(lab.DETAILS_VARIABLE, raising=False)  # restored (unset) afterwards
    submission = _submit(tmp_path, "fay", lab.code_for("fay"), lab.key("fay"))
    base = ["grade", str(submission), "--assignment", "lab", "--notebooks", "always"]
    assert cli.main([*base, "--feedback", str(tmp_path / "before.md")]) == 0
    before = (tmp_path / "before.md").read_text()
    assert "7 of 7 answers are valid component ids" in before and "15/22" not in before
    assert cli.main([*base, "--feedback", str(tmp_path / "after.md"), "--lab-details"]) == 0
    assert "notebooks 15/22" in (tmp_path / "after.md").read_text()
