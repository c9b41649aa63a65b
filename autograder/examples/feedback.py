"""How much of the bug catalogue gets feedback that names the cause? Prints the share.

    python -m autograder.examples.feedback [--verbose]

Runs the public and hidden checks on every catalogued bug (in-process pytest, as the bug
catalogue test does; the messages are those the grader shows: ``str()`` of the failed
assertion) and looks for the bug's ``CAUSES`` phrases in the messages of the checks it
fails. A bug whose feedback only says that numbers differ does not count.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from autograder.examples.bugs import BUGS, CAUSES, Bug
from autograder.examples.build import build_example_submissions
from autograder.examples.run import CheckRun, run_checks_many


def names_cause(entry: Bug, run: CheckRun) -> bool:
    """Whether a failing check of an exercise ``entry`` loses quotes one of its cause phrases."""
    phrases = [phrase.lower() for phrase in CAUSES.get(entry.name, ())]
    messages = [
        (test.get("message") or "").lower()
        for test in run.tests
        if test["outcome"] != "passed" and test["exercise"] in entry.loses
    ]
    return any(phrase in message for phrase in phrases for message in messages)


def share_naming_the_cause(runs: dict[str, CheckRun]) -> tuple[float, list[str]]:
    """(share of BUGS whose feedback names the cause, names of those whose does not)."""
    missing = [entry.name for entry in BUGS if not names_cause(entry, runs[entry.name])]
    return 1 - len(missing) / len(BUGS), missing


def main() -> None:
    """Run the checks on every catalogued bug; print the share whose feedback names its cause."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print each bug's verdict")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="npn-feedback-") as scratch:
        build_example_submissions(Path(scratch))
        runs = run_checks_many([Path(scratch) / entry.name for entry in BUGS], timeout=1800)
    share, missing = share_naming_the_cause(runs)
    if args.verbose:
        for entry in BUGS:
            verdict = "names the cause" if entry.name not in missing else "MISSING"
            print(f"{entry.name:<40} {verdict}")
    print(
        f"feedback names the cause for {len(BUGS) - len(missing)} of {len(BUGS)} catalogued "
        f"bugs ({share:.0%})" + (f"; not for: {', '.join(missing)}" if missing else "")
    )


if __name__ == "__main__":
    main()
