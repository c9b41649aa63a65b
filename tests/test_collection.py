"""Collection of the checks (autograder/collection.py): the grader names each check as pytest does.

A student reads a check's name in their feedback and pastes it into ``pytest -k`` or onto
the command line: the grader's names must be pytest's node ids, parametrize ids included
(``[float32]``, never the grader's own ``[dtype0]``). pytest itself is the oracle: each
test here runs ``pytest --collect-only`` in a subprocess and compares.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autograder.collection import Suite, default_suite

ROOT = Path(__file__).resolve().parents[1]


def collect_only(*paths: str, cwd: Path) -> list[str]:
    """The node ids ``pytest --collect-only -q`` prints for ``paths``, in its order."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *paths],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_every_check_is_named_by_its_pytest_node_id():
    node_ids = collect_only("autograder/public", "autograder/hidden", cwd=ROOT)
    names = [check.name for check in default_suite().checks]
    assert len(node_ids) > 100  # the whole suite, not an empty collection
    missing = sorted(set(node_ids) - set(names))
    unknown = sorted(set(names) - set(node_ids))
    assert not missing and not unknown, f"pytest only: {missing[:5]}; grader only: {unknown[:5]}"
    assert names == node_ids  # the same order too, each case once


# Every way pytest derives a parametrize id: values it prints (numbers, strings, booleans,
# None), values named by __name__ (numpy dtypes, classes, functions), values it cannot name
# (argname + index), explicit ids, an ids callable, pytest.param ids, duplicates made unique,
# non-ASCII escaped, several argument names, a list of names, stacked marks, module marks.
CHECK_FILE = """
import numpy as np
import pytest

pytestmark = [pytest.mark.ex2_1, pytest.mark.parametrize("scale", [1, 2.5])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.dtype("float16")])
def test_dtypes(nn, dtype, scale):
    pass


@pytest.mark.parametrize("value", [0, -1, 1e-8, "a b", "\u00e9t\u00e9", True, None, b"x", 1j])
def test_printable(nn, value, scale):
    pass


@pytest.mark.parametrize("thing", [object(), (1, 2), [3], {"k": 4}, int, len, lambda: 0])
def test_unnamed(nn, thing, scale):
    pass


@pytest.mark.parametrize("n", [3, 3, 3, "3", 30])
@pytest.mark.parametrize("m, k", [(1, 2), pytest.param(3, 4, id="by-hand"), (np.int64(5), 6)])
def test_stacked_and_duplicated(nn, n, m, k, scale):
    pass


@pytest.mark.parametrize(["single"], [(1,), (2,)])
@pytest.mark.parametrize("x", [1, 2, 3], ids=["one", None, "three"])
@pytest.mark.parametrize("y", [10, 20], ids=lambda v: f"y{v // 10}")
def test_ids(nn, single, x, y, scale):
    pass


def test_plain(nn, scale):
    pass
"""


def test_parametrize_ids_follow_pytest_for_every_kind_of_value(tmp_path):
    (tmp_path / "test_ids.py").write_text(CHECK_FILE, encoding="utf-8")
    node_ids = collect_only("test_ids.py", cwd=tmp_path)
    suite = Suite([(tmp_path, "public")])
    assert suite.problems == []
    # Outside the repository a check's file part is its visibility and file name.
    assert all(check.name.startswith("public/test_ids.py::") for check in suite.checks)
    names = [check.name.removeprefix("public/") for check in suite.checks]
    assert len(node_ids) == 2 * (3 + 9 + 7 + 15 + 12 + 1)
    assert names == node_ids
