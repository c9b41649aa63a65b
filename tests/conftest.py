"""The test suite checks the REFERENCE: put solutions/ first on the import path.

The student stubs in ./numpynet share the package name; tests that need them
run in a subprocess with their own path.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
sys.path.insert(0, str(SOLUTIONS))
