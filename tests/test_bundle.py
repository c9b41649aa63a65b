"""The student bundle is its own world: it names nothing it does not hold, and its README's
commands work as written in a fresh folder (offline: the venv reuses this interpreter's
packages instead of downloading them).

Complements tests/test_release.py, which checks what the bundle holds and that no solution
leaks into it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest

from autograder import release
from numpynet.train import FIGURES

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"
MNIST_DIR = Path(os.environ.get("MNIST_DIR", SHARED_MNIST))

# Files the README's own commands create (training outputs, the submission archive).
# MNIST's files come from `python -m numpynet data` (plain or gzipped).
MNIST_FILES = json.loads((ROOT / "data" / "manifest.json").read_text())["files"]
MADE_BY_COMMANDS = {"metrics.json", "metrics.csv", "model.npz", "submission.zip", *FIGURES}
MADE_BY_COMMANDS |= {*MNIST_FILES, *(f"{name}.gz" for name in MNIST_FILES)}
# Paths that are not in the bundle and need not be: made by the README's commands, or
# outside the course folder (placeholders, caches).
MADE_OR_OUTSIDE = (".venv/", "data/mnist", "runs/", "/path/to/", "~/", "$XDG_CACHE_HOME/")
# Named on purpose though absent, with the reason.
NAMED_ON_PURPOSE = {
    # data/README.md's checking script runs in data/mnist/: this is data/manifest.json.
    "../manifest.json": "data/README.md",
    # The public checks' conftest says where the grader keeps its hidden checks.
    "hidden/": "autograder/public/conftest.py",
    # mnist.py's docstring of the function that finds a file, plain or gzipped.
    "directory/name.gz": "numpynet/mnist.py",
}
# Lesson 07 comes in its own bundle (release --assignment beyond), but the package is handed
# out once: its stubs, its public checks and the catalogue name the lesson in advance.
LATER_LESSONS = ("lessons/07_beyond_rmsprop",)
NAMING_LATER_LESSONS = ("numpynet/", "autograder/public/", "autograder/exercises.py")
# Files of lesson 07's bundle the package names in advance: the class challenge's recipe.
LATER_FILES = tuple(name for name in release.BEYOND_FILES if "/" not in name)
FILE_SUFFIXES = "py|md|ipynb|json|ya?ml|toml|csv|npz|png|txt|zip|gz|cfg"
# A path: an optional ./ or ../, then folders and maybe a file (a lone "1/N" is maths).
PATH = re.compile(r"(?<![\w/.:~$-])((?:~|\$\w+|\.{1,2})?/?(?:[A-Za-z_.][\w.*-]*/)+[\w.*-]*)")
FILE_NAME = re.compile(rf"(?<![\w/.-])([\w*-]+\.(?:{FILE_SUFFIXES}))\b")
# Developer-only names: the repository's make targets and folders the bundle lacks.
DEVELOPER = re.compile(
    r"`make\b|\bmake (?:install|test|demo|train|grade|bundle|lint|release|check-release|bench"
    r"|site|clean)\b|\bMakefile\b|(?<![\w/])(?:solutions|tests|benchmarks)/"
)


def reader_text(name: str, data: bytes) -> str | None:
    """What a reader of ``name`` sees (notebooks: every cell's source), None for binaries."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if name.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        return "\n".join("".join(cell["source"]) for cell in cells)
    return text


def _exists(path: str, where: str, names: set[str]) -> bool:
    """``path`` (as written in the bundle file ``where``) names a file or folder of ``names``."""
    path = path.rstrip(".,:;)")
    if not path or path in MADE_BY_COMMANDS or path.startswith(MADE_OR_OUTSIDE):
        return True
    if NAMED_ON_PURPOSE.get(path) == where or "..." in path:  # "..." elides a pattern
        return True
    if path.startswith(LATER_LESSONS) and where.startswith(NAMING_LATER_LESSONS):
        return True
    candidates = {path}
    if not path.startswith("/"):
        # relative to the course root or to a folder holding the file that names it
        for parent in PurePosixPath(where).parents:
            candidates.add(os.path.normpath(str(parent / path)))
    pattern = {re.escape(c).replace(r"\*", "[^/]*") for c in candidates}
    found = re.compile("|".join(f"(?:{p})" for p in pattern))
    # A folder (trailing / or a prefix) or a file; "lessons/01_forward_pass" names its notebook.
    return any(found.match(name) for name in names)


def bundle_problems(files: Mapping[str, bytes]) -> list[str]:
    """Every mention, in a text file of ``files``, of a path it does not hold or of a
    developer-only name (``make``, ``solutions/``, ``tests/``, ``benchmarks/``)."""
    names = set(files)
    base_names = {PurePosixPath(name).name for name in names}
    problems: list[str] = []
    for where, data in sorted(files.items()):
        text = reader_text(where, data)
        if text is None or where == ".gitignore":  # it names what commands make, by design:
            continue  # test_the_bundle_ignores_what_a_student_repository_must_not_commit
        for match in DEVELOPER.finditer(text):
            problems.append(f"{where}: developer-only {match.group(0)!r}")
        for match in PATH.finditer(text):
            path = match.group(1)
            has_suffix = re.search(rf"\.(?:{FILE_SUFFIXES})$", path.rstrip(".,:;)"))
            first = path.lstrip("./").split("/", 1)[0]
            looks_like_a_path = (
                has_suffix
                or path.endswith("/")
                or first in {name.split("/", 1)[0] for name in names}
            )
            if len(first) >= 3 and looks_like_a_path and not _exists(path, where, names):
                problems.append(f"{where}: names {path!r}, which is not in the bundle")
        for match in FILE_NAME.finditer(text):
            name = match.group(1)
            later = name in LATER_FILES and where.startswith(NAMING_LATER_LESSONS)
            if name not in base_names | MADE_BY_COMMANDS and "*" not in name and not later:
                problems.append(f"{where}: names {name!r}, which is not in the bundle")
    return problems


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student zip, built by the command line."""
    out = tmp_path_factory.mktemp("bundle")
    assert release.main(["--out", str(out / "tree"), "--bundle", str(out / "course.zip")]) == 0
    return out / "course.zip"


def _files(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def test_the_scan_flags_missing_paths_and_developer_names() -> None:
    """Guard: the scan below would see a leak of each kind (and nothing in a clean file)."""
    files = {
        "README.md": b"Run `make install`, then see lessons/ and numpynet/a.py.\n",
        "lessons/00.ipynb": json.dumps(
            {"cells": [{"source": ["Read solutions/numpynet/a.py or tests/test_a.py; "]}]}
        ).encode(),
        "numpynet/a.py": b'"""See benchmarks/speed.py, missing/b.py and gone.md; 1/N."""\n',
    }
    problems = "\n".join(bundle_problems(files))
    for leak in ("`make", "solutions/", "tests/", "benchmarks/", "missing/b.py", "gone.md"):
        assert leak in problems, (leak, problems)
    assert "names 'lessons/'" not in problems and "names 'numpynet/a.py'" not in problems
    assert "1/N" not in problems
    assert bundle_problems({"README.md": b"See numpynet/a.py.\n", "numpynet/a.py": b""}) == []


def test_the_scan_flags_the_repository_copies_the_bundle_rewrites() -> None:
    """The repository's own data/README.md and pyproject.toml speak to developers: shipped
    as they are, the scan would flag them (so the rewriting in release.py is needed)."""
    raw = {name: (ROOT / name).read_bytes() for name in ("data/README.md", "pyproject.toml")}
    raw["numpynet/mnist.py"] = b""
    problems = "\n".join(bundle_problems(raw))
    assert "data/README.md: developer-only 'solutions/'" in problems
    assert "pyproject.toml: developer-only" in problems


@pytest.mark.slow
def test_no_file_in_the_bundle_names_anything_outside_it(bundle: Path) -> None:
    files = _files(bundle)
    assert len(files) > 20 and any(name.endswith(".ipynb") for name in files)
    assert bundle_problems(files) == []


@pytest.mark.slow
def test_bundle_pyproject_runs_the_public_checks_without_a_warning(bundle: Path) -> None:
    pyproject = _files(bundle)["pyproject.toml"].decode()
    assert 'testpaths = ["autograder/public"]' in pyproject
    assert "tests" not in pyproject.replace('testpaths = ["autograder/public"]', "")


# --------------------------------------------------------------------------------------
# The README's commands, run as written
# --------------------------------------------------------------------------------------


def readme_commands(readme: str) -> list[str]:
    """The shell commands of the README: its indented code lines, comments dropped."""
    commands = []
    for line in readme.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            command = re.sub(r"\s+#.*$", "", line.strip())
            if command:
                commands.append(command)
    return commands


def offline_venv(course: Path) -> Path:
    """``course/.venv`` as ``python3 -m venv .venv && .venv/bin/python -m pip install -e .``
    would leave it, without the network: its python sees the course folder (the editable
    install) and this interpreter's packages, and its bin/ holds the tools' scripts."""
    venv = course / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # A plain path line: the .pth files of this interpreter's site-packages (among them
    # the repository's own editable install) are NOT run, so only the bundle's code shows.
    (purelib / "course.pth").write_text(f"{course}\n{sysconfig.get_path('purelib')}\n")
    for tool in ("pytest", "jupyter", "jupyter-lab", "nbgrader"):
        (entry,) = metadata.entry_points(group="console_scripts", name=tool)
        module, _, function = entry.value.partition(":")
        script = venv / "bin" / tool
        script.write_text(
            f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {module} import {function}\n"
            f"sys.exit({function}())\n"
        )
        script.chmod(0o755)
    return venv


def _run(course: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``command`` in bash, in ``course``, with the venv activated as the README says."""
    return subprocess.run(
        ["bash", "-c", f"source .venv/bin/activate && {command}"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_readme_commands_work_as_written_in_a_fresh_folder(bundle: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path)
    course = tmp_path / "numpynet-course"
    readme = (course / "README.md").read_text()
    commands = readme_commands(readme)
    offline_venv(course)
    # This machine's variables, less those that would show the repository's code.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("MNIST_DIR", None)
    has_mnist = MNIST_DIR.is_dir() and any(MNIST_DIR.iterdir())
    if has_mnist:
        env["MNIST_DIR"] = str(MNIST_DIR)  # the README's `export MNIST_DIR=...`
    ran: list[str] = []

    def run(command: str) -> subprocess.CompletedProcess[str]:
        assert command in commands, f"the README no longer says {command!r}"
        ran.append(command)
        return _run(course, command, env)

    # Set-up: replaced by offline_venv (the network is not for tests); activation as written.
    ran += ["python3 -m venv .venv", ".venv/bin/python -m pip install -e ."]
    activate = run("source .venv/bin/activate")
    assert activate.returncode == 0, activate.stderr
    tools = _run(course, "command -v python pytest jupyter nbgrader", env)
    assert all(line.startswith(str(course / ".venv/bin/")) for line in tools.stdout.split()), (
        tools.stdout
    )
    helped = _run(course, "python -m numpynet --help", env)
    assert helped.returncode == 0 and "train" in helped.stdout, helped.stderr

    one = run("pytest autograder/public -m ex2_1")
    assert one.returncode == 1, one.stdout[-2000:]
    assert "not started: Exercise 2.1: softmax" in one.stdout and " passed" not in one.stdout
    assert "warning" not in one.stdout.lower(), one.stdout[-2000:]
    everything = run("pytest")
    assert everything.returncode == 1, everything.stdout[-2000:]
    summary = everything.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ \d+ failed in [\d.]+s =+", summary), summary
    # Every check fails the same way, in one line: the stubs are not started.
    failed = int(summary.split()[1])
    assert everything.stdout.count("\nnot started: Exercise ") == failed > 40
    assert "Traceback" not in everything.stdout
    assert "warning" not in everything.stdout.lower(), everything.stdout[-2000:]

    progress = run("python -m autograder check")
    assert progress.returncode == 0, progress.stderr
    assert "passing public checks: 0 of 200 points" in progress.stdout, progress.stdout
    assert "next: ex0_1 (Exercise 0.1: DataLoader iteration)" in progress.stdout

    # The README's other promises: ids listed by `pytest --markers`; tools by their path.
    markers = _run(course, "pytest --markers", env)
    assert "@pytest.mark.ex2_1: Exercise 2.1, softmax" in markers.stdout, markers.stderr
    unactivated = subprocess.run(
        [".venv/bin/pytest", "autograder/public", "-m", "ex2_1"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "not started: Exercise 2.1: softmax" in unactivated.stdout, unactivated.stderr

    lab = _run(course, "jupyter lab --version", env)  # `jupyter lab lessons/` starts a server
    assert lab.returncode == 0, lab.stderr
    ran.append("jupyter lab lessons/")

    validated = run("nbgrader validate lessons/02_softmax_cross_entropy.ipynb")
    assert "NotImplementedError: Exercise 2.1: softmax" in validated.stdout, (
        validated.stdout[-2000:] + validated.stderr[-2000:]
    )
    assert "Success!" not in validated.stdout

    if has_mnist:
        data = run("python -m numpynet data")
        assert data.returncode == 0 and "MNIST verified" in data.stdout, data.stderr
        trained = run("python -m numpynet train --out runs/mine")
        # Stubs: training stops at the first missing exercise and names its lesson.
        assert trained.returncode == 2
        assert "Exercise 1.1 not implemented yet" in trained.stdout + trained.stderr
    else:
        ran += ["python -m numpynet data", "python -m numpynet train --out runs/mine"]

    if shutil.which("zip"):
        submitted = run("zip -r submission.zip numpynet lessons")
        assert submitted.returncode == 0, submitted.stderr
        with zipfile.ZipFile(course / "submission.zip") as archive:
            names = archive.namelist()
        assert "numpynet/layers.py" in names and "lessons/02_softmax_cross_entropy.ipynb" in names
    else:
        ran.append("zip -r submission.zip numpynet lessons")

    # Every command the README gives was run here (or replaced, with the reason above).
    assert sorted(set(commands)) == sorted(set(ran))


@pytest.mark.slow
def test_the_bundle_ignores_what_a_student_repository_must_not_commit(
    bundle: Path, tmp_path: Path
) -> None:
    """The bundle's .gitignore keeps the venv, MNIST, training runs and caches out of git
    (a GitHub Classroom repository made from the bundle)."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path)
    course = tmp_path / "numpynet-course"
    assert (course / ".gitignore").is_file()
    made = [".venv/bin/python", "data/mnist/train-images-idx3-ubyte.gz", "runs/reference/model.npz",
            "numpynet/__pycache__/a.pyc", "lessons/.ipynb_checkpoints/a.ipynb",
            ".pytest_cache/v", ".hypothesis/x"]  # fmt: skip
    for name in made:
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        (course / name).write_text("x")
    done = subprocess.run(
        ["git", "-C", str(course), "init", "-q"], capture_output=True, text=True, check=True
    )
    done = subprocess.run(
        ["git", "-C", str(course), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    listed = {line[3:] for line in done.stdout.splitlines()}
    assert not any(name in listed for name in made), listed & set(made)
    assert "numpynet/__init__.py" in listed and "data/README.md" in listed  # the rest is kept
