"""The sandbox against attacks on itself: its start-up, its seccomp filter, its levels.

Issue 18, items 1, 2 and 5, with the entries of autograder/examples/hostile/startup.py:
files shadowing the standard library gain nothing and the limits are in force as read
back after the submission ran; 32-bit ``int 0x80`` forks make no child; the filter's
decisions for x86_64 and aarch64 (run through a small classic-BPF interpreter); limits
raised by student code fail the worker; the separate-user level (tested here as root,
with bubblewrap left out) hides the grader, the hidden checks, the reference and the
results, and kills a detached grandchild before any result is written; the default
policy refuses to grade without isolation (tests/test_grade.py and test_sandbox.py run
the command line's refusal; the Gradescope refusal is here).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder import exercises, gradescope
from autograder.examples.hostile.startup import BY_NAME, materialise_startup
from autograder.grade import Grader
from autograder.sandbox import Limits, Worker, WorkerCrashed, choose, connect, session
from autograder.sandbox import isolation as iso
from autograder.sandbox import worker as worker_module

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0


def default_isolation():
    """The best level here (bubblewrap in CI); none where nothing else works."""
    try:
        return choose("any")
    except RuntimeError:
        return choose("none")


ISOLATION = default_isolation()
x86_64_linux = pytest.mark.skipif(
    platform.machine() != "x86_64" or sys.platform != "linux",
    reason="the seccomp filter is tried for real on x86_64 Linux",
)


def statuses(result) -> dict[str, tuple[str, float]]:
    return {e.id: (e.status, e.points) for e in result.exercises}


def assert_scores(result, lost: dict[str, str]) -> None:
    """Every exercise full marks but those in ``lost``, which score 0 with that status."""
    got = statuses(result)
    for exercise in exercises.EXERCISES:
        expected = lost.get(exercise.id)
        if expected is None:
            assert got[exercise.id] == ("passed", exercise.points), (exercise.id, result.output)
        else:
            assert got[exercise.id] == (expected, 0.0), (exercise.id, result.output)


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ISOLATION, timeout=TIMEOUT, notebooks="skip")


# -- 1. nothing of the submission runs before the limits ----------------------------------
@x86_64_linux
def test_shadowing_the_standard_library_gains_nothing_and_the_limits_hold(grader, tmp_path):
    entry = BY_NAME["shadow_stdlib"]
    submission = materialise_startup(entry, tmp_path)
    assert (submission / "contextlib.py").is_file() and (submission / "numpy").is_dir()
    result = grader.grade(submission)
    assert_scores(result, entry.hostile.lost)  # the wrong softmax still loses its 10 points
    assert "SHADOW" not in result.output, result.output  # no shadow was ever imported
    assert "hostile: fork refused: PermissionError" in result.output
    assert "hostile: 5 GiB allocation refused" in result.output
    assert f"hostile: address-space limit {3 * 1024**3} {3 * 1024**3}" in result.output
    if "seccomp refused" in result.fork_limit:
        pytest.skip(f"this container forbids seccomp: {result.fork_limit}")
    # The report's fork limit and limits: tried at start-up, read back after the import.
    assert result.fork_limit.startswith("blocked (seccomp on x86_64"), result.fork_limit
    assert "tried: fork refused" in result.fork_limit
    assert "read back after the submission ran: address space 3 GiB, CPU time 300 s" in (
        result.fork_limit
    )


def test_a_shadow_beside_the_package_is_not_what_the_package_imports(tmp_path):
    """The submission is importable after the Python installation: its json.py is not json."""
    package = tmp_path / "numpynet"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import json, contextlib, numpy\n"
        "def origins():\n"
        "    return [json.__file__, contextlib.__file__, numpy.__file__]\n"
    )
    for name in ("json.py", "contextlib.py", "numpy/__init__.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("raise SystemExit('shadow imported')\n")
    with Worker(tmp_path, ISOLATION) as worker:
        worker.start()
        origins = connect(worker).origins()
    assert not any(str(tmp_path) in path or path.startswith("/submission") for path in origins)


def test_limits_raised_by_student_code_fail_the_worker(tmp_path, monkeypatch):
    """Read back from /proc after the import: a raised limit is caught, not believed.

    Only a process with CAP_SYS_RESOURCE (root without namespaces, --isolation none, where
    the container grants it) can raise a hard limit: there the student code does it for
    real. Everywhere, /proc is also made to answer "unlimited", as it would then.
    """
    package = tmp_path / "numpynet"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import resource\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)\n"
        "    RAISED = True\n"
        "except (ValueError, OSError):\n"
        "    RAISED = False\n"
    )
    with Worker(tmp_path, choose("none")) as worker:
        worker.start()
        try:
            connect(worker)
        except WorkerCrashed as crashed:
            assert "not in force after your code ran" in str(crashed)  # raised for real
    real = session.read_limits

    def looser(pid: int) -> dict:
        limits = real(pid)
        limits["as"] = (2**63, 2**63)  # what /proc says after a raise to unlimited
        return limits

    monkeypatch.setattr(session, "read_limits", looser)
    with Worker(tmp_path, ISOLATION) as worker:
        worker.start()
        with pytest.raises(WorkerCrashed, match="address space raised to unlimited"):
            connect(worker)


# -- 2. a seccomp filter that checks the architecture --------------------------------------
def run_bpf(program: list[tuple[int, int, int, int]], nr: int, arch: int, arg0: int = 0) -> int:
    """A classic-BPF interpreter for the instructions fork_filter emits; returns the action."""
    data = {0: nr, 4: arch, 16: arg0 & 0xFFFFFFFF}  # seccomp_data: nr, arch, args[0] (low)
    pc, accumulator = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # ld [k]
            accumulator = data[k]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            taken = {0x15: accumulator == k, 0x35: accumulator >= k, 0x45: accumulator & k}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unknown BPF code {code:#x}")


ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026
I386, ARM, X32 = 0x40000003, 0x40000028, 0x40000000
CLONE_THREAD = 0x00010000


@pytest.mark.parametrize(
    ("machine", "nr", "arch", "arg0", "action"),
    [
        ("x86_64", 0, "native", 0, ALLOW),  # read
        ("x86_64", 57, "native", 0, EPERM),  # fork
        ("x86_64", 58, "native", 0, EPERM),  # vfork
        ("x86_64", 56, "native", 17, EPERM),  # clone(SIGCHLD): a process
        ("x86_64", 56, "native", 0x3D0F00, ALLOW),  # clone for a thread (CLONE_THREAD set)
        ("x86_64", 435, "native", 0, ENOSYS),  # clone3
        ("x86_64", X32 | 57, "native", 0, EPERM),  # x32 fork
        ("x86_64", X32 | 0, "native", 0, EPERM),  # any x32 syscall
        ("x86_64", 2, I386, 0, EPERM),  # int 0x80 fork
        ("x86_64", 3, I386, 0, EPERM),  # int 0x80 read: every 32-bit syscall
        ("x86_64", 120, I386, 17, EPERM),  # int 0x80 clone
        ("aarch64", 63, "native", 0, ALLOW),  # read
        ("aarch64", 220, "native", 17, EPERM),  # clone(SIGCHLD)
        ("aarch64", 220, "native", 0x3D0F00, ALLOW),  # a thread
        ("aarch64", 435, "native", 0, ENOSYS),  # clone3
        ("aarch64", 2, ARM, 0, EPERM),  # a 32-bit (AArch32) fork
        ("aarch64", 120, ARM, 17, EPERM),  # a 32-bit clone
    ],
)
def test_the_filter_decides_by_architecture_then_number(machine, nr, arch, arg0, action):
    native = worker_module.SECCOMP_ARCHES[machine][0]
    program = worker_module.fork_filter(machine)
    assert run_bpf(program, nr, native if arch == "native" else arch, arg0) == action
    if arg0 == 0x3D0F00:
        assert arg0 & CLONE_THREAD


def _int80_works() -> bool:
    """Whether this kernel runs 32-bit syscalls from 64-bit code at all (IA32 emulation)."""
    code = textwrap.dedent(
        """
        import ctypes, mmap
        page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(b"\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3")  # getpid via int 0x80
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        print(ctypes.CFUNCTYPE(ctypes.c_int)(address)())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    return done.returncode == 0 and done.stdout.strip().isdigit()


@x86_64_linux
def test_32_bit_int80_fork_and_clone_make_no_child(grader, tmp_path):
    if not _int80_works():
        pytest.skip("this kernel has no 32-bit syscalls from 64-bit code (no IA32 emulation)")
    entry = BY_NAME["fork_int80"]
    result = grader.grade(materialise_startup(entry, tmp_path))
    if "seccomp refused" in result.fork_limit:
        pytest.skip(f"this container forbids seccomp: {result.fork_limit}")
    assert_scores(result, {})
    assert "hostile: int 0x80 children made: 0" in result.output, result.output


# -- 5. the separate-user level, and the refusal ------------------------------------------
def world_python() -> tuple[str, tuple[str, ...]] | None:
    """An interpreter of this Python's version that every user may run, with our numpy."""
    executable, site = iso.python_paths()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        path = Path(candidate)
        if path.is_file() and all(os.stat(parent).st_mode & 0o001 for parent in path.parents):
            return str(path), tuple(site)
    return None


@contextlib.contextmanager
def private_grader():
    """The grader's package and solutions/ made unreadable to other users (git keeps no such
    bits), restored after; root, the grader's user, reads them as before."""
    with grader_lock():
        yield from _private_grader()


@contextlib.contextmanager
def grader_lock():
    """One test at a time (pytest -n 2) changes or relies on the checkout's permissions."""
    with open(Path(tempfile.gettempdir()) / "npn-private-grader.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _private_grader():
    changed = []
    for top in (iso.GRADER_PACKAGE, ROOT / "solutions"):
        for folder, _dirs, files in os.walk(top):
            for path in [folder, *(os.path.join(folder, f) for f in files)]:
                mode = os.lstat(path).st_mode
                if not os.path.islink(path) and mode & 0o077:
                    changed.append((path, mode))
                    os.chmod(path, mode & ~0o077)
    try:
        yield
    finally:
        for path, mode in changed:
            with contextlib.suppress(OSError):
                os.chmod(path, mode)


@pytest.fixture
def shared_dirs():
    """(results, pids): a results folder only root may enter, inside a folder any user may
    traverse (so "cannot" is the permission, not the path), and a folder any user may write."""
    top = Path(tempfile.mkdtemp(prefix="npn-user-", dir="/tmp"))
    top.chmod(0o711)
    results, pids = top / "results", top / "pids"
    results.mkdir(mode=0o700)
    pids.mkdir()
    pids.chmod(0o1777)
    yield results, pids
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def user_level(shared_dirs):
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the separate-user level needs root on Linux")
    python = world_python()
    if python is None:
        pytest.skip("no Python of this version that other users may run")
    results, _ = shared_dirs
    with private_grader():
        problem = iso.probe_user(iso.Isolation("user", python=python), [results])
        if problem is not None and "numpy" in problem:
            pytest.skip(f"the user-mode Python cannot import numpy here: {problem}")
        assert problem is None, problem
        yield choose("user", protect=[results], python=python)


def test_user_level_hides_the_grader_the_reference_and_the_results(
    user_level, shared_dirs, tmp_path
):
    results, _ = shared_dirs
    (results / "results.json").write_text('{"score": 0}')
    entry = BY_NAME["read_grader_files"]
    submission = materialise_startup(entry, tmp_path, results=results)
    result = Grader(user_level, timeout=TIMEOUT, notebooks="skip").grade(submission)
    assert result.isolation.startswith("isolation: user - bubblewrap: ")
    assert "not covered: the network" in result.isolation
    assert_scores(result, {})
    assert "hostile: READ" not in result.output and "WROTE" not in result.output, result.output
    for name in ("test_hidden_02_softmax_loss.py", "grade.py", "functional.py", "environ"):
        assert f"{name} PermissionError" in result.output, (name, result.output)
    assert "hostile: cannot write results PermissionError" in result.output
    assert (results / "results.json").read_text() == '{"score": 0}'
    left = result.output.split("hostile: left ", 1)[1].split()[0]
    assert left.startswith("/tmp/npn-left-by-uid-") and not os.path.exists(left)


def test_user_level_kills_a_detached_grandchild_before_results_are_written(
    user_level, shared_dirs, tmp_path
):
    """With the fork filter OFF (so the attack gets its child): the uid kill still holds."""
    results, pids = shared_dirs
    entry = BY_NAME["detached_child"]
    submission = materialise_startup(entry, tmp_path, results=results, pids=pids)
    grader = Grader(user_level, timeout=TIMEOUT, notebooks="skip", limits=Limits(forbid_fork=False))
    result = grader.grade(submission)
    assert "hostile: detached child started" in result.output, result.output
    started = [int(p.name) for p in pids.iterdir()]
    assert started, "the grandchild never ran: the test would prove nothing"
    for pid in started:  # dead (or a zombie nobody reaps) the moment grading returns
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            assert "\nState:\tZ" in status.read_text(), f"grandchild {pid} still runs"
    (results / "results.json").write_text('{"score": 12}')  # what the grader writes
    time.sleep(1.5)
    assert (results / "results.json").read_text() == '{"score": 12}'
    assert_scores(result, {})


def test_user_level_refuses_a_layout_where_the_grader_is_readable(shared_dirs):
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the separate-user level needs root on Linux")
    python = world_python()
    if python is None:
        pytest.skip("no Python of this version that other users may run")
    results, _ = shared_dirs
    with grader_lock():  # not while another test has made the checkout private
        problem = iso.probe_user(iso.Isolation("user", python=python), [results])
        if problem is not None and "numpy" in problem:
            pytest.skip(f"this checkout is out of other users' reach: {problem}")
        with pytest.raises(RuntimeError, match="refusing to grade") as refused:
            choose("user", protect=[results], python=python)  # the checkout as git has it
    assert f"can read {iso.GRADER_PACKAGE}" in str(refused.value)


def test_user_level_refuses_a_class_folder_other_users_can_read(user_level, shared_dirs):
    """grade-all protects the class: 3,000 readable files (too many for one argv) named."""
    results, _ = shared_dirs
    klass = results.parent / "class"
    for student in range(100):
        folder = klass / f"s{student}" / "numpynet"
        folder.mkdir(parents=True)
        for index in range(30):
            (folder / f"module_with_a_long_name_{index}.py").write_text("x = 1\n")
    klass.chmod(0o755)
    with pytest.raises(RuntimeError, match="refusing to grade") as refused:
        choose("user", protect=[results, klass], python=user_level.python)
    assert f"can read {klass}" in str(refused.value)
    shutil.rmtree(klass)


def test_gradescope_refuses_without_isolation_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bubblewrap
    upload, results = tmp_path / "upload", tmp_path / "results"
    shutil.copytree(ROOT / "solutions" / "numpynet", upload / "numpynet")
    with pytest.raises(gradescope.Refused, match="bubblewrap not available"):
        gradescope.run(upload, results, config={"isolation": "bwrap"})
    data = json.loads((results / "results.json").read_text())
    assert data["score"] == 0.0 and data["tests"] == []
    assert data["output"].startswith("Your upload was NOT graded")
    assert "tell your instructor" in data["output"]
    files = gradescope.build(isolation="user")
    assert json.loads(files[gradescope.CONFIG])["isolation"] == "user"
    assert b"chmod -R go-rwx" in files["setup.sh"] and b"chmod" in files["run_autograder"]


def test_kill_uid_reaches_processes_that_left_the_session(tmp_path):
    """kill_uid alone: a setsid sleeper of a worker uid dies, and nothing else does."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("needs root on Linux")
    lease = iso.UidLease()
    try:
        sleeper = subprocess.Popen(
            ["sleep", "60"], start_new_session=True, **iso.user_popen_args(lease.uid)
        )
        assert iso.processes_of(lease.uid) == [sleeper.pid]
        assert iso.kill_uid(lease.uid) == []
        assert sleeper.wait(timeout=10) == -9
    finally:
        iso.kill_uid(lease.uid)
        lease.release()


def test_a_fork_limit_not_in_force_is_a_grader_problem_in_the_report(monkeypatch, tmp_path):
    """Where the filter cannot be installed (a container refusing seccomp), every report says
    so as a grader problem; simulated by a worker told not to install it."""
    from autograder import report

    real = session.worker_command

    def without_filter(*args, **kwargs):
        argv, env, cwd = real(*args, **kwargs)
        config = json.loads(argv[-1])
        config["forbid_fork"] = False
        return [*argv[:-1], json.dumps(config)], env, cwd

    monkeypatch.setattr(session, "worker_command", without_filter)
    result = Grader(ISOLATION, timeout=TIMEOUT, notebooks="skip").grade(ROOT / "solutions")
    assert result.fork_limit.startswith("not limited")
    assert "process creation not limited (not asked)" in result.problems
    assert "GRADER PROBLEM: process creation not limited" in report.table(result)


def test_user_level_grades_the_reference_in_full_notebooks_included(user_level):
    result = Grader(user_level, timeout=30, notebooks="always").grade(ROOT / "solutions")
    assert result.points == result.max_points, result.output
    assert result.notebooks is not None
    assert result.notebooks["score"] == result.notebooks["max_score"] > 0, result.notebooks
    assert result.fork_limit.startswith("blocked (seccomp") or sys.platform != "linux"
    assert "read back after the submission ran: address space 3 GiB" in result.fork_limit


def test_run_autograder_exits_non_zero_when_it_refuses(tmp_path, monkeypatch):
    source = tmp_path / "source"
    source.mkdir()
    (source / gradescope.CONFIG).write_text(json.dumps({"isolation": "bwrap"}))
    shutil.copytree(ROOT / "solutions" / "numpynet", tmp_path / "upload" / "numpynet")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bubblewrap
    monkeypatch.setenv("AUTOGRADER_SOURCE", str(source))
    monkeypatch.setenv("AUTOGRADER_SUBMISSION", str(tmp_path / "upload"))
    monkeypatch.setenv("AUTOGRADER_RESULTS", str(tmp_path / "results"))
    assert gradescope.main(["run"]) == 1
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["output"].startswith("Your upload was NOT graded")


@x86_64_linux
def test_notebooks_alone_report_the_limits_read_back_too():
    """The lab (lesson 06 alone) runs no package: its answer cells are the first student
    code, and the report still carries what was tried and read back."""
    result = Grader(ISOLATION, timeout=30, notebooks="always", assignment="lab").grade(
        ROOT / "solutions"
    )
    if "seccomp refused" in result.fork_limit:
        pytest.skip(f"this container forbids seccomp: {result.fork_limit}")
    assert result.fork_limit.startswith("blocked (seccomp on x86_64"), result.fork_limit
    assert "read back after the submission ran: address space 3 GiB" in result.fork_limit


@pytest.mark.slow
def test_the_students_check_needs_no_sandbox(tmp_path):
    """`python -m autograder check` runs the student's own code in their own process: no
    bubblewrap, no separate user, no refusal (a laptop, macOS included)."""
    from test_check import course, run_check, solved_lessons

    folder = course(tmp_path, ROOT / "solutions" / "numpynet", solved_lessons(tmp_path))
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    (no_bwrap / "python3").symlink_to(sys.executable)
    done = run_check(folder, PATH=str(no_bwrap))
    assert done.returncode == 0, done.stderr
    assert "passing public checks: 283 of 283 points" in done.stdout
    assert "refusing" not in done.stdout + done.stderr
