"""Every hostile submission in autograder/examples/hostile gains nothing and breaks nothing.

"Gains nothing": the exercise it sabotaged still scores 0 with the expected status, and
every other exercise scores exactly full marks (the attack neither helps nor spills over).
"Breaks nothing": grading finishes, the repository's grader, checks and reference are
byte-for-byte unchanged, no network connection reached this machine, and the same
grader then grades the reference to full marks.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

import pytest

from autograder import exercises
from autograder.examples.hostile import HOSTILE, Hostile, materialise
from autograder.grade import Grader
from autograder.sandbox import choose

ROOT = Path(__file__).resolve().parents[1]
ISOLATION = choose("auto")
TIMEOUT = 10.0  # per exercise: short, so the looping submissions cost seconds (not 6: the
# suite runs beside the challenge's training, and a loaded machine can take 6 s for a check)


# The files the hostile snippets aim at (a digest of whole folders would also see the
# edits of people working in the repository while the tests run).
TARGETS = (
    ROOT / "autograder" / "grade.py",
    ROOT / "autograder" / "hidden" / "__init__.py",
    ROOT / "solutions" / "numpynet" / "functional.py",
)


def tree_digest() -> str:
    """One hash of everything a hostile submission tries to change or create."""
    digest = hashlib.sha256()
    for path in TARGETS:
        digest.update(str(path).encode() + path.read_bytes())
    digest.update(str((ROOT / "HOSTILE_WAS_HERE").exists()).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ISOLATION, timeout=TIMEOUT, notebooks="skip")


def expected_status(entry: Hostile, exercise_id: str) -> str | None:
    return entry.lost.get("*", entry.lost.get(exercise_id))


@pytest.mark.parametrize("entry", HOSTILE, ids=[h.name for h in HOSTILE])
def test_hostile_submission_gains_nothing_and_breaks_nothing(entry, grader, listener, tmp_path):
    if entry.needs_bwrap and ISOLATION.degraded:
        pytest.skip(f"{entry.name} needs the sandbox: {ISOLATION.summary}")
    if entry.needs_seccomp and platform.machine() != "x86_64":
        pytest.skip(f"{entry.name} expects the seccomp fork filter, which is x86_64 only")
    before = tree_digest()
    submission = materialise(entry, tmp_path, port=listener.getsockname()[1])
    result = grader.grade(submission)

    got = {e.id: (e.status, e.points) for e in result.exercises}
    for exercise in exercises.EXERCISES:
        status = expected_status(entry, exercise.id)
        if status is None:
            assert got[exercise.id] == ("passed", exercise.points), (exercise.id, result.output)
        else:
            assert got[exercise.id] == (status, 0.0), exercise.id
    if entry.output:
        assert entry.output in result.output
    # Writing inside the worker's private /tmp is harmless (a checkout under /tmp shows
    # there as empty folders); what counts is that no real grader file was written.
    for target in TARGETS:
        assert f"WROTE {target}" not in result.output, target
    assert "READ the reference" not in result.output
    assert "CONNECTED" not in result.output

    assert tree_digest() == before  # nothing in the repository changed
    with pytest.raises(BlockingIOError):
        listener.accept()  # and nobody connected to us


def test_looping_at_import_costs_one_timeout_not_sixteen(grader, tmp_path):
    entry = next(h for h in HOSTILE if h.name == "loop_at_import")
    result = grader.grade(materialise(entry, tmp_path))
    assert {e.status for e in result.exercises} == {"timeout"}
    assert result.seconds < 3 * TIMEOUT


def test_after_every_attack_the_same_grader_still_grades_the_reference(grader, tmp_path):
    for entry in HOSTILE:
        if entry.name in ("loop_at_import", "loop_in_exercise") or entry.needs_bwrap:
            continue  # slow or sandbox-only; each is graded in its own test above
        grader.grade(materialise(entry, tmp_path / "hostile"))
    reference = grader.grade(ROOT / "solutions")
    assert reference.points == reference.max_points
