"""Hostile submissions against the TRUSTED side's budgets: values that cost the grader.

The attacks of autograder/examples/hostile and hostile_notebooks.py run code in the
sandbox; these return values that make the grader's own checks and test cells do
unbounded work (issue 18, class 3), or notebooks whose JSON is malformed (class 4), or
take every timeout there is (class 6). Package entries are :class:`Hostile`, notebook
entries :class:`HostileNotebook` (written by their own ``materialise``); kind ``"json"``
is a notebook whose cell field ``cell`` is set to the JSON value ``code``.

What each must show (tests/test_hostile_budgets.py): no more points than the honest base,
the grader's time and peak memory within the stated budgets, no process left, every
other exercise and notebook graded as in the base.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.examples.hostile import Hostile
from autograder.examples.hostile import materialise as materialise_package
from autograder.examples.hostile_notebooks import HostileNotebook, write_base
from autograder.examples.hostile_notebooks import materialise as materialise_notebook

# 128 MB float64 batches, forever: list(loader) in a check would keep them all.
ENDLESS_LOADER = Hostile(
    "endless_loader",
    "DataLoader.__iter__ yields 128 MB batches forever",
    "data.py",
    """
import numpy as _np
def _endless(self):
    while True:
        yield _np.ones((16_000_000,)), _np.ones((4,), dtype=_np.int64)
DataLoader.__iter__ = _endless
print("hostile: endless loader")
""",
    lost={"ex0_1": "error"},
    output="endless loader",
)

# Every function and method of the package loops: each exercise would cost a timeout.
EVERYTHING_LOOPS = Hostile(
    "everything_loops",
    "every function and method of the package loops forever (16 exercise timeouts)",
    "__init__.py",
    """
import inspect as _inspect
def _spin(*args, **kwargs):
    while True:
        pass
for _name, _value in list(globals().items()):
    if _name.startswith("_"):
        continue
    if _inspect.isfunction(_value):
        globals()[_name] = _spin
    elif _inspect.isclass(_value):
        for _attr, _member in list(vars(_value).items()):
            # Not __eq__, __hash__ and the like: the import itself must finish.
            wanted = not _attr.startswith("__") or _attr in ("__init__", "__call__", "__iter__")
            if wanted and _inspect.isfunction(_member):
                setattr(_value, _attr, _spin)
print("hostile: everything loops")
""",
    lost={"*": "timeout"},
    output="everything loops",
)

PACKAGE_ATTACKS: tuple[Hostile, ...] = (ENDLESS_LOADER, EVERYTHING_LOOPS)

NOTEBOOK_ATTACKS: tuple[HostileNotebook, ...] = (
    HostileNotebook(
        "float16_for_a_scalar",
        "max_stable_lr answers the public values right, then a 4M-element float16 array "
        "where the hidden loop expects a scalar (it ran 1,167 s in the grader)",
        "04_optimisers",
        "l04_max_stable_lr",
        """
import numpy as np
def max_stable_lr(c):
    if c in (50.0, 1.0):
        return 2.0 / c
    return np.full(4_000_000, 2.0 / c, dtype=np.float16)
print("hostile: float16 answer")
""",
        base="solved",
        output="float16 answer",
    ),
    HostileNotebook(
        "broadcast_shapes",
        "num_batches returns shape (40000, 1), then (40000,): one == broadcasts to 1.6 GB",
        "00_setup_and_data",
        "l00_num_batches",
        """
import numpy as np
def num_batches(n, batch_size, drop_last=False):
    if n == 12:
        return np.ones(40_000) if drop_last else np.ones((40_000, 1))
    full, rest = divmod(n, batch_size)
    return full + (1 if rest and not drop_last else 0)
print("hostile: broadcast")
""",
        base="solved",
        output="hostile: broadcast",
    ),
    HostileNotebook(
        "sleeping_non_callable",
        "the answer is a dict subclass whose iteration sleeps: looking it up hung the grader",
        "00_setup_and_data",
        "l00_num_batches",
        """
import time
class Sleepy(dict):
    def __iter__(self):
        time.sleep(3600)
        return iter(())
    def keys(self):
        time.sleep(3600)
        return []
num_batches = Sleepy(a=1)
print("hostile: sleepy answer")
""",
        base="solved",
        output="sleepy answer",
    ),
    HostileNotebook(
        "looping_answer_used_twice",
        "relative_error and gradient_check (one answer cell, two test cells) loop for ever: "
        "the second cell must not wait out the same timeout again",
        "03_backpropagation",
        "l03_relative_error_and_gradient_check",
        """
def relative_error(a, b):
    while True:
        pass
def gradient_check(*args, **kwargs):
    while True:
        pass
print("hostile: looping answers")
""",
        base="solved",
        output="looping answers",
    ),
    HostileNotebook(
        "source_is_a_number",
        'the answer cell\'s "source" is the number 5 (a traceback in grade and grade-all)',
        "01_forward_pass",
        "l01_count_parameters",
        "5",
        base="solved",
        kind="json:source",
    ),
    HostileNotebook(
        "grade_id_is_a_list",
        "an answer cell's nbgrader grade_id is a list (unhashable)",
        "02_softmax_cross_entropy",
        "l02_uniform_case",
        '["l02_uniform_case"]',
        base="solved",
        kind="json:metadata.nbgrader.grade_id",
    ),
    HostileNotebook(
        "metadata_missing",
        "a cell has no metadata at all, another a metadata that is a list",
        "03_backpropagation",
        "l03_relative_error_and_gradient_check",
        "null",
        base="solved",
        kind="json:metadata",
    ),
    HostileNotebook(
        "cells_not_a_list",
        "the notebook's cells are a string",
        "05_training_mnist",
        "l05_accuracy",
        '"cells"',
        base="solved",
        kind="json:/cells",
    ),
)

BY_NAME = {entry.name: entry for entry in (*PACKAGE_ATTACKS, *NOTEBOOK_ATTACKS)}


def materialise(entry: Hostile | HostileNotebook, out_dir: str | Path) -> Path:
    """Write the submission of ``entry`` under ``out_dir`` (its name as the folder)."""
    if isinstance(entry, Hostile):
        return materialise_package(entry, out_dir)
    if not entry.kind.startswith("json:"):
        return materialise_notebook(entry, out_dir)
    # A JSON field set to a value nbformat's schema does not allow, on the honest base.
    target = write_base(entry.base, Path(out_dir) / entry.name)
    path = target / "lessons" / f"{entry.lesson}.ipynb"
    data = json.loads(path.read_text())
    value = json.loads(entry.code)
    field = entry.kind.removeprefix("json:")
    if field.startswith("/"):
        data[field[1:]] = value
    else:
        for cell in data["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == entry.cell:
                *parents, last = field.split(".")
                holder = cell
                for key in parents:
                    holder = holder[key]
                holder[last] = value
                if field == "metadata":
                    data["cells"][0]["metadata"] = ["not", "a", "dict"]
                break
        else:
            raise KeyError(f"{entry.lesson} has no cell {entry.cell!r}")
    path.write_text(json.dumps(data))
    return target
