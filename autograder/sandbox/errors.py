"""How a worker fails, as the trusted side sees it: the exceptions and their outcome.

Its own module so that the session (which raises them) and the proxies (which check a
worker's generation) both import it without importing each other.
"""

from __future__ import annotations


class RemoteError(Exception):
    """An exception raised by student code whose type is not a Python builtin."""

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = traceback


class WorkerFailure(BaseException):  # noqa: N818 - a BaseException on purpose
    """The worker can no longer answer (timed out or died)."""


class WorkerTimeout(WorkerFailure):
    """The exercise's wall-clock deadline passed; the worker was killed."""


class WorkerCrashed(WorkerFailure):
    """The worker process died or broke the protocol."""


def outcome_of(failure: WorkerFailure, timeout: float, scope: str) -> tuple[str, str]:
    """("timeout" or "error", the student-facing message) for a worker that stopped answering.

    ``scope`` names what the deadline covered ("exercise", "cell").
    """
    if isinstance(failure, WorkerTimeout):
        return "timeout", f"time limit of {timeout:g} s for this {scope} reached"
    return "error", f"your code killed its sandboxed process: {failure}"
