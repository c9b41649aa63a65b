"""Lesson 06: the mystery networks of the debugging lab.

``mystery(k, X, y)`` builds a network, loss, optimiser and loader from YOUR numpynet and
then breaks exactly one component of it, the way a student once did. Your job is to find
which one with the recipe of the lesson, not to read this file: the broken code is stored
encoded below, and decoding it is not the exercise (nor worth points).
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from functools import cache
from typing import Any, NamedTuple

import numpy as np

import numpynet as nn

MYSTERY_IDS = (1, 2, 3, 4, 5, 6, 7)


class Mystery(NamedTuple):
    """What you train and inspect. Use its own ``train_epoch`` and ``evaluate``."""

    model: Any  # an nn.MLP (784, 128, 10)
    loss_fn: Any  # an nn.CrossEntropyLoss
    optimizer: Any  # an nn.SGD or nn.RMSProp over model.parameters()
    loader: Any  # an nn.DataLoader over (X, y), shuffled
    train_epoch: Any  # like nn.train_epoch(model, loss_fn, optimizer, batches)
    evaluate: Any  # like nn.evaluate(model, X, y)


# How every network of the lab trains: SGD with momentum, mini-batches of 64.
HEALTHY = {
    "patches": {},
    "optimizer": "SGD",
    "options": {"lr": 0.05, "momentum": 0.9},
    "batch_size": 64,
}


def healthy(X: np.ndarray, y: np.ndarray, seed: int = 0) -> Mystery:
    """The same set-up as the mysteries with nothing broken: your package as it is."""
    return _build(HEALTHY, X, y, seed)


def mystery(k: int, X: np.ndarray, y: np.ndarray, seed: int = 0) -> Mystery:
    """Mystery network ``k`` (one of MYSTERY_IDS) over the data X (N, 784) float32, y (N,).

    ``seed`` fixes the initialisation and the shuffling: the same seed, the same run.
    """
    if k not in MYSTERY_IDS:
        raise ValueError(f"mystery {k!r} does not exist; choose one of {MYSTERY_IDS}")
    return _build(_spec()[str(k)], X, y, seed)


def _build(spec: dict[str, Any], X: np.ndarray, y: np.ndarray, seed: int) -> Mystery:
    model = nn.MLP((X.shape[1], 128, 10), rng=seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = getattr(nn, spec["optimizer"])(model.parameters(), **spec["options"])
    loader = nn.DataLoader(X, y, batch_size=spec["batch_size"], shuffle=True, rng=seed)
    functions = {"train_epoch": nn.train_epoch, "evaluate": nn.evaluate}
    objects = [*model.layers, loss_fn, optimizer, loader]
    by_class: dict[str, dict[str, Any]] = {}
    for qualname, source in spec["patches"].items():
        owner, _, name = qualname.rpartition(".")
        module = _module_of(owner or name, objects, functions)
        function = _compiled(source, name, module)
        if owner:
            by_class.setdefault(owner, {})[name] = function
        else:
            functions[name] = function
    for owner, methods in by_class.items():
        for obj in objects:
            if type(obj).__name__ == owner:
                # This object only: the class of every other network stays yours.
                obj.__class__ = type(owner, (type(obj),), methods)
    return Mystery(
        model, loss_fn, optimizer, loader, functions["train_epoch"], functions["evaluate"]
    )


def _module_of(name: str, objects: list[Any], functions: dict[str, Any]) -> str:
    for obj in objects:
        if type(obj).__name__ == name:
            return type(obj).__module__
    return functions[name].__module__


def _compiled(source: str, name: str, module: str) -> Any:
    scope = dict(vars(sys.modules[module]))  # your module's names: np, softmax, ...
    exec(compile(source, f"<mystery {module}>", "exec"), scope)  # noqa: S102
    return scope[name]


@cache
def _spec() -> dict[str, Any]:
    return json.loads(zlib.decompress(base64.b64decode("".join(_PAYLOAD))))


# Encoded on purpose (see the top of this file); written by `python -m autograder.lab`.
_PAYLOAD = (
    "eNrtVUtv00AQ/isrX7oGxyTQFhHJEhJUXCoOBURoWkWbeJxatderXQeaVv3vzD5tp2oFiNzqQ+J57Dy++Tx7F02i"
    "6V20ZO3qaqHKW4imx4dJ1Ii2rFGS0TT68uljZDUNV9q5Qu04HR8lUd3UwNtNreV390kkdBgwTmdw+i1dstX1LyZz"
    "jJJDQbxIFVRFQvIf8fSCE3zKgmhVuqiZuialIp8bDs6mH8lKBeRsw7EqOJGykfRgkICsWFVBTpZQNBII/mjtQWxD"
    "SGg3kmO+Cx7dY5mv99PyB9kodcJb2YjtKb4+2f6D1qtmvRCyWao/7P/RbE9jkZ+TzGU02dIVnqfBOOciZZLxNdAK"
    "OLWO2zhO3JntJRllZDLE9RxxTR627zK77p3kZo/dlq1KSMvkGlrl0VBXZdFi7ZlzICP3ktbshrKbUmWThFwDiLys"
    "VfZVbsCV3sGXhSgjgt2ggeIf3Ajq9HGqNvUjwVy0nZEkfcQCFJiJ9lxckqCJu+4GcBVVw1o6QvcaGO/8d6D3Z7sw"
    "l7o6Q+A3+yFwizzjCxDN6soNraehdZNDpSen1KLgCQn5ErK0MfwUtQvoQcwvrQJnT2YJ2ZKSe98eu7W7mbgJ7Glj"
    "8wVphjhs4+6QtYZPyh8OirjnGypNVQuCxsPUoFImBHAbhLwgGv1tPByaZox1jskrI1HrZnpbDHsLczrcz5zwlOnE"
    "Dck01d8puiSBU9kUuqjb0lpTgeyqPX3RWIAMI9MPquZpml76BeErQEh0qJeETvCTGphitIl0LVnehRFpzlqm14Rx"
    "rST6UFNLsRMXKtxq9rhH7Gg/iMFPVm1YCw4xL3pOa246Fpu02WQ8HndsNpsoI7uE7MiOxt3tR+Pg6Xedp6+QkJcr"
    "00BYdPjlr8OKGw+5Z4iXuL3h10YvyHxqqYiDy8jWSj1zjHvDw3v8fPP935sPl0Hf+/ki/KeL0G7Xv78H3+6Hzqcl"
    "ByafHNssDMpAMEMIZoPmZuS9tX0369AUfP8bs7rJ9w=="
)
