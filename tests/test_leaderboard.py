"""What reports a class challenge result: the leaderboard files, Gradescope's leaderboard.

No training here (autograder/challenge.py's tests run the real thing): the results are
built by hand with the ``challenge`` dict the trusted grader fills, some of it hostile
(a student's recipe and what their run reported are theirs to choose).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from test_gradescope import validate, validate_leaderboard

from autograder import challenge_report, cli, exercises, leaderboard, report
from autograder.results import CheckResult, ExerciseResult, SubmissionResult, scoring_rule

COMMAND = "python -m numpynet train --recipe challenge.json"
HOSTILE = '=HYPERLINK("http://x") | <script>alert(1)</script> [a](javascript:x) ``` \x1b[2J'


def _history(epochs: int) -> list[dict]:
    return [
        {"epoch": i, "lr": 2e-3, "train_loss": 0.5 / i, "train_acc": 0.9, "val_loss": 0.1,
         "val_acc": 0.95 + i / 1000, "seconds": 5.0, "cpu_seconds": 5.5}
        for i in range(1, epochs + 1)
    ]  # fmt: skip


def challenge(accuracy: float | None, seconds: float | None, **changes) -> dict:
    """The dict the trusted grader fills (results.SubmissionResult.challenge)."""
    data = {
        "recipe": {"hidden": [256], "optimizer": "adamw", "lr": 0.002, "epochs": 10},
        "config": {"hidden": [256], "optimizer": "adamw", "lr": 0.002, "epochs": 10,
                   "batch_size": 32},
        "status": "scored" if accuracy is not None else "refused",
        "message": "" if accuracy is not None else "weights of the wrong shape",
        "accuracy": accuracy,
        "test_loss": 0.07 if accuracy is not None else None,
        "scored_epoch": 8 if accuracy is not None else None,
        "epochs_done": 10,
        "epochs": 10,
        "seconds": seconds,
        "wall_seconds": 50.0,
        "budget": 60.0,
        "stopped": "",
        "history": _history(10),
        "val_accuracy": 0.979 if accuracy is not None else None,
        "command": COMMAND,
        "scrambled": True,
    }  # fmt: skip
    data.update(changes)
    return data


def result(name: str, run: dict | None, points: tuple[float, float] = (0, 0)) -> SubmissionResult:
    """A graded challenge: one row per threshold with the points given, and the run."""
    rows = []
    for exercise, earned in zip(exercises.CHALLENGE, points, strict=True):
        outcome = "passed" if earned else "failed"
        check = CheckResult(f"challenge::{exercise.id}", exercise.id, "public", outcome, "")
        rows.append(ExerciseResult(exercise.id, exercise.number, exercise.title,
                                   exercise.points, earned, outcome, "", [check]))  # fmt: skip
    return SubmissionResult(
        name, f"/class/{name}", "isolation: test", rows,
        scoring_rule=scoring_rule("challenge"), assignment="challenge", challenge=run,
    )  # fmt: skip


def test_ranks_by_accuracy_then_seconds_ties_share_a_rank_and_the_unscored_come_last():
    results = [
        result("ann", challenge(0.9812, 40.04)),
        result("bea", challenge(0.9812, 40.01)),  # reads 40.0 s like ann: the same rank
        result("cid", challenge(0.9903, 55.0)),
        result("dan", challenge(0.9812, 35.0)),
        result("eve", challenge(None, None)),  # refused
        result("fay", challenge(float("nan"), 30.0)),  # "scored" with NaN: no accuracy
        result("gus", challenge(1.5, 30.0)),  # out of [0, 1]: no accuracy
        result("abe", None),  # the grading process died: no run at all
        result("hal", challenge(0.97, None)),  # an accuracy without seconds: ranked last of it
        result("ida", challenge(0.97, 20.0, status="refused")),  # refused wins over a number
    ]
    rows = leaderboard.entries(results)
    assert [(e.rank, e.student) for e in rows] == [
        (1, "cid"), (2, "dan"), (3, "ann"), (3, "bea"), (5, "hal"),
        (None, "abe"), (None, "eve"), (None, "fay"), (None, "gus"), (None, "ida"),
    ]  # fmt: skip
    by_name = {e.student: e for e in rows}
    assert (by_name["cid"].accuracy, by_name["cid"].seconds) == (99.03, 55.0)
    assert by_name["abe"].status == "not run"
    assert by_name["eve"].status == "refused: weights of the wrong shape"
    assert by_name["fay"].status.startswith("failed: no valid test accuracy")
    assert by_name["ida"].status == "refused"


def _rendered_cells(markdown: str) -> list[list[list]]:
    """Each GFM table's body rows, each cell as its inline tokens' children."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables, in_body = [], False
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            tables.append([])
        elif token.type in ("tbody_open", "tbody_close"):
            in_body = token.type == "tbody_open"
        elif token.type == "tr_open" and in_body:
            tables[-1].append([])
        elif token.type == "td_open" and in_body:
            tables[-1][-1].append(tokens[index + 1].children)
    return tables


def _text(children: list) -> str:
    """A cell's text as a reader sees it; only plain text and emphasis are allowed in it."""
    assert {c.type for c in children} <= {"text", "strong_open", "strong_close"}, children
    return "".join(c.content for c in children if c.type == "text")


def test_leaderboard_md_is_one_gfm_table_and_names_render_as_they_are(tmp_path):
    names = ["a|b <b>x</b> [l](http://e) `c` *d* \\|", "=cmd", "plain"]
    results = [result(n, challenge(0.98 + i / 1000, 30.0)) for i, n in enumerate(names)]
    results.append(result("late", challenge(None, None, message=HOSTILE)))
    path = leaderboard.write(results, tmp_path)
    assert path == tmp_path / leaderboard.MARKDOWN
    tables = _rendered_cells(path.read_text())
    assert len(tables) == 1 and all(len(row) == len(leaderboard.COLUMNS) for row in tables[0])
    assert [_text(row[1]) for row in tables[0]] == ["plain", "=cmd", names[0], "late"]
    assert [_text(row[0]) for row in tables[0]] == ["1", "2", "3", "-"]
    assert _text(tables[0][0][2]) == "98.20%"
    # The hostile message is text: no link, HTML or code span, no terminal escape.
    assert _text(tables[0][3][-1]) == "refused: " + HOSTILE.replace("\x1b", "\ufffd")


def test_leaderboard_csv_cells_never_start_a_formula(tmp_path):
    results = [
        result("=cmd", challenge(0.98, 30.0)),
        result("+sum", challenge(None, None, message="-2+3")),
        result("@at", challenge(None, None, status="failed", message=HOSTILE)),
    ]
    leaderboard.write(results, tmp_path)
    rows = list(csv.reader(io.StringIO((tmp_path / leaderboard.CSV).read_text())))
    assert rows[0] == list(leaderboard.COLUMNS)
    assert [row[1] for row in rows[1:]] == ["'=cmd", "'+sum", "'@at"]
    assert rows[1][:4] == ["1", "'=cmd", "98.0", "30.0"]
    assert rows[2][-1] == "refused: -2+3"  # starts with a letter: left as it is
    for row in rows[1:]:
        assert all(cell[:1] not in ("=", "+", "-", "@", "\t", "\r") for cell in row), row


def _gradescope(r: SubmissionResult) -> dict:
    """results.json as Gradescope reads it: strict JSON (no NaN), valid per its spec."""
    data = json.loads(json.dumps(report.gradescope(r), allow_nan=False))
    validate(data)
    return data


def test_gradescope_leaderboard_of_a_scored_run():
    data = _gradescope(result("ann", challenge(0.9785, 41.23), points=(5, 0)))
    validate_leaderboard(data["leaderboard"])
    assert data["leaderboard"] == [
        {"name": "Test accuracy (%)", "value": 97.85, "order": "desc"},
        {"name": "Training CPU seconds", "value": 41.2, "order": "asc"},
    ]
    assert data["score"] == 5 == sum(t["score"] for t in data["tests"])
    tests = {t["name"]: t for t in data["tests"]}
    assert tests["Challenge C.1: test accuracy >= 97%"]["status"] == "passed"
    assert "97.85%" in tests["Challenge C.2: test accuracy >= 98%"]["output"]
    run = tests["Class challenge: your run"]
    assert run["visibility"] == "visible" and run["max_score"] == 0
    for shown in ('"optimizer": "adamw"', COMMAND, "| **8** (scored) |", "60 CPU s"):
        assert shown in run["output"], shown
    assert "notebooks not graded" not in json.dumps(data)


@pytest.mark.parametrize(
    "run",
    [
        challenge(None, None),  # refused
        challenge(None, None, status="no recipe", recipe=None, config=None, history=[]),
        challenge(float("nan"), float("inf"), history=[{"epoch": 1, "val_loss": float("nan")}]),
        challenge(0.98, None),  # an accuracy without seconds: nothing to rank it by on Gradescope
        challenge(0.98, float("inf")),  # seconds that are no number of seconds
        None,  # the grading process died
    ],
    ids=["refused", "no-recipe", "nan", "no-seconds", "inf-seconds", "not-run"],
)
def test_gradescope_without_a_test_accuracy_has_no_leaderboard_and_stays_valid(run):
    data = _gradescope(result("bob", run))
    assert "leaderboard" not in data
    assert data["score"] == 0 == sum(t["score"] for t in data["tests"])
    assert {t.get("number") for t in data["tests"]} >= {"C.1", "C.2"}
    assert "notebooks not graded" not in json.dumps(data)


def test_no_other_assignment_has_a_leaderboard():
    exercise = exercises.EXERCISES[0]
    check = CheckResult("t.py::test_x", exercise.id, "public", "passed", "")
    row = ExerciseResult(exercise.id, exercise.number, exercise.title, 10, 10, "passed", "",
                         [check])  # fmt: skip
    for assignment in ("course", "beyond", "all"):
        r = SubmissionResult("ann", "/a", "isolation: test", [row], assignment=assignment)
        assert "leaderboard" not in report.gradescope(r), assignment


def test_hostile_recipes_and_logs_stay_text_and_bounded():
    recipe = {HOSTILE: HOSTILE * 500, "deep": [[[[HOSTILE]]]], "big": 10**400}
    odd = {"epoch": "x|y", "lr": True, "train_loss": 10**400, "val_loss": -1e308,
           "val_acc": HOSTILE, "cpu_seconds": None}  # fmt: skip
    history = [odd, "not a dict", None, *_history(5000)]
    run = challenge(0.98, 30.0, recipe=recipe, history=history, stopped=HOSTILE)
    r = result("ann", run, points=(5, 5))
    markdown = report.feedback(r)
    assert len(markdown) < 30_000  # a 5,000-epoch log and a huge recipe, cut short
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<script>" not in html and 'href="javascript' not in html and "\x1b" not in html
    log = _rendered_cells(markdown)[-1]
    assert len(log) == challenge_report.LOG_ROWS + 1  # the first and last 30, and a gap row
    assert all(len(row) == 6 for row in log)
    assert _text(log[0][0]) == "x|y"
    gap = _text(log[challenge_report.LOG_ROWS // 2][0])
    assert gap == "... 4941 epochs not shown"  # 5,001 epochs (2 entries are no epoch), 60 shown
    assert "\x1b" not in report.table(r)
    assert len(json.dumps(report.gradescope(r), allow_nan=False)) < 40_000


def test_class_files_of_a_challenge_class_have_its_columns(tmp_path):
    results = [result("ann", challenge(0.985, 30.0), (5, 5)), result("bob", None)]
    table = report.class_table(results)
    header = table.splitlines()[0].split()
    assert header[1:3] == ["C.1", "C.2"] and "0.1" not in header
    assert "notebooks not graded" not in table and "challenge not run" in table
    report.class_csv(results, tmp_path / "class.csv")
    rows = list(csv.DictReader((tmp_path / "class.csv").open()))
    assert list(rows[0])[:4] == ["student", "ch_97", "ch_98", "challenge"]
    assert rows[0]["student"] == report.MAXIMUM_ROW and rows[0]["challenge"] == "10.0"
    assert rows[1]["total"] == "10.0" and rows[2]["total"] == "0.0"


class _FakePool:
    """grade-all's process pool, handing back prepared results instead of grading."""

    prepared: dict[str, SubmissionResult] = {}

    def __init__(self, jobs: int, initargs: tuple) -> None:
        pass

    def run(self, jobs, done) -> None:  # noqa: ANN001 - cli._Pool's interface
        for job in jobs:
            done(job, "ok", self.prepared[job[0].name].to_dict())

    def close(self, now: bool = False) -> None:
        pass


@pytest.mark.parametrize("assignment", ["challenge", "course"])
def test_grade_all_writes_the_leaderboard_of_a_challenge_only(tmp_path, monkeypatch, capsys,
                                                              assignment):  # fmt: skip
    klass, out = tmp_path / "class", tmp_path / "out"
    runs = {"ann": challenge(0.9801, 50.0), "bob": challenge(0.9801, 20.0), "=cmd": None}
    for name in runs:
        (klass / name).mkdir(parents=True)
    prepared = {name: result(name, run) for name, run in runs.items()}
    if assignment == "course":
        for r in prepared.values():
            r.assignment, r.challenge, r.exercises = "course", None, []
    monkeypatch.setattr(_FakePool, "prepared", prepared)
    monkeypatch.setattr(cli, "_Pool", _FakePool)
    argv = ["grade-all", str(klass), "--out", str(out), "--notebooks", "skip"]
    assert cli.main([*argv, "--assignment", assignment]) == 0
    printed = capsys.readouterr().out
    if assignment == "course":
        assert not (out / leaderboard.CSV).exists() and not (out / leaderboard.MARKDOWN).exists()
        assert "leaderboard" not in printed
        return
    assert f"leaderboard: {out / leaderboard.MARKDOWN}" in printed
    rows = list(csv.reader((out / leaderboard.CSV).open()))
    assert [row[:2] for row in rows[1:]] == [["1", "bob"], ["2", "ann"], ["", "'=cmd"]]
    assert "| 1 | bob | 98.01% | 20.0 |" in (out / leaderboard.MARKDOWN).read_text()
    feedback = (out / "ann" / "feedback.md").read_text()
    assert "## Class challenge" in feedback and COMMAND in feedback


def test_a_kept_challenge_report_reads_back_the_same(tmp_path):
    """report.json round trip (grade-all resumes from it): the leaderboard is unchanged."""
    r = result("ann", challenge(0.9785, 41.23, history=[{"epoch": 1, "val_loss": math.nan}]))
    report.write_all(r, tmp_path / "ann")
    kept = SubmissionResult.from_dict(json.loads((tmp_path / "ann" / "report.json").read_text()))
    assert leaderboard.entries([kept]) == leaderboard.entries([r])
    assert (
        json.loads(Path(tmp_path / "ann" / "results.json").read_text())["leaderboard"][0]["value"]
        == 97.85
    )
