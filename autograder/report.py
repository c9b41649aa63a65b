"""Reports of grading results: the terminal table, JSON, Gradescope, student feedback, class CSV.

Everything here reads :class:`autograder.results.SubmissionResult` objects and writes text;
nothing runs student code. The student-facing outputs (feedback, Gradescope) show the
messages of hidden checks but never their source: messages are all a check ever puts
into a result (see grade.run_check).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from . import exercises
from .results import SubmissionResult

GRADESCOPE_SPEC = "https://gradescope-autograders.readthedocs.io/en/latest/specs/"
_STATUS_MARK = {
    "passed": "passed",
    "failed": "failed",
    "not started": "not started",
    "timeout": "TIMEOUT",
    "error": "ERROR",
}


def _points(value: float) -> str:
    """12 -> "12", 12.5 -> "12.5", 4.2857 -> "4.29": scores are rounded to 0.01."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _first_line(text: str, width: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def _notebooks(result: SubmissionResult) -> list[tuple[str, dict, float, float, float]]:
    """(notebook, its report, score, max, points awaiting hand grading) for each notebook.

    Hand-graded cells are included in score and max.
    """
    rows = []
    for name, notebook in sorted(((result.notebooks or {}).get("notebooks") or {}).items()):
        cells = (notebook.get("cells") or {}).values()
        pending = sum(
            c.get("max_score", 0) for c in cells if not c.get("auto") and c.get("score") is None
        )
        score = float(notebook.get("score") or 0) + float(notebook.get("manual_score") or 0)
        maximum = float(notebook.get("max_score") or 0) + float(
            notebook.get("manual_max_score") or 0
        )
        rows.append((name, notebook, score, maximum, pending))
    return rows


def _notebook_rows(result: SubmissionResult) -> list[tuple[str, float, float, str]]:
    """(notebook, score, max, note) for each graded notebook; hand-graded cells included."""
    rows = []
    for name, notebook, score, maximum, pending in _notebooks(result):
        failing = [
            f"{cell.get('status', 'failed')}: {cell.get('failure', '')}"
            for cell in (notebook.get("cells") or {}).values()
            if cell.get("auto") and not cell.get("passed")
        ]
        note = "not submitted" if not notebook.get("submitted", True) else ""
        if not note and failing:
            note = failing[0]
        if pending and notebook.get("submitted", True):
            note = f"{_points(pending)} points await hand grading" + (f"; {note}" if note else "")
        rows.append((name, score, maximum, note))
    return rows


def headline(result: SubmissionResult) -> str:
    """The one total every report gives: package + notebooks, hand-graded points included."""
    text = f"total: {_points(result.total)}/{_points(result.max_total)}"
    parts = [f"package {_points(result.points)}/{_points(result.max_points)}"]
    if result.notebooks is not None:
        parts.append(
            f"notebooks {_points(result.notebook_points)}/{_points(result.notebook_max_points)}"
        )
        if result.awaiting_manual:
            parts.append(f"{_points(result.awaiting_manual)} points await hand grading")
    return f"{text} ({', '.join(parts)})"


def problems(result: SubmissionResult) -> list[str]:
    """Crashes and timeouts, package and notebooks: the CSV's problems column."""
    found = {f"{e.id}:{e.status}" for e in result.exercises if e.status in ("timeout", "error")}
    for name, notebook in ((result.notebooks or {}).get("notebooks") or {}).items():
        for grade_id, cell in (notebook.get("cells") or {}).items():
            if cell.get("status") in ("timeout", "error"):
                found.add(f"{name}/{grade_id}:{cell['status']}")
    return sorted(found)


def table(result: SubmissionResult, width: int = 130) -> str:
    """The per-exercise table printed by ``python -m autograder grade``."""
    lines = [
        f"{result.name}: {headline(result)} ({result.seconds:.1f} s)",
        result.isolation,
        f"scoring: {result.scoring_rule}",
        "",
        f"{'exercise':<8} {'title':<26} {'points':>9}  {'status':<11} message",
    ]
    for e in result.exercises:
        points = f"{_points(e.points)}/{_points(e.max_points)}"
        lines.append(
            f"{e.number:<8} {e.title[:26]:<26} {points:>9}  {_STATUS_MARK[e.status]:<11} "
            f"{_first_line(e.message, width - 59)}"
        )
    notebook_rows = _notebook_rows(result)
    if notebook_rows:
        lines += ["", f"{'notebook':<35} {'points':>9}  message"]
        for name, score, maximum, note in notebook_rows:
            lines.append(f"{name[:35]:<35} {_points(score) + '/' + _points(maximum):>9}  {note}")
    if result.notebooks and result.notebooks.get("errors"):
        lines.append("notebook grading problems: " + _first_line(result.notebooks["errors"][0], 80))
    if result.notebooks is not None:
        lines.append(headline(result))
    for problem in result.problems:
        lines.append(f"GRADER PROBLEM: {problem}")
    return "\n".join(lines)


def to_json(result: SubmissionResult) -> dict:
    """Everything, for instructors and tools (hidden check names and messages included)."""
    return result.to_dict()


def _exercise_feedback(e, shown: tuple[str, ...] = ("public", "hidden")) -> str:  # noqa: ANN001
    """The student-facing text of one exercise: what failed, in their terms.

    ``shown``: the visibilities ("public", "hidden") whose failing checks are listed; the
    count of checks passed always covers them all (it is what the score says anyway).
    """
    if e.status == "passed":
        return f"All {e.counted} checks passed."
    lines = [f"{e.passed} of {e.counted} checks passed."]
    exercise = exercises.BY_ID[e.id]
    # Checks failing the same way (every check of a stub: "not started") are listed once.
    groups: dict[tuple[str, str], list[str]] = {}
    for check in _failing(e, shown):
        where = "public" if check.visibility == "public" else "hidden"
        name = f"{where} check `{check.name.split('::', 1)[-1]}`"
        key = (check.outcome, check.message.strip() or "(no message)")
        groups.setdefault(key, []).append(name)
    for (outcome, message), names in groups.items():
        shown_names = ", ".join(names[:3]) + (
            f" and {len(names) - 3} more" if len(names) > 3 else ""
        )
        lines.append(f"- {shown_names} - {outcome}:")
        lines += ["", "  ```", *("  " + line for line in message.splitlines()), "  ```", ""]
    if "public" in shown and _failing(e, ("public",)):
        lines.append(
            f"Run the public checks yourself: `pytest autograder/public -m {e.id}` "
            f"(see {exercise.lesson})."
        )
    return "\n".join(lines)


def _failing(e, shown: tuple[str, ...]) -> list:  # noqa: ANN001 - an ExerciseResult
    """The checks of ``e`` with a visibility in ``shown`` that neither passed nor skipped."""
    return [
        c
        for c in e.checks
        if c.outcome not in ("passed", "skipped")
        and ("public" if c.visibility == "public" else "hidden") in shown
    ]


def feedback(result: SubmissionResult) -> str:
    """Markdown feedback a student can read: per exercise what failed, no hidden test code."""
    lines = [
        f"# Feedback for {result.name}",
        "",
        f"**{headline(result)}**",
        "",
        result.isolation,
        "",
        f"Scoring: {result.scoring_rule}.",
        "",
        "| exercise | title | points | status |",
        "|---|---|---|---|",
    ]
    for e in result.exercises:
        lines.append(
            f"| {e.number} | {e.title} | {_points(e.points)}/{_points(e.max_points)} | {e.status} |"
        )
    for e in result.exercises:
        if e.status == "passed":
            continue
        lines += ["", f"## Exercise {e.number}: {e.title} ({e.status})", "", _exercise_feedback(e)]
    notebook_rows = _notebook_rows(result)
    if notebook_rows:
        lines += ["", "## Notebooks", "", "| notebook | points | note |", "|---|---|---|"]
        for name, score, maximum, note in notebook_rows:
            lines.append(f"| {name} | {_points(score)}/{_points(maximum)} | {note} |")
    if result.output.strip():
        lines += ["", "## What your code printed", "", "```", result.output.strip()[:3000], "```"]
    return "\n".join(lines) + "\n"


# Gradescope's test visibilities, most private first (GRADESCOPE_SPEC).
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
_WHEN = {
    "hidden": "never shown to students",
    "after_due_date": "shown after the due date",
    "after_published": "shown once grades are published",
    "visible": "shown below",
}


def gradescope(result: SubmissionResult, hidden: str = "after_published") -> dict:
    """Gradescope's results.json (see GRADESCOPE_SPEC).

    One test per exercise and per notebook carries the points and is always visible,
    with the public checks' failures. What hidden checks (and notebook test cells, whose
    messages quote their possibly hidden lines) report goes into a 0-point test of the
    same exercise or notebook whose visibility is ``hidden`` (one of VISIBILITIES). The
    top-level score is the sum of the tests' scores; no leaderboard.
    """
    if hidden not in VISIBILITIES:
        raise ValueError(f"hidden visibility must be one of {VISIBILITIES}, got {hidden!r}")
    tests: list[dict] = []

    def add(name: str, score: float, maximum: float, output: str, visibility: str, **extra):
        # A 0-point details test exists only when something failed: "failed" too.
        passed = score >= maximum and maximum > 0
        tests.append(
            {
                "name": name,
                "score": round(score, 2),
                "max_score": round(maximum, 2),
                "status": "passed" if passed else "failed",
                "output": output,
                "output_format": "md",
                "visibility": visibility,
                **extra,
            }
        )

    for e in result.exercises:
        text = f"{e.status}. " + _exercise_feedback(e, ("public",))
        held = _failing(e, ("hidden",))
        if held:
            text += f"\n\n{len(held)} hidden checks did not pass: details {_WHEN[hidden]}."
        tags = [e.id, "exercise"]
        add(f"Exercise {e.number}: {e.title}", e.points, e.max_points, text, "visible",
            number=e.number, tags=tags)  # fmt: skip
        if held:
            add(f"Exercise {e.number}: {e.title} - hidden checks", 0.0, 0.0,
                _exercise_feedback(e, ("hidden",)), hidden, number=f"{e.number}h",
                tags=[e.id, "hidden"])  # fmt: skip
    for name, notebook, score, maximum, pending in _notebooks(result):
        cells = notebook.get("cells") or {}
        failing = {g: c for g, c in cells.items() if c.get("auto") and not c.get("passed")}
        lines = [] if notebook.get("submitted", True) else ["not submitted"]
        lines += [f"- test cell `{g}`: {c.get('status', 'failed')}" for g, c in failing.items()]
        if pending:
            lines.append(f"- {_points(pending)} points await hand grading")
        if failing:
            lines.append(f"\nWhy the test cells failed: {_WHEN[hidden]}.")
        add(f"Notebook {name}", score, maximum, "\n".join(lines) or "all test cells passed",
            "visible", tags=[name, "notebook"])  # fmt: skip
        # Points awaiting hand grading are not a failure of the autograded cells.
        tests[-1]["status"] = (
            "failed" if failing or not notebook.get("submitted", True) else "passed"
        )
        if failing:
            details = "\n\n".join(
                f"test cell `{g}` ({c.get('status', 'failed')}):\n\n```\n"
                f"{c.get('failure', '').strip()}\n```"
                for g, c in failing.items()
            )
            add(f"Notebook {name} - test cell messages", 0.0, 0.0, details, hidden,
                tags=[name, "hidden"])  # fmt: skip
    return {
        "score": round(sum(t["score"] for t in tests), 2),
        "execution_time": int(round(result.seconds)),
        "output": f"{headline(result)}\n\n{result.isolation}\n\nScoring: {result.scoring_rule}.",
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def _graded_exercises(results: Sequence[SubmissionResult]) -> list[exercises.Exercise]:
    """The exercise columns: lesson 07's when the results hold them, the course's otherwise."""
    held = {e.id for r in results for e in r.exercises}
    later = [e for e in exercises.BEYOND_EXERCISES if e.id in held]
    course = [e for e in exercises.EXERCISES if e.id in held or not later]
    return course + later


def class_table(results: Sequence[SubmissionResult]) -> str:
    """One line per student: per-exercise points, notebooks and total."""
    graded = _graded_exercises(results)
    ids = [e.number for e in graded]
    width = max([len("student"), *(len(r.name) for r in results)]) + 2  # full names
    header = (
        f"{'student':<{width}}" + "".join(f"{i:>6}" for i in ids) + f"{'nb':>6}{'total':>8}  status"
    )
    lines = [header]
    for r in results:
        by_id = {e.id: e for e in r.exercises}
        cells = "".join(
            f"{_points(by_id[x.id].points) if x.id in by_id else '-':>6}" for x in graded
        )
        bad = sorted({p.rpartition(":")[2] for p in problems(r)})
        nb = _points(r.notebook_points) if r.notebooks is not None else "-"
        lines.append(
            f"{r.name:<{width}}{cells}{nb:>6}{_points(r.total):>8}  {','.join(bad) or 'ok'}"
        )
    if results:
        lines.append(results[0].isolation)
    return "\n".join(lines)


def class_csv(results: Sequence[SubmissionResult], path: str | Path) -> None:
    """The class CSV: one row per student, one column per exercise, notebooks, total."""
    notebook_names = sorted(
        {n for r in results for n in ((r.notebooks or {}).get("notebooks") or {})}
    )
    graded = _graded_exercises(results)
    columns = ["student"] + [e.id for e in graded]
    columns += [f"notebook:{n}" for n in notebook_names]
    columns += ["package", "notebooks", "total", "max_total", "problems"]
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(columns)
    for r in results:
        by_id = {e.id: e for e in r.exercises}
        rows = {name: score for name, score, _, _ in _notebook_rows(r)}
        writer.writerow(
            [r.name]
            + [by_id[e.id].points if e.id in by_id else "" for e in graded]
            + [rows.get(n, "") for n in notebook_names]
            + [r.points, r.notebook_points, r.total, r.max_total, " ".join(problems(r))]
        )
    write_text(Path(path), handle.getvalue())


def write_all(result: SubmissionResult, folder: str | Path) -> None:
    """The per-student files of grade-all: report.json, results.json, feedback.md."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # report.json last: a kept report.json means the others were written with it.
    write_text(folder / "results.json", json.dumps(gradescope(result), indent=2) + "\n")
    write_text(folder / "feedback.md", feedback(result))
    write_text(folder / "table.txt", table(result) + "\n")
    write_text(folder / "report.json", json.dumps(to_json(result), indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write atomically: a reader (or an interrupted run) sees the old file or the new one."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
