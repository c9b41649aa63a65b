"""``make site``: the course as static HTML, in two builds.

* ``solved/``: the lessons of ``solutions/lessons`` executed with the reference package
  (``PYTHONPATH=solutions``), every figure and output included, every graded answer and the
  reference code of each package exercise folded under "Show solution". For self-learners
  reading the whole course, and instructors.
* ``student/``: the same pages with the solution of every graded exercise left out (solution
  cells and their outputs, the hand-graded derivation). Safe to give to students.

Both builds strip the hidden tests, link each page to its student notebook, to the course
bundle (a zip built here, ``html/downloads/``) and to the set-up steps, and open on a landing
page with the course map (``site_landing.py``); ``site_pages.py`` rewrites each lesson for its
build. The downloads: the student bundle, the lab's and the solved course. The executed
notebooks are cached under the output folder, keyed by the notebook, the reference package and
the environment that changes their output, so a rebuild after a text-only edit re-executes only
that lesson.

Usage: ``python site/build.py [--out build/site] [--fast] [--only solved|student]
[--downloads-url URL]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
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

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))  # site_pages, site_landing

import site_landing  # noqa: E402
import site_pages  # noqa: E402

from autograder import release  # noqa: E402

SITE = ROOT / "site"
SOURCE_LESSONS = ROOT / release.SOLUTIONS / release.LESSONS
REFERENCE = ROOT / release.SOLUTIONS  # holds the reference numpynet/
STUDENT_LESSONS = ROOT / release.LESSONS
DEFAULT_OUT = ROOT / "build" / "site"
BUILDS = ("solved", "student")
CELL_TIMEOUT_S = 600

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
# Downloads: the course bundle, the lab, the solved course
# --------------------------------------------------------------------------------------

COURSE_ZIP = "numpynet-course.zip"
# The assignments handed out after the course, each with its own zip: (zip, what a lesson
# page calls it, the landing page's line).
LATER = {
    "lab": (
        "numpynet-lab.zip",
        "the lab's files",
        "The debugging lab (its own hand-out, after the course)",
    ),
    "beyond": (
        "numpynet-beyond.zip",
        "lesson 07's files",
        "Lesson 07, beyond RMSProp (its own hand-out, after the course)",
    ),
}
SOLVED_ZIP = "numpynet-solved.zip"
DOWNLOADS = "downloads"  # html/downloads/: served with the site
SOLVED_README = """\
# NumPyNet, solved: the course with every exercise done

This is the course folder with the reference solutions: `numpynet/` is the course's
reference package and `lessons/` are the lessons with every exercise solved (the graders'
hidden tests left out). Read and run them beside your own attempt; the set-up is the same as
the course's, below.

"""


def _solved_files(course: dict[str, bytes], generated: dict[str, bytes]) -> dict[str, bytes]:
    """The self-learner's download: the course bundle with the reference package and every
    solved lesson (the lab's too)."""
    files = {
        name: data
        for name, data in course.items()
        if not name.startswith((f"{release.PACKAGE}/", f"{release.LESSONS}/"))
    }
    files.update(site_pages.solved_package(REFERENCE / release.PACKAGE))
    for name in generated:
        if not name.startswith(f"{release.LESSONS}/"):
            continue
        source = SOURCE_LESSONS / name.split("/", 1)[1]
        if source.suffix == ".ipynb":
            nb = site_pages.solved_notebook(nbformat.read(source, as_version=4))
            files[name] = nbformat.writes(nb).encode("utf-8")
        else:
            files[name] = source.read_bytes()
    files["README.md"] = SOLVED_README.encode() + course["README.md"]
    return files


def write_downloads(target: Path) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """The zips a reader downloads, under ``target``; returns the course bundle's files and,
    per later assignment written (lab, beyond), the lesson notebooks only its zip holds."""
    generated = release.build(ROOT)
    course = release.bundle_files(ROOT, generated, "course")
    shutil.rmtree(target, ignore_errors=True)
    release.write_bundle(course, target / COURSE_ZIP)
    later: dict[str, list[str]] = {}
    for assignment, (zip_name, _, _) in LATER.items():
        try:
            files = release.bundle_files(ROOT, generated, assignment)
        except (release.ReleaseError, KeyError):
            continue  # a course without that assignment
        release.write_bundle(files, target / zip_name)
        later[assignment] = [
            name.split("/", 1)[1]
            for name in files
            if name.endswith(".ipynb") and name not in course and name.startswith(release.LESSONS)
        ]
    release.write_bundle(_solved_files(course, generated), target / SOLVED_ZIP)
    return course, later


def make_links(
    downloads_url: str | None, prefix: str, later: dict[str, list[str]] | None = None
) -> site_pages.Links:
    """Where pages send readers: ``downloads_url`` (a hosted site's) or the zips served
    with the site, ``prefix`` being the way from a page to the site's root; ``later``: the
    lessons of each later assignment whose zip was written (:func:`write_downloads`)."""
    base = downloads_url.rstrip("/") if downloads_url else f"{prefix}{DOWNLOADS}"
    setup = f"{site_landing.SETUP_PAGE}.html#{site_landing.SETUP_ANCHOR}"
    return site_pages.Links(
        course_zip=f"{base}/{COURSE_ZIP}",
        solved_zip=f"{base}/{SOLVED_ZIP}",
        setup=setup if prefix == "../" else f"student/{setup}",
        later=tuple(
            site_pages.Handout(f"{base}/{LATER[a][0]}", frozenset(names), *LATER[a][1:])
            for a, names in (later or {}).items()
        ),
    )


# --------------------------------------------------------------------------------------
# The Sphinx sources and builds
# --------------------------------------------------------------------------------------


def write_sources(
    lessons: dict[str, nbformat.NotebookNode],
    build: str,
    src: Path,
    links: site_pages.Links,
    readme: str,
) -> None:
    """The Sphinx source folder of one build."""
    shutil.rmtree(src, ignore_errors=True)
    (src / "downloads").mkdir(parents=True)
    roots = [REFERENCE, ROOT, SOURCE_LESSONS, Path(sys.prefix)]
    for name, nb in lessons.items():
        page = site_pages.page_notebook(
            nb, name, build, links, REFERENCE / release.PACKAGE, roots=roots
        )
        nbformat.write(page, src / name)
        shutil.copyfile(STUDENT_LESSONS / name, src / "downloads" / name)
    (src / "index.md").write_text(site_landing.landing_page(lessons, build, links))
    (src / f"{site_landing.SETUP_PAGE}.md").write_text(
        site_landing.setup_page(readme, build, links)
    )


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
    """sphinx-build one build's sources into ``html`` (warnings are errors)."""
    env = {**os.environ, "NUMPYNET_SITE_STATIC": str(static), "NUMPYNET_SITE_BUILD": build}
    # myst-nb writes its output images to <outdir>/../jupyter_execute: build in a scratch
    # folder, then move the pages alone to html/<build>.
    scratch = html.parent.parent / "sphinx" / build
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going"]
    command += ["-c", str(SITE), "-d", str(scratch.parent / f".doctrees-{build}")]
    completed = subprocess.run([*command, str(src), str(scratch)], env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"sphinx-build of the {build} pages failed (see above)")
    shutil.rmtree(html, ignore_errors=True)
    shutil.copytree(scratch, html)


def build_site(
    out: Path = DEFAULT_OUT,
    fast: bool = False,
    only: str | None = None,
    downloads_url: str | None = None,
) -> Path:
    """Build the site under ``out/html/{solved,student}``; return ``out/html``.

    ``downloads_url``: where a hosted site serves the zips (default: ``html/downloads/``,
    served with the pages).
    """
    lessons = executed_lessons(out / "cache", fast)
    static = mathjax_static(out)
    html = out / "html"
    html.mkdir(parents=True, exist_ok=True)
    course, later = write_downloads(html / DOWNLOADS)
    links = make_links(downloads_url, "../", later)
    readme = course["README.md"].decode("utf-8")
    for build in BUILDS if only is None else (only,):
        write_sources(lessons, build, out / "src" / build, links, readme)
        sphinx(out / "src" / build, html / build, static, build)
        print(f"site: {build} pages in {html / build}")
    shutil.rmtree(html / "jupyter_execute", ignore_errors=True)  # older builds left it here
    (html / "index.html").write_text(site_landing.root_page(make_links(downloads_url, "", later)))
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
    parser.add_argument(
        "--downloads-url",
        default=os.environ.get("NUMPYNET_SITE_DOWNLOADS_URL"),
        help="where a hosted site serves the zips of html/downloads/ (default: beside the pages;"
        " or set NUMPYNET_SITE_DOWNLOADS_URL)",
    )
    args = parser.parse_args(argv)
    try:
        build_site(args.out.resolve(), args.fast, args.only, args.downloads_url)
    except (RuntimeError, release.ReleaseError) as error:
        print(f"site: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
