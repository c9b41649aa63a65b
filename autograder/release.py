"""``python -m autograder release``: generate the student material from ``solutions/``.

* ``numpynet/``: the reference package with every ``### BEGIN SOLUTION`` ...
  ``### END SOLUTION`` region replaced by ``raise NotImplementedError(<stub message>)``
  (the message comes from the exercise catalogue, found by file and enclosing qualname).
* ``lessons/``: the student notebooks, made by nbgrader's ``generate_assignment`` from
  ``solutions/lessons/`` (solutions and hidden tests removed), then normalised so that
  the output is byte-for-byte reproducible.
* ``--check``: regenerate in memory and compare with the files on disk; exit 1 with a
  unified diff when they are out of sync.
* ``--bundle PATH``: also write what a student receives (folder, or ``.zip``).

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

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = "solutions"
PACKAGE = "numpynet"  # solutions/numpynet -> numpynet
LESSONS = "lessons"  # solutions/lessons -> lessons
GENERATED_DIRS = (PACKAGE, LESSONS)

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
    return {ex.qualname: ex for ex in exercises.EXERCISES if ex.module == module}


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
    missing = [ex for ex in exercises.EXERCISES if ex not in found]
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
    return generated


# --------------------------------------------------------------------------------------
# Writing and checking
# --------------------------------------------------------------------------------------


def existing_files(root: Path, dirs: Iterable[str] = GENERATED_DIRS) -> dict[str, bytes]:
    """The files currently under the generated folders of ``root`` (caches excluded)."""
    found: dict[str, bytes] = {}
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
    r"^autograder/(hidden|examples|sandbox|release|grade|grading|nbgrader_course|report|cli"
    r"|__main__)(/|\.py$|$)"
)
BUNDLE_FILES = ("pyproject.toml", "environment.yml", "data/README.md", "data/manifest.json")
STUDENT_README = """\
# NumPyNet: build a 784-128-10 MLP in plain NumPy

Your work goes in `numpynet/`: every `raise NotImplementedError("Exercise X.Y: ...")`
is an exercise, explained in the lesson it names.

1. Install (once): `python -m venv .venv && .venv/bin/pip install -e .`
2. Open the lessons in order: `jupyter lab lessons/` (00 ... 05).
3. Check one exercise with its public tests, e.g. `pytest autograder/public -m ex2_1`,
   or all of them with `pytest autograder/public`.
4. Lessons 00 and 05 need MNIST: see `data/README.md` (set `MNIST_DIR` to its folder).

Your submission is this folder (your `numpynet/` and your `lessons/`). Grading runs the
public tests, further hidden tests of the same exercises, and the notebooks' test cells.
"""


def _autograder_imports(path: Path, text: str) -> set[str]:
    """Modules ``autograder.X`` that ``text`` (a file inside autograder/) imports."""
    package = "autograder." + ".".join(path.parent.relative_to("autograder").parts)
    package = package.rstrip(".")
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
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


def bundle_files(root: Path, generated: Mapping[str, bytes]) -> dict[str, bytes]:
    """What a student receives: generated material, public tests and what they import."""
    files = {name: data for name, data in generated.items()}
    files["README.md"] = STUDENT_README.encode("utf-8")
    for name in BUNDLE_FILES:
        if (root / name).is_file():
            files[name] = (root / name).read_bytes()
    # GitHub Classroom runs the public checks on every push (autograder/classroom).
    workflow = root / "autograder" / "classroom" / "classroom.yml"
    if workflow.is_file():
        files[".github/workflows/classroom.yml"] = workflow.read_bytes()
    # autograder/public/ wholesale, then the closure of the autograder modules it imports.
    todo = [Path("autograder/__init__.py")]
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
        for module in sorted(_autograder_imports(relative, data.decode("utf-8"))):
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
        "--bundle", type=Path, default=None, help="also write the student bundle (folder or .zip)"
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
        else:
            changed = write_tree(files, out)
            print(f"release: {len(files)} generated files, {changed} changed, in {out}")
        if args.bundle is not None:
            write_bundle(bundle_files(root, files), args.bundle.resolve())
            print(f"release: student bundle written to {args.bundle}")
    except ReleaseError as error:
        print(f"release: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
