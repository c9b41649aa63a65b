"""Grade the lesson notebooks like the package: answers in the sandbox, tests in this process.

A lesson notebook has three kinds of graded cells (nbgrader metadata):

* **answer cells** (``solution: true``, code): the student's functions, e.g. ``num_batches``;
* **test cells** (``grade: true``, code, locked): the instructor's assertions, public lines
  and ``### BEGIN HIDDEN TESTS`` lines;
* **manual cells** (``grade: true``, markdown): the written derivation, graded by hand in
  nbgrader's formgrader (see autograder/gradebook.py).

Grading never runs the submitted notebook. The student's ANSWER cells (only those, matched
by ``grade_id``) run in the sandboxed worker that also holds their ``numpynet``; the TEST
cells come from the instructor's source notebook and run in the trusted grader's judge
(autograder/judge.py: memory budget, killed past the cell's deadline), with
``np`` = the grader's numpy, ``nn`` = a proxy of the student's package, ``quiet``,
``assert_close``, ``FLOAT32`` and ``GRADCHECK`` = the grader's own (``cells.cell_scope``),
and each notebook function a proxy of the student's. A submitted notebook
is validated against nbformat's schema and every field read is type-checked: a malformed
one is an ``error`` for that notebook only. Every value crossing
back is plain data (autograder/sandbox/protocol.py), so a notebook cannot redefine a
helper, patch numpy, install an IPython hook or return an always-equal object to pass a
test: none of that reaches this process. Demo cells (the MNIST training of lesson 05)
are never run.

The lesson model (answer, test and hand-graded cells; how a test cell fails) is in
autograder/cells.py, shared with the students' ``check``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from . import judge
from .cells import (  # noqa: F401 - the lesson model, re-exported where the grader reads it
    AnswerCell,
    Lesson,
    MissingAnswer,
    TestCell,
    Unavailable,
    cell_scope,
    code_of,
    compiled,
    cut,
    explain,
    lint,
    quiet,
)
from .cells import lint_lessons as _lint_lessons  # the parser takes a folder; ours defaults
from .cells import source_lessons as _source_lessons
from .nbgrader_course import SOURCE_LESSONS
from .sandbox import Worker, WorkerFailure, WorkerTimeout, outcome_of
from .sandbox.session import STARTUP_SECONDS

MAX_NOTEBOOK_BYTES = 20 * 1024**2  # a bigger submitted notebook is not read


def source_lessons(folder: Path = SOURCE_LESSONS) -> tuple[Lesson, ...]:
    """The instructor's lessons (default: solutions/lessons), parsed once per content."""
    return _source_lessons(folder)


def lint_lessons(folder: Path = SOURCE_LESSONS) -> list[str]:
    """What in the instructor's lessons the notebook grader cannot grade (empty: all fine)."""
    return _lint_lessons(folder)


# -- results ------------------------------------------------------------------------------
STATUSES = ("passed", "failed", "not started", "timeout", "error", "not submitted")


@dataclass
class CellResult:
    """One test cell (or hand-graded cell) of one submitted notebook."""

    score: float | None  # None: a hand-graded cell not graded yet
    max_score: float
    auto: bool
    status: str  # one of STATUSES, or "needs manual grading" / "graded by hand"
    message: str = ""
    exercise: str | None = None

    @property
    def passed(self) -> bool:
        """Whether the cell's status is ``passed``."""
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        """The cell as the notebook report stores it (``message`` under ``failure``)."""
        return {
            "score": self.score,
            "max_score": self.max_score,
            "auto": self.auto,
            "passed": self.passed,
            "status": self.status,
            "failure": self.message,
            "exercise": self.exercise,
        }


@dataclass
class NotebookResult:
    """The graded cells of one submitted notebook."""

    submitted: bool
    cells: dict[str, CellResult] = field(default_factory=dict)
    problem: str = ""  # why the notebook could not be read, or a missing answer cell

    def to_dict(self) -> dict[str, Any]:
        """The notebook as the report stores it, with autograded and hand-graded totals."""
        auto = [c for c in self.cells.values() if c.auto]
        manual = [c for c in self.cells.values() if not c.auto]
        return {
            "submitted": self.submitted,
            "score": round(sum(c.score or 0.0 for c in auto), 2),
            "max_score": sum(c.max_score for c in auto),
            "manual_score": sum(c.score or 0.0 for c in manual),
            "manual_max_score": sum(c.max_score for c in manual),
            "problem": self.problem,
            "cells": {grade_id: c.to_dict() for grade_id, c in self.cells.items()},
        }


def summary(notebooks: dict[str, dict[str, Any]], errors: list[str], how: str) -> dict[str, Any]:
    """The plain-data notebook report that SubmissionResult.notebooks holds."""
    return {
        "ok": not errors,
        "errors": errors,
        "score": round(sum(nb["score"] for nb in notebooks.values()), 2),
        "max_score": sum(nb["max_score"] for nb in notebooks.values()),
        "manual_score": sum(nb["manual_score"] for nb in notebooks.values()),
        "manual_max_score": sum(nb["manual_max_score"] for nb in notebooks.values()),
        "graded_by": how,
        "notebooks": notebooks,
    }


# -- the trusted side of a test cell -----------------------------------------------------
class WorkerCrashedReply(Exception):
    """The worker answered running an answer cell with something that is not a namespace."""


# -- reading a submitted notebook --------------------------------------------------------
def submitted_answers(path: Path, lesson: Lesson) -> tuple[dict[str, str] | None, str]:
    """({grade_id: source} of the lesson's answer cells in ``path``, problem text).

    None when the notebook is missing or cannot be read. Only the ANSWER cells are taken,
    by ``grade_id``; every other cell of the submission is ignored.
    """
    if not path.is_file():
        return None, "not submitted"
    if not _inside(path, path.parent.parent):
        return None, "the notebook is a link to a file outside your submission: submit the file"
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        limit = MAX_NOTEBOOK_BYTES // 1024**2
        return None, f"notebook is {size / 1024**2:.0f} MB, over the {limit} MB limit"
    try:
        notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as error:  # noqa: BLE001 - a broken file is the student's problem
        return None, f"unreadable notebook ({type(error).__name__}: {cut(str(error), 200)})"
    try:
        # reads() only warns about a notebook off the schema; grading refuses it, so that
        # every field read below has the type the format promises.
        nbformat.validate(notebook)
    except Exception as error:  # noqa: BLE001 - ValidationError, or worse
        text = getattr(error, "message", None) or str(error)
        return None, f"the notebook breaks the notebook format (nbformat): {cut(str(text), 200)}"
    return _answer_sources(notebook, lesson)


def _answer_sources(notebook: Any, lesson: Lesson) -> tuple[dict[str, str] | None, str]:
    """The answer cells' sources from a schema-valid notebook, every field type-checked.

    The nbgrader metadata is not part of nbformat's schema: a ``grade_id`` that is not a
    string marks no answer cell; a ``source`` that is neither a string nor a list of
    strings makes the notebook an error.
    """
    wanted = {answer.grade_id for answer in lesson.answers}
    found: dict[str, str] = {}
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None, "the notebook has no list of cells"
    for cell in cells:
        if not isinstance(cell, dict):
            return None, "the notebook holds a cell that is not an object"
        metadata = cell.get("metadata")
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str):
            continue
        if grade_id in wanted and grade_id not in found and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list) and all(isinstance(line, str) for line in source):
                source = "".join(source)
            if not isinstance(source, str):
                return None, f"the answer cell {grade_id} has a source that is not text"
            found[grade_id] = source
    missing = sorted(wanted - set(found))
    problem = f"answer cells missing from the notebook: {', '.join(missing)}" if missing else ""
    return found, problem


def _inside(path: Path, root: Path) -> bool:
    """True when ``path`` resolves to a file inside ``root`` (links may not lead out)."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real.startswith(top + os.sep)


# -- grading one submission's notebooks ---------------------------------------------------
class LessonGrader:
    """Grades the notebooks of one submission on the worker the package was graded on.

    ``fresh()`` (from the package grader) starts a worker when needed and returns
    ``(nn proxy, None)`` or ``(None, (status, message))`` when numpynet cannot be imported.
    """

    def __init__(
        self,
        worker: Worker,
        fresh: Callable[[], tuple[Any, tuple[str, str] | None]],
        timeout: float,
        lessons: tuple[Lesson, ...] | None = None,
        nn: Any = None,
        nn_problem: tuple[str, str] | None = None,
        budget: tuple[float, float] | None = None,
        tracker: judge.Tracker | None = None,
        given: Callable[[str], Any] | None = None,
    ) -> None:
        self.worker = worker
        self.fresh = fresh
        self.timeout = timeout
        # (seconds, monotonic end) of the submission's time budget; None: no budget.
        self.budget = budget
        # The judge's (autograder/judge.py): each test cell is one of its items.
        self.tracker = tracker or judge.Tracker()
        self.given = given or self.tracker.done
        self.lessons = source_lessons() if lessons is None else lessons
        # The package grader's proxy is reused while its worker lives.
        self._nn = nn
        self._nn_problem = nn_problem
        self._generation = worker.generation if (nn is not None or nn_problem) else -1
        self._answer_errors: dict[str, Any] = {}

    def _package(self) -> tuple[Any, tuple[str, str] | None]:
        """The student's numpynet on a live worker (restarted after a crash or timeout).

        A package that cannot be imported is not retried: every cell that uses ``nn``
        fails with the import's message, and the answer cells run without it.
        """
        if self._nn_problem is None and (
            not self.worker.alive or self._generation != self.worker.generation
        ):
            self._nn, self._nn_problem = self.fresh()
            self._generation = self.worker.generation
        return self._nn, self._nn_problem

    def grade(self, folder: Path) -> dict[str, Any]:
        """Every lesson's notebook in ``folder`` (``<submission>/lessons``), as plain data."""
        notebooks = {}
        for lesson in self.lessons:
            notebooks[lesson.name] = self.grade_lesson(lesson, folder / f"{lesson.name}.ipynb")
        errors = [
            f"{name}: {nb['problem']}"
            for name, nb in notebooks.items()
            if nb["problem"] and nb["problem"] != "not submitted"
        ]
        return summary(notebooks, errors, "trusted grader (answer cells in the sandboxed worker)")

    def grade_lesson(self, lesson: Lesson, path: Path) -> dict[str, Any]:
        """The submitted notebook at ``path`` graded against ``lesson``, as plain data."""
        try:
            answers, problem = submitted_answers(path, lesson)
        except Exception as error:  # noqa: BLE001 - a parse that is not total costs this notebook
            answers, problem = None, f"unreadable notebook ({type(error).__name__}: {error})"
            problem = cut(problem, 300)
        result = NotebookResult(submitted=answers is not None, problem=problem)
        if answers is None:
            status = "not submitted" if problem == "not submitted" else "error"
            for test in lesson.tests:
                result.cells[test.grade_id] = CellResult(
                    0.0, test.points, True, status, problem, test.exercise
                )
        else:
            self._grade_tests(lesson, answers, result)
        for grade_id, points in lesson.manual:
            if answers is None:
                cell = CellResult(0.0, points, False, "not submitted", problem)
            else:
                cell = CellResult(None, points, False, "needs manual grading")
            result.cells[grade_id] = cell
        return result.to_dict()

    # -- time ---------------------------------------------------------------------------
    def _deadline(self) -> float:
        """When what starts now must be done: the cell timeout, or the submission's budget."""
        now = time.monotonic() + self.timeout
        return now if self.budget is None else min(now, self.budget[1])

    def _out_of_time(self) -> str | None:
        """Why nothing more may run (the submission's budget ran out), else None."""
        if self.budget is None or time.monotonic() < self.budget[1] - 0.05:
            return None
        return f"the time budget of {self.budget[0]:g} s for the whole submission ran out"

    def _outcome(self, failure: WorkerFailure) -> tuple[str, str]:
        status, message = outcome_of(failure, self.timeout, "cell")
        budget = self._out_of_time() if status == "timeout" else None
        return status, (budget or message)

    # -- the test cells, in judges ------------------------------------------------------
    def _grade_tests(self, lesson: Lesson, answers: dict[str, str], result: NotebookResult) -> None:
        """Run the lesson's test cells, each an item of the judge (autograder/judge.py).

        A cell that ran out of time marks the answer cells it used as stuck: the remaining
        cells using them are ``timeout`` at once instead of each waiting out the same
        timeout again.
        """
        namespace: Any = None
        namespace_generation = -1
        # Answer cells that killed or outlasted the worker: never run again, and only the
        # test cells using their names lose (the other answer cells still run).
        broken: dict[str, tuple[str, str]] = {}
        stuck: dict[str, tuple[str, str]] = {}  # answer cells a timed-out test cell used
        for test in lesson.tests:
            item = f"cell:{lesson.name}:{test.grade_id}"
            given = self.given(item)
            if given is None:
                hit = self._stuck(lesson, test, stuck)
                out_of_time = self._out_of_time()
                if hit is not None:
                    status, message = hit
                elif out_of_time:
                    status, message = "timeout", "not run: " + out_of_time
                else:
                    status = ""
                if status:
                    cell = CellResult(0.0, test.points, True, status, message, test.exercise)
                    result.cells[test.grade_id] = cell
                    continue
                nn, nn_problem = self._package()
                if test.needs and (
                    namespace is None or namespace_generation != self.worker.generation
                ):
                    namespace = self._run_answers(lesson, answers, nn_problem, broken)
                    namespace_generation = self.worker.generation
                if nn is None:
                    why = nn_problem[1] if nn_problem else "the worker did not start"
                    nn = Unavailable(f"numpynet could not be imported: {why}", "error")
                deadline = self._deadline()
                self.worker.deadline = deadline
                self.tracker.begin(item, deadline)
                cell = self._run_cell(lesson, test, nn, namespace, answers, broken)
                self.tracker.finish(item, asdict(cell))
            elif given.get("judge"):  # its judge died or overran: this cell only
                status, message = given["status"], given["message"]
                cell = CellResult(0.0, test.points, True, status, message, test.exercise)
            else:
                cell = CellResult(**given)
            result.cells[test.grade_id] = cell
            if cell.status == "timeout":
                self._mark_stuck(lesson, test, stuck)

    def _run_cell(
        self,
        lesson: Lesson,
        test: TestCell,
        nn: Any,
        namespace: Any,
        answers: dict[str, str],
        broken: dict[str, tuple[str, str]],
    ) -> CellResult:
        """Look the cell's names up and run it, both under the deadline set on the worker."""
        try:
            names = self._lookup(namespace, lesson, answers, test.needs, broken)
        except WorkerFailure as failure:
            self.worker.deadline = None
            status, message = self._outcome(failure)
            return CellResult(0.0, test.points, True, status, message, test.exercise)
        return self._run_test(lesson, test, nn, names)

    @staticmethod
    def _filename(lesson: Lesson, test: TestCell) -> str:
        return f"<{lesson.name}.ipynb, test cell {test.grade_id}>"

    @staticmethod
    def _owners(lesson: Lesson, test: TestCell) -> list[str]:
        """The answer cells (grade ids) that define the names ``test`` uses."""
        return [a.grade_id for a in lesson.answers if a.defines & set(test.needs)]

    def _stuck(
        self, lesson: Lesson, test: TestCell, stuck: dict[str, tuple[str, str]]
    ) -> tuple[str, str] | None:
        return next((stuck[o] for o in self._owners(lesson, test) if o in stuck), None)

    def _mark_stuck(
        self, lesson: Lesson, test: TestCell, stuck: dict[str, tuple[str, str]]
    ) -> None:
        for owner in self._owners(lesson, test):
            stuck.setdefault(
                owner,
                (
                    "timeout",
                    f"not run: your answer cell {owner} already ran out of time in test cell "
                    f"{test.grade_id}",
                ),
            )

    def _run_answers(
        self,
        lesson: Lesson,
        answers: dict[str, str],
        nn_problem: tuple[str, str] | None,
        broken: dict[str, tuple[str, str]],
    ) -> Any:
        """Run the answer cells one by one in one worker namespace; returns its proxy.

        A cell that kills the worker or runs past the deadline goes into ``broken``; the
        worker is restarted and the cells before it run again, so that every other cell
        still defines its names. None when no worker could be had at all.
        """
        self._answer_errors = {}
        for _ in range(len(lesson.answers) + 1):
            namespace = None
            try:
                if not self.worker.alive:
                    # The start has its own limit (STARTUP_SECONDS), however loaded the machine.
                    started = time.monotonic() + STARTUP_SECONDS
                    budget_end = self.budget[1] if self.budget is not None else started
                    self.tracker.begin(None, min(started, budget_end))
                    self.worker.start()
                    if self.worker.process is not None:
                        self.tracker.worker(self.worker.process.pid)
                for answer in lesson.answers:
                    if answer.grade_id not in answers or answer.grade_id in broken:
                        continue
                    self.worker.deadline = self._deadline()
                    self.tracker.begin(None, self.worker.deadline)
                    try:
                        reply = self.worker.request(
                            "cells",
                            name=lesson.name,
                            cells=[[answer.grade_id, code_of(answers[answer.grade_id])]],
                            package=nn_problem is None,
                            namespace=namespace,
                        )
                    except WorkerFailure as failure:
                        status = "timeout" if isinstance(failure, WorkerTimeout) else "error"
                        what = "did not finish" if status == "timeout" else "killed its process"
                        broken[answer.grade_id] = (
                            status,
                            f"your answer cell {answer.grade_id} {what}: {failure}",
                        )
                        raise
                    if not isinstance(reply, dict) or "namespace" not in reply:
                        raise WorkerCrashedReply(answer.grade_id)
                    namespace = reply["namespace"]
                    errors = reply.get("errors")
                    self._answer_errors.update(errors if isinstance(errors, dict) else {})
                return namespace
            except WorkerFailure:
                continue  # restart without the broken cell
            except Exception as error:  # noqa: BLE001 - a malformed reply is the submission's
                grade_id = error.args[0] if isinstance(error, WorkerCrashedReply) else "?"
                broken[str(grade_id)] = ("error", f"running your answer cells failed: {error}")
                return namespace
            finally:
                self.worker.deadline = None
                self.tracker.begin(None, None)
        return None

    def _lookup(
        self,
        namespace: Any,
        lesson: Lesson,
        answers: dict[str, str],
        needs: tuple[str, ...],
        broken: dict[str, tuple[str, str]],
    ) -> dict[str, Any]:
        """The student's definitions of ``needs``, or stand-ins that say why one is missing."""
        names: dict[str, Any] = {}
        for name in needs:
            owner = next((a for a in lesson.answers if name in a.defines), None)
            if owner is not None and owner.grade_id in broken:
                status, message = broken[owner.grade_id]
                names[name] = Unavailable(message, status)
                continue
            try:
                if namespace is None:
                    raise AttributeError(name)
                names[name] = getattr(namespace, name)
            except WorkerFailure:
                raise
            except Exception:  # noqa: BLE001 - AttributeError: the answers define no such name
                names[name] = Unavailable(self._why_missing(name, owner, answers))
        return names

    def _why_missing(self, name: str, owner: AnswerCell | None, answers: dict[str, str]) -> str:
        if owner is None:
            return f"{name} is not defined by your answer cells"
        if owner.grade_id not in answers:
            return f"{name}: the answer cell {owner.grade_id} is missing from your notebook"
        error = self._answer_errors.get(owner.grade_id)
        if isinstance(error, dict):
            return (
                f"{name} is not defined: your answer cell {owner.grade_id} raised "
                f"{error.get('type')}: {error.get('message')}"
            )
        return f"{name} is not defined by your answer cell {owner.grade_id}"

    def _run_test(
        self, lesson: Lesson, test: TestCell, nn: Any, names: dict[str, Any]
    ) -> CellResult:
        """Run one test cell (in a judge) under the deadline its caller set on the worker."""
        filename = self._filename(lesson, test)
        code = compiled(test.source, filename)
        scope = cell_scope(nn)
        scope.update(names)
        try:
            exec(code, scope)  # noqa: S102 - the instructor's cell, run in the trusted judge
        except WorkerFailure as stopped:
            status, message = self._outcome(stopped)
            return CellResult(0.0, test.points, True, status, message, test.exercise)
        except BaseException as error:  # noqa: BLE001 - a failing test cell
            if isinstance(error, KeyboardInterrupt):
                raise
            status, message = explain(error, test, filename)
            return CellResult(0.0, test.points, True, status, cut(message), test.exercise)
        finally:
            self.worker.deadline = None
        if self.worker.failure is not None:  # the failure was swallowed inside the cell
            failure = self.worker.failure
            status = "timeout" if isinstance(failure, WorkerTimeout) else "error"
            return CellResult(0.0, test.points, True, status, str(failure), test.exercise)
        return CellResult(test.points, test.points, True, "passed", "", test.exercise)
