"""What a student and the class see of a challenge run: facts, recipe, log, leaderboard values.

Reads ``SubmissionResult.challenge`` (the dict autograder/challenge.py fills: recipe, test
accuracy, training seconds, per-epoch history). Its numbers and strings are treated as
student-influenced: the recipe is the student's file and the history is what their code
reported, so every value is checked before it is ranked and escaped before it is shown
(autograder/mdtext.py). Only a finite test accuracy in [0, 1] of a ``scored`` run ranks.
"""

from __future__ import annotations

import json
import math

from .exercises import CHALLENGE_COMMAND, CHALLENGE_FILE
from .mdtext import escape, fenced, plain

# How a student reproduces their run: their package, their recipe, the validation split.
LOCAL_COMMAND = CHALLENGE_COMMAND
TEST_IMAGES = "10,000"
STATES = ("scored", "no recipe", "refused", "failed", "not run")
# Gradescope's leaderboard columns (GRADESCOPE_SPEC): higher accuracy first, fewer seconds.
ACCURACY_NAME = "Test accuracy (%)"
SECONDS_NAME = "Training CPU seconds"
RECIPE_CHARS = 4000  # the recipe and the settings shown, at most (a file can be huge)
LOG_ROWS = 60  # epochs shown in the log; a longer log shows its first and last half
_LOG_COLUMNS = (  # (history key, header, format)
    ("epoch", "epoch", "d"),
    ("lr", "lr", ".3g"),
    ("train_loss", "train loss", ".4g"),
    ("val_loss", "val loss", ".4g"),
    ("val_acc", "val acc", "%"),
    ("cpu_seconds", "CPU s", ".1f"),
)


def _finite(value: object) -> float | None:
    """``value`` as a finite float, or None (bools, strings, NaN and infinities are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _count(value: object) -> int | None:
    """``value`` as a count of epochs (an int from 0 to 10^6), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**6:
        return None
    return value


def _get(challenge: dict | None, key: str) -> object:
    return challenge.get(key) if isinstance(challenge, dict) else None


def accuracy(challenge: dict | None) -> float | None:
    """The test accuracy in [0, 1] of a scored run, or None when it ranks nowhere."""
    value = _finite(_get(challenge, "accuracy"))
    if _get(challenge, "status") != "scored" or value is None or not 0.0 <= value <= 1.0:
        return None
    return value


def accuracy_percent(challenge: dict | None) -> float | None:
    """The test accuracy in percent with 2 decimals (exact for 10,000 images), or None."""
    value = accuracy(challenge)
    return None if value is None else round(100.0 * value, 2)


def training_seconds(challenge: dict | None) -> float | None:
    """The training CPU seconds to the scored epoch's end, to 0.1 s, or None."""
    value = _finite(_get(challenge, "seconds"))
    return None if value is None or value < 0 else round(value, 1)


def state(challenge: dict | None) -> str:
    """One of STATES: the run's status word.

    ``not run`` without a run; ``failed`` for a ``scored`` without a valid accuracy, or for
    a word the grader does not use.
    """
    if not isinstance(challenge, dict):
        return "not run"
    if accuracy(challenge) is not None:
        return "scored"
    word = challenge.get("status")
    return word if word in STATES and word not in ("scored", "not run") else "failed"


def status(challenge: dict | None) -> str:
    """One plain line: ``scored``, or :func:`state` and why the run was not scored."""
    word = state(challenge)
    if word in ("scored", "not run"):
        return word
    why = plain(_get(challenge, "message") or "", 160)
    if _get(challenge, "status") == "scored":  # said scored, but no valid accuracy with it
        why = "no valid test accuracy" + (f" ({why})" if why else "")
    return f"{word}: {why}" if why else word


def summary(challenge: dict | None) -> str:
    """The headline's part, free of student text: the test accuracy, or the state."""
    percent = accuracy_percent(challenge)
    if percent is None:
        return f"class challenge not scored ({state(challenge)})"
    return f"class challenge: test accuracy {percent:.2f}%"


def leaderboard(challenge: dict | None) -> list[dict] | None:
    """Gradescope's ``leaderboard`` entries (GRADESCOPE_SPEC), or None when there is none.

    Each entry is ``{"name", "value", "order"}`` with a finite number as value: the test
    accuracy in percent (``desc``: higher ranks higher) and the training CPU seconds
    (``asc``). The spec has no value for "not measured", and any number would rank as a
    measurement (0 seconds would top the time column), so a run without a test accuracy
    and training seconds gets no leaderboard at all (the key is optional): it is off the
    board, and its challenge test says why.
    """
    percent, seconds = accuracy_percent(challenge), training_seconds(challenge)
    if percent is None or seconds is None:
        return None
    return [
        {"name": ACCURACY_NAME, "value": percent, "order": "desc"},
        {"name": SECONDS_NAME, "value": seconds, "order": "asc"},
    ]


def _number(value: object, spec: str) -> str:
    """A reported number in one short cell; anything else escaped and cut short."""
    number = _finite(value)
    if number is None:
        if isinstance(value, float):
            return str(value)  # nan, inf, -inf: worth seeing as they are
        return escape(value, 16) if value is not None else ""
    if spec == "d":
        return str(int(number)) if number.is_integer() and abs(number) < 1e12 else f"{number:.4g}"
    if spec == "%":
        return f"{100 * number:.2f}%" if 0 <= number <= 1 else f"{number:.4g}"
    return f"{number:{spec}}" if abs(number) < 1e12 else f"{number:.3g}"


def _json(value: object) -> str:
    """``value`` as indented JSON (ASCII only), at most RECIPE_CHARS characters."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError) as error:
        return f"(cannot be shown: {type(error).__name__})"
    if len(text) > RECIPE_CHARS:
        text = text[:RECIPE_CHARS] + f"\n... ({len(text) - RECIPE_CHARS} more characters)"
    return text


def _log(history: object, scored: int | None) -> list[str]:
    """The training log as a GFM table, the scored epoch's row marked."""
    entries = [e for e in history if isinstance(e, dict)] if isinstance(history, list) else []
    if not entries:
        return ["The run reported no epoch."]
    shown: list[dict | None] = list(entries)
    if len(entries) > LOG_ROWS:
        half = LOG_ROWS // 2
        shown = [*entries[:half], None, *entries[-half:]]
    lines = [
        "| " + " | ".join(header for _, header, _ in _LOG_COLUMNS) + " |",
        "|" + "---:|" * len(_LOG_COLUMNS),
    ]
    for entry in shown:
        if entry is None:
            skipped = len(entries) - 2 * (LOG_ROWS // 2)
            lines.append(f"| ... {skipped} epochs not shown |" + " |" * (len(_LOG_COLUMNS) - 1))
            continue
        cells = [_number(entry.get(key), spec) for key, _, spec in _LOG_COLUMNS]
        if scored is not None and _count(entry.get("epoch")) == scored:
            cells[0] = f"**{cells[0]}** (scored)"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _facts(challenge: dict) -> list[str]:
    """Markdown bullets: result, test accuracy, seconds against the budget, epochs, stop."""
    percent = accuracy_percent(challenge)
    seconds, budget = training_seconds(challenge), _finite(challenge.get("budget"))
    wall = _finite(challenge.get("wall_seconds"))
    scored, done = _count(challenge.get("scored_epoch")), _count(challenge.get("epochs_done"))
    declared = _count(challenge.get("epochs"))
    stopped = plain(challenge.get("stopped") or "", 200)
    lines = [f"- result: **{escape(status(challenge), 240)}**"]
    if percent is not None:
        lines.append(
            f"- test accuracy: **{percent:.2f}%** on the {TEST_IMAGES} test images, measured "
            "by the grader (your code never sees them)"
        )
    else:
        lines.append("- test accuracy: none (not on the leaderboard)")
    budget_text = f", against a budget of {budget:g} CPU s" if budget is not None else ""
    wall_text = f" ({wall:.1f} s wall clock in all)" if wall is not None else ""
    if seconds is not None:
        lines.append(
            f"- training seconds: {seconds:.1f} CPU s from the start of training to the end "
            f"of the scored epoch{budget_text}{wall_text}"
        )
    elif budget_text or wall_text:
        lines.append(f"- training seconds: not measured{budget_text}{wall_text}")
    of = f" of the {declared} your recipe declared" if declared is not None else ""
    ran = f"; {done} completed" if done is not None else ""
    lines.append(
        f"- scored epoch: {scored if scored is not None else 'none'}{of}{ran}"
        + (" (its weights are the ones tested)" if scored is not None else "")
    )
    lines.append(f"- stopped early: {escape(stopped, 200)}" if stopped else "- stopped early: no")
    val = _finite(challenge.get("val_accuracy"))
    if val is not None and 0 <= val <= 1:
        lines.append(
            f"- validation accuracy of the scored epoch, as your run reported it: {100 * val:.2f}%"
        )
    return lines


def markdown(challenge: dict | None, level: int = 2) -> list[str]:
    """The student-facing section (Markdown lines): facts, recipe, log, how to reproduce.

    ``level``: the heading level of the section's title (its parts are one deeper); 0
    leaves the title out (Gradescope gives the test its own name).
    """
    top, sub = "#" * level, "#" * (max(level, 1) + 1)
    lines = [f"{top} Class challenge", ""] if level else []
    if not isinstance(challenge, dict):
        return [*lines, "The challenge was not run for this submission (see the problems above)."]
    lines += _facts(challenge)
    recipe = challenge.get("recipe")
    lines += ["", f"{sub} Your recipe ({CHALLENGE_FILE})", ""]
    if isinstance(recipe, dict):
        lines += fenced(_json(recipe), info="json")
    else:
        lines.append(f"Your {CHALLENGE_FILE} could not be read as a JSON object.")
    config = challenge.get("config")
    if isinstance(config, dict):
        lines += ["", "The training settings it made (defaults filled in):", ""]
        lines += fenced(_json(config), info="json")
    scored = _count(challenge.get("scored_epoch"))
    lines += ["", f"{sub} Training log", ""]
    lines += ["As your run reported it; CPU s is the grader's own measure of each epoch.", ""]
    lines += _log(challenge.get("history"), scored)
    lines += ["", f"{sub} Reproduce it", ""]
    if challenge.get("scrambled") is True:
        lines += [
            "The grader permuted the pixel order and the class labels of every image with a "
            "secret permutation drawn for your submission (the same one for training and "
            "test images), so a recipe cannot be tuned to the test set. A network trained "
            "on the scrambled images learns as well as on the plain ones, but not the same "
            "numbers: your local run's validation accuracy matches the log's within seed "
            "noise, not to the digit.",
            "",
        ]
    lines += [
        f"With your package and {CHALLENGE_FILE} in the same folder:",
        "",
        *fenced(LOCAL_COMMAND),
        "",
        "It reports the validation accuracy only: the test images stay with the grader.",
    ]
    return lines


def terminal(challenge: dict | None) -> list[str]:
    """Plain lines for the terminal table: the result, the recipe in one line, the command."""
    if not isinstance(challenge, dict):
        return ["class challenge: not run"]
    seconds, budget = training_seconds(challenge), _finite(challenge.get("budget"))
    scored, declared = _count(challenge.get("scored_epoch")), _count(challenge.get("epochs"))
    parts = [summary(challenge)]
    if seconds is not None:
        parts.append(f"{seconds:.1f} CPU s" + (f" of {budget:g}" if budget is not None else ""))
    if scored is not None:
        parts.append(f"epoch {scored}" + (f" of {declared}" if declared is not None else ""))
    stopped = plain(challenge.get("stopped") or "", 120)
    if stopped:
        parts.append(f"stopped: {stopped}")
    recipe = challenge.get("recipe")
    shown = plain(_json(recipe), 150) if isinstance(recipe, dict) else "(unreadable)"
    return [
        ", ".join(parts),
        f"recipe: {shown}",
        f"reproduce (validation accuracy only): {LOCAL_COMMAND}",
    ]


def threshold_text(status_word: str, threshold: float | None, challenge: dict | None) -> str:
    """One threshold's Gradescope text: its status, the accuracy reached and the one needed."""
    need = f"{100 * threshold:g}%" if threshold is not None else "?"
    percent = accuracy_percent(challenge)
    if percent is None:
        return f"{status_word}: needs {need} test accuracy; {escape(status(challenge), 240)}."
    return f"{status_word}: your test accuracy is {percent:.2f}%; this step needs {need}."
