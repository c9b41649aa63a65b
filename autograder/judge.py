"""The judge: a submission is graded in a forked, limited child that the grader supervises.

Checks and notebook test cells are the grader's own code, but what they do with a value the
student's code returned is up to that value: a (N, 1) array compared with a (N,) one
broadcasts to N x N, a 4M-element float16 array in a loop meant for a scalar runs for
minutes, ``list(loader)`` of an endless loader keeps every batch, a lookup of a value whose
iteration sleeps waits for ever. So all of a submission's grading (the worker it drives, the
checks, the test cells) runs in a child forked from the grading process, the *judge*, with

* an address-space limit (soft) of the grader's own size plus :data:`MEMORY_BYTES`: numpy
  raises MemoryError, which fails the check; a reply too big to read fails the worker;
* a CPU-time limit of the submission's budget, and the parent's death taking it along;
* a wall-clock deadline per *item* (a check, a test cell, a worker start), which the judge
  announces before the item (:meth:`Tracker.begin`) and the parent enforces: past it (plus
  :data:`GRACE_SECONDS`) the parent kills the judge.

The item, its deadline and each finished item's result go on a :class:`Board`, a page
shared with the parent (no system call per item). When the judge dies or is killed, the
item it was on gets ``timeout`` or ``error`` with the reason, and a new judge grades the
submission again, skipping every item already done (their results are inherited:
:meth:`Tracker.done`) on a fresh worker. A :class:`Judge` is forked once per grading
process and serves submission after submission: a fork costs the child a copy of every
page it writes (0.05-0.1 s of CPU for a whole grading), so a judge per submission, let
alone per check, would cost more than the 10% the honest path may lose.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import select
import signal
import struct
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

AVAILABLE = hasattr(os, "fork")  # without fork (Windows) the grader grades in-process
MEMORY_BYTES = 512 * 1024**2  # address space a judge may add to the grader's own
GRACE_SECONDS = 1.0  # past an item's deadline before its judge is killed (the worker's own
# deadline, inside the judge, fires first and is reported with its usual message)
POLL_SECONDS = 0.2  # how often the grader reads the board while the judge works
MAX_DEATHS = 8  # judges that may die on one submission before the rest is an error


class Board:
    """A page shared by the grader and its judge: the item running, its deadline, results.

    The judge writes, the grader reads: no system call per item (a pipe message per check
    cost more than the check). Layout: deadline (f64, NaN: none), log end (u64), worker
    pid (i64), the current item's id (u32 length + bytes), then the log of finished items
    (u32 length + JSON ``[item, result]`` each). The grader reads the item and the log only
    once the judge is dead; the deadline is one aligned 8-byte word.
    """

    SIZE = 16 * 1024**2
    _ITEM = 24
    _ITEM_MAX = 1000
    _LOG = 1024

    def __init__(self) -> None:
        import mmap

        self.memory = mmap.mmap(-1, self.SIZE)  # anonymous and shared across fork
        self.reset()

    def reset(self) -> None:
        """Before a request: no item, no deadline, an empty log, no worker."""
        struct.pack_into("<dQqI", self.memory, 0, math.nan, self._LOG, 0, 0)

    # -- the judge's side -------------------------------------------------------------
    def begin(self, item: str | None, deadline: float | None) -> None:
        """``item`` runs now, to be done by ``deadline`` (monotonic)."""
        data = (item or "").encode()[: self._ITEM_MAX]
        struct.pack_into("<I", self.memory, self._ITEM, len(data))
        self.memory[self._ITEM + 4 : self._ITEM + 4 + len(data)] = data
        struct.pack_into("<d", self.memory, 0, math.nan if deadline is None else deadline)

    def finish(self, item: str, result: Any) -> None:
        """Log ``item``'s result (dropped when the log is full: the item would be re-run)."""
        data = json.dumps([item, result]).encode()
        (end,) = struct.unpack_from("<Q", self.memory, 8)
        if end + 4 + len(data) <= self.SIZE:
            struct.pack_into("<I", self.memory, end, len(data))
            self.memory[end + 4 : end + 4 + len(data)] = data
            struct.pack_into("<Q", self.memory, 8, end + 4 + len(data))
        self.begin(None, None)

    def worker(self, pid: int) -> None:
        """The judge's current worker process (its own session)."""
        struct.pack_into("<q", self.memory, 16, pid)

    # -- the grader's side ------------------------------------------------------------
    def deadline(self) -> float | None:
        """The running item's deadline, None when there is none."""
        (value,) = struct.unpack_from("<d", self.memory, 0)
        return None if math.isnan(value) else value

    def item(self) -> str | None:
        """The item that was running (read once the judge is dead)."""
        (length,) = struct.unpack_from("<I", self.memory, self._ITEM)
        length = min(length, self._ITEM_MAX)
        text = bytes(self.memory[self._ITEM + 4 : self._ITEM + 4 + length]).decode(errors="replace")
        return text or None

    def worker_pid(self) -> int:
        """The judge's last worker's pid (0: none)."""
        return struct.unpack_from("<q", self.memory, 16)[0]

    def finished(self) -> dict[str, Any]:
        """Every logged result (read once the judge is dead)."""
        (end,) = struct.unpack_from("<Q", self.memory, 8)
        position, done = self._LOG, {}
        while position + 4 <= min(end, self.SIZE):
            (length,) = struct.unpack_from("<I", self.memory, position)
            with contextlib.suppress(ValueError):
                item, result = json.loads(bytes(self.memory[position + 4 : position + 4 + length]))
                done[item] = result
            position += 4 + length
        return done


class Tracker:
    """The judge's side: announce items, report results, look up what is already done.

    Outside a judge (``Tracker()``) it only remembers: begin and finish cost nothing.
    """

    def __init__(self, done: dict[str, Any] | None = None, board: Board | None = None) -> None:
        self._done = dict(done or {})
        self._board = board

    def done(self, item: str) -> Any:
        """The result of ``item`` if an earlier judge finished it (or died on it), else None."""
        return self._done.get(item)

    def worker(self, pid: int) -> None:
        """The judge started a worker (its own session): the parent kills it with the judge."""
        if self._board is not None:
            self._board.worker(pid)

    def begin(self, item: str | None, deadline: float | None) -> None:
        """``item`` starts now and must be done by ``deadline`` (monotonic; None: no item)."""
        if self._board is not None:
            self._board.begin(item, deadline)

    def finish(self, item: str, result: Any) -> None:
        """``item`` is done with ``result`` (JSON-able)."""
        self._done[item] = result
        if self._board is not None:
            self._board.finish(item, result)


@dataclass
class Stopped:
    """Why a judge ended without a result: the item it was on gets this outcome."""

    status: str  # "timeout" (killed past the deadline) or "error" (it died)
    message: str
    item: str | None  # the item it was on (None: between items)


@dataclass
class Run:
    """What a supervised grading returned: the result, or why the last judge stopped."""

    result: Any = None
    stopped: Stopped | None = None
    done: dict[str, Any] = field(default_factory=dict)


def _address_space() -> int:
    """The current virtual size of this process in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


_LIBC: Any = None


def _die_with_parent() -> None:
    """Linux: the kernel kills this child when the grading process dies (even by SIGKILL)."""
    global _LIBC
    try:
        if _LIBC is None:
            import ctypes

            _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _limit_memory(memory: int) -> int:
    """Cap the address space at the current size plus ``memory``; returns the current size.

    A soft limit only: the worker the judge starts inherits it and sets its own (a hard
    limit here would forbid the worker's larger address space).
    """
    import resource

    size = _address_space()
    if size:
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (size + memory, hard))
    return size


def _limit_cpu(seconds: float) -> None:
    """Cap this process's total CPU time (soft: SIGXCPU ends it)."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (max(1, int(seconds) + 2), hard))


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_OPEN: set[int] = set()  # pipe ends of every judge of this process (closed in new judges)
RETIRE_GROWTH = 256 * 1024**2  # a judge grown by this much since its fork retires


def _open_fds() -> set[int]:
    """This process's open file descriptors (Linux: /proc; elsewhere the judges' pipes)."""
    try:
        return {int(fd) for fd in os.listdir("/proc/self/fd")}
    except OSError:
        return set(_OPEN)


def _serve(
    requests: int, replies: int, board: Board, task: Callable[[Tracker, dict], Any], memory: int
) -> None:
    """The judge's body: grade one request after another; never returns (``os._exit``)."""
    code = 1
    try:
        # Nothing the grading process had open but the standard streams and our two pipes:
        # other judges' pipes (their deaths must reach the parent), and whatever the caller
        # held (a lock, a pool's connection, a pipe someone reads to its end) must not stay
        # open, or locked, for as long as this judge lives.
        keep = {0, 1, 2, requests, replies}
        for fd in _open_fds() - keep:
            with contextlib.suppress(OSError):
                os.close(fd)
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports, not us
        size = _limit_memory(memory)
        with os.fdopen(requests, "rb") as inbox, os.fdopen(replies, "wb", buffering=0) as out:
            for line in inbox:
                request = json.loads(line)
                seconds = max(0.0, float(request["fallback"]) - time.monotonic())
                _limit_cpu(_cpu_seconds() + seconds + GRACE_SECONDS)
                result = task(Tracker(request["done"], board), request)
                retire = bool(size) and _address_space() > size + RETIRE_GROWTH
                out.write(json.dumps({"end": result, "retire": retire}).encode() + b"\n")
                if retire:
                    break
        code = 0
    except BaseException:  # noqa: BLE001 - the parent reports the item as an error
        code = 1
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_JUDGES: weakref.WeakSet = weakref.WeakSet()  # this process's live judges
_EXIT_HOOKED: set[int] = set()  # processes (pids) whose exit closes their judges


def close_all() -> None:
    """Stop and reap every judge of this process (at exit: their CPU time is counted)."""
    for one in list(_JUDGES):
        one.close()


def _hook_exit() -> None:
    """Close the judges when this process ends, also as a multiprocessing pool worker."""
    if os.getpid() in _EXIT_HOOKED:
        return
    _EXIT_HOOKED.add(os.getpid())
    import atexit
    from multiprocessing import util

    atexit.register(close_all)
    util.Finalize(None, close_all, exitpriority=100)  # pool workers skip atexit


class Judge:
    """One long-lived judge child serving a grader's submissions one at a time.

    Forked once (and again after a death): a fork costs the child a copy of every page it
    writes, so a judge per submission would cost about 0.05-0.1 s of CPU each.
    """

    def __init__(self, task: Callable[[Tracker, dict], Any], memory: int = MEMORY_BYTES):
        self.task = task
        self.memory = memory
        self.pid: int | None = None
        self._requests = -1
        self._replies = -1
        self.board = Board()

    def _start(self) -> None:
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        _OPEN.update((requests_read, requests_write, replies_read, replies_write))
        gc.freeze()  # the child's collections leave the parent's objects (and pages) alone
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            for fd in (requests_read, requests_write, replies_read, replies_write):
                os.close(fd)
                _OPEN.discard(fd)
            raise
        if pid == 0:
            os.close(requests_write)
            os.close(replies_read)
            _serve(requests_read, replies_write, self.board, self.task, self.memory)
        gc.unfreeze()
        for fd in (requests_read, replies_write):
            os.close(fd)
            _OPEN.discard(fd)
        self.pid, self._requests, self._replies = pid, requests_write, replies_read
        _JUDGES.add(self)
        _hook_exit()

    def close(self) -> None:
        """Kill the judge (and its worker) and forget it."""
        pid, self.pid = self.pid, None
        for fd in (self._requests, self._replies):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                _OPEN.discard(fd)
        self._requests = self._replies = -1
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        worker = self.board.worker_pid()
        self.board.worker(0)
        if worker > 0:  # in its own session: a dead judge cannot take it along
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker, signal.SIGKILL)

    def _death(self) -> str:
        """Reap the judge (it is dead or about to be) and say how it died."""
        pid = self.pid
        status = 0
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(pid, 0)
            self.pid = None
        self.close()
        return _death(status)

    def _send(self, line: bytes) -> str | None:
        """Hand a request to a live judge (starting one); returns why it could not."""
        for _ in range(2):
            if self.pid is None:
                try:
                    self._start()
                except OSError as error:
                    return f"the grader could not start a judge: {error}"
            try:
                _write_all(self._requests, line)
                return None
            except OSError:  # it retired or died while idle: a new one
                self._death()
        return "the grader's judge did not start"

    def run(self, request: dict, done: dict[str, Any], fallback: float) -> Run:
        """Grade ``request`` in the judge, skipping ``done``; kill it when it overruns.

        Args:
            request: what the task needs (JSON-able); ``done`` and ``fallback`` are added.
            done: results of items already finished (the judge skips them).
            fallback: the monotonic deadline when no item is announced (the budget's end).

        Returns:
            The task's result, or why the judge stopped and on which item; ``done`` updated.
        """
        run = Run(done=dict(done))
        self.board.reset()
        line = json.dumps({**request, "done": run.done, "fallback": fallback}).encode() + b"\n"
        problem = self._send(line)
        if problem is not None:
            run.stopped = Stopped("error", problem, None)
            return run
        buffer = b""
        ended = retire = False
        try:
            while not ended:
                deadline = self.board.deadline()
                limit = fallback if deadline is None else min(deadline, fallback)
                left = limit + GRACE_SECONDS - time.monotonic()
                if left <= 0:
                    if self.board.deadline() != deadline:
                        continue  # the next item began meanwhile
                    run.stopped = Stopped("timeout", "killed at its deadline", None)
                    break
                # The board changes without a word: look again at least every POLL_SECONDS.
                ready, _, _ = select.select([self._replies], [], [], min(left, POLL_SECONDS))
                if not ready:
                    continue
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    break  # the judge is gone
                buffer += chunk
                if b"\n" in buffer:
                    message = json.loads(buffer.split(b"\n", 1)[0])
                    run.result, retire = message["end"], bool(message.get("retire"))
                    ended = True
        finally:
            if not ended:
                how = self._death()  # killed first: the board holds still
                run.done.update(self.board.finished())
                if run.stopped is None:
                    run.stopped = Stopped("error", how, None)
                run.stopped.item = self.board.item()
            elif retire:
                self._death()
        return run


def _death(status: int) -> str:
    """How a judge died, in words."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"killed by {name}"
    return f"exit code {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else "unknown"


def outcome(stopped: Stopped, limit: str) -> tuple[str, str]:
    """(status, student-facing message) for an item whose judge overran or died.

    ``limit`` is the sentence for the time limit that applied ("time limit of 20 s for this
    exercise reached", or the submission's budget).
    """
    if stopped.status == "timeout":
        return "timeout", (
            f"{limit} while the grader checked what your code returned (a value far larger "
            "or slower to check than expected?)"
        )
    return "error", (
        f"the grader's check of what your code returned died ({stopped.message}; its "
        f"memory budget is {MEMORY_BYTES // 1024**2} MB): is the value's shape, size or "
        "dtype what the exercise asks for?"
    )
