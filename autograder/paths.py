"""Where things are on the instructor's side: the one home for the repository's paths.

Nothing a student receives imports this module (the bundle has no ``solutions/``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository (or an unpacked autograder)
SOLUTIONS = ROOT / "solutions"
REFERENCE_DIR = SOLUTIONS / "numpynet"  # the reference package, the single source
SOURCE_LESSONS = SOLUTIONS / "lessons"  # the instructor's notebooks (hidden tests included)
