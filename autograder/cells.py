"""The lesson model: a source notebook's answer, test and hand-graded cells; how tests run.

Shared by the notebook grader (which runs the instructor's test cells in the trusted
process against a sandboxed worker) and the students' ``python -m autograder check``
(which runs their released test cells in their own process). Nothing here imports the
sandbox or names the instructor's files: the student bundle ships this module.

``lint`` states the contract the notebook grader needs from every source lesson, and
``release`` refuses lessons that break it: a test cell uses only the set-up cell's names
(``SETUP_NAMES``: ``np``, ``nn``, ``quiet``, ``assert_close``, ``FLOAT32``, ``GRADCHECK``),
builtins and names its lesson's answer cells define, and never writes into an array it read
from ``nn`` (``p.grad[:] = g`` would change a copy; ``p.grad = g`` reaches the student's object).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import linecache
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from . import exercises
from .markers import BEGIN_HIDDEN, END_HIDDEN, find_regions
from .tolerance import FLOAT32, GRADCHECK, assert_close

# What every lesson's set-up cell gives a test cell (``cell_scope`` binds the same names).
SETUP_NAMES = ("np", "nn", "quiet", "assert_close", "FLOAT32", "GRADCHECK")
MESSAGE_CHARS = 600
EXERCISE_IN_GRADE_ID = re.compile(r"(?:^|_)(ex\d+_\d+)(?:_|$)")  # test_ex2_1_softmax -> ex2_1
_EXERCISE_NUMBER = re.compile(r"Exercise (\d+\.\d+)")
_MAGIC = re.compile(r"^\s*[%!]")


# -- the instructor's lessons -------------------------------------------------------------
@dataclass(frozen=True)
class AnswerCell:
    """A cell the student writes: its id and the names its reference answer defines."""

    grade_id: str
    defines: frozenset[str]


@dataclass(frozen=True)
class TestCell:
    """An instructor's test cell, with its hidden lines, run in the trusted process."""

    grade_id: str
    points: float
    source: str
    needs: tuple[str, ...]  # names from the lesson's answer cells it uses
    hidden: frozenset[int]  # 1-based line numbers inside hidden-test regions

    @property
    def exercise(self) -> str | None:
        """The package exercise this cell tests (``ex2_1`` in ``ex2_1_softmax_tests``)."""
        match = EXERCISE_IN_GRADE_ID.search(self.grade_id)
        return match.group(1) if match and match.group(1) in exercises.BY_ID else None


@dataclass(frozen=True)
class Lesson:
    """One source notebook: its answer, test and hand-graded cells."""

    name: str  # file stem, e.g. "02_softmax_cross_entropy"
    answers: tuple[AnswerCell, ...]
    tests: tuple[TestCell, ...]
    manual: tuple[tuple[str, float], ...]  # (grade_id, points) of hand-graded cells

    @property
    def max_score(self) -> float:
        """Points of all the test cells."""
        return sum(t.points for t in self.tests)

    @property
    def manual_max_score(self) -> float:
        """Points of all the hand-graded cells."""
        return sum(points for _, points in self.manual)


def code_of(source: str) -> str:
    """Cell source as Python: IPython magics and shell lines become blank lines."""
    return "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())


def _names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names a cell binds, names it reads) - a cell-level approximation good for lessons."""
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, read


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a cell defines for later cells: top-level defs, classes, assignments, imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


def _hidden_lines(source: str, where: str) -> frozenset[int]:
    lines = source.splitlines()
    hidden: set[int] = set()
    for region in find_regions(lines, BEGIN_HIDDEN, END_HIDDEN, where):
        hidden.update(range(region.begin + 1, region.end + 2))  # 1-based, markers included
    return frozenset(hidden)


def read_lesson(path: Path) -> Lesson:
    """The graded cells of one SOURCE notebook (with solutions and hidden tests)."""
    notebook = nbformat.read(path, as_version=4)
    answers: list[AnswerCell] = []
    tests: list[TestCell] = []
    manual: list[tuple[str, float]] = []
    defined: set[str] = set()
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id", "")
        if cell.cell_type != "code":
            if meta.get("grade"):
                manual.append((grade_id, float(meta.get("points", 0))))
            continue
        if meta.get("solution"):
            names = _top_level_names(ast.parse(code_of(cell.source)))
            answers.append(AnswerCell(grade_id, frozenset(names)))
            defined |= names
        elif meta.get("grade"):
            bound, read = _names(ast.parse(code_of(cell.source)))
            needs = tuple(sorted((read - bound) & defined))
            where = f"{path.name}:{grade_id}"
            tests.append(
                TestCell(
                    grade_id,
                    float(meta.get("points", 0)),
                    cell.source,
                    needs,
                    _hidden_lines(cell.source, where),
                )
            )
    return Lesson(path.stem, tuple(answers), tuple(tests), tuple(manual))


_LESSONS: dict[str, tuple[Lesson, ...]] = {}


def source_lessons(folder: Path) -> tuple[Lesson, ...]:
    """Every source lesson of ``folder``, parsed once per content for this process."""
    paths = sorted(p for p in Path(folder).glob("*.ipynb") if p.is_file())
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    key = digest.hexdigest()
    if key not in _LESSONS:
        _LESSONS[key] = tuple(read_lesson(path) for path in paths)
    return _LESSONS[key]


def lint(lesson: Lesson) -> list[str]:
    """What in a source lesson the trusted notebook grader cannot grade (empty: all fine)."""
    problems: list[str] = []
    answer_names = set().union(*(a.defines for a in lesson.answers)) if lesson.answers else set()
    allowed = set(SETUP_NAMES) | answer_names | set(dir(builtins))
    seen: set[str] = set()
    for test in lesson.tests:
        where = f"{lesson.name}.ipynb, test cell {test.grade_id}"
        if test.grade_id in seen:
            problems.append(f"{where}: duplicate grade_id")
        seen.add(test.grade_id)
        tree = ast.parse(code_of(test.source))
        bound, read = _names(tree)
        for name in sorted(read - bound - allowed):
            problems.append(
                f"{where}: uses {name!r}, which neither the set-up cell ({', '.join(SETUP_NAMES)}) "
                "nor an answer cell of this lesson defines; grading runs only those"
            )
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute):
                    problems.append(
                        f"{where}, line {target.lineno}: writes into "
                        f"`{ast.unparse(target.value)}[...]`; under grading an attribute read "
                        "from nn is a copy, so assign the whole attribute instead"
                    )
    return problems


def lint_lessons(folder: Path) -> list[str]:
    """``lint`` over every source lesson of ``folder``."""
    return [problem for lesson in source_lessons(folder) for problem in lint(lesson)]


# -- running a test cell -----------------------------------------------------------
@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The grader's ``quiet()``: a notebook's own definition never reaches a test cell."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def cell_scope(nn: Any) -> dict[str, Any]:
    """The globals a test cell runs with: builtins and the set-up cell's ``SETUP_NAMES``.

    Args:
        nn: the package under test (the student's ``numpynet``, or the grader's proxy of it).

    Returns:
        A fresh dict; the caller adds the lesson's answer-cell names.
    """
    values = {
        "np": np,
        "nn": nn,
        "quiet": quiet,
        "assert_close": assert_close,
        "FLOAT32": FLOAT32,
        "GRADCHECK": GRADCHECK,
    }
    # Keyed by SETUP_NAMES, so the lint's list and the grader's scope cannot drift apart.
    return {"__builtins__": builtins, **{name: values[name] for name in SETUP_NAMES}}


class Unavailable:
    """Stands for ``nn`` or a notebook function that could not be had: any use explains why."""

    def __init__(self, why: str, status: str = "failed") -> None:
        self._why = why
        self._status = status

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise MissingAnswer(self._why, self._status)

    __call__ = _fail

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise MissingAnswer(self._why, self._status)


class MissingAnswer(Exception):
    """A test cell needs something the submission does not provide."""

    def __init__(self, why: str, status: str = "failed") -> None:
        super().__init__(why)
        self.status = status


def cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, marked ``[cut]`` when it was longer."""
    return text if len(text) <= limit else text[: limit - 20] + " ... [cut]"


def explain(error: BaseException, test: TestCell, filename: str) -> tuple[str, str]:
    """(status, student-facing message) for an exception a test cell raised."""
    if isinstance(error, NotImplementedError):
        text = str(error) or (
            f"your answer for {', '.join(test.needs)} still raises NotImplementedError"
            if test.needs
            else "NotImplementedError"
        )
        found = _EXERCISE_NUMBER.search(text)
        own = exercises.BY_ID[test.exercise].number if test.exercise else None
        if found and own and found.group(1) != own:
            text = f"needs Exercise {found.group(1)} first: {text}"
        return "not started", text
    if isinstance(error, MissingAnswer):
        return error.status, str(error)
    if isinstance(error, MemoryError):  # in the judge, past its memory budget
        return "failed", (
            "checking what your code returned needed more than the grader's memory budget: "
            f"is its shape, size or dtype what the exercise asks for? ({error})"
        )
    # Where in the test cell it stopped: a public line is shown, a hidden one is not.
    line_number = None
    for frame, number in _frames(error):
        if frame == filename:
            line_number = number
    where = ""
    if line_number is not None:
        if line_number in test.hidden:
            where = "a hidden check failed"
        else:
            line = test.source.splitlines()[line_number - 1].strip()
            where = f"line {line_number}: {line}"
    if isinstance(error, AssertionError):
        detail = str(error).strip()
        text = where or "a check failed"
        return "failed", text + (f"\n{detail}" if detail else "")
    if getattr(error, "remote_traceback", None) is not None:  # raised by student code
        text = f"your code raised {type(error).__name__}: {error}"
        trace = getattr(error, "remote_traceback", "")
        text += ("\n" + trace.rstrip()) if trace else ""
    else:
        text = f"{type(error).__name__}: {error}"
    return "failed", (f"{where}\n{text}" if where else text)


def _frames(error: BaseException) -> Iterator[tuple[str, int]]:
    trace = error.__traceback__
    while trace is not None:
        yield trace.tb_frame.f_code.co_filename, trace.tb_lineno
        trace = trace.tb_next


_COMPILED: dict[tuple[str, str], Any] = {}


def compiled(source: str, filename: str) -> Any:
    """A test cell's code object (compiled once per process; lines kept for tracebacks)."""
    key = (filename, source)
    if key not in _COMPILED:
        text = code_of(source)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        _COMPILED[key] = compile(text, filename, "exec", dont_inherit=True)
    return _COMPILED[key]
