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
import sys
import time
from dataclasses import asdict, dataclass, field
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
)

DEFAULT_TIMEOUT = 20.0  # seconds per exercise, all its checks together
MESSAGE_CHARS = 600  # a message longer than this is cut in reports
SCORING_RULE = (
    "points per exercise x (checks passed / checks run), public and hidden checks together"
)
STATUSES = ("passed", "failed", "not started", "timeout", "error")
_EXERCISE_NUMBER = re.compile(r"Exercise (\d+\.\d+)")


# -- results ------------------------------------------------------------------------------
@dataclass
class CheckResult:
    """One test function (one parametrized case) run against one submission."""

    name: str  # e.g. "public/test_02_softmax_loss.py::test_softmax_by_hand"
    exercise: str
    visibility: str  # "public" or "hidden"
    outcome: str  # passed | failed | not started | timeout | error | skipped
    message: str = ""  # student-facing: never the source of a hidden check
    seconds: float = 0.0


@dataclass
class ExerciseResult:
    id: str
    number: str
    title: str
    max_points: float
    points: float = 0.0
    status: str = "not started"
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(c.outcome == "passed" for c in self.checks)

    @property
    def counted(self) -> int:
        return sum(c.outcome != "skipped" for c in self.checks)


@dataclass
class SubmissionResult:
    name: str
    path: str
    isolation: str  # the one-line isolation summary (says "degraded" when it is)
    exercises: list[ExerciseResult]
    fork_limit: str = ""
    output: str = ""  # what the student's code printed (truncated)
    seconds: float = 0.0
    scoring_rule: str = SCORING_RULE
    notebooks: dict | None = None  # nbgrader's report (autograder.nbgrader_course), if run
    problems: list[str] = field(default_factory=list)  # grader-side notes

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)

    @property
    def notebook_points(self) -> float:
        return float((self.notebooks or {}).get("score") or 0.0)

    @property
    def notebook_max_points(self) -> float:
        return float((self.notebooks or {}).get("max_score") or 0.0)

    @property
    def total(self) -> float:
        return self.points + self.notebook_points

    @property
    def max_total(self) -> float:
        return self.max_points + self.notebook_max_points

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(
            points=self.points,
            max_points=self.max_points,
            total=self.total,
            max_total=self.max_total,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        names = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["exercises"] = [
            ExerciseResult(
                **{k: v for k, v in e.items() if k != "checks"},
                checks=[CheckResult(**c) for c in e.get("checks", [])],
            )
            for e in data["exercises"]
        ]
        return cls(**kwargs)


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
        notebooks: str = "auto",
    ) -> None:
        self.isolation = choose(isolation) if isinstance(isolation, str) else isolation
        self.timeout = timeout
        self.limits = limits or Limits()
        self.suite = suite or default_suite()
        self.notebooks = notebooks

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
        )
        worker = Worker(path, self.isolation, self.limits)
        try:
            self._grade_package(path, worker, result)
        finally:
            worker.close()  # first: the output is complete once the worker has exited
            result.output = worker.output()
        if self.notebooks != "skip":
            result.notebooks = grade_notebooks(path, result.name, self.notebooks == "always")
        result.seconds = time.perf_counter() - started
        return result

    def _grade_package(self, path: Path, worker: Worker, result: SubmissionResult) -> None:
        broken: tuple[str, str] | None = None  # (status, message) for every exercise
        if not (path / "numpynet" / "__init__.py").is_file():
            broken = (
                "error",
                f"no numpynet/ package in {path.name} (expected numpynet/__init__.py)",
            )
        nn = None
        for exercise in exercises.EXERCISES:
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
                    status = "timeout" if isinstance(failure, WorkerTimeout) else "error"
                    if status == "timeout":
                        message = f"time limit of {self.timeout:g} s for this exercise reached"
                    else:
                        message = f"your code killed its sandboxed process: {failure}"
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


def grade_notebooks(submission: Path, student: str, required: bool = False) -> dict | None:
    """nbgrader's scores for the submission's notebooks, or None when it has none.

    Integration point with the release helper's glue (autograder.nbgrader_course).
    Notebooks run under nbgrader in a plain subprocess with a minimal environment,
    NOT in the bubblewrap sandbox (nbgrader needs the source notebooks, which hold
    the hidden notebook tests); the report says so.
    """
    lessons = submission / "lessons"
    if not required and not (lessons.is_dir() and any(lessons.glob("*.ipynb"))):
        return None
    try:
        from .nbgrader_course import autograde_submission
    except ImportError as error:
        return {
            "ok": False,
            "errors": [f"notebook grading unavailable: {error}"],
            "score": 0.0,
            "max_score": 0.0,
            "notebooks": {},
        }
    import os
    import tempfile

    safe = re.sub(r"[^A-Za-z0-9_-]", "_", student) or "student"
    with tempfile.TemporaryDirectory(prefix="npn-nbgrader-") as home:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8",
        }
        if os.environ.get("MNIST_DIR"):
            env["MNIST_DIR"] = os.environ["MNIST_DIR"]
        try:
            report = autograde_submission(submission, student=safe, env=env)
        except Exception as error:  # noqa: BLE001 - never let notebooks stop the package grade
            return {
                "ok": False,
                "errors": [f"{type(error).__name__}: {error}"],
                "score": 0.0,
                "max_score": 0.0,
                "notebooks": {},
            }
    report["sandbox"] = "nbgrader subprocess with a minimal environment (not bubblewrap)"
    return report


def grade(
    submission: str | Path,
    isolation: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    notebooks: str = "auto",
) -> SubmissionResult:
    """Grade one submission with the default checks (a convenience for scripts and tests)."""
    return Grader(isolation, timeout, notebooks=notebooks).grade(submission)


def submissions_in(folder: str | Path) -> list[Path]:
    """The submissions of a class folder: its subfolders, sorted by name (hidden ones skipped)."""
    return sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
