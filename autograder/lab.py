"""Lesson 06, the debugging lab: which catalogue bug each mystery network carries.

Each mystery is the student's OWN package with the regions of ONE catalogue bug
(autograder/examples/bugs.py) put back in, at run time, by ``debugging_lab.py`` (shipped
next to the notebook). That module holds the buggy functions as one encoded payload
(JSON, zlib, base64: hidden from a plain look or diff, not from a determined student; the
lesson says decoding is not the exercise). ``payload()`` builds it from the catalogue;
tests/test_debugging_lab.py checks the shipped copy is current, that every mystery shows
its symptom, and that the notebook's hidden answer key is this table.

Run ``python -m autograder.lab`` after editing the table or the catalogue: it rewrites the
payload line of solutions/lessons/debugging_lab.py (then run ``release``).
"""

from __future__ import annotations

import ast
import base64
import json
import re
import textwrap
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import exercises
from .examples.bugs import BY_NAME
from .examples.build import REFERENCE, replace_region
from .paths import ROOT

LAB_MODULE = ROOT / "solutions" / "lessons" / "debugging_lab.py"
# The payload block of debugging_lab.py: `_PAYLOAD = (` , quoted base64 lines, `)`.
PAYLOAD_BLOCK = re.compile(r'^_PAYLOAD = \(\n(?:    "[A-Za-z0-9+/=]*"\n)*\)$', re.MULTILINE)
WIDTH = 88


@dataclass(frozen=True)
class Mystery:
    """One broken network: the bug it carries and how it is trained."""

    bug: str  # name in the catalogue
    component: str  # the answer: the qualname of the one exercise the bug loses
    symptom: str  # what the recipe shows (said in the tests, never to the student)
    diagnostic: str  # the recipe step that exposes it: the feedback for a wrong answer


# Every mystery trains like debugging_lab.healthy(): only the broken component differs.
OPTIMIZER = "SGD"
OPTIONS = {"lr": 0.05, "momentum": 0.9}
BATCH_SIZE = 64


MYSTERIES: dict[int, Mystery] = {
    1: Mystery(
        "relu_backward_no_mask",
        "ReLU.backward",
        "the gradient check fails in the first layer only (W1, b1); the last layer agrees",
        "step 2: a gradient check layer by layer - which layer disagrees first?",
    ),
    2: Mystery(
        "loss_grad_not_divided_by_n",
        "CrossEntropyLoss.backward",
        "every analytic gradient is batch-size times the numerical one; SGD blows up",
        "step 2: a gradient check - compare the RATIO of analytic to numerical gradient",
    ),
    3: Mystery(
        "train_epoch_no_zero_grad",
        "train_epoch",
        "loss at init and gradient check are fine, yet training diverges to NaN/inf",
        "step 3: overfit a small set - the recipe's pieces pass alone, so look at the loop "
        "and the invariant that zero_grad resets the gradients",
    ),
    4: Mystery(
        "sgd_momentum_dampened",
        "SGD.step",
        "everything checks out but training with momentum is several times slower",
        "step 5: invariants - one optimiser step by hand against the documented rule",
    ),
    5: Mystery(
        "evaluate_argmax_wrong_axis",
        "evaluate",
        "training loss falls, yet evaluate's accuracy stays near chance",
        "step 4: learning curves - compute the accuracy yourself from the logits",
    ),
    6: Mystery(
        "loss_summed",
        "CrossEntropyLoss.forward",
        "loss at init is batch-size times ln 10, though training works",
        "step 1: the loss at initialisation - compare it with ln 10",
    ),
    7: Mystery(
        "linear_forward_no_bias",
        "Linear.forward",
        "the numerical gradient of every bias is zero while the analytic one is not",
        "step 2: a gradient check parameter by parameter (the biases too)",
    ),
}

# The ids a student may answer: every exercise of the package, by the name of its function.
COMPONENTS: tuple[str, ...] = tuple(exercise.qualname for exercise in exercises.EXERCISES)


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
    """What debugging_lab.py needs per mystery (everything but the answer)."""
    return {
        str(k): {
            "patches": patches(m.bug),
            "optimizer": OPTIMIZER,
            "options": OPTIONS,
            "batch_size": BATCH_SIZE,
        }
        for k, m in MYSTERIES.items()
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


if __name__ == "__main__":
    print("payload rewritten" if write_payload() else "payload already current")
