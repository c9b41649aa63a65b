"""Local pytest runs of the checks: the ``nn`` fixture, exercise markers, "not started".

In a local run ``nn`` is the ``numpynet`` package found on the import path (yours, in
``numpynet/``). The grader does not use this file: it calls the same test functions with
``nn`` bound to your package running in a sandbox.

A test that hits ``raise NotImplementedError("Exercise X.Y: ...")`` is reported as
FAILED with the short message ``not started: Exercise X.Y ...`` instead of a traceback.
Failures show short tracebacks unless ``--tb`` says otherwise, and ``-m ex2.1`` (a dot for
the underscore) stops with "did you mean ex2_1?".
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from types import ModuleType

import pytest

from autograder import exercises
from autograder.strategies import load_profile

# Deterministic and quick, like grading: the same examples on every run.
load_profile("student")  # the same examples as the grader draws (autograder/strategies.py)

CHECKS_DIR = Path(__file__).resolve().parents[1]  # autograder/: public/ and hidden/
_EXERCISE_IN_MESSAGE = re.compile(r"Exercise (\d+\.\d+)")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the exercise markers, default to short tracebacks, hint at a misspelt ``-m``."""
    for exercise in exercises.ALL_EXERCISES:
        config.addinivalue_line(
            "markers", f"{exercise.id}: Exercise {exercise.number}, {exercise.title}"
        )
    # Short tracebacks unless asked otherwise: the check's line and its message (the
    # tolerance helpers hide their own frames), not pages of grader internals.
    if getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "short"
    hint = marker_hint(getattr(config.option, "markexpr", "") or "")
    if hint:
        raise pytest.UsageError(hint)


_NAME = re.compile(r"[\w.:+-]+")


def marker_hint(expression: str) -> str | None:
    """A "did you mean" for an exercise marker misspelt in ``-m`` (``ex2.1`` for ``ex2_1``)."""
    for name in _NAME.findall(expression):
        if name in exercises.BY_ID or not re.match(r"ex\d", name):
            continue
        guess = name.replace(".", "_")
        if guess not in exercises.BY_ID:
            close = difflib.get_close_matches(guess, list(exercises.BY_ID), n=1)
            guess = close[0] if close else ""
        if guess:
            return (
                f"unknown marker {name!r} in -m: did you mean {guess}? Exercise markers are "
                f"written with an underscore: pytest autograder/public -m {guess}"
            )
        return (
            f"unknown marker {name!r} in -m; the exercise markers are {', '.join(exercises.BY_ID)}"
        )
    return None


def exercise_of(item: pytest.Item) -> exercises.Exercise | None:
    """The exercise whose marker ``item`` carries (None when it has none)."""
    ids = [mark.name for mark in item.iter_markers() if mark.name in exercises.BY_ID]
    return exercises.BY_ID[ids[0]] if ids else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every check counts for exactly one exercise: refuse to run a suite that breaks this."""
    for item in items:
        ids = {mark.name for mark in item.iter_markers() if mark.name in exercises.BY_ID}
        if len(ids) != 1 and CHECKS_DIR in Path(item.path).resolve().parents:
            raise pytest.UsageError(f"{item.nodeid} must carry exactly one exercise marker: {ids}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A NotImplementedError becomes a one-line FAILURE "not started: Exercise X.Y ...".

    A failure, not a skip: a summary full of skips reads as if nothing were wrong. The
    ("status", "not-started") user property lets reports tell it from a wrong answer.
    """
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        message = str(call.excinfo.value)
        own = exercise_of(item)
        found = _EXERCISE_IN_MESSAGE.search(message)
        if own is not None and found and found.group(1) != own.number:
            text = f"not started: {message} (Exercise {own.number} needs it)"
        else:
            text = f"not started: {message}" if message else "not started"
        report.longrepr = text
        report.user_properties.append(("status", "not-started"))
    return report


@pytest.fixture
def nn() -> ModuleType:
    """Your numpynet package (``import numpynet``)."""
    import numpynet

    return numpynet
