"""One home for what the checks share: hypothesis settings, strategies and hand values.

Public and hidden checks import from here (so it ships to students with the public
checks); a value worked out by hand is written once, next to the working.
"""

from __future__ import annotations

import numpy as np
from hypothesis import Phase
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Students see only the assertion message: shrinking a failing example costs seconds per
# failing check in grading and shows them nothing. Pass as ``@settings(phases=NO_SHRINK)``.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def load_profile(where: str) -> None:
    """The one Hypothesis set-up of the checks: the same 10 examples on every run.

    ``where`` is "grader" (no shrinking, every health check off: fast, and a student's
    slow code is judged by the deadline, not by Hypothesis) or "student" (a local pytest
    run: shrinking on, so a failure shows the smallest example). Both draw the same
    examples, so a check passes or fails alike in both.
    """
    from hypothesis import HealthCheck, settings

    common = dict(derandomize=True, deadline=None, database=None, max_examples=10)
    if where == "grader":
        settings.register_profile(
            where,
            **common,
            print_blob=False,
            report_multiple_bugs=False,
            phases=NO_SHRINK,
            suppress_health_check=list(HealthCheck),
        )
    elif where == "student":
        settings.register_profile(
            where,
            **common,
            print_blob=False,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
    else:
        raise ValueError(f"where must be 'grader' or 'student', got {where!r}")
    settings.load_profile(where)


DTYPES = (np.float32, np.float64)  # the float dtypes the docstrings name

# ---- Linear: a 3 -> 2 layer small enough to multiply by hand -------------------------------
W_HAND = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
B_HAND = np.array([10.0, 20.0], dtype=np.float32)
X_HAND = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]], dtype=np.float32)
# Row 0 picks W's first row; row 1 is W[1] - W[2] = (-2, -2); then + b.
Y_HAND = np.array([[11.0, 22.0], [8.0, 18.0]], dtype=np.float32)
# Backward with dY = I: dX = dY @ W.T is W's rows; dW = X.T @ dY is X.T; db sums dY's rows.
DY_HAND = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
DX_HAND = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]], dtype=np.float32)
DW_HAND = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=np.float32)
DB_HAND = np.array([1.0, 1.0], dtype=np.float32)

# ---- softmax and the loss: logits (0, ln 2, ln 3) exponentiate to (1, 2, 3) -----------------
LOGITS = np.log(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]))  # (2, 3) float64
PROBS = np.array([[1 / 6, 2 / 6, 3 / 6], [1 / 3, 1 / 3, 1 / 3]])
LABELS = np.array([2, 0])
# Row 0: -log(3/6) for label 2; row 1: -log(1/3) for label 0; the MEAN of the two.
LOSS_HAND = (np.log(2) + np.log(3)) / 2
# (P - Y) / N with N = 2.
DZ_HAND = (PROBS - np.array([[0, 0, 1], [1, 0, 0]])) / 2


def logits(shape: tuple[int, ...], scale: float, dtype, seed: int) -> np.ndarray:
    """Normal logits of standard deviation ``scale`` (reproducible from ``seed``)."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def finite_logits(max_rows: int = 6, min_cols: int = 1, max_cols: int = 8):
    """Hypothesis strategy: float64 logits (rows, cols) with finite entries in [-1e3, 1e3]."""
    return hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, max_rows), st.integers(min_cols, max_cols)),
        elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    )
