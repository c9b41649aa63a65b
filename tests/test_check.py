"""``python -m autograder check``: the student's progress table, from their own folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def course(tmp_path: Path, package: Path, lessons: Path) -> Path:
    """A course folder as a student has it: autograder/, numpynet/, lessons/."""
    folder = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__", "hidden", "examples")
    shutil.copytree(ROOT / "autograder", folder / "autograder", ignore=ignore)
    shutil.copytree(package, folder / "numpynet", ignore=ignore)
    shutil.copytree(lessons, folder / "lessons", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    return folder


def solved_lessons(tmp_path: Path) -> Path:
    """The lessons as a student who solved them has them: answers filled, no hidden test
    (a student's folder never holds the graders' hidden lines, nor what they import)."""
    from autograder.examples.build import solved_student_lessons

    folder = tmp_path / "solved-lessons"
    folder.mkdir()
    for name, text in solved_student_lessons(ROOT / "solutions" / "lessons").items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run_check(folder: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """``python -m autograder check`` in ``folder``, without PYTHONPATH, with ``environ`` set."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-m", "autograder", "check"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def check(folder: Path) -> str:
    done = run_check(folder)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_check_shows_a_solved_course_passing_everything(tmp_path):
    out = check(course(tmp_path, ROOT / "solutions" / "numpynet", solved_lessons(tmp_path)))
    # 215 for the course and the lab; lesson 07's notebook is there too: its 55 + 13 join.
    assert "passing public checks: 283 of 283 points" in out
    assert "not started" not in out and "failing" not in out
    assert "this is not your grade" in out


@pytest.mark.slow
def test_check_shows_the_stubs_not_started_and_what_to_read(tmp_path):
    folder = course(tmp_path, ROOT / "numpynet", ROOT / "lessons")
    out = check(folder)
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "passing public checks: 0 of 283 points" in out  # with lesson 07, as above
    assert "not started" in lines["ex2_1"] and "Exercise 2.1: softmax" in lines["ex2_1"]
    assert "num_batches still raises NotImplementedError" in lines["l00_num_batches_tests"]
    assert "next: ex0_1 (Exercise 0.1: DataLoader iteration)" in out
    # One exercise done: its rows turn, the others stay.
    shutil.copy(ROOT / "solutions" / "numpynet" / "gradcheck.py", folder / "numpynet")
    again = {line.split()[0]: line for line in check(folder).splitlines() if line.strip()}
    assert "passing public checks" in again["ex3_3"]
    assert "not started" in again["ex2_1"]


def test_check_says_what_the_grader_will_make_of_the_challenge_recipe(tmp_path):
    """The recipe line: absent before lesson 07, then missing, refused (why) or valid."""
    import json

    from autograder import exercises
    from autograder.check import challenge_line

    assert challenge_line(tmp_path) is None
    (tmp_path / "lessons").mkdir()
    (tmp_path / exercises.CHALLENGE[0].lesson).write_text("{}")
    assert "no challenge.json" in challenge_line(tmp_path)
    recipe = tmp_path / exercises.CHALLENGE_FILE
    recipe.write_text(json.dumps({"epochs": 3, "hidden": [64, 32], "optimizer": "adam"}))
    line = challenge_line(tmp_path)
    assert "valid recipe (784-64-32-10 MLP, adam, 3 epochs of batch 32)" in line
    assert f"within {exercises.CHALLENGE_BUDGET:g} s of CPU" in line
    assert "5 points at 97%, 5 points at 98%" in line
    recipe.write_text(json.dumps({"epochs": 3, "hiden": [64]}))
    assert "is refused" in challenge_line(tmp_path) and "hiden" in challenge_line(tmp_path)
