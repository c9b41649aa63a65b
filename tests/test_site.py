"""The course website (``make site``, site/build.py), tested in a real browser.

Headless Chromium through playwright: every page loads without a console error or a failed
request, every image loads, the maths is typeset, every internal link resolves; and the
student pages show no solution of a graded exercise and no hidden test.
"""

from __future__ import annotations

import ast
import fcntl
import functools
import html
import http.server
import importlib.util
import os
import re
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from support import CHROMIUM, CHROMIUM_ARGS
from test_release import _secret_lines

from autograder import exercises, release

ROOT = Path(__file__).resolve().parents[1]


def _site_module():
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _site_module()
pages = build.site_pages
landing = build.site_landing


# --------------------------------------------------------------------------------------
# Page rewriting (no browser, no execution)
# --------------------------------------------------------------------------------------

LINKS = pages.Links(
    course_zip="../downloads/course.zip",
    solved_zip="../downloads/solved.zip",
    setup="get-the-course.html#set-up-once",
    later=(
        pages.Handout(
            "../downloads/lab.zip", frozenset({"06_debugging_lab.ipynb"}), "the lab's files", "Lab"
        ),
    ),
)
PACKAGE = build.REFERENCE / release.PACKAGE


def _lesson(name: str) -> nbformat.NotebookNode:
    return nbformat.read(build.SOURCE_LESSONS / name, as_version=4)


def _lesson_names() -> list[str]:
    return [path.name for path in sorted(build.SOURCE_LESSONS.glob("*.ipynb"))]


def _page(nb: nbformat.NotebookNode, name: str, kind: str) -> nbformat.NotebookNode:
    return pages.page_notebook(nb, name, kind, LINKS, PACKAGE)


def test_student_pages_drop_solution_cells_and_their_outputs_and_hidden_tests() -> None:
    nb = _lesson("02_softmax_cross_entropy.ipynb")
    solutions = [i for i, cell in enumerate(nb.cells) if pages.is_solution(cell)]
    assert solutions, "lesson 02 has solution cells (the derivation among them)"
    code = next(i for i in solutions if nb.cells[i].cell_type == "code")
    assert any(nb.cells[i].cell_type == "markdown" for i in solutions)  # the derivation
    nb.cells[code].outputs = [nbformat.v4.new_output("stream", name="stdout", text="42")]
    page = _page(nb, "02_softmax_cross_entropy.ipynb", "student")
    cells = page.cells[:1] + page.cells[2:]  # without the banner
    assert len(cells) == len(nb.cells)  # nothing added on the student pages
    text = "\n".join(cell.source for cell in cells)
    assert "### BEGIN" not in text and "### END" not in text
    assert pages.SHOW_SOLUTION not in text
    for index in solutions:
        original, shown = nb.cells[index], cells[index]
        if original.cell_type == "markdown":
            assert shown.source == pages.OMITTED_MARKDOWN
        else:  # the region goes, the signature around it stays
            inside = {line.strip() for line in release.region_text(original.source)}
            assert pages.OMITTED_CODE.strip() in shown.source
            assert not inside & {line.strip() for line in shown.source.splitlines()}
        assert shown.get("outputs", []) == []
    assert "downloads/02_softmax_cross_entropy.ipynb" in page.cells[1].source
    assert nb.cells[code].outputs  # the original is left alone


def _blocks(page: nbformat.NotebookNode) -> list[tuple[str, list[nbformat.NotebookNode]]]:
    """The "Show solution" blocks of a page: (summary, the cells inside)."""
    found, inside, label = [], None, ""
    for cell in page.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("<details"):
            assert inside is None, "blocks do not nest"
            inside, label = [], re.search(r"<summary>(.*?)</summary>", cell.source).group(1)
            if cell.source.rstrip().endswith("</details>"):  # a markdown answer: one cell
                found.append((label, [cell]))
                inside = None
        elif cell.cell_type == "markdown" and cell.source.strip() == pages.SOLUTION_CLOSE:
            found.append((label, inside))
            inside = None
        elif inside is not None:
            inside.append(cell)
    assert inside is None, "every block is closed"
    return found


@pytest.mark.parametrize("name", _lesson_names())
def test_solved_pages_fold_every_answer_and_each_exercise_reference(name: str) -> None:
    nb = _lesson(name)
    page = _page(nb, name, "solved")
    blocks = _blocks(page)
    folded = "\n".join(c.source for _, block in blocks for c in block)
    outside = "\n".join(
        c.source for c in page.cells if not any(c is x for _, b in blocks for x in b)
    )
    # Every answer cell of the lesson is inside a block, unmarked, and nowhere else.
    for cell in nb.cells:
        if pages.is_solution(cell):
            shown = pages.unmark(cell.source).strip()
            assert shown and shown in folded, (name, cell.source[:60])
            secret = [ln.strip() for ln in release.region_text(cell.source) if len(ln.strip()) > 8]
            assert not any(line in outside.splitlines() for line in secret), name
    assert "### BEGIN" not in folded + outside and "### END" not in folded + outside
    # Each package exercise of the lesson: its reference function, after its checks.
    for exercise in exercises.EXERCISES:
        if exercise.lesson != f"{release.LESSONS}/{name}":
            continue
        label, cells = next(
            (label, cells) for label, cells in blocks if f"Exercise {exercise.number}," in label
        )
        assert label.startswith(pages.SHOW_SOLUTION), label
        (code,) = cells
        source = (PACKAGE / exercise.module).read_text()
        start, end = _function_span(source, exercise.qualname)
        lines = source.splitlines()
        (found,) = [r for r in release.find_regions(lines) if start <= r.begin < end]
        region = lines[found.begin + 1 : found.end]
        assert region and all(line.strip() in code.source for line in region), exercise.id
        assert f"def {exercise.qualname.split('.')[-1]}(" in code.source
        assert code.outputs == []
        checks = [
            i
            for i, c in enumerate(page.cells)
            if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(f"{exercise.id}_")
        ]
        at = next(i for i, c in enumerate(page.cells) if c is code)
        assert not checks or at > max(checks), exercise.id


def _function_span(source: str, qualname: str) -> tuple[int, int]:
    """0-based [start, end) lines of the function ``qualname`` in ``source`` (by ast)."""
    node: ast.AST = ast.parse(source)
    for part in qualname.split("."):
        node = next(
            n
            for n in node.body  # type: ignore[attr-defined]
            if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == part
        )
    return node.lineno - 1, node.end_lineno  # type: ignore[attr-defined]


def test_outputs_name_course_paths_not_the_build_machines() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(nn.__file__)")
    where = f"{build.REFERENCE}/numpynet/__init__.py"
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"numpynet from {where}\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": f"'{build.ROOT}/x.py'"}),
    ]
    nb.cells = [cell]
    pages.scrub_paths(nb, [build.REFERENCE, build.ROOT])
    assert nb.cells[0].outputs[0].text == "numpynet from numpynet/__init__.py\n"
    assert nb.cells[0].outputs[1].data["text/plain"] == "'x.py'"


def test_landing_page_maps_every_graded_item_with_points_and_time() -> None:
    lessons = {name: _lesson(name) for name in _lesson_names()}
    page = landing.landing_page(lessons, "student", LINKS)
    table = page[page.index("## Course map") :]
    # One list item per lesson: its line and the indented lines under it.
    items = re.split(r"\n(?=- )", table)
    rows = {name: next(item for item in items if f"]({name})" in item) for name in lessons}
    totals = dict.fromkeys(landing.LABELS, 0.0)
    for name, nb in lessons.items():
        assignment = next(a for a in landing.LABELS if exercises.in_assignment(Path(name).stem, a))
        row = rows[name]
        spent = r"\*\*Time:\*\*\s*(about [0-9.]+(?: to [0-9.]+)? (?:minutes|hours?))"
        time = re.search(spent, nb.cells[0].source)
        assert time and f"]({name})**, {time.group(1)}\n" in row, (name, row)
        for exercise in exercises.ALL_EXERCISES:
            if exercise.lesson == f"{release.LESSONS}/{name}":
                assert f"{exercise.number} " in row and f"({exercise.points})" in row, exercise.id
                totals[assignment] += exercise.points
        graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        for cell in graded:
            points = cell.metadata["nbgrader"]["points"]
            assert f"({points:g}" in row, (name, cell.metadata["nbgrader"]["grade_id"])
        notebook = next(line for line in row.splitlines() if "Graded in the notebook" in line)
        assert notebook.count("; ") + 1 == len(graded), (name, notebook)
        total = sum(c.metadata["nbgrader"]["points"] for c in graded)
        totals[assignment] += total
    for total in totals.values():
        assert f"**{total:g} points**" in page
    challenge = re.search(r"The class challenge .*?\*\*(\d+) points\*\*(.*)", page)
    assert challenge and float(challenge.group(1)) == sum(e.points for e in exercises.CHALLENGE)
    for entry in exercises.CHALLENGE:
        assert f"{entry.number} {entry.points} at {entry.threshold:.0%}" in challenge.group(2)
    assert "__" not in table.replace("\\_", "")  # dunder names shown literally, not bold
    assert "## Before you start" in page
    for topic in ("Python", "NumPy", "Calculus", "Linear algebra"):
        assert f"**{topic}**" in page
    assert LINKS.course_zip in page and LINKS.setup in page
    assert LINKS.solved_zip not in page  # the student landing offers no solutions
    assert LINKS.solved_zip in landing.landing_page(lessons, "solved", LINKS)


def test_where_the_zips_come_from_is_one_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--downloads-url URL`` (or NUMPYNET_SITE_DOWNLOADS_URL) moves every download link."""
    seen: dict[str, object] = {}

    def fake_build(out: Path, fast: bool, only: str | None, url: str | None) -> Path:
        seen["url"] = url
        return out

    monkeypatch.setattr(build, "build_site", fake_build)
    monkeypatch.delenv("NUMPYNET_SITE_DOWNLOADS_URL", raising=False)
    assert build.main([]) == 0 and seen["url"] is None
    assert build.main(["--downloads-url", "https://example.org/dl"]) == 0
    assert seen["url"] == "https://example.org/dl"
    monkeypatch.setenv("NUMPYNET_SITE_DOWNLOADS_URL", "https://example.org/env")
    assert build.main([]) == 0 and seen["url"] == "https://example.org/env"
    later = {"lab": ["06_debugging_lab.ipynb"], "beyond": ["07_beyond_rmsprop.ipynb"]}
    hosted = build.make_links("https://example.org/dl/", "../", later)
    local = build.make_links(None, "../", later)
    assert local.course_zip == f"../{build.DOWNLOADS}/{build.COURSE_ZIP}"
    lab, beyond = hosted.later
    for link in (hosted.course_zip, lab.zip, beyond.zip, hosted.solved_zip):
        assert link.startswith("https://example.org/dl/numpynet-") and link.endswith(".zip")
    lessons = {name: _lesson(name) for name in _lesson_names()[:2]}
    for kind in build.BUILDS:
        text = landing.landing_page(lessons, kind, hosted) + pages.banner(
            "01_forward_pass.ipynb", kind, hosted
        )
        assert hosted.course_zip in text and "../downloads" not in text
    assert lab.zip in pages.banner("06_debugging_lab.ipynb", "student", hosted)
    assert beyond.zip in pages.banner("07_beyond_rmsprop.ipynb", "student", hosted)
    assert hosted.course_zip in pages.banner("05_training_mnist.ipynb", "student", hosted)


def test_lesson_time_stops_at_the_duration() -> None:
    nb = nbformat.v4.new_notebook()
    for first, expected in [
        ("**Time:** about 2 hours. **Hand-in:** this lab is its own", "about 2 hours"),
        ("**Time:** about 1.5 hours: the backward passes", "about 1.5 hours"),
        ("**Time:** about 45 minutes, then", "about 45 minutes"),
    ]:
        nb.cells = [nbformat.v4.new_markdown_cell(f"# Lesson 9 - X\n\n{first}")]
        assert landing.lesson_summary(nb) == ("Lesson 9 - X", expected)


# --------------------------------------------------------------------------------------
# The built site in a browser
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both builds, made by the command line (lessons executed with NUMPYNET_FAST=1)."""
    pytest.importorskip("sphinx", reason="the site needs the dev extra (sphinx, myst-nb)")
    # Under pytest-xdist the site's tests may land on several workers: they share one build
    # (the session's temporary folder, under a lock) instead of each building its own.
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    out = shared / "site"
    with open(shared / "site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "built").is_file():
            assert build.main(["--out", str(out), "--fast"]) == 0
            (out / "built").touch()
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


LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# In the page: every display equation, measured (MathJax's container is the scroll box; the
# theme makes it so). Runs after opening every "Show solution" block, which hides its maths.
EQUATIONS_JS = """() => {
    document.querySelectorAll('details').forEach(d => { d.open = true; });
    return Array.from(document.querySelectorAll('div.math')).map(math => {
        const box = math.querySelector('mjx-container');
        const svg = box && box.querySelector('svg');
        const style = box ? getComputedStyle(box) : null;
        const rect = math.getBoundingClientRect();
        return {
            tex: math.textContent.slice(0, 60),
            width: svg ? svg.getBoundingClientRect().width : -1,
            room: box ? box.clientWidth : -1,
            scrolls: !!style && ['auto', 'scroll'].includes(style.overflowX),
            cue: math.classList.contains('numpynet-scrolls') && !!style
                && style.borderRightStyle !== 'none',
            right: rect.right,
        };
    });
}"""


def _visit(browser, url: str, viewport: dict | None = None) -> dict:
    """Load one page; return what went wrong and what it holds."""
    page = browser.new_page(viewport=viewport or LAPTOP)
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
            // MathJax's SVG glyphs carry their character: 5C is a backslash, which a formula
            // shows when a macro is not understood in text mode (\\text{log\\_softmax}).
            glyphs: document.querySelectorAll('mjx-container [data-c]').length,
            backslashes: Array.from(document.querySelectorAll('mjx-container'))
                .filter(m => m.querySelector('[data-c="5C"]'))
                .map(m => m.closest('.math').textContent.slice(0, 60)),
            links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            // Entries of the side columns cut off at the column's edge.
            cut: Array.from(document.querySelectorAll('.bd-sidebar-primary, .bd-sidebar-secondary'))
                .flatMap(column => {
                    const edge = column.getBoundingClientRect().right;
                    return Array.from(column.querySelectorAll('a, code'))
                        .filter(e => e.getClientRects().length
                                && e.getBoundingClientRect().right > edge + 1)
                        .map(e => e.textContent.trim().slice(0, 40));
                }),
        })"""
    )
    result["equations"] = page.evaluate(EQUATIONS_JS)
    page.close()
    return {"problems": problems, "maths": maths, **result}


@pytest.mark.slow
def test_every_page_loads_cleanly_with_its_images_maths_and_links(
    site: Path, served: str, browser
) -> None:
    """At laptop size (1366x900): also no page wider than the screen, every display
    equation fits its column, and no formula shows a backslash."""
    pages = _pages(site)
    assert len(pages) >= 2 * (len(_lesson_names()) + 4)  # lessons, index, set-up, search...
    seen_images = typeset = glyphs = equations = 0
    for path in pages:
        where = path.relative_to(site)
        visit = _visit(browser, served + where.as_posix())
        assert visit["problems"] == [], (where, visit["problems"])
        assert visit["broken"] == [], (where, visit["broken"])
        assert visit["overflow"] <= 0, (where, visit["overflow"])
        assert visit["cut"] == [], (where, visit["cut"])
        if visit["maths"]:
            assert visit["typeset"] == visit["formulas"] > 0, (where, visit)
            assert visit["errors"] == 0, where
            assert visit["backslashes"] == [], (where, visit["backslashes"])
        for equation in visit["equations"]:
            assert 0 < equation["width"] <= equation["room"] + 1, (where, equation)
        seen_images += visit["images"]
        typeset += visit["typeset"]
        glyphs += visit["glyphs"]
        equations += len(visit["equations"])
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
    assert glyphs > 1000 and equations > 50  # the backslash and width checks saw the maths


def _phone_page(browser, url: str):
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    return page, errors


def _dialog_open(page, dialog: str) -> bool:
    return page.evaluate(f"() => document.getElementById('{dialog}').open")


@pytest.mark.slow
def test_on_a_phone_menus_open_pages_fit_and_wide_equations_scroll_in_their_box(
    site: Path, served: str, browser
) -> None:
    scrolled = 0
    root, errors = _phone_page(browser, served + "index.html")
    assert root.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert root.locator('meta[name="viewport"]').count() == 1
    assert root.locator("a.numpynet-bundle").is_visible()
    root.close()
    for kind in build.BUILDS:
        setup = site / kind / f"{landing.SETUP_PAGE}.html"
        for path in [site / kind / "index.html", setup, *_lesson_pages(site, kind)]:
            where = path.relative_to(site).as_posix()
            page, errors = _phone_page(browser, served + where)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
            # The lesson menu: the visible button opens it, with every lesson in it.
            assert not _dialog_open(page, "pst-primary-sidebar-modal")
            page.locator(".primary-toggle:visible").click()
            page.wait_for_timeout(200)
            assert _dialog_open(page, "pst-primary-sidebar-modal"), where
            menu = page.locator("#pst-primary-sidebar-modal")
            for lesson in _lesson_pages(site, kind):
                if lesson != path:  # the current page's own entry links "#"
                    assert menu.locator(f'a[href="{lesson.name}"]').first.is_visible(), where
            page.keyboard.press("Escape")
            page.wait_for_timeout(200)
            assert not _dialog_open(page, "pst-primary-sidebar-modal"), where
            if path.name != "index.html":  # the contents of a lesson
                page.locator(".secondary-toggle:visible").click()
                page.wait_for_timeout(200)
                assert _dialog_open(page, "pst-secondary-sidebar-modal"), where
                assert page.locator("#pst-secondary-sidebar-modal a").first.is_visible()
                page.keyboard.press("Escape")
            for equation in page.evaluate(EQUATIONS_JS):
                assert equation["right"] <= PHONE["width"], (where, equation)
                if equation["width"] > equation["room"] + 1:
                    assert equation["scrolls"] and equation["cue"], (where, equation)
                    scrolled += 1
            assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
            assert errors == [], (where, errors)
            page.close()
    assert scrolled > 0  # some equations are wider than a phone: the check saw them


@pytest.mark.slow
def test_on_a_laptop_the_sidebar_collapses_and_the_contents_column_is_whole(
    site: Path, served: str, browser
) -> None:
    for kind in build.BUILDS:
        page = browser.new_page(viewport=LAPTOP)
        page.goto(served + f"{kind}/03_backpropagation.html", wait_until="load")
        contents = page.evaluate(
            """() => { const s = document.querySelector('.bd-sidebar-secondary');
                const r = s.getBoundingClientRect(); const style = getComputedStyle(s);
                return {right: r.right, width: r.width, fits: s.scrollHeight <= s.clientHeight
                        || ['auto', 'scroll'].includes(style.overflowY)}; }"""
        )
        assert contents["width"] > 150 and contents["right"] <= LAPTOP["width"], contents
        assert contents["fits"], contents
        article = page.evaluate("() => document.querySelector('.bd-article').clientWidth")
        page.locator(".primary-toggle:visible").click()
        # Collapsing is animated: wait (up to 5 s) for the sidebar to be hidden.
        page.wait_for_function(
            "() => getComputedStyle(document.getElementById('pst-primary-sidebar')).visibility"
            " === 'hidden'",
            timeout=5_000,
        )
        page.wait_for_timeout(600)
        assert not _dialog_open(page, "pst-primary-sidebar-modal")  # collapsed, not a pop-up
        assert page.evaluate("() => document.querySelector('.bd-article').clientWidth") > article
        page.close()


@pytest.mark.slow
def test_search_finds_backpropagation(site: Path, served: str, browser) -> None:
    page = browser.new_page(viewport=LAPTOP)
    page.goto(served + "student/search.html?q=backpropagation", wait_until="load")
    page.wait_for_selector("#search-results li a", timeout=20_000)
    hrefs = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
    assert any("03_backpropagation.html" in href for href in hrefs), hrefs
    page.close()


def _download(browser, url: str, selector: str, target: Path) -> zipfile.ZipFile:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(url, wait_until="load")
    with page.expect_download() as download:
        page.locator(selector).first.click()
    download.value.save_as(target)
    context.close()
    return zipfile.ZipFile(target)


@pytest.mark.slow
def test_the_course_is_one_click_away(site: Path, served: str, browser, tmp_path: Path) -> None:
    """The landing pages' link downloads the student bundle; the solved build's also the
    solved course; every lesson page links the bundle and the set-up steps."""
    for start in ("index.html", "student/index.html", "solved/index.html"):
        archive = _download(browser, served + start, "a.numpynet-bundle", tmp_path / "c.zip")
        names = archive.namelist()
        assert any(n.startswith("numpynet-course/numpynet/") for n in names), start
        assert any(n.startswith("numpynet-course/lessons/") for n in names), start
        assert "numpynet-course/README.md" in names
        stubs = archive.read("numpynet-course/numpynet/functional.py").decode()
        assert 'NotImplementedError("Exercise 2.1' in stubs  # the student's, not the reference
    solved = _download(
        browser, served + "solved/index.html", "a.numpynet-solved-bundle", tmp_path / "s.zip"
    )
    reference = solved.read("numpynet-course/numpynet/functional.py").decode()
    assert "NotImplementedError" not in reference and "def softmax(" in reference
    secrets = _secret_lines()
    hidden = _hidden_lines()
    for name in solved.namelist():
        text = solved.read(name).decode("utf-8", errors="replace")
        if name.startswith(("numpynet-course/numpynet/", "numpynet-course/lessons/")):
            assert "### BEGIN" not in text and "### END" not in text, name
        if name.endswith(".ipynb"):
            lines = {
                line.strip()
                for cell in nbformat.reads(text, as_version=4).cells
                for line in cell.source.splitlines()
            }
            assert not (lines & hidden), name
    shown = {
        line.strip()
        for name in solved.namelist()
        for line in solved.read(name).decode("utf-8", errors="replace").splitlines()
    }
    assert len(shown & secrets) > 20  # the solutions are in it
    for kind in build.BUILDS:
        for path in _lesson_pages(site, kind):
            text = path.read_text()
            assert re.search(r'class="numpynet-bundle" href="[^"]+\.zip"', text), path
            assert "get-the-course.html#set-up-once" in text, path
            assert ("numpynet-solved-bundle" in text) == (kind == "solved"), path


def _hidden_lines() -> set[str]:
    return {
        line.strip()
        for path in sorted(build.SOURCE_LESSONS.glob("*.ipynb"))
        for cell in nbformat.read(path, as_version=4).cells
        for line in release.region_text(cell.source, release.BEGIN_HIDDEN, release.END_HIDDEN)
        if len(line.strip()) >= 8
    } & _secret_lines()


@pytest.mark.slow
def test_no_page_names_a_build_path(site: Path) -> None:
    machine = {str(ROOT), str(site.parent), sys.prefix, str(Path(sys.executable).parent)}
    checked = 0
    for path in sorted(site.rglob("*")):
        if path.suffix not in {".html", ".js", ".txt"} or "_static" in path.parts:
            continue
        text = path.read_text(errors="replace")
        checked += 1
        for folder in machine:
            assert folder not in text, (path.relative_to(site), folder)
    assert checked > 20
    assert not (site / "jupyter_execute").exists()  # myst-nb's scratch output stays out
    lesson = (site / "solved" / "00_setup_and_data.html").read_text()
    assert "numpynet from numpynet/__init__.py" in lesson  # relative to the course folder


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
            if cell.cell_type == "markdown" and pages.is_solution(cell):
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


@pytest.mark.slow
def test_solved_pages_show_each_answer_only_on_request(site: Path, served: str, browser) -> None:
    """On the solved build every graded answer and reference is folded: what a reader sees
    before opening a "Show solution" block holds no solution line; after, it does."""
    secrets = _secret_lines()
    phrases = _markdown_solution_phrases()
    revealed = 0
    for path in _lesson_pages(site, "solved"):
        page = browser.new_page(viewport=LAPTOP)
        page.goto(served + f"solved/{path.name}", wait_until="load")
        blocks = page.locator("details.numpynet-solution")
        assert blocks.count() > 0, path.name
        assert page.evaluate(
            "() => Array.from(document.querySelectorAll('details.numpynet-solution'))"
            ".every(d => !d.open && d.querySelector('summary').innerText"
            ".startsWith('Show solution'))"
        ), path.name
        seen = page.inner_text("main")
        lines = {line.strip() for line in seen.splitlines()}
        flat = " ".join(seen.split())
        assert not (lines & secrets), (path.name, sorted(lines & secrets)[:5])
        assert not [p for p in phrases if p in flat], path.name
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        opened = {line.strip() for line in page.inner_text("main").splitlines()}
        revealed += len(opened & secrets)
        page.close()
    assert revealed > 20  # opened, the blocks show the solutions the check looked for


def test_site_needs_no_browser_download() -> None:
    """CI installs Debian's chromium (.ci/run), as it does bubblewrap: never a browser build."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -q chromium" in ci
    assert "playwright install" not in ci
