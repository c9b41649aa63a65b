"""The trusted side of one worker: start it, talk to it, time it out, kill it.

A :class:`Worker` owns one sandboxed process and the socket to it. ``request`` sends
one request and waits for its result, answering the worker's callbacks meanwhile,
all under the current ``deadline``. When the deadline passes the worker is killed
and :class:`WorkerTimeout` raised; when it dies, :class:`WorkerCrashed`. Both are
BaseExceptions so that no ``except Exception`` in a test can swallow them.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import protocol
from .errors import (  # noqa: F401 - re-exported: the failures belong to the session
    RemoteError,
    WorkerCrashed,
    WorkerFailure,
    WorkerTimeout,
    outcome_of,
)
from .isolation import Isolation, Limits, worker_command
from .proxy import RemoteMethod, RemoteObject

STARTUP_SECONDS = 30.0  # a worker that is not ready by then is reported as crashed
OUTPUT_KEEP = 16 * 1024  # bytes of student stdout/stderr kept for the report


class OutputTail:
    """Drain a pipe on a thread, keeping the first OUTPUT_KEEP bytes and a count."""

    def __init__(self, pipe: Any) -> None:
        self.kept = bytearray()
        self.total = 0
        self.thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self.thread.start()

    def _drain(self, pipe: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536):
                self.total += len(chunk)
                if len(self.kept) < OUTPUT_KEEP:
                    self.kept += chunk[: OUTPUT_KEEP - len(self.kept)]
        with contextlib.suppress(OSError):
            pipe.close()

    def text(self) -> str:
        """The kept output, decoded, with a note of how many bytes were cut."""
        out = self.kept.decode(errors="replace")
        if self.total > len(self.kept):
            out += f"\n... [{self.total - len(self.kept)} more bytes cut]"
        return out


def _exception_for(error: dict) -> BaseException:
    """A local exception for a remote one: same builtin type, else RemoteError."""
    name = error.get("builtin")
    message = str(error.get("message", ""))
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    if cls is Exception and error.get("type") != "Exception":
        cls = None  # a student class derived from Exception itself: no builtin meaning
    if isinstance(cls, type) and issubclass(cls, Exception) and name == error.get("type"):
        exc: BaseException = cls(message)
    elif isinstance(cls, type) and issubclass(cls, Exception):
        # A student subclass of a builtin (or numpy's AxisError): keep the builtin type
        # so pytest.raises(ValueError) works, and name the real type in the message.
        exc = cls(f"{error.get('type')}: {message}")
    else:
        exc = RemoteError(str(error.get("type", "Exception")), message)
    exc.remote_traceback = str(error.get("traceback", ""))  # type: ignore[attr-defined]
    exc.remote_type = str(error.get("type", ""))  # type: ignore[attr-defined]
    return exc


class Worker:
    """One sandboxed worker process for one submission."""

    def __init__(self, submission: Path, isolation: Isolation, limits: Limits | None = None):
        self.submission = Path(submission).resolve()
        self.isolation = isolation
        self.limits = limits or Limits()
        self.deadline: float | None = None
        self.generation = 0  # bumped on every (re)start: proxies of dead workers refuse
        self.process: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.fork_limit = ""
        self.callbacks: dict[int, Callable] = {}
        self._callback_ids: dict[int, int] = {}
        self._callback_error: BaseException | None = None
        self.stdout: OutputTail | None = None
        self.stderr: OutputTail | None = None
        self._private: str | None = None
        self.failure: WorkerFailure | None = None
        self._history: list[str] = []  # output of workers already gone

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start a fresh worker (killing any previous one) and wait until it is ready."""
        self.kill()
        self.generation += 1
        self.failure = None
        self.callbacks.clear()
        self._callback_ids.clear()
        self._private = tempfile.mkdtemp(prefix="npn-worker-")
        parent, child = socket.socketpair()
        argv, env, cwd = worker_command(
            self.isolation, self.submission, child.fileno(), Path(self._private), self.limits
        )
        try:
            self.process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(child.fileno(),),
                start_new_session=True,  # its own process group: killed as a whole
            )
        finally:
            child.close()
        self.sock = parent
        self.stdout = OutputTail(self.process.stdout)
        self.stderr = OutputTail(self.process.stderr)
        hello = self._receive(time.monotonic() + STARTUP_SECONDS, "starting")
        if not isinstance(hello, dict) or hello.get("op") != "ready":
            self._fail(WorkerCrashed, "the worker did not start properly")
        self.fork_limit = str(hello.get("fork", ""))

    @property
    def alive(self) -> bool:
        """Whether the worker process runs and has not failed."""
        return self.process is not None and self.process.poll() is None and self.failure is None

    def kill(self) -> None:
        """Kill the worker's whole process group and forget it."""
        process, self.process = self.process, None
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
            for tail in (self.stdout, self.stderr):
                if tail is not None:
                    tail.thread.join(timeout=1)
            self._history.append(self._output_now())
            self.stdout = self.stderr = None
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None

    def close(self) -> None:
        """End the worker by killing it.

        It holds nothing worth a polite exit (its output is unbuffered and already in our
        pipes), so killing is quicker, and the same for every worker.
        """
        self.kill()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _output_now(self) -> str:
        parts = []
        for name, tail in (("stdout", self.stdout), ("stderr", self.stderr)):
            if tail is not None and tail.total:
                parts.append(f"--- {name} ---\n{tail.text()}")
        return "\n".join(parts)

    def output(self) -> str:
        """What student code printed (stdout then stderr, per worker started), truncated."""
        parts = [text for text in (*self._history, self._output_now()) if text]
        return "\n".join(parts)

    # -- failures -----------------------------------------------------------------------
    def _fail(self, kind: type[WorkerFailure], message: str) -> None:
        process = self.process
        code = process.poll() if process is not None else None
        if kind is WorkerCrashed and process is not None and code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = process.wait(timeout=2)  # it closed the socket: let it finish dying
        self.kill()
        tail = self._history[-1].strip() if self._history else ""
        if kind is WorkerCrashed and code is not None:
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"signal {-code}"
                message += f" (killed by {name})"
            else:
                message += f" (exit code {code})"
        if tail and kind is WorkerCrashed:
            message += "; last output: " + tail[-500:]
        self.failure = kind(message)
        raise self.failure

    def _receive(self, deadline: float | None, doing: str) -> Any:
        if self.failure is not None:
            raise self.failure
        if self.sock is None:
            raise WorkerCrashed("the worker is not running")
        try:
            return protocol.recv(self.sock, self._ref_in, deadline)
        except TimeoutError:
            self._fail(WorkerTimeout, f"time limit reached while {doing}")
        except protocol.PeerClosed:
            self._fail(WorkerCrashed, f"the worker process died while {doing}")
        except (protocol.ProtocolError, OSError, ValueError) as error:
            self._fail(WorkerCrashed, f"the worker broke the protocol while {doing}: {error}")
        except MemoryError:
            # A reply bigger than the judge's memory budget (autograder/judge.py): it was
            # read half-way, so the socket is out of step and the worker must go.
            self._fail(
                WorkerCrashed,
                f"a value your code sent back did not fit in the grader's memory while {doing}",
            )

    # -- references ---------------------------------------------------------------------
    def _ref_out(self, value: Any) -> dict:
        if isinstance(value, RemoteMethod):
            owner, name = value._owner, value._name
            if owner._worker is not self or owner._generation != self.generation:
                raise WorkerCrashed("a proxy from a previous (dead) worker was used")
            return {"$m": [owner._id, name]}
        if isinstance(value, RemoteObject):
            if value._worker is not self or value._generation != self.generation:
                raise WorkerCrashed("a proxy from a previous (dead) worker was used")
            return {"$r": value._id}
        if callable(value):
            key = id(value)
            if key not in self._callback_ids:
                self._callback_ids[key] = len(self.callbacks) + 1
                self.callbacks[self._callback_ids[key]] = value
            return {"$c": self._callback_ids[key]}
        raise TypeError(
            f"a {type(value).__name__} cannot be sent to the student's code: pass arrays, "
            "scalars, str, None, lists/tuples/dicts of those, nn objects or functions "
            "(seeds, not Generators)"
        )

    def _ref_in(self, tag: dict) -> Any:
        if "$r" not in tag or not isinstance(tag["$r"], int):
            raise protocol.ProtocolError("the worker sent a callback reference")
        methods = tag.get("methods", [])
        names = (
            frozenset(n for n in methods if isinstance(n, str))
            if isinstance(methods, list)
            else frozenset()
        )
        return RemoteObject(self, tag["$r"], str(tag.get("type", "object")), names)

    # -- requests -----------------------------------------------------------------------
    def request(self, op: str, **fields: Any) -> Any:
        """Send one request; return its value or raise the remote exception locally."""
        if self.failure is not None:
            raise self.failure
        if self.sock is None:
            raise WorkerCrashed("the worker is not running")
        sent_arrays = self._send({"op": op, **fields})
        while True:
            message = self._receive(self.deadline, "waiting for the submission")
            if not isinstance(message, dict):
                self._fail(WorkerCrashed, "the worker sent a malformed reply")
            if message.get("op") == "callback":
                self._mirror(sent_arrays, message.get("sync", []))
                self._answer_callback(message)
                continue
            if message.get("op") != "result":
                self._fail(WorkerCrashed, f"the worker sent an unexpected {message.get('op')!r}")
            self._mirror(sent_arrays, message.get("mirror", []))
            if "error" in message:
                error = message["error"] if isinstance(message["error"], dict) else {}
                stored, self._callback_error = self._callback_error, None
                if stored is not None and error.get("type") == "CallbackError":
                    raise stored  # the grader's own function failed: keep its exception
                raise _exception_for(error)
            return message.get("ok")

    def _send(self, body: Any) -> list:
        """Send one message to the worker; returns its arrays (for mirroring)."""
        if self.sock is None:
            raise WorkerCrashed("the worker is not running")
        parts, arrays = protocol.pack(body, self._ref_out)  # TypeError before anything is sent
        try:
            protocol.send_parts(self.sock, parts)
        except OSError:
            self._fail(WorkerCrashed, "the worker process died (could not send a request)")
        return arrays

    @staticmethod
    def _mirror(sent: list, updates: Any) -> None:
        """Copy the worker's changes to argument arrays back into the caller's arrays."""
        import numpy as np

        if not isinstance(updates, list):
            return
        for item in updates:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)):
                continue
            index, new = item
            if 0 <= index < len(sent) and isinstance(new, np.ndarray):
                target = sent[index]
                if (
                    target.shape == new.shape
                    and target.dtype == new.dtype
                    and target.flags.writeable
                ):
                    np.copyto(target, new)

    def _answer_callback(self, message: dict) -> None:
        callback = self.callbacks.get(message.get("cb"))  # type: ignore[arg-type]
        args = message.get("args", [])
        kwargs = message.get("kwargs", {})
        try:
            if callback is None or not isinstance(args, list) or not isinstance(kwargs, dict):
                raise RuntimeError("the submission called an unknown grader function")
            reply = {"op": "return", "value": callback(*args, **kwargs)}
            protocol.pack(reply, self._ref_out)  # fail here, not half-way through sending
        except WorkerFailure:
            raise
        except BaseException as error:  # noqa: BLE001 - the test's function failed
            self._callback_error = error
            reply = {"op": "raise", "message": f"{type(error).__name__}: {error}"}
        self._send(reply)
