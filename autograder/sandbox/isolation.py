"""How the worker process is started: bubblewrap, a separate user, or no isolation.

Three levels, best first:

- ``bwrap``: bubblewrap namespaces. The worker sees only /usr (and the /bin, /lib
  links), the Python installation and its site-packages (read-only), the submission at
  /submission (read-only), the two worker files at /grader, a small private tmpfs at
  /tmp, and no network, no other processes. The repository - hidden tests, solutions/,
  the grader itself - is simply not there.
- ``user``: where bubblewrap cannot run, a grader running as root starts the worker as
  a separate unprivileged uid of its own (no passwd entry needed; one uid per live
  worker, so parallel workers cannot signal each other), with a copy of the submission's
  package and of the two worker files in a private folder. Before any grading a probe
  process running as such a uid must fail to read or write the grader's sources (hidden
  checks included), the reference, the source notebooks and the results folders, and
  must be able to start Python and import numpy; otherwise nothing is graded. Every
  process of the worker's uid is killed when the worker is.
- ``none``: an ordinary process of the grader's user: limits and the fork filter only.

The policy (``--isolation``): ``any`` (the default) takes bwrap, else user, else refuses
to grade; ``bwrap`` and ``user`` require that level; ``none`` is the explicit opt-in to
no isolation, and every report then says what that does not cover.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRADER_PACKAGE = HERE.parent  # autograder/: the grader, its hidden checks
WORKER_FILES = ("worker.py", "protocol.py")
MODES = ("any", "bwrap", "user", "none")  # the policies an instructor can choose
LEVELS = ("bwrap", "user", "none")  # what a worker actually runs under
# -I: isolated mode (no PYTHON* variables, neither the script's nor the current folder on
# sys.path, no user site); -S: no site.py (.pth, sitecustomize); -B: no .pyc; -u: unbuffered
# output (prints arrive in order, and survive an os._exit).
PYTHON_FLAGS = ("-I", "-S", "-B", "-u")
# The uids of user-mode workers: unassigned ones from this range, one per live worker.
UID_RANGE = range(50000, 60000)
UID_LOCKS = Path(tempfile.gettempdir()) / "numpynet-worker-uids"

NOT_COVERED = {
    "bwrap": "not covered: flaws in the kernel or in bubblewrap itself",
    "user": (
        "not covered: the network, and any file on this machine that every user may read "
        "(the grader's files were checked unreadable)"
    ),
    "none": (
        "student code could read files (hidden checks, reference, other students), write "
        "any file the grader can, use the network and signal the grader's processes; only "
        "the resource limits, the deadlines and the fork filter applied"
    ),
}


@dataclass(frozen=True)
class Limits:
    """Per-worker resource limits (the wall-clock deadline is per exercise, in grade.py)."""

    memory_bytes: int = 3 * 1024**3  # RLIMIT_AS: numpy needs ~0.5 GiB of address space
    cpu_seconds: int = 300  # RLIMIT_CPU over the worker's life: a backstop to the deadline
    file_bytes: int = 64 * 1024**2  # RLIMIT_FSIZE: no file bigger than this
    tmp_bytes: int = 64 * 1024**2  # size of the private /tmp (bubblewrap only)
    forbid_fork: bool = True  # seccomp filter against fork bombs

    def rlimits(self) -> dict[str, int]:
        """The rlimits the worker sets on itself, by the worker's names."""
        return {
            "as": self.memory_bytes,
            "cpu": self.cpu_seconds,
            "fsize": self.file_bytes,
            "core": 0,
        }


@dataclass(frozen=True)
class Isolation:
    """The chosen way to start workers, and what it means for the report."""

    mode: str  # the level: "bwrap", "user" or "none"
    reason: str = ""  # why not bubblewrap, when mode != "bwrap"
    bwrap: str | None = None
    # (interpreter, site-packages folders) the worker runs with; None = the grader's own.
    python: tuple[str, tuple[str, ...]] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        """True unless student code runs under bubblewrap."""
        return self.mode != "bwrap"

    @property
    def summary(self) -> str:
        """The one line every report header carries: the level, and what it does not cover."""
        if self.mode == "bwrap":
            return (
                "isolation: bubblewrap for all student code, package and notebook answer cells "
                f"(no network, no hidden tests, no reference, no other students); "
                f"{NOT_COVERED['bwrap']}"
            )
        if self.mode == "user":
            return (
                f"isolation: user - {self.reason}: student code ran as a separate unprivileged "
                "user that cannot read the hidden tests, the reference, the grader or the "
                f"results, its processes killed before results were written; {NOT_COVERED['user']}"
            )
        return f"isolation: degraded - {self.reason}: {NOT_COVERED['none']}"

    def worker_python(self) -> tuple[str, list[str]]:
        """(interpreter, site-packages folders) the worker runs with."""
        if self.python is not None:
            return self.python[0], list(self.python[1])
        return python_paths()


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


def choose(
    mode: str = "any",
    protect: Iterable[str | Path] = (),
    python: tuple[str, tuple[str, ...]] | None = None,
) -> Isolation:
    """Pick the isolation for the policy ``mode`` (any | bwrap | user | none).

    ``any`` takes bubblewrap when it is on PATH and works, else the separate user when
    that works here, else raises RuntimeError (refusing to grade); ``bwrap`` and
    ``user`` raise when that level cannot be used; ``none`` never isolates. ``protect``:
    folders the worker must not read or write besides the grader's own files (results
    folders, the class folder), checked in user mode. ``python``: the (interpreter,
    site-packages) of user-mode workers when not the grader's own (it must be readable by
    other users). ``auto`` is an old name of ``any``.
    """
    mode = "any" if mode == "auto" else mode
    if mode not in MODES:
        raise ValueError(f"isolation must be one of {MODES}, got {mode!r}")
    if mode == "none":
        return Isolation("none", reason="isolation disabled by --isolation none")
    problem = "not tried (--isolation user)"
    if mode in ("any", "bwrap"):
        bwrap = shutil.which("bwrap")
        problem = "bubblewrap not available" if bwrap is None else probe_bwrap(bwrap)
        if problem is None:
            return Isolation("bwrap", bwrap=bwrap)
        if mode == "bwrap":
            raise RuntimeError(f"--isolation bwrap requested but {problem}")
    user = Isolation("user", reason=f"bubblewrap: {problem}", python=python)
    trouble = probe_user(user, protect)
    if trouble is None:
        return user
    raise RuntimeError(
        f"refusing to grade: no isolation is available here. bubblewrap: {problem}; "
        f"separate user: {trouble}. Student code would run with the grader's rights "
        "(it could read the hidden checks and the reference and rewrite results). Fix one of "
        "these, or pass --isolation none to grade without isolation anyway (every report "
        "then says so)."
    )


# -- the separate-user level ------------------------------------------------------------------
class UidLease:
    """One uid of UID_RANGE held for one worker: an flock on a file only root can open."""

    def __init__(self) -> None:
        import fcntl  # Unix only: imported where the separate-user level is used

        self.uid = -1
        self._fd: int | None = None
        folder = UID_LOCKS
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise OSError(f"{folder} is not a private folder of this user")
        start = (os.getpid() * 7919) % len(UID_RANGE)
        for offset in range(len(UID_RANGE)):
            uid = UID_RANGE[(start + offset) % len(UID_RANGE)]
            if _assigned(uid):
                continue
            fd = os.open(folder / str(uid), os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise OSError(f"every uid of {UID_RANGE} is in use")

    def release(self) -> None:
        """Give the uid back (after every process of it is dead)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


@functools.cache
def _assigned(uid: int) -> bool:
    """Whether ``uid`` belongs to an account of this machine (then never used)."""
    import pwd

    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def user_popen_args(uid: int) -> dict:
    """Popen keyword arguments that start a process as ``uid`` (group ``uid``, no others)."""
    return {"user": uid, "group": uid, "extra_groups": []}


def kill_uid(uid: int, rounds: int = 50) -> list[int]:
    """SIGKILL every process of ``uid``; returns the pids still alive after (none expected).

    A child of ours takes ``uid`` and calls ``kill(-1, SIGKILL)``, which reaches every
    process that uid may signal, that is all of its own (setsid and double forks do not
    escape it), until none is left. Then /proc is read to confirm (Linux).
    """
    import signal
    import warnings

    for round_ in range(rounds):
        with warnings.catch_warnings():  # 3.12+: the child only makes system calls
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: only plain system calls, then _exit
            code = 1
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)  # every process of uid but this one
            except ProcessLookupError:
                code = 0  # none left
            except BaseException:  # noqa: BLE001 - never return into the grader's code
                code = 2
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 1:
            break
        # kill(-1) also "reaches" zombies that no init reaps: stop once none lives.
        if round_ >= 1 and not processes_of(uid):
            break
    return processes_of(uid)


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")  # where any user may create files


def remove_files_of(uid: int, folders: Sequence[str] = SHARED_FOLDERS) -> list[str]:
    """Delete what ``uid`` left at the top of the world-writable folders; returns the paths.

    Worker uids are reused: a later student's code must not find an earlier one's files.
    """
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                continue
    return removed


def processes_of(uid: int) -> list[int]:
    """Pids of live (not zombie) processes whose real or effective uid is ``uid`` (Linux)."""
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uids = fields.get("Uid", "").split()
        if str(uid) in uids[:2] and not fields.get("State", "").strip().startswith(("Z", "X")):
            found.append(int(entry.name))
    return found


def prepare_user_dir(private: Path, submission: Path, uid: int) -> dict[str, str]:
    """Lay out a user-mode worker's private folder; returns its paths.

    ``private`` (root's, 0711) holds ``grader/`` (the two worker files, readable),
    ``submission/numpynet`` (a copy of the submission's package, readable, not writable)
    and ``home/`` (the worker's own, its HOME and working folder). The submission itself,
    wherever it is, need not be readable by the worker.
    """
    os.chmod(private, 0o711)
    grader = private / "grader"
    grader.mkdir()
    for name in WORKER_FILES:
        shutil.copyfile(HERE / name, grader / name)
    copy = private / "submission"
    copy.mkdir()
    package = submission / "numpynet"
    if package.is_dir() and not package.is_symlink():

        def special(folder: str, names: list[str]) -> set[str]:
            kept = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK)
            modes = {n: os.lstat(os.path.join(folder, n)).st_mode for n in names}
            return {n for n, m in modes.items() if not any(k(m) for k in kept)} | {"__pycache__"}

        shutil.copytree(package, copy / "numpynet", symlinks=True, ignore=special)
    for folder, _dirs, files in os.walk(private):
        os.chmod(folder, 0o711 if folder == str(private) else 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):  # chmod follows links: a link to /etc/shadow...
                os.chmod(path, 0o644)
    home = private / "home"
    home.mkdir(mode=0o700)
    os.chown(home, uid, uid)
    return {"grader": str(grader), "submission": str(copy), "home": str(home)}


def protected_paths(extra: Iterable[str | Path] = ()) -> list[Path]:
    """The folders a user-mode worker must neither read nor write.

    The grader's package (hidden checks included), the reference and the source notebooks
    (``solutions/`` beside it, when there), and ``extra`` (results folders, the class).
    """
    from autograder.paths import SOLUTIONS

    paths = [GRADER_PACKAGE, SOLUTIONS, *(Path(p) for p in extra)]
    return [p.resolve() for p in paths if p.exists()]


_PROBE = r"""
import json, os, sys
paths, site = json.loads(sys.stdin.read()), json.loads(sys.argv[1])
found = []
sys.path.extend(site)
try:
    import numpy
except BaseException as error:
    found.append(f"cannot import numpy ({type(error).__name__}: {error})")
for path, kind in paths:
    try:
        if kind == "dir":
            os.listdir(path)
        else:
            open(path, "rb").close()
        found.append(f"can read {path}")
    except OSError:
        pass
    try:
        if kind == "dir":
            probe = os.path.join(path, ".npn-probe-%d" % os.getpid())
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.unlink(probe)
        else:
            os.close(os.open(path, os.O_WRONLY))
        found.append(f"can write {path}")
    except OSError:
        pass
print(json.dumps(found))
"""


def probe_user(isolation: Isolation, protect: Iterable[str | Path] = ()) -> str | None:
    """None if a user-mode worker can run here and cannot touch what it must not; else why.

    Tried for real: a process running as a worker uid starts the worker's Python, imports
    numpy, and tries to read and write every folder and file of ``protected_paths``.
    """
    if sys.platform != "linux":
        return f"not supported on {sys.platform}"
    if os.geteuid() != 0:
        return "the grader is not running as root, so it cannot start workers as another user"
    executable, site = isolation.worker_python()
    targets: list[list[str]] = []
    for top in protected_paths(protect):
        if top.is_file():
            targets.append([str(top), "file"])
            continue
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            targets.append([folder, "dir"])
            targets += [[os.path.join(folder, f), "file"] for f in files]
    try:
        lease = UidLease()
    except OSError as error:
        return f"no worker uid available ({error})"
    try:
        done = subprocess.run(
            [executable, *PYTHON_FLAGS, "-c", _PROBE, json.dumps(site)],
            input=json.dumps(targets).encode(),  # a class folder is too long for argv
            capture_output=True,
            timeout=60,
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            **user_popen_args(lease.uid),
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"cannot start Python as uid {lease.uid} ({error})"
    finally:
        kill_uid(lease.uid)
        lease.release()
    try:
        found = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        return f"Python cannot run as another user ({detail[-1] if detail else 'no output'})"
    if found:
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        return (
            "a worker uid " + "; ".join(found[:3]) + more + " (make the grader's folders, the "
            "reference and the results unreadable to other users, e.g. chmod -R go-rwx)"
        )
    return None


ROOT_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # links into /usr, or not


def bwrap_host_paths(isolation: Isolation) -> list[str]:
    """Every host folder a bubblewrap worker can read, as :func:`worker_command` binds them.

    /usr, the folders of ROOT_DIRS that are not links, the Python installation and its
    site-packages (besides the submission and the two worker files). What must stay unseen
    (the test set of the class challenge) has to lie outside all of them.
    """
    _, site = isolation.worker_python()
    folders = [name for name in ROOT_DIRS if os.path.isdir(name) and not os.path.islink(name)]
    return ["/usr", *folders, os.path.realpath(sys.base_prefix), *site]


def _root_links() -> list[str]:
    """Bind /bin, /lib, /lib64, /sbin as the host has them (symlinks into /usr or folders)."""
    args: list[str] = []
    for name in ROOT_DIRS:
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
    user_dir: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, cwd) that start a worker serving on ``fd``.

    ``user_dir``: the folders of :func:`prepare_user_dir` (user mode only).
    """
    executable, site = isolation.worker_python()
    config = {"limits": limits.rlimits(), "site": site, "forbid_fork": limits.forbid_fork}
    # A minimal environment: nothing of the grader's (tokens, HOME, proxies) leaks in, and
    # -I makes Python ignore every PYTHON* variable anyway.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        # One BLAS thread: grading is parallel across submissions, not inside one.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if isolation.mode == "user":
        assert user_dir is not None, "user mode needs prepare_user_dir first"
        config.update(submission=user_dir["submission"], cwd=user_dir["home"])
        env["HOME"] = user_dir["home"]
        worker = os.path.join(user_dir["grader"], "worker.py")
        argv = [executable, *PYTHON_FLAGS, worker, str(fd), json.dumps(config)]
        return argv, env, user_dir["home"]
    if isolation.mode != "bwrap":
        config.update(submission=str(submission), cwd=str(private_dir))
        env["HOME"] = str(private_dir)
        worker = str(HERE / "worker.py")
        argv = [executable, *PYTHON_FLAGS, worker, str(fd), json.dumps(config)]
        return argv, env, str(private_dir)
    config.update(submission="/submission", cwd="/tmp")
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
    argv += ["--", executable, *PYTHON_FLAGS, "/grader/worker.py", str(fd), json.dumps(config)]
    return argv, env, str(private_dir)
