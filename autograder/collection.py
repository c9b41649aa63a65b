"""Collect the checks: the test functions of ``autograder/public`` and ``autograder/hidden``.

The grader calls the checks directly, without a pytest session per submission, so it
collects them itself, once per grading process (:class:`Suite`): it imports each
``test_*.py`` file (public ones with pytest's assertion rewriting, hidden ones without),
finds its ``test*`` functions and their exercise marker, and expands stacked
``parametrize`` marks into one :class:`Check` per case. Parametrize ids come from
pytest's own id maker, so a check is named exactly as ``pytest --collect-only`` names
it (``autograder/public/test_02_softmax_loss.py::test_softmax_dtype[float32]``): a
student can paste a name from feedback into ``pytest -k``.

Also here: the Hypothesis profile under which the grader runs the checks.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import exercises
from .paths import REFERENCE_DIR, ROOT

CHECK_DIRS: tuple[tuple[Path, str], ...] = (
    (ROOT / "autograder" / "public", "public"),
    (ROOT / "autograder" / "hidden", "hidden"),
)


@dataclass(frozen=True)
class Check:
    """One callable check: a test function and its parametrized arguments.

    ``name`` is pytest's node id of the case, for example
    ``autograder/hidden/test_hidden_04_optimisers.py::test_rmsprop_dtype[float64]``.
    """

    name: str
    exercise: str
    visibility: str
    function: Callable
    params: tuple[tuple[str, Any], ...]
    fixtures: tuple[str, ...]


def _load_module(path: Path, name: str, rewrite: bool) -> types.ModuleType:
    """Import a test file under ``name``, with pytest's assertion rewriting if ``rewrite``.

    Public checks are rewritten so a bare ``assert a == b`` explains itself, as in a
    local pytest run; hidden ones are not, so only their explicit messages ever show.
    """
    if name in sys.modules:
        return sys.modules[name]
    source = path.read_bytes()
    tree = ast.parse(source, filename=str(path))
    if rewrite:
        from _pytest.assertion.rewrite import rewrite_asserts

        rewrite_asserts(tree, source, str(path), None)
    code = compile(tree, str(path), "exec", dont_inherit=True)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__package__ = name.rpartition(".")[0]
    sys.modules[name] = module  # before exec: modules importing each other find it
    # Inside a pytest session with --strict-markers (the project's own tests), pytest.mark
    # refuses markers its config does not list; the exercise markers are registered by the
    # checks' conftest, which a grading process never loads. Collection is ours: unhook it.
    from _pytest.mark import MARK_GEN

    config, MARK_GEN._config = MARK_GEN._config, None
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        MARK_GEN._config = config
    return module


def _marks(function: Callable, module: types.ModuleType) -> list:
    own = list(getattr(function, "pytestmark", []))
    shared = getattr(module, "pytestmark", [])
    return own + (list(shared) if isinstance(shared, list | tuple) else [shared])


def _mark_cases(mark: Any, function: Callable, nodeid: str) -> list[tuple[str | None, dict]]:
    """One ``parametrize`` mark's cases: (pytest's id, or None when hidden; {argname: value}).

    The values go through pytest's own parsing (``pytest.param``, one or several argument
    names) and its own id maker (explicit ids, an ids callable, ids derived from values:
    ``np.float32`` is ``float32``, an object without a readable form ``dtype0``;
    duplicates made unique), so the ids are the ones ``pytest --collect-only`` prints.
    """
    from _pytest.mark.structures import ParameterSet
    from _pytest.python import IdMaker

    args, kwargs = mark.args, mark.kwargs
    argnames = args[0] if args else kwargs["argnames"]
    argvalues = args[1] if len(args) > 1 else kwargs["argvalues"]
    ids = args[3] if len(args) > 3 else kwargs.get("ids")
    names, parameter_sets = ParameterSet._for_parametrize(
        argnames, argvalues, function, None, nodeid
    )
    wanted = {
        "argnames": names,
        "parametersets": parameter_sets,
        "idfn": ids if callable(ids) else None,
        "ids": None if ids is None or callable(ids) else list(ids),
        "config": None,  # not strict about duplicate ids; escapes non-ASCII, as by default
        "nodeid": nodeid,
        "func_name": function.__name__,  # older pytest versions' IdMaker take it; 9.x does not
    }
    fields = {f.name for f in dataclasses.fields(IdMaker)}
    maker = IdMaker(**{key: value for key, value in wanted.items() if key in fields})
    return [
        (case_id if isinstance(case_id, str) else None, dict(zip(names, p.values, strict=True)))
        for case_id, p in zip(maker.make_unique_parameterset_ids(), parameter_sets, strict=True)
    ]


def _parameter_sets(marks: list, function: Callable, nodeid: str) -> list[tuple[str, dict]]:
    """Expand stacked ``parametrize`` marks into (id, {argname: value}) cases, as pytest does.

    Marks are listed innermost decorator first; pytest nests their cases in that order
    (the first mark's cases outermost) and joins their ids with ``-`` in that order too.
    A case with no id (no parametrize mark, or only hidden ids) has the id ``""``.
    """
    axes = [_mark_cases(mark, function, nodeid) for mark in marks if mark.name == "parametrize"]
    cases = []
    for combination in itertools.product(*axes):
        case_id = "-".join(c[0] for c in combination if c[0] is not None)
        cases.append((case_id, {k: v for c in combination for k, v in c[1].items()}))
    return cases


def node_path(path: Path, visibility: str) -> str:
    """The file part of a check's name: pytest's, relative to the repository.

    A check folder outside the repository (tests build small ones) gives
    ``<visibility>/<file name>``.
    """
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return f"{visibility}/{path.name}"


class Suite:
    """The checks, collected once and reused for every submission a process grades."""

    def __init__(self, dirs: Sequence[tuple[Path, str]] = CHECK_DIRS) -> None:
        self.checks: list[Check] = []
        self.problems: list[str] = []  # checks that could not be collected (grader bugs)
        for directory, visibility in dirs:
            self._collect(Path(directory), visibility)
        self._reference: types.ModuleType | None = None

    def _collect(self, directory: Path, visibility: str) -> None:
        if not directory.is_dir():
            return
        default = any(directory.resolve() == d.resolve() for d, _ in CHECK_DIRS)
        for path in sorted(directory.glob("test_*.py")):
            if default:
                name = f"autograder.{visibility}.{path.stem}"
            else:
                name = f"_grader_checks_{abs(hash(str(directory.resolve())))}.{path.stem}"
                sys.modules.setdefault(
                    name.rpartition(".")[0], types.ModuleType(name.rpartition(".")[0])
                )
            try:
                module = _load_module(path, name, rewrite=visibility == "public")
            except Exception as error:  # noqa: BLE001 - a broken check file is a grader problem
                self.problems.append(f"cannot import {path.name}: {type(error).__name__}: {error}")
                continue
            prefix = node_path(path, visibility)
            for attr, function in vars(module).items():
                if attr.startswith("test") and inspect.isfunction(function):
                    self._add(function, module, f"{prefix}::{attr}", visibility)

    def _add(
        self, function: Callable, module: types.ModuleType, name: str, visibility: str
    ) -> None:
        marks = _marks(function, module)
        ids = sorted({m.name for m in marks if m.name in exercises.BY_ID})
        if len(ids) != 1:
            self.problems.append(f"{name} must carry exactly one exercise marker, has {ids}")
            return
        import pytest

        try:
            cases = _parameter_sets(marks, function, name)
        except (Exception, pytest.fail.Exception) as error:  # noqa: BLE001 - a grader problem
            self.problems.append(f"{name}: cannot expand parametrize: {error}")
            return
        signature = inspect.signature(function)
        for case_id, params in cases:
            fixtures = tuple(p for p in signature.parameters if p not in params)
            self.checks.append(
                Check(
                    name=f"{name}[{case_id}]" if case_id else name,
                    exercise=ids[0],
                    visibility=visibility,
                    function=function,
                    params=tuple(params.items()),
                    fixtures=fixtures,
                )
            )

    def for_exercise(self, exercise_id: str) -> list[Check]:
        """The checks of one exercise, in collection order."""
        return [c for c in self.checks if c.exercise == exercise_id]

    @property
    def reference(self) -> types.ModuleType:
        """The trusted reference numpynet, imported as ``numpynet_reference``."""
        if self._reference is None:
            from .reference import load_reference

            self._reference = load_reference(REFERENCE_DIR)
            # A checks conftest imported earlier may have loaded its own profile: restore ours.
            configure_hypothesis()
        return self._reference


_SUITE: Suite | None = None


def default_suite() -> Suite:
    """The process-wide suite of public and hidden checks (collected on first use)."""
    global _SUITE
    if _SUITE is None:
        configure_hypothesis()
        _SUITE = Suite()
    return _SUITE


def configure_hypothesis() -> None:
    """The grader's Hypothesis profile (autograder/strategies.py: one home for both)."""
    from .strategies import load_profile

    load_profile("grader")
