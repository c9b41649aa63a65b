"""Run untrusted student code in a sandboxed worker and use it through proxies.

    from autograder.sandbox import Worker, choose, connect
    with Worker(submission, choose("any")) as worker:
        worker.start()
        nn = connect(worker)          # the student's numpynet, as a proxy
        P = nn.softmax(Z)             # a local ndarray copy

See protocol.py (the wire format), worker.py (the sandboxed side), isolation.py
(the policy any | bwrap | user | none, and how each level starts a worker), session.py
(process, deadlines, callbacks, limits read back), proxy.py.
"""

from .errors import RemoteError, WorkerCrashed, WorkerFailure, WorkerTimeout, outcome_of
from .isolation import Isolation, Limits, choose
from .proxy import RemoteObject, connect
from .session import Worker

__all__ = [
    "Isolation",
    "Limits",
    "RemoteError",
    "RemoteObject",
    "Worker",
    "WorkerCrashed",
    "WorkerFailure",
    "WorkerTimeout",
    "choose",
    "connect",
    "outcome_of",
]
