"""A real nbgrader course for a class: gradebook, autograded notebooks, hand grading.

``grade-all --out DIR`` keeps the course in ``DIR/nbgrader/`` across runs. For each
student the trusted grader's notebook results (autograder/notebooks.py) are written
into it by nbgrader's own ``autograde`` with one change: its ``Execute`` step, which
would run the notebook in a kernel, is replaced by :class:`ReplayResults`, which writes
the trusted results into the test cells' outputs. nbgrader then does the rest as
usual: test cells overwritten from the instructor's source (deleted ones added back),
scores saved, the derivation cell marked for hand grading. No student code runs here.

The instructor grades the derivation in formgrader (``cd DIR/nbgrader && nbgrader
formgrader``, or any nbgrader tool: the folder holds an ``nbgrader_config.py``); the next
``grade-all`` reads those hand-given points back (:func:`read_manual`) into the class
CSV, feedback and Gradescope file without re-grading anyone whose work is unchanged.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Dict

from .nbgrader_course import (
    ASSIGNMENT,
    COURSE_ID,
    SOURCE_LESSONS,
    _bin_first,
    _environ,
    course_config,
    notebooks_in,
    prepare_course,
)
from .notebooks import MAX_NOTEBOOK_BYTES

STUDENT_ID = re.compile(r"[^A-Za-z0-9_-]")
CONFIG = """\
# Written by `python -m autograder grade-all`: run nbgrader's tools (formgrader) here.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
"""


class Unavailable(str):
    """Why no gradebook could be kept (nbgrader missing or broken): said in every report."""


class CourseMismatch(RuntimeError):
    """The kept course was made from other source lessons than today's."""


def student_id(name: str) -> str:
    """The nbgrader student id of a submission folder's name (letters, digits, _ and -)."""
    return STUDENT_ID.sub("_", name) or "student"


def ensure_course(course: Path, source: Path = SOURCE_LESSONS) -> Path:
    """The course at ``course``: created from ``source`` the first time, then reused.

    Raises CourseMismatch when it exists but was generated from different lessons: its
    gradebook holds hand-given points that a silent regeneration could lose.
    """
    course = course.resolve()
    kept = course / "source" / ASSIGNMENT
    if (course / "gradebook.db").is_file():
        names = [p.name for p in notebooks_in(source)]
        same = sorted(names) == sorted(p.name for p in notebooks_in(kept)) and all(
            filecmp.cmp(source / name, kept / name, shallow=False) for name in names
        )
        if not same:
            raise CourseMismatch(
                f"{course} was made from other source lessons than {source}; grade into a new "
                "--out folder, or delete that one if its hand grading is not needed"
            )
        return course
    prepare_course(course, source)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course), course_id=COURSE_ID))
    return course


class ReplayResults(Preprocessor):
    """nbgrader's Execute step, replaced: test-cell outputs come from the trusted grader.

    ``results`` maps notebook name -> grade_id -> ``{"status", "failure"}``. A passed cell
    gets a line on stdout (full points), any other an error output naming the status
    and the message (zero points), which nbgrader's SaveAutoGrades scores as usual.
    """

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled
    results = Dict(help="notebook -> grade_id -> trusted result").tag(config=True)

    def preprocess(self, nb: Any, resources: dict) -> tuple[Any, dict]:
        """Give each grade cell of ``nb`` the output its trusted result calls for."""
        cells = self.results.get(resources.get("unique_key", ""), {})
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            result = cells.get(meta.get("grade_id"), {"status": "error", "failure": "not graded"})
            if result.get("status") == "passed":
                text = "passed (trusted grader)\n"
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
            else:
                message = str(result.get("failure") or result.get("status"))
                cell.outputs = [
                    nbformat.v4.new_output(
                        "error",
                        ename=str(result.get("status", "failed")),
                        evalue=message,
                        traceback=message.splitlines(),
                    )
                ]
        return nb, resources


def record(course: Path, student: str, lessons: Path, report: dict[str, Any]) -> dict[str, Any]:
    """Write one student's notebook results into the gradebook; returns ``read_manual``'s view.

    ``lessons`` is the submission's notebook folder: what nbgrader keeps as the submitted
    and autograded notebooks, so that the derivation can be read and graded by hand.
    """
    submitted = course / "submitted" / student / ASSIGNMENT
    if submitted.exists():
        shutil.rmtree(submitted)
    submitted.mkdir(parents=True)
    results: dict[str, dict[str, Any]] = {}
    for name, notebook in (report.get("notebooks") or {}).items():
        path = lessons / f"{name}.ipynb"
        readable = path.is_file() and path.stat().st_size <= MAX_NOTEBOOK_BYTES
        if notebook.get("submitted") and readable:
            shutil.copyfile(path, submitted / path.name)
        results[name] = {
            grade_id: {"status": cell.get("status"), "failure": cell.get("failure", "")}
            for grade_id, cell in (notebook.get("cells") or {}).items()
            if cell.get("auto")
        }
    config = course_config(course)
    config.Autograde.autograde_preprocessors = _replay_pipeline()
    config.ReplayResults.results = results
    config.OverwriteCells.add_missing_cells = True  # a deleted test cell is graded all the same
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    with _environ(PATH=_bin_first(None)), warnings.catch_warnings():
        # nbgrader 0.9.6's own SQLAlchemy usage warns on every autograde; nothing is lost.
        warnings.simplefilter("ignore")
        outcome = api.autograde(ASSIGNMENT, student, force=True, create=True)
    if not outcome.get("success"):
        raise RuntimeError(f"nbgrader autograde failed for {student}: {outcome.get('error')}")
    return read_manual(course, student, report)


def _replay_pipeline() -> list:
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    return [
        ReplayResults,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]


def read_manual(course: Path, student: str, report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with the gradebook's hand-graded points filled in (a new dict).

    A hand-graded cell becomes ``graded by hand`` with its points once an instructor gave
    them, ``blank`` (0 points) when nbgrader found the answer left as released, and stays
    ``needs manual grading`` (no points yet) otherwise. Autograded cells are not touched:
    the trusted grader's scores are the scores.
    """
    from nbgrader.api import Gradebook, MissingEntry

    updated = {**report, "notebooks": {}}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        for name, notebook in (report.get("notebooks") or {}).items():
            notebook = {**notebook, "cells": dict(notebook.get("cells") or {})}
            for grade_id, cell in notebook["cells"].items():
                if cell.get("auto") or not notebook.get("submitted"):
                    continue
                try:
                    grade = gradebook.find_grade(grade_id, name, ASSIGNMENT, student)
                except MissingEntry:
                    continue
                cell = dict(cell)
                if grade.manual_score is not None:
                    cell.update(score=float(grade.manual_score), status="graded by hand")
                elif not grade.needs_manual_grade and grade.auto_score is not None:
                    cell.update(score=float(grade.auto_score), status="blank")
                notebook["cells"][grade_id] = cell
            manual = [c for c in notebook["cells"].values() if not c.get("auto")]
            notebook["manual_score"] = sum(c.get("score") or 0.0 for c in manual)
            updated["notebooks"][name] = notebook
    updated["manual_score"] = sum(nb["manual_score"] for nb in updated["notebooks"].values())
    return updated


def course_folder(out: Path) -> Path:
    """Where grade-all keeps the nbgrader course under its ``--out`` folder."""
    return out / "nbgrader"


__all__ = [
    "CourseMismatch",
    "Unavailable",
    "ReplayResults",
    "course_folder",
    "ensure_course",
    "read_manual",
    "record",
    "student_id",
]
