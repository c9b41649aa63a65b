"""The sandboxed worker: imports the student's package and serves requests on one socket.

Run as ``python -I -S -B -u worker.py FD CONFIG_JSON``: FD is the worker's end of a
socketpair, CONFIG_JSON holds resource limits, the site-packages folders to append to
sys.path and the submission folder. Isolated mode (``-I``: no PYTHON* variables, no
script folder or current folder on sys.path, no user site) and ``-S`` (no site.py, so no
sitecustomize, usercustomize or .pth file) mean that nothing of the submission is
importable while this file sets up: every import of the worker's own (numpy included) is
done, every resource limit and the seccomp filter are applied and the filter is tried,
and only THEN does the submission become importable, at the END of sys.path, with
``numpynet`` alone looked up there first. A ``contextlib.py``, ``json.py``, ``numpy/`` or
``site.py`` in the submission is never imported in place of the real one.

Nothing on this side is trusted after the student's package is imported: the worker
only ever sends DATA back (see protocol.py); every comparison happens in the grader,
which also reads the limits back from /proc once student code has run (session.py).

This file and protocol.py are the only grader files visible inside the sandbox, so it
imports nothing from ``autograder``.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import errno
import importlib
import importlib.machinery
import importlib.util
import json
import linecache
import os
import platform
import resource
import struct
import sys
import traceback
import types
from typing import Any

_RLIMITS = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "core": resource.RLIMIT_CORE,
}


def apply_limits(limits: dict) -> dict:
    """Lower our own resource limits before any student code runs (cannot be raised again).

    Returns what getrlimit reads back afterwards, per name: the measured (soft, hard).
    """
    measured = {}
    for name, value in limits.items():
        if value is None or name not in _RLIMITS:
            continue
        soft, hard = resource.getrlimit(_RLIMITS[name])
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        # A refused limit is not fatal here: the read-back below says what is in force.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(_RLIMITS[name], (value, value))
        measured[name] = list(resource.getrlimit(_RLIMITS[name]))
    return measured


# The seccomp filter: a syscall made through another ABI than the native one (a 32-bit
# ``int 0x80`` from a 64-bit process on x86_64) or an x32 syscall number fails with EPERM,
# whatever it is; so do fork, vfork and clone without CLONE_THREAD; clone3 fails with
# ENOSYS (its flags sit behind a pointer that seccomp cannot read, and libc falls back to
# clone for threads). Threads still work; processes cannot multiply.
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_CLONE_THREAD = 0x00010000
_X32_BIT = 0x40000000
# machine: (AUDIT_ARCH, fork-like syscall numbers, clone, clone3, has x32 numbers)
SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, (57, 58), 56, 435, True),  # fork, vfork; clone; clone3
    "aarch64": (0xC00000B7, (), 220, 435, False),  # no fork/vfork syscalls there
}


def fork_filter(machine: str) -> list[tuple[int, int, int, int]]:
    """The classic-BPF program for ``machine`` as (code, jt, jf, k) instructions."""
    audit, forks, clone, clone3, x32 = SECCOMP_ARCHES[machine]
    # (op, k, label if true, label if false); None = the next instruction.
    code: list = [("ld", 4), ("jeq", audit, None, "deny"), ("ld", 0)]  # arch, then nr
    if x32:
        code.append(("jge", _X32_BIT, "deny", None))
    code += [("jeq", number, "deny", None) for number in forks]
    code += [("jeq", clone3, "enosys", None), ("jeq", clone, "flags", "allow")]
    code += ["allow", ("ret", _ALLOW), "flags", ("ld", 16)]  # low word of args[0] (LE)
    code += [("jset", _CLONE_THREAD, "thread", "deny"), "thread", ("ret", _ALLOW)]
    code += ["deny", ("ret", _ERRNO | errno.EPERM), "enosys", ("ret", _ERRNO | errno.ENOSYS)]
    labels, index = {}, 0
    for item in code:
        if isinstance(item, str):
            labels[item] = index
        else:
            index += 1
    opcodes = {"ld": 0x20, "jeq": 0x15, "jge": 0x35, "jset": 0x45, "ret": 0x06}
    program, index = [], 0  # BPF jumps go forward only: a backward label raises here
    for item in code:
        if isinstance(item, str):
            continue
        op, k = item[0], item[1]
        jt = jf = 0
        if len(item) == 4:
            jt, jf = ((0 if t is None else labels[t] - index - 1) for t in item[2:])
            if not (0 <= jt < 256 and 0 <= jf < 256):
                raise ValueError(f"BPF jump out of range in {item}")
        program.append((opcodes[op], jt, jf, k))
        index += 1
    return program


def forbid_fork() -> str:
    """Install the seccomp filter above and try it; returns how process creation is limited."""
    machine = platform.machine()
    if sys.platform != "linux" or machine not in SECCOMP_ARCHES:
        return f"not limited (no seccomp filter for {sys.platform} {machine})"
    instructions = fork_filter(machine)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        program = b"".join(struct.pack("<HBBI", *insn) for insn in instructions)
        buffer = ctypes.create_string_buffer(program)

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        prog = SockFprog(len(instructions), ctypes.cast(buffer, ctypes.c_void_p))
        pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
        libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
        if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        address = ctypes.addressof(prog)
        if libc.prctl(pr_set_seccomp, seccomp_mode_filter, address, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
    except (OSError, AttributeError) as error:
        return f"not limited (seccomp refused: {error})"
    tried = try_fork(libc, machine)
    if tried:
        return f"NOT limited: the seccomp filter is installed but {tried}"
    return (
        f"blocked (seccomp on {machine}: fork, vfork, clone without CLONE_THREAD and every "
        "syscall of another ABI refused; tried: fork refused)"
    )


def try_fork(libc: Any, machine: str) -> str:
    """Try to make a process through the filter; "" when refused, else what got through.

    Before any student code runs. A child that does appear exits at once.
    """
    attempts = [("os.fork", lambda: os.fork())]
    if machine == "x86_64":  # the x32 number of fork, the way around a number-only filter
        libc.syscall.restype = ctypes.c_long
        attempts.append(("x32 fork", lambda: _raw(libc, _X32_BIT | 57)))
    for name, attempt in attempts:
        try:
            pid = attempt()
        except OSError as error:
            if error.errno == errno.EPERM:
                continue
            return f"{name} failed with {errno.errorcode.get(error.errno, error.errno)}, not EPERM"
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        return f"{name} made a child"
    return ""


def _raw(libc: Any, number: int) -> int:
    result = libc.syscall(number)
    if result < 0:
        raise OSError(ctypes.get_errno(), f"syscall {number}")
    return result


class SubmissionFinder:
    """Finds ``numpynet`` (only that name) in the submission folder, before anything else.

    Everything else resolves from the standard library and site-packages first: the
    submission folder is on sys.path too, but last.
    """

    def __init__(self, folder: str, name: str = "numpynet") -> None:
        self.folder = folder
        self.name = name

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """The submission's ``numpynet``; None for every other module."""
        if fullname != self.name:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.folder])


def main() -> None:
    """Worker entry point: ``argv`` = (socket fd, JSON config); limit itself, then serve."""
    fd = int(sys.argv[1])
    config = json.loads(sys.argv[2])
    # 1. Our own imports, from the Python installation only: -I -S left the script's
    # folder, the current folder, PYTHONPATH and .pth files out. site-packages are added
    # WITHOUT their .pth files (the course's editable install would map `numpynet` to
    # the repository's stubs).
    sys.path.extend(config.get("site", []))
    import socket

    import numpy as np

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("protocol", os.path.join(here, "protocol.py"))
    protocol = importlib.util.module_from_spec(spec)
    sys.modules["protocol"] = protocol
    spec.loader.exec_module(protocol)
    # 2. Limits and the seccomp filter, measured.
    limits = apply_limits(config.get("limits", {}))
    fork = forbid_fork() if config.get("forbid_fork", True) else "not limited (not asked)"
    if config.get("cwd"):
        os.chdir(config["cwd"])
    # 3. Only now can the submission be imported: numpynet from it, the rest after
    # everything the Python installation has.
    submission = config.get("submission")
    if submission:
        sys.meta_path.insert(0, SubmissionFinder(submission))
        sys.path.append(submission)
    sock = socket.socket(fileno=fd)
    Server(sock, np, protocol).run(fork, limits)


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
    def run(self, fork: str, limits: dict | None = None) -> None:
        """Say ready (with the limits measured), then answer requests until told to exit."""
        self.send({"op": "ready", "pid": os.getpid(), "fork": fork, "limits": limits or {}})
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
