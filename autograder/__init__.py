"""The NumPyNet autograder: release, public and hidden checks, sandboxed grading."""
