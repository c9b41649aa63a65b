"""The GitHub Classroom workflow of the student bundle: public checks on every push.

``classroom.yml`` beside this file is what ``release --bundle`` ships as
``.github/workflows/classroom.yml``. It is generated here from the exercise catalogue
(``python -m autograder.classroom`` rewrites it; a test fails when it is stale): one
``education/autograding-command-grader`` step per exercise, worth that exercise's points
when ``pytest autograder/public -m <id>`` passes, and the
``education/autograding-grading-reporter`` step that sends the points to GitHub
Classroom. Hidden checks and notebooks never run there: the grade comes from the
grader (``grade-all`` or Gradescope).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .. import exercises
from ..paths import ROOT

WORKFLOW = Path(__file__).with_name("classroom.yml")
BUNDLE_PATH = ".github/workflows/classroom.yml"  # where the student bundle has it
PYTHON = "3.11"
TIMEOUT_MINUTES = 5  # per exercise; the public checks of one take seconds
# What the public checks import (autograder/public and the student's numpynet).
NEEDS = ("numpy", "pytest", "hypothesis")


def command(exercise: exercises.Exercise) -> str:
    """The shell command of one exercise's step (run at the root of the student's repo)."""
    return f"python -m pytest autograder/public -m {exercise.id} -q -p no:cacheprovider"


def install_command(root: Path = ROOT) -> str:
    """The pip command installing NEEDS with pyproject's version specifiers."""
    wanted = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    name = lambda spec: re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0]  # noqa: E731
    pinned = [spec for spec in wanted if name(spec) in NEEDS]
    missing = set(NEEDS) - {name(spec) for spec in pinned}
    if missing:
        raise ValueError(f"pyproject.toml no longer lists {sorted(missing)}")
    return "python -m pip install " + " ".join(f'"{spec}"' for spec in pinned)


def render(root: Path = ROOT) -> str:
    """The workflow's text (YAML, written by hand so the file reads well)."""
    lines = [
        "# GitHub Classroom autograding: the public checks of each exercise on every push.",
        "# Generated from autograder/exercises.py by `python -m autograder.classroom`.",
        "name: Autograding Tests",
        "'on':",
        "  - push",
        "  - repository_dispatch",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  run-autograding-tests:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    steps:",
        "      - name: Checkout code",
        "        uses: actions/checkout@v4",
        "      - name: Set up Python",
        "        uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: '{PYTHON}'",
        "      - name: Install what the public checks need",
        f"        run: {install_command(root)}",
    ]
    for exercise in exercises.EXERCISES:
        name = f"Exercise {exercise.number}: {exercise.title}"
        lines += [
            f"      - name: '{name}'",
            f"        id: {exercise.id}",
            "        uses: education/autograding-command-grader@v1",
            "        with:",
            f"          test-name: '{name}'",
            f"          command: {command(exercise)}",
            f"          timeout: {TIMEOUT_MINUTES}",
            f"          max-score: {exercise.points}",
        ]
    lines += [
        "      - name: Autograding Reporter",
        "        uses: education/autograding-grading-reporter@v1",
        "        env:",
        *(
            f'          {e.id.upper()}_RESULTS: "${{{{steps.{e.id}.outputs.result}}}}"'
            for e in exercises.EXERCISES
        ),
        "        with:",
        f"          runners: {','.join(e.id for e in exercises.EXERCISES)}",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Rewrite classroom.yml from the exercise catalogue."""
    WORKFLOW.write_text(render())
    print(f"wrote {WORKFLOW}")
    return 0
