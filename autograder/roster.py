"""Who is who in the gradebook: one nbgrader student id per submission folder, never shared.

A folder's id is its name with accents folded to ASCII and anything but letters, digits,
``_`` and ``-`` replaced by ``_`` (:func:`student_id`). That is not injective: ``jane.doe``
and ``jane_doe`` (or ``Jane_Doe``, or ``jané_doe``) would be one gradebook row, one hand
grade for two students. So :func:`identities` refuses any two folders whose ids are equal
ignoring case, naming both, unless a roster gives each its own id.

The roster (``grade-all --roster students.csv``) is a CSV with a header: ``folder``
(the submission folder's name, required), ``id`` (the gradebook id; derived from the
folder when empty), ``first_name``, ``last_name``, ``email`` (optional: nbgrader shows
them in formgrader and writes them in ``nbgrader export``, the columns an LMS import
matches on). Other columns are ignored.

The mapping grade-all used is kept in ``DIR/students.csv`` (same columns) and must stay
stable: a later run that would give a known folder another id, or a known id to another
folder (whose gradebook row holds the first student's hand grades), is refused.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

COLUMNS = ("folder", "id", "first_name", "last_name", "email")
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
VALID_ID = re.compile(r"^[A-Za-z0-9_-]+$")
MAPPING = "students.csv"  # the kept mapping, in grade-all's --out folder


class IdentityError(RuntimeError):
    """Two submissions would share a gradebook id, or a roster is unusable."""


@dataclass(frozen=True)
class Student:
    """One submission folder and who it is: the gradebook id and what an LMS matches on."""

    folder: str
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""


def student_id(name: str) -> str:
    """The nbgrader student id derived from a folder name (ASCII letters, digits, _ and -)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return UNSAFE.sub("_", folded) or "student"


def read_roster(path: Path) -> dict[str, Student]:
    """``{folder: Student}`` from a roster CSV (see the module docstring for its columns)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise IdentityError(f"roster {path}: {error}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if "folder" not in (reader.fieldnames or []):
        raise IdentityError(f"roster {path}: no 'folder' column (columns: {', '.join(COLUMNS)})")
    students: dict[str, Student] = {}
    for line, row in enumerate(reader, start=2):
        values = {key: (row.get(key) or "").strip() for key in COLUMNS}
        if not values["folder"]:
            raise IdentityError(f"roster {path}, line {line}: empty folder")
        if values["folder"] in students:
            raise IdentityError(f"roster {path}, line {line}: folder {values['folder']!r} twice")
        values["id"] = values["id"] or student_id(values["folder"])
        if not VALID_ID.match(values["id"]):
            raise IdentityError(
                f"roster {path}, line {line}: id {values['id']!r} is not a valid nbgrader id "
                "(letters, digits, _ and - only)"
            )
        students[values["folder"]] = Student(**values)
    return students


def identities(
    folders: Iterable[str],
    roster: Mapping[str, Student] | None = None,
    kept: Mapping[str, Student] | None = None,
) -> dict[str, Student]:
    """``{folder: Student}`` for every folder, each with its own gradebook id.

    The roster's entry, else the kept one, else an id derived from the name. Raises
    IdentityError, naming both folders, when two would share an id (ignoring case:
    ``Jane`` and ``jane`` are one folder on some file systems) or when the mapping
    ``kept`` from earlier runs would change.
    """
    roster, kept = roster or {}, kept or {}
    chosen = {
        folder: roster.get(folder) or kept.get(folder) or Student(folder, student_id(folder))
        for folder in folders
    }
    owners: dict[str, str] = {}
    for student in [*kept.values(), *chosen.values()]:
        key = student.id.casefold()
        other = owners.setdefault(key, student.folder)
        if other != student.folder:
            raise IdentityError(
                f"submission folders {other!r} and {student.folder!r} would both be gradebook "
                f"student {student.id!r} (one row, one hand grade for two students); rename one "
                "folder, or give each its own id in a roster: grade-all --roster students.csv "
                f"with columns {','.join(COLUMNS)}"
            )
    for folder, student in chosen.items():
        before = kept.get(folder)
        if before is not None and before.id != student.id:
            raise IdentityError(
                f"submission folder {folder!r} was gradebook student {before.id!r} in earlier "
                f"runs and would now be {student.id!r}: its hand grades stay with the old id; "
                f"to change it on purpose, edit the kept mapping ({MAPPING} in the --out folder)"
            )
    return chosen


def read_kept(out: Path) -> dict[str, Student]:
    """The mapping kept in ``out`` by earlier runs (empty when there is none)."""
    path = Path(out) / MAPPING
    return read_roster(path) if path.is_file() else {}


def write_kept(out: Path, students: Mapping[str, Student]) -> Path:
    """Write (merge into) the kept mapping ``out/students.csv``; returns its path."""
    merged = {**read_kept(out), **students}
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=COLUMNS)
    writer.writeheader()
    for folder in sorted(merged):
        writer.writerow(asdict(merged[folder]))
    path = Path(out) / MAPPING
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(handle.getvalue(), encoding="utf-8")
    temporary.replace(path)
    return path


__all__ = [
    "COLUMNS",
    "IdentityError",
    "MAPPING",
    "Student",
    "identities",
    "read_kept",
    "read_roster",
    "student_id",
    "write_kept",
]
