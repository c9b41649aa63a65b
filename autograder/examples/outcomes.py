"""A pytest plugin that writes each check's outcome, grouped by exercise, as JSON.

Usage: ``pytest -p autograder.examples.outcomes --outcomes-json out.json autograder/public``.
The file holds ``{"numpynet": <file of the package tested>, "tests": [{"nodeid",
"exercise", "outcome", "error_type", "message"}], "exercises": {id: {"passed": n, "failed": n,
"not_started": n}}}``; outcome is "passed", "failed", "not-started" (NotImplementedError)
or "error" (outside the test body); "message" is ``str()`` of the exception, what the grader
shows a student for a failed assertion.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autograder import exercises


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--outcomes-json``."""
    parser.addoption("--outcomes-json", default=None, help="write per-exercise outcomes here")


class Recorder:
    """The plugin's state: each check's exercise, outcome and error, written at session end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tests: dict[str, dict] = {}
        self.exercise: dict[str, str | None] = {}
        self.error_type: dict[str, str] = {}
        self.message: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Note each check's exercise marker (None when it has none)."""
        for item in items:
            ids = [m.name for m in item.iter_markers() if m.name in exercises.BY_ID]
            self.exercise[item.nodeid] = ids[0] if ids else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        """Keep the type and ``str()`` of the exception a phase raised."""
        report = yield
        if call.excinfo is not None:
            self.error_type[item.nodeid] = call.excinfo.typename
            self.message[item.nodeid] = str(call.excinfo.value)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Record a check's outcome from its call phase, or from any phase that failed."""
        if report.when != "call" and not report.failed:
            return
        if report.failed:
            status = dict(report.user_properties).get("status")
            outcome = (
                "not-started"
                if status == "not-started"
                else ("failed" if report.when == "call" else "error")
            )
        else:
            outcome = report.outcome  # passed or skipped
        previous = self.tests.get(report.nodeid)
        if previous is None or previous["outcome"] == "passed":
            self.tests[report.nodeid] = {
                "nodeid": report.nodeid,
                "exercise": self.exercise.get(report.nodeid),
                "outcome": outcome,
                "error_type": self.error_type.get(report.nodeid),
                "message": self.message.get(report.nodeid, ""),
            }

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the JSON file: the package tested, every check, the counts per exercise."""
        summary: dict[str, dict[str, int]] = {
            ex.id: {"passed": 0, "failed": 0, "not_started": 0} for ex in exercises.ALL_EXERCISES
        }
        for test in self.tests.values():
            key = {"passed": "passed", "not-started": "not_started"}.get(test["outcome"], "failed")
            if test["exercise"] in summary:
                summary[test["exercise"]][key] += 1
        package = sys.modules.get("numpynet")
        data = {
            "numpynet": getattr(package, "__file__", None),
            "tests": list(self.tests.values()),
            "exercises": summary,
        }
        self.path.write_text(json.dumps(data, indent=1) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    """Register the recorder when ``--outcomes-json`` is given."""
    path = config.getoption("--outcomes-json")
    if path:
        config.pluginmanager.register(Recorder(Path(path)), "autograder-outcomes-recorder")
