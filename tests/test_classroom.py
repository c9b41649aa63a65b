"""The GitHub Classroom workflow shipped in the student bundle.

The workflow cannot run here (it needs GitHub's runners), so the tests check what can
be: it is the catalogue's (one grader step per exercise, with its points, all reported),
valid YAML naming only what the bundle has, and its commands, run in the bundle the way
``autograding-command-grader`` runs them (points when the command exits 0), give 0 on
the stubs and every public point on a solved package.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from autograder import classroom, exercises, release

ROOT = Path(__file__).resolve().parents[1]
FULL = sum(e.points for e in exercises.EXERCISES)
GRADER = "education/autograding-command-grader@v1"
REPORTER = "education/autograding-grading-reporter@v1"


def steps() -> list[dict]:
    workflow = yaml.safe_load(classroom.WORKFLOW.read_text())
    assert set(workflow["on"]) == {"push", "repository_dispatch"}  # quoted 'on': not True
    (job,) = workflow["jobs"].values()
    return job["steps"]


def grader_steps() -> list[dict]:
    return [s for s in steps() if s.get("uses") == GRADER]


def test_the_stored_workflow_is_the_generated_one():
    assert classroom.WORKFLOW.read_text() == classroom.render(), (
        "autograder/classroom/classroom.yml is stale: run `python -m autograder.classroom`"
    )


def test_one_step_per_exercise_with_its_points_all_reported():
    graded = grader_steps()
    assert [(s["id"], s["with"]["max-score"]) for s in graded] == [
        (e.id, e.points) for e in exercises.EXERCISES
    ]
    assert all(s["with"]["test-name"] == s["name"] for s in graded)
    (reporter,) = [s for s in steps() if s.get("uses") == REPORTER]
    assert reporter["with"]["runners"].split(",") == [e.id for e in exercises.EXERCISES]
    assert reporter["env"] == {
        f"{e.id.upper()}_RESULTS": f"${{{{steps.{e.id}.outputs.result}}}}"
        for e in exercises.EXERCISES
    }


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The student bundle as release writes it (the committed stubs and lessons)."""
    folder = tmp_path_factory.mktemp("bundle") / "numpynet-course"
    generated = release.existing_files(ROOT)
    release.write_bundle(release.bundle_files(ROOT, generated), folder)
    return folder


def test_the_bundle_ships_the_workflow_and_everything_it_names(bundle):
    assert (bundle / classroom.BUNDLE_PATH).read_bytes() == classroom.WORKFLOW.read_bytes()
    install = next(s for s in steps() if "run" in s)["run"]
    words = shlex.split(install)
    assert words[:4] == ["python", "-m", "pip", "install"]
    installed = {w.split(">")[0].split("=")[0] for w in words[4:]}
    for step in grader_steps():
        words = shlex.split(step["with"]["command"])
        assert words[:3] == ["python", "-m", "pytest"] and "pytest" in installed
        paths = [w for w in words[3:] if "/" in w]
        assert paths and all((bundle / p).exists() for p in paths), paths
        assert words[words.index("-m", 3) + 1] in exercises.BY_ID


def points(folder: Path) -> dict[str, int]:
    """Each step's command run in ``folder`` as the command grader runs it: PATH and HOME."""
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(folder)}

    def one(step: dict) -> tuple[str, int]:
        done = subprocess.run(
            step["with"]["command"],
            shell=True,
            cwd=folder,
            env=env,
            capture_output=True,
            timeout=60 * step["with"]["timeout"],
        )
        return step["id"], step["with"]["max-score"] if done.returncode == 0 else 0

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, grader_steps()))


@pytest.mark.slow
def test_the_stubs_score_zero_and_a_solved_package_every_public_point(bundle, tmp_path):
    assert sum(points(bundle).values()) == 0
    solved = tmp_path / "solved"
    shutil.copytree(bundle, solved)
    shutil.rmtree(solved / "numpynet")
    shutil.copytree(
        ROOT / "solutions" / "numpynet",
        solved / "numpynet",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    earned = points(solved)
    assert earned == {e.id: e.points for e in exercises.EXERCISES}
    assert sum(earned.values()) == FULL
