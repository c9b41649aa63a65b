"""Every report of grade-all tells one story: the same totals, maxima and pending points.

A real ``grade_all`` of a small class (a solved submission, the untouched stubs, a package
handed in without notebooks), for the course and for the lab; then class.csv, class.txt,
feedback.md, table.txt, results.json and report.json are read back and compared. The
feedback is rendered with markdown-it-py (CommonMark + GFM tables) to check its tables.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from autograder import exercises, lab, report
from autograder.cli import grade_all
from autograder.examples.hostile_notebooks import write_base
from autograder.results import CheckResult, ExerciseResult, SubmissionResult
from autograder.sandbox import choose

ISOLATION = choose("auto").mode
# The assignment's maxima: (package, autograded notebook cells, hand-graded cells).
MAXIMA = {"course": (150.0, 50.0, 5.0), "lab": (0.0, 15.0, 7.0)}


def _class(tmp_path: Path) -> Path:
    klass = tmp_path / "class"
    write_base("solved", klass / "ada")
    write_base("stubs", klass / "bob")
    write_base("solved", klass / "cy")
    shutil.rmtree(klass / "cy" / "lessons")  # the package alone: notebooks not submitted
    return klass


@pytest.fixture(scope="module", params=["course", "lab"])
def graded(request, tmp_path_factory) -> tuple[str, Path, dict[str, SubmissionResult]]:
    tmp = tmp_path_factory.mktemp(request.param)
    out = tmp / "out"
    with pytest.MonkeyPatch.context() as patch:
        # The lab's results released (as after the due date): its reports carry the totals.
        patch.setenv(lab.DETAILS_VARIABLE, "1")
        results = grade_all(
            _class(tmp), out, jobs=1, isolation=ISOLATION, progress=False, assignment=request.param
        )
    return request.param, out, {r.name: r for r in results}


def _number(text: str) -> float:
    return float(text)


def test_every_report_gives_the_same_totals(graded):
    assignment, out, results = graded
    package, auto, hand = MAXIMA[assignment]
    rows = {r["student"]: r for r in csv.DictReader((out / "class.csv").open())}
    maximum = rows.pop(report.MAXIMUM_ROW)
    assert _number(maximum["max_total"]) == _number(maximum["total"]) == package + auto + hand
    assert _number(maximum["pending_hand_grading"]) == hand
    assert _number(maximum["notebooks"]) == auto + hand
    class_txt = (out / "class.txt").read_text().splitlines()
    header = class_txt[0].split()
    for name, result in results.items():
        data = json.loads((out / name / "report.json").read_text())
        gradescope = json.loads((out / name / "results.json").read_text())
        feedback = (out / name / "feedback.md").read_text()
        table = (out / name / "table.txt").read_text()
        total, max_total = data["total"], data["max_total"]
        # The assignment defines the maximum: every student, notebooks handed in or not.
        assert max_total == package + auto + hand, name
        assert (_number(rows[name]["total"]), _number(rows[name]["max_total"])) == (
            total,
            max_total,
        )
        pending = data["pending_hand_grading"]
        assert _number(rows[name]["pending_hand_grading"]) == pending
        headline = f"total: {report._points(total)}/{report._points(max_total)}"
        assert headline in feedback and headline in table.splitlines()[0]
        line = next(x.split() for x in class_txt if x.split()[:1] == [name])
        assert _number(line[header.index("total")]) == total
        assert _number(line[header.index("hand")]) == pending
        # Gradescope: the autograded part only, out of what the README says to set.
        assert sum(t["max_score"] for t in gradescope["tests"]) == package + auto
        assert gradescope["score"] == pytest.approx(total - result.manual_points, abs=0.01)
        if assignment == "lab":  # the lab alone: nothing of the package or the derivation
            for text in (feedback, table, json.dumps(gradescope)):
                assert "package 0/0" not in text and "derivation" not in text, name
                assert "| exercise |" not in text and "exercise   title" not in text
                assert "Exercise " not in text, name
    # cy handed in no notebook: every one is "not submitted" and scores 0.
    cy = results["cy"]
    assert {nb["submitted"] for nb in cy.notebooks["notebooks"].values()} == {False}
    assert cy.notebook_points == 0 and "not submitted" in (out / "class.txt").read_text()
    if assignment == "lab":
        assert not any(re.fullmatch(r"ex\d_\d", c) for c in rows["ada"])
        assert "package" not in rows["ada"] and "0.1" not in class_txt[0]
    else:
        assert results["ada"].total == 200 and results["ada"].awaiting_manual == 5
        assert _number(rows["cy"]["package"]) == 150 and _number(maximum["package"]) == 150


def _tables(markdown: str) -> list[list[list[str]]]:
    """Each table of ``markdown`` as rendered (CommonMark + GFM tables): body rows of cells."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    in_body = False
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif token.type == "tr_open" and in_body:
            row = []
        elif token.type == "tr_close" and in_body:
            tables[-1].append(row)
        elif token.type == "td_open" and in_body:
            row.append(tokens[index + 1].content)
    return tables


def test_feedback_renders_one_table_row_per_exercise_and_notebook(graded):
    assignment, out, results = graded
    feedback = (out / "bob" / "feedback.md").read_text()
    tables = _tables(feedback)
    bob = results["bob"]
    notebooks = sorted(bob.notebooks["notebooks"])
    if assignment == "course":
        assert len(tables) == 2
        assert [row[0] for row in tables[0]] == [e.number for e in exercises.EXERCISES]
        assert all(len(row) == 4 for row in tables[0])
    else:
        assert len(tables) == 1  # no empty exercise table
    assert [row[0] for row in tables[-1]] == notebooks and all(len(r) == 3 for r in tables[-1])
    # Every failing test cell is named, in its notebook's row and below with its message.
    rendered = MarkdownIt("commonmark").enable("table").render(feedback)
    for name, notebook in bob.notebooks["notebooks"].items():
        row = next(r for r in tables[-1] if r[0] == name)
        for grade_id, cell in notebook["cells"].items():
            if cell["auto"] and not cell["passed"]:
                assert grade_id in row[2] and f"<code>{grade_id}</code>" in rendered


def test_multi_line_messages_stay_out_of_the_tables():
    """Messages with newlines, pipes and backtick fences: the tables keep their rows."""
    nasty = "line one | a pipe\n```\nfenced inside\n```\n| fake | row |\n|---|---|"
    exercise = exercises.EXERCISES[0]
    check = CheckResult("autograder/public/t.py::test_x", exercise.id, "public", "failed", nasty)
    row = ExerciseResult(
        exercise.id, exercise.number, "a | title", 10.0, 0.0, "failed", nasty, [check]
    )
    cells = {
        "cell_a": {"score": 0, "max_score": 1, "auto": True, "passed": False,
                   "status": "failed", "failure": nasty},
        "cell_b": {"score": 0, "max_score": 1, "auto": True, "passed": False,
                   "status": "error", "failure": "second\nmessage"},
    }  # fmt: skip
    notebook = {"submitted": True, "score": 0, "max_score": 2, "manual_score": 0,
                "manual_max_score": 0, "problem": "", "cells": cells}  # fmt: skip
    result = SubmissionResult(
        "x|y", "x", "isolation: test", [row],
        notebooks={"score": 0, "max_score": 2, "manual_score": 0, "manual_max_score": 0,
                   "notebooks": {"01_nb": notebook}},
    )  # fmt: skip
    markdown = report.feedback(result)
    tables = _tables(markdown)
    assert tables == [
        [["0.1", "a | title", "0/10", "failed"]],
        [["01_nb", "0/2", "cell_a: failed, cell_b: error"]],
    ]
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    assert rendered.count("fenced inside") == 2  # once per message, inside a code block
    assert "<code>| fake | row |" in rendered.replace("\n", " ") or "| fake | row |" in rendered


def test_challenge_feedback_is_valid_gfm_with_its_recipe_log_and_command():
    from test_leaderboard import COMMAND, HOSTILE, challenge, result

    run = challenge(0.9785, 41.23, recipe={"optimizer": "adamw", "note": HOSTILE})
    r = result("a|b", run, points=(5, 0))
    markdown = report.feedback(r)
    tables = _tables(markdown)
    assert len(tables) == 2  # the thresholds, then the training log
    assert [row[:3] for row in tables[0]] == [["C.1", "test accuracy >= 97%", "5/5"],
                                              ["C.2", "test accuracy >= 98%", "0/5"]]  # fmt: skip
    assert [row[0] for row in tables[1]] == [str(i) for i in range(1, 8)] + [
        "**8** (scored)", "9", "10"
    ]  # fmt: skip
    assert all(len(row) == 6 for row in tables[1])
    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    # The recipe in a JSON code block (its hostile note stays text), then the command.
    recipe = rendered.split('<code class="language-json">', 1)[1].split("</code>", 1)[0]
    assert "&quot;optimizer&quot;: &quot;adamw&quot;" in recipe and "&lt;script&gt;" in recipe
    assert "<script>" not in rendered
    assert f"<pre><code>{COMMAND}\n</code></pre>" in rendered
    assert "secret permutation" in markdown and "validation accuracy only" in markdown
    assert "97.85%" in report.headline(r) and "41.2 CPU s" in markdown
    table = report.table(r).splitlines()
    assert "class challenge: test accuracy 97.85%, 41.2 CPU s of 60, epoch 8 of 10" in table
    assert f"reproduce (validation accuracy only): {COMMAND}" in table
    # The challenge grades no notebook: nothing says one is missing; no pytest hint either.
    for text in (markdown, report.table(r), json.dumps(report.gradescope(r))):
        assert "notebooks not graded" not in text and "pytest" not in text
    assert "## Exercise" not in markdown  # the challenge's section says why, once


def test_a_course_without_notebooks_still_says_so():
    exercise = exercises.EXERCISES[0]
    row = ExerciseResult(exercise.id, exercise.number, exercise.title, 10.0, 10.0, "passed")
    r = SubmissionResult("ann", "x", "isolation: test", [row])
    assert "notebooks not graded" in report.headline(r)
    assert "(notebooks not graded)" in report.gradescope(r)["output"]
