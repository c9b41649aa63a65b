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

from . import challenge_report, exercises, lab
from .mdtext import cell as _cell
from .mdtext import fenced as _fenced
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


def has_package(result: SubmissionResult) -> bool:
    """Whether ``result`` has exercise rows: package exercises, or the challenge's thresholds.

    Not for the lab alone.
    """
    return bool(result.exercises) or bool(exercises.scored_exercises(result.assignment))


_LESSONS = tuple(
    dict.fromkeys(
        [Path(e.lesson).stem for e in exercises.ALL_EXERCISES]
        + list(exercises.LAB_LESSONS + exercises.BEYOND_LESSONS)
    )
)


def grades_notebooks(assignment: str) -> bool:
    """Whether ``assignment`` grades any lesson notebook (the challenge grades none)."""
    return any(exercises.in_assignment(lesson, assignment) for lesson in _LESSONS)


def is_challenge(result: SubmissionResult) -> bool:
    """Whether ``result`` is a class challenge's (its run, or the assignment says so)."""
    return result.challenge is not None or result.assignment == "challenge"


_CHALLENGE_IDS = frozenset(e.id for e in exercises.CHALLENGE)


def _gist(text: str, width: int = 200) -> str:
    """A long (traceback-bearing) message in one line: its first and last lines."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    gist = lines[0] if lines else ""
    if len(lines) > 1:
        gist += " ... " + lines[-1]
    return gist if len(gist) <= width else gist[: width - 3] + "..."


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


def _failing_cells(notebook: dict) -> dict[str, dict]:
    """The autograded cells of ``notebook`` that did not pass, by grade id."""
    cells = notebook.get("cells") or {}
    return {g: c for g, c in cells.items() if c.get("auto") and not c.get("passed")}


def _notebook_rows(result: SubmissionResult) -> list[tuple[str, float, float, str]]:
    """(notebook, score, max, one-line note) for each graded notebook; hand-graded included.

    The note names every failing test cell and its status (messages go below tables).
    """
    rows = []
    for name, notebook, score, maximum, pending in _notebooks(result):
        failing = _failing_cells(notebook)
        if not notebook.get("submitted", True):
            note = "not submitted"
        else:
            note = ", ".join(f"{g}: {c.get('status', 'failed')}" for g, c in failing.items())
            if pending:
                note = f"{_points(pending)} points await hand grading" + (
                    f"; {note}" if note else ""
                )
        rows.append((name, score, maximum, note))
    return rows


def hand_given(name: str, notebook: dict) -> list[str]:
    """Markdown lines: what the instructor gave by hand in ``notebook`` beyond its plain scores.

    Scores of autograded cells set by hand (an override: the instructor's word wins), extra
    credit and comments, as autograder/gradebook.py reads them from formgrader's gradebook.
    """
    lines = []
    for grade_id, cell in (notebook.get("cells") or {}).items():
        where = f"{name}, cell `{grade_id}`"
        if cell.get("overridden"):
            lines.append(
                f"- {where}: score set by hand to {_points(cell.get('score') or 0)}/"
                f"{_points(cell.get('max_score') or 0)} (the autograder gave "
                f"{_points(cell.get('auto_score') or 0)})"
            )
        if cell.get("extra_credit"):
            lines.append(f"- {where}: extra credit +{_points(cell['extra_credit'])}")
    for cell_id, text in (notebook.get("comments") or {}).items():
        lines.append(f"- {name}, cell `{cell_id}`, your instructor's comment:")
        lines += ["", *(f"  > {line}".rstrip() for line in text.splitlines()), ""]
    return lines


def headline(result: SubmissionResult) -> str:
    """The one total every report gives: package + notebooks, hand-graded points included."""
    text = f"total: {_points(result.total)}/{_points(result.max_total)}"
    parts = []
    if is_challenge(result):
        parts.append(challenge_report.summary(result.challenge))
    elif has_package(result):
        parts.append(f"package {_points(result.points)}/{_points(result.max_points)}")
    if result.notebooks is not None:
        parts.append(
            f"notebooks {_points(result.notebook_points)}/{_points(result.notebook_max_points)}"
        )
        if result.awaiting_manual:
            parts.append(f"{_points(result.awaiting_manual)} points await hand grading")
    elif grades_notebooks(result.assignment):
        parts.append("notebooks not graded")
    return f"{text} ({', '.join(parts)})"


def autograded_headline(result: SubmissionResult) -> str:
    """The machine-graded total (Gradescope's score), and what is left to hand grading."""
    text = f"autograded: {_points(result.autograded_total)}/{_points(result.autograded_max)}"
    if result.manual_max_points:
        given = result.manual_max_points - result.awaiting_manual
        text += (
            f"; {_points(result.manual_max_points)} more points are graded by hand, not here"
            + (f" ({_points(result.manual_points)}/{_points(given)} given so far)" if given else "")
        )
    return text


def problems(result: SubmissionResult) -> list[str]:
    """Crashes and timeouts, package and notebooks, and grader-side problems.

    ``ex2_1:timeout``, ``02_softmax_cross_entropy/l02_x:error``, ``grader: <what>``: the
    CSV's problems column (joined by "; ") and class.txt's status.
    """
    # An exercise failing with a grader problem (the grading process died) is that problem.
    grader_side = {f"grader problem: {p}" for p in result.problems} | set(result.problems)
    found = {
        f"{e.id}:{e.status}"
        for e in result.exercises
        if e.status in ("timeout", "error") and e.message not in grader_side
    }
    for name, notebook in ((result.notebooks or {}).get("notebooks") or {}).items():
        for grade_id, cell in (notebook.get("cells") or {}).items():
            if cell.get("status") in ("timeout", "error"):
                found.add(f"{name}/{grade_id}:{cell['status']}")
    grader = [f"grader: {_gist(p)}" for p in result.problems]
    return sorted(found) + list(dict.fromkeys(grader))


def _not_submitted(result: SubmissionResult) -> int:
    """How many of the assignment's notebooks the student did not hand in."""
    notebooks = ((result.notebooks or {}).get("notebooks") or {}).values()
    return sum(not nb.get("submitted", True) for nb in notebooks)


def status(result: SubmissionResult) -> str:
    """class.txt's status: ok, or what went wrong.

    Statuses, grader problem, notebooks not submitted, a challenge run without a test accuracy.
    """
    found = problems(result)
    words = sorted({p.rpartition(":")[2] for p in found if not p.startswith("grader: ")})
    if any(p.startswith("grader: ") for p in found):
        words.append("grader problem")
    missing = _not_submitted(result)
    if missing:
        words.append(f"{missing} notebook{'s' if missing > 1 else ''} not submitted")
    if is_challenge(result) and challenge_report.state(result.challenge) != "scored":
        words.append(f"challenge {challenge_report.state(result.challenge)}")
    return ", ".join(words) or "ok"


def table(result: SubmissionResult, width: int = 130) -> str:
    """The per-exercise table printed by ``python -m autograder grade``."""
    lines = [
        f"{result.name}: {headline(result)} ({result.seconds:.1f} s)",
        result.isolation,
        f"scoring: {result.scoring_rule}",
    ]
    if result.exercises:
        lines += ["", f"{'exercise':<8} {'title':<26} {'points':>9}  {'status':<11} message"]
    for e in result.exercises:
        points = f"{_points(e.points)}/{_points(e.max_points)}"
        lines.append(
            f"{e.number:<8} {e.title[:26]:<26} {points:>9}  {_STATUS_MARK[e.status]:<11} "
            f"{_first_line(e.message, width - 59)}"
        )
    if is_challenge(result):
        lines += ["", *challenge_report.terminal(result.challenge)]
    notebook_rows = _notebook_rows(result)
    if notebook_rows:
        lines += ["", f"{'notebook':<35} {'points':>9}  message"]
        for name, score, maximum, note in notebook_rows:
            lines.append(f"{name[:35]:<35} {_points(score) + '/' + _points(maximum):>9}  {note}")
    given = [line for n, nb, *_ in _notebooks(result) for line in hand_given(n, nb)]
    if given:
        lines += ["", "given by hand in formgrader:", *given]
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
        name = f"{where} check `{check.name.split('::', 1)[-1].replace('`', chr(39))}`"
        key = (check.outcome, check.message.strip() or "(no message)")
        groups.setdefault(key, []).append(name)
    if groups:
        lines.append("")
    for (outcome, message), names in groups.items():
        shown_names = ", ".join(names[:3]) + (
            f" and {len(names) - 3} more" if len(names) > 3 else ""
        )
        lines += [f"- {shown_names} - {outcome}:", "", *_fenced(message, "  "), ""]
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
    """Markdown feedback a student can read: per exercise what failed, no hidden test code.

    CommonMark + GFM tables: one table row per exercise and per notebook, every cell on one
    line; each message, however many lines, in a fenced block below its table.
    """
    if lab.embargoed(result.assignment):
        return lab.feedback_until_due(result)  # no score or key before the due date
    lines = [
        f"# Feedback for {_cell(result.name)}",
        "",
        f"**{headline(result)}**",
        "",
        result.isolation,
        "",
        f"Scoring: {result.scoring_rule}.",
    ]
    if result.exercises:
        lines += ["", "| exercise | title | points | status |", "|---|---|---|---|"]
    for e in result.exercises:
        points = f"{_points(e.points)}/{_points(e.max_points)}"
        lines.append(f"| {e.number} | {_cell(e.title)} | {points} | {e.status} |")
    for e in result.exercises:
        if e.status == "passed" or e.id in _CHALLENGE_IDS:  # the challenge's section says why
            continue
        lines += ["", f"## Exercise {e.number}: {e.title} ({e.status})", "", _exercise_feedback(e)]
    if is_challenge(result):
        lines += ["", *challenge_report.markdown(result.challenge)]
    notebooks = _notebooks(result)
    if notebooks:
        lines += ["", "## Notebooks", "", "| notebook | points | note |", "|---|---|---|"]
        for name, score, maximum, note in _notebook_rows(result):
            lines.append(f"| {_cell(name)} | {_points(score)}/{_points(maximum)} | {_cell(note)} |")
    for name, notebook, *_ in notebooks:
        failing = _failing_cells(notebook) if notebook.get("submitted", True) else {}
        if not failing:
            continue
        lines += ["", f"### Notebook {name}", ""]
        for grade_id, cell in failing.items():
            lines += [f"- test cell `{grade_id}` ({cell.get('status', 'failed')}):", ""]
            lines += [*_fenced(str(cell.get("failure") or "(no message)").strip(), "  "), ""]
    given = [line for n, nb, *_ in notebooks for line in hand_given(n, nb)]
    if given:
        lines += ["", "## From your instructor", "", *given]
    if result.problems:  # details (they may name instructor files) are in class.csv only
        lines += [
            "",
            "The grader itself had a problem with this submission (not a fault of your work); "
            "your instructor sees it in the class report.",
        ]
    if result.output.strip():
        lines += ["", "## What your code printed", "", *_fenced(result.output.strip()[:3000])]
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
    top-level score is the sum of the tests' scores.

    The class challenge: one test per threshold (C.1, C.2), a 0-point visible test with the
    run (recipe, log, how to reproduce it) and, when the run has a test accuracy,
    Gradescope's ``leaderboard`` (see challenge_report.leaderboard); no other assignment
    has a leaderboard.
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
        if e.id in _CHALLENGE_IDS:
            text = challenge_report.threshold_text(
                e.status, exercises.BY_ID[e.id].threshold, result.challenge
            )
            add(f"Challenge {e.number}: {e.title}", e.points, e.max_points, text, "visible",
                number=e.number, tags=[e.id, "challenge"])  # fmt: skip
            continue
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
    for name, notebook, _, _, pending in _notebooks(result):
        # Autograded cells only: hand-graded points live in Gradescope's manual question.
        score = float(notebook.get("score") or 0)
        maximum = float(notebook.get("max_score") or 0)
        failing = _failing_cells(notebook)
        lines = [] if notebook.get("submitted", True) else ["not submitted"]
        lines += [f"- test cell `{g}`: {c.get('status', 'failed')}" for g, c in failing.items()]
        manual = float(notebook.get("manual_max_score") or 0)
        if manual:
            lines.append(
                f"- {_points(manual)} more points are graded by hand, not in this score"
                + (" (awaiting hand grading)" if pending else "")
            )
        if failing:
            lines.append(f"\nWhy the test cells failed: {_WHEN[hidden]}.")
        given = hand_given(name, notebook)
        if given:
            lines += ["", "From your instructor:", "", *given]
        add(f"Notebook {name}", score, maximum, "\n".join(lines) or "all test cells passed",
            "visible", tags=[name, "notebook"])  # fmt: skip
        tests[-1]["status"] = (
            "failed" if failing or not notebook.get("submitted", True) else "passed"
        )
        if failing:
            details = "\n\n".join(
                f"test cell `{g}` ({c.get('status', 'failed')}):\n\n"
                + "\n".join(_fenced(str(c.get("failure", "")).strip()))
                for g, c in failing.items()
            )
            add(f"Notebook {name} - test cell messages", 0.0, 0.0, details, hidden,
                tags=[name, "hidden"])  # fmt: skip
    if is_challenge(result):
        add("Class challenge: your run", 0.0, 0.0,
            "\n".join(challenge_report.markdown(result.challenge, level=0)), "visible",
            number="C", tags=["challenge"])  # fmt: skip
        scored = challenge_report.accuracy(result.challenge) is not None
        tests[-1]["status"] = "passed" if scored else "failed"
    lines = [
        autograded_headline(result),
        "",
        result.isolation,
        "",
        f"Scoring: {result.scoring_rule}.",
    ]
    if result.notebooks is None and has_package(result) and grades_notebooks(result.assignment):
        lines[0] += " (notebooks not graded)"
    if is_challenge(result):
        lines[1:1] = ["", challenge_report.summary(result.challenge)]
    data = {
        "score": round(sum(t["score"] for t in tests), 2),
        "execution_time": int(round(result.seconds)),
        "output": "\n".join(lines),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    board = challenge_report.leaderboard(result.challenge) if is_challenge(result) else None
    if board is not None:
        data["leaderboard"] = board
    return data


MAXIMUM_ROW = "(maximum)"  # class.csv's first row: the maximum of every column


def _package_columns(results: Sequence[SubmissionResult]) -> list[exercises.Exercise]:
    """The exercise columns of a class's files, in the catalogue's order.

    Every row the results' assignments score (exercises.scored_exercises: the course's,
    lesson 07's, the challenge's thresholds C.1 and C.2) and every row a result holds;
    none for the lab alone.
    """
    wanted = {e.id for r in results for e in r.exercises}
    wanted |= {e.id for r in results for e in exercises.scored_exercises(r.assignment)}
    return [e for e in exercises.BY_ID.values() if e.id in wanted]


def _notebook_maxima(results: Sequence[SubmissionResult]) -> dict[str, float]:
    """Each graded notebook's maximum (autograded + hand-graded), over the class."""
    maxima: dict[str, float] = {}
    for r in results:
        for name, _, _, maximum, _ in _notebooks(r):
            maxima[name] = max(maxima.get(name, 0.0), maximum)
    return dict(sorted(maxima.items()))


def class_table(results: Sequence[SubmissionResult]) -> str:
    """One line per student: per-exercise points, notebooks, total, pending hand grading.

    The line under the header gives each column's maximum.
    """
    columns = _package_columns(results)
    ids = [e.number for e in columns]
    width = max([len("student"), len(MAXIMUM_ROW), *(len(r.name) for r in results)]) + 2
    header = (
        f"{'student':<{width}}"
        + "".join(f"{i:>6}" for i in ids)
        + f"{'nb':>6}{'total':>8}{'hand':>6}  status"
    )
    lines = [header]
    if results:
        graded = any(r.notebooks is not None for r in results)
        nb_max = _points(max(r.notebook_max_points for r in results)) if graded else "-"
        hand_max = max(r.manual_max_points for r in results)
        lines.append(
            f"{MAXIMUM_ROW:<{width}}"
            + "".join(f"{_points(e.points):>6}" for e in columns)
            + f"{nb_max:>6}{_points(max(r.max_total for r in results)):>8}"
            + f"{_points(hand_max):>6}  hand: points awaiting hand grading"
        )
    for r in results:
        by_id = {e.id: e for e in r.exercises}
        cells = "".join(
            f"{_points(by_id[x.id].points) if x.id in by_id else '-':>6}" for x in columns
        )
        nb = _points(r.notebook_points) if r.notebooks is not None else "-"
        lines.append(
            f"{r.name:<{width}}{cells}{nb:>6}{_points(r.total):>8}"
            f"{_points(r.awaiting_manual):>6}  {status(r)}"
        )
    if results:
        lines.append(results[0].isolation)
        graded = any(grades_notebooks(r.assignment) for r in results)
        if all(r.notebooks is None for r in results) and columns and graded:
            lines.append("notebooks not graded (--notebooks skip): totals are the package's")
    return "\n".join(lines)


def csv_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not run as a formula (OWASP's CSV injection rule).

    A text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading ``'``; numbers are left as they are.
    """
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def class_csv(results: Sequence[SubmissionResult], path: str | Path) -> None:
    """The class CSV: one row per student, one column per exercise, notebooks, total.

    The first row, ``(maximum)``, holds every column's maximum. ``total`` counts the
    hand-given points, ``max_total`` every point of the assignment, and
    ``pending_hand_grading`` the points not graded by hand yet. Every text cell is
    escaped by :func:`csv_safe`.
    """
    package = _package_columns(results)
    notebook_maxima = _notebook_maxima(results)
    columns = ["student"] + [e.id for e in package]
    columns += [f"notebook:{n}" for n in notebook_maxima]
    # The sum of the exercise columns: the challenge's, or the package's.
    summed = "challenge" if any(is_challenge(r) for r in results) else "package"
    columns += [summed] if package else []
    columns += ["notebooks", "total", "max_total", "pending_hand_grading", "problems"]
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(columns)
    if results:
        writer.writerow(
            [MAXIMUM_ROW]
            + [float(e.points) for e in package]
            + list(notebook_maxima.values())
            + ([sum(float(e.points) for e in package)] if package else [])
            + [max(r.notebook_max_points for r in results)]
            + [max(r.max_total for r in results)] * 2
            + [max(r.manual_max_points for r in results), ""]
        )
    for r in results:
        by_id = {e.id: e for e in r.exercises}
        rows = {name: score for name, score, _, _ in _notebook_rows(r)}
        row = (
            [r.name]
            + [by_id[e.id].points if e.id in by_id else "" for e in package]
            + [rows.get(n, "") for n in notebook_maxima]
            + ([r.points] if package else [])
            + [r.notebook_points, r.total, r.max_total, r.awaiting_manual]
            + ["; ".join(problems(r))]
        )
        writer.writerow([csv_safe(cell) for cell in row])
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
