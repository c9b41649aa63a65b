"""How the worker process is started: bubblewrap namespaces, or a degraded plain process.

With bubblewrap the worker sees only: /usr (and the /bin, /lib links), the Python
installation and its site-packages (read-only), the submission at /submission
(read-only), the two worker files at /grader, a small private tmpfs at /tmp, and no
network, no other processes. The repository - hidden tests, solutions/, the grader
itself - is simply not there. Without bubblewrap ("degraded") the worker is an
ordinary process: limits still apply, but student code could read any file the
grader can; every report says so.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "protocol.py")
MODES = ("auto", "bwrap", "none")


@dataclass(frozen=True)
class Limits:
    """Per-worker resource limits (the wall-clock deadline is per exercise, in grade.py)."""

    memory_bytes: int = 3 * 1024**3  # RLIMIT_AS: numpy needs ~0.5 GiB of address space
    cpu_seconds: int = 300  # RLIMIT_CPU over the worker's life: a backstop to the deadline
    file_bytes: int = 64 * 1024**2  # RLIMIT_FSIZE: no file bigger than this
    tmp_bytes: int = 64 * 1024**2  # size of the private /tmp (bubblewrap only)
    forbid_fork: bool = True  # seccomp filter against fork bombs


@dataclass(frozen=True)
class Isolation:
    """The chosen way to start workers, and what it means for the report."""

    mode: str  # "bwrap" or "none"
    reason: str = ""  # why degraded, when mode == "none"
    bwrap: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        """True unless student code runs under bubblewrap."""
        return self.mode != "bwrap"

    @property
    def summary(self) -> str:
        """The one line every report header carries."""
        if not self.degraded:
            return (
                "isolation: bubblewrap for all student code, package and notebook answer cells "
                "(no network, no hidden tests, no reference, no other students)"
            )
        return f"isolation: degraded - {self.reason}: student code could read files"


def python_paths() -> tuple[str, list[str]]:
    """(real interpreter, site-packages folders) of the grader's own Python."""
    executable = os.path.realpath(sys.executable)
    site = []
    for key in ("purelib", "platlib"):
        path = os.path.realpath(sysconfig.get_paths()[key])
        if path not in site and os.path.isdir(path):
            site.append(path)
    return executable, site


@functools.lru_cache(maxsize=4)
def probe_bwrap(bwrap: str) -> str | None:
    """None if ``bwrap`` can create the namespaces we need here, else the reason it cannot."""
    try:
        result = subprocess.run(
            [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            timeout=20,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap failed to start ({error})"
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot create namespaces here ({detail[-1] if detail else 'no detail'})"
    return None


def choose(mode: str = "auto") -> Isolation:
    """Pick the isolation for ``mode`` (auto | bwrap | none).

    ``auto`` uses bubblewrap when it is on PATH and works, and degrades otherwise;
    ``bwrap`` raises RuntimeError when it cannot be used; ``none`` always degrades.
    """
    if mode not in MODES:
        raise ValueError(f"isolation must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return Isolation("none", reason="isolation disabled by --isolation none")
    bwrap = shutil.which("bwrap")
    problem = "bubblewrap not available" if bwrap is None else probe_bwrap(bwrap)
    if problem is None:
        return Isolation("bwrap", bwrap=bwrap)
    if mode == "bwrap":
        raise RuntimeError(f"--isolation bwrap requested but {problem}")
    return Isolation("none", reason=problem)


def _root_links() -> list[str]:
    """Bind /bin, /lib, /lib64, /sbin as the host has them (symlinks into /usr or folders)."""
    args: list[str] = []
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        args += ["--ro-bind-try", name, name]
    return args


def worker_command(
    isolation: Isolation,
    submission: Path,
    fd: int,
    private_dir: Path,
    limits: Limits,
) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, cwd) that start a worker serving on ``fd``."""
    import json

    executable, site = python_paths()
    inside_submission = "/submission" if not isolation.degraded else str(submission)
    config = {
        "limits": {
            "as": limits.memory_bytes,
            "cpu": limits.cpu_seconds,
            "fsize": limits.file_bytes,
            "core": 0,
        },
        "site": site,
        "forbid_fork": limits.forbid_fork,
    }
    # A minimal environment: nothing of the grader's (tokens, HOME, proxies) leaks in.
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": inside_submission,
        "HOME": "/tmp" if not isolation.degraded else str(private_dir),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # prints arrive in order, and survive an os._exit
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
        # One BLAS thread: grading is parallel across submissions, not inside one.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if isolation.degraded:
        config["cwd"] = str(private_dir)
        worker = str(HERE / "worker.py")
        argv = [executable, "-S", worker, str(fd), json.dumps(config)]
        return argv, env, str(private_dir)
    config["cwd"] = "/tmp"
    argv = [isolation.bwrap or "bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    argv += ["--cap-drop", "ALL", "--ro-bind", "/usr", "/usr", *_root_links()]
    # The private /tmp comes BEFORE the Python binds: a virtual environment that lives
    # under /tmp (a CI clone, say) must stay visible on top of it.
    argv += ["--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    prefix = os.path.realpath(sys.base_prefix)
    argv += ["--ro-bind", prefix, prefix]
    for path in site:
        if not path.startswith(prefix + os.sep):
            argv += ["--ro-bind", path, path]
    for path in site:
        # A non-editable install puts the grader (hidden checks included) in site-packages:
        # cover it with an empty tmpfs. An editable install leaves only a path there.
        if os.path.isdir(os.path.join(path, "autograder")):
            argv += ["--tmpfs", os.path.join(path, "autograder")]
    argv += ["--ro-bind", str(submission), "/submission"]
    for name in WORKER_FILES:
        argv += ["--ro-bind", str(HERE / name), f"/grader/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp"]
    # bwrap's own root is a tmpfs with no size limit: make it read-only once built.
    argv += ["--remount-ro", "/"]
    argv += ["--", executable, "-S", "/grader/worker.py", str(fd), json.dumps(config)]
    return argv, env, str(private_dir)
