"""Reports of grading results: the terminal table, JSON, Gradescope, student feedback, class CSV.

Everything here reads :class:`autograder.grade.SubmissionResult` objects and writes text;
nothing runs student code. The student-facing outputs (feedback, Gradescope) show the
messages of hidden checks but never their source: messages are all a check ever puts
into a result (see grade.run_check).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from . import exercises
from .grade import SubmissionResult

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


def _notebook_rows(result: SubmissionResult) -> list[tuple[str, float, float, str]]:
    """(notebook, score, max, note) for each notebook nbgrader graded."""
    rows = []
    for name, notebook in sorted(((result.notebooks or {}).get("notebooks") or {}).items()):
        failing = [
            cell.get("failure", "")
            for cell in (notebook.get("cells") or {}).values()
            if cell.get("auto") and not cell.get("passed")
        ]
        note = "not submitted" if not notebook.get("submitted", True) else ""
        if not note and failing:
            note = _first_line(failing[0], 60)
        rows.append(
            (name, float(notebook.get("score") or 0), float(notebook.get("max_score") or 0), note)
        )
    return rows


def table(result: SubmissionResult, width: int = 130) -> str:
    """The per-exercise table printed by ``python -m autograder grade``."""
    lines = [
        f"{result.name}: {_points(result.points)}/{_points(result.max_points)} points "
        f"({result.seconds:.1f} s)",
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
        lines.append(
            f"total: {_points(result.total)}/{_points(result.max_total)} (package + notebooks)"
        )
    for problem in result.problems:
        lines.append(f"GRADER PROBLEM: {problem}")
    return "\n".join(lines)


def to_json(result: SubmissionResult) -> dict:
    """Everything, for instructors and tools (hidden check names and messages included)."""
    return result.to_dict()


def _exercise_feedback(e) -> str:  # noqa: ANN001 - an ExerciseResult
    """The student-facing text of one exercise: what failed, in their terms."""
    if e.status == "passed":
        return f"All {e.counted} checks passed."
    lines = [f"{e.passed} of {e.counted} checks passed."]
    exercise = exercises.BY_ID[e.id]
    # Checks failing the same way (every check of a stub: "not started") are listed once.
    groups: dict[tuple[str, str], list[str]] = {}
    for check in e.checks:
        if check.outcome in ("passed", "skipped"):
            continue
        where = "public" if check.visibility == "public" else "hidden"
        name = f"{where} check `{check.name.split('::', 1)[-1]}`"
        key = (check.outcome, check.message.strip() or "(no message)")
        groups.setdefault(key, []).append(name)
    for (outcome, message), names in groups.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines.append(f"- {shown} - {outcome}:")
        lines += ["", "  ```", *("  " + line for line in message.splitlines()), "  ```", ""]
    if any(c.visibility == "public" and c.outcome != "passed" for c in e.checks):
        lines.append(
            f"Run the public checks yourself: `pytest autograder/public -m {e.id}` "
            f"(see {exercise.lesson})."
        )
    return "\n".join(lines)


def feedback(result: SubmissionResult) -> str:
    """Markdown feedback a student can read: per exercise what failed, no hidden test code."""
    lines = [
        f"# Feedback for {result.name}",
        "",
        f"**Package score: {_points(result.points)} / {_points(result.max_points)}**",
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


def gradescope(result: SubmissionResult) -> dict:
    """Gradescope's results.json (see GRADESCOPE_SPEC): one test per exercise and notebook."""
    tests = []
    for e in result.exercises:
        tests.append(
            {
                "name": f"Exercise {e.number}: {e.title}",
                "number": e.number,
                "score": e.points,
                "max_score": e.max_points,
                "status": "passed" if e.status == "passed" else "failed",
                "output": f"{e.status}. " + _exercise_feedback(e),
                "output_format": "md",
                "visibility": "visible",
            }
        )
    for name, score, maximum, note in _notebook_rows(result):
        tests.append(
            {
                "name": f"Notebook {name}",
                "score": score,
                "max_score": maximum,
                "status": "passed" if score == maximum else "failed",
                "output": note,
                "visibility": "visible",
            }
        )
    return {
        "score": round(result.total, 2),
        "execution_time": round(result.seconds, 2),
        "output": f"Scoring: {result.scoring_rule}.",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def class_table(results: Sequence[SubmissionResult]) -> str:
    """One line per student: per-exercise points, notebooks and total."""
    ids = [e.number for e in exercises.EXERCISES]
    header = f"{'student':<22}" + "".join(f"{i:>6}" for i in ids) + f"{'nb':>6}{'total':>8}  status"
    lines = [header]
    for r in results:
        by_id = {e.id: e for e in r.exercises}
        cells = "".join(
            f"{_points(by_id[x.id].points) if x.id in by_id else '-':>6}"
            for x in exercises.EXERCISES
        )
        bad = sorted({e.status for e in r.exercises if e.status in ("timeout", "error")})
        nb = _points(r.notebook_points) if r.notebooks is not None else "-"
        lines.append(
            f"{r.name[:22]:<22}{cells}{nb:>6}{_points(r.total):>8}  {','.join(bad) or 'ok'}"
        )
    if results:
        lines.append(results[0].isolation)
    return "\n".join(lines)


def class_csv(results: Sequence[SubmissionResult], path: str | Path) -> None:
    """The class CSV: one row per student, one column per exercise, notebooks, total."""
    notebook_names = sorted(
        {n for r in results for n in ((r.notebooks or {}).get("notebooks") or {})}
    )
    columns = ["student"] + [e.id for e in exercises.EXERCISES]
    columns += [f"notebook:{n}" for n in notebook_names]
    columns += ["package", "notebooks", "total", "max_total", "problems"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for r in results:
            by_id = {e.id: e for e in r.exercises}
            notebooks = (r.notebooks or {}).get("notebooks") or {}
            problems = sorted(
                {f"{e.id}:{e.status}" for e in r.exercises if e.status in ("timeout", "error")}
            )
            writer.writerow(
                [r.name]
                + [by_id[e.id].points if e.id in by_id else "" for e in exercises.EXERCISES]
                + [notebooks.get(n, {}).get("score", "") for n in notebook_names]
                + [r.points, r.notebook_points, r.total, r.max_total, " ".join(problems)]
            )


def write_all(result: SubmissionResult, folder: str | Path) -> None:
    """The per-student files of grade-all: report.json, results.json, feedback.md."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(to_json(result), indent=2) + "\n")
    (folder / "results.json").write_text(json.dumps(gradescope(result), indent=2) + "\n")
    (folder / "feedback.md").write_text(feedback(result))
    (folder / "table.txt").write_text(table(result) + "\n")
