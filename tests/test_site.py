"""The course website (``make site``, site/build.py), tested in a real browser.

Headless Chromium through playwright: every page loads without a console error or a failed
request, every image loads, the maths is typeset, every internal link resolves; and the
student pages show no solution of a graded exercise and no hidden test.
"""

from __future__ import annotations

import functools
import html
import http.server
import importlib.util
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from test_release import _secret_lines

from autograder import release

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _site_module():
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _site_module()


# --------------------------------------------------------------------------------------
# Page rewriting (no browser, no execution)
# --------------------------------------------------------------------------------------


def _lesson(name: str) -> nbformat.NotebookNode:
    return nbformat.read(build.SOURCE_LESSONS / name, as_version=4)


def test_student_pages_drop_solution_cells_and_their_outputs_and_hidden_tests() -> None:
    nb = _lesson("02_softmax_cross_entropy.ipynb")
    solutions = [i for i, cell in enumerate(nb.cells) if build._is_solution(cell)]
    assert solutions, "lesson 02 has solution cells (the derivation among them)"
    code = next(i for i in solutions if nb.cells[i].cell_type == "code")
    assert any(nb.cells[i].cell_type == "markdown" for i in solutions)  # the derivation
    nb.cells[code].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42")]
    for kind in build.BUILDS:
        page = build.page_notebook(nb, "02_softmax_cross_entropy.ipynb", kind)
        cells = page.cells[:1] + page.cells[2:]  # without the banner
        text = "\n".join(cell.source for cell in cells)
        assert "### BEGIN" not in text and "### END" not in text
        for index in solutions:
            original, shown = nb.cells[index], cells[index]
            if kind == "student":
                if original.cell_type == "markdown":
                    assert shown.source == build.OMITTED_MARKDOWN
                else:  # the region goes, the signature around it stays
                    inside = {line.strip() for line in release.region_text(original.source)}
                    assert build.OMITTED_CODE.strip() in shown.source
                    assert not inside & {line.strip() for line in shown.source.splitlines()}
                assert shown.get("outputs", []) == []
            else:
                assert shown.source == build._unmark(original.source)
        assert "downloads/02_softmax_cross_entropy.ipynb" in page.cells[1].source
    # the original is left alone
    assert nb.cells[code].outputs


def test_landing_page_maps_every_lesson_with_its_exercises_and_time() -> None:
    lessons = {
        path.name: _lesson(path.name) for path in sorted(build.SOURCE_LESSONS.glob("*.ipynb"))
    }
    page = build.landing_page(lessons, "student")
    for name in lessons:
        assert f"]({name})" in page
    assert "2.1 softmax (10)" in page and "about 2 hours" in page
    assert "../solved/index.html" in page


# --------------------------------------------------------------------------------------
# The built site in a browser
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both builds, made by the command line (lessons executed with NUMPYNET_FAST=1)."""
    pytest.importorskip("sphinx", reason="the site needs the dev extra (sphinx, myst-nb)")
    out = tmp_path_factory.mktemp("site")
    assert build.main(["--out", str(out), "--fast"]) == 0
    return out / "html"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _pages(site: Path) -> list[Path]:
    """The site's pages (the theme's template fragments in _static/ are not pages)."""
    return sorted(path for path in site.rglob("*.html") if "_static" not in path.parts)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site over HTTP on 127.0.0.1, as a reader gets it (browsers refuse fonts and
    some scripts from file:// pages)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _lesson_pages(site: Path, kind: str) -> list[Path]:
    return [
        site / kind / f"{path.stem}.html" for path in sorted(build.SOURCE_LESSONS.glob("*.ipynb"))
    ]


def _visit(browser, url: str) -> dict:
    """Load one page; return what went wrong and what it holds."""
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: message.type == "error" and problems.append(f"console: {message.text}"),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "requestfailed",
        lambda request: problems.append(f"failed request: {request.url} {request.failure}"),
    )
    page.goto(url, wait_until="load")
    maths = page.locator("span.math, div.math").count()
    if maths:
        # MathJax 3 renders every formula into an mjx-container inside its span/div.math.
        loaded = page.evaluate(
            "() => window.MathJax && MathJax.startup"
            " ? MathJax.startup.promise.then(() => true) : false"
        )
        if not loaded:
            problems.append("MathJax did not start")
    result = page.evaluate(
        """() => ({
            broken: Array.from(document.images)
                .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
            images: document.images.length,
            formulas: document.querySelectorAll('span.math, div.math').length,
            typeset: document.querySelectorAll(
                'span.math > mjx-container, div.math > mjx-container').length,
            errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
            links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
        })"""
    )
    page.close()
    return {"problems": problems, "maths": maths, **result}


@pytest.mark.slow
def test_every_page_loads_cleanly_with_its_images_maths_and_links(
    site: Path, served: str, browser
) -> None:
    pages = _pages(site)
    assert len(pages) >= 2 * 8  # six lessons, index, search... per build
    seen_images = typeset = 0
    for path in pages:
        where = path.relative_to(site)
        visit = _visit(browser, served + where.as_posix())
        assert visit["problems"] == [], (where, visit["problems"])
        assert visit["broken"] == [], (where, visit["broken"])
        if visit["maths"]:
            assert visit["typeset"] == visit["formulas"] > 0, (where, visit)
            assert visit["errors"] == 0, where
        seen_images += visit["images"]
        typeset += visit["typeset"]
        for link in visit["links"]:
            if not link.startswith(served):
                assert not link.startswith("file:"), (where, link)
                continue  # an external link (the theme's, none of the lessons')
            parts = urlsplit(link)
            target = site / unquote(parts.path).lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), (where, link)
            if parts.fragment and target.suffix == ".html":
                ids = re.findall(r'\bid="([^"]+)"', target.read_text())
                assert unquote(parts.fragment) in ids, (where, link)
    assert seen_images > 20 and typeset > 100  # the lessons' figures and formulas


@pytest.mark.slow
def test_every_lesson_page_has_figures_and_links_its_student_notebook(site: Path) -> None:
    for kind in build.BUILDS:
        for path in _lesson_pages(site, kind):
            text = path.read_text()
            found = re.search(rf'href="(_downloads/[0-9a-f]+/{path.stem}\.ipynb)"', text)
            assert found, (kind, path.name)
            assert (path.parent / found.group(1)).read_bytes() == (
                build.STUDENT_LESSONS / f"{path.stem}.ipynb"
            ).read_bytes()
        index = (site / kind / "index.html").read_text()
        for path in _lesson_pages(site, kind):
            assert f'href="{path.name}"' in index, (kind, path.name)
    for name in ("01_forward_pass", "05_training_mnist"):
        assert "<img" in (site / "solved" / f"{name}.html").read_text()


def _page_text(path: Path) -> str:
    """The text a reader of an HTML page sees (tags dropped, entities decoded)."""
    text = re.sub(r"<script\b.*?</script>|<style\b.*?</style>", "", path.read_text(), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _markdown_solution_phrases() -> set[str]:
    """Runs of 6+ plain words from the notebooks' markdown solutions (the derivation)."""
    phrases: set[str] = set()
    for path in sorted(build.SOURCE_LESSONS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown" and build._is_solution(cell):
                plain = re.sub(r"\$[^$]*\$|\*\*|[*`]", " ", cell.source.replace("$$", "$"))
                for sentence in re.split(r"[.:;()\n]", plain):
                    words = sentence.split()
                    if len(words) >= 6 and not any("\\" in w or "###" in w for w in words):
                        phrases.add(" ".join(words))
    return phrases


def _leaks(path: Path, secrets: set[str], phrases: set[str]) -> list[str]:
    text = _page_text(path)
    lines = {line.strip() for line in text.splitlines()}
    flat = " ".join(text.split())
    return sorted(secrets & lines) + sorted(p for p in phrases if p in flat)


@pytest.mark.slow
def test_student_pages_show_no_graded_solution_and_no_page_shows_hidden_tests(site: Path) -> None:
    secrets = _secret_lines()
    phrases = _markdown_solution_phrases()
    assert len(phrases) >= 3
    hidden = {
        line.strip()
        for path in sorted(build.SOURCE_LESSONS.glob("*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells
        for line in release.region_text(cell.source, release.BEGIN_HIDDEN, release.END_HIDDEN)
        if len(line.strip()) >= 8
    } & secrets
    assert hidden, "the lessons have hidden tests to look for"
    for path in sorted((site / "student").rglob("*.html")):
        assert _leaks(path, secrets, phrases) == [], path.name
    solved = [_leaks(path, secrets, phrases) for path in _lesson_pages(site, "solved")]
    # Guard: the same scan sees the solutions on the solved pages...
    assert sum(len(found) for found in solved) > 20
    # ...which still never show a hidden test.
    for path in sorted((site / "solved").rglob("*.html")):
        text = {line.strip() for line in _page_text(path).splitlines()}
        assert not (hidden & text), path.name
    # And no downloadable notebook is a solved one.
    for notebook in (site / "student").rglob("*.ipynb"):
        assert notebook.read_bytes() == (build.STUDENT_LESSONS / notebook.name).read_bytes()


def test_site_needs_no_browser_download() -> None:
    """CI installs Debian's chromium (.ci/run), as it does bubblewrap: never a browser build."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -q chromium" in ci
    assert "playwright install" not in ci
