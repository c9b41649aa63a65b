"""The reference numpynet, imported under its own name in the trusted process.

``solutions/numpynet`` is loaded as ``numpynet_reference``, so it never collides with
the ``numpynet`` under test. Used by the hidden checks' ``ref`` fixture and the grader.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .paths import REFERENCE_DIR

REFERENCE_NAME = "numpynet_reference"


def load_reference(package_dir: Path = REFERENCE_DIR, name: str = REFERENCE_NAME) -> ModuleType:
    """Import the package in ``package_dir`` as ``name`` (once; later calls reuse it)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the reference from {package_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: its relative imports look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
