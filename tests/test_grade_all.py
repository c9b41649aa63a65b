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


def csv_students(out: Path) -> list[str]:
    return [row["student"] for row in csv.DictReader((out / "class.csv").open())]


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
    assert lines[1].startswith(names[0] + "  ") and lines[2].startswith("bo ")
    # The columns stay aligned: every row's first score starts where the header's does.
    column = lines[0].index("0.1") - 2
    assert {line[column - 1] for line in lines[:3]} == {" "}


def _session_processes(session: int) -> list[int]:
    """Processes still in the process group ``session`` (grade-all and its pool)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == session and fields[0] != "Z":
                found.append(int(entry.name))
    return found


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
