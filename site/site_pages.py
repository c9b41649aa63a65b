"""What each lesson page of the site shows: one executed notebook rewritten for one build.

Both builds: hidden tests dropped, build-machine paths in outputs made relative to the course
folder, a banner linking the student notebook, the course bundle and the set-up steps.

* ``solved``: every graded answer (solution cells: code, the derivation, the lab's answers)
  inside a collapsed "Show solution" block, and the reference code of each package exercise
  (from ``solutions/numpynet``) the same way, after the exercise's checks.
* ``student``: the graded answers replaced by a placeholder, their outputs cleared.
"""

from __future__ import annotations

import ast
import html
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import exercises, release

SHOW_SOLUTION = "Show solution"
# The collapsed block: raw HTML cells around the answer (MyST passes HTML blocks through), so
# code cells keep their highlighting and outputs, and markdown answers their maths.
SOLUTION_OPEN = '<details class="numpynet-solution">\n<summary>{label}</summary>'
SOLUTION_CLOSE = "</details>"
OMITTED_CODE = "# Graded exercise: your solution goes here (see the student notebook)."
OMITTED_MARKDOWN = (
    "*Graded exercise: the solution is not shown on the student pages. Write yours in the "
    "student notebook.*"
)

AUDIENCE = {
    "solved": (
        "**Solved course**: for self-learners and instructors. Every graded answer on this page "
        "is folded under *Show solution*: try the exercise first. Taking the graded course? Use "
        'the <a href="../student/{page}.html">student page</a> instead.'
    ),
    "student": (
        "**Student page**: the lesson as you will work through it; the solutions of its graded "
        'exercises are left out. The <a href="../solved/{page}.html">solved page</a> shows them.'
    ),
}


@dataclass(frozen=True)
class Handout:
    """An assignment handed out after the course (the lab, lesson 07): its own zip."""

    zip: str  # where the zip is (relative to a page, or a URL)
    lessons: frozenset[str]  # the notebook names handed out with it
    what: str  # how a page names it: "the lab's files"
    label: str  # the landing page's line: "The debugging lab (its own hand-out, ...)"


@dataclass(frozen=True)
class Links:
    """Where a page sends its reader for the course files (relative to a page, or URLs)."""

    course_zip: str  # the student bundle: numpynet/ stubs, lessons/, the public checks
    solved_zip: str  # the solved lessons with the reference, for self-learners
    setup: str  # the set-up steps (a page of the site)
    later: tuple[Handout, ...] = ()  # the later assignments' zips, when the course has them

    def handout(self, name: str) -> Handout | None:
        """The later hand-out that holds lesson notebook ``name``, if any."""
        return next((h for h in self.later if name in h.lessons), None)


# --------------------------------------------------------------------------------------
# Small rewrites
# --------------------------------------------------------------------------------------


def drop_regions(source: str, begin: str, end: str, replacement: str | None) -> str:
    """``source`` with each ``begin``..``end`` region replaced (None: by nothing)."""
    lines = source.splitlines()
    regions = release.find_regions(lines, begin, end)
    out: list[str] = []
    cursor = 0
    for region in regions:
        out.extend(lines[cursor : region.begin])
        if replacement is not None:
            out.append(region.indent + replacement)
        cursor = region.end + 1
    out.extend(lines[cursor:])
    return "\n".join(out)


def unmark(source: str) -> str:
    """A solution without its release markers (what the solved page shows)."""
    markers = {release.BEGIN_SOLUTION, release.END_SOLUTION}
    return "\n".join(line for line in source.splitlines() if line.strip() not in markers)


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """Whether nbgrader marks ``cell`` as an answer cell."""
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def scrub_paths(nb: nbformat.NotebookNode, roots: Sequence[Path]) -> None:
    """Outputs name files relative to the course folder, never the build machine's folders.

    ``roots``: folders whose absolute path is cut from every output (with the separator after
    it), longest first, so ``<root>/solutions/numpynet/__init__.py`` reads
    ``numpynet/__init__.py`` as in a student's course folder.
    """
    prefixes = sorted({str(root).rstrip("/") + "/" for root in roots}, key=len, reverse=True)

    def clean(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return text

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = clean(output.text)
            for key, value in output.get("data", {}).items():
                if key.startswith("text/") and isinstance(value, str):
                    output.data[key] = clean(value)
            if "traceback" in output:
                output.traceback = [clean(line) for line in output.traceback]


def _solution_block(cells: list[nbformat.NotebookNode], label: str) -> list:
    return [
        nbformat.v4.new_markdown_cell(SOLUTION_OPEN.format(label=html.escape(label))),
        *cells,
        nbformat.v4.new_markdown_cell(SOLUTION_CLOSE),
    ]


# --------------------------------------------------------------------------------------
# The reference code of the package exercises
# --------------------------------------------------------------------------------------


def _find_function(tree: ast.AST, qualname: str) -> ast.AST | None:
    parts = qualname.split(".")
    nodes: list[ast.AST] = list(getattr(tree, "body", []))
    found: ast.AST | None = None
    for part in parts:
        found = next(
            (
                node
                for node in nodes
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == part
            ),
            None,
        )
        if found is None:
            return None
        nodes = list(getattr(found, "body", []))
    return found


def reference_code(package: Path, exercise: exercises.Exercise) -> str:
    """The reference function holding ``exercise``'s solution, without the release markers."""
    text = (package / exercise.module).read_text(encoding="utf-8")
    node = _find_function(ast.parse(text), exercise.qualname)
    if node is None:
        raise release.ReleaseError(f"no {exercise.qualname} in {package / exercise.module}")
    lines = text.splitlines()
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    last = node.end_lineno or node.lineno
    # The AST ends at the last statement: a region's closing marker may come after it.
    for region in release.find_regions(lines):
        if first - 1 <= region.begin < last:
            last = max(last, region.end + 1)
    body = "\n".join(lines[first - 1 : last])
    return unmark(textwrap.dedent(body)).rstrip() + "\n"


def _checks_end(nb: nbformat.NotebookNode, exercise: exercises.Exercise) -> int | None:
    """Index of the last cell of ``nb`` about ``exercise``: its checks, else its heading."""
    last = None
    mention = re.compile(rf"\bExercise {re.escape(exercise.number)}\b")
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith(f"{exercise.id}_") or (
            cell.cell_type == "code" and mention.search(cell.source.split("\n", 1)[0])
        ):
            last = index
    if last is None:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown" and mention.search(cell.source):
                return index
    return last


def reference_cells(
    nb: nbformat.NotebookNode, lesson: str, package: Path
) -> dict[int, list[nbformat.NotebookNode]]:
    """Per cell index of ``nb``: the collapsed reference code to insert after it."""
    inserts: dict[int, list[nbformat.NotebookNode]] = {}
    for exercise in exercises.EXERCISES:
        if exercise.lesson != f"{release.LESSONS}/{lesson}":
            continue
        where = _checks_end(nb, exercise)
        if where is None:
            where = len(nb.cells) - 1
        code = nbformat.v4.new_code_cell(reference_code(package, exercise))
        code.metadata["numpynet"] = {"reference": exercise.id}
        label = (
            f"{SHOW_SOLUTION}: Exercise {exercise.number}, the reference "
            f"{exercise.qualname} (numpynet/{exercise.module})"
        )
        inserts.setdefault(where, []).extend(_solution_block([code], label))
    return inserts


# --------------------------------------------------------------------------------------
# One page
# --------------------------------------------------------------------------------------


def banner(name: str, build: str, links: Links) -> str:
    """The note at the top of every lesson page: which build, and how to get the course."""
    stem = Path(name).stem
    handout = links.handout(name)
    bundle = handout.zip if handout else links.course_zip
    what = handout.what if handout else "the whole course"
    lines = [
        ":::{note}",
        AUDIENCE[build].format(page=stem),
        "",
        f'**Get the course:** <a class="numpynet-bundle" href="{bundle}">download {what} '
        "(zip)</a>, then follow the "
        f'<a href="{links.setup}">set-up steps</a>. '
        f"{{download}}`This lesson's student notebook <downloads/{name}>` alone needs the "
        "course folder beside it.",
    ]
    if build == "solved":
        lines += [
            "",
            f'Self-learner? <a class="numpynet-solved-bundle" href="{links.solved_zip}">'
            "Download the solved lessons with the reference code (zip)</a>.",
        ]
    lines.append(":::")
    return "\n".join(lines) + "\n"


def page_notebook(
    nb: nbformat.NotebookNode,
    name: str,
    build: str,
    links: Links,
    package: Path,
    roots: Sequence[Path] = (),
) -> nbformat.NotebookNode:
    """The notebook one page of ``build`` renders (a copy; ``nb`` is left alone).

    Args:
        nb: the executed solved lesson.
        name: its file name, e.g. ``"02_softmax_cross_entropy.ipynb"``.
        build: ``"solved"`` or ``"student"``.
        links: where the banner sends the reader.
        package: the reference ``numpynet/`` (solved pages show its exercise code).
        roots: build-machine folders cut from the outputs (``scrub_paths``).
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    scrub_paths(nb, roots)
    inserts = reference_cells(nb, name, package) if build == "solved" else {}
    cells: list[nbformat.NotebookNode] = []
    for index, cell in enumerate(nb.cells):
        # Hidden tests are the grader's: on no page.
        cell.source = drop_regions(cell.source, release.BEGIN_HIDDEN, release.END_HIDDEN, None)
        answer = is_solution(cell) or release.BEGIN_SOLUTION in cell.source
        if not answer:
            cells.append(cell)
        elif build == "student":
            if cell.cell_type == "markdown":
                cell.source = OMITTED_MARKDOWN
            else:
                cell.source = (
                    drop_regions(
                        cell.source, release.BEGIN_SOLUTION, release.END_SOLUTION, OMITTED_CODE
                    )
                    if release.BEGIN_SOLUTION in cell.source
                    else OMITTED_CODE
                )
                cell.outputs = []  # an output could give the answer away
                cell.execution_count = None
            cells.append(cell)
        else:
            cell.source = unmark(cell.source)
            cells.extend(_solution_block([cell], SHOW_SOLUTION))
        cells.extend(inserts.get(index, []))
    cells.insert(1, nbformat.v4.new_markdown_cell(banner(name, build, links)))
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def solved_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A solved lesson for the self-learner's download: no hidden tests, no release markers."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        cell.source = unmark(
            drop_regions(cell.source, release.BEGIN_HIDDEN, release.END_HIDDEN, None)
        )
    return nb


def solved_package(package: Path) -> dict[str, bytes]:
    """The reference ``numpynet/`` without release markers, keyed ``numpynet/<path>``."""
    files: dict[str, bytes] = {}
    for relative in release.source_files(package):
        data = (package / relative).read_bytes()
        if relative.suffix == ".py":
            data = (unmark(data.decode("utf-8")).rstrip("\n") + "\n").encode("utf-8")
        files[f"{release.PACKAGE}/{relative.as_posix()}"] = data
    return files


def graded_items(nb: nbformat.NotebookNode) -> list[tuple[str, float, bool]]:
    """(what, points, by hand) for each graded cell of a lesson, in order.

    A test cell is named by its first comment line (``# Notebook exercise 0.a: ...``); a
    hand-graded markdown answer by the heading of the instructions above it.
    """
    items: list[tuple[str, float, bool]] = []
    heading = ""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and not meta.get("solution"):
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
        if not meta.get("grade"):
            continue
        points = float(meta.get("points", 0))
        if cell.cell_type == "markdown":
            what = re.sub(r"\s*\(graded by hand\)", "", heading) or meta.get("grade_id", "answer")
            items.append((what, points, True))
        else:
            first = cell.source.split("\n", 1)[0]
            what = first.lstrip("#").strip() if first.startswith("#") else meta["grade_id"]
            items.append((what, points, False))
    return items
