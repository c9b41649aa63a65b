"""The release: stubs, student notebooks, determinism, --check and the student bundle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import exercises, release

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGE = ROOT / "solutions" / "numpynet"
SOURCE_LESSONS = ROOT / "solutions" / "lessons"
HAS_LESSONS = any(SOURCE_LESSONS.glob("*.ipynb"))


# --------------------------------------------------------------------------------------
# Shared fixtures: one full release (with nbgrader) per test session
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> dict[str, bytes]:
    """Every generated file, built in memory from the current solutions/."""
    return release.build(ROOT)


@pytest.fixture(scope="module")
def released_tree(tmp_path_factory: pytest.TempPathFactory, generated: dict[str, bytes]) -> Path:
    """A fresh release written by the command line into an empty folder."""
    out = tmp_path_factory.mktemp("release")
    assert release.main(["--out", str(out), "--bundle", str(out / "bundle.zip")]) == 0
    return out


MARKERS = {release.BEGIN_SOLUTION, release.END_SOLUTION, release.BEGIN_HIDDEN, release.END_HIDDEN}


def _text_lines(name: str, data: bytes) -> list[str]:
    """The lines a reader of ``name`` sees (notebooks: every cell's source and outputs)."""
    if name.endswith(".ipynb"):
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        lines: list[str] = []
        for cell in nb.cells:
            lines += cell.source.splitlines()
            for output in cell.get("outputs", []):
                lines += json.dumps(output).splitlines()
        return lines
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return []


def _secret_lines() -> set[str]:
    """Non-trivial lines of every solution and hidden-test region in solutions/ that do not
    also appear outside the regions (those are public anyway, e.g. ``return Y``)."""
    inside: set[str] = set()
    outside: set[str] = set()

    def collect(text: str, cell_type: str = "code") -> None:
        regions = release.region_text(text) + release.region_text(
            text, release.BEGIN_HIDDEN, release.END_HIDDEN
        )
        inside.update(line.strip() for line in regions)
        lines = text.splitlines()
        marked = {i for pair in _region_spans(lines) for i in range(pair[0], pair[1] + 1)}
        outside.update(line.strip() for i, line in enumerate(lines) if i not in marked)

    for path in sorted(SOURCE_PACKAGE.rglob("*.py")):
        collect(path.read_text())
    for path in sorted(SOURCE_LESSONS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            collect(cell.source, cell.cell_type)
    return {line for line in inside - outside if len(line) >= 8}


def _region_spans(lines: list[str]) -> list[tuple[int, int]]:
    spans = [(r.begin, r.end) for r in release.find_regions(lines)]
    spans += [
        (r.begin, r.end)
        for r in release.find_regions(lines, release.BEGIN_HIDDEN, release.END_HIDDEN)
    ]
    return spans


# --------------------------------------------------------------------------------------
# Stubbing (pure, fast)
# --------------------------------------------------------------------------------------

SOFTMAX_SOURCE = textwrap.dedent(
    '''\
    import numpy as np


    def softmax(Z, axis=-1):
        """Doc."""
        shifted = Z  # kept: outside the region
        ### BEGIN SOLUTION
        P = np.exp(shifted)
        return P / P.sum(axis=axis, keepdims=True)
        ### END SOLUTION
    '''
)


def test_stub_replaces_the_region_with_the_catalogue_message_at_its_indentation() -> None:
    message = exercises.get("ex2_1").stub_message
    expected = SOFTMAX_SOURCE.split("    ### BEGIN SOLUTION")[0] + (
        f'    raise NotImplementedError("{message}")\n'
    )
    assert release.stub_source(SOFTMAX_SOURCE, "functional.py") == expected
    # The package path form resolves to the same catalogue module.
    assert release.stub_source(SOFTMAX_SOURCE, "solutions/numpynet/functional.py") == expected


def test_stub_lines_too_long_for_one_line_are_split_like_the_formatter_does() -> None:
    long_message = "x" * 120
    lines = release.stub_line("        ", long_message)
    assert lines == [
        "        raise NotImplementedError(",
        f'            "{long_message}"',
        "        )",
    ]
    assert release.stub_line("    ", "short") == ['    raise NotImplementedError("short")']


def test_file_without_markers_is_copied_verbatim() -> None:
    text = "def f():\n    return 1  # no markers\n"
    assert release.stub_source(text, "module.py") == text


@pytest.mark.parametrize(
    ("source", "module", "message"),
    [
        # a region in a function the catalogue does not know: names the file and the function
        (SOFTMAX_SOURCE.replace("def softmax", "def softmin"), "functional.py", "'softmin'"),
        (SOFTMAX_SOURCE, "loss.py", "'softmax'"),
        (SOFTMAX_SOURCE.replace("    ### END SOLUTION\n", ""), "functional.py", "without"),
        (
            SOFTMAX_SOURCE.replace("### END SOLUTION", "pass  ### END SOLUTION"),
            "functional.py",
            "alone",
        ),
        (
            SOFTMAX_SOURCE + "    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n",
            "functional.py",
            "second solution region",
        ),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "functional.py", "outside any function"),
    ],
)
def test_inconsistent_regions_are_errors(source: str, module: str, message: str) -> None:
    with pytest.raises(release.ReleaseError, match=message) as error:
        release.stub_source(source, module)
    assert module in str(error.value)


def test_catalogue_entry_without_a_region_is_an_error_naming_both(tmp_path: Path) -> None:
    package = tmp_path / "numpynet"
    shutil.copytree(SOURCE_PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    loss = package / "loss.py"
    text = loss.read_text()
    start = text.index("        ### BEGIN SOLUTION", text.index("def backward"))
    end = text.index("### END SOLUTION", start) + len("### END SOLUTION")
    loss.write_text(text[:start] + "        return None" + text[end:])
    with pytest.raises(release.ReleaseError, match=r"ex2_5 \(loss.py: CrossEntropyLoss.backward\)"):
        release.build_package(package)


def test_everything_outside_the_regions_is_kept_in_order() -> None:
    for path in sorted(SOURCE_PACKAGE.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        spans = [(r.begin, r.end) for r in release.find_regions(lines)]
        outside = [line for i, line in enumerate(lines) if not any(a <= i <= b for a, b in spans)]
        stubbed = release.stub_source(source, path.relative_to(SOURCE_PACKAGE)).splitlines()
        kept = [line for line in stubbed if line not in outside]
        # What is not an outside line is exactly the stubs, one per region.
        assert [line for line in stubbed if line in outside] == outside, path.name
        assert sum("raise NotImplementedError" in line for line in kept) == len(spans), path.name


# --------------------------------------------------------------------------------------
# The generated package
# --------------------------------------------------------------------------------------

# How to reach every exercise's stub; the constructor of Linear is itself exercise 1.1, so
# objects whose __init__ is stubbed are made with object.__new__ and given what they need.
CALLS = {
    "ex0_1": "iter(nn.DataLoader(X, y, 2))",
    "ex1_1": "nn.Linear(4, 3, rng=0)",
    "ex1_2": "linear().forward(X)",
    "ex1_3": "nn.ReLU().forward(X)",
    "ex2_1": "nn.softmax(Z)",
    "ex2_2": "nn.log_softmax(Z)",
    "ex2_3": "nn.one_hot(y, 3)",
    "ex2_4": "nn.CrossEntropyLoss().forward(Z, y)",
    "ex2_5": "loss_after_forward().backward()",
    "ex3_1": "relu_after_forward().backward(Z)",
    "ex3_2": "linear(X).backward(Z)",
    "ex3_3": "nn.numerical_gradient(lambda: float(X64.sum()), X64)",
    "ex4_1": "nn.SGD([param()], lr=0.1).step()",
    "ex4_2": "nn.RMSProp([param()]).step()",
    "ex5_1": "nn.train_epoch(nn.Sequential(), nn.CrossEntropyLoss(), nn.SGD([param()], 0.1), [])",
    "ex5_2": "nn.evaluate(nn.Sequential(), X, y)",
    "ex7_1": "nn.Adam([param()]).step()",
    "ex7_2": "nn.AdamW([param()]).step()",
    "ex7_3": "nn.Dropout(0.5, rng=0).forward(X)",
    "ex7_4": "(lambda d: (setattr(d, '_forwarded', True), d.backward(X)))(nn.Dropout(0.5))",
    "ex7_5": "nn.validate(nn.Sequential(), X, y)",
    "ex7_6": "nn.EarlyStopping().update(nn.Sequential(), 1.0)",
}

PROBE = textwrap.dedent(
    """\
    import json, sys
    import numpy as np
    import numpynet as nn
    from autograder import exercises

    X = np.ones((5, 4), np.float32); X64 = np.ones(3); y = np.array([0, 1, 2, 0, 1])
    Z = np.zeros((5, 3), np.float32)

    def param():
        p = nn.Parameter(np.zeros(3, np.float32)); p.grad[:] = 1; return p

    def linear(cached=None):
        lin = object.__new__(nn.Linear)
        lin.W, lin.b, lin._X = nn.Parameter(np.ones((4, 3))), nn.Parameter(np.zeros(3)), cached
        return lin

    def loss_after_forward():
        loss = nn.CrossEntropyLoss(); loss._log_probs = np.log(np.full((5, 3), 1 / 3))
        loss._targets = y; return loss

    def relu_after_forward():
        relu = nn.ReLU(); relu._mask = Z > 0; return relu

    calls = json.loads(sys.argv[1])
    results = {"file": nn.__file__}
    for exercise in exercises.ALL_EXERCISES:
        try:
            eval(calls[exercise.id])
            results[exercise.id] = "no exception"
        except NotImplementedError as error:
            results[exercise.id] = "NotImplementedError: " + str(error)
        except Exception as error:
            results[exercise.id] = f"{type(error).__name__}: {error}"
    print(json.dumps(results))
    """
)


def _probe(package_parent: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package_parent), str(ROOT)])}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(CALLS)],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def _write_package(tmp_path: Path) -> Path:
    for name, data in release.build_package(SOURCE_PACKAGE).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_every_catalogue_exercise_has_a_probe() -> None:
    # Every exercise with a stub (the challenge's thresholds have none).
    assert set(CALLS) == {e.id for e in exercises.ALL_EXERCISES}


def test_generated_stubs_import_and_every_exercise_raises_its_message(tmp_path: Path) -> None:
    results = _probe(_write_package(tmp_path))
    assert Path(results.pop("file")).parent == tmp_path / "numpynet"
    expected = {ex.id: f"NotImplementedError: {ex.stub_message}" for ex in exercises.ALL_EXERCISES}
    assert results == expected


def test_the_probe_sees_the_reference_pass(tmp_path: Path) -> None:
    """Guard for the test above: against the reference, no stub message appears."""
    results = _probe(ROOT / "solutions")
    assert Path(results.pop("file")).parent == SOURCE_PACKAGE
    for exercise_id, outcome in results.items():
        assert not outcome.startswith("NotImplementedError"), (exercise_id, outcome)


def test_generated_stubs_are_formatted_and_lint_clean_for_the_stub_lines(tmp_path: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    _write_package(tmp_path)
    config = ["--config", str(ROOT / "pyproject.toml")]
    formatted = subprocess.run(
        [ruff, "format", "--check", "--diff", *config, "numpynet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    # Only the consequences of removing solutions are tolerated (see the lead's pyproject).
    lint = subprocess.run(
        [ruff, "check", *config, "--ignore", "F401,F821,F841", "numpynet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


# --------------------------------------------------------------------------------------
# Generated files: secrets, determinism, --check, bundle (these run nbgrader once)
# --------------------------------------------------------------------------------------


def _consecutive_pairs(lines: list[str], secrets: set[str]) -> set[tuple[str, str]]:
    """Pairs of secret lines that follow each other (blank lines skipped) in ``lines``."""
    kept = [line.strip() for line in lines if line.strip()]
    return {(a, b) for a, b in zip(kept, kept[1:], strict=False) if a in secrets and b in secrets}


def _leaks(name: str, data: bytes, secrets: set[str], generated: bool) -> list[str]:
    """Secret text in one released file. Generated files may not share a single secret line
    with the solutions; hand-written ones (public tests...) may coincide on a generic line
    such as a ``for`` header, but never on two consecutive ones."""
    lines = _text_lines(name, data)
    found = [line for line in lines if line.strip() in MARKERS]
    if generated:
        found += sorted(secrets.intersection(line.strip() for line in lines))
    else:
        found += [" / ".join(pair) for pair in sorted(_consecutive_pairs(lines, secrets))]
    return found


@pytest.mark.slow
def test_no_solution_or_hidden_test_text_survives(
    generated: dict[str, bytes], released_tree: Path
) -> None:
    secrets = _secret_lines()
    assert len(secrets) > 50  # the scan looks at real solution code
    with zipfile.ZipFile(released_tree / "bundle.zip") as archive:
        bundle = {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}
    committed = release.existing_files(ROOT)
    hidden_tests = {
        line.strip()
        for path in sorted((ROOT / "autograder" / "hidden").glob("*.py"))
        for line in path.read_text().splitlines()
        if line.lstrip().startswith("def test_")
    }
    for where, files in (("generated", generated), ("committed", committed), ("bundle", bundle)):
        for name, data in files.items():
            leaked = _leaks(name, data, secrets, generated=name in generated)
            assert not leaked, f"{where} {name} reveals {leaked[:5]}"
            tests = hidden_tests.intersection(line.strip() for line in _text_lines(name, data))
            assert not tests, f"{where} {name} holds hidden tests {sorted(tests)[:3]}"


@pytest.mark.slow
def test_the_scan_finds_a_leak() -> None:
    """Guard for the scan above: it flags the reference package itself."""
    secrets = _secret_lines()
    for name in ("functional.py", "layers.py"):
        data = (SOURCE_PACKAGE / name).read_bytes()
        assert _leaks(name, data, secrets, generated=True)
        assert _leaks(name, data, secrets, generated=False)
    notebook = next(SOURCE_LESSONS.glob("*.ipynb"), None)
    if notebook is not None:
        assert _leaks(notebook.name, notebook.read_bytes(), secrets, generated=True)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LESSONS, reason="no source lessons yet")
def test_student_notebooks_have_nbgrader_metadata_and_no_outputs(
    generated: dict[str, bytes],
) -> None:
    sources = sorted(p.name for p in SOURCE_LESSONS.glob("*.ipynb"))
    notebooks = [n for n in generated if n.startswith("lessons/") and n.endswith(".ipynb")]
    assert sorted(n.split("/", 1)[1] for n in notebooks) == sources
    modules = sorted(n for n in generated if n.startswith("lessons/") and n.endswith(".py"))
    assert modules == ["lessons/debugging_lab.py"]  # lesson 06 imports it from its folder
    for name in sources:
        student = nbformat.reads(generated[f"lessons/{name}"].decode(), as_version=4)
        source = nbformat.read(SOURCE_LESSONS / name, as_version=4)
        nbformat.validate(student)
        assert [c.get("id") for c in student.cells] == [c.get("id") for c in source.cells]
        for cell, original in zip(student.cells, source.cells, strict=True):
            meta = original.metadata.get("nbgrader", {})
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
            if meta.get("grade") or meta.get("locked"):
                # nbgrader locks what students must not edit and records its checksum
                assert cell.metadata["nbgrader"]["checksum"], (name, meta)
                assert cell.metadata.get("editable") is False or meta.get("solution")


@pytest.mark.slow
def test_release_is_deterministic(tmp_path: Path, released_tree: Path) -> None:
    again = tmp_path / "again"
    assert release.main(["--out", str(again), "--bundle", str(again / "bundle.zip")]) == 0
    first = release.existing_files(released_tree)
    assert first and first == release.existing_files(again)
    assert (released_tree / "bundle.zip").read_bytes() == (again / "bundle.zip").read_bytes()
    # Releasing over an up-to-date tree changes nothing.
    assert release.write_tree(release.build(ROOT), again) == 0


@pytest.mark.slow
def test_check_passes_on_the_committed_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["--check"]) == 0, capsys.readouterr().out[:4000]


@pytest.mark.slow
def test_check_fails_with_a_diff_when_a_generated_file_is_edited(
    tmp_path: Path, released_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    for name in release.GENERATED_DIRS:
        shutil.copytree(released_tree / name, copy / name)
    layers = copy / "numpynet" / "layers.py"
    layers.write_text(layers.read_text().replace("class ReLU(Module):", "class ReLU(object):"))
    capsys.readouterr()
    assert release.main(["--check", "--out", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "--- numpynet/layers.py (on disk)" in out
    assert "+++ numpynet/layers.py (generated)" in out
    assert "-class ReLU(object):" in out and "+class ReLU(Module):" in out


def test_diff_reports_missing_extra_and_changed_files() -> None:
    expected = {"numpynet/a.py": b"x = 1\n", "numpynet/b.py": b"y = 2\n"}
    actual = {"numpynet/a.py": b"x = 3\n", "numpynet/c.py": b"z = 4\n"}
    report = release.diff(expected, actual)
    assert "-x = 3\n+x = 1\n" in report
    assert "missing: numpynet/b.py" in report and "+y = 2\n" in report
    assert "extra: numpynet/c.py" in report and "-z = 4\n" in report
    assert release.diff(expected, dict(expected)) == ""


def test_write_tree_removes_stale_files_and_keeps_caches(tmp_path: Path) -> None:
    (tmp_path / "numpynet" / "__pycache__").mkdir(parents=True)
    (tmp_path / "numpynet" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    (tmp_path / "numpynet" / "stale.py").write_text("old\n")
    files = {"numpynet/a.py": b"a\n"}
    assert release.write_tree(files, tmp_path) == 2
    assert release.existing_files(tmp_path) == files
    assert (tmp_path / "numpynet" / "__pycache__" / "x.pyc").exists()
    assert release.write_tree(files, tmp_path) == 0


@pytest.mark.slow
def test_bundle_holds_the_student_material_and_nothing_instructor_only(
    released_tree: Path, generated: dict[str, bytes]
) -> None:
    with zipfile.ZipFile(released_tree / "bundle.zip") as archive:
        names = [name.split("/", 1)[1] for name in archive.namelist()]
        assert all(name.startswith("numpynet-course/") for name in archive.namelist())
    for name in generated:
        # The lab and lesson 07 are their own assignments (release --bundle --assignment X).
        assert (name in names) == (name not in release.LAB_FILES + release.BEYOND_FILES), name
    for required in ("README.md", "pyproject.toml", "autograder/__init__.py"):
        assert required in names
    if (ROOT / "autograder" / "public").is_dir():
        assert any(name.startswith("autograder/public/") for name in names)
    if (ROOT / "autograder" / "tolerance.py").is_file():
        assert "autograder/tolerance.py" in names
    forbidden = ("solutions/", "autograder/hidden/", "autograder/examples/", "autograder/sandbox")
    for name in names:
        assert not name.startswith(forbidden), name
        assert not release.INSTRUCTOR_ONLY.match(name), name
        assert "__pycache__" not in name


@pytest.mark.slow
def test_bundle_public_tests_import_only_what_ships(released_tree: Path, tmp_path: Path) -> None:
    """Unpacked alone (no repository around it), the bundle's autograder imports."""
    with zipfile.ZipFile(released_tree / "bundle.zip") as archive:
        archive.extractall(tmp_path)
    course = tmp_path / "numpynet-course"
    modules = [
        ".".join(p.relative_to(course).with_suffix("").parts)
        for p in sorted((course / "autograder").rglob("*.py"))
        if p.name not in ("__init__.py", "__main__.py")  # __main__ runs, it is not imported
        and not p.name.startswith(("test_", "conftest"))
    ]
    script = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    # -I would also drop site-packages (numpy); -P keeps them but not the cwd's parent.
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path[:0] = [sys.argv.pop(1)]\n" + script,
            str(course),
            *modules,
        ],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.mark.slow
def test_unpacked_bundle_runs_its_public_tests(released_tree: Path, tmp_path: Path) -> None:
    """A student's first run: stubs -> every public test fails as "not started"; with the
    reference package dropped in, the same tests pass (the bundle is self-sufficient)."""
    with zipfile.ZipFile(released_tree / "bundle.zip") as archive:
        archive.extractall(tmp_path)
    course = tmp_path / "numpynet-course"
    if not (course / "autograder" / "public").is_dir():
        pytest.skip("no public tests yet")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "ex2_1"]
    command += ["autograder/public"]
    stubs = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    assert stubs.returncode == 1, stubs.stdout[-2000:]
    assert "Exercise 2.1: softmax" in stubs.stdout and " passed" not in stubs.stdout
    shutil.rmtree(course / "numpynet")
    shutil.copytree(
        SOURCE_PACKAGE, course / "numpynet", ignore=shutil.ignore_patterns("__pycache__")
    )
    reference = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    assert reference.returncode == 0, reference.stdout[-2000:]


@pytest.mark.slow
def test_bundle_alone_leaves_the_checkout_as_it_is(tmp_path: Path, capsys) -> None:
    """`release --bundle` without --out writes the bundle only, and says so; with --out the
    generated folders are (re)written as before."""
    root = tmp_path / "checkout"
    for name in ("solutions", "autograder"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in release.BUNDLE_FILES:
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, root / name)
    stale = root / "numpynet" / "stale.py"  # what a rewrite of the checkout would delete
    stale.parent.mkdir()
    stale.write_text("# the instructor's own edit\n")
    capsys.readouterr()
    assert release.main(["--root", str(root), "--bundle", str(tmp_path / "student.zip")]) == 0
    printed = capsys.readouterr().out
    assert "numpynet/, lessons/, challenge.json in" in printed and "left as they are" in printed
    assert stale.is_file() and not (root / "lessons").exists()
    assert not (root / "challenge.json").exists()
    assert zipfile.is_zipfile(tmp_path / "student.zip")
    assert release.main(["--root", str(root), "--out", str(root), "--bundle",
                         str(tmp_path / "again.zip")]) == 0  # fmt: skip
    assert not stale.exists() and (root / "lessons").is_dir()
    default_recipe = (ROOT / "solutions" / "challenge.json").read_bytes()
    assert (root / "challenge.json").read_bytes() == default_recipe
