"""The trusted side has budgets: no returned value, notebook field or loop can hang, exhaust
or crash the grader (autograder/examples/hostile_budgets.py, issue 18 classes 3, 4 and 6).

Each attack is graded by ``python -m autograder grade`` in a subprocess, so that the
grading process's peak memory (its own and every child's: judge, workers) is measured
apart from this test process, and so that a grader that hangs is seen as one. Asserted:
no more points than the honest base, every other notebook graded as in the base, the
time within the per-cell timeout or the submission's budget, the peak memory within the
grader's budget (:data:`MEMORY_MB`), no process left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import judge
from autograder.examples.hostile_budgets import (
    BY_NAME,
    NOTEBOOK_ATTACKS,
    PACKAGE_ATTACKS,
    materialise,
)
from autograder.examples.hostile_notebooks import write_base
from autograder.grade import Grader
from autograder.sandbox import choose

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 4.0  # per exercise / per cell
BUDGET = 120.0  # per submission, for the attacks that are not about the budget
# The grader's memory budget, as the README states it: the grading process (about 150 MB
# with numpy, the checks and the reference) plus the judge's MEMORY_BYTES, and some slack
# for the worker (whose own limit is separate). Without the judge, broadcast_shapes alone
# takes 1.6 GB.
MEMORY_MB = 200 + judge.MEMORY_BYTES // 1024**2 + 100

# Measures the peak RSS of the grading process and every process it waited for.
_RUNNER = """
import json, resource, subprocess, sys, time
started = time.monotonic()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "seconds": time.monotonic() - started,
                  "peak_mb": usage.ru_maxrss / 1024}))
"""


def grade_apart(submission: Path, out: Path, *options: str, limit: float = 300) -> dict:
    """Grade in a subprocess: the report, the wall time and the peak memory (MB)."""
    command = [
        *(sys.executable, "-c", _RUNNER, sys.executable, "-m", "autograder", "grade"),
        *(str(submission), "--json", str(out), "--notebooks", "always"),
        *(options or ("--timeout", str(TIMEOUT), "--budget", str(BUDGET))),
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a grader that hangs is killed with all it started
    )
    try:
        stdout, stderr = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    measured = json.loads(stdout.strip().splitlines()[-1])
    assert measured["code"] == 0, stderr[-2000:]
    return {**measured, "report": json.loads(out.read_text())}


def leftovers(submission: Path) -> list[str]:
    """Command lines of live processes that name the submission's folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(submission) in text:
            found.append(text)
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """The honest base (solved package and lessons), graded the same way."""
    folder = tmp_path_factory.mktemp("base")
    return grade_apart(write_base("solved", folder / "solved"), folder / "report.json")["report"]


def cells(report: dict, lesson: str) -> dict:
    return report["notebooks"]["notebooks"][lesson]["cells"]


# What the attacked cell(s) of each notebook attack must show: {grade_id: (status, words)}.
EXPECTED = {
    "float16_for_a_scalar": {"l04_max_stable_lr_tests": ("timeout", "time limit of 4 s")},
    "broadcast_shapes": {"l00_num_batches_tests": ("failed", "memory budget")},
    "sleeping_non_callable": {"l00_num_batches_tests": ("timeout", "time limit of 4 s")},
    "source_is_a_number": {"l01_count_parameters_tests": ("error", "nbformat")},
    "grade_id_is_a_list": {"l02_uniform_case_tests": ("failed", "missing")},
    "metadata_missing": {"l03_relative_error_tests": ("error", "notebook")},
    "cells_not_a_list": {"l05_accuracy_tests": ("error", "notebook")},
    "looping_answer_used_twice": {
        "l03_relative_error_tests": ("timeout", "time limit of 4 s"),
        "l03_gradient_check_tests": ("timeout", "already ran out of time"),
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("entry", NOTEBOOK_ATTACKS, ids=[e.name for e in NOTEBOOK_ATTACKS])
def test_a_hostile_notebook_is_bounded_and_gains_nothing(entry, base, tmp_path):
    submission = materialise(entry, tmp_path)
    graded = grade_apart(submission, tmp_path / "report.json")
    report = graded["report"]

    # Gains nothing, spills over nowhere: the package and the other notebooks as in the base.
    assert report["points"] == base["points"]
    assert report["total"] <= base["total"]
    for lesson, notebook in report["notebooks"]["notebooks"].items():
        if lesson != entry.lesson:
            assert notebook == base["notebooks"]["notebooks"][lesson], lesson
    assert (
        report["notebooks"]["notebooks"][entry.lesson]["score"]
        < (base["notebooks"]["notebooks"][entry.lesson]["score"])
    )
    for grade_id, (status, words) in EXPECTED[entry.name].items():
        cell = cells(report, entry.lesson)[grade_id]
        assert (cell["status"], cell["score"]) == (status, 0.0), cell
        assert words in cell["failure"], cell["failure"]
    if entry.output:
        assert entry.output in report["output"]

    # Bounded: a few cell timeouts at most, the grader's memory budget, nothing left.
    assert graded["seconds"] < 30 + 3 * TIMEOUT, graded["seconds"]
    assert graded["peak_mb"] < MEMORY_MB, graded["peak_mb"]
    assert leftovers(submission) == []


@pytest.mark.slow
def test_an_endless_loader_costs_its_exercise_and_no_memory(base, tmp_path):
    """128 MB batches for ever: list(loader) in a check stops at the judge's memory budget."""
    entry = BY_NAME["endless_loader"]
    submission = materialise(entry, tmp_path)
    graded = grade_apart(submission, tmp_path / "report.json")
    report = graded["report"]
    by_id = {e["id"]: e for e in report["exercises"]}
    assert by_id["ex0_1"]["points"] == 0.0
    assert by_id["ex0_1"]["status"] in ("error", "failed", "timeout"), by_id["ex0_1"]
    # train_epoch runs the student's own loader: it may lose too; nothing else may.
    others = [e for e in report["exercises"] if e["id"] not in ("ex0_1", "ex5_1")]
    assert all(e["status"] == "passed" for e in others), [e["id"] for e in others]
    assert report["total"] <= base["total"]
    assert "endless loader" in report["output"]
    assert graded["peak_mb"] < MEMORY_MB, graded["peak_mb"]
    assert graded["seconds"] < 30 + 4 * TIMEOUT, graded["seconds"]
    assert leftovers(submission) == []


@pytest.mark.slow
def test_the_worst_case_submission_stops_at_its_budget(tmp_path):
    """Every function loops: 16 exercise timeouts and every cell, cut by the budget."""
    submission = materialise(BY_NAME["everything_loops"], tmp_path)
    budget, timeout = 15.0, 5.0
    graded = grade_apart(
        submission, tmp_path / "report.json", "--timeout", str(timeout), "--budget", str(budget)
    )
    report = graded["report"]
    assert report["total"] == 0.0
    statuses = {e["status"] for e in report["exercises"]}
    assert statuses == {"timeout"}, statuses
    messages = " ".join(e["message"] for e in report["exercises"])
    assert f"time budget of {budget:g} s" in messages  # what did not run says why
    # Without the budget: 16 x 5 s for the package, then every notebook cell again.
    # The budget, plus the last worker's shutdown and the reports (README: about 3 s).
    assert report["seconds"] < budget + 5, report["seconds"]
    assert graded["peak_mb"] < MEMORY_MB
    assert leftovers(submission) == []


def test_the_catalogue_names_the_attacks_of_the_issue():
    names = set(BY_NAME)
    for needed in (
        "float16_for_a_scalar",
        "broadcast_shapes",
        "endless_loader",
        "sleeping_non_callable",
        "source_is_a_number",
        "grade_id_is_a_list",
        "everything_loops",
    ):
        assert needed in names
    assert {e.name for e in NOTEBOOK_ATTACKS} <= set(EXPECTED)
    assert len(PACKAGE_ATTACKS) + len(NOTEBOOK_ATTACKS) == len(BY_NAME)


def test_a_judge_that_dies_costs_its_item_and_the_rest_is_graded(tmp_path):
    """A check whose judge is killed (here: SIGKILL from the check itself) is an error."""
    grader = Grader(choose("auto"), timeout=TIMEOUT, notebooks="skip")
    grader._prepare()  # the checks' warm-up runs here, before the patch below
    check = grader.suite.for_exercise("ex2_1")[0]
    original = check.function

    def dies(**kwargs):
        os.kill(os.getpid(), 9)  # in the judge: this check's judge dies

    object.__setattr__(check, "function", dies)  # a frozen dataclass
    try:
        result = grader.grade(ROOT / "solutions")
    finally:
        object.__setattr__(check, "function", original)
        grader.close()
    by_id = {e.id: e for e in result.exercises}
    rows = {c.name: c for c in by_id["ex2_1"].checks}
    assert rows[check.name].outcome == "error"
    assert "SIGKILL" in rows[check.name].message
    # The other checks of that exercise and every other exercise still ran and passed.
    assert {c.outcome for n, c in rows.items() if n != check.name} == {"passed"}
    assert all(e.status == "passed" for e in result.exercises if e.id != "ex2_1")


def test_a_worker_slow_to_start_costs_no_exercise_on_a_loaded_machine(tmp_path, monkeypatch):
    """A sandbox that takes longer to start than the exercise's timeout (a loaded machine):
    the start has its own limit (the session's STARTUP_SECONDS), so the judge must not be
    killed during it, taking every exercise or cell not yet graded with it. The notebooks
    restart the worker too: lesson 04's answer cell never ends, lesson 05 comes after it."""
    import time

    from autograder.examples.hostile_notebooks import HOSTILE_NOTEBOOKS, materialise
    from autograder.sandbox import Worker

    start = Worker.start

    def slow_start(self):  # noqa: ANN001, ANN202 - Worker.start's own signature
        time.sleep(5.0)
        return start(self)

    monkeypatch.setattr(Worker, "start", slow_start)  # the judge, forked after this, has it
    entry = next(h for h in HOSTILE_NOTEBOOKS if h.name == "infinite_loop")
    grader = Grader(choose("any"), timeout=4.0, notebooks="grade")
    try:
        result = grader.grade(materialise(entry, tmp_path))
    finally:
        grader.close()
    assert {e.status for e in result.exercises} == {"passed"}, [
        (e.id, e.status, e.message[:80]) for e in result.exercises if e.status != "passed"
    ]
    cells = {
        (name, grade_id): cell["status"]
        for name, notebook in result.notebooks["notebooks"].items()
        for grade_id, cell in notebook["cells"].items()
        if cell.get("auto")
    }
    lost = {key: status for key, status in cells.items() if status != "passed"}
    assert lost and {name for name, _ in lost} == {entry.lesson}, lost  # its own lesson only
