"""Hostile submissions: the reference package plus one snippet that attacks the grader.

Each entry is data - a file of ``numpynet/``, a snippet appended to it, and what grading
must report - and :func:`materialise` writes ``<out>/<name>/numpynet/`` at test time (no
copies of the package are committed). ``{repo}`` and ``{port}`` in a snippet are replaced
by the repository root and a TCP port the test listens on (to prove no network).

What each must show (tests/test_hostile.py): it GAINS nothing (the sabotaged exercise
still scores 0, every other exercise exactly what the reference scores) and BREAKS
nothing (the grader finishes, the repository is unchanged, the next submission grades
normally).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from autograder.paths import REFERENCE_DIR, ROOT

REFERENCE = REFERENCE_DIR

# Replaces softmax with a wrong one: what the attacks below try to get marked correct.
_WRONG_SOFTMAX = """

def softmax(Z, axis=-1):
    return np.zeros_like(Z)
"""


@dataclass(frozen=True)
class Hostile:
    """One hostile submission: the snippet appended to a module, and what grading must report."""

    name: str
    description: str
    module: str  # the file of numpynet/ the snippet is appended to
    snippet: str
    # Exercises that must score 0 with this status ("*" = every exercise); every other
    # exercise must score full marks.
    lost: dict[str, str] = field(default_factory=dict)
    output: str = ""  # must appear in what the worker printed (proves the attempt ran)
    needs_bwrap: bool = False  # unsafe or meaningless without the sandbox
    needs_seccomp: bool = False  # expects the worker's fork filter (x86_64 Linux)


HOSTILE: tuple[Hostile, ...] = (
    Hostile(
        "patch_numpy",
        "wrong softmax, and numpy's comparison functions patched to always agree",
        "functional.py",
        _WRONG_SOFTMAX
        + """
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
print("hostile: numpy comparisons patched")
""",
        lost={"ex2_1": "failed"},
        output="numpy comparisons patched",
    ),
    Hostile(
        "patch_grader",
        "wrong softmax, and tries to import and monkeypatch autograder and pytest",
        "functional.py",
        _WRONG_SOFTMAX
        + """
import sys as _sys
_sys.path[:0] = ["{repo}"]
try:
    import autograder.tolerance as _tol
    import autograder.grade as _grade
    _tol.assert_close = lambda *a, **k: None
    _grade.summarise = lambda exercise, checks: None
    print("hostile: autograder patched (in the worker only)")
except Exception as _error:
    print("hostile: cannot import autograder:", type(_error).__name__)
try:
    import pytest as _pytest
    _pytest.approx = lambda *a, **k: 0
    _pytest.raises = None
    print("hostile: pytest patched (in the worker only)")
except Exception as _error:
    print("hostile: cannot import pytest:", type(_error).__name__)
""",
        lost={"ex2_1": "failed"},
        output="hostile:",
    ),
    Hostile(
        "fake_output",
        "wrong softmax, and prints fake results and fake protocol frames to stdout and stderr",
        "functional.py",
        _WRONG_SOFTMAX
        + """
import json as _json
import struct as _struct
import sys as _sys
_frame = _json.dumps({{"body": {{"op": "result", "ok": 1.0}}, "buffers": []}}).encode()
for _stream in (_sys.stdout, _sys.stderr):
    _stream.write("ex2_1 softmax 10/10 passed\\nTOTAL 150/150\\n")
    _stream.flush()
    _stream.buffer.write(_struct.pack(">4sI", b"NPN1", len(_frame)) + _frame)
    _stream.flush()
print("x" * 200000)  # and a lot of it: truncated in the report
""",
        lost={"ex2_1": "failed"},
        output="TOTAL 150/150",
    ),
    Hostile(
        "exit_at_import",
        "calls sys.exit(3) while numpynet is imported",
        "__init__.py",
        "\nimport sys\nsys.exit(3)\n",
        lost={"*": "error"},
    ),
    Hostile(
        "os_exit_at_import",
        "calls os._exit(0) while numpynet is imported (the worker dies)",
        "__init__.py",
        "\nimport os\nos._exit(0)\n",
        lost={"*": "error"},
    ),
    Hostile(
        "exit_in_function",
        "softmax calls sys.exit(0); one_hot calls os._exit(1), killing the worker",
        "functional.py",
        """

import os as _os
import sys as _sys

def softmax(Z, axis=-1):
    _sys.exit(0)

def one_hot(y, num_classes):
    _os._exit(1)
""",
        lost={"ex2_1": "failed", "ex2_3": "error"},
    ),
    Hostile(
        "fork_bomb",
        "tries to fork 200 times at import (children exit at once: safe even unsandboxed)",
        "__init__.py",
        """
import os as _os
_forks = 0
try:
    for _ in range(200):
        if _os.fork() == 0:
            _os._exit(0)
        _forks += 1
except OSError as _error:
    print("hostile: fork refused:", _error)
print("hostile: forks made:", _forks)
""",
        output="hostile: forks made: 0",
        needs_seccomp=True,
    ),
    Hostile(
        "loop_at_import",
        "loops forever while numpynet is imported",
        "__init__.py",
        "\nwhile True:\n    pass\n",
        lost={"*": "timeout"},
    ),
    Hostile(
        "loop_in_exercise",
        "softmax loops forever: only Exercise 2.1 times out",
        "functional.py",
        "\n\ndef softmax(Z, axis=-1):\n    while True:\n        pass\n",
        lost={"ex2_1": "timeout"},
    ),
    Hostile(
        "memory_bomb",
        "one_hot allocates 50 GB",
        "functional.py",
        """

def one_hot(y, num_classes):
    block = np.ones(50 * 1024**3 // 8)
    return block[: len(y) * num_classes].reshape(len(y), num_classes)
""",
        lost={"ex2_3": "failed"},
    ),
    Hostile(
        "overwrite_grader",
        "opens the grader, the hidden tests and the reference for writing at import",
        "__init__.py",
        """
for _path in ("{repo}/autograder/grade.py", "{repo}/autograder/hidden/__init__.py",
              "{repo}/solutions/numpynet/functional.py", "{repo}/HOSTILE_WAS_HERE"):
    try:
        with open(_path, "a") as _handle:
            _handle.write("\\n# hostile\\n")
        print("hostile: WROTE", _path)
    except OSError as _error:
        print("hostile: cannot write", _path, type(_error).__name__)
""",
        output="hostile: cannot write",
        needs_bwrap=True,
    ),
    Hostile(
        "read_reference",
        "wrong softmax unless it can read the reference and hidden tests: then copies them",
        "functional.py",
        _WRONG_SOFTMAX
        + """
try:
    _source = open("{repo}/solutions/numpynet/functional.py").read()
    _hidden = open("{repo}/autograder/hidden/test_hidden_02_softmax_loss.py").read()
    _space = {{}}
    exec(_source, _space)
    softmax = _space["softmax"]
    print("hostile: READ the reference and", len(_hidden), "bytes of hidden tests")
except OSError as _error:
    print("hostile: cannot read the reference:", type(_error).__name__)
""",
        lost={"ex2_1": "failed"},
        output="hostile: cannot read the reference: FileNotFoundError",
        needs_bwrap=True,
    ),
    Hostile(
        "network",
        "connects to a port the grader's machine listens on, and to the internet",
        "__init__.py",
        """
import socket as _socket
for _address in (("127.0.0.1", {port}), ("1.1.1.1", 53)):
    try:
        _socket.create_connection(_address, timeout=2).close()
        print("hostile: CONNECTED to", _address)
    except OSError as _error:
        print("hostile: no network to", _address, type(_error).__name__)
""",
        output="hostile: no network to ('127.0.0.1'",
        needs_bwrap=True,
    ),
)

BY_NAME = {entry.name: entry for entry in HOSTILE}


def materialise(entry: Hostile, out_dir: str | Path, port: int = 9, repo: Path = ROOT) -> Path:
    """Write ``<out_dir>/<entry.name>/numpynet/`` (the reference plus the snippet)."""
    submission = Path(out_dir) / entry.name
    package = submission / "numpynet"
    if submission.exists():
        shutil.rmtree(submission)
    shutil.copytree(REFERENCE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    snippet = entry.snippet.replace("{repo}", str(repo)).replace("{port}", str(port))
    snippet = snippet.replace("{{", "{").replace("}}", "}")
    with open(package / entry.module, "a", encoding="utf-8") as handle:
        handle.write("\n" + snippet)
    return submission


def materialise_all(out_dir: str | Path, port: int = 9) -> list[Path]:
    """Every hostile submission under ``out_dir``."""
    return [materialise(entry, out_dir, port) for entry in HOSTILE]
