"""nbgrader glue: the course folder, reproducible student notebooks, and plain nbgrader runs.

Here a course has ONE assignment, ``lessons``, holding every notebook of ``solutions/lessons``
(the gradebook grade-all keeps gives each lesson its own: ``prepare_course``'s ``layout``).

* ``release_notebooks(source)``: the student notebooks (``generate_assignment``), normalised
  so that releasing twice gives the same bytes (used by ``autograder.release``).
* ``prepare_course`` / ``course_config``: a course folder and its configuration, shared with
  the gradebook that ``grade-all`` keeps (autograder/gradebook.py).
* ``autograde_submission(submission)``: plain ``nbgrader autograde`` in kernels, as a
  home-made nbgrader set-up would grade. It is NOT how the course grades (student cells
  share a kernel with the tests there, so a notebook can rewrite them: see
  autograder/notebooks.py for the trusted way). It stays as the proof that the lessons work
  under stock nbgrader, which is what students' ``nbgrader validate`` runs, and as the
  benchmark's peer (benchmarks/grading.py).

nbgrader traps handled here: the gradebook is created by running ``alembic`` from PATH (the
interpreter's bin folder goes first); the kernel's cwd is the notebook's folder, so the
package under test is found through PYTHONPATH only; autograde copies non-notebook source
files over the student's unless ``Autograde.exclude_overwriting`` lists them; a test cell
that writes to stderr scores 0 (nbgrader's rule; we report the text as the failure).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat

from . import exercises
from .markers import BEGIN_HIDDEN, END_HIDDEN, region_text
from .paths import ROOT, SOURCE_LESSONS

ASSIGNMENT = "lessons"
COURSE_ID = "numpynet"
DEFAULT_STUDENT = "student"
FAILURE_LIMIT = 2000  # characters of failure text kept per cell
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXERCISE_IN_GRADE_ID = re.compile(r"(?:^|_)(ex\d+_\d+)(?:_|$)")  # test_ex2_1_softmax -> ex2_1
STUDENT_ID = re.compile(r"^[A-Za-z0-9_-]+$")


# --------------------------------------------------------------------------------------
# Course folder and nbgrader configuration
# --------------------------------------------------------------------------------------


def course_config(course: Path, timeout: int = 120) -> Any:
    """The traitlets Config of a course rooted at ``course`` (no nbgrader_config.py needed)."""
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.Exchange.root = str(course / "exchange")  # unused; silences the default's warning
    # Our source folder holds notebooks only; should it ever hold data files, the student's
    # copies of them must survive autograde (nbgrader copies source files over them).
    sources = course / "source"
    config.Autograde.exclude_overwriting = {
        folder.name: sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.suffix != ".ipynb"
        )
        for folder in (sorted(sources.iterdir()) if sources.is_dir() else [])
        if folder.is_dir()
    }
    config.Execute.timeout = timeout
    # Startup of a fresh kernel on a loaded 2-core machine can exceed the 60 s default.
    config.Execute.startup_timeout = 120
    return config


@contextlib.contextmanager
def _environ(**changes: str) -> Iterator[None]:
    """Temporarily set environment variables in this process (restored afterwards)."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _bin_first(path: str | None) -> str:
    """PATH with this interpreter's bin folder first (nbgrader runs ``alembic`` from PATH)."""
    bin_dir = str(Path(sys.executable).parent)
    return os.pathsep.join([bin_dir, *(path.split(os.pathsep) if path else [])])


def _api(course: Path, timeout: int = 120) -> Any:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = course_config(course, timeout)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _check(result: Mapping[str, Any], what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(
            f"nbgrader {what} failed:\n{result.get('log', '')}{result.get('error', '')}"
        )


def notebooks_in(folder: Path) -> list[Path]:
    """The lesson notebooks of ``folder``, sorted (checkpoints excluded)."""
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


def prepare_course(
    course: Path,
    source: Path = SOURCE_LESSONS,
    layout: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Create the course's source assignments from ``source``; run ``generate_assignment``.

    ``layout`` maps nbgrader assignment names to the notebook names (``02_x.ipynb``) each
    holds; by default one assignment, ``lessons``, holds every notebook of ``source``.
    Returns ``course/release`` (the student notebooks as nbgrader wrote them, one folder
    per assignment).
    """
    notebooks = notebooks_in(source)
    if not notebooks:
        raise FileNotFoundError(f"no source notebooks in {source}")
    if layout is None:
        layout = {ASSIGNMENT: [p.name for p in notebooks]}
    for assignment, names in layout.items():
        assignment_source = course / "source" / assignment
        assignment_source.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(source / name, assignment_source / name)
    with _environ(PATH=_bin_first(os.environ.get("PATH"))):
        api = _api(course)
        for assignment in layout:
            _check(
                api.generate_assignment(assignment, force=True, create=True), "generate_assignment"
            )
    return course / "release"


# Generated courses by content of their source notebooks, for the life of this process:
# generating costs seconds (nbgrader runs `alembic heads` in a subprocess to stamp a new
# gradebook), and every submission of a class shares the same generated assignment.
_TEMPLATES: dict[str, Path] = {}
_TEMPLATES_LOCK = threading.Lock()


def course_template(source: Path = SOURCE_LESSONS) -> Path:
    """A generated course (source, release, gradebook) for ``source``; do not modify it."""
    digest = hashlib.sha256()
    for path in notebooks_in(source):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    key = digest.hexdigest()
    with _TEMPLATES_LOCK:
        course = _TEMPLATES.get(key)
        if course is None or not (course / "gradebook.db").is_file():
            holder = Path(tempfile.mkdtemp(prefix="numpynet-course-"))
            atexit.register(shutil.rmtree, holder, True)
            course = holder / "course"
            prepare_course(course, source)
            _TEMPLATES[key] = course
    return course


# --------------------------------------------------------------------------------------
# Release: reproducible student notebooks
# --------------------------------------------------------------------------------------

# Cell metadata that records a particular run, not the lesson.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")


def normalise_notebook(data: bytes, name: str) -> bytes:
    """``data`` without anything that varies between runs: outputs, counts, timings.

    Cells without an id get one derived from the notebook name and their position, so
    that nbformat does not invent random ones.
    """
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if not cell.get("id"):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            digest = hashlib.sha1(f"{name}:{index}:{grade_id}".encode()).hexdigest()
            cell["id"] = digest[:12]
    nb.metadata.pop("widgets", None)
    return (nbformat.writes(nb, version=4) + "\n").encode("utf-8")


def release_notebooks(source: Path = SOURCE_LESSONS) -> dict[str, bytes]:
    """``{"00_setup_and_data.ipynb": bytes, ...}``: the student notebooks of ``source``.

    Always a fresh nbgrader run (no cached course): what ``release --check`` compares must
    be what nbgrader produces now.
    """
    with tempfile.TemporaryDirectory(prefix="numpynet-release-") as tmp:
        course = Path(tmp) / "course"
        released = prepare_course(course, source) / ASSIGNMENT
        names = {p.name for p in notebooks_in(course / "source" / ASSIGNMENT)}
        out = {p.name: normalise_notebook(p.read_bytes(), p.name) for p in notebooks_in(released)}
    if set(out) != names:
        raise RuntimeError(f"generate_assignment released {sorted(out)}, expected {sorted(names)}")
    return out


# --------------------------------------------------------------------------------------
# Autograde
# --------------------------------------------------------------------------------------


def _run_autograde(course: Path, student: str, timeout: int) -> dict[str, Any]:
    """In THIS process: nbgrader autograde of ``student`` (the child side of the split)."""
    result = _api(course, timeout).autograde(ASSIGNMENT, student, force=True, create=True)
    return {key: result.get(key) for key in ("success", "log", "error")}


def secret_lines(course: Path) -> set[str]:
    """What a failure text must not reveal: hidden-test and solution lines, stripped.

    Lines of those regions in the course's source notebooks that the released notebooks
    show anyway are left out.
    """
    secret: set[str] = set()
    public: set[str] = set()
    for folder, into in (("source", secret), ("release", public)):
        for path in notebooks_in(course / folder / ASSIGNMENT):
            for cell in nbformat.read(path, as_version=4).cells:
                if folder == "source":
                    lines = region_text(cell.source) + region_text(
                        cell.source, BEGIN_HIDDEN, END_HIDDEN
                    )
                else:
                    lines = cell.source.splitlines()
                into.update(line.strip() for line in lines if line.strip())
    return secret - public


# An IPython traceback context line: "---> 12     code" or "     11     code".
CONTEXT_LINE = re.compile(r"^(\s*(?:-*>)?\s*\d+\s)(.*)$")


def _redact(line: str, secret: set[str]) -> str:
    match = CONTEXT_LINE.match(line)
    code = match.group(2) if match else line
    if code.strip() in secret or "HIDDEN TESTS" in code or "SOLUTION" in code:
        return (match.group(1) if match else "") + "    <hidden>"
    return line


def _failure_text(cell: Any, secret: set[str] = frozenset()) -> str:
    """What made a grade cell fail: its error (ename: evalue + traceback tail) or stderr.

    Hidden-test and solution lines (``secret``) are blanked out of the traceback.
    """
    parts: list[str] = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            traceback = ANSI.sub("", "\n".join(output.get("traceback", [])))
            head = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
            lines = [_redact(line, secret) for line in traceback.strip().splitlines()]
            tail = "\n".join(lines[-12:])
            parts.append(head if not tail else f"{head}\n{tail}")
        elif output.get("output_type") == "stream" and output.get("name") == "stderr":
            parts.append("stderr: " + ANSI.sub("", output.get("text", "")).strip())
    text = "\n".join(parts)
    return text if len(text) <= FAILURE_LIMIT else text[: FAILURE_LIMIT - 3] + "..."


def _exercise_of(grade_id: str) -> str | None:
    """The exercise id named in a grade cell's grade_id (``test_ex2_1_softmax``), or None."""
    match = EXERCISE_IN_GRADE_ID.search(grade_id)
    return match.group(1) if match and match.group(1) in exercises.BY_ID else None


def read_scores(course: Path, student: str) -> dict[str, Any]:
    """Per-notebook, per-grade-cell scores of ``student`` from the course's gradebook."""
    from nbgrader.api import Gradebook

    autograded = course / "autograded" / student / ASSIGNMENT
    secret = secret_lines(course)
    notebooks: dict[str, Any] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        for notebook in sorted(submission.notebooks, key=lambda nb: nb.name):
            path = autograded / f"{notebook.name}.ipynb"
            cells_by_id: dict[str, Any] = {}
            if path.is_file():
                executed = nbformat.read(path, as_version=4)
                for cell in executed.cells:
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                    if grade_id:
                        cells_by_id[grade_id] = cell
            cells: dict[str, Any] = {}
            for grade in sorted(notebook.grades, key=lambda g: g.name):
                auto = grade.cell_type == "code"
                score = grade.score if (auto or not grade.needs_manual_grade) else None
                cells[grade.name] = {
                    "score": None if score is None else float(score),
                    "max_score": float(grade.max_score),
                    "auto": auto,
                    "passed": bool(auto and grade.score == grade.max_score),
                    "failure": _failure_text(cells_by_id.get(grade.name, {}), secret)
                    if auto and grade.score != grade.max_score
                    else "",
                    "exercise": _exercise_of(grade.name),
                }
            auto_cells = [c for c in cells.values() if c["auto"]]
            notebooks[notebook.name] = {
                "submitted": True,
                "score": sum(c["score"] for c in auto_cells),
                "max_score": sum(c["max_score"] for c in auto_cells),
                "manual_max_score": sum(c["max_score"] for c in cells.values() if not c["auto"]),
                "cells": cells,
            }
    return notebooks


def _zero_report(course: Path) -> dict[str, Any]:
    """Every notebook and grade cell of the assignment at zero (autograde never finished)."""
    notebooks: dict[str, Any] = {}
    for path in notebooks_in(course / "source" / ASSIGNMENT):
        nb = nbformat.read(path, as_version=4)
        cells: dict[str, Any] = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                auto = cell.cell_type == "code"
                cells[meta["grade_id"]] = {
                    "score": 0.0 if auto else None,
                    "max_score": float(meta.get("points", 0)),
                    "auto": auto,
                    "passed": False,
                    "failure": "not graded: autograde did not finish" if auto else "",
                    "exercise": _exercise_of(meta["grade_id"]),
                }
        notebooks[path.stem] = {
            "submitted": False,
            "score": 0.0,
            "max_score": sum(c["max_score"] for c in cells.values() if c["auto"]),
            "manual_max_score": sum(c["max_score"] for c in cells.values() if not c["auto"]),
            "cells": cells,
        }
    return notebooks


def grading_env(
    submission: Path,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the autograde child: kernels import ``submission``'s numpynet."""
    result = dict(os.environ if env is None else env)
    result["PATH"] = _bin_first(result.get("PATH"))
    result["PYTHONPATH"] = str(submission)
    result.setdefault("NUMPYNET_FAST", "1")  # lesson 05 trains on a subset under grading
    result.setdefault("MPLBACKEND", "Agg")
    # Many small matmuls on a loaded machine: threaded BLAS is many times SLOWER here.
    result.setdefault("OMP_NUM_THREADS", "1")
    result.setdefault("OPENBLAS_NUM_THREADS", "1")
    result["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ in the submission
    result.update(extra_env or {})
    return result


def _run_child(
    command: list[str], env: Mapping[str, str], cwd: Path, timeout: float | None
) -> tuple[int | None, str]:
    """Run the autograde child in its own process group; (exit status or None, stderr).

    stderr goes to a file, not a pipe: kernels inherit it, and a pipe would keep us waiting
    for as long as a stuck kernel lives. On timeout the whole group goes; so do processes
    left working in ``cwd`` (the kernels: jupyter starts them in sessions of their own,
    and they would only exit seconds later, on noticing their parent is gone).
    """
    with tempfile.TemporaryFile(mode="w+", prefix="autograde-stderr-") as log:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            status: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            for pid in processes_under(cwd):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        log.seek(0)
        return status, log.read()


def processes_under(folder: Path) -> list[int]:
    """Ids of live processes whose working directory lies in ``folder`` (Linux /proc)."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if cwd == folder or folder in cwd.parents:
                found.append(int(entry.name))
    return found


def autograde_submission(
    submission: str | Path,
    *,
    notebooks: str | Path | None = None,
    student: str = DEFAULT_STUDENT,
    work_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: int = 120,
    command_prefix: Sequence[str] = (),
    total_timeout: float | None = 900,
    source: str | Path = SOURCE_LESSONS,
) -> dict[str, Any]:
    """Autograde the lesson notebooks of one submission with nbgrader.

    Args:
        submission: the student's course root; its ``numpynet/`` is what the notebooks import.
        notebooks: the folder holding the submitted ``*.ipynb`` (default ``submission/lessons``).
        student: nbgrader student id.
        work_dir: where the course folder is built (kept); a temporary folder when None.
        env: the child's environment (default ``os.environ``); see ``grading_env``.
        extra_env: added on top of it.
        timeout: per-cell execution limit (s).
        command_prefix: argv put in front of the child's command (e.g. a sandbox).
        total_timeout: wall-clock limit of the whole autograde (s); None for no limit.
        source: the instructor's notebooks (with solutions and hidden tests).

    Returns:
        plain data: ``{"assignment", "student", "ok", "errors", "score", "max_score",
        "manual_max_score", "notebooks": {name: {"submitted", "score", "max_score",
        "manual_max_score", "cells": {grade_id: {"score", "max_score", "auto", "passed",
        "failure", "exercise"}}}}}``; scores count autograded (code) cells only.
    """
    if not STUDENT_ID.match(student):
        raise ValueError(f"student id must match {STUDENT_ID.pattern}, got {student!r}")
    submission = Path(submission).resolve()
    notebook_dir = Path(notebooks).resolve() if notebooks else submission / "lessons"
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="numpynet-grade-")))
        else:
            work = Path(work_dir).resolve()
            work.mkdir(parents=True, exist_ok=True)
        course = work / "course"
        if course.exists():
            shutil.rmtree(course)
        shutil.copytree(course_template(Path(source)), course)
        submitted = course / "submitted" / student / ASSIGNMENT
        submitted.mkdir(parents=True)
        errors: list[str] = []
        for released in notebooks_in(course / "release" / ASSIGNMENT):
            candidate = notebook_dir / released.name
            if not candidate.is_file():
                errors.append(f"missing notebook: {released.name}")
                continue
            try:  # one broken file must not fail nbgrader for every notebook
                nbformat.read(candidate, as_version=4)
            except Exception as error:
                errors.append(f"unreadable notebook: {released.name} ({type(error).__name__})")
                continue
            shutil.copyfile(candidate, submitted / released.name)
        command = [
            *command_prefix,
            sys.executable,
            "-m",
            "autograder.nbgrader_course",
            "autograde",
            str(course),
            student,
            "--timeout",
            str(timeout),
        ]
        child_env = grading_env(submission, env, extra_env)
        # The child must import THIS autograder even though PYTHONPATH names the submission.
        child_env["PYTHONPATH"] += os.pathsep + str(ROOT)
        result_file = course / "autograde-result.json"
        ok = False
        returncode, stderr = _run_child(command, child_env, course, total_timeout)
        if returncode is None:
            errors.append(f"autograde exceeded {total_timeout} s")
        elif result_file.is_file():
            outcome = json.loads(result_file.read_text())
            ok = bool(outcome.get("success"))
            if not ok:
                errors.append(f"nbgrader autograde failed:\n{outcome.get('error') or ''}")
        else:
            errors.append(f"autograde exited with status {returncode}:\n{stderr[-FAILURE_LIMIT:]}")
        try:
            graded = read_scores(course, student) if ok else _zero_report(course)
        except Exception as error:  # a gradebook without this submission: nothing scored
            errors.append(f"reading the gradebook failed: {error!r}")
            graded = _zero_report(course)
        for name, report in graded.items():
            if not (submitted / f"{name}.ipynb").is_file():
                report["submitted"] = False
    return {
        "assignment": ASSIGNMENT,
        "student": student,
        "ok": ok,
        "errors": errors,
        "score": sum(nb["score"] for nb in graded.values()),
        "max_score": sum(nb["max_score"] for nb in graded.values()),
        "manual_max_score": sum(nb["manual_max_score"] for nb in graded.values()),
        "notebooks": graded,
    }


# --------------------------------------------------------------------------------------
# Command line: the child side, and a human entry point
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run ``autograde`` (internal) or ``grade``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m autograder.nbgrader_course")
    commands = parser.add_subparsers(dest="command", required=True)
    child = commands.add_parser("autograde", help="(internal) run nbgrader autograde in a course")
    child.add_argument("course", type=Path)
    child.add_argument("student")
    child.add_argument("--timeout", type=int, default=120)
    grade = commands.add_parser("grade", help="autograde a submission's notebooks, print JSON")
    grade.add_argument("submission", type=Path)
    grade.add_argument("--notebooks", type=Path, default=None)
    grade.add_argument("--student", default=DEFAULT_STUDENT)
    grade.add_argument("--work-dir", type=Path, default=None)
    grade.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)
    if args.command == "autograde":
        course = args.course.resolve()
        outcome = _run_autograde(course, args.student, args.timeout)
        (course / "autograde-result.json").write_text(json.dumps(outcome))
        return 0 if outcome["success"] else 1
    report = autograde_submission(
        args.submission, notebooks=args.notebooks, student=args.student, work_dir=args.work_dir
    )
    text = json.dumps(report, indent=2, sort_keys=True)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        print(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
