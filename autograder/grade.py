"""Grade one submission: run every check against the student's package in a sandbox.

The checks are the ordinary pytest test functions of ``autograder/public`` and
``autograder/hidden``. They are collected ONCE per grading process (:class:`Suite`) and
called directly - no pytest session per submission - with ``nn`` bound to a proxy of
the student's ``numpynet`` running in a sandboxed worker (autograder.sandbox) and
``ref`` bound to the trusted reference. Every assertion therefore runs here, in the
trusted process, on data copied out of the worker.

Scoring rule (printed in every report): an exercise is worth ``points`` from
autograder/exercises.py; a submission earns ``points x (checks passed / checks run)``
for it, public and hidden checks together, each parametrized case counting once.

Statuses: ``passed`` (every check passed), ``failed`` (some failed), ``not started``
(every check stopped at the exercise's NotImplementedError), ``timeout`` (the exercise
ran past its wall-clock budget: the worker was killed, the next exercise gets a fresh
one), ``error`` (the worker died: sys.exit/os._exit at import, a segfault, memory...,
or the package could not be imported at all).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from . import exercises
from .collection import (  # noqa: F401 - re-exported: callers import them from here
    CHECK_DIRS,
    REFERENCE_DIR,
    ROOT,
    Check,
    Suite,
    configure_hypothesis,
    default_suite,
)
from .lab import grading_as
from .notebooks import LessonGrader, source_lessons
from .results import (  # noqa: F401 - re-exported: callers import them from here
    SCORING_RULE,
    STATUSES,
    CheckResult,
    ExerciseResult,
    SubmissionResult,
    scoring_rule,
)
from .sandbox import (
    Isolation,
    Limits,
    RemoteError,
    Worker,
    WorkerCrashed,
    WorkerFailure,
    WorkerTimeout,
    choose,
    connect,
    outcome_of,
)

DEFAULT_TIMEOUT = 20.0  # seconds per exercise, all its checks together
# --notebooks: "grade" every notebook of the assignment (missing ones score 0) or "skip"
# them all; "auto" and "always" are older names of "grade".
NOTEBOOK_CHOICES = ("grade", "skip", "auto", "always")
MESSAGE_CHARS = 600  # a message longer than this is cut in reports
_EXERCISE_NUMBER = re.compile(r"Exercise (\d+\.\d+)")


# -- running ------------------------------------------------------------------------------
def _message(error: BaseException, visibility: str) -> str:
    """What a student may read about a failed check."""
    if isinstance(error, AssertionError):
        text = str(error).strip()
        if not text:
            return "a check failed (no message)"
        return text
    if isinstance(error, RemoteError):
        text = f"your code raised {error}"
    else:
        # Builtin exceptions arrive with the student's traceback attached by the session.
        origin = "your code" if getattr(error, "remote_type", "") else "the check"
        text = f"{origin} raised {type(error).__name__}: {error}"
    trace = getattr(error, "remote_traceback", "")
    if trace:
        text += "\n" + trace.rstrip()
    return text


def _cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 20] + " ... [cut]"


def run_check(check: Check, nn: Any, ref: Any) -> CheckResult:
    """Call one check; WorkerFailure (timeout, crash) propagates to the caller."""
    import pytest

    started = time.perf_counter()
    result = CheckResult(check.name, check.exercise, check.visibility, "passed")
    kwargs = dict(check.params)
    unknown = [f for f in check.fixtures if f not in ("nn", "ref")]
    if unknown:
        result.outcome = "error"
        result.message = f"grader problem: the check asks for unsupported fixtures {unknown}"
        return result
    if "nn" in check.fixtures:
        kwargs["nn"] = nn
    if "ref" in check.fixtures:
        kwargs["ref"] = ref()
    try:
        check.function(**kwargs)
    except WorkerFailure:
        raise
    except pytest.skip.Exception as skip:
        result.outcome, result.message = "skipped", str(skip)
    except NotImplementedError as error:
        text = str(error)
        found = _EXERCISE_NUMBER.search(text)
        own = exercises.BY_ID[check.exercise].number
        # A check can stop at ANOTHER exercise's stub (Linear.backward needs Linear's
        # initialisation): that exercise cannot be judged yet either; say which is missing.
        result.outcome = "not started"
        result.message = text or "NotImplementedError"
        if found and found.group(1) != own:
            result.message = f"needs Exercise {found.group(1)} first: {text}"
    except (Exception, pytest.fail.Exception) as error:  # noqa: BLE001 - a failing check
        result.outcome = "failed"
        result.message = _cut(_message(error, check.visibility))
    result.seconds = time.perf_counter() - started
    return result


def summarise(exercise: exercises.Exercise, checks: list[CheckResult]) -> ExerciseResult:
    """Status, points and the first useful message of one exercise from its checks."""
    result = ExerciseResult(exercise.id, exercise.number, exercise.title, float(exercise.points))
    result.checks = checks
    counted = [c for c in checks if c.outcome != "skipped"]
    outcomes = {c.outcome for c in counted}
    if not counted:
        result.status, result.message = "error", "no checks for this exercise"
        return result
    result.points = round(exercise.points * result.passed / len(counted), 2)
    for status in ("timeout", "error"):
        if status in outcomes:
            result.status = status
            break
    else:
        if outcomes == {"passed"}:
            result.status = "passed"
        elif outcomes == {"not started"}:
            result.status = "not started"
        else:
            result.status = "failed"
    order = ("timeout", "error", "failed", "not started")
    first = sorted((c for c in counted if c.outcome in order), key=lambda c: order.index(c.outcome))
    if first:
        result.message = first[0].message
    return result


class Grader:
    """Grades submissions one after another in this process (collection done once)."""

    def __init__(
        self,
        isolation: Isolation | str = "auto",
        timeout: float = DEFAULT_TIMEOUT,
        limits: Limits | None = None,
        suite: Suite | None = None,
        notebooks: str = "grade",
        assignment: str = "course",
    ) -> None:
        self.isolation = choose(isolation) if isinstance(isolation, str) else isolation
        self.timeout = timeout
        self.limits = limits or Limits()
        self.suite = suite or default_suite()
        self.notebooks = notebooks
        self.assignment = assignment
        self.lessons = tuple(
            lesson
            for lesson in source_lessons()
            if exercises.in_assignment(lesson.name, assignment)
        )

    def grade(self, submission: str | Path, name: str | None = None) -> SubmissionResult:
        """Grade one submission folder; never raises for anything the submission does."""
        path = Path(submission)
        started = time.perf_counter()
        result = SubmissionResult(
            name=name or path.resolve().name,
            path=str(path),
            isolation=self.isolation.summary,
            exercises=[],
            problems=list(self.suite.problems),
            assignment=self.assignment,
            scoring_rule=scoring_rule(self.assignment),
        )
        worker = Worker(path, self.isolation, self.limits)
        try:
            nn, broken = None, None
            if exercises.grades_package(self.assignment):
                nn, broken = self._grade_package(path, worker, result)
            if self._wants_notebooks(path):
                # The same worker, isolation and limits as the package (autograder/notebooks.py).
                lessons = LessonGrader(
                    worker,
                    lambda: self._fresh(worker),
                    self.timeout,
                    self.lessons,
                    nn=nn,
                    nn_problem=broken,
                )
                # The lab grades the mysteries of the identity graded (autograder/lab.py).
                with grading_as(result.name):
                    result.notebooks = lessons.grade(path / "lessons")
        finally:
            worker.close()  # first: the output is complete once the worker has exited
            result.output = worker.output()
            result.problems += [p for p in worker.problems if p not in result.problems]
            result.fork_limit = result.fork_limit or worker.fork_limit  # notebooks alone too
        result.seconds = time.perf_counter() - started
        return result

    def _wants_notebooks(self, path: Path) -> bool:
        # The assignment defines the maximum: its notebooks are graded whether submitted or
        # not (a missing one scores 0, "not submitted"); only "skip" grades the package alone.
        return self.notebooks != "skip"

    def _grade_package(
        self, path: Path, worker: Worker, result: SubmissionResult
    ) -> tuple[Any, tuple[str, str] | None]:
        """Grade every exercise; returns the live proxy (or why there is none) for notebooks."""
        broken: tuple[str, str] | None = None  # (status, message) for every exercise
        if not (path / "numpynet" / "__init__.py").is_file():
            broken = (
                "error",
                f"no numpynet/ package in {path.name} (expected numpynet/__init__.py)",
            )
        nn = None
        for exercise in exercises.package_exercises(self.assignment):
            checks = self.suite.for_exercise(exercise.id)
            if broken is None and (nn is None or not worker.alive):
                nn, broken = self._fresh(worker)
            if broken is not None:
                status, message = broken
                rows = [
                    CheckResult(c.name, c.exercise, c.visibility, status, message) for c in checks
                ]
                result.exercises.append(summarise(exercise, rows))
                continue
            result.exercises.append(self._run_exercise(exercise, checks, worker, nn))
            if not worker.alive:
                nn = None
        result.fork_limit = worker.fork_limit
        return (nn if worker.alive else None), broken

    def _fresh(self, worker: Worker) -> tuple[Any, tuple[str, str] | None]:
        """Start a worker and import the package: (proxy, None) or (None, (status, message))."""
        worker.deadline = time.monotonic() + self.timeout
        try:
            worker.start()
            nn = connect(worker)
        except WorkerTimeout as failure:
            return None, (
                "timeout",
                f"importing numpynet did not finish in {self.timeout:g} s ({failure})",
            )
        except WorkerCrashed as failure:
            return None, ("error", f"importing numpynet killed the worker: {failure}")
        except Exception as error:  # noqa: BLE001 - SyntaxError, ImportError, RemoteError...
            message = f"importing numpynet failed: {type(error).__name__}: {error}"
            trace = getattr(error, "remote_traceback", "")
            return None, ("error", _cut(message + ("\n" + trace.rstrip() if trace else "")))
        finally:
            worker.deadline = None
        return nn, None

    def _run_exercise(
        self, exercise: exercises.Exercise, checks: list[Check], worker: Worker, nn: Any
    ) -> ExerciseResult:
        rows: list[CheckResult] = []
        worker.deadline = time.monotonic() + self.timeout
        try:
            for index, check in enumerate(checks):
                try:
                    row = run_check(check, nn, lambda: self.suite.reference)
                except WorkerFailure as failure:
                    status, message = outcome_of(failure, self.timeout, "exercise")
                    rows.append(
                        CheckResult(check.name, check.exercise, check.visibility, status, message)
                    )
                    rows += [
                        CheckResult(c.name, c.exercise, c.visibility, status, "not run: " + message)
                        for c in checks[index + 1 :]
                    ]
                    break
                if worker.failure is not None:  # the check swallowed the failure: it still counts
                    failure = worker.failure
                    row.outcome = "timeout" if isinstance(failure, WorkerTimeout) else "error"
                    row.message = str(failure)
                rows.append(row)
        finally:
            worker.deadline = None
        return summarise(exercise, rows)


def grade(
    submission: str | Path,
    isolation: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    notebooks: str = "grade",
    assignment: str = "course",
) -> SubmissionResult:
    """Grade one submission with the default checks (a convenience for scripts and tests)."""
    return Grader(isolation, timeout, notebooks=notebooks, assignment=assignment).grade(submission)


_SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".git"}


def _content_hash(root: Path, digest: Any, relative_to: Path) -> None:
    """Feed every regular file under ``root`` to ``digest``; links are named, never followed.

    A submission's link to /dev/zero or to the instructor's files must not be read.
    """
    import os
    import stat

    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_PARTS)
        for name in sorted(files):
            path = Path(folder) / name
            info = path.lstat()
            digest.update(path.relative_to(relative_to).as_posix().encode() + b"\0")
            if stat.S_ISLNK(info.st_mode):
                digest.update(b"link:" + os.readlink(path).encode(errors="replace"))
            elif stat.S_ISREG(info.st_mode):
                with path.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)


_GRADER_VERSION: str | None = None


def grader_version() -> str:
    """A hash of everything that decides a grade: the grader, its checks, the reference."""
    global _GRADER_VERSION
    if _GRADER_VERSION is None:
        import hashlib

        digest = hashlib.sha256()
        for folder in (ROOT / "autograder", ROOT / "solutions"):
            _content_hash(folder, digest, ROOT)
        _GRADER_VERSION = digest.hexdigest()[:16]
    return _GRADER_VERSION


def fingerprint(submission: Path, assignment: str = "course") -> str:
    """What a grade depends on: the submission's files, the assignment, the grader's version."""
    import hashlib

    digest = hashlib.sha256(f"{grader_version()}:{assignment}".encode())
    _content_hash(Path(submission), digest, Path(submission))
    return digest.hexdigest()[:32]


def submissions_in(folder: str | Path) -> list[Path]:
    """The submissions of a class folder: its subfolders, sorted by name (hidden ones skipped)."""
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
