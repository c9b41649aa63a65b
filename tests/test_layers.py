"""The autograder's layers: no import cycle, even through imports inside functions.

A cycle hidden by a function-level import still couples two modules both ways; this test
reads every import (module level and inside functions, but not ``if TYPE_CHECKING:``
blocks, which never run) and fails on the first cycle it finds, naming it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from autograder.release import autograder_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autograder"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The autograder modules ``path`` imports (the release's own reader, so both agree)."""
    return autograder_imports(path.relative_to(ROOT), path.read_text())


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    edges = {}
    for name, path in modules.items():
        # A package's own submodules are not its dependencies (``from . import x``).
        edges[name] = {
            m
            for m in imports_of(path)
            if m in modules and m != name and not m.startswith(name + ".")
        }
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_autograder_has_no_import_cycle():
    cycle = find_cycle(graph())
    assert not cycle, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_reading_and_writing_reports_does_not_load_the_sandbox():
    code = (
        "import sys, autograder.report, autograder.results\n"
        "print(sorted(m for m in sys.modules if m.startswith('autograder.sandbox')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
