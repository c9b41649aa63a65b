"""Example submissions: the reference, the stubs, an independent solution, and known bugs.

``build_example_submissions(out_dir)`` writes them (``python -m autograder examples OUT``);
``bugs.BUGS`` is the catalogue of bugs and the exercises each must lose.
"""

from autograder.examples.build import build_example_submissions, expected_losses

__all__ = ["build_example_submissions", "expected_losses"]
