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

from collections.abc import Mapping
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

NONFINITE_CAUSE = (
    "exp overflows to inf beyond about 709 in float64 and 88 in float32: subtract the row max "
    "first; and log of a probability that rounded to 0 is -inf"
)
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
    __tracebackhide__ = True
    if not isinstance(value, np.ndarray):
        raise AssertionError(f"{what}: expected a numpy array, got {describe(value)}")
    return value.copy()


def as_scalar(value: Any, what: str) -> float:
    """``value`` as a float if it is a real scalar (Python or numpy, or a 0-d/size-1 array)."""
    __tracebackhide__ = True
    if isinstance(value, bool | np.bool_) or not isinstance(
        value, int | float | np.integer | np.floating | np.ndarray
    ):
        raise AssertionError(f"{what}: expected a number (a Python float), got {describe(value)}")
    if isinstance(value, np.ndarray) and value.size != 1:
        raise AssertionError(f"{what}: expected a single number, got an array {value.shape}")
    return float(np.asarray(value).reshape(()))


def _index(flat: int, shape: tuple[int, ...]) -> str:
    return str(tuple(int(i) for i in np.unravel_index(flat, shape)))


def entries(count: int) -> str:
    """``"1 entry"``, ``"3 entries"``."""
    return f"{count} {'entry' if count == 1 else 'entries'}"


def _nice_factor(factor: float) -> bool:
    """An integer or the reciprocal of one (2, 3, 1/2, -1): what a missing step gives."""
    magnitude = abs(factor)
    candidates = (magnitude, 1.0 / magnitude) if magnitude > 0 else ()
    return any(c >= 1.5 and abs(c - round(c)) < 1e-6 * c for c in candidates) or np.isclose(
        factor, -1.0
    )


def dtype_cause(got: np.dtype, want: np.dtype) -> str:
    """Why a result usually has the wrong float dtype, in the student's terms."""
    if want == np.float32 and got == np.float64:
        return (
            "a float64 array or constant entered the computation (np.zeros/np.eye without "
            "dtype=, np.float64 data, .astype(np.float64)); keep float32 with dtype= or .astype"
        )
    if want == np.float64 and got == np.float32:
        return (
            "float64 is promised here: build the result with dtype=np.float64 "
            "(np.zeros_like(x) copies x's float32 dtype)"
        )
    return f"convert the result with .astype(np.{want})"


def diagnose(
    got: np.ndarray, want: np.ndarray, tol: Tolerance, factors: Mapping[float, str] | None = None
) -> str | None:
    """One line naming a pattern that explains the WHOLE difference, or None.

    Patterns: a constant factor (a missing or extra 1/N, a sign), a constant offset, the
    transpose, a shift by one sample (rows moved by one). ``factors`` maps a factor the
    check anticipates to its likely cause, e.g. ``{2.0: "N = 2: did you divide by N?"}``.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not (np.isfinite(got).all() and np.isfinite(want).all()):
        return None
    close = lambda a, b: np.allclose(a, b, rtol=tol.rtol, atol=tol.atol)  # noqa: E731
    nonzero = np.abs(want) > max(tol.atol, 1e-12)
    if nonzero.any() and close(got[~nonzero], 0.0):
        ratios = got[nonzero] / want[nonzero]
        factor = float(ratios.mean())
        if not np.isclose(factor, 1.0, rtol=tol.rtol) and close(got, factor * want):
            known = [cause for key, cause in (factors or {}).items() if np.isclose(factor, key)]
            scope = "all entries are" if want.size > 1 else "the value is"
            if known:
                return f"{scope} {factor:.4g}x the expected value, {known[0]}"
            if np.isclose(factor, -1.0):
                return (
                    "every entry has the wrong sign: a sign flip (P - Y versus Y - P, += versus -=)"
                )
            # One nonzero entry makes any ratio "constant": name it only if it is a whole one.
            if int(nonzero.sum()) > 1 or _nice_factor(factor):
                return (
                    f"{scope} {factor:.4g}x the expected value: a constant factor explains the "
                    "whole difference (a missing or extra division or multiplication)"
                )
    if want.size > 1:
        offset = float((got - want).mean())
        if close(got, want + offset) and not close(offset, 0.0):
            return f"every entry is off by the same {offset:.4g}: a constant is added or left out"
    if want.ndim == 2 and len(want) > 1:
        row = (got - want).mean(axis=0)
        if close(got, want + row) and not close(row, 0.0):
            return (
                "every row is off by the same vector: a term added to every row (such as a "
                "bias b) is missing, doubled or wrong"
            )
    if want.ndim == 2 and want.shape[0] == want.shape[1] > 1 and close(got, want.T):
        return "you returned the TRANSPOSE of the expected matrix (swap the operands or .T)"
    if want.ndim >= 1 and len(want) > 2 and not close(want[1:], want[:-1]):
        if close(got[1:], want[:-1]):
            return "each row holds the value expected one row EARLIER: shifted by one sample"
        if close(got[:-1], want[1:]):
            return "each row holds the value expected one row LATER: shifted by one sample"
    return None


def assert_close(
    actual: Any,
    expected: Any,
    what: str,
    *,
    tol: Tolerance | None = None,
    check_dtype: bool = True,
    factors: Mapping[float, str] | None = None,
) -> None:
    """Assert ``actual`` matches ``expected`` within the policy's tolerance.

    Args:
        actual: what the code under test returned (an ndarray, or a scalar when
            ``expected`` is a scalar).
        expected: the right answer; its dtype selects the tolerance unless ``tol`` is given.
        what: how the student recognises the value, e.g. ``"softmax(Z) for Z (4, 10)"``.
        tol: overrides the dtype's tolerance (e.g. GRADCHECK).
        check_dtype: also require ``actual.dtype == expected.dtype`` (arrays only).
        factors: constant factors the check anticipates and their likely causes
            (see ``diagnose``).

    Raises:
        AssertionError: naming the dtype or shape mismatch, or the number of differing
            entries, a pattern explaining them (``diagnose``), the first few of them, and
            the largest absolute and relative error.
    """
    __tracebackhide__ = True  # pytest: show the check's line, not these internals
    if np.ndim(expected) == 0 and not isinstance(expected, np.ndarray):
        got = np.float64(as_scalar(actual, what))
        want = np.float64(expected)
        tol = tol or FLOAT64
    else:
        want = np.asarray(expected)
        got = as_array(actual, what)
        if check_dtype and got.dtype != want.dtype:
            raise AssertionError(
                f"{what}: expected dtype {want.dtype}, got {got.dtype}: "
                f"{dtype_cause(got.dtype, want.dtype)}"
            )
        if got.shape != want.shape:
            hint = ""
            if got.ndim == 2 and got.shape == want.shape[::-1]:
                hint = ": that is the transposed shape (swap the operands or drop a .T)"
            raise AssertionError(f"{what}: expected shape {want.shape}, got {got.shape}{hint}")
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
        pattern = diagnose(got64, want64, tol, factors)
    if want64.ndim == 0:
        if not np.isfinite(got64) and np.isfinite(want64):
            pattern = pattern or NONFINITE_CAUSE
        line = f"{what}: got {float(got64):.7g}, expected {float(want64):.7g}"
        if np.isfinite(rel_err).any():
            line += f" (relative error {float(np.nanmax(rel_err)):.3g}"
        else:
            line += f" (absolute error {float(abs_err.max()):.3g}"
        lines = [line + f"; {tol})"]
        if pattern:  # first: the report's table shows the first line only
            lines = [f"{what}: {pattern}", "  " + lines[0][len(what) + 2 :]]
        raise AssertionError("\n".join(lines))
    verb = "differs" if want64.size == 1 else "differ"
    count = f"{bad.size} of {entries(want64.size)} {verb} ({tol} for {want.dtype})"
    # The pattern first when there is one: the report's table shows the first line only.
    lines = [f"{what}: {pattern}", f"  {count}"] if pattern else [f"{what}: {count}"]
    if np.isfinite(abs_err).any():
        worst = int(np.nanargmax(np.where(np.isfinite(abs_err), abs_err, -1.0)))
        line = f"  max abs error {abs_err[worst]:.3g} at index {_index(bad[worst], want.shape)}"
        if np.isfinite(rel_err).any():
            line += f"; max rel error {np.nanmax(np.where(np.isfinite(rel_err), rel_err, 0)):.3g}"
        lines.append(line)
    nonfinite = int((~np.isfinite(got64)).sum())
    if nonfinite and np.isfinite(want64).all():
        verb = "is" if nonfinite == 1 else "are"
        lines.append(
            f"  {entries(nonfinite)} {verb} nan or inf where finite values were expected "
            f"({NONFINITE_CAUSE})"
        )
    for flat in bad[:MAX_LISTED]:
        lines.append(
            f"  index {_index(flat, want.shape)}: got {got64.reshape(-1)[flat]:.7g}, "
            f"expected {want64.reshape(-1)[flat]:.7g}"
        )
    if bad.size > MAX_LISTED:
        lines.append(f"  ... and {bad.size - MAX_LISTED} more")
    raise AssertionError("\n".join(lines))


def assert_unchanged(
    before: np.ndarray, after: np.ndarray, what: str, fix: str | None = None
) -> None:
    """Assert an input array was not modified in place (compare with a copy taken before).

    The message says how many entries changed and by how much; a change of rounding size
    (what ``x + eps - eps`` leaves behind) is named as such, with the fix. ``fix`` replaces
    the generic advice for larger changes (work on a copy).
    """
    __tracebackhide__ = True
    if before.shape != after.shape:
        raise AssertionError(
            f"{what} must not modify its input, but it changed its shape from {before.shape} "
            f"to {after.shape}"
        )
    if np.array_equal(before, after, equal_nan=True):
        return
    same = before == after
    if before.dtype.kind in "fc":
        same |= np.isnan(before) & np.isnan(after)
    changed = ~same
    count = int(changed.sum())
    message = f"{what} must not modify its input, but it changed {entries(count)}"
    if before.dtype.kind in "fc":
        b64 = before[changed].astype(np.float64)
        a64 = after[changed].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            delta = np.abs(a64 - b64)
            largest = float(np.nanmax(delta)) if np.isfinite(delta).any() else float("nan")
            relative = delta / np.maximum(np.abs(b64), np.finfo(np.float64).tiny)
        message += f", by up to {largest:.2g}"
        resolution = 16 * np.finfo(before.dtype).eps
        if np.isfinite(relative).all() and float(relative.max()) <= resolution:
            message += (
                ": a rounding-size change, what undoing a step by arithmetic leaves (x + eps - eps"
                " is not exactly x in floating point); save the original value and write it back"
            )
        else:
            message += ": " + (
                fix or "work on a copy (or a new array), do not write into the input"
            )
    raise AssertionError(message)
