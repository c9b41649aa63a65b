"""Lesson 06: the mystery networks of the debugging lab.

``mystery(k, X, y, student)`` builds a network, loss, optimiser and loader from YOUR
numpynet and then breaks exactly one component of it, the way a student once did. Which
component mystery k breaks depends on ``student``, your lab code (your instructor gives it
to you): a classmate's mysteries are not yours, nor are their answers. Your job is to find
the broken component with the recipe of the lesson, not to read this file: the broken code
is stored encoded below, and decoding it is not the exercise (nor worth points).

Every network (``healthy`` too) comes with its own copy of each component: methods are
set on the objects themselves and functions are wrapped, the same way for a healthy
network as for a broken one, so ``type()``, ``is`` and ``__name__`` look the same.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import zlib
from functools import cache
from typing import Any, NamedTuple

import numpy as np

MYSTERY_IDS = (1, 2, 3, 4, 5, 6, 7)
# A lab code: your identity, a dash, and ten hex digits your instructor computed from it.
CODE = re.compile(r"^\S+-[0-9a-f]{10}$")
# The functions every network carries its own copy of (besides the objects' methods).
FUNCTIONS = ("train_epoch", "evaluate", "softmax", "log_softmax", "one_hot", "numerical_gradient")
# The methods set on each object, by class name.
METHODS = {
    "Linear": ("forward", "backward"),
    "ReLU": ("forward", "backward"),
    "CrossEntropyLoss": ("forward", "backward"),
    "SGD": ("step",),
}


class Mystery(NamedTuple):
    """What you train and inspect. Use ITS OWN functions, never nn's: they can be broken."""

    model: Any  # an nn.MLP (784, 128, 10)
    loss_fn: Any  # an nn.CrossEntropyLoss
    optimizer: Any  # an nn.SGD over model.parameters()
    loader: Any  # an nn.DataLoader over (X, y), shuffled
    train_epoch: Any  # like nn.train_epoch(model, loss_fn, optimizer, batches)
    evaluate: Any  # like nn.evaluate(model, X, y)
    softmax: Any  # like nn.softmax
    log_softmax: Any  # like nn.log_softmax
    one_hot: Any  # like nn.one_hot
    numerical_gradient: Any  # like nn.numerical_gradient


def healthy(X: np.ndarray, y: np.ndarray, seed: int = 0) -> Mystery:
    """The same set-up as the mysteries with nothing broken: your package as it is."""
    return _build({}, X, y, seed)


def mystery(k: int, X: np.ndarray, y: np.ndarray, student: str, seed: int = 0) -> Mystery:
    """Mystery network ``k`` (one of MYSTERY_IDS) of ``student`` over X (N, 784), y (N,).

    ``student`` is your lab code (``STUDENT`` in the notebook). ``seed`` fixes the
    initialisation and the shuffling: the same seed, the same run.
    """
    if k not in MYSTERY_IDS:
        raise ValueError(f"mystery {k!r} does not exist; choose one of {MYSTERY_IDS}")
    component, bug = draw(student, len(_spec()["pool"]), _bug_counts())[k - 1]
    return _build(_spec()["pool"][component]["bugs"][bug], X, y, seed)


def draw(student: str, components: int, bugs: tuple[int, ...]) -> list[tuple[int, int]]:
    """(component, bug) indices of mysteries 1..7 for the lab code ``student``.

    Seven distinct components, each drawn uniformly from what is left (so mystery k's
    component is uniform over all of them), then one of that component's bugs. Plain
    SHA-256, no random generator: the same code gives the same draw on every machine.
    """
    student = str(student).strip()
    if not student:
        raise NotImplementedError("Put your lab code in STUDENT (the cell above)")
    if not CODE.match(student):
        raise ValueError(
            f"STUDENT = {student!r} is not a lab code (your-id-0123456789): put the code your "
            "instructor gave you in STUDENT"
        )
    left = list(range(components))
    out = []
    for k in MYSTERY_IDS:
        component = left.pop(_number(student, f"component {k}") % len(left))
        out.append((component, _number(student, f"bug {k}") % bugs[component]))
    return out


def _number(student: str, what: str) -> int:
    return int.from_bytes(hashlib.sha256(f"lab06|{student}|{what}".encode()).digest(), "big")


def _build(patches: dict[str, str], X: np.ndarray, y: np.ndarray, seed: int) -> Mystery:
    import numpynet as nn

    train = _spec()["train"]
    model = nn.MLP((X.shape[1], 128, 10), rng=seed)
    loss_fn = nn.CrossEntropyLoss()
    own = {name: getattr(nn, name) for name in FUNCTIONS}
    methods = {
        f"{owner}.{name}": getattr(getattr(nn, owner), name)
        for owner, names in METHODS.items()
        for name in names
    }
    init = nn.Linear.__init__
    for qualname, source in patches.items():
        owner, _, name = qualname.rpartition(".")
        module = getattr(nn, owner or name).__module__
        function = _compiled(source, name, module)
        if qualname == "Linear.__init__":
            init = function
        elif owner:
            methods[qualname] = function
        else:
            own[name] = function
    # Every network's weights are made by ITS Linear.__init__, drawn as nn.MLP draws them.
    rng = np.random.default_rng(seed)
    linears = [layer for layer in model.layers if isinstance(layer, nn.Linear)]
    for layer in linears:
        fan_in, fan_out = layer.W.shape
        init(layer, fan_in, fan_out, rng=rng)
    linears[0].input_grad = False  # as nn.MLP sets it
    optimizer = nn.SGD(model.parameters(), **train["options"])
    loader = nn.DataLoader(X, y, batch_size=train["batch_size"], shuffle=True, rng=seed)
    for obj in [*model.layers, loss_fn, optimizer]:
        for name in METHODS.get(type(obj).__name__, ()):
            setattr(obj, name, _method(methods[f"{type(obj).__name__}.{name}"], obj, name))
    functions = {
        name: _function(function, name, getattr(nn, name).__module__)
        for name, function in own.items()
    }
    return Mystery(model, loss_fn, optimizer, loader, **functions)


def _method(function: Any, obj: Any, name: str) -> Any:
    """``function`` bound to ``obj``, looking the same whatever ``function`` is."""

    def method(*args: Any, **kwargs: Any) -> Any:
        return function(obj, *args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"{type(obj).__name__}.{name}"
    return method


def _function(function: Any, name: str, module: str) -> Any:
    """A wrapper of ``function`` that looks the same whatever ``function`` is."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__module__ = module
    return wrapper


def _compiled(source: str, name: str, module: str) -> Any:
    scope = dict(vars(sys.modules[module]))  # your module's names: np, softmax, ...
    exec(compile(source, f"<mystery {module}>", "exec"), scope)  # noqa: S102
    return scope[name]


@cache
def _spec() -> dict[str, Any]:
    return json.loads(zlib.decompress(base64.b64decode("".join(_PAYLOAD))))


def _bug_counts() -> tuple[int, ...]:
    return tuple(len(entry["bugs"]) for entry in _spec()["pool"])


# Encoded on purpose (see the top of this file); written by `python -m autograder.lab`.
_PAYLOAD = (
    "eNrtWOtv2zYQ/1cIfynVyKqzrQNmzMWALdiXYhi6bnXiGgJlUY5QvUDSq93M//vu+JAoyQ7SbhnQoQGSiLzjPX73"
    "4ONu0tR1MZmv7ibJbiv1x8u84kxEcZxXuYrjyXyS8oy4IZW8yEKSV3HGmdoJLkNS75Q3EtV28Utd8WD+tiLwA2Oy"
    "IFUTCValdRmBNLYrVAzzFH4Dw/UGeGAUSQVcTKRxVYuSFZSe1RQEEZPq0HAKsrOiZurrr6ywxCj8wEUtad+6FFcs"
    "RivQqwht+JUJVnLFBX3jk5IeKfFJedWAhq1gKfC8Fjvu0eLlHA1BjwQ7kL8IAgNs+O9tNTmuj+EY+awW7wEBC7wd"
    "WdyXDlUrHmQtLcwcPKzIkvxgnYlSpthYySv+8vcoYZt3ng43tErSa6clz6yiksl3JJfacEvTSlkuOXm1q1Re8ish"
    "akGf9BSQDSsKnpKEgx/cOfMk6NmcXpOnnh6wOTRmfgQS2kAAg7wgMzO/XC3J92S2htlZH6IxKLLOVMn2VpEd0ZuQ"
    "sH0uF9NLp+vKJBbfN/Sm78MVeUauIrkrqV6Cf0LyjvMmzUu5wLQIxmqLehv3VXszJ9RbXWAB8NEhH/4JTmiBkMW3"
    "tbIa7IgeQlLtynhTMCmhmKyGg3GQSZ2w9BC0eXCIZP6BE6hO+ES1AXmx8EWM0uIPVuxsUmRPCpbwgtzZpUfMpapW"
    "kBdF/Z7ceWKOLjmu/SKmBa/Amr7NZ6v5eoU+QL/ZcrsQeA+YCZdRPxeuEa7wETCi4GleAUiQgqQWZzAL7gPNYgb9"
    "i9QZ0d4MCgdT8QD9zxO4OqzHGfAjQCivKiXq5vASPu+t/1HtY042ok7kAxvAWW33N4P0BnA1GrW2aAPraUschNQw"
    "6sDazzWZQnz7jeUGqtLn1q1lZN99bQaczxWUsmJiy1UbMHmbZ4pjxzcMZGo/dJh1OV6O6x9XdmguWilTV9K2t9j5"
    "oOsnI2H+DtRFKPQBbJEBTdRjsUramaDzroeerik6BXY0o2UfBMIt7aSsTRMKv+Tdv593fvb4e4VjN8nyHyTH9CPy"
    "ISo5q2jwpS91+fGlEX1SI9KJ9P/uRA75IZ5wDFgMJj82B93ZB9vTYtCfHik7B/A9uGlhqlhZp1JhIPfBLSj4TO5D"
    "Z++GDzV02fasZWv58oEGD1Tdb7K9a+rr7wXcv6LXcAFFB7qrc0tMr00YdLxnoztg7+IavbaV+zk4fp/f2u22fT7I"
    "637k4XTPRQ626DeGnFfuljImUIBiHxLeQDnx6ey5A8Ua0t6m9pG8ZY3bCBIm8U3ClFZGXUcHf0lO8so8YORVyvft"
    "Qg/IukDR+1W+7uZwBJNIukBrOgpaYoi00wfbDtoQwKGpx9yJ6YGGMmxyPDo2jwLCrjkB92DJ9CxusHrqrUbU6Ffk"
    "KfIHJ3Hqp9NvP/8UScUb99YBn71NDz1uQpLsMnT7Q263ogYfv9xODsSMi97tFaZWURStXfmVdQmg70owDEVdEHoJ"
    "ZvdIAdCayFjpxDS6DHC30qyFAB6qbckGcnkBWWuWn+jqCuq7inlTb26to94MLeuUF7hpSRlnFeytDXQBuLkL8Jup"
    "zS33ztt4qwanVusOnmVIDgiO5fVQQHa9yWnBbsc0+trREh8jvKgbatvR3OJ2ws+Q1lIdQxr0VXMZsabhlREC0NnH"
    "j15amMucfiyA1MGRfSPRvsV9307tmPxPVuyY4hZYN3SoIjoWxxifQxaXs9nMu7/gIXVBhpB0cANxePSgQcvpzgwO"
    "wEbwNN+ovK5kewaGs8C2Pf0OOq52PbT1406UnpDV3IABibwgBzPyyAEcKd2Z8p/hoIN80lfDoWrFQMqmFoJvFBb+"
    "LJqFZOY1JgmnG4XBMkcfoKK1mF6dVr9GlwmYhC/ZdLnSa+dGwoXHvwaW88Revp2OZOLxaB9w5x8WRBvFJHBZmnxi"
    "RTiAQEsOXZ6eSIHLQAczMdeYQTlQY+SzFjsn0M3YCliHpqlM5lAKLSKT+bffhBOsSkgOJBViModAPQ8nrlPh+Lvj"
    "8fg3fHBgAg=="
)
