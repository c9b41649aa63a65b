"""Tests of the checks' own machinery: the tolerance policy, its messages, the conftest
("not started", markers) and the contract the grader relies on (fixtures, markers, messages).

The checks themselves are validated against the reference, the stubs, an independent
implementation and a catalogue of bugs in test_bug_catalogue.py.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import exercises
from autograder.examples.build import write_stubs
from autograder.tolerance import (
    EXACT,
    FLOAT32,
    FLOAT64,
    as_array,
    as_scalar,
    assert_close,
    assert_unchanged,
    tolerance_for,
)

ROOT = Path(__file__).resolve().parents[1]
CHECK_DIRS = {"public": ROOT / "autograder" / "public", "hidden": ROOT / "autograder" / "hidden"}


# ---- the tolerance policy -----------------------------------------------------------------


def test_tolerance_by_dtype():
    assert tolerance_for(np.float32) == FLOAT32
    assert tolerance_for(np.float16) == FLOAT32
    assert tolerance_for(np.float64) == FLOAT64
    assert tolerance_for(np.int64) == EXACT
    assert tolerance_for(np.bool_) == EXACT
    # float32 rounding (6e-8) must sit well inside its tolerance, and float64's inside its.
    assert FLOAT32.rtol > 100 * np.finfo(np.float32).eps
    assert FLOAT64.rtol > 100 * np.finfo(np.float64).eps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tolerance_sees_a_tenth_of_a_percent(dtype):
    # The smallest errors of real bugs (see the bug catalogue) are 1e-3 relative and more.
    x = np.linspace(0.5, 2.0, 7).astype(dtype)
    with pytest.raises(AssertionError):
        assert_close((x * (1 + 1e-3)).astype(dtype), x, "x off by 0.1 %")


@settings(max_examples=30, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    data=st.data(),
)
def test_assert_close_accepts_within_and_rejects_beyond_rtol(dtype, data):
    values = data.draw(
        hnp.arrays(dtype, st.integers(1, 20), elements=st.floats(0.5, 1e3, width=32))
    )
    tol = tolerance_for(dtype)
    assert_close((values * (1 + tol.rtol / 4)).astype(dtype), values, "scaled within rtol")
    position = data.draw(st.integers(0, len(values) - 1))
    off = values.copy()
    off[position] *= 1 + 10 * tol.rtol
    with pytest.raises(AssertionError, match=rf"1 of {len(values)} entr(y|ies) differ"):
        assert_close(off, values, "one entry off")


def test_assert_close_messages_name_what_is_wrong():
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(AssertionError, match=r"softmax\(Z\): expected dtype float32, got float64"):
        assert_close(expected.astype(np.float64), expected, "softmax(Z)")
    with pytest.raises(AssertionError, match=r"expected shape \(3, 4\), got \(4, 3\)"):
        assert_close(expected.T.copy(), expected, "P")
    with pytest.raises(AssertionError, match="expected a numpy array, got list"):
        assert_close(expected.tolist(), expected, "P")
    wrong = expected.copy()
    wrong[1, 2] = 99.0
    wrong[2, 0] = np.nan
    with pytest.raises(AssertionError) as raised:
        assert_close(wrong, expected, "Y")
    message = str(raised.value)
    assert "Y: 2 of 12 entries differ" in message
    assert "index (1, 2): got 99, expected 6" in message
    assert "max abs error 93 at index (1, 2)" in message
    assert "1 entry is nan or inf where finite values were expected (exp overflows" in message


def test_assert_close_lists_a_few_entries_only():
    with pytest.raises(AssertionError) as raised:
        assert_close(np.ones(50), np.zeros(50), "x")
    assert "... and 45 more" in str(raised.value)
    assert str(raised.value).count("\n  index (") == 5


def test_assert_close_scalars_and_matching_infinities():
    assert_close(1.0 + 1e-9, 1.0, "loss")
    assert_close(np.float32(2.0), 2.0, "loss")
    with pytest.raises(AssertionError, match=r"^loss: got 1.001, expected 1 \(relative error"):
        assert_close(1.001, 1.0, "loss")
    with pytest.raises(AssertionError, match=r"^p: 1 of 1 entry differs") as raised:
        assert_close(np.array([1.5]), np.array([1.0]), "p")
    assert "index (0,)" in str(raised.value) and "index ()" not in str(raised.value)
    with pytest.raises(AssertionError, match="expected a single number"):
        assert_close(np.ones(3), 1.0, "loss")
    assert_close(np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), "same infinities")


def test_as_array_copies_and_as_scalar_validates():
    original = np.zeros(3)
    copy = as_array(original, "x")
    copy[0] = 1.0
    assert original[0] == 0.0, "as_array must return a private copy"
    assert as_scalar(np.float32(1.5), "x") == 1.5
    assert as_scalar(np.array([2.0]), "x") == 2.0
    for bad in (True, "1.0", np.ones(2), None):
        with pytest.raises(AssertionError):
            as_scalar(bad, "x")


def test_assert_unchanged():
    before = np.arange(4.0)
    assert_unchanged(before, before.copy(), "f")
    with pytest.raises(
        AssertionError, match="f must not modify its input, but it changed 1 entry, by up to 3"
    ):
        assert_unchanged(before, np.array([0.0, 1.0, 5.0, 3.0]), "f")
    # A change of rounding size is named, with its cause and fix.
    x = np.random.default_rng(0).standard_normal(20)
    after = x.copy()
    for i in range(len(after)):
        after[i] += 1e-5  # numerical_gradient's two steps, undone by arithmetic
        after[i] -= 2e-5
        after[i] += 1e-5
    assert not np.array_equal(after, x)  # the premise: adding eps back is not exact
    with pytest.raises(AssertionError, match=r"by up to \d.*e-1\d: a rounding-size change"):
        assert_unchanged(x, after, "numerical_gradient")
    with pytest.raises(AssertionError, match="changed its shape"):
        assert_unchanged(before, before[:2], "f")


EXPECTED = np.array([[1.0, 2.0, -3.0], [4.0, -5.0, 6.0], [0.5, 7.0, 8.0]])


@pytest.mark.parametrize(
    "got, pattern",
    [
        (2 * EXPECTED, r"all entries are 2x the expected value, N = 2: did you divide by N\?"),
        (3 * EXPECTED, r"all entries are 3x the expected value: a constant factor"),
        (-EXPECTED, r"every entry has the wrong sign"),
        (EXPECTED + 0.5, r"every entry is off by the same 0.5"),
        (EXPECTED + np.array([1.0, 2.0, 3.0]), r"every row is off by the same vector"),
        (EXPECTED.T, r"TRANSPOSE of the expected matrix"),
        (np.roll(EXPECTED, 1, axis=0), r"one row EARLIER: shifted by one sample"),
        (np.roll(EXPECTED, -1, axis=0), r"one row LATER: shifted by one sample"),
    ],
)
def test_assert_close_names_the_pattern_of_the_difference(got, pattern):
    with pytest.raises(AssertionError) as raised:
        assert_close(got, EXPECTED, "dZ", factors={2.0: "N = 2: did you divide by N?"})
    lines = str(raised.value).splitlines()
    # First: the report's table shows the first line, and the grader cuts long messages.
    assert lines[0].startswith("dZ: ") and re.search(pattern, lines[0]), lines
    assert re.match(r"  \d+ of 9 entries differ", lines[1]), lines


def test_assert_close_names_no_pattern_for_unrelated_errors():
    wrong = EXPECTED.copy()
    wrong[0, 0], wrong[2, 1] = 9.0, -1.0
    with pytest.raises(AssertionError) as raised:
        assert_close(wrong, EXPECTED, "dZ")
    lines = str(raised.value).splitlines()
    assert lines[0] == "dZ: 2 of 9 entries differ (rtol=1e-07, atol=1e-09 for float64)", lines
    assert lines[1].startswith("  max abs error"), lines


def test_assert_close_dtype_and_shape_messages_give_the_cause():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(AssertionError, match="np.zeros_like\\(x\\) copies x's float32 dtype"):
        assert_close(x, x.astype(np.float64), "g")
    with pytest.raises(AssertionError, match="a float64 array or constant entered"):
        assert_close(x.astype(np.float64), x, "Y")
    with pytest.raises(AssertionError, match="that is the transposed shape"):
        assert_close(x.T.copy(), x, "Y")


def test_a_single_nonzero_entry_is_no_pattern():
    with pytest.raises(AssertionError) as raised:
        assert_close(np.array([0.0, 0.0, 7.0]), np.array([0.0, 0.0, 5.0]), "g")
    assert "x the expected value" not in str(raised.value)
    with pytest.raises(AssertionError, match="g: the value is|g: all entries are 2x"):
        assert_close(np.array([0.0, 0.0, 10.0]), np.array([0.0, 0.0, 5.0]), "g")


def test_scalar_factor_named_only_when_it_is_a_whole_ratio():
    with pytest.raises(AssertionError, match="the value is 4x the expected value"):
        assert_close(8.0, 2.0, "loss")
    with pytest.raises(AssertionError) as raised:
        assert_close(1.457, 1.366, "loss")
    assert "x the expected value" not in str(raised.value)


# ---- the contract with the grader: fixtures, markers, messages ------------------------------


def mark_name(node: ast.expr) -> str | None:
    """``X`` for a decorator or value ``pytest.mark.X`` or ``pytest.mark.X(...)``."""
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute) and ast.unparse(target.value) == "pytest.mark":
        return target.attr
    return None


def check_functions():
    """(kind, file, function node, marker names) of every check, read from the source.

    Read, not imported: importing would need the exercise markers registered in this session.
    """
    for kind, folder in CHECK_DIRS.items():
        for path in sorted(folder.glob("test_*.py")):
            tree = ast.parse(path.read_text())
            module_marks = []
            for node in tree.body:
                if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "pytestmark":
                    values = node.value.elts if isinstance(node.value, ast.List) else [node.value]
                    module_marks += [mark_name(value) for value in values]
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                    marks = [mark_name(d) for d in node.decorator_list] + module_marks
                    yield kind, path, node, marks


def provided_arguments(function: ast.FunctionDef) -> set[str]:
    """Arguments given by @pytest.mark.parametrize or hypothesis' @given."""
    names: set[str] = set()
    for decorator in function.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        if mark_name(decorator) == "parametrize":
            names.update(n.strip() for n in ast.literal_eval(decorator.args[0]).split(","))
        elif ast.unparse(decorator.func) == "given":
            names.update(keyword.arg for keyword in decorator.keywords)
    return names


def test_every_check_has_one_exercise_marker_and_only_nn_ref_fixtures():
    count = {exercise.id: 0 for exercise in exercises.ALL_EXERCISES}
    for kind, path, function, marks in check_functions():
        where = f"{path.name}::{function.name}"
        ids = [mark for mark in marks if mark in exercises.BY_ID]
        assert len(ids) == 1, f"{where}: exercise markers {ids}"
        count[ids[0]] += 1
        allowed = {"nn"} | ({"ref"} if kind == "hidden" else set())
        wanted = {arg.arg for arg in function.args.args} - provided_arguments(function)
        assert wanted <= allowed, f"{where} asks for fixtures {wanted - allowed}"
        assert "nn" in wanted, f"{where} does not use nn"
    assert all(count.values()), (
        f"exercises without checks: {[k for k, v in count.items() if not v]}"
    )


def test_asserts_carry_messages():
    # The grader shows students only str(AssertionError), never the source: every assert
    # must say in words what went wrong (hidden asserts are not even rewritten by pytest).
    for path in sorted(
        [*CHECK_DIRS["hidden"].glob("test_*.py"), *CHECK_DIRS["public"].glob("test_*.py")]
    ):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                assert node.msg is not None, f"{path.name}:{node.lineno}: assert without a message"


def test_public_checks_import_nothing_instructor_only():
    for path in sorted(CHECK_DIRS["public"].glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("autograder.hidden", "autograder.examples")), (
                    f"{path.name} imports {name}: students do not have it"
                )
                # conftest.py is the one place that imports the student's package (nn).
                assert path.name == "conftest.py" or "numpynet" not in name, (
                    f"{path.name} imports {name}: use the nn fixture"
                )


# ---- the conftest, run as a student would ------------------------------------------------


def run_pytest(args: list[str], pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(pythonpath)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=short"]
    command += ["-p", "hypothesis.extra.pytestplugin", "--import-mode=importlib", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stubs")
    write_stubs(folder / "numpynet")
    return folder


def test_stubs_read_not_started_per_marker(stubs, tmp_path):
    public = str(CHECK_DIRS["public"])
    done = run_pytest([public, "-m", "ex2_1", "--strict-markers"], stubs, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"\b4 failed, \d+ deselected", done.stdout), done.stdout
    assert "not started: Exercise 2.1: softmax - see lessons/02_softmax_cross_entropy.ipynb" in (
        done.stdout
    )
    assert "Traceback" not in done.stdout
    # A check that needs an earlier exercise names both.
    done = run_pytest([public, "-m", "ex3_2"], stubs, tmp_path)
    assert "not started: Exercise 1.1: Linear He initialisation" in done.stdout
    assert "(Exercise 3.2 needs it)" in done.stdout


def test_a_misspelt_marker_gets_a_hint_and_failures_short_tracebacks(tmp_path):
    public = str(CHECK_DIRS["public"])
    solutions = ROOT / "solutions"
    done = run_pytest([public, "-m", "ex2.1"], solutions, tmp_path)
    assert done.returncode == 4
    assert "did you mean ex2_1?" in done.stdout + done.stderr
    # A failing check reads as its line and message, without the tolerance helpers' frames.
    checks = tmp_path / "checks" / "public"
    checks.mkdir(parents=True)
    shutil.copy(CHECK_DIRS["public"] / "conftest.py", checks / "conftest.py")
    (checks / "test_fails.py").write_text(
        "import numpy as np\nimport pytest\nfrom autograder.tolerance import assert_close\n\n"
        "@pytest.mark.ex2_1\ndef test_x(nn):\n"
        "    assert_close(np.ones(3), 2 * np.ones(3), 'P')\n"
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(checks)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = f"{solutions}{os.pathsep}{ROOT}"
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "E   AssertionError: P: all entries are 0.5x the expected value" in done.stdout
    assert "3 of 3 entries differ" in done.stdout, done.stdout
    assert "tolerance.py" not in done.stdout, done.stdout


def test_a_check_without_exercise_marker_is_refused(tmp_path):
    # A copy of the public conftest next to a test that forgot its marker.
    checks = tmp_path / "checks" / "public"
    checks.mkdir(parents=True)
    shutil.copy(CHECK_DIRS["public"] / "conftest.py", checks / "conftest.py")
    (checks / "test_unmarked.py").write_text("def test_x(nn):\n    pass\n")
    (checks / "test_marked.py").write_text(
        "import pytest\n\n@pytest.mark.ex2_1\ndef test_y():\n    pass\n"
    )
    done = run_pytest([str(checks)], ROOT / "solutions", tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "test_unmarked.py::test_x must carry exactly one exercise marker" in (
        done.stdout + done.stderr
    )
    (checks / "test_unmarked.py").unlink()
    assert run_pytest([str(checks)], ROOT / "solutions", tmp_path).returncode == 0
