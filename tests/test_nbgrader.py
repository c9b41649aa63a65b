"""nbgrader round trips on real course folders with real (sqlite) gradebooks."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder import nbgrader_course, release

ROOT = Path(__file__).resolve().parents[1]
SOURCE_LESSONS = ROOT / "solutions" / "lessons"
MNIST = Path(os.environ.get("MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")

pytestmark = pytest.mark.slow


def _points(source: Path) -> dict[str, dict[str, tuple[float, bool]]]:
    """notebook -> grade_id -> (points, autograded?), read straight from the source metadata."""
    found: dict[str, dict[str, tuple[float, bool]]] = {}
    for path in sorted(source.glob("*.ipynb")):
        cells = {}
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                cells[meta["grade_id"]] = (float(meta["points"]), cell.cell_type == "code")
        found[path.stem] = cells
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ)
    if MNIST.is_dir():
        env.setdefault("MNIST_DIR", str(MNIST))
    return env


def _auto_cells(report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (nb_name, grade_id, cell)
        for nb_name, notebook in report["notebooks"].items()
        for grade_id, cell in notebook["cells"].items()
        if cell["auto"]
    ]


def _check_shape(report: dict[str, Any], source: Path) -> None:
    """The report lists exactly the source's grade cells with their points."""
    points = _points(source)
    assert set(report["notebooks"]) == set(points)
    for name, cells in points.items():
        got = report["notebooks"][name]["cells"]
        assert {gid: (c["max_score"], c["auto"]) for gid, c in got.items()} == cells
    auto_total = sum(p for cells in points.values() for p, auto in cells.values() if auto)
    manual_total = sum(p for cells in points.values() for p, auto in cells.values() if not auto)
    assert report["max_score"] == auto_total > 0
    assert report["manual_max_score"] == manual_total


# --------------------------------------------------------------------------------------
# The real lessons
# --------------------------------------------------------------------------------------

needs_lessons = pytest.mark.skipif(
    not any(SOURCE_LESSONS.glob("*.ipynb")) or not MNIST.is_dir(),
    reason="needs solutions/lessons and MNIST (MNIST_DIR)",
)


@needs_lessons
def test_reference_notebooks_score_full_marks(tmp_path: Path) -> None:
    report = nbgrader_course.autograde_submission(
        ROOT / "solutions", notebooks=SOURCE_LESSONS, work_dir=tmp_path, env=_env()
    )
    assert report["ok"] and report["errors"] == [], report["errors"]
    _check_shape(report, SOURCE_LESSONS)
    failed = [(nb, gid, c["failure"]) for nb, gid, c in _auto_cells(report) if not c["passed"]]
    assert failed == []
    assert report["score"] == report["max_score"]
    # The gradebook is a real nbgrader one: the course folder holds it and the executed copies.
    assert (tmp_path / "course" / "gradebook.db").is_file()
    autograded = tmp_path / "course" / "autograded" / "student" / "lessons"
    assert sorted(p.stem for p in autograded.glob("*.ipynb")) == sorted(report["notebooks"])


@needs_lessons
def test_untouched_student_material_scores_zero(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    release.write_tree(release.build(ROOT), submission)
    report = nbgrader_course.autograde_submission(
        submission, work_dir=tmp_path / "work", env=_env()
    )
    assert report["ok"] and report["errors"] == [], report["errors"]
    _check_shape(report, SOURCE_LESSONS)
    assert report["score"] == 0
    secrets = nbgrader_course.secret_lines(tmp_path / "work" / "course")
    assert secrets  # the lessons do have hidden tests and solutions
    for nb_name, grade_id, cell in _auto_cells(report):
        assert cell["score"] == 0 and not cell["passed"], (nb_name, grade_id)
        # Failing only because nothing is implemented yet: stubs or emptied solution cells.
        assert cell["failure"].startswith("NotImplementedError"), (grade_id, cell["failure"])
        shown = {line.strip() for line in cell["failure"].splitlines()}
        assert not shown & secrets, (grade_id, shown & secrets)
        if cell["exercise"]:
            assert grade_id.startswith(cell["exercise"])


@needs_lessons
def test_one_exercise_done_scores_its_cell_only(tmp_path: Path) -> None:
    """The kernel imports the SUBMISSION's numpynet: with the reference DataLoader alone,
    exercise 0.1's cell passes and the notebook's own (unsolved) exercise still fails."""
    lesson = next(iter(sorted(SOURCE_LESSONS.glob("00_*.ipynb"))))
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(lesson, source)
    submission = tmp_path / "submission"
    release.write_tree(release.build_package(ROOT / "solutions" / "numpynet"), submission)
    shutil.copy(ROOT / "solutions" / "numpynet" / "data.py", submission / "numpynet" / "data.py")
    (submission / "lessons").mkdir()
    for name, data in nbgrader_course.release_notebooks(source).items():
        (submission / "lessons" / name).write_bytes(data)
    report = nbgrader_course.autograde_submission(
        submission, source=source, work_dir=tmp_path / "work", env=_env()
    )
    assert report["ok"], report["errors"]
    cells = report["notebooks"][lesson.stem]["cells"]
    by_exercise = {c["exercise"]: c for c in cells.values() if c["auto"]}
    assert by_exercise["ex0_1"]["passed"], by_exercise["ex0_1"]["failure"]
    others = [c for c in cells.values() if c["auto"] and c["exercise"] != "ex0_1"]
    assert others and not any(c["passed"] for c in others)
    assert report["score"] == by_exercise["ex0_1"]["max_score"]


# --------------------------------------------------------------------------------------
# A small synthetic course: what nbgrader's rules do to scores
# --------------------------------------------------------------------------------------


def _cell(kind: str, source: str, grade_id: str, **flags: Any) -> Any:
    meta = {
        "grade": False,
        "solution": False,
        "locked": False,
        "grade_id": grade_id,
        "schema_version": 3,
        **flags,
    }
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source, metadata={"nbgrader": meta})
    cell["id"] = grade_id.replace("_", "-")
    return cell


KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _toy_course(folder: Path) -> Path:
    folder.mkdir()
    solved = _cell(
        "code",
        "def f():\n    ### BEGIN SOLUTION\n    return 41 + 1\n    ### END SOLUTION",
        "f_solution",
        solution=True,
    )
    test = _cell(
        "code",
        "assert f() == 42\n### BEGIN HIDDEN TESTS\nassert f() * 1 == 42, 'hidden-check'\n"
        "### END HIDDEN TESTS",
        "ex2_1_f_tests",
        grade=True,
        locked=True,
        points=3,
    )
    noisy = _cell(
        "code",
        "import sys\nsys.stderr.write('a warning\\n')",
        "l00_stderr_tests",
        grade=True,
        locked=True,
        points=2,
    )
    nb = nbformat.v4.new_notebook(cells=[solved, test, noisy])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, folder / "toy.ipynb")
    other = nbformat.v4.new_notebook(
        cells=[_cell("code", "assert True", "other_tests", grade=True, locked=True, points=1)]
    )
    other.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(other, folder / "other.ipynb")
    return folder


def test_scores_follow_nbgrader_rules_and_hide_hidden_tests(tmp_path: Path) -> None:
    source = _toy_course(tmp_path / "source")
    released = nbgrader_course.release_notebooks(source)
    assert set(released) == {"toy.ipynb", "other.ipynb"}
    student = nbformat.reads(released["toy.ipynb"].decode(), as_version=4)
    assert "41 + 1" not in student.cells[0].source and "hidden-check" not in student.cells[1].source
    # The student solves f wrongly, and other.ipynb is broken (not JSON).
    student.cells[0].source = "def f():\n    return 41"
    submission = tmp_path / "submission"
    (submission / "lessons").mkdir(parents=True)
    nbformat.write(student, submission / "lessons" / "toy.ipynb")
    (submission / "lessons" / "other.ipynb").write_text('{"cells": [')
    report = nbgrader_course.autograde_submission(
        submission, source=source, work_dir=tmp_path / "work", student="s1", timeout=60
    )
    assert report["ok"], report["errors"]
    assert len(report["errors"]) == 1
    assert report["errors"][0].startswith("unreadable notebook: other.ipynb")
    toy = report["notebooks"]["toy"]["cells"]
    assert toy["ex2_1_f_tests"]["score"] == 0 and toy["ex2_1_f_tests"]["exercise"] == "ex2_1"
    failure = toy["ex2_1_f_tests"]["failure"]
    assert failure.startswith("AssertionError")
    assert "hidden-check" not in failure  # the traceback context line is blanked
    assert "<hidden>" in failure or "assert f() == 42" in failure
    # Anything on stderr scores 0, and the report says why.
    assert toy["l00_stderr_tests"]["score"] == 0
    assert "stderr: a warning" in toy["l00_stderr_tests"]["failure"]
    assert report["notebooks"]["other"]["submitted"] is False
    assert report["notebooks"]["other"]["score"] == 0
    assert report["score"] == 0 and report["max_score"] == 6


def test_a_correct_toy_submission_scores_what_nbgrader_allows(tmp_path: Path) -> None:
    """Guard for the test above: the same course, solved, passes its real test cell."""
    source = _toy_course(tmp_path / "source")
    report = nbgrader_course.autograde_submission(
        tmp_path, notebooks=source, source=source, work_dir=tmp_path / "work", timeout=60
    )
    assert report["ok"] and report["errors"] == []
    toy = report["notebooks"]["toy"]["cells"]
    assert toy["ex2_1_f_tests"] == {
        "score": 3.0,
        "max_score": 3.0,
        "auto": True,
        "passed": True,
        "failure": "",
        "exercise": "ex2_1",
    }
    assert toy["l00_stderr_tests"]["score"] == 0  # the source itself writes to stderr
    assert report["score"] == 3 + 1


def test_infinite_loop_times_out_and_is_scored_zero(tmp_path: Path) -> None:
    source = _toy_course(tmp_path / "source")
    student = nbformat.reads(
        nbgrader_course.release_notebooks(source)["toy.ipynb"].decode(), as_version=4
    )
    student.cells[0].source = "def f():\n    while True:\n        pass"
    submission = tmp_path / "submission"
    (submission / "lessons").mkdir(parents=True)
    nbformat.write(student, submission / "lessons" / "toy.ipynb")
    report = nbgrader_course.autograde_submission(
        submission, source=source, work_dir=tmp_path / "work", timeout=5
    )
    assert report["ok"], report["errors"]
    cell = report["notebooks"]["toy"]["cells"]["ex2_1_f_tests"]
    assert cell["score"] == 0 and cell["failure"], cell


def test_a_crashed_autograde_scores_zero_with_an_error(tmp_path: Path) -> None:
    source = _toy_course(tmp_path / "source")
    report = nbgrader_course.autograde_submission(
        tmp_path,
        notebooks=source,
        source=source,
        work_dir=tmp_path / "work",
        # Stands in for a sandbox that kills the child: the real command never runs.
        command_prefix=[sys.executable, "-c", "import sys; sys.exit(3)"],
    )
    assert not report["ok"]
    assert any("status 3" in error for error in report["errors"])
    assert report["score"] == 0 and report["max_score"] == 6
    assert report["notebooks"]["toy"]["cells"]["ex2_1_f_tests"]["score"] == 0


def test_student_id_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="student id"):
        nbgrader_course.autograde_submission(tmp_path, student="../x")


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc")
def test_total_timeout_stops_grading_and_leaves_no_kernel_behind(tmp_path: Path) -> None:
    source = _toy_course(tmp_path / "source")
    student = nbformat.reads(
        nbgrader_course.release_notebooks(source)["toy.ipynb"].decode(), as_version=4
    )
    student.cells[0].source = "while True:\n    pass"  # never gets to its tests
    submission = tmp_path / "submission"
    (submission / "lessons").mkdir(parents=True)
    nbformat.write(student, submission / "lessons" / "toy.ipynb")
    work = tmp_path / "work"
    report = nbgrader_course.autograde_submission(
        submission, source=source, work_dir=work, timeout=600, total_timeout=20
    )
    assert not report["ok"]
    assert report["errors"] == ["missing notebook: other.ipynb", "autograde exceeded 20 s"]
    assert report["score"] == 0 and report["max_score"] == 6
    # The kernel (cwd: the course's autograded folder) was killed with the child.
    deadline = time.monotonic() + 3  # SIGKILL is immediate; allow the kernel to be reaped
    while nbgrader_course.processes_under(work) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert nbgrader_course.processes_under(work) == []


def test_the_child_leaves_no_process_in_its_folder(tmp_path: Path) -> None:
    """Like a kernel, a grandchild in a session of its own, working in the course folder,
    is killed when the child ends (it would otherwise sleep for a minute)."""
    script = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        "print(p.pid, file=sys.stderr)\n"
    )
    status, stderr = nbgrader_course._run_child(
        [sys.executable, "-c", script], os.environ, tmp_path, 60
    )
    assert status == 0
    sleeper = int(stderr.split()[0])
    deadline = time.monotonic() + 3
    while sleeper in nbgrader_course.processes_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleeper not in nbgrader_course.processes_under(tmp_path)
