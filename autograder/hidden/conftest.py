"""Local runs of the hidden checks: ``nn`` as for the public ones, ``ref`` the reference.

``ref`` is ``solutions/numpynet`` loaded under the module name ``numpynet_reference``, so
it never collides with the ``numpynet`` under test. The grader provides both itself.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from autograder.public.conftest import (  # noqa: F401  (fixtures and hooks, re-exported)
    nn,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_makereport,
)
from autograder.reference import load_reference


@pytest.fixture
def ref() -> ModuleType:
    """The reference numpynet (trusted)."""
    return load_reference()
