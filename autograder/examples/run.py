"""Run the public and hidden checks IN-PROCESS against one submission (a pytest subprocess).

This is the local, UNSANDBOXED twin of grading, used to validate the checks themselves on
the example submissions (trusted code): ``nn`` is ``import numpynet`` with the submission
first on the path. Student submissions go through ``python -m autograder grade`` instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.paths import ROOT

CHECKS = (ROOT / "autograder" / "public", ROOT / "autograder" / "hidden")


@dataclass(frozen=True)
class CheckRun:
    """The outcomes of one in-process run of the checks against one submission."""

    numpynet: str | None  # the package file the checks imported
    exercises: dict[str, dict[str, int]]  # id -> {"passed", "failed", "not_started"}
    tests: list[dict]
    returncode: int
    output: str

    @property
    def lost(self) -> set[str]:
        """Exercises with at least one check not passed."""
        return {ex for ex, n in self.exercises.items() if n["failed"] or n["not_started"]}

    @property
    def not_started(self) -> set[str]:
        """Exercises whose every check failed with NotImplementedError."""
        return {
            ex
            for ex, n in self.exercises.items()
            if n["not_started"] and not n["failed"] and not n["passed"]
        }


def pytest_args(report: Path, *extra: str) -> list[str]:
    """Arguments of one pytest run of the checks, writing outcomes to ``report``."""
    return [
        *map(str, CHECKS),
        "-p",
        "no:cacheprovider",
        "-p",
        "hypothesis.extra.pytestplugin",
        "-p",
        "autograder.examples.outcomes",
        f"--outcomes-json={report}",
        "--import-mode=importlib",
        "-q",
        "--tb=line",
        f"--rootdir={ROOT}",
        *extra,
    ]


def _environment(pythonpath: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = pythonpath
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Only the plugins the checks need: entry-point plugins (anyio, ...) cost seconds.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def _load(report: Path, returncode: int, output: str) -> CheckRun:
    if not report.exists():
        raise RuntimeError(f"the checks did not run:\n{output}")
    data = json.loads(report.read_text())
    return CheckRun(data["numpynet"], data["exercises"], data["tests"], returncode, output)


def run_checks(submission: Path | str, *extra: str, timeout: float = 300) -> CheckRun:
    """Run public + hidden checks in a fresh pytest process, ``<submission>/numpynet`` first."""
    submission = Path(submission).resolve()
    with tempfile.TemporaryDirectory(prefix="checks-") as scratch:
        report = Path(scratch) / "outcomes.json"
        # The submission first; nothing else of the checkout (its ./numpynet are the stubs).
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *pytest_args(report, *extra)],
            cwd=scratch,
            env=_environment(str(submission)),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return _load(report, done.returncode, done.stdout + done.stderr)


def run_checks_many(submissions: list[Path], timeout: float = 600) -> dict[str, CheckRun]:
    """``run_checks`` for several submissions in ONE process (start-up paid once).

    The process runs pytest once per submission, forgetting the previous ``numpynet``
    modules in between (see ``_batch``). Keys are the submissions' folder names.
    """
    folders = [Path(folder).resolve() for folder in submissions]
    with tempfile.TemporaryDirectory(prefix="checks-") as scratch:
        done = subprocess.run(
            [sys.executable, "-m", "autograder.examples.run", scratch, *map(str, folders)],
            cwd=scratch,
            env=_environment(""),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        runs = {}
        for index, folder in enumerate(folders):
            output = Path(scratch, f"{index}.txt")
            text = output.read_text() if output.exists() else done.stdout + done.stderr
            code = Path(scratch, f"{index}.rc")
            returncode = int(code.read_text()) if code.exists() else done.returncode
            runs[folder.name] = _load(Path(scratch, f"{index}.json"), returncode, text)
        return runs


def _batch(out: Path, folders: list[str]) -> None:
    import contextlib
    import io

    import pytest

    for index, folder in enumerate(folders):
        for name in [m for m in sys.modules if m == "numpynet" or m.startswith("numpynet.")]:
            del sys.modules[name]
        sys.path.insert(0, folder)
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                code = pytest.main(pytest_args(out / f"{index}.json"))
        finally:
            sys.path.remove(folder)
        (out / f"{index}.txt").write_text(buffer.getvalue())
        (out / f"{index}.rc").write_text(str(int(code)))


if __name__ == "__main__":
    _batch(Path(sys.argv[1]), sys.argv[2:])
