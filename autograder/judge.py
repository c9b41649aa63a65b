"""The judge: trusted code that touches student data runs in a short-lived, limited child.

Checks and notebook test cells are the grader's own code, but what they do with a value the
student's code returned is up to that value: a (N, 1) array compared with a (N,) one
broadcasts to N x N, a 4M-element float16 array in a loop meant for a scalar runs for
minutes, ``list(loader)`` of an endless loader keeps every batch. So they run in a child
forked from the grading process (everything already imported and collected: a fork costs
about 2 ms), with

* an address-space limit of the grader's own size plus :data:`MEMORY_BYTES` (numpy then
  raises MemoryError, which fails the check; anything harder kills the child only),
* a CPU-time limit and a wall-clock deadline per item, after which the parent kills it,
* the parent's death taking it along (Linux ``PR_SET_PDEATHSIG``).

The child runs items one after another (the checks of one exercise, the test cells of one
notebook) and streams each result back as one JSON line, so a judge that dies or overruns
costs the item it was on, which the caller reports as ``timeout`` or ``error`` with the
reason, and resumes after. The worker's socket is shared with the child: when the child
ends in any other way than cleanly, with the worker alive and in step, the caller must
restart the worker (``Verdict.worker_ok``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MEMORY_BYTES = 512 * 1024**2  # address space a judge may add to the grader's own
GRACE_SECONDS = 1.0  # past an item's deadline before its judge is killed (the worker's own
# deadline, inside the child, fires first and is reported with its usual message)
_LINE_LIMIT = 1 << 20  # a result line longer than this is a broken judge


@dataclass
class Stopped:
    """Why a judge ended before its last item: the item it was on gets this outcome."""

    status: str  # "timeout" (killed at the deadline) or "error" (it died)
    message: str


@dataclass
class Verdict:
    """What one judge returned: results of the items it finished, in order."""

    results: list[dict] = field(default_factory=list)
    stopped: Stopped | None = None
    worker_ok: bool = False  # the child ended cleanly with the worker alive and in step


def in_step(worker: Any) -> bool:
    """In a judge: has nothing failed on the worker's socket (so the parent may reuse it)?

    ``Worker.alive`` cannot tell in a child: the worker is not the child's own child, so
    its exit status cannot be read there.
    """
    return worker.failure is None and worker.sock is not None


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


def _limit(memory: int, seconds: float) -> None:
    """Apply the child's address-space and CPU limits (best effort where not supported)."""
    import resource

    size = _address_space()
    if size:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (size + memory, size + memory))
    cpu = max(1, int(seconds) + 2)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _child(
    write: int,
    items: Sequence[int],
    run: Callable[[int], dict],
    alive: Callable[[], bool],
    memory: int,
    seconds: float,
) -> None:
    """The judge's body: never returns (``os._exit``), whatever the checks do."""
    code = 1
    try:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent reports, not us
        _limit(memory, seconds)
        with os.fdopen(write, "wb", buffering=0) as out:
            for index in items:
                result = run(index)
                out.write(json.dumps({"i": index, "r": result}).encode() + b"\n")
                if result.get("stop"):
                    break
            out.write(json.dumps({"end": True, "alive": bool(alive())}).encode() + b"\n")
        code = 0
    except BaseException:  # noqa: BLE001 - the parent reports the item as an error
        code = 1
    finally:
        os._exit(code)


def judge(
    items: Sequence[int],
    run: Callable[[int], dict],
    alive: Callable[[], bool],
    deadline: Callable[[int], float],
    memory: int = MEMORY_BYTES,
) -> Verdict:
    """Run ``run(i)`` for each ``i`` of ``items`` in a limited child; results as they come.

    Args:
        items: indices to run, in order.
        run: trusted code for one item; returns a JSON-able dict (``"stop": True`` ends the
            judge after it). Runs in the child: whatever it changes there is lost.
        alive: asked in the child at the end: is the worker still alive and in step?
        deadline: ``deadline(i)`` is the monotonic time item ``i`` must be done by, asked
            in the parent when the item starts.
        memory: address space (bytes) the child may use beyond the grader's own.

    Returns:
        The finished items' results, why the judge stopped early (if it did), and whether
        the worker may be used again.
    """
    verdict = Verdict()
    if not items:
        verdict.worker_ok = True
        return verdict
    read, write = os.pipe()
    first = deadline(items[0])
    gc.freeze()  # the child's collections leave the parent's objects (and pages) alone
    try:
        pid = os.fork()
    except OSError as error:
        gc.unfreeze()
        os.close(read)
        os.close(write)
        verdict.stopped = Stopped("error", f"the grader could not start its judge: {error}")
        return verdict
    if pid == 0:
        os.close(read)
        _child(write, items, run, alive, memory, first - time.monotonic() + GRACE_SECONDS)
    gc.unfreeze()
    os.close(write)
    buffer = b""
    position = 0
    ends = first + GRACE_SECONDS
    ended = False
    try:
        while not ended:
            left = ends - time.monotonic()
            if left <= 0:
                verdict.stopped = Stopped("timeout", "")
                break
            ready, _, _ = select.select([read], [], [], left)
            if not ready:
                continue
            chunk = os.read(read, 65536)
            if not chunk:
                break  # the child is gone
            buffer += chunk
            if len(buffer) > _LINE_LIMIT and b"\n" not in buffer:
                break
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if message.get("end"):
                    verdict.worker_ok = bool(message.get("alive"))
                    ended = True
                    break
                verdict.results.append(message["r"])
                position += 1
                if position < len(items):
                    ends = deadline(items[position]) + GRACE_SECONDS
    finally:
        os.close(read)
        if not ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if not ended and verdict.stopped is None and position < len(items):
        verdict.stopped = Stopped("error", _death(status))
    return verdict


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


def outcome(
    stopped: Stopped, timeout: float, scope: str, budget: str | None = None
) -> tuple[str, str]:
    """(status, student-facing message) for an item whose judge overran its deadline or died.

    ``scope`` names what the deadline covered ("exercise", "cell"); ``budget`` replaces the
    time-limit sentence when the submission's whole budget is what ran out.
    """
    if stopped.status == "timeout":
        return "timeout", (
            (budget or f"time limit of {timeout:g} s for this {scope} reached")
            + " while the grader checked what your code returned (a value far larger or "
            "slower to check than expected?)"
        )
    return "error", (
        f"the grader's check of what your code returned died ({stopped.message}; its "
        f"memory budget is {MEMORY_BYTES // 1024**2} MB): is the value's shape, size or "
        "dtype what the exercise asks for?"
    )
