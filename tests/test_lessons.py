"""The lessons: nbgrader metadata, coverage of the exercise catalogue, and execution.

Fast tests read the source notebooks in solutions/lessons/. Slow tests execute them:
the source notebooks with the REFERENCE package (PYTHONPATH=solutions) must run top to
bottom without an error or a word on stderr; the student notebooks in lessons/ (made by
``python -m autograder release``) with the STUBS (PYTHONPATH=repo root) may only stop at
a NotImplementedError that names an exercise, or at a solution cell nbgrader emptied.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import ValidationError
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

from autograder.exercises import ALL_EXERCISES as EXERCISES
from autograder.release import BEGIN_HIDDEN, BEGIN_SOLUTION, END_HIDDEN, END_SOLUTION

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "lessons"
STUDENT = ROOT / "lessons"
LESSONS = sorted({Path(exercise.lesson).name for exercise in EXERCISES})
# The debugging lab teaches no package exercise: its mysteries use lessons 00-05.
LAB = "06_debugging_lab.ipynb"
ALL_LESSONS = [*LESSONS, LAB]
TIMEOUT_S = 300  # per cell; a whole notebook takes seconds with NUMPYNET_FAST=1


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _meta(cell: nbformat.NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _is_test_cell(cell: nbformat.NotebookNode) -> bool:
    meta = _meta(cell)
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def _is_solution_cell(cell: nbformat.NotebookNode) -> bool:
    return bool(_meta(cell).get("solution", False))


def _balanced(source: str, begin: str, end: str) -> bool:
    """Every ``begin`` line is closed by an ``end`` line before the next ``begin``."""
    depth = 0
    for line in source.splitlines():
        if begin in line:
            depth += 1
        elif end in line:
            depth -= 1
        if depth not in (0, 1):
            return False
    return depth == 0


def _errors(nb: nbformat.NotebookNode) -> list[tuple[int, dict]]:
    return [
        (index, output)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


def _stderr(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    return [
        (index, output.text)
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stderr"
    ]


def _printed(nb: nbformat.NotebookNode) -> str:
    """Everything the code cells printed (streams only)."""
    return "".join(
        output.text
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    )


def _mnist_dir() -> Path | None:
    """Where load_mnist finds MNIST in these runs: MNIST_DIR, else the course's cache."""
    folder = Path(os.environ.get("MNIST_DIR") or ROOT / "data" / "mnist")
    names = ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")
    return folder if any((folder / name).is_file() for name in names) else None


def _needs_mnist(nb: nbformat.NotebookNode) -> bool:
    return any("load_mnist(" in cell.source for cell in nb.cells if cell.cell_type == "code")


def _execute(path: Path, package_parent: Path, allow_errors: bool) -> nbformat.NotebookNode:
    """Run ``path`` in a fresh python3 kernel whose cwd is the notebook's folder."""
    from nbclient import NotebookClient

    nb = _read(path)
    if _needs_mnist(nb) and _mnist_dir() is None:
        pytest.skip(f"{path.name} loads MNIST: set MNIST_DIR to a folder holding it")
    env = {
        **os.environ,
        "PYTHONPATH": str(package_parent),
        "NUMPYNET_FAST": "1",
        # Many small matmuls: BLAS threads only fight over CI's 2 cores and pytest -n 2.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    if _mnist_dir() is not None:
        env["MNIST_DIR"] = str(_mnist_dir())
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=env)
    return nb


# --------------------------------------------------------------------------------------
# Structure and metadata (fast)
# --------------------------------------------------------------------------------------


def test_there_is_one_source_notebook_per_lesson_of_the_catalogue() -> None:
    assert len(LESSONS) == 7  # 00-05 (the course) and 07 (its own assignment)
    assert sorted(p.name for p in SOURCE.glob("*.ipynb")) == sorted(ALL_LESSONS)


@pytest.mark.parametrize("name", ALL_LESSONS)
def test_nbgrader_metadata_is_valid(name: str) -> None:
    nb = _read(SOURCE / name)
    MetadataValidatorV3().validate_nb(nb)  # nbgrader's own checks: ids, points, cell kinds
    grade_ids = [_meta(c)["grade_id"] for c in nb.cells if "grade_id" in _meta(c)]
    assert len(grade_ids) == len(set(grade_ids)), "grade_ids must be unique"
    assert all(re.fullmatch(r"[a-z0-9_]+", gid) for gid in grade_ids), grade_ids
    graded = [c for c in nb.cells if _meta(c).get("grade")]
    assert graded, "every lesson has graded cells"
    for cell in nb.cells:
        meta, gid = _meta(cell), _meta(cell).get("grade_id")
        if meta:
            assert meta["schema_version"] == 3, gid
        if meta.get("grade"):
            assert meta["points"] > 0, f"{gid}: graded cells carry points"
        if _is_test_cell(cell):
            assert meta["locked"], f"{gid}: test cells are locked"
            assert BEGIN_SOLUTION not in cell.source, f"{gid}: a test cell holds a solution"
        if _is_solution_cell(cell):
            assert not meta["locked"], f"{gid}: students must be able to edit solution cells"
            assert BEGIN_SOLUTION in cell.source and END_SOLUTION in cell.source, (
                f"{gid}: solution cells mark their solution"
            )
            assert BEGIN_HIDDEN not in cell.source, f"{gid}: hidden tests belong in test cells"
            if cell.cell_type == "code":
                assert not meta["grade"], f"{gid}: code solution cells are graded by test cells"
        elif BEGIN_SOLUTION in cell.source:
            pytest.fail(f"solution markers outside a solution cell: {cell.source[:80]!r}")
        if BEGIN_HIDDEN in cell.source:
            assert _is_test_cell(cell), "hidden tests only in test cells"
        assert _balanced(cell.source, BEGIN_SOLUTION, END_SOLUTION), gid or cell.source[:80]
        assert _balanced(cell.source, BEGIN_HIDDEN, END_HIDDEN), gid or cell.source[:80]


def test_the_metadata_check_rejects_a_graded_cell_without_points() -> None:
    """Guard: nbgrader's validator, as used above, does fail on broken metadata."""
    nb = _read(SOURCE / LESSONS[2])
    cell = next(c for c in nb.cells if _is_test_cell(c))
    del cell.metadata["nbgrader"]["points"]
    with pytest.raises(ValidationError):
        MetadataValidatorV3().validate_nb(nb)


@pytest.mark.parametrize("name", ALL_LESSONS)
def test_source_notebooks_are_clean(name: str) -> None:
    nb = _read(SOURCE / name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "outputs are cleared"
            assert "sys.path" not in cell.source, "packages come from PYTHONPATH or the install"
            assert "import numpynet" not in cell.source or "import numpynet as nn" in cell.source


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.id)
def test_every_exercise_is_taught_named_and_graded_in_its_lesson(exercise) -> None:
    nb = _read(SOURCE / Path(exercise.lesson).name)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    function = exercise.qualname.split(".")[-1]
    assert f"Exercise {exercise.number}" in markdown, "the lesson introduces it by number"
    assert f"numpynet/{exercise.module}" in markdown, "the lesson names the file to edit"
    assert function in markdown or exercise.qualname in markdown, "and the function"
    assert f"-m ex{exercise.number.replace('.', '_')}" in markdown or exercise.id in markdown, (
        "and shows how to run its public tests"
    )
    prefix = exercise.id + "_"
    tests = [c for c in nb.cells if _is_test_cell(c) and _meta(c)["grade_id"].startswith(prefix)]
    assert tests, f"a graded cell with grade_id prefix {exercise.id}"


# --------------------------------------------------------------------------------------
# Execution (slow)
# --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_LESSONS)
def test_source_notebook_runs_with_the_reference_without_errors_or_stderr(name: str) -> None:
    nb = _execute(SOURCE / name, ROOT / "solutions", allow_errors=False)
    assert not _errors(nb)
    assert str(ROOT / "solutions" / "numpynet") in _printed(nb), "the reference package was used"
    assert not _stderr(nb), f"cells wrote to stderr: {_stderr(nb)[:3]}"


# A stub's message, nbgrader's empty one, or the lab's "not answered yet" for a blank answer
# (or a blank lab code).
STUB_ERROR = re.compile(
    r"^(Exercise \d\.\d: .+ - see lessons/\d\d_\w+\.ipynb"
    r"|Mystery \d+ is not answered yet: put a component id in ANSWERS\[\d+\]"
    r"|Put your lab code in STUDENT \(the cell above\))?$"
)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_LESSONS)
def test_student_notebook_stops_only_at_exercises_that_are_not_done(name: str) -> None:
    if not (STUDENT / name).is_file():
        pytest.skip(f"lessons/{name} not generated yet: run `python -m autograder release`")
    nb = _execute(STUDENT / name, ROOT, allow_errors=True)
    printed = _printed(nb)
    assert str(ROOT / "numpynet") in printed and "solutions" not in printed, "the stubs were used"
    for index, output in _errors(nb):
        cell = nb.cells[index]
        where = f"cell {index} ({_meta(cell).get('grade_id', 'demo')})"
        assert output.ename == "NotImplementedError", f"{where}: {output.ename}: {output.evalue}"
        assert STUB_ERROR.match(output.evalue), f"{where}: unexpected message {output.evalue!r}"
        assert _is_test_cell(cell) or _is_solution_cell(cell), (
            f"{where}: demo cells must catch NotImplementedError and go on"
        )
    failing = {index for index, _ in _errors(nb)}
    passing = [
        _meta(cell)["grade_id"]
        for index, cell in enumerate(nb.cells)
        if _is_test_cell(cell) and index not in failing
    ]
    assert not passing, f"graded cells must fail on the stubs: {passing}"
    assert not _stderr(nb), f"cells wrote to stderr: {_stderr(nb)[:3]}"


def test_the_stub_error_pattern_accepts_only_catalogue_messages_and_nbgraders_empty_one() -> None:
    for exercise in EXERCISES:
        assert STUB_ERROR.match(exercise.stub_message)
    assert STUB_ERROR.match("")  # nbgrader's emptied solution cell: raise NotImplementedError()
    assert not STUB_ERROR.match("boom")
    assert STUB_ERROR.match("Mystery 3 is not answered yet: put a component id in ANSWERS[3]")
    assert not STUB_ERROR.match("Exercise 2.1: softmax")  # no pointer to the lesson


@pytest.mark.slow
def test_the_execution_checks_see_errors_and_stderr(tmp_path: Path) -> None:
    """Guard for the checks above: a notebook with a failing cell and a warning is caught."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("import warnings\nwarnings.warn('careful')"),
        nbformat.v4.new_code_cell("raise ValueError('deep inside numpy')"),
        nbformat.v4.new_code_cell("print('still running')"),
    ]
    path = tmp_path / "guard.ipynb"
    nbformat.write(nb, path)
    executed = _execute(path, ROOT / "solutions", allow_errors=True)
    assert [(index, out.ename) for index, out in _errors(executed)] == [(1, "ValueError")]
    assert [index for index, _ in _stderr(executed)] == [0]
    assert "still running" in _printed(executed)


def test_code_cells_follow_the_project_style() -> None:
    """ruff skips the lesson folders in ``ruff check .``; named explicitly, it checks them."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).is_file():
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    notebooks = [str(path) for path in sorted(SOURCE.glob("*.ipynb"))]
    for command in (["check", "--quiet"], ["format", "--check", "--quiet"]):
        done = subprocess.run(
            [ruff, *command, *notebooks], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
