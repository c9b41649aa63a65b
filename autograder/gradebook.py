"""A real nbgrader course for a class: gradebook, autograded notebooks, hand grading.

``grade-all --out DIR`` keeps the course in ``DIR/nbgrader/`` across runs: one nbgrader
assignment per lesson of the graded assignment (``02_softmax_cross_entropy`` holds that
notebook alone), so formgrader and ``nbgrader export`` show each lesson out of its own
points; a lab's course (``--assignment lab``) holds lesson 06 only. For each student the
trusted grader's notebook results (autograder/notebooks.py) are written into it by
nbgrader's own ``autograde`` with two changes: its ``Execute`` step, which would run the
notebook in a kernel, is replaced by :class:`ReplayResults`, which writes the trusted
results into the test cells' outputs; and the hidden-test lines are cleared from the kept
autograded notebooks (nbgrader's ``ClearHiddenTests``, after scoring), so that nothing
nbgrader renders from them (``generate_feedback``) shows a hidden test. nbgrader does the
rest as usual: test cells overwritten from the instructor's source (deleted ones added
back), scores saved, the derivation cell marked for hand grading. No student code runs.

The instructor grades in formgrader (``python -m autograder formgrader --out DIR``:
autograder/formgrader.py); the next ``grade-all`` reads back (:func:`read_manual`) every
hand-given score, each override of an autograded cell's score, extra credit and the
comments, into the class CSV, reports, feedback and Gradescope file, without re-grading
anyone whose work is unchanged.
"""

from __future__ import annotations

import contextlib
import filecmp
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Dict

from . import exercises
from .nbgrader_course import (
    COURSE_ID,
    SOURCE_LESSONS,
    _bin_first,
    _environ,
    course_config,
    notebooks_in,
    prepare_course,
)
from .notebooks import MAX_NOTEBOOK_BYTES
from .roster import student_id

CONFIG = """\
# Written by `python -m autograder grade-all`: run nbgrader's tools here; formgrader with
# `python -m autograder formgrader --out <the folder above this one>`.
import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # wherever it is moved
c.CourseDirectory.course_id = {course_id!r}
"""


class Unavailable(str):
    """Why no gradebook could be kept (nbgrader missing or broken): said in every report."""


class CourseMismatch(RuntimeError):
    """The kept course was made from other source lessons than today's."""


def layout(assignment: str = "course", source: Path = SOURCE_LESSONS) -> dict[str, list[str]]:
    """The nbgrader assignments of a grade-all ``assignment``: one per lesson notebook.

    ``{"02_softmax_cross_entropy": ["02_softmax_cross_entropy.ipynb"], ...}``, the lessons
    that ``exercises.in_assignment`` puts in ``assignment``.
    """
    return {
        path.stem: [path.name]
        for path in notebooks_in(source)
        if exercises.in_assignment(path.stem, assignment)
    }


def ensure_course(course: Path, assignment: str = "course", source: Path = SOURCE_LESSONS) -> Path:
    """The course of ``assignment`` at ``course``: created the first time, then reused.

    Raises CourseMismatch when it exists but was generated from different lessons (or for
    another assignment): its gradebook holds hand-given points that a silent regeneration
    could lose.
    """
    course = course.resolve()
    wanted = layout(assignment, source)
    if (course / "gradebook.db").is_file():
        folders = [p for p in (course / "source").iterdir() if p.is_dir()]
        kept = {folder.name: sorted(p.name for p in notebooks_in(folder)) for folder in folders}
        same = kept == {name: sorted(names) for name, names in wanted.items()} and all(
            filecmp.cmp(source / name, course / "source" / folder / name, shallow=False)
            for folder, names in wanted.items()
            for name in names
        )
        if not same:
            raise CourseMismatch(
                f"{course} was made from other source lessons, for another --assignment or by an "
                f"older grader than {source} with --assignment {assignment}; grade into a new "
                "--out folder, "
                "or delete that one if its hand grading is not needed"
            )
        return course
    prepare_course(course, source, wanted)
    (course / "nbgrader_config.py").write_text(CONFIG.format(course_id=COURSE_ID))
    return course


def register(course: Path, people: Mapping[str, Mapping[str, str]]) -> None:
    """Add or update the course's students: ``{gradebook id: {first_name, last_name, email}}``.

    What nbgrader shows in formgrader and writes in ``nbgrader export`` (the LMS columns).
    """
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        for student, fields in people.items():
            known = {k: v for k, v in fields.items() if k in ("first_name", "last_name", "email")}
            gradebook.update_or_create_student(student, **{k: v or None for k, v in known.items()})


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
    and autograded notebooks, so that the derivation can be read and graded by hand. A
    notebook not (or no longer) submitted has no submission in its lesson's assignment.
    """
    results: dict[str, dict[str, Any]] = {}
    submitted: list[str] = []
    for name, notebook in (report.get("notebooks") or {}).items():
        folder = course / "submitted" / student / name
        if folder.exists():
            shutil.rmtree(folder)
        path = lessons / f"{name}.ipynb"
        readable = path.is_file() and path.stat().st_size <= MAX_NOTEBOOK_BYTES
        if not (notebook.get("submitted") and readable):
            _forget(course, student, name)
            continue
        folder.mkdir(parents=True)
        shutil.copyfile(path, folder / path.name)
        submitted.append(name)
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
        for name in submitted:
            outcome = api.autograde(name, student, force=True, create=True)
            if not outcome.get("success"):
                raise RuntimeError(
                    f"nbgrader autograde of {name} failed for {student}: {outcome.get('error')}"
                )
    return read_manual(course, student, report)


def holds(course: Path, student: str, report: dict[str, Any]) -> bool:
    """Whether the course holds every submitted notebook of ``report`` for ``student``.

    Not so when the course folder was deleted or made anew since ``report`` was recorded:
    then the notebooks must be recorded again, whatever the report says.
    """
    return all(
        (course / "autograded" / student / name / f"{name}.ipynb").is_file()
        for name, notebook in (report.get("notebooks") or {}).items()
        if notebook.get("submitted")
    )


def _forget(course: Path, student: str, assignment: str) -> None:
    """No submission of ``student`` to ``assignment`` in the gradebook or the course folders."""
    from nbgrader.api import Gradebook, MissingEntry

    database = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(database, COURSE_ID) as gradebook, contextlib.suppress(MissingEntry):
        gradebook.remove_submission(assignment, student)
    for kind in ("submitted", "autograded", "feedback"):
        shutil.rmtree(course / kind / student / assignment, ignore_errors=True)


def _replay_pipeline() -> list:
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearHiddenTests,
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
        # After scoring: the kept autograded notebooks (what formgrader shows and nbgrader's
        # generate_feedback renders for students) never hold a hidden test line.
        ClearHiddenTests,
    ]


def read_manual(course: Path, student: str, report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with everything given by hand in the gradebook filled in (a new dict).

    A hand-graded cell becomes ``graded by hand`` with its points once an instructor gave
    them, ``blank`` (0 points) when nbgrader found the answer left as released, and stays
    ``needs manual grading`` (no points yet) otherwise. An autograded cell whose score the
    instructor set in formgrader takes that score (the instructor's word wins): it gets
    ``overridden: True`` and keeps the trusted grader's score in ``auto_score``. Extra
    credit on any cell goes into ``extra_credit`` (the cell's, the notebook's, the
    report's) and counts in ``manual_score`` (hand-given points); the instructor's
    comments go into each notebook's ``comments`` (``{cell grade_id: text}``). Re-reading
    a report this function returned gives the same result (it starts from ``auto_score``).
    """
    from nbgrader.api import Gradebook, MissingEntry

    updated = {**report, "notebooks": {}}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        for name, notebook in (report.get("notebooks") or {}).items():
            notebook = {**notebook, "cells": {}, "comments": {}}
            grades: dict[str, Any] = {}
            if notebook.get("submitted"):
                try:
                    found = gradebook.find_submission_notebook(name, name, student)
                except MissingEntry:
                    found = None
                if found is not None:
                    grades = {grade.name: grade for grade in found.grades}
                    notebook["comments"] = {
                        comment.name: comment.manual_comment.strip()
                        for comment in sorted(found.comments, key=lambda c: c.name)
                        if (comment.manual_comment or "").strip()
                    }
            for grade_id, cell in (report["notebooks"][name].get("cells") or {}).items():
                notebook["cells"][grade_id] = _cell(dict(cell), grades.get(grade_id))
            cells = notebook["cells"].values()
            notebook["score"] = round(sum(c.get("score") or 0.0 for c in cells if c.get("auto")), 2)
            notebook["extra_credit"] = sum(c.get("extra_credit") or 0.0 for c in cells)
            notebook["manual_score"] = notebook["extra_credit"] + sum(
                c.get("score") or 0.0 for c in cells if not c.get("auto")
            )
            updated["notebooks"][name] = notebook
    notebooks = updated["notebooks"].values()
    for key in ("score", "manual_score", "extra_credit"):
        updated[key] = round(sum(nb[key] for nb in notebooks), 2)
    return updated


def _cell(cell: dict[str, Any], grade: Any) -> dict[str, Any]:
    """One grade cell of a report with its gradebook entry's hand-given values applied."""
    cell.pop("extra_credit", None)
    if cell.get("auto"):
        trusted = cell.setdefault("auto_score", cell.get("score"))
        cell["score"], cell["overridden"] = trusted, False
        if grade is not None and grade.manual_score is not None:
            cell["score"], cell["overridden"] = float(grade.manual_score), True
    elif grade is not None:
        if grade.manual_score is not None:
            cell.update(score=float(grade.manual_score), status="graded by hand")
        elif not grade.needs_manual_grade and grade.auto_score is not None:
            cell.update(score=float(grade.auto_score), status="blank")
        else:
            cell.update(score=None, status="needs manual grading")
    if grade is not None and grade.extra_credit:
        cell["extra_credit"] = float(grade.extra_credit)
    return cell


def course_folder(out: Path) -> Path:
    """Where grade-all keeps the nbgrader course under its ``--out`` folder."""
    return out / "nbgrader"


__all__ = [
    "CourseMismatch",
    "Unavailable",
    "ReplayResults",
    "course_folder",
    "ensure_course",
    "holds",
    "layout",
    "read_manual",
    "record",
    "register",
    "student_id",
]
