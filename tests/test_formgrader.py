"""Hand grading end to end: the printed formgrader command, a real browser, and the way back.

A class is graded once by the command line (``grade-all``, a roster naming two students
whose folders would collide). Then: the command grade-all prints for hand grading is run
as printed and serves formgrader; headless Chromium saves a score, an override, extra
credit and a comment in formgrader; the next ``grade-all`` (nobody regraded) carries each
into class.csv, report.json, feedback.md and results.json, and nbgrader's own export
agrees with our totals lesson by lesson; nothing nbgrader renders for students
(``generate_feedback``) nor anything grade-all writes holds a hidden test line.
"""

from __future__ import annotations

import csv
import html
import http.cookiejar
import json
import os
import queue
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from support import CHROMIUM, CHROMIUM_ARGS

from autograder import exercises, gradebook, release
from autograder.cli import grade_all
from autograder.examples.hostile_notebooks import write_base
from autograder.sandbox import choose

ROOT = Path(__file__).resolve().parents[1]
SOURCE_LESSONS = ROOT / "solutions" / "lessons"
README = (ROOT / "README.md").read_text()
ISOLATION = choose("auto")
COURSE_LESSONS = sorted(
    p.stem for p in SOURCE_LESSONS.glob("*.ipynb") if exercises.in_assignment(p.stem, "course")
)
ROSTER = (
    "folder,id,first_name,last_name,email\n"
    "jane.doe,jdoe1,Jane,Doe,jane.doe@example.edu\n"
    "jane_doe,jdoe2,Jane,Doe,jane_doe@example.edu\n"
)
LESSON = "02_softmax_cross_entropy"
DERIVATION = "l02_derivation_dl_dz"
OVERRIDDEN = "l02_uniform_case_tests"  # an autograded test cell worth 2
COMMENT = "Right idea; now say why the rows of p sum to 1."

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    """The command line's environment: this venv's bin/ first (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(class folder, --out folder, grade-all's stdout) after one command-line run."""
    work = tmp_path_factory.mktemp("formgrader")
    klass = work / "class"
    write_base("solved", klass / "ada")
    write_base("stubs", klass / "jane.doe")
    write_base("stubs", klass / "jane_doe")
    (work / "students.csv").write_text(ROSTER)
    # The README's line, SUBMISSIONS/ being class/ (default --jobs and --isolation).
    line = "python -m autograder grade-all class/ --out grades/ --roster students.csv"
    assert line.replace("class/", "SUBMISSIONS/") in README
    command = [sys.executable, *shlex.split(line)[1:]]
    done = subprocess.run(
        command, cwd=work, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return klass, work / "grades", done.stdout


def _copy(out: Path, to: Path) -> Path:
    """A copy of a --out folder: the kept course works wherever it is moved."""
    shutil.copytree(out, to)
    return to


class Formgrader:
    """A running ``python -m autograder formgrader`` (argv given) and the URL it printed."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
        deadline = time.monotonic() + 180
        self.printed = ""
        while "token=" not in self.printed:
            assert time.monotonic() < deadline, f"no URL printed: {self.printed!r}"
            try:
                self.printed += lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, f"formgrader exited: {self.printed!r}"
        found = re.search(r"(http://\S+)/formgrader\?token=(\w+)", self.printed)
        assert found, self.printed
        self.base, self.token = found.group(1), found.group(2)
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` as a browser does: the token once, then the login cookie it set."""
        separator = "&" if "?" in path else "?"
        address = f"{self.base}{path}{separator}token={self.token}"
        with self.opener.open(address, timeout=30) as response:
            return response.status, response.read()

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop it: SIGINT to its process group is Ctrl-C in its terminal; SIGTERM is what a
        service manager sends. Either way the server goes with the command."""
        if signum == signal.SIGINT:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)
        assert self.process.wait(timeout=30) == 0


@pytest.fixture
def running(graded, tmp_path) -> Iterator[tuple[Formgrader, Path]]:
    """Formgrader on a copy of the graded class's --out folder, started as grade-all says."""
    klass, out, stdout = graded
    copy = _copy(out, tmp_path / "grades")
    printed = re.search(r"hand grading: (.+?) \(then run the same grade-all again\)", stdout)
    assert printed, stdout
    argv = shlex.split(printed.group(1))
    assert f"{printed.group(1)}/   # hand grading" in README  # the README's, with its slash
    assert argv[:2] == ["python", "-m"] and argv[-2:] == ["--out", "grades"]
    argv[0] = sys.executable  # `python` is the venv's, as the README's set-up activates it
    server = Formgrader(argv, tmp_path)
    try:
        yield server, copy
    finally:
        if server.process.poll() is None:
            server.stop()


def test_the_printed_command_serves_formgrader_on_the_course(running):
    server, out = running
    status, page = server.get("/formgrader")  # redirected to its assignments page
    assert status == 200 and b"Manage Assignments" in page, page[:300]
    status, data = server.get("/formgrader/api/assignments")
    listed = {a["name"]: a for a in json.loads(data)}
    # One nbgrader assignment per lesson of the course (lesson 06 is the lab's), each out
    # of its own points: the maxima formgrader shows are the lessons' own.
    assert sorted(listed) == COURSE_LESSONS
    ada = json.loads((out / "ada" / "report.json").read_text())["notebooks"]["notebooks"]
    for name, assignment in listed.items():
        ours = ada[name]["max_score"] + ada[name]["manual_max_score"]
        assert assignment["max_score"] == ours, name
        assert assignment["num_submissions"] == 3
    server.stop(signal.SIGINT)
    with pytest.raises(OSError):
        server.get("/formgrader")  # the server went with the command


def test_the_roster_keeps_colliding_folders_apart_and_names_them(graded):
    klass, out, stdout = graded
    assert f"gradebook ids: {Path('grades') / 'students.csv'}" in stdout
    kept = {r["folder"]: r for r in csv.DictReader((out / "students.csv").open())}
    assert {f: r["id"] for f, r in kept.items()} == {
        "ada": "ada",
        "jane.doe": "jdoe1",
        "jane_doe": "jdoe2",
    }
    course = gradebook.course_folder(out)
    with sqlite3.connect(course / "gradebook.db") as db:
        students = dict(db.execute("SELECT id, email FROM student").fetchall())
        rows = db.execute(
            "SELECT student.id, assignment.name FROM submitted_assignment "
            "JOIN student ON student.id = submitted_assignment.student_id "
            "JOIN assignment ON assignment.id = submitted_assignment.assignment_id"
        ).fetchall()
    assert students == {
        "ada": None,
        "jdoe1": "jane.doe@example.edu",
        "jdoe2": "jane_doe@example.edu",
    }
    for student in students:
        assert sorted(a for s, a in rows if s == student) == COURSE_LESSONS


def _saved(course: Path) -> dict[str, object]:
    """What formgrader saved for ada in lesson 02, read from the gradebook itself."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "numpynet") as book:
        derivation = book.find_grade(DERIVATION, LESSON, LESSON, "ada")
        override = book.find_grade(OVERRIDDEN, LESSON, LESSON, "ada")
        comment = book.find_comment(DERIVATION, LESSON, LESSON, "ada")
        return {
            "score": derivation.manual_score,
            "extra": derivation.extra_credit,
            "override": override.manual_score,
            "comment": comment.manual_comment,
        }


def test_hand_grading_in_a_real_browser_reaches_every_report(running, graded):
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra)")
    server, out = running
    klass = graded[0]
    course = gradebook.course_folder(out)
    before = json.loads((out / "ada" / "report.json").read_text())
    _, data = server.get(f"/formgrader/api/submitted_notebooks/{LESSON}/{LESSON}")
    (submission,) = [s["id"] for s in json.loads(data) if s["student"] == "ada"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.base}/formgrader?token={server.token}")  # logs the browser in
            # Its scripts fetch the grades, then draw the boxes: fill them after that.
            page.goto(f"{server.base}/formgrader/submissions/{submission}/")
            page.wait_for_load_state("networkidle")
            for selector, value, key, saved in (
                (f"#{DERIVATION}", "4", "score", 4.0),
                (f"#{DERIVATION}_extra_credit", "1", "extra", 1.0),
                (f"#{OVERRIDDEN}", "1", "override", 1.0),  # the autograder gave 2 of 2
                (f"#{DERIVATION}-comment", COMMENT, "comment", COMMENT),
            ):
                for _attempt in range(3):  # as a person would type it again, at most twice
                    page.locator(selector).fill(value)
                    page.locator(selector).press("Tab")  # formgrader saves on change
                    deadline = time.monotonic() + 10
                    while _saved(course)[key] != saved and time.monotonic() < deadline:
                        page.wait_for_timeout(200)  # in the gradebook before the next box
                    if _saved(course)[key] == saved:
                        break
            assert _saved(course) == {
                "score": 4.0,
                "extra": 1.0,
                "override": 1.0,
                "comment": COMMENT,
            }
        finally:
            browser.close()
    server.stop()

    again = {
        r.name: r for r in grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    }
    ada = again["ada"]
    assert ada.seconds == before["seconds"]  # read back, not regraded
    package, auto = before["points"], before["notebooks"]["score"]
    expected = package + (auto - 1) + 4 + 1  # override -1, derivation 4, extra credit 1
    assert ada.total == expected
    # report.json: every hand-given value, the trusted score kept beside the override
    report = json.loads((out / "ada" / "report.json").read_text())
    notebook = report["notebooks"]["notebooks"][LESSON]
    cell = notebook["cells"][OVERRIDDEN]
    assert (cell["score"], cell["auto_score"], cell["overridden"]) == (1.0, 2.0, True)
    assert notebook["cells"][DERIVATION]["score"] == 4.0
    assert notebook["cells"][DERIVATION]["extra_credit"] == 1.0
    assert notebook["comments"] == {DERIVATION: COMMENT}
    assert report["total"] == expected
    # class.csv
    rows = {r["student"]: r for r in csv.DictReader((out / "class.csv").open())}
    assert float(rows["ada"]["total"]) == expected
    assert float(rows["ada"][f"notebook:{LESSON}"]) == 12 - 1 + 4 + 1
    # feedback.md: the override said, the comment shown
    feedback = (out / "ada" / "feedback.md").read_text()
    assert f"`{OVERRIDDEN}`: score set by hand to 1/2 (the autograder gave 2)" in feedback
    assert f"> {COMMENT}" in feedback and "extra credit +1" in feedback
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").render(feedback)
    assert f"<blockquote>\n<p>{html.escape(COMMENT)}</p>\n</blockquote>" in rendered
    # results.json (Gradescope): the same, in the lesson's test
    results = json.loads((out / "ada" / "results.json").read_text())
    (test,) = [t for t in results["tests"] if t["name"] == f"Notebook {LESSON}"]
    # Gradescope's notebook test: autograded cells only (the override counts there); the
    # derivation's hand grade and its extra credit go to Gradescope's manual question.
    assert test["score"] == 12 - 1
    assert COMMENT in test["output"] and "score set by hand to 1/2" in test["output"]
    assert results["score"] == package + auto - 1  # autograded: the hand grades are not in it

    # nbgrader's own export agrees with ours, lesson by lesson, hand-given points included
    export = course / "grades.csv"
    subprocess.run(
        ["nbgrader", "export", "--to", str(export)],
        cwd=course,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    theirs = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(export.open())}
    # the roster's names and emails are the export's LMS columns
    jane = theirs[(LESSON, "jdoe1")]
    assert (jane["first_name"], jane["last_name"], jane["email"]) == (
        "Jane",
        "Doe",
        "jane.doe@example.edu",
    )
    for name, ours in report["notebooks"]["notebooks"].items():
        row = theirs[(name, "ada")]
        assert float(row["score"]) == ours["score"] + ours["manual_score"], name
        assert float(row["max_score"]) == ours["max_score"] + ours["manual_max_score"], name


def _hidden_lines() -> set[str]:
    """Lines of the lessons' hidden tests that the released notebooks do not show."""
    hidden: set[str] = set()
    public: set[str] = set()
    for path in SOURCE_LESSONS.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            region = release.region_text(cell.source, release.BEGIN_HIDDEN, release.END_HIDDEN)
            hidden.update(line.strip() for line in region if len(line.strip()) >= 8)
    for path in (ROOT / "lessons").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            public.update(line.strip() for line in cell.source.splitlines())
    return hidden - public


def test_nothing_that_reaches_a_student_holds_a_hidden_test(graded, tmp_path):
    klass, out, _ = graded
    out = _copy(out, tmp_path / "grades")
    course = gradebook.course_folder(out)
    secret = _hidden_lines()
    assert len(secret) > 20  # the scan looks at real hidden tests
    # nbgrader's "Generate Feedback", as formgrader's button runs it, for every lesson
    for lesson in COURSE_LESSONS:
        subprocess.run(
            ["nbgrader", "generate_feedback", lesson],
            cwd=course,
            env=_env(),
            check=True,
            capture_output=True,
            timeout=300,
        )
    rendered = sorted((course / "feedback").rglob("*.html"))
    assert len(rendered) == 3 * len(COURSE_LESSONS)
    kept = sorted((course / "autograded").rglob("*.ipynb"))
    ours = [p for name in ("ada", "jane.doe", "jane_doe") for p in sorted((out / name).iterdir())]
    for path in [*rendered, *kept, *ours]:
        text = _readable(path)
        assert "HIDDEN TESTS" not in text, path
        leaked = secret & {line.strip() for line in text.splitlines()}
        assert not leaked, (path, sorted(leaked)[:3])


def _readable(path: Path) -> str:
    """The text a reader sees: HTML without its tags (highlighting splits code into spans)
    and entities; JSON and notebooks with their strings decoded."""
    text = path.read_text()
    if path.suffix == ".html":
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    if path.suffix in (".json", ".ipynb"):
        strings: list[str] = []

        def walk(value: object) -> None:
            if isinstance(value, str):
                strings.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(json.loads(text))
        return "\n".join(strings)
    return text
