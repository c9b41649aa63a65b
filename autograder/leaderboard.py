"""The class challenge's leaderboard: every student ranked, as CSV and as a Markdown table.

Ranked by test accuracy (higher first), then training CPU seconds (fewer first), then name;
both compared as shown (accuracy in percent to 0.01, which is exact on 10,000 test images;
seconds to 0.1), so two rows that read the same share a rank ("1, 2, 2, 4"). A student
without a test accuracy (no recipe, refused, failed, not run) comes last, unranked, with
why. ``grade-all --assignment challenge`` rewrites both files as students finish.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import challenge_report
from .mdtext import escape
from .report import _points, csv_safe, write_text
from .results import SubmissionResult

CSV = "leaderboard.csv"
MARKDOWN = "leaderboard.md"
COLUMNS = (
    "rank",
    "student",
    "test_accuracy",
    "training_seconds",
    "epochs",
    "scored_epoch",
    "points",
    "status",
)


@dataclass(frozen=True)
class Entry:
    """One student's row: rank None when unranked (no test accuracy)."""

    rank: int | None
    student: str
    accuracy: float | None  # test accuracy in percent, 2 decimals
    seconds: float | None  # training CPU seconds to the scored epoch's end, 1 decimal
    epochs: int | None  # epochs the run completed
    scored_epoch: int | None  # 1-based epoch whose weights were tested
    points: float
    max_points: float
    status: str  # "scored", or the run's state and why it was not scored


def _count(challenge: dict | None, key: str) -> int | None:
    value = challenge.get(key) if isinstance(challenge, dict) else None
    return challenge_report._count(value)


def entries(results: Sequence[SubmissionResult]) -> list[Entry]:
    """Every result as a leaderboard row, ranked ones first in rank order."""
    rows = []
    for r in results:
        challenge = r.challenge
        rows.append(
            Entry(
                None,
                r.name,
                challenge_report.accuracy_percent(challenge),
                challenge_report.training_seconds(challenge),
                _count(challenge, "epochs_done"),
                _count(challenge, "scored_epoch"),
                r.points,
                r.max_points,
                challenge_report.status(challenge),
            )
        )
    ranked = sorted(
        (e for e in rows if e.accuracy is not None),
        key=lambda e: (-e.accuracy, math.inf if e.seconds is None else e.seconds, e.student),
    )
    out: list[Entry] = []
    for index, entry in enumerate(ranked):
        previous = out[-1] if out else None
        tied = previous is not None and (previous.accuracy, previous.seconds) == (
            entry.accuracy,
            entry.seconds,
        )
        rank = previous.rank if tied else index + 1
        out.append(replace(entry, rank=rank))
    unranked = sorted((e for e in rows if e.accuracy is None), key=lambda e: e.student)
    return out + unranked


def _blank(value: object) -> object:
    return "" if value is None else value


def to_csv(rows: Sequence[Entry]) -> str:
    """``leaderboard.csv``: COLUMNS, test accuracy in percent, every cell through csv_safe."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(COLUMNS)
    for e in rows:
        cells = (e.rank, e.student, e.accuracy, e.seconds, e.epochs, e.scored_epoch, e.points,
                 e.status)  # fmt: skip
        writer.writerow([csv_safe(_blank(cell)) for cell in cells])
    return handle.getvalue()


def to_markdown(rows: Sequence[Entry]) -> str:
    """``leaderboard.md``: a title, how the ranks are made, and one GFM table row per student."""
    lines = [
        "# Class challenge leaderboard",
        "",
        f"Ranked by test accuracy on the {challenge_report.TEST_IMAGES} test images (higher "
        "first), then by training CPU seconds to the end of the scored epoch (fewer first); "
        "rows equal on both share a rank. Students without a test accuracy come last, "
        "unranked, with the reason.",
        "",
        "| rank | student | test accuracy | training CPU s | epochs | scored epoch | points "
        "| status |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for e in rows:
        accuracy = f"{e.accuracy:.2f}%" if e.accuracy is not None else "-"
        seconds = f"{e.seconds:.1f}" if e.seconds is not None else "-"
        points = f"{_points(e.points)}/{_points(e.max_points)}"
        cells = [
            str(e.rank) if e.rank is not None else "-",
            escape(e.student, 80),
            accuracy,
            seconds,
            str(_blank(e.epochs)) or "-",
            str(_blank(e.scored_epoch)) or "-",
            points,
            escape(e.status, 200),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(results: Sequence[SubmissionResult], folder: str | Path) -> Path:
    """Write ``leaderboard.csv`` and ``leaderboard.md`` in ``folder`` atomically; the .md path."""
    folder = Path(folder)
    rows = entries(results)
    write_text(folder / CSV, to_csv(rows))
    write_text(folder / MARKDOWN, to_markdown(rows))
    return folder / MARKDOWN
