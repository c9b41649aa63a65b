"""The sandboxed worker: imports the student's package and serves requests on one socket.

Run as ``python -S worker.py FD CONFIG_JSON``: FD is the worker's end of a socketpair,
CONFIG_JSON holds resource limits and the site-packages folders to append to sys.path.
Nothing on this side is trusted after the student's package is imported: the worker
only ever sends DATA back (see protocol.py); every comparison happens in the grader.

This file and protocol.py are the only grader files visible inside the sandbox, so it
imports nothing from ``autograder``.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import traceback
from typing import Any


def apply_limits(limits: dict) -> None:
    """Lower our own resource limits before any student code runs (cannot be raised again)."""
    names = {
        "as": resource.RLIMIT_AS,
        "cpu": resource.RLIMIT_CPU,
        "fsize": resource.RLIMIT_FSIZE,
        "core": resource.RLIMIT_CORE,
    }
    for name, value in limits.items():
        if value is None or name not in names:
            continue
        soft, hard = resource.getrlimit(names[name])
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        # A refused limit is not fatal: the grader reports the limits it asked for.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(names[name], (value, value))


# seccomp filter (x86_64): fork, vfork and clone without CLONE_THREAD fail with EPERM;
# clone3 fails with ENOSYS (its flags sit behind a pointer, so libc falls back to clone).
# Threads still work; processes cannot multiply, so a fork bomb stops at its first fork.
_AUDIT_ARCH_X86_64 = 0xC000003E
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_FORK_FILTER = [
    # (code, jt, jf, k)
    (0x20, 0, 0, 4),  # A = seccomp_data.arch
    (0x15, 1, 0, _AUDIT_ARCH_X86_64),  # if A == x86_64 skip the next
    (0x06, 0, 0, _ALLOW),  # another ABI: leave it alone
    (0x20, 0, 0, 0),  # A = seccomp_data.nr
    (0x35, 7, 0, 0x40000000),  # x32 syscalls: deny (a way around the numbers below)
    (0x15, 6, 0, 57),  # fork
    (0x15, 5, 0, 58),  # vfork
    (0x15, 5, 0, 435),  # clone3 -> ENOSYS
    (0x15, 0, 2, 56),  # clone: check flags, else allow
    (0x20, 0, 0, 16),  # A = low word of args[0] (clone flags)
    (0x45, 0, 1, 0x00010000),  # CLONE_THREAD set: a thread, allow; else deny
    (0x06, 0, 0, _ALLOW),
    (0x06, 0, 0, _ERRNO | 1),  # EPERM
    (0x06, 0, 0, _ERRNO | 38),  # ENOSYS
]


def forbid_fork() -> str:
    """Install the seccomp filter above; returns how process creation is limited."""
    import ctypes
    import platform
    import struct

    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "not limited (seccomp filter is x86_64 Linux only)"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        program = b"".join(struct.pack("<HBBI", *insn) for insn in _FORK_FILTER)
        buffer = ctypes.create_string_buffer(program)

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        prog = SockFprog(len(_FORK_FILTER), ctypes.cast(buffer, ctypes.c_void_p))
        pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
        libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        address = ctypes.addressof(prog)
        if libc.prctl(pr_set_seccomp, seccomp_mode_filter, address, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
    except (OSError, AttributeError) as error:
        return f"not limited (seccomp refused: {error})"
    return "blocked (seccomp)"


def main() -> None:
    """Worker entry point: ``argv`` = (socket fd, JSON config); limit itself, then serve."""
    fd = int(sys.argv[1])
    config = json.loads(sys.argv[2])
    apply_limits(config.get("limits", {}))
    fork = forbid_fork() if config.get("forbid_fork", True) else "not limited"
    # -S skipped site.py: add site-packages WITHOUT running .pth files (the course's
    # editable install would otherwise map `numpynet` to the repository's stubs).
    sys.path.extend(config.get("site", []))
    if config.get("cwd"):
        os.chdir(config["cwd"])

    import socket

    import numpy as np
    import protocol

    sock = socket.socket(fileno=fd)
    Server(sock, np, protocol).run(fork)


class Server:
    """The request loop: an object table, and callbacks into the grader."""

    def __init__(self, sock: Any, np: Any, protocol: Any) -> None:
        self.sock = sock
        self.np = np
        self.protocol = protocol
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> table id
        self.next_id = 1
        self.calls: list[list] = []  # tracked arrays of each request being answered
        self._type_methods: dict[type, list[str]] = {}

    # -- encoding objects as references ------------------------------------------------
    def ref_out(self, obj: Any) -> dict:
        """The tag sent for an object that is not data: its table id, type name and methods."""
        key = id(obj)
        table_id = self.ids.get(key)
        if table_id is None or self.objects.get(table_id) is not obj:
            table_id = self.next_id
            self.next_id += 1
            self.objects[table_id] = obj
            self.ids[key] = table_id
        return {"$r": table_id, "type": type(obj).__name__, "methods": self.methods(obj)}

    def methods(self, obj: Any) -> list[str]:
        """Names of ``obj``'s methods (a module's functions and classes), sorted.

        The grader calls these in ONE round trip ("callmethod") instead of fetching a
        bound method first.
        """
        import types

        if isinstance(obj, types.ModuleType):
            names = [n for n, v in vars(obj).items() if callable(v) and not n.startswith("__")]
            return sorted(names)
        cls = type(obj)
        names = self._type_methods.get(cls)
        if names is None:
            names = [
                n for n in dir(cls) if not n.startswith("__") and callable(getattr(cls, n, None))
            ]
            self._type_methods[cls] = names
        own = getattr(obj, "__dict__", None)
        return [n for n in names if not own or n not in own]

    def ref_in(self, tag: dict) -> Any:
        """The object, bound method or grader callback a received tag stands for."""
        if "$m" in tag:
            table_id, name = tag["$m"]
            return getattr(self.objects[table_id], name)
        if "$r" in tag:
            try:
                return self.objects[tag["$r"]]
            except KeyError:
                raise self.protocol.ProtocolError("unknown object id") from None
        return self.make_callback(tag["$c"])

    def send(self, body: Any) -> None:
        """Send one message to the grader."""
        self.protocol.send(self.sock, body, self.ref_out)

    def recv(self) -> Any:
        """Receive one message from the grader."""
        return self.protocol.recv(self.sock, self.ref_in)

    # -- errors -------------------------------------------------------------------------
    @staticmethod
    def describe(error: BaseException) -> dict:
        """``error`` as sent to the grader: type, builtin base, message and the student's frames."""
        import builtins

        builtin = None
        for cls in type(error).__mro__:
            if getattr(builtins, cls.__name__, None) is cls and issubclass(cls, Exception):
                builtin = cls.__name__
                break
        frames = traceback.extract_tb(error.__traceback__)
        # Keep only the student's frames: the worker's own are noise to them.
        mine = os.path.dirname(os.path.abspath(__file__))
        frames = [
            f for f in frames if not f.filename.startswith(mine) and not f.filename.startswith("<")
        ]
        text = "".join(traceback.format_list(frames[-6:]))
        message = str(error)
        if isinstance(error, SystemExit):
            message = f"sys.exit({error.code!r}) called by the submission"
        return {
            "type": type(error).__name__,
            "builtin": builtin,
            "message": message[:4000],
            "traceback": text[-4000:],
        }

    # -- requests -----------------------------------------------------------------------
    def run(self, fork: str) -> None:
        """Say ready, then answer requests until the grader says exit or hangs up."""
        self.send({"op": "ready", "pid": os.getpid(), "fork": fork})
        while True:
            try:
                request, arrays = self.protocol.recv_message(self.sock, self.ref_in)
            except self.protocol.PeerClosed:
                return
            if request.get("op") == "exit":
                return
            self.answer(request, arrays)

    def answer(self, request: dict, arrays: list) -> None:
        """Reply to one request with its result or error, and the arrays it changed."""
        # Snapshot the request's arrays: what the student changes in them goes back
        # ("mirroring"), so in-place updates and "input not mutated" checks both work.
        tracked = [[index, array, array.copy()] for index, array in enumerate(arrays)]
        self.calls.append(tracked)
        try:
            reply: dict = {"op": "result", "ok": self.dispatch(request)}
        except BaseException as error:  # noqa: BLE001 - student code may raise anything
            reply = {"op": "result", "error": self.describe(error)}
        finally:
            self.calls.pop()
        try:
            reply["mirror"] = self.changed(tracked)
            self.send(reply)
        except Exception as error:  # e.g. an object-dtype array: report it, do not die
            self.send({"op": "result", "error": self.describe(error), "mirror": []})

    def dispatch(self, request: dict) -> Any:
        """Carry out one request; returns what it asks for."""
        op = request.get("op")
        if op == "import":
            import importlib

            return importlib.import_module(request["module"])
        if op == "cells":
            return self.run_cells(
                str(request["name"]),
                request["cells"],
                bool(request.get("package", True)),
                request.get("namespace"),
            )
        target = self.objects[request["ref"]]
        if op == "getattr":
            return getattr(target, request["name"])
        if op == "setattr":
            setattr(target, request["name"], request["value"])
            return None
        if op == "call":
            return target(*request.get("args", []), **request.get("kwargs", {}))
        if op == "callmethod":
            method = getattr(target, request["name"])
            return method(*request.get("args", []), **request.get("kwargs", {}))
        if op == "len":
            return len(target)
        if op == "iter":
            return iter(target)
        if op == "next":
            return next(target)
        if op == "getitem":
            return target[request["key"]]
        if op == "bool":
            return bool(target)
        if op == "repr":
            return repr(target)[:2000]
        if op == "release":
            for table_id in request.get("ids", []):
                obj = self.objects.pop(table_id, None)
                self.ids.pop(id(obj), None)
            return None
        raise ValueError(f"unknown request {op!r}")

    def run_cells(
        self, name: str, cells: list, package: bool = True, namespace: Any = None
    ) -> dict:
        """Run a notebook's answer cells, in order, in one module namespace.

        The namespace is ``namespace`` (from an earlier call) or a new one holding what
        every lesson's set-up cell gives: ``np``, and ``nn`` = the student's numpynet when
        ``package`` and it imports. Returns ``{"namespace": module, "errors": {cell_id:
        error}}``: a failing cell is recorded and the next one still runs, as in a notebook
        run top to bottom with errors allowed.
        """
        import importlib
        import linecache
        import types

        errors: dict[str, dict] = {}
        if not isinstance(namespace, types.ModuleType):  # a new one (else: add to the given)
            namespace = types.ModuleType(name)
            namespace.np = self.np
            try:
                if package:
                    namespace.nn = importlib.import_module("numpynet")
            except BaseException as error:  # noqa: BLE001 - cells that use nn will say so
                errors["import numpynet"] = self.describe(error)
        for cell_id, source in cells:
            filename = f"{name}.ipynb, cell {cell_id}"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            try:
                exec(compile(source, filename, "exec"), namespace.__dict__)  # noqa: S102
            except BaseException as error:  # noqa: BLE001 - student code may raise anything
                errors[str(cell_id)] = self.describe(error)
        return {"namespace": namespace, "errors": errors}

    # -- argument mirroring and callbacks ------------------------------------------------
    @staticmethod
    def changed(tracked: list) -> list:
        """[[index, array], ...] for tracked arrays whose bytes changed since the snapshot."""
        out = []
        for entry in tracked:
            index, array, snapshot = entry
            if array.shape != snapshot.shape or array.tobytes() != snapshot.tobytes():
                out.append([index, array])
                entry[2] = array.copy()
        return out

    def make_callback(self, callback_id: int) -> Any:
        """Stand-in for the grader's function ``callback_id``: calls it, serving nested requests."""
        server = self

        def callback(*args: Any, **kwargs: Any) -> Any:
            # The grader's function reads the CALL's arrays by reference (numerical_gradient
            # perturbs x, then calls f): send their current contents first.
            tracked = server.calls[-1] if server.calls else []
            server.send(
                {
                    "op": "callback",
                    "cb": callback_id,
                    "args": list(args),
                    "kwargs": kwargs,
                    "sync": server.changed(tracked),
                }
            )
            # Serve nested requests (the grader's function may call us) until it answers.
            while True:
                message, arrays = server.protocol.recv_message(server.sock, server.ref_in)
                if message.get("op") == "return":
                    return message.get("value")
                if message.get("op") == "raise":
                    raise CallbackError(message.get("message", "the grader's function failed"))
                server.answer(message, arrays)

        callback.__name__ = f"grader_callback_{callback_id}"
        return callback


class CallbackError(RuntimeError):
    """The grader's function, called back by the submission, raised."""


if __name__ == "__main__":
    main()
