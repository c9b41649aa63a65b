"""Public checks: the tests students run with ``pytest autograder/public -m ex2_1``."""
