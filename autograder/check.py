"""``python -m autograder check``: a student's progress, every exercise in one table.

Runs on the student's own machine, in this process (their own code, so no sandbox): the
public checks of every package exercise (``autograder/public``, through pytest) and the
test cells of the student's own notebooks (the released ones: public lines only) against
their answer cells and package. Each row: the exercise's id as the grader's feedback
names it, its title, points available, status (not started / failing / passing public
checks) and the first message; then the lesson to read next. Hidden checks are not run:
passing public checks is not full marks, and the table says so. The course checked is the
folder holding this ``autograder/``: yours.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import exercises

HERE = Path(__file__).resolve().parent
STATUSES = ("not started", "failing", "passing public checks")


@dataclass
class Row:
    """One line of the progress table: an exercise or a notebook test cell."""

    id: str  # "ex2_1" or a notebook cell's grade_id
    title: str
    points: float
    status: str
    message: str
    lesson: str


class _Collector:
    """A pytest plugin keeping, per exercise marker, the outcome of each public check."""

    def __init__(self) -> None:
        self.outcomes: dict[str, list[tuple[str, str]]] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        marks = [m for m in report.keywords if m in exercises.BY_ID]
        if not marks:
            return
        started = ("status", "not-started") not in report.user_properties
        outcome = "passed" if report.passed else "failed" if started else "not started"
        text = str(report.longrepr or "").strip().splitlines()
        message = next((line for line in text if line.startswith("E ")), text[-1] if text else "")
        self.outcomes.setdefault(marks[0], []).append((outcome, message.lstrip("E ").strip()))


def handed_out(root: Path) -> tuple[exercises.Exercise, ...]:
    """The course's package exercises, and lesson 07's once its notebook is in ``root``."""
    later = exercises.BEYOND_EXERCISES
    return exercises.EXERCISES + (later if (root / later[0].lesson).is_file() else ())


def package_rows(root: Path) -> list[Row]:
    """One row per package exercise, from the public checks run against ``root/numpynet``."""
    import pytest

    collector = _Collector()
    sys.path.insert(0, str(root))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the table says it all
            pytest.main(
                [str(HERE / "public"), "-q", "-p", "no:cacheprovider", "--no-header", "-rN"],
                plugins=[collector],
            )
    finally:
        sys.path.remove(str(root))
    rows = []
    for exercise in handed_out(root):
        results = collector.outcomes.get(exercise.id, [])
        outcomes = {outcome for outcome, _ in results}
        if not results or outcomes == {"not started"}:
            status = "not started"
        elif outcomes == {"passed"}:
            status = "passing public checks"
        else:
            status = "failing"
        message = next((m for o, m in results if o != "passed"), "")
        rows.append(
            Row(
                exercise.id,
                f"Exercise {exercise.number}: {exercise.title}",
                float(exercise.points),
                status,
                message,
                exercise.lesson,
            )
        )
    return rows


def notebook_rows(root: Path) -> list[Row]:
    """One row per test cell of the student's notebooks, run here against their answers."""
    import nbformat

    import numpynet as nn

    from .cells import cell_scope, code_of, compiled, explain, quiet, read_lesson

    rows = []
    for path in sorted((root / "lessons").glob("*.ipynb")):
        lesson = read_lesson(path)
        notebook = nbformat.read(path, as_version=4)
        answers = {
            cell.metadata["nbgrader"]["grade_id"]: cell.source
            for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code"
        }
        scope = cell_scope(nn)
        problems: dict[str, str] = {}
        for grade_id, source in answers.items():
            try:
                code = compile(code_of(source), f"{path.name}:{grade_id}", "exec")
                exec(code, scope)  # noqa: S102 - the student's own code, on their machine
            except Exception as error:  # noqa: BLE001 - the student's answer cell
                problems[grade_id] = f"{type(error).__name__}: {error}"
        for test in lesson.tests:
            status, message = "passing public checks", ""
            filename = f"<{lesson.name}.ipynb, test cell {test.grade_id}>"
            try:
                with quiet():
                    exec(compiled(test.source, filename), dict(scope))  # noqa: S102
            except Exception as error:  # noqa: BLE001 - worded as the grader words it
                status, message = explain(error, test, filename)
                status = "failing" if status == "failed" else status
            if status != "passing public checks" and problems:
                message = f"{message} (an answer cell raised {next(iter(problems.values()))})"
            rows.append(
                Row(test.grade_id, f"notebook {path.stem}", test.points, status, message, path.name)
            )
    return rows


def challenge_line(root: Path) -> str | None:
    """What the grader will make of the recipe in ``root``, once lesson 07 is handed out.

    The recipe is checked by the student's own ``numpynet.train.load_recipe`` (the grader
    checks it with the reference's, the same code); its accuracy is the grader's to measure.
    None before lesson 07 (no notebook and no recipe in ``root``).
    """
    recipe = root / exercises.CHALLENGE_FILE
    lesson = root / exercises.CHALLENGE[0].lesson
    if not (recipe.is_file() or lesson.is_file()):
        return None
    points = ", ".join(f"{e.points} points at {e.threshold:.0%}" for e in exercises.CHALLENGE)
    if not recipe.is_file():
        return (
            f"class challenge: no {exercises.CHALLENGE_FILE} in {root} yet (lesson 07's bundle "
            "has one to start from)"
        )
    try:
        from numpynet.train import load_recipe

        config = load_recipe(recipe)
    except Exception as error:  # noqa: BLE001 - the student's recipe or their package
        return f"class challenge: {exercises.CHALLENGE_FILE} is refused: {error}"
    sizes = "-".join(str(n) for n in config.sizes)
    return (
        f"class challenge: {exercises.CHALLENGE_FILE} is a valid recipe ({sizes} MLP, "
        f"{config.optimizer}, {config.epochs} epochs of batch {config.batch_size}). The grader "
        f"trains it with your package within {exercises.CHALLENGE_BUDGET:g} s of CPU and scores "
        f"its test accuracy ({points}); `{exercises.CHALLENGE_COMMAND}` shows its validation "
        "accuracy here."
    )


def table(rows: list[Row], seconds: float) -> str:
    """The progress table as text, then the points passing public checks and what to read next."""
    width = max(len(row.title) for row in rows) if rows else 10
    lines = [f"{'id':<34} {'what':<{width}} {'points':>6}  {'status':<22} message"]
    for row in rows:
        message = row.message.splitlines()[0][:70] if row.message else ""
        lines.append(
            f"{row.id:<34} {row.title:<{width}} {row.points:>6g}  {row.status:<22} {message}"
        )
    done = sum(r.points for r in rows if r.status == "passing public checks")
    total = sum(r.points for r in rows)
    lines.append("")
    lines.append(
        f"passing public checks: {done:g} of {total:g} points ({seconds:.1f} s). Hidden checks "
        "and the hand-graded derivation (5 points) are not run here: this is not your grade."
    )
    todo = next((r for r in rows if r.status != "passing public checks"), None)
    if todo is not None:
        lines.append(f"next: {todo.id} ({todo.title}) - read {todo.lesson}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the student's progress table; returns the exit status (2: no numpynet/ here)."""
    parser = argparse.ArgumentParser(
        prog="python -m autograder check", description=__doc__.split("\n")[0]
    )
    parser.parse_args(argv)
    root = HERE.parent  # the course folder holding this autograder/ (pytest imports from it)
    if not (root / "numpynet" / "__init__.py").is_file():
        print(f"no numpynet/ package in {root}: run this from your course folder", file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows = package_rows(root)
    sys.path.insert(0, str(root))
    try:
        rows += notebook_rows(root)
        challenge = challenge_line(root)
    finally:
        sys.path.remove(str(root))
    print(table(rows, time.perf_counter() - started))
    if challenge:
        print(challenge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
