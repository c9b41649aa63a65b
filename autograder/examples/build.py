"""Materialise the example submissions: reference, stubs, independent, and one per bug.

Each submission is a folder ``<out>/<name>/`` holding a ``numpynet/`` package and the six
``lessons/`` notebooks, the shape of what a student hands in; ``<out>/catalogue.json``
records what each one must lose.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import nbformat

from autograder import exercises, release
from autograder.examples.bugs import BUGS, Bug
from autograder.markers import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION
from autograder.paths import REFERENCE_DIR, ROOT

REFERENCE = REFERENCE_DIR
INDEPENDENT = Path(__file__).resolve().parent / "independent" / "numpynet"
PACKAGE = "numpynet"
ALL_EXERCISES = frozenset(exercise.id for exercise in exercises.ALL_EXERCISES)


class CatalogueError(Exception):
    """A bug names an exercise whose region the reference no longer has."""


def _copy_package(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def replace_region(text: str, exercise: exercises.Exercise, body: str) -> str:
    """``text`` with the SOLUTION region of ``exercise`` (markers included) replaced by ``body``.

    ``body`` is unindented code; it takes the indentation of the region's markers.
    """
    lines = text.splitlines()
    tree = ast.parse(text)
    for region in release.find_regions(lines, where=exercise.module):
        if release.enclosing_qualname(tree, region.begin + 1) == exercise.qualname:
            new = [region.indent + line if line.strip() else "" for line in body.splitlines()]
            return "\n".join(lines[: region.begin] + new + lines[region.end + 1 :]) + "\n"
    raise CatalogueError(f"no SOLUTION region for {exercise.id} ({exercise.qualname})")


def apply_bug(package: Path, entry: Bug) -> None:
    """Replace, in the package folder ``package``, the regions ``entry`` rewrites."""
    for exercise_id, body in entry.regions.items():
        exercise = exercises.get(exercise_id)
        path = package / exercise.module
        try:
            text = replace_region(path.read_text(encoding="utf-8"), exercise, body)
        except CatalogueError as error:
            raise CatalogueError(f"bug {entry.name!r}: {error}") from None
        path.write_text(text, encoding="utf-8")


def write_stubs(target: Path, source: Path = REFERENCE) -> None:
    """The student stubs, exactly as ``python -m autograder release`` generates them."""
    for name, data in release.build_package(source).items():
        path = target / Path(name).relative_to(PACKAGE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def solved_student_lesson(text: str, where: str = "?") -> str:
    """A source lesson as a student who solved it would hand it in.

    Its answers filled in, its hidden tests (markers included) and solution markers gone.

    ``text`` is the instructor's notebook JSON (solutions/lessons); returns notebook JSON.
    """
    notebook = nbformat.reads(text, as_version=4)
    for cell in notebook.cells:
        lines = cell.source.splitlines()
        for region in reversed(release.find_regions(lines, BEGIN_HIDDEN, END_HIDDEN, where)):
            del lines[region.begin : region.end + 1]
        kept = [line for line in lines if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION)]
        cell.source = "\n".join(kept)
    return nbformat.writes(notebook)


def solved_student_lessons(source: Path) -> dict[str, str]:
    """Every file of the source lessons folder, notebooks as :func:`solved_student_lesson`."""
    files = {}
    for path in sorted(source.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".ipynb":
                text = solved_student_lesson(text, where=path.name)
            files[path.name] = text
    return files


def expected_losses() -> dict[str, dict]:
    """Each example's expected grading, by name.

    Returns:
        name -> {"loses": sorted exercise ids, "not_started": bool, "description": str}.
    """
    table = {
        "reference": {"loses": [], "not_started": False, "description": "the reference"},
        "independent": {
            "loses": [],
            "not_started": False,
            "description": "a second correct implementation, written independently",
        },
        "stubs": {
            "loses": sorted(ALL_EXERCISES),
            "not_started": True,
            "description": "the untouched stubs: every exercise not started",
        },
    }
    for entry in BUGS:
        table[entry.name] = {
            "loses": sorted(entry.loses),
            "not_started": False,
            "description": entry.description,
        }
    return table


def build_example_submissions(out_dir: Path | str) -> list[Path]:
    """Write every example submission under ``out_dir`` (replacing it); return their folders."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    folders: list[Path] = []

    def folder(name: str) -> Path:
        path = out / name
        folders.append(path)
        return path / PACKAGE

    # One snapshot of the reference serves every derived submission, so a concurrent edit
    # of solutions/ cannot make two submissions differ outside their bug.
    snapshot = folder("reference")
    _copy_package(REFERENCE, snapshot)
    write_stubs(folder("stubs"), source=snapshot)
    _copy_package(INDEPENDENT, folder("independent"))
    for entry in BUGS:
        package = folder(entry.name)
        _copy_package(snapshot, package)
        apply_bug(package, entry)
    # Notebooks: the stubs hand in the released ones untouched, everyone else the lessons
    # solved as a student would hand them in (a package bug then also costs the notebook
    # cells that test that exercise): never the instructor's, which hold hidden tests.
    solved = solved_student_lessons(ROOT / "solutions" / "lessons")
    for path in folders:
        if path.name == "stubs":
            shutil.copytree(ROOT / "lessons", path / "lessons", ignore=shutil.ignore_patterns(".*"))
            continue
        for name, text in solved.items():
            (path / "lessons").mkdir(parents=True, exist_ok=True)
            (path / "lessons" / name).write_text(text, encoding="utf-8")
    (out / "catalogue.json").write_text(json.dumps(expected_losses(), indent=2) + "\n")
    return folders
