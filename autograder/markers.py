"""The markers of the single source: solution regions in code, hidden tests in notebooks.

One home for them, read by the release (which strips them) and by the notebook grader
(which keeps hidden-test lines out of what students see).
"""

from __future__ import annotations

from dataclasses import dataclass

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


class ReleaseError(Exception):
    """The sources are inconsistent with the catalogue (or unparsable): nothing is written."""


# --------------------------------------------------------------------------------------
# Marker regions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """Lines ``begin``..``end`` (0-based, inclusive, markers included) of a marked region."""

    begin: int
    end: int
    indent: str


def find_regions(
    lines: list[str], begin: str = BEGIN_SOLUTION, end: str = END_SOLUTION, where: str = "?"
) -> list[Region]:
    """The ``begin``/``end`` marker regions of ``lines``; unbalanced markers raise ReleaseError."""
    regions: list[Region] = []
    start: int | None = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped == begin:
            if start is not None:
                raise ReleaseError(f"{where}:{number + 1}: nested {begin!r}")
            start = number
        elif stripped == end:
            if start is None:
                raise ReleaseError(f"{where}:{number + 1}: {end!r} without {begin!r}")
            indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
            regions.append(Region(start, number, indent))
            start = None
        elif begin in line or end in line:
            # A marker sharing its line with code would silently survive the release.
            raise ReleaseError(f"{where}:{number + 1}: marker must stand alone on its line")
    if start is not None:
        raise ReleaseError(f"{where}:{start + 1}: {begin!r} without {end!r}")
    return regions


def region_text(text: str, begin: str = BEGIN_SOLUTION, end: str = END_SOLUTION) -> list[str]:
    """The lines strictly inside each region of ``text`` (markers excluded)."""
    lines = text.splitlines()
    inside: list[str] = []
    for region in find_regions(lines, begin, end):
        inside.extend(lines[region.begin + 1 : region.end])
    return inside
