"""Hidden checks: run only by the grader (and the project's own tests), never shipped."""
