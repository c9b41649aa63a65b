"""The checks judge correctly: every example submission loses exactly the expected exercises.

* the reference and an independently written implementation pass every check;
* the untouched stubs pass none, and every exercise reads "not started";
* each catalogued bug fails the checks of the exercises it breaks, through a failed
  ASSERTION (not a crash), and passes every other exercise's checks.

Each submission runs the public and hidden checks with pytest, its own ``numpynet/`` first
on the path (autograder.examples.run), about a second each; a few submissions share one
process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import exercises
from autograder.examples import build_example_submissions, expected_losses
from autograder.examples.bugs import BUGS, BY_NAME, CAUSES, COSMETIC, COSMETIC_SHARE
from autograder.examples.feedback import names_cause
from autograder.examples.run import CheckRun, run_checks_many

CATALOGUE = expected_losses()
ALL = {exercise.id for exercise in exercises.ALL_EXERCISES}


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("examples")
    folders = build_example_submissions(out)
    assert sorted(folder.name for folder in folders) == sorted(CATALOGUE)
    return out


def test_every_exercise_is_broken_by_some_bug():
    # Each exercise's checks are shown able to fail on a realistic mistake.
    assert set().union(*(bug.loses for bug in BUGS)) == ALL


def test_every_bug_says_how_its_feedback_names_the_cause():
    assert set(CAUSES) == set(BY_NAME)
    assert all(CAUSES.values())
    assert set(BY_NAME) >= COSMETIC


def test_bugs_only_rewrite_known_exercises_and_lose_some():
    for bug in BUGS:
        assert bug.loses, bug.name
        assert set(bug.regions) <= ALL, bug.name
        assert bug.loses <= ALL, bug.name


def test_each_bug_changes_the_code(submissions):
    reference = submissions / "reference" / "numpynet"
    for bug in BUGS:
        package = submissions / bug.name / "numpynet"
        changed = {
            path.name
            for path in package.glob("*.py")
            if path.read_bytes() != (reference / path.name).read_bytes()
        }
        modules = {exercises.get(exercise).module for exercise in bug.regions}
        assert changed == modules, f"{bug.name}: changed {changed}, expected {modules}"


def problems_of(name: str, run: CheckRun, folder: Path) -> list[str]:
    """What is wrong with the checks' verdict on the example submission ``name``."""
    expected = CATALOGUE[name]
    if run.numpynet != str(folder / "numpynet" / "__init__.py"):
        return [f"{name}: the checks imported {run.numpynet}, not the submission"]
    failing = [t for t in run.tests if t["outcome"] != "passed"]
    detail = "\n".join(f"    {t['nodeid']}: {t['outcome']} {t['error_type']}" for t in failing)
    if run.lost != set(expected["loses"]):
        return [
            f"{name} ({expected['description']}): lost {sorted(run.lost)}, "
            f"expected {expected['loses']}\n{detail}"
        ]
    if expected["not_started"]:
        return [] if run.not_started == ALL else [f"{name}: not started {sorted(run.not_started)}"]
    if run.not_started:
        return [f"{name}: not started {sorted(run.not_started)}"]
    problems = [
        f"{name}: no check of {exercise} fails by assertion (only crashes)\n{detail}"
        for exercise in expected["loses"]
        if not any(
            t["exercise"] == exercise and t["error_type"] == "AssertionError" for t in failing
        )
    ]
    entry = BY_NAME.get(name)
    if entry is None:
        return problems
    if not names_cause(entry, run):
        problems.append(f"{name}: no failing check's message says {CAUSES[name]}\n{detail}")
    # The partial-credit policy (bugs.py): cosmetic slips cost at most COSMETIC_SHARE of an
    # exercise, wrong results more.
    for exercise in entry.loses:
        counts = run.exercises[exercise]
        share = (counts["failed"] + counts["not_started"]) / sum(counts.values())
        cosmetic = name in COSMETIC
        if cosmetic != (share <= COSMETIC_SHARE):
            kind = "cosmetic" if cosmetic else "a wrong result"
            problems.append(f"{name} is {kind} but fails {share:.0%} of {exercise}'s checks")
    return problems


# One pytest process per chunk (start-up paid once per chunk); chunks spread over xdist.
CHUNKS = 2


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_submissions_lose_exactly_their_exercises(submissions, chunk):
    names = sorted(CATALOGUE)[chunk::CHUNKS]
    runs = run_checks_many([submissions / name for name in names])
    problems = [p for name in names for p in problems_of(name, runs[name], submissions / name)]
    assert not problems, "\n".join(problems)
