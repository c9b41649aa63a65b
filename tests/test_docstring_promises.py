"""Every promise the stubs' docstrings make to a student has a check that holds them to it.

A promise is a sentence of an exercise's docstring (the function's and, for a method, its
class's) that names a dtype, a type, an effect on the inputs or the state, or an error:
what ``PROMISE`` matches. Each must contain a phrase of ``PROMISES``, which names the checks
(public or hidden, carrying that exercise's marker) that hold the code to it. A docstring
gaining a promise without a check fails here, and so does a check or phrase gone stale.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from autograder import exercises

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "solutions" / "numpynet"
CHECKS = [ROOT / "autograder" / "public", ROOT / "autograder" / "hidden"]

PROMISE = re.compile(
    r"float32|float64|dtype|Python float|not changed|in place|only read|restored|None when|"
    r"without training|ADDS|accumulate|exactly once|same shape|sum(s|ming)? to|MEAN|ValueError|"
    r"EVERY epoch|exactly 0|shape \(|any shape|reproduc|seed",
    re.IGNORECASE,
)

# exercise id -> {phrase of a promise: checks (test function names) that hold it}
PROMISES: dict[str, dict[str, tuple[str, ...]]] = {
    "ex0_1": {
        "draw a new random order at the start of EVERY epoch": (
            "test_shuffle_visits_every_sample_once_and_reshuffles",
            "test_shuffle_draws_a_new_order_every_epoch",
        ),
        "a Generator or a seed for the shuffling": ("test_same_seed_same_order",),
        "drop the final batch when it has fewer than B samples": (
            "test_drop_last_drops_only_the_partial_batch",
        ),
        "of shapes (B, ...) and (B,)": ("test_every_index_once_per_epoch",),
        "each sample appears exactly once per epoch": ("test_every_index_once_per_epoch",),
        "inputs, shape (N, ...), any dtype": ("test_every_index_once_per_epoch",),
        "labels, shape (N,)": ("test_batches_in_order_last_one_smaller",),
        "if ``batch_size < 1``": (),  # checked by DataLoader.__init__, not the exercise
    },
    "ex1_1": {
        "Parameter of shape (D, M), float32": (
            "test_linear_init_shapes_and_dtypes",
            "test_he_init_statistics",
        ),
        "normal with mean 0 and standard deviation sqrt(2 / D)": (
            "test_linear_init_is_he_scaled",
            "test_he_init_statistics",
        ),
        "Parameter of shape (M,), float32, zeros": (
            "test_linear_init_shapes_and_dtypes",
            "test_he_init_bias_and_seeds",
        ),
        "a ``numpy.random.Generator`` or a seed": (
            "test_linear_init_uses_rng",
            "test_he_init_bias_and_seeds",
        ),
        "``backward`` returns dX": (),  # Exercise 3.2's promise, checked there
    },
    "ex1_2": {
        "float32 when X and W are float32": ("test_linear_forward_keeps_the_dtype_and_repeats",),
        "not changed": (
            "test_linear_forward_shape_dtype_and_input_untouched",
            "test_linear_forward_matches_reference",
        ),
        "inputs, shape (N, D)": ("test_linear_forward_batch_of_one",),
    },
    "ex1_3": {
        "same shape and dtype as ``X``": (
            "test_relu_forward_keeps_dtype_shape_and_input",
            "test_relu_forward_matches_reference",
        ),
        "``X`` is not changed": ("test_relu_forward_matches_reference",),
        "where ``X > 0``, boolean": ("test_relu_forward_by_hand",),
    },
    "ex2_1": {
        "any shape, float": ("test_softmax_axis_and_single_row",),
        "same shape and dtype as ``Z``": (
            "test_softmax_float32_and_input_untouched",
            "test_softmax_matches_reference",
        ),
        "Finite for magnitudes up to 1e4": ("test_softmax_matches_reference",),
        "summing to 1 along": ("test_softmax_rows_sum_to_one_and_ignore_shifts",),
        "the axis that sums to one": ("test_softmax_axis_0", "test_softmax_axis_and_single_row"),
    },
    "ex2_2": {
        "any shape, float": ("test_log_softmax_axis",),
        "same shape and dtype as ``Z``": (
            "test_log_softmax_float32_and_axis_0",
            "test_log_softmax_matches_reference",
        ),
        "finite even where": ("test_log_softmax_where_softmax_underflows",),
    },
    "ex2_3": {
        "integer labels, shape (N,), each in [0, num_classes)": ("test_one_hot_matches_reference",),
        "float32 array (N, K)": ("test_one_hot_by_hand", "test_one_hot_of_no_labels"),
        "if a label is outside [0, K)": (
            "test_one_hot_rejects_labels_out_of_range",
            "test_one_hot_rejects_out_of_range",
        ),
    },
    "ex2_4": {
        "Mean cross-entropy": ("test_cross_entropy_is_a_mean_not_a_sum",),
        "a Python float": ("test_cross_entropy_returns_a_python_float",),
        "the MEAN loss over the batch": (
            "test_cross_entropy_by_hand",
            "test_cross_entropy_is_a_mean",
        ),
        "Z, shape (N, K), float": ("test_cross_entropy_matches_reference",),
        "integer labels, shape (N,)": ("test_cross_entropy_int32_targets",),
        # The cache is read by Exercise 2.5's backward: its checks run this forward first.
        "Keeps ``self._log_probs``": (),
    },
    "ex2_5": {
        "dtype of the logits": ("test_cross_entropy_backward_float32_rows_sum_to_zero",),
        "Gradient of the mean loss": ("test_cross_entropy_backward_gradient_check",),
        "``(softmax(Z) - onehot(y)) / N``": (
            "test_cross_entropy_backward_by_hand",
            "test_cross_entropy_backward_twice_gives_the_same_gradient",
        ),
    },
    "ex3_1": {
        "At exactly 0 the gradient is 0": ("test_relu_backward_by_hand",),
    },
    "ex3_2": {
        "None when": ("test_linear_backward_without_input_grad",),
        "ADDS ``X.T @ dY``": (
            "test_linear_backward_accumulates",
            "test_linear_backward_accumulates_and_zero_grad_resets",
        ),
        "shape (N, D)": ("test_linear_backward_matches_reference",),
        "shape (N, M)": ("test_linear_backward_matches_reference",),
        "input_grad": ("test_linear_backward_without_input_grad",),
    },
    "ex3_3": {
        "perturbed IN PLACE one entry at a time and": (
            "test_numerical_gradient_of_a_cube",
            "test_numerical_gradient_of_a_coupled_function",
        ),
        "float64": (
            "test_numerical_gradient_is_float64_for_float32_x",
            "test_numerical_gradient_returns_float64_of_x_shape",
        ),
        "``(f(x + h) - f(x - h)) / (2 h)``": ("test_numerical_gradient_is_a_central_difference",),
    },
    "ex4_1": {
        # In place versus a new array of the same shape and dtype is not observable through
        # the grader's proxy (it copies), and Parameter.data accepts both alike.
        "``p.data`` is updated IN PLACE": ("test_sgd_matches_reference_over_five_steps",),
        "every parameter by the rule above": ("test_sgd_matches_reference_over_five_steps",),
        "``p.grad`` is only read": ("test_sgd_step_by_hand",),
        "buf starts at 0": ("test_sgd_momentum_two_steps_by_hand",),
    },
    "ex4_2": {
        "Updates happen IN PLACE": ("test_rmsprop_matches_reference_over_five_steps",),
        "its ``square_avg`` by the rule above": ("test_rmsprop_matches_reference_over_five_steps",),
        "a running mean square v starting at": ("test_rmsprop_two_steps_by_hand",),
    },
    "ex5_1": {
        "X (B, D) float32": ("test_train_epoch_is_the_written_out_loop",),
        "zero the gradients": ("test_train_epoch_zeroes_the_gradients_for_every_batch",),
        "weighted by batch size": ("test_train_epoch_returns_the_mean_loss_over_all_samples",),
        "a Python float": ("test_train_epoch_returns_a_python_float",),
    },
    "ex5_2": {
        "without training": ("test_evaluate_does_not_train_and_returns_floats",),
        "X: inputs (N, D), float32": ("test_evaluate_matches_the_model",),
        "over all N samples": (
            "test_evaluate_accuracy_and_loss",
            "test_evaluate_matches_the_model",
        ),
    },
    "ex7_1": {
        # As for SGD: in place versus a new array is not observable through the proxy.
        "are updated IN PLACE": ("test_adam_matches_reference_over_five_steps",),
        "``p.grad`` is only read": ("test_adam_matches_reference_over_five_steps",),
        "exp_avg: m per parameter, same shape and dtype": (),  # set by __init__ (given)
        "exp_avg_sq: v per parameter, same shape and dtype": (),  # set by __init__ (given)
        "every parameter and its moments by the rule above": (
            "test_adam_five_steps_by_hand",
            "test_adam_counts_steps_not_parameters",
            "test_adam_matches_reference_over_five_steps",
        ),
    },
    "ex7_2": {
        "every parameter by the rule above, in place": (
            "test_adamw_five_steps_by_hand",
            "test_adamw_matches_reference_over_five_steps",
        ),
    },
    "ex7_3": {
        "same shape and dtype as ``X``": (
            "test_dropout_forward_in_training_by_hand",
            "test_dropout_forward_matches_reference",
        ),
        "``keep.astype(X.dtype) / (1 - p)`` when training": (
            "test_dropout_forward_in_training_by_hand",
            "test_dropout_forward_in_eval_mode_is_the_identity",
        ),
    },
    "ex7_4": {},
    "ex7_5": {},
    "ex7_6": {},
}


def docstrings(exercise: exercises.Exercise) -> str:
    """The exercise's docstring, whitespace-normalised: the function's own, and its class's
    where the class documents it (``__init__``, ``__iter__``, a method without one, or one
    that points to "the rule above")."""
    tree = ast.parse((PACKAGE / exercise.module).read_text())
    texts = []
    scope: list[ast.stmt] = tree.body
    for part in exercise.qualname.split("."):
        node = next(n for n in scope if getattr(n, "name", None) == part)
        texts.append(ast.get_docstring(node) or "")
        scope = node.body
    if (
        len(texts) == 2
        and texts[1]
        and exercise.qualname.split(".")[1] not in ("__init__", "__iter__")
        and "above" not in texts[1]  # "by the rule above": the class states the rule
    ):
        texts = texts[1:]
    return " ".join(" ".join(texts).split())


def promises(text: str) -> list[str]:
    """The sentences (or clauses of an Args/Returns list) that make a promise."""
    pieces = re.split(r"(?<=[.;:])\s+(?=[A-Z`(])|\s(?=\w+: )", text)
    return [piece for piece in pieces if PROMISE.search(piece)]


def checks_by_exercise() -> dict[str, set[str]]:
    """Exercise id -> names of the check functions carrying its marker (read from source)."""
    found: dict[str, set[str]] = {exercise.id: set() for exercise in exercises.ALL_EXERCISES}
    marker = re.compile(r"pytest\.mark\.(ex\d_\d)")
    for folder in CHECKS:
        for path in folder.glob("test_*.py"):
            source = path.read_text()
            tree = ast.parse(source)
            module_marks = [
                m
                for node in tree.body
                if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "pytestmark"
                for m in marker.findall(ast.unparse(node.value))
            ]
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                    own = marker.findall(" ".join(ast.unparse(d) for d in node.decorator_list))
                    for mark in own or module_marks:
                        found[mark].add(node.name)
    return found


@pytest.mark.parametrize("exercise", exercises.ALL_EXERCISES, ids=lambda e: e.id)
def test_every_docstring_promise_has_a_check(exercise):
    text = docstrings(exercise)
    table = PROMISES[exercise.id]
    uncovered = [p for p in promises(text) if not any(phrase in p for phrase in table)]
    assert not uncovered, f"{exercise.id}: promises without a check in PROMISES: {uncovered}"
    stale = [phrase for phrase in table if phrase not in text]
    assert not stale, f"{exercise.id}: PROMISES phrases no longer in the docstrings: {stale}"
    checks = checks_by_exercise()[exercise.id]
    missing = {name for names in table.values() for name in names} - checks
    assert not missing, f"{exercise.id}: no such check with marker {exercise.id}: {missing}"


def test_the_promise_detector_sees_a_new_promise():
    # The test above fails when a docstring gains a promise: shown on a made-up sentence.
    assert promises("Returns: Y, float32. Keeps nothing.") == ["Y, float32."]
    assert promises("Compute the sum.") == []
