"""Lesson 07 is its own assignment ("beyond"): its bundle, and grading on its own.

The course (package exercises 0.1-5.2 and lessons 00-05: 205 points) and the lab (21) keep
their points whatever lesson 07 holds; "beyond" grades exercises 7.1-7.6 and lesson 07's
notebook alone; a catalogued lesson-07 bug costs its exercise there and nothing in the course.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import exercises, release
from autograder.examples.bugs import BY_NAME
from autograder.examples.build import apply_bug
from autograder.examples.hostile_notebooks import write_base
from autograder.grade import Grader
from autograder.sandbox import choose

ROOT = Path(__file__).resolve().parents[1]
NAME = "07_beyond_rmsprop"
BEYOND_POINTS = sum(e.points for e in exercises.BEYOND_EXERCISES)


def test_the_catalogue_keeps_the_course_and_adds_lesson_07_on_its_own() -> None:
    assert sum(e.points for e in exercises.EXERCISES) == 150  # the course, unchanged
    assert [e.id for e in exercises.package_exercises("course")] == [
        e.id for e in exercises.EXERCISES
    ]
    assert exercises.package_exercises("beyond") == exercises.BEYOND_EXERCISES
    assert exercises.package_exercises("lab") == ()
    assert exercises.package_exercises("all") == exercises.ALL_EXERCISES
    assert all(e.lesson == f"lessons/{NAME}.ipynb" for e in exercises.BEYOND_EXERCISES)
    assert exercises.in_assignment(NAME, "beyond") and exercises.in_assignment(NAME, "all")
    assert not exercises.in_assignment(NAME, "course") and not exercises.in_assignment(NAME, "lab")
    assert not exercises.in_assignment("05_training_mnist", "beyond")
    with pytest.raises(ValueError):
        exercises.package_exercises("everything")


def test_progress_shows_lesson_07_once_its_notebook_is_there(tmp_path: Path) -> None:
    from autograder import check

    course = write_base("solved", tmp_path / "cy")
    assert check.handed_out(course) == exercises.ALL_EXERCISES
    (course / "lessons" / f"{NAME}.ipynb").unlink()
    assert check.handed_out(course) == exercises.EXERCISES


def test_the_course_bundle_leaves_lesson_07_out_and_its_bundle_is_lesson_07(
    tmp_path: Path,
) -> None:
    generated = release.build(ROOT)
    course = release.bundle_files(ROOT, generated)
    assert f"lessons/{NAME}.ipynb" in generated and f"lessons/{NAME}.ipynb" not in course
    assert NAME not in course["README.md"].decode()
    # The package is handed out once: its lesson-07 stubs and public checks are in it.
    assert b"Exercise 7.1: Adam step" in course["numpynet/optim.py"]
    assert f"autograder/public/test_{NAME}.py" in course
    bundle = tmp_path / "beyond.zip"
    assert release.main(["--bundle", str(bundle), "--assignment", "beyond"]) == 0
    names = zipfile.ZipFile(bundle).namelist()
    assert sorted(names) == sorted(
        f"numpynet-course/{n}" for n in (*release.BEYOND_FILES, "BEYOND.md")
    )
    note = zipfile.ZipFile(bundle).read("numpynet-course/BEYOND.md").decode()
    assert "pytest autograder/public -m ex7_1" in note


@pytest.mark.slow
def test_each_assignment_grades_its_own_work(tmp_path: Path) -> None:
    solved = write_base("solved", tmp_path / "ada")
    course = Grader(choose("auto"), timeout=20, notebooks="always").grade(solved)
    assert NAME not in course.notebooks["notebooks"]
    assert course.max_total == 205 and course.points == course.max_points == 150
    assert {e.id for e in course.exercises} == {e.id for e in exercises.EXERCISES}
    beyond = Grader(choose("auto"), timeout=20, notebooks="always", assignment="beyond")
    result = beyond.grade(solved)
    assert [e.id for e in result.exercises] == [e.id for e in exercises.BEYOND_EXERCISES]
    assert result.points == result.max_points == BEYOND_POINTS == 55
    assert list(result.notebooks["notebooks"]) == [NAME]
    assert result.max_total == 55 + 13 + 5  # 13 autograded notebook points, 5 by hand
    assert result.total == 55 + 13


@pytest.mark.slow
def test_a_lesson_07_bug_costs_its_exercise_in_beyond_and_nothing_in_the_course(
    tmp_path: Path,
) -> None:
    submission = write_base("solved", tmp_path / "bob")
    apply_bug(submission / "numpynet", BY_NAME["adamw_coupled_decay"])
    course = Grader(choose("auto"), timeout=20, notebooks="skip").grade(submission)
    assert course.points == 150
    beyond = Grader(choose("auto"), timeout=20, notebooks="skip", assignment="beyond")
    result = beyond.grade(submission)
    lost = {e.id for e in result.exercises if e.points < e.max_points}
    assert lost == {"ex7_2"}
    (adamw,) = [e for e in result.exercises if e.id == "ex7_2"]
    assert "DECOUPLED" in adamw.message


@pytest.mark.slow
def test_grade_all_for_beyond_writes_its_columns(tmp_path: Path) -> None:
    """``grade-all SUBMISSIONS/ --assignment beyond --out grades-beyond/``, as the README says."""
    folder = tmp_path / "submissions"
    write_base("solved", folder / "ada")
    write_base("stubs", folder / "eve")
    out = tmp_path / "grades-beyond"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade-all", str(folder), "--assignment", "beyond"]
        + ["--out", str(out), "--jobs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with open(out / "class.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert {e.id for e in exercises.BEYOND_EXERCISES} <= set(rows["ada"])
    assert not {e.id for e in exercises.EXERCISES} & set(rows["ada"]), "the course's are not"
    assert float(rows["ada"]["package"]) == 55 and float(rows["eve"]["package"]) == 0
    assert float(rows["ada"]["total"]) == 55 + 13


@pytest.mark.slow
def test_gradescope_zip_for_beyond_grades_lesson_07_alone(tmp_path: Path) -> None:
    """``gradescope --assignment beyond``: a solved upload earns lesson 07's autograded points."""
    import test_gradescope as gs

    root = gs.built_root(tmp_path, "--assignment", "beyond")
    upload = tmp_path / "upload"
    write_base("solved", upload)
    results = gs.run_autograder(root, upload)
    assert results["score"] == 55 + 13
    names = {t["name"] for t in results["tests"]}
    assert {f"Exercise {e.number}: {e.title}" for e in exercises.BEYOND_EXERCISES} <= names
    assert not any(f"Exercise {e.number}:" in name for e in exercises.EXERCISES for name in names)


@pytest.mark.parametrize("assignment", ["course", "lab", "beyond", "challenge"])
def test_a_student_whose_grading_process_died_is_out_of_their_assignments_exercises(
    tmp_path: Path, assignment: str
) -> None:
    from autograder.cli import _failed_result

    result = _failed_result(tmp_path / "ada", "isolation: test", "killed", assignment)
    assert [e.id for e in result.exercises] == [
        e.id for e in exercises.scored_exercises(assignment)
    ]
    assert result.max_points == sum(e.points for e in exercises.scored_exercises(assignment))
    assert all(e.status == "error" for e in result.exercises)


@pytest.mark.slow
def test_a_student_finishes_lesson_07_and_enters_the_challenge_from_the_bundles_alone(
    tmp_path: Path,
) -> None:
    """The course's bundle and lesson 07's, put together as BEYOND.md says; the student's
    work done (the package's regions, lesson 07's answers); then what the student runs and
    what the instructor grades: check, beyond (every autograded point) and the challenge."""
    from test_check import check, solved_lessons

    from autograder import challenge

    generated = release.build(ROOT)
    folder = tmp_path / "numpynet-course"
    for assignment in ("course", "beyond"):  # unzipped into the same folder
        for name, data in release.bundle_files(ROOT, generated, assignment).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    assert (folder / "challenge.json").is_file() and (
        folder / "lessons" / f"{NAME}.ipynb"
    ).is_file()
    for module in (ROOT / "solutions" / "numpynet").glob("*.py"):
        (folder / "numpynet" / module.name).write_bytes(module.read_bytes())
    solved = solved_lessons(tmp_path) / f"{NAME}.ipynb"
    (folder / "lessons" / f"{NAME}.ipynb").write_bytes(solved.read_bytes())
    out = check(folder)
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    for exercise in exercises.BEYOND_EXERCISES:
        assert "passing public checks" in rows[exercise.id], rows[exercise.id]
    assert "challenge.json is a valid recipe (784-128-10 MLP, rmsprop, 4 epochs" in out
    graders = [Grader("any", assignment=a) for a in ("beyond", "challenge")]
    try:
        beyond, contest = (grader.grade(folder) for grader in graders)
    finally:
        for grader in graders:
            grader.close()
    assert beyond.autograded_total == beyond.autograded_max == BEYOND_POINTS + 13
    run = contest.challenge
    assert run["status"] == "scored" and run["accuracy"] >= 0.97
    assert run["seconds"] <= challenge.DEFAULT_BUDGET
