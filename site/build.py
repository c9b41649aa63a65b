"""``make site``: the course as static HTML, in two builds.

* ``solved/``: the lessons of ``solutions/lessons`` executed with the reference package
  (``PYTHONPATH=solutions``), every figure and output included, the worked solutions of the
  notebook exercises shown. For self-learners reading the whole course, and instructors.
* ``student/``: the same pages with the solution of every graded exercise left out (solution
  cells and their outputs, the hand-graded derivation). Safe to give to students.

Both builds strip the hidden tests, link each page to its student notebook (a download) and
open on a landing page with the course map. The executed notebooks are cached under the
output folder, keyed by the notebook, the reference package and the environment that changes
their output, so a rebuild after a text-only edit re-executes only that lesson.

Usage: ``python site/build.py [--out build/site] [--fast] [--only solved|student]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # Appended, not put first: ROOT also holds the student stubs, which must never shadow
    # a reference numpynet already on the path (the test suite's).
    sys.path.append(str(ROOT))

from autograder import exercises, release  # noqa: E402

SITE = ROOT / "site"
SOURCE_LESSONS = ROOT / release.SOLUTIONS / release.LESSONS
REFERENCE = ROOT / release.SOLUTIONS  # holds the reference numpynet/
STUDENT_LESSONS = ROOT / release.LESSONS
DEFAULT_OUT = ROOT / "build" / "site"
BUILDS = ("solved", "student")
CELL_TIMEOUT_S = 600

# What a reader of each build is told at the top of every lesson.
AUDIENCE = {
    "solved": (
        "**Solved course**: for self-learners and instructors. This page shows the worked "
        "solutions of the lesson's notebook exercises. Taking the graded course? Use the "
        '<a href="../student/{page}.html">student page</a> instead.'
    ),
    "student": (
        "**Student page**: the lesson as you will work through it; the solutions of its graded "
        "exercises are left out. The "
        '<a href="../solved/{page}.html">solved page</a> shows them.'
    ),
}
OMITTED_CODE = "# Graded exercise: your solution goes here (see the student notebook)."
OMITTED_MARKDOWN = (
    "*Graded exercise: the solution is not shown on the student pages. Write yours in the "
    "student notebook.*"
)


# --------------------------------------------------------------------------------------
# Executing the solved lessons (cached)
# --------------------------------------------------------------------------------------


def _execution_env(fast: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMPYNET_FAST")}
    # The reference, ahead of the student stubs; then the lessons' own modules (lesson 06
    # imports debugging_lab from its folder, and the kernels run in a scratch folder).
    env["PYTHONPATH"] = os.pathsep.join([str(REFERENCE), str(SOURCE_LESSONS)])
    if fast:
        env["NUMPYNET_FAST"] = "1"
    shared = ROOT.parent / "shared" / "data" / "mnist"
    if "MNIST_DIR" not in env and shared.is_dir():
        env["MNIST_DIR"] = str(shared)
    return env


def _cache_key(notebook: Path, env: dict[str, str]) -> str:
    digest = hashlib.sha256(notebook.read_bytes())
    modules = [*(REFERENCE / release.PACKAGE).rglob("*.py"), *SOURCE_LESSONS.glob("*.py")]
    for path in sorted(modules):
        digest.update(path.relative_to(REFERENCE).as_posix().encode() + path.read_bytes())
    digest.update(json.dumps([env.get("NUMPYNET_FAST"), sys.version]).encode())
    return digest.hexdigest()[:16]


def executed_lessons(cache: Path, fast: bool) -> dict[str, nbformat.NotebookNode]:
    """Every solved lesson, executed with the reference (from the cache when unchanged).

    Raises RuntimeError naming the lesson and cell when a cell fails.
    """
    env = _execution_env(fast)
    cache.mkdir(parents=True, exist_ok=True)
    done: dict[str, nbformat.NotebookNode] = {}
    for notebook in sorted(SOURCE_LESSONS.glob("*.ipynb")):
        cached = cache / f"{notebook.stem}-{_cache_key(notebook, env)}.ipynb"
        if not cached.is_file():
            for stale in cache.glob(f"{notebook.stem}-*.ipynb"):
                stale.unlink()
            started = time.perf_counter()
            _execute(notebook, cached, env)
            print(f"site: executed {notebook.name} in {time.perf_counter() - started:.1f} s")
        done[notebook.name] = nbformat.read(cached, as_version=4)
    return done


def _execute(notebook: Path, target: Path, env: dict[str, str]) -> None:
    """Run ``notebook`` in a child process (its kernel sees ``env``), write it to ``target``."""
    work = target.parent / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    script = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        f"NotebookClient(nb, timeout={CELL_TIMEOUT_S}, kernel_name='python3',\n"
        "               resources={'metadata': {'path': sys.argv[3]}}).execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    partial = target.with_suffix(".partial")
    completed = subprocess.run(
        [sys.executable, "-c", script, str(notebook), str(partial), str(work)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(work, ignore_errors=True)
    if completed.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"executing {notebook.name} failed:\n{completed.stderr[-4000:]}")
    partial.replace(target)


# --------------------------------------------------------------------------------------
# The pages of each build
# --------------------------------------------------------------------------------------


def _drop_regions(source: str, begin: str, end: str, replacement: str | None) -> str:
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


def _unmark(source: str) -> str:
    """The solved page shows a solution without its release markers."""
    markers = {release.BEGIN_SOLUTION, release.END_SOLUTION}
    return "\n".join(line for line in source.splitlines() if line.strip() not in markers)


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def page_notebook(nb: nbformat.NotebookNode, name: str, build: str) -> nbformat.NotebookNode:
    """The notebook one page of ``build`` renders (a copy; ``nb`` is left alone)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    stem = Path(name).stem
    for cell in nb.cells:
        # Hidden tests are the grader's: on no page.
        cell.source = _drop_regions(cell.source, release.BEGIN_HIDDEN, release.END_HIDDEN, None)
        if build == "student" and (_is_solution(cell) or release.BEGIN_SOLUTION in cell.source):
            if cell.cell_type == "markdown":
                cell.source = OMITTED_MARKDOWN
            else:
                cell.source = (
                    _drop_regions(
                        cell.source, release.BEGIN_SOLUTION, release.END_SOLUTION, OMITTED_CODE
                    )
                    if release.BEGIN_SOLUTION in cell.source
                    else OMITTED_CODE
                )
                cell.outputs = []  # an output could give the answer away
                cell.execution_count = None
        else:
            cell.source = _unmark(cell.source)
    banner = (
        ":::{note}\n"
        + AUDIENCE[build].format(page=stem)
        + f"\n\n{{download}}`Download the student notebook <downloads/{name}>` to work through"
        " the lesson yourself (set-up: the course README).\n:::\n"
    )
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(banner))
    nb.metadata.pop("widgets", None)
    return nb


def _lesson_summary(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """(title, time) from a lesson's first cell."""
    first = nb.cells[0].source
    title = first.splitlines()[0].lstrip("# ").strip()
    found = re.search(r"\*\*Time:\*\*\s*([^\n]*)", first)
    return title, found.group(1).strip() if found else ""


def landing_page(lessons: dict[str, nbformat.NotebookNode], build: str) -> str:
    """index.md: what the course is, who this build is for, and the course map."""
    other = "student" if build == "solved" else "solved"
    rows = ["| lesson | package exercises (points) | time |", "| --- | --- | --- |"]
    for name, nb in lessons.items():
        title, spent = _lesson_summary(nb)
        found = [ex for ex in exercises.EXERCISES if ex.lesson == f"{release.LESSONS}/{name}"]
        listed = ", ".join(f"{ex.number} {ex.title} ({ex.points})" for ex in found)
        rows.append(f"| [{title}]({name}) | {listed} | {spent.split(':')[0]} |")
    who = {
        "solved": (
            "These are the **solved** pages: every lesson executed with the course's reference "
            "code, with the worked solutions of the notebook exercises. They are for "
            "self-learners who want to read the whole course, and for instructors. If you are "
            f'taking the graded course, read the <a href="../{other}/index.html">student '
            "pages</a> instead."
        ),
        "student": (
            "These are the **student** pages: every lesson with its figures and outputs, the "
            "solutions of graded exercises left out. The "
            f'<a href="../{other}/index.html">solved pages</a> show them, for self-learners '
            "and instructors."
        ),
    }[build]
    toctree = "\n".join(Path(name).stem for name in lessons)
    return f"""# NumPyNet: a neural network from scratch, in plain NumPy

Derive, implement and train a 784-128-10 multi-layer perceptron that reads handwritten digits
(MNIST), with nothing but NumPy: every piece is derived on paper, checked on numbers small
enough to do by hand, implemented and tested.

{who}

Every lesson page links to its student notebook. To do the exercises you need the course
folder (the `numpynet/` package you fill in, the lessons and the checks) and a Python
set-up; its README gives the commands.

## Course map

{chr(10).join(rows)}

Lesson 0 loads the data and writes the mini-batch loader; lessons 1 to 4 build the forward
pass, the loss and its gradient, back-propagation and the optimisers; lesson 5 trains the
whole network on MNIST (about 98% test accuracy) and looks hard at the result.

```{{toctree}}
:hidden:
:maxdepth: 1

{toctree}
```
"""


def write_sources(lessons: dict[str, nbformat.NotebookNode], build: str, src: Path) -> None:
    """The Sphinx source folder of one build."""
    shutil.rmtree(src, ignore_errors=True)
    (src / "downloads").mkdir(parents=True)
    for name, nb in lessons.items():
        nbformat.write(page_notebook(nb, name, build), src / name)
        shutil.copyfile(STUDENT_LESSONS / name, src / "downloads" / name)
    (src / "index.md").write_text(landing_page(lessons, build))


def mathjax_static(out: Path) -> Path:
    """A static folder holding MathJax 3 (from the sphinx-mathjax-offline package): the pages
    typeset maths without reaching any server."""
    from importlib import metadata

    source = Path(
        metadata.distribution("sphinx-mathjax-offline").locate_file(
            "sphinx-mathjax-offline/static/mathjax"
        )
    )
    static = out / "static"
    target = static / "mathjax"
    if not (target / "tex-svg.js").is_file():
        shutil.rmtree(static, ignore_errors=True)
        shutil.copytree(source, target)
    return static


def sphinx(src: Path, html: Path, static: Path, build: str) -> None:
    env = {**os.environ, "NUMPYNET_SITE_STATIC": str(static), "NUMPYNET_SITE_BUILD": build}
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going"]
    command += ["-c", str(SITE), "-d", str(html.parent / f".doctrees-{build}")]
    completed = subprocess.run([*command, str(src), str(html)], env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"sphinx-build of the {build} pages failed (see above)")


def build_site(out: Path = DEFAULT_OUT, fast: bool = False, only: str | None = None) -> Path:
    """Build the site under ``out/html/{solved,student}``; return ``out/html``."""
    lessons = executed_lessons(out / "cache", fast)
    static = mathjax_static(out)
    html = out / "html"
    for build in BUILDS if only is None else (only,):
        write_sources(lessons, build, out / "src" / build)
        sphinx(out / "src" / build, html / build, static, build)
        print(f"site: {build} pages in {html / build}")
    # The root page only says which build is for whom.
    (html / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<link rel="icon" href="student/_static/favicon.svg">'
        "<title>NumPyNet course</title></head><body>\n"
        "<h1>NumPyNet: a neural network from scratch, in plain NumPy</h1>\n<ul>\n"
        '<li><a href="student/index.html">Student pages</a>: the lessons with their figures, '
        "the solutions of graded exercises left out. For students taking the graded "
        "course.</li>\n"
        '<li><a href="solved/index.html">Solved pages</a>: the same lessons with the worked '
        "solutions. For self-learners and instructors.</li>\n</ul>\n</body></html>\n"
    )
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python site/build.py", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="(build/site)")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="execute with NUMPYNET_FAST=1 (lesson 5 trains less: quicker, rougher figures)",
    )
    parser.add_argument("--only", choices=BUILDS, help="build one of the two (default both)")
    args = parser.parse_args(argv)
    try:
        build_site(args.out.resolve(), args.fast, args.only)
    except RuntimeError as error:
        print(f"site: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
