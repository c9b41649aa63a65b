"""Grade one submission: run every check against the student's package in a sandbox.

The checks are the ordinary pytest test functions of ``autograder/public`` and
``autograder/hidden``. They are collected ONCE per grading process (:class:`Suite`) and
called directly - no pytest session per submission - with ``nn`` bound to a proxy of
the student's ``numpynet`` running in a sandboxed worker (autograder.sandbox) and
``ref`` bound to the trusted reference. Every assertion therefore runs in the trusted
grader, on data copied out of the worker: in its *judge* (autograder/judge.py), a child
with a memory budget that the grader kills past any check's deadline, so that whatever a
returned value makes a check do costs that check only. Each submission also has a total
time budget (``budget``, default :data:`DEFAULT_BUDGET`): what has not run by then is
``timeout``.

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

import contextlib
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import challenge, exercises, judge
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
from .notebooks import LessonGrader, compiled, source_lessons
from .results import (  # noqa: F401 - re-exported: callers import them from here
    SCORING_RULE,
    STATUSES,
    CheckResult,
    ExerciseResult,
    SubmissionResult,
    scoring_rule,
    summarise,
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
from .sandbox.session import STARTUP_SECONDS

DEFAULT_TIMEOUT = 20.0  # seconds per exercise, all its checks together
# --notebooks: "grade" every notebook of the assignment (missing ones score 0) or "skip"
# them all; "auto" and "always" are older names of "grade".
NOTEBOOK_CHOICES = ("grade", "skip", "auto", "always")
# Seconds per submission, everything together: Gradescope stops an autograder after 10
# minutes by default (docs/troubleshooting.md of gradescope/autograder_samples); 8 leave
# 2 for set-up and the reports. What has not run by then is `timeout`.
DEFAULT_BUDGET = 480.0
MESSAGE_CHARS = 600  # a message longer than this is cut in reports
_EVERYTHING = "*"  # the judge's record for every item not done yet (judges died too often)
_EXERCISE_NUMBER = re.compile(r"Exercise (\d+\.\d+)")


# -- running ------------------------------------------------------------------------------
def _message(error: BaseException, visibility: str) -> str:
    """What a student may read about a failed check."""
    if isinstance(error, AssertionError):
        text = str(error).strip()
        if not text:
            return "a check failed (no message)"
        return text
    if isinstance(error, MemoryError):
        return (
            "checking what your code returned needed more than the grader's memory budget "
            f"({judge.MEMORY_BYTES // 1024**2} MB): is its shape, size or dtype what the "
            "exercise asks for?"
        )
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


def _row(check: Check, status: str, message: str) -> CheckResult:
    """A check's result without running it (not run, or run by a judge that died)."""
    return CheckResult(check.name, check.exercise, check.visibility, status, message)


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
        budget: float = DEFAULT_BUDGET,
        challenge_budget: float = challenge.DEFAULT_BUDGET,
        challenge_key: bytes | None = None,
    ) -> None:
        if not challenge_budget > 0:
            raise ValueError(f"the challenge's CPU budget must be > 0 s, got {challenge_budget}")
        self.isolation = choose(isolation) if isinstance(isolation, str) else isolation
        self.challenge_budget = float(challenge_budget)
        # The course's secret (challenge.course_key): each submission's scramble is then fixed
        # by its content, so a regrade gives the same grade; None: a fresh one per grading.
        self.challenge_key = challenge_key
        self._challenge_data: challenge.Data | None = None
        self._challenge_problems: list[str] = []
        self.timeout = timeout
        self.budget = budget
        self._budget_end = float("inf")  # set by grade(): when this submission's time is up
        self._tracker = judge.Tracker()  # the judge's, while one grades (autograder/judge.py)
        self._prepared = False
        self._judge: judge.Judge | None = None
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
        """Grade one submission folder; never raises for anything the submission does.

        The grading runs in a judge (autograder/judge.py): a child of this process with a
        memory budget, killed past any item's deadline. A judge that dies or is killed
        costs the item it was on; another judge grades the rest.
        """
        path = Path(submission)
        started = time.perf_counter()
        self._prepare()
        self._budget_end = time.monotonic() + self.budget
        if not judge.AVAILABLE:  # no fork (Windows): graded here, without the judge's limits
            result = self._grade_here(path, name, judge.Tracker())
            result.seconds = time.perf_counter() - started
            return result
        done: dict[str, Any] = {}
        deaths = 0
        while True:
            if self._judge is None:
                self._judge = judge.Judge(self._serve)
            run = self._judge.run({"path": str(path), "name": name}, done, self._budget_end)
            done = run.done
            if run.result is not None:
                result = SubmissionResult.from_dict(run.result)
                break
            stopped = run.stopped or judge.Stopped("error", "no result", None)
            deaths += 1
            scope = "cell" if (stopped.item or "").startswith("cell:") else "exercise"
            limit = (
                self._budget_message()
                or f"time limit of {self.timeout:g} s for this {scope} reached"
            )
            status, message = judge.outcome(stopped, limit)
            if stopped.item is not None and deaths < judge.MAX_DEATHS:
                done[stopped.item] = {"status": status, "message": message, "judge": True}
            else:  # between items, or once too often: what is left is not graded
                done[_EVERYTHING] = {"status": status, "message": message, "judge": True}
        result.seconds = time.perf_counter() - started
        return result

    def _prepare(self) -> None:
        """Once per process, before any judge: what every judge would otherwise redo.

        Judges are forked from this process: whatever a check sets up on its first call
        (hypothesis' strategies, lazy imports, caches), the reference, the compiled test
        cells and nbformat's compiled schema are inherited, not redone per submission.
        The checks run once here on the trusted reference: no student code is involved.
        """
        if self._prepared:
            return
        self._prepared = True
        if self.assignment == "challenge":
            self._prepare_challenge()
        if exercises.grades_package(self.assignment):
            reference = self.suite.reference
            for exercise in exercises.EXERCISES:
                for check in self.suite.for_exercise(exercise.id):
                    run_check(check, reference, lambda: reference)
        for lesson in self.lessons:
            for test in lesson.tests:
                compiled(test.source, f"<{lesson.name}.ipynb, test cell {test.grade_id}>")
        if self.lessons:
            import nbformat

            from .notebooks import SOURCE_LESSONS

            path = SOURCE_LESSONS / f"{self.lessons[0].name}.ipynb"
            with contextlib.suppress(Exception):
                nbformat.validate(nbformat.read(path, as_version=4))

    def _prepare_challenge(self) -> None:
        """MNIST loaded once (judges inherit it), and whether the sandbox can see the test set."""
        try:
            self._challenge_data = challenge.load_data()
        except Exception as error:  # noqa: BLE001 - MNISTError, OSError: said in every report
            self._challenge_problems.append(
                f"the challenge cannot be graded: MNIST could not be loaded ({error})"
            )
            return
        hole = challenge.test_set_hidden(self.isolation, self._challenge_data.folder)
        if hole:
            self._challenge_problems.append(
                f"the test set may be readable by the submissions ({hole}): this leaderboard "
                "cannot be trusted"
            )

    def close(self) -> None:
        """Stop this grader's judge (it also ends with this process)."""
        if self._judge is not None:
            self._judge.close()

    def _serve(self, tracker: judge.Tracker, request: dict) -> dict:
        """In the judge: grade one request of :meth:`grade`."""
        self._budget_end = float(request["fallback"])
        return self._grade_here(Path(request["path"]), request["name"], tracker).to_dict()

    def _given(self, item: str) -> Any:
        """What an earlier judge recorded for ``item`` (or for everything left), else None."""
        return self._tracker.done(item) or self._tracker.done(_EVERYTHING)

    def _grade_here(self, path: Path, name: str | None, tracker: judge.Tracker) -> SubmissionResult:
        """The grading itself, in the judge."""
        self._tracker = tracker
        result = SubmissionResult(
            name=name or path.resolve().name,
            path=str(path),
            isolation=self.isolation.summary,
            exercises=[],
            problems=list(self.suite.problems),
            assignment=self.assignment,
            scoring_rule=scoring_rule(self.assignment),
        )
        if self.assignment == "challenge":
            self._grade_challenge(path, result, tracker)
            return result
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
                    budget=(self.budget, self._budget_end),
                    tracker=tracker,
                    given=self._given,
                )
                # The lab grades the mysteries of the identity graded (autograder/lab.py).
                with grading_as(result.name):
                    result.notebooks = lessons.grade(path / "lessons")
        finally:
            worker.close()  # first: the output is complete once the worker has exited
            result.output = worker.output()
            result.problems += [p for p in worker.problems if p not in result.problems]
            result.fork_limit = result.fork_limit or worker.fork_limit  # notebooks alone too
        return result

    def _grade_challenge(
        self, path: Path, result: SubmissionResult, tracker: judge.Tracker
    ) -> None:
        """The class challenge (autograder/challenge.py): one judge item, one worker."""
        budget = self.challenge_budget
        result.problems += [p for p in self._challenge_problems if p not in result.problems]
        given = self._given(challenge.CHALLENGE_ITEM)
        if given is not None:  # the judge died or overran during the run
            run = challenge.ChallengeRun(budget, status="failed", message=given["message"])
        elif self._challenge_data is None:
            run = challenge.ChallengeRun(
                budget, status="failed", message="grader problem: MNIST could not be loaded"
            )
        elif self._budget_message():
            run = challenge.ChallengeRun(
                budget, status="failed", message="not run: " + str(self._budget_message())
            )
        else:
            worker = Worker(path, self.isolation, self.limits)
            end = min(self._budget_end, time.monotonic() + challenge.wall_limit(budget))
            tracker.begin(challenge.CHALLENGE_ITEM, end)
            try:
                scramble = None
                if self.challenge_key is not None:
                    seed = fingerprint(path, "challenge")
                    scramble = challenge.Scramble.keyed(self.challenge_key, seed)
                run = challenge.run(
                    worker,
                    path,
                    self._challenge_data,
                    budget,
                    end,
                    scramble=scramble,
                    on_start=tracker.worker,
                )
            finally:
                worker.close()
                tracker.begin(None, None)
                result.output = worker.output()
                result.problems += [p for p in worker.problems if p not in result.problems]
                result.fork_limit = worker.fork_limit
        result.challenge = run.to_dict()
        result.exercises = challenge.rows(run)

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
            pending = any(self._given(f"check:{c.name}") is None for c in checks)
            if broken is None and pending and self._budget_message():
                broken = ("timeout", "not run: " + str(self._budget_message()))
            if broken is None and pending and (nn is None or not worker.alive):
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

    def _deadline(self) -> float:
        """When what starts now must be done: the timeout, or the submission's budget."""
        return min(time.monotonic() + self.timeout, self._budget_end)

    def _budget_message(self) -> str | None:
        """The timeout message when the submission's budget (not the timeout) ran out."""
        if time.monotonic() < self._budget_end - 0.05:
            return None
        return f"the time budget of {self.budget:g} s for the whole submission ran out"

    def _outcome(self, failure: WorkerFailure, scope: str) -> tuple[str, str]:
        """(status, message) of a worker failure, naming the budget when that ran out."""
        status, message = outcome_of(failure, self.timeout, scope)
        budget = self._budget_message() if status == "timeout" else None
        return status, (budget or message)

    def _fresh(self, worker: Worker) -> tuple[Any, tuple[str, str] | None]:
        """Start a worker and import the package: (proxy, None) or (None, (status, message))."""
        if self._budget_message():
            return None, ("timeout", "not run: " + str(self._budget_message()))
        # Starting has its own limit (the session's STARTUP_SECONDS, however loaded the
        # machine); only then does the exercise's timeout run, for the import.
        self._tracker.begin(None, min(self._budget_end, time.monotonic() + STARTUP_SECONDS))
        try:
            worker.start()
            self._tracker.worker(worker.process.pid if worker.process else 0)
            worker.deadline = self._deadline()
            self._tracker.begin(None, worker.deadline)
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
            self._tracker.begin(None, None)
        return nn, None

    def _run_exercise(
        self, exercise: exercises.Exercise, checks: list[Check], worker: Worker, nn: Any
    ) -> ExerciseResult:
        """The exercise's checks under one deadline; each one an item of the judge.

        A check the worker failed on ends the exercise: the rest are ``not run`` (never
        waiting out the same timeout again). A check whose judge died costs that check.
        """
        rows: list[CheckResult] = []
        deadline = self._deadline()
        for index, check in enumerate(checks):
            item = f"check:{check.name}"
            given = self._given(item)
            if given is None:
                worker.deadline = deadline
                self._tracker.begin(item, deadline)
                given = self._check(check, worker, nn)
                worker.deadline = None
                self._tracker.finish(item, given)
            if given.get("judge"):  # its judge died or overran: this check only
                status, message = given["status"], given["message"]
                rows.append(_row(check, status, message))
                if status == "timeout":
                    rest = [_row(c, status, "not run: " + message) for c in checks[index + 1 :]]
                    rows += rest
                    break
                continue
            row = CheckResult(**given["row"])
            rows.append(row)
            if given.get("stop"):
                rows += [
                    _row(c, row.outcome, "not run: " + row.message) for c in checks[index + 1 :]
                ]
                break
        return summarise(exercise, rows)

    def _check(self, check: Check, worker: Worker, nn: Any) -> dict:
        """Run one check: {"row": CheckResult as a dict, "stop": the worker failed}."""
        try:
            row = run_check(check, nn, lambda: self.suite.reference)
        except WorkerFailure as failure:
            status, message = self._outcome(failure, "exercise")
            return {"row": asdict(_row(check, status, message)), "stop": True}
        if worker.failure is not None:  # the check swallowed the failure: it still counts
            failure = worker.failure
            row.outcome = "timeout" if isinstance(failure, WorkerTimeout) else "error"
            row.message = str(failure)
            return {"row": asdict(row), "stop": True}
        return {"row": asdict(row), "stop": False}


def grade(
    submission: str | Path,
    isolation: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    notebooks: str = "grade",
    assignment: str = "course",
    budget: float = DEFAULT_BUDGET,
    challenge_budget: float = challenge.DEFAULT_BUDGET,
) -> SubmissionResult:
    """Grade one submission with the default checks (a convenience for scripts and tests)."""
    grader = Grader(
        isolation,
        timeout,
        notebooks=notebooks,
        assignment=assignment,
        budget=budget,
        challenge_budget=challenge_budget,
    )
    return grader.grade(submission)


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
