"""``python -m autograder release``: generate the student material from ``solutions/``.

* ``numpynet/``: the reference package with every ``### BEGIN SOLUTION`` ...
  ``### END SOLUTION`` region replaced by ``raise NotImplementedError(<stub message>)``
  (the message comes from the exercise catalogue, found by file and enclosing qualname).
* ``lessons/``: the student notebooks, made by nbgrader's ``generate_assignment`` from
  ``solutions/lessons/`` (solutions and hidden tests removed), then normalised so that
  the output is byte-for-byte reproducible.
* ``--check``: regenerate in memory and compare with the files on disk; exit 1 with a
  unified diff when they are out of sync.
* ``--bundle PATH``: also write what a student receives (folder, or ``.zip``);
  ``--assignment lab`` writes the debugging lab's bundle (lesson 06) instead of the course's.

Everything is computed in memory first (``build``) and only then written or compared,
so ``release`` and ``release --check`` cannot disagree.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import re
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from . import exercises
from .markers import (  # noqa: F401 - re-exported: release is where callers look
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    Region,
    ReleaseError,
    find_regions,
    region_text,
)
from .paths import ROOT

SOLUTIONS = "solutions"
PACKAGE = "numpynet"  # solutions/numpynet -> numpynet
LESSONS = "lessons"  # solutions/lessons -> lessons
GENERATED_DIRS = (PACKAGE, LESSONS)
# Single generated files at the root: solutions/challenge.json -> challenge.json, the class
# challenge's default recipe (handed out with lesson 07).
CHALLENGE = exercises.CHALLENGE_FILE
GENERATED_FILES = (CHALLENGE,)

# Never released or compared: caches and editor/notebook droppings.
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}
IGNORED_SUFFIXES = {".pyc", ".pyo"}

LINE_LENGTH = 100  # pyproject's ruff line-length: stubs are emitted already formatted


def _qualnames_by_line(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualname) of every def/class, outer before inner."""
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def enclosing_qualname(tree: ast.AST, line: int) -> str | None:
    """Qualified name (``Class.method``) of the innermost def/class holding 1-based ``line``."""
    best: tuple[int, str] | None = None
    for first, last, name in _qualnames_by_line(tree):
        if first <= line <= last and (best is None or first >= best[0]):
            best = (first, name)
    return None if best is None else best[1]


def stub_line(indent: str, message: str) -> list[str]:
    """``raise NotImplementedError("message")`` at ``indent``, as ``ruff format`` writes it."""
    literal = '"' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
    one_line = f"{indent}raise NotImplementedError({literal})"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    # Too long for one line: the formatter splits the call around its single argument.
    return [f"{indent}raise NotImplementedError(", f"{indent}    {literal}", f"{indent})"]


def _catalogue_for(module: str) -> dict[str, exercises.Exercise]:
    return {ex.qualname: ex for ex in exercises.ALL_EXERCISES if ex.module == module}


def stub_regions(text: str, module: str) -> tuple[str, list[exercises.Exercise]]:
    """Stub ``text`` (the source of ``numpynet/<module>``); also return the exercises found.

    Args:
        text: Python source with ``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions.
        module: the file's path inside the package, posix style, e.g. ``"layers.py"``
            (the catalogue's ``Exercise.module``).

    Raises:
        ReleaseError: unbalanced markers, a region outside any function, a region whose
            ``(module, qualname)`` is not in the catalogue, two regions in one function,
            or a result that no longer parses.
    """
    where = f"{SOLUTIONS}/{PACKAGE}/{module}"
    lines = text.splitlines()
    regions = find_regions(lines, where=where)
    if not regions:
        return text, []
    try:
        tree = ast.parse(text, filename=where)
    except SyntaxError as error:
        raise ReleaseError(f"{where}: does not parse: {error}") from error
    catalogue = _catalogue_for(module)
    found: list[exercises.Exercise] = []
    out: list[str] = []
    cursor = 0
    for region in regions:
        qualname = enclosing_qualname(tree, region.begin + 1)
        if qualname is None:
            raise ReleaseError(f"{where}:{region.begin + 1}: solution region outside any function")
        exercise = catalogue.get(qualname)
        if exercise is None:
            raise ReleaseError(
                f"{where}:{region.begin + 1}: solution region in {qualname!r} has no exercise "
                f"in autograder/exercises.py (catalogue entries for {module!r}: "
                f"{', '.join(sorted(catalogue)) or 'none'})"
            )
        if exercise in found:
            raise ReleaseError(
                f"{where}:{region.begin + 1}: second solution region in {qualname!r} "
                f"(exercise {exercise.id}); one region per exercise"
            )
        found.append(exercise)
        out.extend(lines[cursor : region.begin])
        out.extend(stub_line(region.indent, exercise.stub_message))
        cursor = region.end + 1
    out.extend(lines[cursor:])
    result = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    try:
        ast.parse(result, filename=where)
    except SyntaxError as error:
        raise ReleaseError(f"{where}: the stubbed file does not parse: {error}") from error
    return result, found


def stub_source(text: str, path: str | Path) -> str:
    """The student version of one reference source file (see ``stub_regions``).

    ``path`` is the file's path inside the package (``"layers.py"``) or any path ending in
    ``numpynet/<module>``; files without markers come back unchanged.
    """
    return stub_regions(text, _module_name(path))[0]


def _module_name(path: str | Path) -> str:
    parts = Path(path).parts
    if PACKAGE in parts:
        parts = parts[len(parts) - 1 - parts[::-1].index(PACKAGE) + 1 :]
    return "/".join(parts)


# --------------------------------------------------------------------------------------
# Building the generated trees (in memory)
# --------------------------------------------------------------------------------------


def _is_ignored(relative: Path) -> bool:
    return any(part in IGNORED_PARTS for part in relative.parts) or (
        relative.suffix in IGNORED_SUFFIXES
    )


def source_files(folder: Path, pattern: str = "**/*") -> list[Path]:
    """Files under ``folder`` (sorted, caches excluded), as paths relative to it."""
    return sorted(
        path.relative_to(folder)
        for path in folder.glob(pattern)
        if path.is_file() and not _is_ignored(path.relative_to(folder))
    )


def build_package(source: Path) -> dict[str, bytes]:
    """``numpynet/...`` -> bytes for every file of the reference package ``source``.

    Raises ReleaseError when a catalogue entry has no region (or regions have no entry).
    """
    generated: dict[str, bytes] = {}
    found: list[exercises.Exercise] = []
    for relative in source_files(source):
        data = (source / relative).read_bytes()
        if relative.suffix == ".py":
            text = data.decode("utf-8")
            stubbed, in_file = stub_regions(text, relative.as_posix())
            found.extend(in_file)
            data = stubbed.encode("utf-8")
        generated[f"{PACKAGE}/{relative.as_posix()}"] = data
    missing = [ex for ex in exercises.ALL_EXERCISES if ex not in found]
    if missing:
        names = "; ".join(f"{ex.id} ({ex.module}: {ex.qualname})" for ex in missing)
        raise ReleaseError(
            f"catalogue entries with no solution region in {SOLUTIONS}/{PACKAGE}: {names}"
        )
    return generated


def build(root: Path = ROOT) -> dict[str, bytes]:
    """Every generated file, keyed by its posix path relative to the repository root."""
    generated = build_package(root / SOLUTIONS / PACKAGE)
    lessons_source = root / SOLUTIONS / LESSONS
    if lessons_source.is_dir() and source_files(lessons_source, "*.ipynb"):
        from .nbgrader_course import release_notebooks  # nbgrader is slow to import
        from .notebooks import lint_lessons

        problems = lint_lessons(lessons_source)  # the notebook grader's contract
        if problems:
            raise ReleaseError("lessons the notebook grader cannot grade:\n" + "\n".join(problems))

        for name, data in release_notebooks(lessons_source).items():
            generated[f"{LESSONS}/{name}"] = data
        # Modules a lesson imports from its own folder (lesson 06's debugging_lab.py): as is.
        for relative in source_files(lessons_source, "*.py"):
            generated[f"{LESSONS}/{relative.as_posix()}"] = (lessons_source / relative).read_bytes()
    for name in GENERATED_FILES:
        if (root / SOLUTIONS / name).is_file():
            generated[name] = (root / SOLUTIONS / name).read_bytes()
    return generated


# --------------------------------------------------------------------------------------
# Writing and checking
# --------------------------------------------------------------------------------------


def existing_files(root: Path, dirs: Iterable[str] = GENERATED_DIRS) -> dict[str, bytes]:
    """The generated files now in ``root`` (``GENERATED_FILES``, the folders' files)."""
    found = {
        name: (root / name).read_bytes() for name in GENERATED_FILES if (root / name).is_file()
    }
    for name in dirs:
        folder = root / name
        if folder.is_dir():
            for relative in source_files(folder):
                found[f"{name}/{relative.as_posix()}"] = (folder / relative).read_bytes()
    return found


def _lines(data: bytes) -> list[str]:
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return [f"<binary, {len(data)} bytes>\n"]


def diff(expected: Mapping[str, bytes], actual: Mapping[str, bytes]) -> str:
    """Unified diff from ``actual`` (on disk) to ``expected`` (generated); "" when in sync."""
    chunks: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        want, have = expected.get(name), actual.get(name)
        if want == have:
            continue
        if have is None:
            chunks.append(f"missing: {name} (run `python -m autograder release`)\n")
        elif want is None:
            chunks.append(f"extra: {name} (not generated from {SOLUTIONS}/)\n")
        chunks.extend(
            difflib.unified_diff(
                _lines(have) if have is not None else [],
                _lines(want) if want is not None else [],
                fromfile=f"{name} (on disk)" if have is not None else "/dev/null",
                tofile=f"{name} (generated)" if want is not None else "/dev/null",
            )
        )
        if chunks and not chunks[-1].endswith("\n"):
            chunks.append("\n\\ No newline at end of file\n")
    return "".join(chunks)


def write_tree(files: Mapping[str, bytes], root: Path, dirs: Iterable[str] = GENERATED_DIRS) -> int:
    """Make the generated folders of ``root`` hold exactly ``files``; return files changed."""
    changed = 0
    current = existing_files(root, dirs)
    for name in sorted(set(current) - set(files)):
        (root / name).unlink()
        changed += 1
    for name, data in sorted(files.items()):
        if current.get(name) != data:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            changed += 1
    return changed


# --------------------------------------------------------------------------------------
# The student bundle
# --------------------------------------------------------------------------------------

# Instructor-only modules: a public test importing one of these is a release error.
INSTRUCTOR_ONLY = re.compile(
    r"^autograder/(hidden|examples|sandbox|release|grade|collection|nbgrader_course|gradebook"
    r"|notebooks|report|cli|paths|reference|gradescope|lab)(/|\.py$|$)"
)
BUNDLE_FILES = ("pyproject.toml", "environment.yml", "data/README.md", "data/manifest.json")
# Markdown blocks between these lines speak to course developers (the repository's
# solutions/, tests/, make): the bundle drops them (``_student_markdown``).
BEGIN_DEVELOPER = "<!-- BEGIN DEVELOPER -->"
END_DEVELOPER = "<!-- END DEVELOPER -->"
STUDENT_README = """\
# NumPyNet: build a 784-128-10 MLP in plain NumPy

You derive and implement, in plain NumPy, the network that classifies MNIST digits:
784 pixels -> 128 ReLU units -> 10 classes, trained with RMSProp. Your work goes in
`numpynet/`: every `raise NotImplementedError("Exercise X.Y: ...")` there is an exercise,
taught in the lesson it names. The lessons (`lessons/00` ... `05`) also hold small
exercises of their own and one derivation in lesson 02.

Every command below is run from this folder (the one holding this README).

## 1. Set up (once)

You need Python 3.11 or newer.

    python3 -m venv .venv
    .venv/bin/python -m pip install -e .

Then, in every new terminal, activate the environment:

    source .venv/bin/activate          # Windows: .venv\\Scripts\\activate

All commands below assume it is active (the prompt starts with `(.venv)`). Without
activating it, write the tools with their path instead: `.venv/bin/jupyter`,
`.venv/bin/pytest`, `.venv/bin/python`, `.venv/bin/nbgrader`.

With conda instead: `conda env create -f environment.yml`, then `conda activate numpynet`.

**MNIST** (needed by lessons 00 and 05 and by training, about 55 MB):

    python -m numpynet data

downloads and verifies the four files into `data/mnist/`. If you already have them, say
where instead: `export MNIST_DIR=/path/to/mnist` (see `data/README.md`).

## 2. Work through the lessons

    jupyter lab lessons/

Open `00_setup_and_data.ipynb` first and go in order. Each lesson says at the top how long
it takes. Restart the kernel (Kernel > Restart) after you change a file in `numpynet/`,
so that the notebook imports your new code.

## 3. Check your work

    pytest autograder/public -m ex2_1      # the public checks of Exercise 2.1
    pytest                                 # every public check
    python -m autograder check             # your progress, one table: what to read next

A check of an exercise you have not started fails with one line, `not started: Exercise
2.1: ...`; a wrong answer fails with a message saying what differs. The exercise ids
(`ex0_1` ... `ex5_2`) are listed by `pytest --markers`. `python -m autograder check` runs
the public checks and your notebooks' test cells in a few seconds and prints every
exercise and notebook cell with its points and status (not started / failing / passing
public checks), then the lesson to read next: progress, not your grade (hidden checks and
the hand-graded derivation are not run).

A notebook's own checks (its test cells) run top to bottom with

    nbgrader validate lessons/02_softmax_cross_entropy.ipynb

which prints `Success! Your notebook passes all the tests.` or the failing cells.

## 4. Train your network

When the exercises of lessons 00 to 05 pass, train the whole network on MNIST:

    python -m numpynet train --out runs/mine

Ten epochs of RMSProp (batch 32, learning rate 2e-3 with cosine decay) take {train_time},
and a correct implementation reaches about 98% test accuracy (the reference: 98.1%).
Each epoch shows a progress bar with the running loss and the validation accuracy; the
test accuracy is printed at the end. It writes `metrics.json`, `metrics.csv`,
`model.npz` and five figures (`curves.png`, `predictions.png`, `confusion_matrix.png`,
`most_confused.png`, `first_layer_weights.png`) to `runs/mine/`.
`python -m numpynet train --help` lists the options. Before every exercise is done,
training stops at the first missing one and names its lesson.

## 5. How you are graded

{points_table}

- **Package exercises** ({package_points} points): each exercise's points times the fraction
  of its checks that pass. The checks are the public ones in `autograder/public/` plus
  further hidden checks of the same exercise, which you do not see: passing the public
  checks is necessary, not sufficient. Your code runs in an isolated process with a time
  limit per exercise.
- **Notebooks** ({notebook_auto} points): grading runs only your answer cells (the cells
  where you write code, such as `num_batches`), in the same isolated process as your
  package, then each lesson's test cells with some hidden tests added: a test cell scores
  its points when all its checks pass. Other cells (demos, your experiments) are not run
  at grading, so a helper your answer needs belongs inside its answer cell.
  `nbgrader validate` runs the whole notebook instead, and there a test cell that writes
  to stderr (a warning too) fails: keep the `with quiet():` the test cells use.
- **The derivation** in lesson 02 ({notebook_manual} points) is graded by hand: show the
  steps the lesson asks for, in Markdown with LaTeX.
- **Lesson 06, the debugging lab**, is not in this table: it comes once lessons 00-05 are
  due, as its own assignment with its own zip and a note on how it is graded, and its
  points never count here.

## 6. Submit

Your submission is this folder, with your `numpynet/` and your `lessons/`. Leave out
`.venv/`, `data/mnist/` and `runs/` (they are large and rebuilt on the grader's side),
for example:

    zip -r submission.zip numpynet lessons

unless your course asks for another format. If your course uses GitHub Classroom, each
push runs `.github/workflows/classroom.yml`: the public checks of every exercise, as
feedback (the grade also counts the hidden checks and the notebooks).
"""


def _student_markdown(text: str, where: str) -> str:
    """``text`` without its developer blocks (``BEGIN_DEVELOPER`` ... ``END_DEVELOPER``)."""
    lines = text.splitlines()
    regions = find_regions(lines, BEGIN_DEVELOPER, END_DEVELOPER, where=where)
    dropped = {i for region in regions for i in range(region.begin, region.end + 1)}
    kept = [line for i, line in enumerate(lines) if i not in dropped]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def _student_pyproject(text: str) -> str:
    """The repository's pyproject.toml as a student's.

    ``pytest`` runs the public checks, and the developer extras and tool settings (which
    name repository-only folders) go.
    """
    import tomllib

    data = tomllib.loads(text)
    project = data["project"]
    pytest_options = data["tool"]["pytest"]["ini_options"]

    def strings(values: Iterable[str]) -> str:
        return "[" + ", ".join(f'"{value}"' for value in values) + "]"

    lines = [
        "[build-system]",
        f"requires = {strings(data['build-system']['requires'])}",
        f'build-backend = "{data["build-system"]["build-backend"]}"',
        "",
        "[project]",
        *(f'{key} = "{project[key]}"' for key in ("name", "version", "description", "readme")),
        f'requires-python = "{project["requires-python"]}"',
        f'license = "{project["license"]}"',
        "dependencies = [",
        *(f'    "{dependency}",' for dependency in project["dependencies"]),
        "]",
        "",
        "[tool.setuptools.packages.find]",
        f"include = {strings(data['tool']['setuptools']['packages']['find']['include'])}",
        "",
        "[tool.pytest.ini_options]",
        "# `pytest` alone runs every public check; `pytest -m ex2_1` those of one exercise.",
        'testpaths = ["autograder/public"]',
        f'addopts = "{pytest_options["addopts"]}"',
        "markers = [",
        *(f'    "{marker}",' for marker in pytest_options.get("markers", [])),
        "]",
    ]
    return "\n".join(lines) + "\n"


def _student_environment(text: str) -> str:
    """The student's environment.yml: the course installed without extras.

    Every comment but the first line (the command) is a note to developers and goes.
    """
    lines = text.splitlines()
    kept = lines[:1] + [line for line in lines[1:] if not line.lstrip().startswith("#")]
    result = "\n".join(kept) + "\n"
    if "-e .[dev]" not in result:
        raise ReleaseError("environment.yml: no `-e .[dev]` line to make the student's `-e .`")
    return result.replace("-e .[dev]", "-e .")


def _notebook_points(generated: Mapping[str, bytes]) -> tuple[float, float]:
    """(autograded, hand-graded) points of the released notebooks' graded cells."""
    import json

    auto = manual = 0.0
    for name, data in generated.items():
        if not (name.startswith(f"{LESSONS}/") and name.endswith(".ipynb")):
            continue
        for cell in json.loads(data)["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                points = float(meta.get("points", 0))
                if cell["cell_type"] == "markdown":
                    manual += points
                else:
                    auto += points
    return auto, manual


def _points_table(generated: Mapping[str, bytes]) -> str:
    """Markdown table: per lesson, its package exercises with their points."""
    import json

    rows = ["| lesson | package exercises (points) | notebook points |", "| --- | --- | ---: |"]
    lessons = sorted(n for n in generated if n.startswith(f"{LESSONS}/") and n.endswith(".ipynb"))
    for name in lessons:
        found = [ex for ex in exercises.ALL_EXERCISES if ex.lesson == name]
        listed = ", ".join(f"{ex.number} {ex.title} ({ex.points})" for ex in found) or "-"
        points = sum(
            float(cell.get("metadata", {}).get("nbgrader", {}).get("points", 0))
            for cell in json.loads(generated[name])["cells"]
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
        )
        rows.append(f"| `{name}` | {listed} | {points:g} |")
    return "\n".join(rows)


# Measured with the reference package on the 2-core course machine (MNIST_DIR set):
# `time python -m numpynet train --no-progress` took 15 s in the developers' venv and 40 s
# in a fresh student venv (newer numpy, machine shared); test accuracy 98.12% both times.
TRAIN_TIME = "15-40 seconds with the course's reference code on a 2-core machine"


def student_readme(generated: Mapping[str, bytes]) -> str:
    """The bundle's README.md, with the points taken from the catalogue and the notebooks."""
    auto, manual = _notebook_points(generated)
    return STUDENT_README.format(
        points_table=_points_table(generated),
        package_points=sum(ex.points for ex in exercises.EXERCISES),
        notebook_auto=f"{auto:g}",
        notebook_manual=f"{manual:g}",
        train_time=TRAIN_TIME,
    )


def autograder_imports(path: Path, text: str) -> set[str]:
    """Modules ``autograder.X`` that ``text`` (the file ``path`` inside autograder/) imports.

    Imports inside functions count (they run when called); those under
    ``if TYPE_CHECKING:`` do not (they never run). ``from .x import y`` may name module
    ``x.y``, so both are listed. Shared by the bundle's closure and tests/test_layers.py.
    """
    package = "autograder." + ".".join(path.parent.relative_to("autograder").parts)
    package = package.rstrip(".")
    tree = ast.parse(text)
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in names if name == "autograder" or name.startswith("autograder.")}


def _module_file(root: Path, module: str) -> Path | None:
    relative = Path(*module.split("."))
    for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
        if (root / candidate).is_file():
            return candidate
    return None


# Assignments: the course (lessons 00-05 and the package) and, handed out once those are
# due, the debugging lab (lesson 06): its mysteries are near-solutions of earlier exercises;
# then lesson 07 ("beyond" RMSProp), whose exercise stubs are already in the course's package.
ASSIGNMENTS = ("course", "lab", "beyond")
# What a student's own repository (GitHub Classroom) must not commit: the environment,
# the data, training runs and caches.
STUDENT_GITIGNORE = """\
.venv/
data/mnist/
runs/
__pycache__/
*.pyc
.ipynb_checkpoints/
.pytest_cache/
.hypothesis/
*.egg-info/
"""
LAB_FILES = (f"{LESSONS}/06_debugging_lab.ipynb", f"{LESSONS}/debugging_lab.py")
LAB_README = """# Lesson 06: the debugging lab

This note sits at the top of the zip; the lab itself is the two files in the zip's `lessons/`:
copy them into the `lessons/` folder of your course (next to lessons 00-05), then open
`lessons/06_debugging_lab.ipynb`. The lab uses YOUR `numpynet`: finish lessons 00-05 first.
Put the lab code your instructor gives you in `STUDENT`: your mysteries are built from it.
Hand in as before, with `lessons/06_debugging_lab.ipynb` included. How you are graded: 1
point for your own lab code and 2 per mystery, automatically, against the mysteries of the
identity you submit as, and 7 points for your evidence, by hand; until the due date the
grader says only how many of your answers are valid ids.
"""
BEYOND_FILES = (f"{LESSONS}/07_beyond_rmsprop.ipynb", CHALLENGE)
BEYOND_README = """# Lesson 07: beyond RMSProp

Copy `lessons/07_beyond_rmsprop.ipynb` into the `lessons/` folder of your course (next to
lessons 00-05), then open it. Its exercises (7.1-7.6: Adam, AdamW, Dropout, validate,
EarlyStopping) are already waiting in your `numpynet/` (`optim.py`, `layers.py`, `loop.py`),
and their public checks in `autograder/public/`: `pytest autograder/public -m ex7_1`. Lesson 07
builds on YOUR package: finish lessons 00-05 first. Hand in as before (your `numpynet/` and
`lessons/`, with `lessons/07_beyond_rmsprop.ipynb` included); lesson 07 is graded on its own.

`challenge.json` is your entry to the class challenge (the last section of lesson 07): a
training recipe (hidden sizes, optimiser, learning rate and schedule, epochs, batch size,
dropout, weight decay, early stopping, seed), here the default one. Copy it into your course
folder, next to `numpynet/`, and hand it in with your package; the grader trains YOUR package
with it on the 60,000 training images and measures the test accuracy itself. Once lessons
00-05 pass, reproduce a run locally (validation accuracy only, the test set is never loaded):

    python -m numpynet train --recipe challenge.json
"""
# Files each later assignment adds to the course: never in the course's own bundle.
LATER_FILES = {
    "lab": (LAB_FILES, "LAB.md", LAB_README),
    "beyond": (BEYOND_FILES, "BEYOND.md", BEYOND_README),
}


def later_bundle_files(generated: Mapping[str, bytes], assignment: str) -> dict[str, bytes]:
    """A later assignment's bundle: its generated files and a note on where to put them."""
    names, note, text = LATER_FILES[assignment]
    files = {name: generated[name] for name in names if name in generated}
    if len(files) != len(names):
        raise ReleaseError(f"{assignment} needs {', '.join(names)}; not generated")
    files[note] = text.encode("utf-8")
    return files


def lab_bundle_files(generated: Mapping[str, bytes]) -> dict[str, bytes]:
    """The lab's bundle: its notebook, its module and how to add them to the course."""
    return later_bundle_files(generated, "lab")


def bundle_files(
    root: Path, generated: Mapping[str, bytes], assignment: str = "course"
) -> dict[str, bytes]:
    """What a student receives: generated material, public tests and what they import.

    ``assignment`` "course" leaves the later assignments out; "lab" and "beyond" are theirs
    alone (``later_bundle_files``).
    """
    if assignment in LATER_FILES:
        return later_bundle_files(generated, assignment)
    later = {name for names, _, _ in LATER_FILES.values() for name in names}
    files = {name: data for name, data in generated.items() if name not in later}
    files["README.md"] = student_readme(files).encode("utf-8")  # its points: this bundle's
    files[".gitignore"] = STUDENT_GITIGNORE.encode("utf-8")  # a GitHub Classroom repo, say
    for name in BUNDLE_FILES:
        if (root / name).is_file():
            files[name] = (root / name).read_bytes()
    # The repository's copies speak to its developers too: the student's say only what is
    # true of the bundle.
    if "pyproject.toml" in files:
        files["pyproject.toml"] = _student_pyproject(files["pyproject.toml"].decode()).encode()
    if "environment.yml" in files:
        files["environment.yml"] = _student_environment(files["environment.yml"].decode()).encode()
    for name in [name for name in files if name.endswith(".md") and name != "README.md"]:
        files[name] = _student_markdown(files[name].decode(), name).encode()
    # GitHub Classroom runs the public checks on every push (autograder/classroom).
    workflow = root / "autograder" / "classroom" / "classroom.yml"
    if workflow.is_file():
        files[".github/workflows/classroom.yml"] = workflow.read_bytes()
    # autograder/public/ wholesale, then the closure of the autograder modules it imports.
    # `python -m autograder check` (autograder/__main__.py): the students' progress table.
    todo = [
        Path("autograder/__init__.py"),
        Path("autograder/__main__.py"),
        Path("autograder/check.py"),
    ]
    public = root / "autograder" / "public"
    if public.is_dir():
        todo += [Path("autograder/public") / rel for rel in source_files(public)]
    seen: set[Path] = set()
    while todo:
        relative = todo.pop()
        if relative in seen:
            continue
        seen.add(relative)
        if INSTRUCTOR_ONLY.match(relative.as_posix()):
            raise ReleaseError(f"the student bundle would need instructor-only {relative}")
        data = (root / relative).read_bytes()
        files[relative.as_posix()] = data
        if relative.suffix != ".py":
            continue
        for module in sorted(autograder_imports(relative, data.decode("utf-8"))):
            found = _module_file(root, module)
            if found is not None:
                todo.append(found)
                # A package's __init__ runs on import: ship every parent's too.
                for parent in found.parents:
                    if parent != Path(".") and (root / parent / "__init__.py").is_file():
                        todo.append(parent / "__init__.py")
    return files


def write_bundle(files: Mapping[str, bytes], target: Path) -> None:
    """Write ``files`` to a folder, or to a reproducible zip when ``target`` ends in .zip."""
    if target.suffix == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(files):
                info = zipfile.ZipInfo(f"numpynet-course/{name}", date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, files[name])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(buffer.getvalue())
        return
    if target.exists() and any(target.iterdir()):
        raise ReleaseError(f"bundle folder {target} exists and is not empty")
    for name, data in sorted(files.items()):
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``release [--check] [--root DIR] [--out DIR] [--bundle PATH]``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m autograder release",
        description="Generate numpynet/ (stubs) and lessons/ (student notebooks) from solutions/.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff if the generated files on disk are out of sync",
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="repository root holding solutions/"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write/check the generated folders here (default: root)",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="write the student bundle (folder or .zip); numpynet/ and lessons/ are then "
        "written only with --out",
    )
    parser.add_argument(
        "--assignment",
        choices=ASSIGNMENTS,
        default="course",
        help="which bundle: the course (lessons 00-05), the debugging lab (lesson 06) or "
        "beyond RMSProp (lesson 07)",
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    out = (args.out or root).resolve()
    try:
        files = build(root)
        if args.check:
            report = diff(files, existing_files(out))
            if report:
                sys.stdout.write(report)
                print(
                    f"release --check: generated files in {out} are out of sync with "
                    f"{SOLUTIONS}/; run `python -m autograder release`",
                    file=sys.stderr,
                )
                return 1
            print(f"release --check: {len(files)} generated files in sync")
        elif args.bundle is not None and args.out is None:
            # Making a bundle never rewrites the checkout behind the instructor's back.
            generated = ", ".join([*(f"{d}/" for d in GENERATED_DIRS), *GENERATED_FILES])
            print(
                f"release: {generated} in {out} left as they are (--bundle alone writes only "
                "the bundle; add --out DIR to write them too)"
            )
        else:
            changed = write_tree(files, out)
            print(f"release: {len(files)} generated files, {changed} changed, in {out}")
        if args.bundle is not None:
            write_bundle(bundle_files(root, files, args.assignment), args.bundle.resolve())
            print(f"release: student bundle written to {args.bundle}")
    except ReleaseError as error:
        print(f"release: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
