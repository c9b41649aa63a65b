"""The site's own pages: each build's landing page (the course map, prerequisites), its
"Get the course" page (downloads and set-up), and the root page choosing a build.

Everything they count comes from the course itself: the package exercises and their points
from ``autograder/exercises.py``, the notebook points from the lessons' nbgrader metadata,
the time from each lesson's ``**Time:**`` line, the accuracy from lesson 05's executed output.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path

import nbformat
import site_pages

from autograder import exercises, release

TITLE = "NumPyNet: a neural network from scratch, in plain NumPy"
SETUP_PAGE = "get-the-course"
SETUP_ANCHOR = "set-up-once"  # the id MyST gives the bundle README's "## 1. Set up (once)"

PREREQUISITES = """\
## Before you start

The course assumes the following; each lesson re-derives everything else on small examples.

- **Python**: functions, classes with methods, loops, list comprehensions, running a
  notebook in Jupyter. Refresh: the [Python tutorial](https://docs.python.org/3/tutorial/),
  sections 3 to 5 and 9.
- **NumPy**: arrays and their `shape` and `dtype`, indexing and slicing, broadcasting,
  reductions along an `axis`, the matrix product `@`. Refresh:
  [NumPy: the absolute basics](https://numpy.org/doc/stable/user/absolute_beginners.html)
  and the [CS231n Python/NumPy tutorial](https://cs231n.github.io/python-numpy-tutorial/).
- **Calculus**: derivatives of `exp`, `log` and of a maximum; partial derivatives and the
  chain rule (lessons 2 and 3 apply it entry by entry); a first-order Taylor expansion
  (lesson 4). Refresh: 3Blue1Brown's
  [Essence of calculus](https://www.3blue1brown.com/topics/calculus), and for derivatives of
  matrix expressions [The matrix calculus you need for deep learning](https://explained.ai/matrix-calculus/).
- **Linear algebra**: vectors and matrices, the matrix product and its shapes, the transpose,
  sums written with indices ($\\sum_k X_{nk} W_{km}$). Refresh: 3Blue1Brown's
  [Essence of linear algebra](https://www.3blue1brown.com/topics/linear-algebra), chapters 1 to 4.
- **Probability**: a distribution over classes, a mean, the logarithm of a probability
  (lesson 2 builds the rest).
"""


def lesson_summary(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """(title, time) from a lesson's first cell: its heading and ``**Time:** about ...``."""
    first = nb.cells[0].source
    title = first.splitlines()[0].lstrip("# ").strip()
    found = re.search(r"\*\*Time:\*\*\s*([^\n]*)", first)
    if not found:
        return title, ""
    # "about 2 hours. **Hand-in:** ..." and "about 45 minutes: the set-up..." -> the duration.
    spent = re.split(r":|\.\s|\*\*|;|,|\s\(", found.group(1))[0].strip().rstrip(".")
    return title, spent


def test_accuracy(nb: nbformat.NotebookNode) -> str | None:
    """The test accuracy lesson 05 printed when the site executed it ("97.18%"), if any."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found = re.search(r"test accuracy[^\n]*?(\d+(?:\.\d+)?%)", output.get("text", ""))
            if found:
                return found.group(1)
    return None


def _points(value: float) -> str:
    return f"{value:g}"


def _markdown_text(text: str) -> str:
    """``text`` shown literally in Markdown (``__iter__`` is not bold)."""
    return re.sub(r"([\\`*_|<>\[\]])", r"\\\1", text)


# Each assignment's name on the course map, in the order they are handed out.
LABELS = {
    "course": "The course (the package and its lessons)",
    "lab": "The debugging lab (its own assignment, handed out after the course)",
    "beyond": "Lesson 07, beyond RMSProp (its own assignment, after the course)",
}


def course_map(lessons: Mapping[str, nbformat.NotebookNode]) -> str:
    """Per lesson (one list item, readable on a phone): its time, its package exercises and
    every graded notebook cell with their points; then the points of each assignment (the
    course: the package and lessons 00-05; the lab)."""
    blocks = []
    totals: dict[str, dict[str, float]] = {}
    for name, nb in lessons.items():
        title, spent = lesson_summary(nb)
        assignment = next(
            (a for a in LABELS if exercises.in_assignment(Path(name).stem, a)),
            "course",
        )
        sums = totals.setdefault(assignment, {"package": 0.0, "auto": 0.0, "hand": 0.0})
        found = [ex for ex in exercises.ALL_EXERCISES if ex.lesson == f"{release.LESSONS}/{name}"]
        sums["package"] += sum(ex.points for ex in found)
        block = [f"- **[{title}]({name})**" + (f", {spent}" if spent else "")]
        if found:
            listed = "; ".join(
                f"{ex.number} {_markdown_text(ex.title)} ({ex.points})" for ex in found
            )
            block.append(f"  - *Package exercises* (points): {listed}.")
        items = []
        for what, points, by_hand in site_pages.graded_items(nb):
            items.append(
                f"{_markdown_text(what)} ({_points(points)}{', by hand' if by_hand else ''})"
            )
            sums["hand" if by_hand else "auto"] += points
        if items:
            block.append(f"  - *Graded in the notebook* (points): {'; '.join(items)}.")
        blocks.append("\n".join(block))
    lines = []
    for assignment, sums in totals.items():
        what = LABELS[assignment]
        parts = [f"{_points(sums['package'])} for the package exercises"] if sums["package"] else []
        parts.append(f"{_points(sums['auto'])} for the notebooks' test cells")
        if sums["hand"]:
            parts.append(f"{_points(sums['hand'])} graded by hand")
        lines.append(f"{what}: **{_points(sum(sums.values()))} points**, {', '.join(parts)}.")
    steps = ", ".join(
        f"{e.number} {_points(e.points)} at {e.threshold:.0%}" for e in exercises.CHALLENGE
    )
    challenge = sum(e.points for e in exercises.CHALLENGE)
    lines.append(
        f"The class challenge (lesson 07's last section, its own assignment): **{challenge:g} "
        f"points** for the test accuracy of your recipe trained by the grader ({steps})."
    )
    return "\n".join(blocks) + "\n\n" + "\n\n".join(lines)


def landing_page(
    lessons: Mapping[str, nbformat.NotebookNode], build: str, links: site_pages.Links
) -> str:
    """index.md of one build: what the course is, how to get it, prerequisites, course map."""
    other = "student" if build == "solved" else "solved"
    who = {
        "solved": (
            "These are the **solved** pages: every lesson executed with the course's reference "
            "code. Every graded answer is folded under *Show solution*, and each package "
            "exercise's reference code is there too, after its checks: try first, then look. "
            "They are for self-learners and instructors. Taking the graded course? Read the "
            f'<a href="../{other}/index.html">student pages</a> instead.'
        ),
        "student": (
            "These are the **student** pages: every lesson with its figures and outputs, the "
            "solutions of graded exercises left out. The "
            f'<a href="../{other}/index.html">solved pages</a> show them, for self-learners '
            "and instructors."
        ),
    }[build]
    solved = (
        f'\n- Self-learner: <a class="numpynet-solved-bundle" href="{links.solved_zip}">'
        "the solved lessons with the reference code (zip)</a>, to read and run beside your own."
        if build == "solved"
        else ""
    )
    lab = "".join(f'\n- {h.label}: <a href="{h.zip}">its zip</a>.' for h in links.later)
    accuracy = None
    for name, nb in lessons.items():
        if name.startswith("05_"):
            accuracy = test_accuracy(nb)
    trained = (
        f"(in the run shown on its page, {accuracy} test accuracy)"
        if accuracy
        else "(see its page for the accuracy reached)"
    )
    toctree = "\n".join([*(Path(name).stem for name in lessons), SETUP_PAGE])
    return f"""# {TITLE}

Derive, implement and train a 784-128-10 multi-layer perceptron that reads handwritten digits
(MNIST), with nothing but NumPy: every piece is derived on paper, checked on numbers small
enough to do by hand, implemented and tested.

{who}

## Get the course

The lessons import the `numpynet` package you write and the course's checks, so you work in
the course folder:

- <a class="numpynet-bundle" href="{links.course_zip}">**Download the course (zip)**</a>: the
  `numpynet/` package to fill in, the lessons as notebooks, the checks.
- Then follow the <a href="{links.setup}">set-up steps</a> (a Python virtual environment and
  Jupyter Lab, a few minutes).{solved}{lab}

{PREREQUISITES}
## Course map

{course_map(lessons)}

Lesson 0 loads the data and writes the mini-batch loader; lessons 1 to 4 build the forward
pass, the loss and its gradient, backpropagation and the optimisers; lesson 5 trains the
whole network on MNIST {trained} and looks hard at the result.

```{{toctree}}
:hidden:
:maxdepth: 1

{toctree}
```
"""


def setup_page(readme: str, build: str, links: site_pages.Links) -> str:
    """get-the-course.md: the downloads, then the bundle's own README (set-up to hand-in)."""
    body = readme.split("\n", 1)[1] if readme.startswith("# ") else readme
    solved = (
        f'\n\nSelf-learner? <a class="numpynet-solved-bundle" href="{links.solved_zip}">'
        "Download the solved lessons with the reference code (zip)</a>: the same folder with "
        "every exercise solved, to compare with yours."
        if build == "solved"
        else ""
    )
    return f"""# Get the course

<a class="numpynet-bundle" href="{links.course_zip}">**Download the course (zip)**</a> and
unzip it: you get a folder `numpynet-course/`. What follows is its `README.md`: set it up
once, then work through the lessons in Jupyter Lab.{solved}

{body}"""


def root_page(links: site_pages.Links) -> str:
    """html/index.html: which build is for whom, styled and readable on a phone."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="student/_static/favicon.svg">
<title>NumPyNet course</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; line-height: 1.5;
  max-width: 44rem; margin: 0 auto; padding: 1.5rem 1rem; color: #222; background: #fff; }}
h1 {{ font-size: 1.6rem; line-height: 1.25; overflow-wrap: anywhere; }}
a {{ color: #0a58ca; }}
.choice {{ display: block; border: 1px solid #ccd; border-radius: 8px; padding: 0.8rem 1rem;
  margin: 0.8rem 0; text-decoration: none; color: inherit; }}
.choice:hover, .choice:focus {{ border-color: #0a58ca; background: #f4f8ff; }}
.choice strong {{ color: #0a58ca; }}
@media (prefers-color-scheme: dark) {{
  body {{ color: #ddd; background: #14161a; }} a, .choice strong {{ color: #7fb0ff; }}
  .choice {{ border-color: #445; }} .choice:hover {{ background: #1d2330; }} }}
</style></head><body>
<h1>{html.escape(TITLE)}</h1>
<p>Derive, implement and train a neural network that reads handwritten digits, with nothing
but NumPy.</p>
<a class="choice" href="student/index.html"><strong>Student pages</strong>: the lessons with
their figures, the solutions of graded exercises left out. For students taking the graded
course.</a>
<a class="choice" href="solved/index.html"><strong>Solved pages</strong>: the same lessons,
each graded answer folded under "Show solution". For self-learners and instructors.</a>
<p><a class="numpynet-bundle" href="{links.course_zip}">Download the course (zip)</a>
and follow the <a href="student/{SETUP_PAGE}.html">set-up steps</a>.</p>
</body></html>
"""
