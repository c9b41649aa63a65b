"""The one tolerance policy of every numerical comparison in the checks, and its messages.

Why these numbers
-----------------
A correct student implementation may compute the same quantity in another order than the
reference (``exp(Z - max) / sum`` versus ``exp(Z - logsumexp)``, ``X @ W + b`` versus
``np.einsum``, ``lr * g / d`` versus ``lr * (g / d)``). Each operation rounds with a relative
error of at most one unit in the last place: 2**-24 ~ 6e-8 in float32, 2**-53 ~ 1.1e-16 in
float64, and a sum of D terms accumulates about sqrt(D) of those. The tolerances below sit
two to three orders of magnitude above that rounding noise for the sizes the checks use
(D <= 784, a handful of optimiser steps), and several orders of magnitude below the
smallest error of a real bug (a missing 1/N, eps inside the square root, a swapped decay
are relative errors of 1e-3 and more). The comparison is numpy's
``|actual - expected| <= atol + rtol * |expected|``; ``atol`` only matters near zero,
where cancellation leaves an absolute (not relative) rounding error.

* ``FLOAT32``: rtol 1e-4, atol 1e-5 (PyTorch's ``assert_close`` uses 1.3e-6 / 1e-5; we
  allow more relative slack because students legitimately reorder float32 sums).
* ``FLOAT64``: rtol 1e-7, atol 1e-9: float64 rounding is 1e9 times finer, and a float64
  result that agrees to only 1e-6 means the code went through float32 internally.
* ``GRADCHECK``: an analytic gradient against central differences (float64, step 1e-5):
  the truncation error is about h**2 = 1e-10 times the third derivative and the rounding
  error about 1e-16 / h = 1e-11 times the function's size, so rtol 1e-5, atol 1e-7.

Integer and boolean arrays compare exactly. The dtype of the EXPECTED array picks the
tolerance: the API says which dtype a function returns, and the check of that dtype comes
first (``check_dtype``), so a float32 answer is never judged by float64's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """``|actual - expected| <= atol + rtol * |expected|``, element-wise."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:g}, atol={self.atol:g}"


FLOAT32 = Tolerance(rtol=1e-4, atol=1e-5)
FLOAT64 = Tolerance(rtol=1e-7, atol=1e-9)
GRADCHECK = Tolerance(rtol=1e-5, atol=1e-7)
EXACT = Tolerance(rtol=0.0, atol=0.0)

MAX_LISTED = 5  # differing entries quoted in a message: enough to see the pattern


def tolerance_for(dtype: Any) -> Tolerance:
    """The tolerance for values of ``dtype``: FLOAT64, FLOAT32 (also for float16), or EXACT."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        return EXACT
    return FLOAT64 if np.finfo(dtype).resolution <= 1e-15 else FLOAT32


def describe(value: Any) -> str:
    """A short description of what came back: ``ndarray float32 (3, 4)``, ``float``, ..."""
    if isinstance(value, np.ndarray):
        return f"ndarray {value.dtype} {value.shape}"
    return type(value).__name__


def as_array(value: Any, what: str) -> np.ndarray:
    """A private copy of ``value`` if it is a numpy array, else an AssertionError.

    A copy, because in-process a returned array may alias the object's state (``W.grad``
    keeps changing after you read it), while through the grader's proxy it is always a
    copy: copying here makes both behave alike.
    """
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a numpy array, got {describe(value)}")
    return value.copy()


def as_scalar(value: Any, what: str) -> float:
    """``value`` as a float if it is a real scalar (Python or numpy, or a 0-d/size-1 array)."""
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating | np.ndarray
    ):
        raise AssertionError(f"{what}: expected a number (a Python float), got {describe(value)}")
    if isinstance(value, np.ndarray) and value.size != 1:
        raise AssertionError(f"{what}: expected a single number, got an array {value.shape}")
    return float(np.asarray(value).reshape(()))


def _index(flat: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return "()"
    return str(tuple(int(i) for i in np.unravel_index(flat, shape)))


def assert_close(
    actual: Any,
    expected: Any,
    what: str,
    *,
    tol: Tolerance | None = None,
    check_dtype: bool = True,
) -> None:
    """Assert ``actual`` matches ``expected`` within the policy's tolerance.

    Args:
        actual: what the code under test returned (an ndarray, or a scalar when
            ``expected`` is a scalar).
        expected: the right answer; its dtype selects the tolerance unless ``tol`` is given.
        what: how the student recognises the value, e.g. ``"softmax(Z) for Z (4, 10)"``.
        tol: overrides the dtype's tolerance (e.g. GRADCHECK).
        check_dtype: also require ``actual.dtype == expected.dtype`` (arrays only).

    Raises:
        AssertionError: naming the dtype or shape mismatch, or the number of differing
            entries, the first few of them, and the largest absolute and relative error.
    """
    if np.ndim(expected) == 0 and not isinstance(expected, np.ndarray):
        got = np.float64(as_scalar(actual, what))
        want = np.float64(expected)
        tol = tol or FLOAT64
    else:
        want = np.asarray(expected)
        got = as_array(actual, what)
        if check_dtype and got.dtype != want.dtype:
            raise AssertionError(f"{what}: expected dtype {want.dtype}, got {got.dtype}")
        if got.shape != want.shape:
            raise AssertionError(f"{what}: expected shape {want.shape}, got {got.shape}")
        tol = tol or tolerance_for(want.dtype)
    got64 = np.asarray(got, dtype=np.float64)
    want64 = np.asarray(want, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isclose(got64, want64, rtol=tol.rtol, atol=tol.atol)
        # isclose calls two equal infinities close; a NaN is never close.
        bad = np.flatnonzero(~ok)
        if bad.size == 0:
            return
        abs_err = np.abs(got64 - want64).reshape(-1)[bad]
        scale = np.abs(want64).reshape(-1)[bad]
        # Relative to the expected size; undefined where 0 is expected (nan, then skipped).
        rel_err = np.where(scale > 0, abs_err / np.where(scale > 0, scale, 1.0), np.nan)
    lines = [
        f"{what}: {bad.size} of {want64.size} entries differ ({tol} for {want.dtype})",
    ]
    if np.isfinite(abs_err).any():
        worst = int(np.nanargmax(np.where(np.isfinite(abs_err), abs_err, -1.0)))
        line = f"  max abs error {abs_err[worst]:.3g} at index {_index(bad[worst], want.shape)}"
        if np.isfinite(rel_err).any():
            line += f"; max rel error {np.nanmax(np.where(np.isfinite(rel_err), rel_err, 0)):.3g}"
        lines.append(line)
    nonfinite = int((~np.isfinite(got64)).sum())
    if nonfinite and np.isfinite(want64).all():
        lines.append(f"  {nonfinite} entries are nan or inf where finite values were expected")
    for flat in bad[:MAX_LISTED]:
        lines.append(
            f"  index {_index(flat, want.shape)}: got {got64.reshape(-1)[flat]:.7g}, "
            f"expected {want64.reshape(-1)[flat]:.7g}"
        )
    if bad.size > MAX_LISTED:
        lines.append(f"  ... and {bad.size - MAX_LISTED} more")
    raise AssertionError("\n".join(lines))


def assert_unchanged(before: np.ndarray, after: np.ndarray, what: str) -> None:
    """Assert an input array was not modified in place (compare with a copy taken before)."""
    if before.shape != after.shape or not np.array_equal(before, after, equal_nan=True):
        changed = (
            "its shape"
            if before.shape != after.shape
            else f"{int((before != after).sum())} entries"
        )
        raise AssertionError(f"{what} must not modify its input, but it changed {changed}")
