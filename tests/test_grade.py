"""Grading: collection of the checks, scoring, statuses, reports and the command line.

End-to-end tests grade real submissions (reference, stubs, an independent solution)
with the real public and hidden checks through the sandbox; unit tests pin the scoring
rule and the collection on tiny check files written to tmp_path.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import exercises, report
from autograder.grade import (
    CheckResult,
    Grader,
    SubmissionResult,
    Suite,
    configure_hypothesis,
    summarise,
)
from autograder.sandbox import choose

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "solutions" / "numpynet"
INDEPENDENT = ROOT / "autograder" / "examples" / "independent"
ISOLATION = choose("auto")
FULL = sum(e.points for e in exercises.EXERCISES)


def copy_reference(target: Path) -> Path:
    shutil.copytree(REFERENCE, target / "numpynet", ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ISOLATION, timeout=30, notebooks="skip")


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> Path:
    from autograder.examples.build import write_stubs

    root = tmp_path_factory.mktemp("stubs")
    write_stubs(root / "numpynet")
    return root


CONTRACT_BUGS = (
    "linear_forward_always_float32",
    "one_hot_accepts_negative_labels",
    "loss_returns_numpy_scalar",
    "loss_backward_overwrites_cache",
    "linear_backward_ignores_input_grad",
    "numerical_gradient_zeros_like",
    "evaluate_calls_backward",
    "train_epoch_returns_numpy_scalar",
    "evaluate_returns_numpy_scalars",
)


# -- end to end: the three anchors of the grading contract -----------------------------------
def test_the_reference_scores_full_marks(grader, tmp_path):
    result = grader.grade(copy_reference(tmp_path))
    failing = {e.id: e.message for e in result.exercises if e.status != "passed"}
    assert failing == {}
    assert result.points == result.max_points == FULL
    assert not grader.suite.problems  # every check file collected, every check has a marker


def test_the_untouched_stubs_score_zero_and_are_not_started(grader, stubs):
    result = grader.grade(stubs)
    assert result.points == 0
    assert {e.status for e in result.exercises} == {"not started"}
    own = [e for e in result.exercises if e.message.startswith("Exercise")]
    assert own and all(e.message.startswith(f"Exercise {e.number}:") for e in own)


def test_an_independent_implementation_scores_full_marks(grader):
    result = grader.grade(INDEPENDENT)
    assert {e.id: e.status for e in result.exercises if e.status != "passed"} == {}
    assert result.points == FULL


def test_every_check_ran_for_every_exercise(grader, tmp_path):
    result = grader.grade(copy_reference(tmp_path))
    counts = {e.id: e.counted for e in result.exercises}
    assert all(counts[x.id] >= 2 for x in exercises.EXERCISES), counts
    # The course grades its own exercises' checks; lesson 07's are the "beyond" assignment's.
    course = {x.id for x in exercises.EXERCISES}
    assert sum(counts.values()) == sum(c.exercise in course for c in grader.suite.checks)
    assert {c.visibility for e in result.exercises for c in e.checks} == {"public", "hidden"}


def test_sandboxed_grading_agrees_with_the_bug_catalogue(grader, tmp_path):
    """Through the sandbox, each catalogued bug loses exactly the exercises it should.

    The checks' own catalogue test runs them in-process; this one proves the proxy does
    not change any verdict (a few bugs, spread over the lessons, keep it quick).
    """
    from autograder.examples.bugs import BUGS, BY_NAME
    from autograder.examples.build import apply_bug

    chosen = list(BUGS[:: max(1, len(BUGS) // 5)])
    # The contract slips found by trying the course as a student (issue 13): they pass
    # through the proxy's copies and types, so each is proven to lose its exercise here.
    chosen += [BY_NAME[name] for name in CONTRACT_BUGS if BY_NAME[name] not in chosen]
    # Every exercise, lesson 07's too: a bug must lose exactly its own, wherever it is.
    everything = Grader(
        ISOLATION, timeout=30, notebooks="skip", suite=grader.suite, assignment="all"
    )
    for bug in chosen:
        submission = copy_reference(tmp_path / bug.name)
        apply_bug(submission / "numpynet", bug)
        result = everything.grade(submission)
        lost = {e.id for e in result.exercises if e.status != "passed"}
        assert lost == set(bug.loses), bug.name
        assert all(e.status == "failed" for e in result.exercises if e.id in lost), bug.name


@pytest.mark.parametrize(
    "source, status, needle",
    [
        ("def broken(:\n", "error", "SyntaxError"),
        ("import does_not_exist_anywhere\n", "error", "ModuleNotFoundError"),
        ("raise RuntimeError('boom at import')\n", "error", "boom at import"),
    ],
)
def test_a_package_that_cannot_be_imported_is_an_error_for_every_exercise(
    grader, tmp_path, source, status, needle
):
    submission = copy_reference(tmp_path)
    (submission / "numpynet" / "__init__.py").write_text(source)
    result = grader.grade(submission)
    assert result.points == 0
    assert {e.status for e in result.exercises} == {status}
    assert all(needle in e.message for e in result.exercises)


def test_a_folder_without_the_package_is_reported_not_crashed(grader, tmp_path):
    result = grader.grade(tmp_path)
    assert {e.status for e in result.exercises} == {"error"}
    assert "no numpynet/ package" in result.exercises[0].message


def test_one_broken_exercise_loses_only_its_points(grader, tmp_path):
    submission = copy_reference(tmp_path)
    with open(submission / "numpynet" / "functional.py", "a") as handle:
        handle.write("\n\ndef one_hot(y, num_classes):\n    return np.eye(num_classes)[y]\n")
    result = grader.grade(submission)  # float64 instead of float32: a partial failure
    by_id = {e.id: e for e in result.exercises}
    assert by_id["ex2_3"].status == "failed"
    assert 0 <= by_id["ex2_3"].points < by_id["ex2_3"].max_points
    assert all(e.status == "passed" for e in result.exercises if e.id != "ex2_3")


# -- collection and running on small check files ---------------------------------------------
CHECKS = """
import numpy as np
import pytest

@pytest.mark.ex2_1
def test_passes(nn):
    assert nn.softmax(np.zeros((1, 2))).tolist() == [[0.5, 0.5]]

@pytest.mark.ex2_1
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("axis", [0, -1], ids=["first", "last"])
def test_parametrized(nn, n, axis):
    assert nn.softmax(np.zeros((n, n)), axis=axis).shape == (n, n), "SECRET_MESSAGE"

@pytest.mark.ex2_2
def test_log_softmax_shape(nn):
    assert nn.log_softmax(np.zeros((1, 2))).shape == (1, 2)

@pytest.mark.ex2_2
def test_log_softmax_nonpositive(nn):
    assert (nn.log_softmax(np.ones((2, 2))) <= 0).all()

@pytest.mark.ex2_2
def test_fails_with_a_message(nn):
    assert nn.log_softmax(np.zeros((1, 2))).sum() > 0, "the student-facing message"

@pytest.mark.ex2_2
def test_fails_bare(nn):
    value = nn.log_softmax(np.zeros((1, 2))).sum()
    assert value == 12345  # SECRET_SOURCE_LINE

@pytest.mark.ex2_3
def test_skipped(nn):
    pytest.skip("not today")

@pytest.mark.ex2_3
def test_uses_ref(nn, ref):
    assert nn.one_hot(np.array([1]), 2).tolist() == ref.one_hot(np.array([1]), 2).tolist()

@pytest.mark.ex2_4
def test_unknown_fixture(nn, tmp_path):
    pass

def test_without_a_marker(nn):
    pass
"""


@pytest.fixture(scope="module")
def small_suite(tmp_path_factory) -> Suite:
    folder = tmp_path_factory.mktemp("checks")
    (folder / "test_public_small.py").write_text(CHECKS)
    hidden = tmp_path_factory.mktemp("hidden_checks")
    (hidden / "test_hidden_small.py").write_text(CHECKS)
    configure_hypothesis()
    return Suite([(folder, "public"), (hidden, "hidden")])


def test_collection_expands_parametrize_and_reports_unmarked_checks(small_suite):
    public = [c.name.split("::")[1] for c in small_suite.checks if c.visibility == "public"]
    assert public.count("test_passes") == 1
    cases = sorted(n for n in public if n.startswith("test_parametrized"))
    assert len(cases) == 6
    assert "test_parametrized[first-1]" in cases and "test_parametrized[last-3]" in cases
    assert any("test_without_a_marker" in p and "exactly one" in p for p in small_suite.problems)


@pytest.fixture(scope="module")
def small_result(small_suite, tmp_path_factory) -> SubmissionResult:
    submission = copy_reference(tmp_path_factory.mktemp("ref"))
    return Grader(ISOLATION, timeout=30, suite=small_suite, notebooks="skip").grade(submission)


def test_outcomes_statuses_and_partial_credit(small_result):
    by_id = {e.id: e for e in small_result.exercises}
    assert by_id["ex2_1"].status == "passed" and by_id["ex2_1"].points == 10
    # Two of four log_softmax checks fail: half the points.
    assert by_id["ex2_2"].status == "failed" and by_id["ex2_2"].points == 5
    # A skipped check does not count; the ref check passes.
    assert by_id["ex2_3"].counted == 2 and by_id["ex2_3"].points == 5
    assert by_id["ex2_4"].status == "error"
    assert "unsupported fixtures ['tmp_path']" in by_id["ex2_4"].message
    # Exercises without checks in this suite cannot be judged: an error, never full marks.
    assert by_id["ex0_1"].status == "error" and by_id["ex0_1"].points == 0


def test_public_checks_explain_themselves_hidden_ones_show_only_their_message(small_result):
    by_name = {c.name: c for e in small_result.exercises for c in e.checks}
    public_bare = by_name["public/test_public_small.py::test_fails_bare"].message
    hidden_bare = by_name["hidden/test_hidden_small.py::test_fails_bare"].message
    assert "12345" in public_bare  # pytest's assertion rewriting: values shown
    assert hidden_bare == "a check failed (no message)"
    hidden = by_name["hidden/test_hidden_small.py::test_fails_with_a_message"].message
    assert hidden == "the student-facing message"
    feedback = report.feedback(small_result)
    assert "the student-facing message" in feedback
    assert "SECRET_SOURCE_LINE" not in feedback


@pytest.mark.parametrize(
    "outcomes, status, points",
    [
        (["passed", "passed"], "passed", 10.0),
        (["passed", "failed"], "failed", 5.0),
        (["not started", "not started"], "not started", 0.0),
        (["not started", "failed"], "failed", 0.0),
        (["passed", "timeout", "timeout"], "timeout", 10 / 3),
        (["error", "passed"], "error", 5.0),
        (["passed", "skipped"], "passed", 10.0),
        (["skipped"], "error", 0.0),
    ],
)
def test_scoring_rule(outcomes, status, points):
    exercise = exercises.get("ex2_1")  # 10 points
    checks = [CheckResult(f"c{i}", "ex2_1", "public", o, o) for i, o in enumerate(outcomes)]
    result = summarise(exercise, checks)
    assert result.status == status
    assert result.points == pytest.approx(points, abs=0.01)


# -- reports and the command line ---------------------------------------------------------------
def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_grade_command_prints_the_table_and_writes_every_report(tmp_path, stubs):
    out = tmp_path / "out"
    done = run_cli(
        "grade", str(stubs), "--notebooks", "skip",
        "--json", str(out / "r.json"), "--gradescope", str(out / "results.json"),
        "--feedback", str(out / "feedback.md"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    headline = f"{stubs.name}: total: 0/{FULL} (package 0/{FULL}, notebooks not graded)"
    assert lines[0].startswith(headline)  # --notebooks skip says so
    assert lines[1].startswith("isolation: ")
    assert "scoring: package: points per exercise x (checks passed / checks run)" in done.stdout
    assert sum(line.startswith(("0.1 ", "5.2 ")) for line in lines) == 2
    assert "not started" in done.stdout
    data = json.loads((out / "r.json").read_text())
    assert data["points"] == 0 and len(data["exercises"]) == len(exercises.EXERCISES)
    gradescope = json.loads((out / "results.json").read_text())
    assert gradescope["score"] == 0
    assert {"name", "score", "max_score", "output", "visibility"} <= set(gradescope["tests"][0])
    assert sum(t["max_score"] for t in gradescope["tests"]) == FULL
    feedback = (out / "feedback.md").read_text()
    assert feedback.startswith(f"# Feedback for {stubs.name}")
    assert "Exercise 2.1: softmax (not started)" in feedback


def test_feedback_never_contains_hidden_check_source(grader, tmp_path):
    submission = copy_reference(tmp_path)
    with open(submission / "numpynet" / "functional.py", "a") as handle:
        handle.write("\n\ndef softmax(Z, axis=-1):\n    return np.full_like(Z, 0.5)\n")
    result = grader.grade(submission)
    feedback = report.feedback(result) + json.dumps(report.gradescope(result))
    assert "hidden check" in feedback
    hidden_sources = (ROOT / "autograder" / "hidden").glob("test_*.py")
    for path in hidden_sources:
        for line in path.read_text().splitlines():
            code = line.strip()
            # Any line of hidden check code long enough to be recognisable must not leak.
            if len(code) > 30 and not code.startswith(("#", '"', "'", 'f"', "assert_close")):
                assert code not in feedback, (path.name, code)


def test_degraded_isolation_is_announced_in_every_report(tmp_path, stubs):
    result = Grader("none", timeout=30, notebooks="skip").grade(stubs)
    assert result.isolation.startswith("isolation: degraded - ")
    assert report.table(result).splitlines()[1] == result.isolation
    done = run_cli("grade", str(stubs), "--isolation", "none", "--notebooks", "skip")
    assert "isolation: degraded - isolation disabled by --isolation none" in done.stdout


def test_release_and_examples_are_dispatched_to_their_owners(tmp_path):
    done = run_cli("release", "--help")
    assert done.returncode == 0 and "--check" in done.stdout  # release's own parser
    done = run_cli("examples", str(tmp_path / "examples"))
    assert done.returncode == 0
    printed = {Path(line).name for line in done.stdout.split()}
    assert {"reference", "stubs"} <= printed
    assert all((tmp_path / "examples" / name / "numpynet").is_dir() for name in printed)
    # The examples hand in notebooks as students would: no hidden test, no marker.
    files = [p for p in (tmp_path / "examples").rglob("*") if p.is_file()]
    assert len([p for p in files if p.suffix == ".ipynb"]) >= 6 * len(printed)
    for path in files:
        text = path.read_text(errors="replace")
        assert "BEGIN HIDDEN TESTS" not in text, path
        assert path.suffix != ".ipynb" or "### BEGIN SOLUTION" not in text, path
    # ... with their answers filled in: the reference's notebooks hold the solutions.
    solved = json.loads((tmp_path / "examples/reference/lessons/02_softmax_cross_entropy.ipynb")
                        .read_text())  # fmt: skip
    source = json.loads((ROOT / "solutions/lessons/02_softmax_cross_entropy.ipynb").read_text())

    def code(cell: dict) -> list[str]:
        lines = "".join(cell["source"]).splitlines()
        markers = ("### BEGIN SOLUTION", "### END SOLUTION")
        return [line for line in lines if line.strip() not in markers]

    answers = [
        code(c)
        for c in source["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution") and c["cell_type"] == "code"
    ]
    kept = [code(c) for c in solved["cells"]]
    assert answers and all(answer in kept for answer in answers)


def test_requiring_bwrap_where_it_is_missing_fails_clearly(tmp_path, stubs):
    env = dict(os.environ, PATH=str(tmp_path))  # no bwrap here
    done = run_cli("grade", str(stubs), "--isolation", "bwrap", env=env)
    assert done.returncode == 2
    assert "bubblewrap not available" in done.stderr and "Traceback" not in done.stderr
    # The default policy (any) refuses rather than grade without isolation: here the
    # separate user is refused too, as the report folder is writable by every user.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    json_out = shared / "r.json"
    done = run_cli("grade", str(stubs), "--notebooks", "skip", "--json", str(json_out), env=env)
    assert done.returncode == 2 and not json_out.exists()
    assert "refusing to grade" in done.stderr and "bubblewrap not available" in done.stderr
    assert "Traceback" not in done.stderr


def test_grade_all_grades_a_class_and_survives_broken_submissions(tmp_path, stubs):
    klass = tmp_path / "class"
    copy_reference(klass / "alice")
    shutil.copytree(stubs, klass / "bob")
    copy_reference(klass / "carol")
    (klass / "carol" / "numpynet" / "__init__.py").write_text("import os\nos._exit(1)\n")
    (klass / "dave").mkdir()  # handed in nothing
    (klass / "notes.txt").write_text("not a submission")
    out = tmp_path / "out"
    done = run_cli("grade-all", str(klass), "--jobs", "2", "--out", str(out), "--notebooks", "skip")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((out / "class.csv").open()))
    maximum = rows.pop(0)  # the first row: each column's maximum
    assert maximum["student"] == report.MAXIMUM_ROW and float(maximum["max_total"]) == FULL
    assert [r["student"] for r in rows] == ["alice", "bob", "carol", "dave"]
    assert [float(r["total"]) for r in rows] == [FULL, 0, 0, 0]
    assert all(set(r) >= {e.id for e in exercises.EXERCISES} for r in rows)
    assert "ex0_1:error" in rows[2]["problems"]
    for student in ("alice", "bob", "carol", "dave"):
        assert (out / student / "feedback.md").is_file()
        assert json.loads((out / student / "results.json").read_text())["tests"]
    table = done.stdout
    assert "alice" in table and "dave" in table and table.count("\n") >= 5
    # --notebooks skip is said: in the summary, the class table and every report.
    assert "package only (--notebooks skip)" in table
    assert "notebooks not graded" in (out / "alice" / "table.txt").read_text()
    assert "notebooks not graded" in (out / "alice" / "feedback.md").read_text()
    assert "grading" in done.stderr  # the tqdm progress bar


def test_results_survive_the_json_round_trip_used_by_grade_all(small_result):
    again = SubmissionResult.from_dict(json.loads(json.dumps(small_result.to_dict())))
    assert again == small_result
    assert report.table(again) == report.table(small_result)
