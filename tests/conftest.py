"""The test suite checks the REFERENCE: put solutions/ first on the import path.

The student stubs in ./numpynet share the package name; tests that need them
run in a subprocess with their own path.
"""

import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
sys.path.insert(0, str(SOLUTIONS))


@pytest.fixture(scope="module")
def listener():
    """A TCP port on this machine that a sandboxed submission must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    yield server
    server.close()
