"""Lesson 06, the debugging lab: which catalogue bugs the mysteries draw, per student.

Each mystery is the student's OWN package with the regions of ONE catalogue bug
(autograder/examples/bugs.py) put back in, at run time, by ``debugging_lab.py`` (shipped
next to the notebook). Which bug mystery k carries is drawn per student: ``LAB_BUGS`` is the
pool (one or more bugs per component), and ``debugging_lab.draw(code)`` picks seven distinct
components and one bug of each from the student's LAB CODE, ``identity-<10 hex>``, where the
hex digits are an HMAC of the identity under ``SECRET``. The secret lives only here (never
released: tests/test_debugging_lab.py checks the bundles); the instructor hands each student
their code (``python -m autograder.lab codes jdoe ada ...``), the grader recomputes it from
the identity it knows (the grade-all folder name, the Gradescope submitter), so a student
cannot compute a classmate's draw and a classmate's answers score at chance. The module
holds every bug of the pool as one encoded payload (JSON, zlib, base64: hidden from a plain
look or diff, not from a determined student; the lesson says decoding is not the exercise).

Run ``python -m autograder.lab`` after editing the pool, the catalogue or the secret: it
rewrites the payload of solutions/lessons/debugging_lab.py and the source notebook's solutions
(``SOLVER``'s code, answers and evidence); then run ``release``.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import contextvars
import hashlib
import hmac
import importlib.util
import json
import re
import sys
import textwrap
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from . import exercises
from .paths import ROOT

# autograder/examples/ (the catalogue) is not shipped to Gradescope: only the payload's
# writer (patches, spec) imports it, so the grading side below works without it.

LAB_MODULE = ROOT / "solutions" / "lessons" / "debugging_lab.py"
# The payload block of debugging_lab.py: `_PAYLOAD = (` , quoted base64 lines, `)`.
PAYLOAD_BLOCK = re.compile(r'^_PAYLOAD = \(\n(?:    "[A-Za-z0-9+/=]*"\n)*\)$', re.MULTILINE)
WIDTH = 88

# The instructor's secret: it turns an identity into a lab code. Never released (the course
# and lab bundles ship neither this file nor the value; a test checks). Change it per term:
# codes handed out under the old value then build other mysteries than the grader expects.
SECRET = "a5f0c9e2-numpynet-lab06-7d41b8e36c0f"


@dataclass(frozen=True)
class LabBug:
    """One bug a mystery can carry: the component it breaks and how the recipe shows it."""

    bug: str  # name in the catalogue
    component: str  # the answer: the qualname of the one exercise the bug loses
    shows: tuple[str, ...]  # recipe checks that fail on it (tests assert each one)
    diagnostic: str  # the recipe step that exposes it: the feedback for a wrong answer


# Every mystery trains like debugging_lab.healthy(): only the broken component differs.
TRAIN = {"options": {"lr": 0.05, "momentum": 0.9}, "batch_size": 64}

# Recipe check names (the keys the lesson's recipe functions return; tests read them).
INIT = "loss at init is about ln 10"
GRADIENTS = "every parameter passes the gradient check"
LEARNS = "the loss falls like the healthy network's"
ACCURACY = "evaluate's accuracy = own count"

LAB_BUGS: tuple[LabBug, ...] = (
    LabBug("init_std_one", "Linear.__init__", (INIT,),
           "step 1: the loss at initialisation - compare it with ln 10"),
    LabBug("linear_forward_no_bias", "Linear.forward", ("b1 gradient", "b2 gradient"),
           "step 2: a gradient check parameter by parameter - what an inf ratio means"),
    LabBug("relu_forward_in_place", "ReLU.forward", ("layer 1 forward leaves its input alone",),
           "step 3: one layer at a time - does forward leave its input alone?"),
    LabBug("softmax_unstable", "softmax", ("softmax rows sum to 1 on large logits",),
           "step 6: invariants - probabilities on large logits"),
    LabBug("log_softmax_of_softmax", "log_softmax", ("log_softmax is finite on large logits",),
           "step 6: invariants - log-probabilities on large logits"),
    LabBug("one_hot_accepts_negative_labels", "one_hot", ("one_hot rejects labels out of range",),
           "step 6: invariants - the encoding of the labels"),
    LabBug("one_hot_float64", "one_hot", ("one_hot is float32 with one 1 per row",),
           "step 6: invariants - the encoding of the labels"),
    LabBug("loss_summed", "CrossEntropyLoss.forward", (INIT, "the loss is a mean"),
           "step 1: the loss at initialisation - compare it with ln 10"),
    LabBug("loss_returns_numpy_scalar", "CrossEntropyLoss.forward",
           ("the loss is a Python float",),
           "step 3: the loss alone - what does forward return?"),
    LabBug("loss_grad_not_divided_by_n", "CrossEntropyLoss.backward",
           ("the loss gradient matches its numerical gradient", GRADIENTS),
           "step 3: the loss alone - compare the RATIO of analytic to numerical gradient"),
    LabBug("loss_backward_overwrites_cache", "CrossEntropyLoss.backward",
           ("a second loss backward gives the same gradient",),
           "step 3: the loss alone - call backward twice"),
    LabBug("relu_backward_no_mask", "ReLU.backward", ("layer 1 dX",),
           "step 3: one layer at a time - which layer's own gradient check fails?"),
    LabBug("linear_bias_grad_mean", "Linear.backward", ("layer 0 b gradient", "layer 2 b gradient"),
           "step 3: one layer at a time - a clean-factor ratio on one parameter"),
    LabBug("linear_grads_overwritten", "Linear.backward",
           ("layer 0 backward adds into grad", "layer 2 backward adds into grad"),
           "step 3: one layer at a time - does backward ADD into the gradients?"),
    LabBug("numerical_gradient_forward_difference", "numerical_gradient",
           ("numerical_gradient matches a known gradient",),
           "step 3: the numerical gradient alone, on a function whose gradient you know"),
    LabBug("numerical_gradient_not_restored", "numerical_gradient",
           ("numerical_gradient leaves x as it was",),
           "step 3: the numerical gradient alone - is x the same afterwards?"),
    LabBug("sgd_momentum_dampened", "SGD.step", ("first step is p - lr * g",),
           "step 3: the optimiser's first step by hand against the documented rule"),
    LabBug("train_epoch_no_zero_grad", "train_epoch", ("train_epoch leaves one batch's gradient",),
           "step 4: overfit a small set - the pieces pass alone, so look at the loop"),
    LabBug("evaluate_argmax_wrong_axis", "evaluate", (ACCURACY,),
           "step 5: learning curves - compute the accuracy yourself from the logits"),
    LabBug("evaluate_calls_backward", "evaluate", ("evaluate leaves the gradients alone",),
           "step 6: invariants - measuring the accuracy must not touch the gradients"),
)  # fmt: skip
BY_BUG: dict[str, LabBug] = {entry.bug: entry for entry in LAB_BUGS}

# The ids a student may answer: every component some mystery can break, in course order.
COMPONENTS: tuple[str, ...] = tuple(
    e.qualname for e in exercises.EXERCISES if any(b.component == e.qualname for b in LAB_BUGS)
)
# The pool as the module draws from it: per component (COMPONENTS order), its bugs.
POOL: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (component, tuple(b.bug for b in LAB_BUGS if b.component == component))
    for component in COMPONENTS
)
MYSTERY_IDS = (1, 2, 3, 4, 5, 6, 7)


# -- identities and draws -----------------------------------------------------------------
def code_for(identity: str, secret: str = SECRET) -> str:
    """``identity-`` and ten hex digits of an HMAC of ``identity`` under the secret."""
    identity = "_".join(str(identity).split())  # a code has no spaces (a name with spaces)
    digest = hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()
    return f"{identity}-{digest[:10]}"


@cache
def module() -> ModuleType:
    """solutions/lessons/debugging_lab.py, loaded without numpynet: its ``draw`` is the one."""
    spec = importlib.util.spec_from_file_location("_lab06_module", LAB_MODULE)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def draw(code: str) -> dict[int, LabBug]:
    """The bug of each mystery for the lab code ``code`` (the module's own draw)."""
    counts = tuple(len(bugs) for _, bugs in POOL)
    picks = module().draw(code, len(POOL), counts)
    return {k: BY_BUG[POOL[c][1][b]] for k, (c, b) in zip(MYSTERY_IDS, picks, strict=True)}


def key(identity: str) -> dict[int, str]:
    """The answer key of ``identity``: {mystery: component}."""
    return {k: entry.component for k, entry in draw(code_for(identity)).items()}


# -- the grader's side (hidden test cells call these) ------------------------------------
_SUBMITTER: contextvars.ContextVar[str | None] = contextvars.ContextVar("lab06", default=None)


@contextlib.contextmanager
def grading_as(identity: str) -> Iterator[None]:
    """Within: the lab's test cells grade the mysteries of ``identity`` (the submitter)."""
    token = _SUBMITTER.set(str(identity))
    try:
        yield
    finally:
        _SUBMITTER.reset(token)


def graded(k: int, stated: Any) -> tuple[str, str]:
    """(right component, the experiment that shows it) of mystery ``k`` for this submission.

    Under the grader (:func:`grading_as`) the submitter's identity decides, whatever the
    notebook states; run outside it (the instructor's own notebook) the stated code does.
    """
    identity = _SUBMITTER.get()
    code = code_for(identity) if identity is not None else str(stated)
    entry = draw(code)[k]
    return entry.component, entry.diagnostic


def check_student(stated: Any) -> None:
    """Fail, saying so, when the notebook's STUDENT is not the submitter's lab code."""
    identity = _SUBMITTER.get()
    if identity is None:
        return
    stated = str(stated).strip()
    if stated != code_for(identity):
        raise AssertionError(
            f"STUDENT = {stated[:80]!r} is not the lab code of {identity!r}, the identity you "
            f"submitted as: your answers are graded against {identity!r}'s mysteries, which "
            "are not the ones your notebook built. Put your own lab code (from your "
            "instructor) in STUDENT and run the lab again."
        )


# -- what a student sees before the due date -----------------------------------------------
DETAILS_VARIABLE = "NUMPYNET_LAB_DETAILS"  # =1: release the per-mystery results
NOTEBOOK = "06_debugging_lab"


def details_released() -> bool:
    """Whether the instructor released per-mystery results (``NUMPYNET_LAB_DETAILS=1``)."""
    import os

    return os.environ.get(DETAILS_VARIABLE, "") == "1"


def embargoed(assignment: str) -> bool:
    """Whether a report of ``assignment`` must hide the lab's results (and every total).

    The lab's, and ``all``'s (it grades the lab too: its total would tell how many mysteries
    are right), until the instructor releases the details.
    """
    return assignment in ("lab", "all") and not details_released()


def summary(result: Any) -> str:
    """What a lab submission may learn before the due date: valid ids, and its identity."""
    notebook = ((result.notebooks or {}).get("notebooks") or {}).get(NOTEBOOK)
    if not notebook or not notebook.get("submitted", True):
        return f"Lesson 06: no {NOTEBOOK}.ipynb was graded (not submitted or unreadable)."
    cells = notebook.get("cells") or {}
    valid = 0
    for k in MYSTERY_IDS:
        cell = cells.get(f"l06_mystery_{k}") or {}
        status, failure = cell.get("status"), str(cell.get("failure") or "")
        valid += status == "passed" or (status == "failed" and "not one of the ids" not in failure)
    lines = [
        f"Lesson 06: {valid} of {len(MYSTERY_IDS)} answers are valid component ids. Which of "
        "them are right is shown after the due date (a score per upload would let anyone "
        "find the answers by trying).",
    ]
    student = cells.get("l06_student_check") or {}
    if student.get("status") not in (None, "passed"):
        lines.append(str(student.get("failure") or student.get("status")))
    return "\n\n".join(lines)


def feedback_until_due(result: Any) -> str:
    """The student feedback of a lab submission before the due date (no score, no key)."""
    text = summary(result)
    if getattr(result, "assignment", "lab") != "lab":
        text += (
            "\n\nEvery score of this report is shown after the lab's due date: its totals "
            "include the lab's."
        )
    return f"# Feedback for {result.name}\n\n{text}\n"


def gradescope_until_due(data: dict[str, Any], result: Any) -> dict[str, Any]:
    """results.json of a lab submission with every score and per-mystery result after_due_date.

    The lab's tests (its points and which test cells failed) and the whole submission's
    total become ``after_due_date``; one visible 0-point test says how many answers are
    valid ids and whether the identity matches, as ``summary`` does.
    """
    for test in data.get("tests", []):
        test["visibility"] = "after_due_date"
    data["visibility"] = "after_due_date"
    data["output"] = summary(result)
    data.setdefault("tests", []).append(
        {
            "name": "Lesson 06: answers received",
            "score": 0.0,
            "max_score": 0.0,
            "output": summary(result),
            "output_format": "md",
            "visibility": "visible",
        }
    )
    return data


def submitter(metadata: Path) -> str | None:
    """The Gradescope submitter: the first user's email (else name, id) in ``metadata``."""
    try:
        users = json.loads(metadata.read_text(encoding="utf-8")).get("users") or []
        user = users[0]
        return str(user.get("email") or user.get("name") or user.get("id")).strip() or None
    except (OSError, ValueError, AttributeError, IndexError, TypeError):
        return None


class _StripDocs(ast.NodeTransformer):
    """Drop docstrings and annotations: the payload runs under any supported Python."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:] or [ast.Pass()]
        node.body = body
        node.returns = None
        for arg in [*node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg]:
            if arg is not None:
                arg.annotation = None
        return node


def function_source(text: str, qualname: str) -> str:
    """The source of the function ``qualname`` in module text ``text``, plain and dedented."""
    tree = ast.parse(text)
    parts = qualname.split(".")
    nodes: list[ast.stmt] = tree.body
    for part in parts[:-1]:
        owner = next(n for n in nodes if isinstance(n, ast.ClassDef) and n.name == part)
        nodes = owner.body
    function = next(n for n in nodes if isinstance(n, ast.FunctionDef) and n.name == parts[-1])
    return textwrap.dedent(ast.unparse(_StripDocs().visit(function))) + "\n"


def patches(bug_name: str) -> dict[str, str]:
    """Source of each function the bug rewrites (the rest of it the reference's), by qualname."""
    from .examples.bugs import BY_NAME
    from .examples.build import REFERENCE, replace_region

    entry = BY_NAME[bug_name]
    out: dict[str, str] = {}
    for exercise_id, body in entry.regions.items():
        exercise = exercises.get(exercise_id)
        text = (REFERENCE / exercise.module).read_text(encoding="utf-8")
        out[exercise.qualname] = function_source(
            replace_region(text, exercise, body), exercise.qualname
        )
    return out


def spec() -> dict[str, Any]:
    """What debugging_lab.py needs (everything but the answers): the pool, how they train."""
    return {
        "pool": [{"bugs": [patches(bug) for bug in bugs]} for _, bugs in POOL],
        "train": TRAIN,
    }


def payload() -> str:
    """The encoded spec, as it appears in debugging_lab.py."""
    raw = json.dumps(spec(), sort_keys=True, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def payload_block(encoded: str) -> str:
    """``encoded`` as the Python block of debugging_lab.py (lines ruff accepts)."""
    lines = [f'    "{encoded[i : i + WIDTH]}"' for i in range(0, len(encoded), WIDTH)]
    return "_PAYLOAD = (\n" + "\n".join(lines) + "\n)"


def shipped_payload(path: Path = LAB_MODULE) -> str:
    """The payload that ``path`` (debugging_lab.py) carries."""
    match = PAYLOAD_BLOCK.search(path.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{path}: no `_PAYLOAD = (...)` block")
    return "".join(re.findall(r'"([A-Za-z0-9+/=]*)"', match.group(0)))


def write_payload(path: Path = LAB_MODULE) -> bool:
    """Rewrite the payload block of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    new = PAYLOAD_BLOCK.sub(lambda _: payload_block(payload()), text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


LAB_NOTEBOOK = ROOT / "solutions" / "lessons" / f"{NOTEBOOK}.ipynb"
# The instructor's own answers in the source notebook: those of this identity's code.
SOLVER = "instructor"
SOLUTION = re.compile(r"(### BEGIN SOLUTION\n).*?(### END SOLUTION)", re.DOTALL)


def solutions() -> dict[str, str]:
    """The solution region of each answer cell of the source notebook, for ``SOLVER``."""
    drawn = draw(code_for(SOLVER))
    answers = "".join(f'    {k}: "{entry.component}",\n' for k, entry in drawn.items())
    evidence = "".join(
        f"{k}. `{entry.component}`: {entry.diagnostic}; it fails {', '.join(entry.shows)}.\n"
        for k, entry in drawn.items()
    )
    return {
        "l06_student": f'STUDENT = "{code_for(SOLVER)}"\n',
        "l06_answers": f"ANSWERS = {{\n{answers}}}\n",
        "l06_evidence": f"(For the code of {SOLVER!r}.) The step that shows each bug:\n{evidence}",
    }


def write_solutions(path: Path = LAB_NOTEBOOK) -> bool:
    """Rewrite the solution regions of ``path`` for ``SOLVER``'s draw; True when they changed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    wanted = solutions()
    changed = False
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in wanted:
            body = wanted[grade_id]
            new = SOLUTION.sub(lambda m, body=body: m.group(1) + body + m.group(2), cell.source)
            changed |= new != cell.source
            cell.source = new
    if changed:
        nbformat.write(notebook, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.lab``: rewrite the payload; ``codes ID...``: print lab codes."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["codes"]:
        for identity in args[1:]:
            print(f"{identity}\t{code_for(identity)}")
        return 0
    print("payload rewritten" if write_payload() else "payload already current")
    print("solutions rewritten" if write_solutions() else "solutions already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
