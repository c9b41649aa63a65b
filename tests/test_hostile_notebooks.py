"""Every hostile notebook in autograder/examples/hostile_notebooks.py gains nothing, breaks nothing.

"Gains nothing": notebook by notebook, the attacked submission scores no more than its
honest base, every notebook it does not touch is graded exactly as in the base, and the
package's points do not move. "Breaks nothing": no file outside the submission changes
(the repository, another student's folder, even seconds later), no connection arrives,
and no text of the hidden tests or solutions reaches the student's feedback.
"""

from __future__ import annotations

import platform
import time

import pytest

from autograder import report
from autograder.examples.hostile_notebooks import (
    HOSTILE_NOTEBOOKS,
    ROOT,
    HostileNotebook,
    materialise,
    write_base,
)
from autograder.grade import Grader
from autograder.markers import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION, region_text
from autograder.notebooks import source_lessons
from autograder.sandbox import choose

ISOLATION = choose("auto")
TIMEOUT = 12.0  # per cell: short, so the looping notebook costs seconds (not 6: the suite runs
# beside the challenge's training, and a loaded machine made a 6 s exercise time out)
MARKER = ROOT / "HOSTILE_NOTEBOOK_WAS_HERE"


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ISOLATION, timeout=TIMEOUT, notebooks="always")


@pytest.fixture(scope="module")
def bases(grader, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("bases")
    return {name: grader.grade(write_base(name, folder / name)) for name in ("stubs", "solved")}


def secret_lines() -> set[str]:
    """Lines of hidden tests and solutions that the student notebooks do not show."""
    import nbformat

    secret: set[str] = set()
    for path in sorted((ROOT / "solutions" / "lessons").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for begin, end in ((BEGIN_HIDDEN, END_HIDDEN), (BEGIN_SOLUTION, END_SOLUTION)):
                secret.update(
                    line.strip() for line in region_text(cell.source, begin, end) if len(line) > 25
                )
    public = (ROOT / "lessons").glob("*.ipynb")
    shown = {line.strip() for path in public for line in path.read_text().splitlines()}
    return {line for line in secret if not any(line in s for s in shown)}


def cells(result) -> dict:
    return {
        (name, grade_id): (cell["status"], cell["score"])
        for name, notebook in result.notebooks["notebooks"].items()
        for grade_id, cell in notebook["cells"].items()
    }


@pytest.mark.parametrize("entry", HOSTILE_NOTEBOOKS, ids=[h.name for h in HOSTILE_NOTEBOOKS])
def test_hostile_notebook_gains_nothing_and_breaks_nothing(
    entry: HostileNotebook, grader, bases, listener, tmp_path
):
    if entry.needs_bwrap and ISOLATION.degraded:
        pytest.skip(f"{entry.name} needs the sandbox: {ISOLATION.summary}")
    if entry.name == "fork_and_detach" and platform.machine() != "x86_64":
        pytest.skip("expects the seccomp fork filter, which is x86_64 only")
    other = tmp_path / "another_student"
    other.mkdir()
    (other / "results.json").write_text("honest")
    port = listener.getsockname()[1]
    submission = materialise(entry, tmp_path / "sub", port=port, other=other)
    result = grader.grade(submission)
    base = bases[entry.base]

    # Gains nothing, spills over nowhere.
    assert [e.points for e in result.exercises] == [e.points for e in base.exercises]
    for name, notebook in result.notebooks["notebooks"].items():
        before = base.notebooks["notebooks"][name]
        assert notebook["score"] <= before["score"], name
        if name != entry.lesson:
            assert notebook == before, name
    assert result.total <= base.total
    if entry.output:
        assert entry.output in result.output, result.output[-2000:]

    # Breaks nothing.
    if entry.name == "fork_and_detach":
        time.sleep(3.5)  # what a surviving process would do, it would have done by now
    assert (other / "results.json").read_text() == "honest"
    # The real files are what count: a checkout under /tmp shows inside the sandbox as
    # folders of its private /tmp, where a write lands harmlessly and vanishes.
    assert not MARKER.exists()
    for word in ("CONNECTED", "READ "):
        assert word not in result.output
    with pytest.raises(BlockingIOError):
        listener.accept()
    feedback = report.feedback(result) + str(result.notebooks)
    leaked = [line for line in secret_lines() if line in feedback]
    assert not leaked, leaked[:3]


def test_a_crash_costs_only_the_cells_that_depend_on_it(grader, bases, tmp_path):
    """os._exit in lesson 05's answer: its one test cell is an error, named in the CSV."""
    entry = next(h for h in HOSTILE_NOTEBOOKS if h.name == "os_exit_one_notebook")
    result = grader.grade(materialise(entry, tmp_path))
    lesson = result.notebooks["notebooks"]["05_training_mnist"]
    assert lesson["cells"]["l05_accuracy_tests"]["status"] == "error"
    assert "killed" in lesson["cells"]["l05_accuracy_tests"]["failure"]
    # The package exercises this notebook also tests still pass: they do not need the answer.
    assert lesson["cells"]["ex5_1_train_epoch_tests"]["status"] == "passed"
    assert result.notebook_points == bases["solved"].notebook_points - 1
    assert "05_training_mnist/l05_accuracy_tests:error" in report.problems(result)
    report.class_csv([result], tmp_path / "class.csv")
    assert "05_training_mnist/l05_accuracy_tests:error" in (tmp_path / "class.csv").read_text()


def test_an_endless_answer_times_out_alone(grader, bases, tmp_path):
    entry = next(h for h in HOSTILE_NOTEBOOKS if h.name == "infinite_loop")
    started = time.perf_counter()
    result = grader.grade(materialise(entry, tmp_path))
    lesson = result.notebooks["notebooks"]["04_optimisers"]["cells"]
    assert lesson["l04_max_stable_lr_tests"]["status"] == "timeout"
    others = {g: c["status"] for g, c in lesson.items() if g != "l04_max_stable_lr_tests"}
    assert set(others.values()) == {"passed"}, others
    assert time.perf_counter() - started < 4 * TIMEOUT


def test_the_catalogue_names_every_attack_of_the_issue():
    names = {h.name for h in HOSTILE_NOTEBOOKS}
    assert len(names) == len(HOSTILE_NOTEBOOKS)
    for needed in (
        "redefine_quiet",
        "ipython_hooks",
        "patch_numpy_and_builtins",
        "always_equal",
        "read_hidden_and_solutions",
        "network",
        "write_outside",
        "fork_and_detach",
        "os_exit_one_notebook",
        "infinite_loop",
        "memory_bomb",
        "output_flood",
        "sys_modules_swap",
        "pickled_payload",
    ):
        assert needed in names
    lessons = {lesson.name for lesson in source_lessons()}
    assert {h.lesson for h in HOSTILE_NOTEBOOKS} <= lessons
