"""Transparent proxies: the trusted test code uses remote objects as if they were local.

``nn = connect(worker)`` gives the student's ``numpynet`` module as a proxy. Attribute
reads return local copies of data (arrays, numpy scalars, Python scalars, and tuples,
lists and dicts of those) and proxies for everything else; calls, ``len``, ``iter``,
``next``, indexing, ``bool`` and ``repr`` go to the worker. A proxy is only valid for
the worker process that made it: after a restart it raises WorkerCrashed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import WorkerCrashed

if TYPE_CHECKING:  # the session imports this module: no import back at run time
    from .session import Worker

_SLOTS = ("_worker", "_id", "_type", "_generation", "_methods")


class RemoteObject:
    """A stand-in for one object living in the worker."""

    __slots__ = _SLOTS

    def __init__(
        self, worker: Worker, object_id: int, type_name: str, methods: frozenset = frozenset()
    ) -> None:
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_id", object_id)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_generation", worker.generation)
        object.__setattr__(self, "_methods", methods)

    def _ask(self, op: str, **fields: Any) -> Any:
        worker: Worker = object.__getattribute__(self, "_worker")
        if object.__getattribute__(self, "_generation") != worker.generation:
            raise WorkerCrashed("this object belonged to a worker that was restarted")
        return worker.request(op, ref=object.__getattribute__(self, "_id"), **fields)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            # Python's own protocol probes (copy, pickle, numpy's __array__...) stay local.
            raise AttributeError(name)
        if name in object.__getattribute__(self, "_methods"):
            # A method (or a module's function/class): no round trip until it is called.
            return RemoteMethod(self, name)
        return self._ask("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._ask("setattr", name=name, value=value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the student's object in the worker; returns its result, objects as proxies."""
        return self._ask("call", args=list(args), kwargs=kwargs)

    def __len__(self) -> int:
        value = self._ask("len")
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"len() of the student's object returned {type(value).__name__}")
        return value

    def __iter__(self) -> Any:
        iterator = self._ask("iter")
        if not isinstance(iterator, RemoteObject):
            # The student's __iter__ returned data (e.g. a list): iterate the copy.
            return iter(iterator)
        return iterator

    def __next__(self) -> Any:
        return self._ask("next")

    def __getitem__(self, key: Any) -> Any:
        return self._ask("getitem", key=key)

    def __bool__(self) -> bool:
        return bool(self._ask("bool"))

    def __repr__(self) -> str:
        try:
            text = self._ask("repr")
        except Exception:  # noqa: BLE001 - repr must not fail in a report
            text = "?"
        return f"<remote {object.__getattribute__(self, '_type')}: {text}>"

    def __dir__(self) -> list[str]:
        return []


class RemoteMethod:
    """``obj.name`` where the worker said ``name`` is a method: calling it is one request."""

    __slots__ = ("_owner", "_name")

    def __init__(self, owner: RemoteObject, name: str) -> None:
        self._owner = owner
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the method in the worker, in one request."""
        return self._owner._ask("callmethod", name=self._name, args=list(args), kwargs=kwargs)

    def _resolve(self) -> Any:
        return self._owner._ask("getattr", name=self._name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(self._resolve(), name)  # e.g. nn.Linear.__doc__-like class attributes

    def __repr__(self) -> str:
        return f"<remote method {self._name} of {self._owner!r}>"


def connect(worker: Worker, module: str = "numpynet") -> RemoteObject:
    """Import ``module`` in the worker and return it as a proxy.

    Raises the import's exception (SyntaxError, ModuleNotFoundError, ...) locally, or
    WorkerTimeout / WorkerCrashed when the import loops or kills the worker.
    """
    value = worker.request("import", module=module)
    if not isinstance(value, RemoteObject):
        raise WorkerCrashed(f"importing {module} in the worker did not return a module")
    return value
