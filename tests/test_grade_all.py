"""grade-all as a class-sized job: --only, full names, and interruptions that lose nothing.

The interruption tests run the real command in a subprocess and kill it (SIGINT as
Ctrl-C sends, SIGKILL as the OOM killer or a closed laptop would) once a first student
has finished; then the next run must keep every finished report and grade the rest.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import GROUP, PARENT, live_processes

from autograder import report
from autograder.cli import grade_all
from autograder.examples.hostile_notebooks import ROOT, write_base
from autograder.grade import SubmissionResult
from autograder.sandbox import choose

ISOLATION = choose("auto").mode
PACKAGE = 150.0


def kept_seconds(out: Path) -> dict[str, float]:
    """Each finished student's grading time, from their report.json (which must parse)."""
    return {
        path.parent.name: json.loads(path.read_text())["seconds"]
        for path in sorted(out.glob("*/report.json"))
    }


def csv_rows(out: Path) -> dict[str, dict]:
    """class.csv's student rows by name (the ``(maximum)`` row left out)."""
    rows = csv.DictReader((out / "class.csv").open())
    return {row["student"]: row for row in rows if row["student"] != report.MAXIMUM_ROW}


def csv_students(out: Path) -> list[str]:
    return list(csv_rows(out))


def test_only_regrades_the_named_students_and_keeps_the_others(tmp_path):
    klass = tmp_path / "class"
    for name in ("cy", "dee", "eve"):
        write_base("stubs", klass / name)
    out = tmp_path / "out"
    grade_all(klass, out, jobs=1, isolation=ISOLATION, notebooks="skip", progress=False)
    before = kept_seconds(out)
    # cy changes too, but only dee is asked for: cy keeps its (now stale) report.
    (klass / "cy" / "numpynet" / "notes.txt").write_text("changed")
    for name in ("dee", "cy"):
        shutil_copy_reference(klass / name)
    results = grade_all(
        klass, out, jobs=1, isolation=ISOLATION, notebooks="skip", progress=False, only=["dee"]
    )
    after = kept_seconds(out)
    assert after["cy"] == before["cy"] and after["eve"] == before["eve"]
    assert after["dee"] != before["dee"]
    assert {r.name: r.points for r in results} == {"cy": 0.0, "dee": PACKAGE, "eve": 0.0}
    assert csv_students(out) == ["cy", "dee", "eve"]
    with pytest.raises(RuntimeError, match="no submission called zed"):
        grade_all(klass, out, jobs=1, isolation=ISOLATION, notebooks="skip", only=["zed"])


def shutil_copy_reference(submission: Path) -> None:
    import shutil

    shutil.rmtree(submission / "numpynet")
    shutil.copytree(ROOT / "solutions" / "numpynet", submission / "numpynet")


def test_the_class_table_shows_full_names():
    names = ["a-very-long-student-name-with-a-surname", "bo"]
    results = [SubmissionResult(n, n, "isolation: test", []) for n in names]
    lines = report.class_table(results).splitlines()
    assert lines[1].startswith(report.MAXIMUM_ROW + " ")  # the maxima under the header
    assert lines[2].startswith(names[0] + "  ") and lines[3].startswith("bo ")
    # The columns stay aligned: every row's first score starts where the header's does.
    column = lines[0].index("0.1") - 2
    assert {line[column - 1] for line in lines[:4]} == {" "}


def _session_processes(session: int) -> list[int]:
    """Processes still in the process group ``session`` (grade-all and its pool)."""
    return live_processes(GROUP, session)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_grade_all_loses_no_finished_report(tmp_path, signum):
    klass = tmp_path / "class"
    names = [f"s{i}" for i in range(5)]
    for name in names:
        write_base("stubs", klass / name)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade-all", str(klass), "--out", str(out)]
    command += ["--jobs", "1", "--notebooks", "skip", "--isolation", ISOLATION]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: we can see what it leaves behind
    )
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("*/report.json")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no student finished in 300 s"
            time.sleep(0.05)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    finished = kept_seconds(out)  # every report.json present is complete
    assert 1 <= len(finished) < len(names), finished
    if signum == signal.SIGINT:
        assert process.returncode == 130 and "interrupted" in stderr
        assert csv_students(out) == sorted(finished)  # the class file lists who finished
    else:
        assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 20  # no grading process outlives grade-all
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_processes(process.pid) == []

    results = grade_all(klass, out, jobs=1, isolation=ISOLATION, notebooks="skip", progress=False)
    assert [r.name for r in results] == names
    after = kept_seconds(out)
    assert all(after[name] == seconds for name, seconds in finished.items())  # not regraded
    assert csv_students(out) == names


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    return live_processes(PARENT, pid)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        found += children
        todo += children
    return found


def _slow_package(target: Path, seconds: float) -> None:
    """A correct package whose import sleeps ``seconds`` (inside the sandbox)."""
    write_base("solved", target)
    init = target / "numpynet" / "__init__.py"
    init.write_text(f"import time\ntime.sleep({seconds})\n" + init.read_text())


def _grade_all_process(klass: Path, out: Path, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "autograder", "grade-all", str(klass), "--out", str(out)]
    command += ["--jobs", "1", "--isolation", ISOLATION, *options]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"),
    )


@pytest.mark.slow
def test_a_killed_grading_process_costs_its_student_only(tmp_path):
    """SIGKILL (what the OOM killer sends) to the process grading one student, mid-student:
    that student is an `error` saying why, every other student is graded, class.csv whole."""
    klass = tmp_path / "class"
    _slow_package(klass / "0_victim", 60)  # sorted first: the first one graded (--jobs 1)
    write_base("stubs", klass / "=HYPERLINK(evil)")
    write_base("solved", klass / "zoe")
    out = tmp_path / "out"
    process = _grade_all_process(klass, out, "--notebooks", "skip", "--timeout", "120")
    try:
        deadline = time.monotonic() + 120
        graders: list[int] = []
        while not graders:  # a grading process with a sandbox under it: grading 0_victim
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "0_victim's grading never started"
            graders = [
                c
                for c in _children(process.pid)
                if "spawn_main" in _cmdline(c) and any("worker.py" in _cmdline(d) for d in
                                                       _descendants(c))
            ]  # fmt: skip
            time.sleep(0.05)
        assert not list(out.glob("*/report.json"))  # nobody finished before 0_victim
        os.kill(graders[0], signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, stderr
    rows = csv_rows(out)
    # The formula-named folder is escaped in the CSV (OWASP's rule), graded as any other.
    assert sorted(rows) == sorted(["0_victim", "'=HYPERLINK(evil)", "zoe"])
    assert float(rows["zoe"]["total"]) == PACKAGE
    assert float(rows["'=HYPERLINK(evil)"]["total"]) == 0
    victim = json.loads((out / "0_victim" / "report.json").read_text())
    assert {e["status"] for e in victim["exercises"]} == {"error"} and victim["total"] == 0
    assert "grading process died" in rows["0_victim"]["problems"]
    assert "SIGKILL" in rows["0_victim"]["problems"]
    assert "0_victim" in stdout and "grader problem" in stdout  # class.txt's status
    assert "grading process died" in (out / "0_victim" / "table.txt").read_text()
    assert "\n=HYPERLINK" not in (out / "class.csv").read_text()
    assert (out / "=HYPERLINK(evil)" / "report.json").is_file()
    # Not fingerprinted: the next run grades the victim again (here without dying).
    assert victim["fingerprint"] == ""


@pytest.mark.slow
def test_ctrl_c_stops_at_once_and_leaves_no_interrupted_report(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while a slow
    student is being graded, notebooks and gradebook included: exit 130 within seconds
    (the slow student would take 20 s), no report carries an interruption, and the next
    run grades exactly the students not finished."""
    klass = tmp_path / "class"
    write_base("stubs", klass / "a_first")
    _slow_package(klass / "b_slow", 20)
    write_base("stubs", klass / "c_last")
    out = tmp_path / "out"
    process = _grade_all_process(klass, out, "--timeout", "60")
    try:
        deadline = time.monotonic() + 300
        while not (out / "a_first" / "report.json").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no student finished in 300 s"
            time.sleep(0.05)
        time.sleep(1.0)  # b_slow is now importing its package (20 s)
        os.killpg(process.pid, signal.SIGINT)
        # A hang guard well under b_slow's 20 s: waiting for it would fail here.
        _, stderr = process.communicate(timeout=8)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert sorted(kept_seconds(out)) == ["a_first"]
    for path in out.glob("*/*"):
        if path.suffix in (".json", ".txt", ".md"):
            assert "KeyboardInterrupt" not in path.read_text(), path
    assert csv_students(out) == ["a_first"]
    deadline = time.monotonic() + 20  # no grading process or sandbox outlives grade-all
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_processes(process.pid) == []

    first = kept_seconds(out)["a_first"]
    results = grade_all(klass, out, jobs=1, isolation=ISOLATION, timeout=60, progress=False)
    assert [r.name for r in results] == ["a_first", "b_slow", "c_last"]
    assert kept_seconds(out)["a_first"] == first  # not graded again
    assert results[1].points == PACKAGE and not results[1].problems


def test_class_csv_escapes_formula_cells():
    """OWASP's rule: a text cell starting with = + - @ tab or CR gets a leading quote."""
    names = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "\tt", "\rr", "plain"]
    results = [SubmissionResult(n, n, "isolation: test", [], problems=["=cmd|' /C calc'!A0"])
               for n in names]  # fmt: skip
    for r in results:
        assert report.csv_safe(r.name) in ("'" + r.name, "plain")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "class.csv"
        report.class_csv(results, path)
        with path.open(newline="") as handle:  # no newline translation: "\r" stays
            rows = list(csv.DictReader(handle))
    students = [row["student"] for row in rows if row["student"] != report.MAXIMUM_ROW]
    assert students == ["'" + n for n in names[:-1]] + ["plain"]
    assert all(not row["problems"].startswith(("=", "+", "-", "@")) for row in rows)
    assert report.csv_safe(-2.0) == -2.0  # numbers are numbers


def test_an_interruption_swallowed_by_nbgrader_writes_no_report(tmp_path, monkeypatch):
    """nbgrader catches what interrupts its autograde and returns the traceback as text:
    grade-all must still stop before writing that student's reports."""
    from autograder import cli, gradebook

    def interrupted(course, student, lessons, notebooks):
        cli._on_interrupt_flag_only()  # what the SIGINT handler records, as Ctrl-C would
        raise RuntimeError("nbgrader autograde failed: Traceback ...\nKeyboardInterrupt")

    monkeypatch.setattr(gradebook, "record", interrupted)
    submission = write_base("stubs", tmp_path / "class" / "ann")
    result = SubmissionResult("ann", str(submission), "isolation: test", [], fingerprint="f")
    result.notebooks = {"notebooks": {"00": {"submitted": True, "cells": {}}}}
    try:
        with pytest.raises(KeyboardInterrupt):
            cli._finish(result, submission, tmp_path / "out", tmp_path / "course")
    finally:
        cli._INTERRUPTED = False
    assert not (tmp_path / "out" / "ann").exists()


def test_a_folder_named_like_the_maxima_row_is_refused(tmp_path):
    (tmp_path / "class" / report.MAXIMUM_ROW).mkdir(parents=True)
    with pytest.raises(RuntimeError, match="rename it"):
        grade_all(tmp_path / "class", tmp_path / "out", isolation=ISOLATION, progress=False)
