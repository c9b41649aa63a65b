"""The catalogue of common student bugs, as data: buggy answers to one or two exercises.

Each ``Bug`` gives, for one or more exercise ids, the code a student might write in that
exercise's ``### BEGIN SOLUTION`` region (plausible student code, not the reference with a
character flipped). Materialising a bug copies ``solutions/numpynet`` and replaces those
regions only, so the reference may be optimised freely outside them.

``loses`` is the set of exercises whose checks must fail: the bug catalogue test runs the
public and hidden checks against every materialised submission and compares the failing
exercises with ``loses`` EXACTLY. That proves both that the checks catch the bug and that
they do not blame exercises the bug does not touch.

A region body may only use what the surrounding reference code defines outside the
regions: ``self._X`` (Linear, set before its forward region), ``self.buffers`` (SGD),
``self.square_avg`` (RMSProp), ``self.rng``/``self.X``/``self.y``/``self.batch_size``/
``self.shuffle``/``self.drop_last`` (DataLoader), and names the body sets itself.

``CAUSES`` (below) says what the feedback must contain for each bug to name its cause, and
the partial-credit policy - what a wrong result costs against a cosmetic slip - is written
down once, above ``COSMETIC_SHARE``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Bug:
    """One common student bug: buggy region bodies and the exercises they must lose."""

    name: str  # folder name of the materialised submission
    description: str  # what the student did wrong, in their terms
    regions: dict[str, str] = field(hash=False)  # exercise id -> region body (any indent)
    loses: frozenset[str] = frozenset()  # exercise ids whose checks must fail


def bug(name: str, description: str, loses: set[str], **regions: str) -> Bug:
    """A Bug whose region bodies (keyword: exercise id) may be written indented."""
    bodies = {exercise: textwrap.dedent(body).strip("\n") for exercise, body in regions.items()}
    return Bug(name, description, bodies, frozenset(loses))


# Correct student answers that some bugs need beside the buggy region: the two halves of
# the loss share a cache, so a bug in one half comes with the student's own other half.
CE_FORWARD = """
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    self._log_probs, self._probs, self._y = log_probs, np.exp(log_probs), targets
    return float(-np.{reduce}(log_probs[np.arange(len(targets)), targets]))
"""
CE_BACKWARD = """
    dZ = self._probs.copy()
    dZ[np.arange(len(self._y)), self._y] -= 1
    return dZ{scale}
"""

# Adam up to its update line: the bugs of Exercise 7.1 differ only there.
ADAM = """
    self.t += 1
    beta1, beta2 = self.betas
    for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
        g = p.grad
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g**2
        {update}
"""

BUGS: tuple[Bug, ...] = (
    # ---- Exercise 0.1: DataLoader -------------------------------------------------------
    bug(
        "loader_drops_last_batch",
        "DataLoader always drops the final partial batch (ignores drop_last=False)",
        {"ex0_1"},
        ex0_1="""
            order = self.rng.permutation(len(self.X)) if self.shuffle else np.arange(len(self.X))
            for start in range(0, len(self.X) - self.batch_size + 1, self.batch_size):
                index = order[start : start + self.batch_size]
                yield self.X[index], self.y[index]
        """,
    ),
    bug(
        "loader_repeats_samples",
        "DataLoader draws indices WITH replacement: some repeat, some never appear",
        {"ex0_1"},
        ex0_1="""
            n = len(self.X)
            order = self.rng.integers(0, n, size=n) if self.shuffle else np.arange(n)
            stop = n - n % self.batch_size if self.drop_last else n
            for start in range(0, stop, self.batch_size):
                index = order[start : start + self.batch_size]
                yield self.X[index], self.y[index]
        """,
    ),
    bug(
        "loader_no_reshuffle",
        "DataLoader shuffles once, on the first epoch, and reuses that order afterwards",
        {"ex0_1"},
        ex0_1="""
            n = len(self.X)
            if not hasattr(self, "order"):
                self.order = self.rng.permutation(n) if self.shuffle else np.arange(n)
            stop = n - n % self.batch_size if self.drop_last else n
            for start in range(0, stop, self.batch_size):
                index = self.order[start : start + self.batch_size]
                yield self.X[index], self.y[index]
        """,
    ),
    # ---- Exercise 1.x: forward pass -----------------------------------------------------
    bug(
        "init_std_one",
        "Linear weights drawn with standard deviation 1 instead of sqrt(2 / in)",
        {"ex1_1"},
        ex1_1="""
            W = rng.standard_normal((in_features, out_features)).astype(np.float32)
            b = np.zeros(out_features, dtype=np.float32)
        """,
    ),
    bug(
        "init_lecun_scale",
        "Linear weights with std sqrt(1 / in) (LeCun/Xavier) instead of He's sqrt(2 / in)",
        {"ex1_1"},
        ex1_1="""
            W = rng.normal(0.0, np.sqrt(1.0 / in_features), (in_features, out_features))
            W = W.astype(np.float32)
            b = np.zeros(out_features, dtype=np.float32)
        """,
    ),
    bug(
        "linear_forward_no_bias",
        "Linear.forward forgets to add the bias",
        {"ex1_2"},
        ex1_2="""
            return X @ self.W.data
        """,
    ),
    bug(
        "linear_forward_float64",
        "Linear.forward computes in float64: float32 inputs give float64 outputs",
        {"ex1_2"},
        ex1_2="""
            return X.astype(np.float64) @ self.W.data + self.b.data
        """,
    ),
    bug(
        "linear_forward_always_float32",
        "Linear.forward casts its result to float32: float64 inputs give float32 outputs",
        {"ex1_2"},
        ex1_2="""
            return (X @ self.W.data + self.b.data).astype(np.float32)
        """,
    ),
    bug(
        "relu_forward_in_place",
        "ReLU.forward clips its input array in place (the caller's X changes)",
        {"ex1_3"},
        ex1_3="""
            self._mask = X > 0
            X[X < 0] = 0
            return X
        """,
        ex3_1="""
            return dY * self._mask
        """,
    ),
    # ---- Exercise 2.x: softmax and the loss ---------------------------------------------
    bug(
        "softmax_unstable",
        "softmax exponentiates the raw logits: exp overflows for large logits",
        {"ex2_1"},
        ex2_1="""
            E = np.exp(Z)
            return E / E.sum(axis=axis, keepdims=True)
        """,
    ),
    bug(
        "log_softmax_of_softmax",
        "log_softmax computed as log(softmax(Z)): -inf where the softmax underflows",
        # The reference loss is built on log_softmax, so it turns infinite for large logits.
        {"ex2_2", "ex2_4"},
        ex2_2="""
            return np.log(softmax(Z, axis=axis))
        """,
    ),
    bug(
        "one_hot_float64",
        "one_hot returns float64 (np.eye(K)[y]) instead of float32",
        {"ex2_3"},
        ex2_3="""
            y = np.asarray(y)
            if y.size and (y.min() < 0 or y.max() >= num_classes):
                raise ValueError("label out of range")
            return np.eye(num_classes)[y]
        """,
    ),
    bug(
        "one_hot_accepts_negative_labels",
        "one_hot rejects labels >= K but not negative ones (y = -1 becomes the last class)",
        {"ex2_3"},
        ex2_3="""
            y = np.asarray(y)
            if y.size and y.max() >= num_classes:
                raise ValueError(f"label {y.max()} is not below {num_classes}")
            Y = np.zeros((len(y), num_classes), dtype=np.float32)
            Y[np.arange(len(y)), y] = 1.0
            return Y
        """,
    ),
    bug(
        "loss_returns_numpy_scalar",
        "CrossEntropyLoss.forward returns -log_probs[...].mean(), a NumPy scalar, not a float",
        {"ex2_4"},
        ex2_4="""
            log_probs = log_softmax(logits, axis=1)
            self._log_probs, self._probs, self._y = log_probs, np.exp(log_probs), targets
            return -log_probs[np.arange(len(targets)), targets].mean()
        """,
        ex2_5=CE_BACKWARD.format(scale=" / len(self._y)"),
    ),
    bug(
        "loss_backward_overwrites_cache",
        "CrossEntropyLoss.backward exponentiates the cached log-probabilities in place "
        "(np.exp(..., out=self._log_probs)): a second backward() returns something else",
        {"ex2_5"},
        ex2_4="""
            self._log_probs = log_softmax(logits, axis=1)
            self._y = targets
            return float(-self._log_probs[np.arange(len(targets)), targets].mean())
        """,
        ex2_5="""
            dZ = np.exp(self._log_probs, out=self._log_probs)
            dZ[np.arange(len(self._y)), self._y] -= 1.0
            dZ /= len(self._y)
            return dZ
        """,
    ),
    bug(
        "loss_summed",
        "CrossEntropyLoss.forward returns the SUM over the batch instead of the mean",
        {"ex2_4"},
        ex2_4=CE_FORWARD.format(reduce="sum"),
        ex2_5=CE_BACKWARD.format(scale=" / len(self._y)"),
    ),
    bug(
        "loss_grad_not_divided_by_n",
        "CrossEntropyLoss.backward returns P - Y without the 1/N of the mean",
        {"ex2_5"},
        ex2_4=CE_FORWARD.format(reduce="mean"),
        ex2_5=CE_BACKWARD.format(scale=""),
    ),
    # ---- Exercise 3.x: backward pass ----------------------------------------------------
    bug(
        "relu_backward_no_mask",
        "ReLU.backward passes dY through unchanged (forgets the mask)",
        {"ex3_1"},
        ex3_1="""
            return dY
        """,
    ),
    bug(
        "relu_grad_one_at_zero",
        "ReLU keeps the mask X >= 0: the gradient at exactly 0 is 1 instead of 0",
        {"ex3_1"},
        ex1_3="""
            self._mask = X >= 0
            return np.maximum(X, 0).astype(X.dtype)
        """,
        ex3_1="""
            return dY * self._mask
        """,
    ),
    bug(
        "linear_grads_overwritten",
        "Linear.backward assigns W.grad and b.grad instead of accumulating (+=)",
        {"ex3_2"},
        ex3_2="""
            self.W.grad = X.T @ dY
            self.b.grad = dY.sum(axis=0)
            return dY @ self.W.data.T
        """,
    ),
    bug(
        "linear_bias_grad_mean",
        "Linear.backward averages dY over the batch for b.grad instead of summing",
        {"ex3_2"},
        ex3_2="""
            self.W.grad += X.T @ dY
            self.b.grad += dY.mean(axis=0)
            return dY @ self.W.data.T
        """,
    ),
    bug(
        "linear_grads_float64",
        "Linear.backward turns float32 gradients into float64 (W.grad = W.grad + ...)",
        {"ex3_2"},
        ex3_2="""
            self.W.grad = self.W.grad + X.T.astype(np.float64) @ dY
            self.b.grad = self.b.grad + dY.sum(axis=0, dtype=np.float64)
            return dY @ self.W.data.T
        """,
    ),
    bug(
        "linear_backward_ignores_input_grad",
        "Linear.backward always returns dX, even with input_grad = False",
        {"ex3_2"},
        ex3_2="""
            self.W.grad += X.T @ dY
            self.b.grad += dY.sum(axis=0)
            return dY @ self.W.data.T
        """,
    ),
    bug(
        "numerical_gradient_forward_difference",
        "numerical_gradient uses the one-sided difference (f(x + h) - f(x)) / h",
        {"ex3_3"},
        ex3_3="""
            grad = np.zeros(x.shape)
            base = float(f())
            for i in np.ndindex(x.shape):
                old = x[i]
                x[i] = old + eps
                grad[i] = (float(f()) - base) / eps
                x[i] = old
            return grad
        """,
    ),
    bug(
        "numerical_gradient_not_restored",
        "numerical_gradient forgets to restore x: every entry is left at x - eps",
        {"ex3_3"},
        ex3_3="""
            grad = np.zeros(x.shape)
            for i in np.ndindex(x.shape):
                old = x[i]
                x[i] = old + eps
                up = float(f())
                x[i] = old - eps
                grad[i] = (up - float(f())) / (2 * eps)
            return grad
        """,
    ),
    bug(
        "numerical_gradient_restored_by_arithmetic",
        "numerical_gradient undoes each step by arithmetic (+ eps, - 2 eps, + eps): rounding "
        "leaves some entries of x a few ulps off",
        {"ex3_3"},
        ex3_3="""
            grad = np.zeros(x.shape)
            for i in np.ndindex(x.shape):
                x[i] += eps
                up = float(f())
                x[i] -= 2 * eps
                down = float(f())
                x[i] += eps
                grad[i] = (up - down) / (2 * eps)
            return grad
        """,
    ),
    bug(
        "numerical_gradient_zeros_like",
        "numerical_gradient builds its result with np.zeros_like(x): float32 for a float32 x",
        {"ex3_3"},
        ex3_3="""
            grad = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                old = x[i]
                x[i] = old + eps
                up = float(f())
                x[i] = old - eps
                down = float(f())
                x[i] = old
                grad[i] = (up - down) / (2 * eps)
            return grad
        """,
    ),
    # ---- Exercise 4.x: optimisers -------------------------------------------------------
    bug(
        "sgd_momentum_dampened",
        "SGD momentum scales the gradient by (1 - momentum) (not PyTorch's rule)",
        {"ex4_1"},
        ex4_1="""
            for p, buf in zip(self.params, self.buffers):
                buf[...] = self.momentum * buf + (1 - self.momentum) * p.grad
                p.data -= self.lr * (buf if self.momentum else p.grad)
        """,
    ),
    bug(
        "rmsprop_eps_inside_sqrt",
        "RMSProp divides by sqrt(v + eps) instead of sqrt(v) + eps",
        {"ex4_2"},
        ex4_2="""
            for p, v in zip(self.params, self.square_avg):
                v[...] = self.alpha * v + (1 - self.alpha) * p.grad**2
                p.data -= self.lr * p.grad / np.sqrt(v + self.eps)
        """,
    ),
    bug(
        "rmsprop_alpha_swapped",
        "RMSProp's running average swaps alpha and 1 - alpha",
        {"ex4_2"},
        ex4_2="""
            for p, v in zip(self.params, self.square_avg):
                v[...] = (1 - self.alpha) * v + self.alpha * p.grad**2
                p.data -= self.lr * p.grad / (np.sqrt(v) + self.eps)
        """,
    ),
    # ---- Exercise 5.x: the loop ---------------------------------------------------------
    bug(
        "train_epoch_no_zero_grad",
        "train_epoch never zeroes the gradients: they pile up across batches",
        {"ex5_1"},
        ex5_1="""
            losses = []
            for X, y in batches:
                loss = loss_fn.forward(model.forward(X), y)
                model.backward(loss_fn.backward())
                optimizer.step()
                losses.append(loss * len(y))
            return sum(losses) / sum(len(y) for _, y in batches)
        """,
    ),
    bug(
        "train_epoch_unweighted_mean",
        "train_epoch averages the batch losses without weighting by batch size",
        {"ex5_1"},
        ex5_1="""
            losses = []
            for X, y in batches:
                optimizer.zero_grad()
                losses.append(loss_fn.forward(model.forward(X), y))
                model.backward(loss_fn.backward())
                optimizer.step()
            return float(np.mean(losses))
        """,
    ),
    bug(
        "train_epoch_returns_numpy_scalar",
        "train_epoch returns np.average(losses, weights=sizes): right value, a NumPy scalar",
        {"ex5_1"},
        ex5_1="""
            losses, sizes = [], []
            for X, y in batches:
                optimizer.zero_grad()
                losses.append(loss_fn.forward(model.forward(X), y))
                model.backward(loss_fn.backward())
                optimizer.step()
                sizes.append(len(y))
            return np.average(losses, weights=sizes)
        """,
    ),
    bug(
        "evaluate_returns_numpy_scalars",
        "evaluate returns NumPy scalars (np.average, np.mean) instead of Python floats",
        {"ex5_2"},
        ex5_2="""
            loss_fn = CrossEntropyLoss()
            losses, sizes, hits = [], [], []
            for start in range(0, len(X), batch_size):
                logits = model.forward(X[start : start + batch_size])
                labels = y[start : start + batch_size]
                losses.append(loss_fn.forward(logits, labels))
                sizes.append(len(labels))
                hits.append(logits.argmax(axis=1) == labels)
            return np.average(losses, weights=sizes), np.mean(np.concatenate(hits))
        """,
    ),
    bug(
        "evaluate_last_batch_accuracy",
        "evaluate returns the accuracy of the last batch only",
        {"ex5_2"},
        ex5_2="""
            loss_fn = CrossEntropyLoss()
            total = 0.0
            for start in range(0, len(X), batch_size):
                logits = model.forward(X[start : start + batch_size])
                total += loss_fn.forward(logits, y[start : start + batch_size]) * len(logits)
                accuracy = np.mean(logits.argmax(axis=1) == y[start : start + batch_size])
            return total / len(X), float(accuracy)
        """,
    ),
    bug(
        "evaluate_unweighted_mean",
        "evaluate averages the chunk losses without weighting by chunk size",
        {"ex5_2"},
        ex5_2="""
            loss_fn = CrossEntropyLoss()
            losses, correct = [], 0
            for start in range(0, len(X), batch_size):
                logits = model.forward(X[start : start + batch_size])
                losses.append(loss_fn.forward(logits, y[start : start + batch_size]))
                correct += int((logits.argmax(axis=1) == y[start : start + batch_size]).sum())
            return float(np.mean(losses)), correct / len(X)
        """,
    ),
    bug(
        "evaluate_calls_backward",
        "evaluate runs model.backward on every chunk (copied from the training loop): it adds "
        "into every p.grad",
        {"ex5_2"},
        ex5_2="""
            loss_fn = CrossEntropyLoss()
            total, correct = 0.0, 0
            for start in range(0, len(X), batch_size):
                Xb, yb = X[start : start + batch_size], y[start : start + batch_size]
                logits = model.forward(Xb)
                total += loss_fn.forward(logits, yb) * len(yb)
                model.backward(loss_fn.backward())
                correct += int((logits.argmax(axis=1) == yb).sum())
            return total / len(X), correct / len(X)
        """,
    ),
    bug(
        "evaluate_argmax_wrong_axis",
        "evaluate takes the argmax over the batch axis (0) instead of the classes (1)",
        {"ex5_2"},
        ex5_2="""
            logits = model.forward(X)
            loss = CrossEntropyLoss().forward(logits, y)
            predictions = logits.argmax(axis=0)
            return loss, float(np.mean(predictions[: len(y)] == y[: len(predictions)]))
        """,
    ),
    # ---- Exercises 7.1-7.6: lesson 07, beyond RMSProp ----------------------------------
    bug(
        "adam_no_bias_correction",
        "Adam without bias correction: p -= lr * m / (sqrt(v) + eps)",
        {"ex7_1"},
        ex7_1=ADAM.format(update="p.data -= self.lr * m / (np.sqrt(v) + self.eps)"),
    ),
    bug(
        "adam_correction_on_wrong_moment",
        "Adam divides m by 1 - beta2**t and v by 1 - beta1**t (the corrections swapped)",
        {"ex7_1"},
        ex7_1=ADAM.format(
            update="p.data -= self.lr * (m / (1 - beta2**self.t)) / "
            "(np.sqrt(v / (1 - beta1**self.t)) + self.eps)"
        ),
    ),
    bug(
        "adam_eps_inside_sqrt",
        "Adam puts eps inside the square root: sqrt(v_hat + eps)",
        {"ex7_1"},
        ex7_1=ADAM.format(
            update="p.data -= self.lr * (m / (1 - beta1**self.t)) / "
            "np.sqrt(v / (1 - beta2**self.t) + self.eps)"
        ),
    ),
    bug(
        "adam_t_per_parameter",
        "Adam increments t once per PARAMETER inside the loop instead of once per step",
        {"ex7_1"},
        ex7_1="""
            beta1, beta2 = self.betas
            for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
                self.t += 1
                g = p.grad
                if self.weight_decay:
                    g = g + self.weight_decay * p.data
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g**2
                m_hat = m / (1 - beta1**self.t)
                v_hat = v / (1 - beta2**self.t)
                p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        """,
    ),
    bug(
        "adamw_coupled_decay",
        "AdamW adds weight_decay * p to the gradient (Adam's L2 penalty) instead of decaying p",
        {"ex7_2"},
        ex7_2="""
            self.t += 1
            beta1, beta2 = self.betas
            for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
                g = p.grad + self.weight_decay * p.data
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g**2
                m_hat = m / (1 - beta1**self.t)
                v_hat = v / (1 - beta2**self.t)
                p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        """,
    ),
    bug(
        "dropout_not_scaled",
        "Dropout zeroes elements in training but does not scale the rest by 1 / (1 - p)",
        {"ex7_3"},
        ex7_3="""
            if not self.training or self.p == 0.0:
                self._mask = None
                return X
            self._mask = (self.rng.random(X.shape) >= self.p).astype(X.dtype)
            return X * self._mask
        """,
    ),
    bug(
        "dropout_scaled_in_eval",
        "Dropout scales by 1 / (1 - p) in evaluation mode too (a mask of ones, scaled)",
        {"ex7_3"},
        ex7_3="""
            if self.p == 0.0:
                self._mask = None
                return X
            if self.training:
                keep = self.rng.random(X.shape) >= self.p
            else:
                keep = np.ones(X.shape, dtype=bool)
            self._mask = keep.astype(X.dtype) / (1.0 - self.p)
            return X * self._mask
        """,
    ),
    bug(
        "dropout_new_mask_in_backward",
        "Dropout.backward draws a new mask instead of reusing forward's",
        {"ex7_4"},
        ex7_4="""
            if self._mask is None:
                return dY
            keep = self.rng.random(dY.shape) >= self.p
            return dY * keep / (1.0 - self.p)
        """,
    ),
    bug(
        "validate_mode_not_restored",
        "validate switches the model to evaluation mode and leaves it there",
        {"ex7_5"},
        ex7_5="""
            model.eval()
            return evaluate(model, X, y, batch_size)
        """,
    ),
    bug(
        "early_stopping_keeps_references",
        "EarlyStopping stores p.data itself (a reference), not a copy, for the best epoch",
        {"ex7_6"},
        ex7_6="""
            self.epochs += 1
            if val_loss < self.best_loss:
                self.best_loss = float(val_loss)
                self.best_epoch = self.epochs
                self.best_state = [p.data for p in model.parameters()]
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            return self.patience is not None and self.bad_epochs >= self.patience
        """,
    ),
)

BY_NAME: dict[str, Bug] = {entry.name: entry for entry in BUGS}

# What the feedback must say for a student to see the CAUSE of each bug, not just that
# something differs: phrases (case-insensitive), one of which some failing check's message
# of a lost exercise contains. ``python -m autograder.examples.feedback`` prints the share
# of the catalogue whose feedback names its cause; tests/test_bug_catalogue.py wants all.
CAUSES: dict[str, tuple[str, ...]] = {
    "loader_drops_last_batch": ("keep it unless drop_last",),
    "loader_repeats_samples": ("random integers repeat some samples",),
    "loader_no_reshuffle": ("new permutation every time",),
    "init_std_one": ("sqrt(2 / in)",),
    "init_lecun_scale": ("sqrt(2 / in)",),
    "linear_forward_no_bias": ("such as a bias b",),
    "linear_forward_float64": ("float64 array or constant entered the computation",),
    "linear_forward_always_float32": ("no .astype to another dtype",),
    "relu_forward_in_place": ("must not modify its input",),
    "softmax_unstable": ("subtract the row max",),
    "log_softmax_of_softmax": ("even where softmax rounds to 0", "rounded to 0 is -inf"),
    "one_hot_float64": ("np.eye without dtype=",),
    "one_hot_accepts_negative_labels": ("check both ends (y < 0",),
    "loss_summed": ("the MEAN over the batch, not the sum",),
    "loss_returns_numpy_scalar": ("must return a Python float",),
    "loss_backward_overwrites_cache": ("overwrote what forward cached",),
    "loss_grad_not_divided_by_n": ("did you divide by N",),
    "relu_backward_no_mask": ("returned dY unchanged",),
    "relu_grad_one_at_zero": ("the gradient there is 0",),
    "linear_grads_overwritten": ("must ADD to W.grad and b.grad (+=)",),
    "linear_bias_grad_mean": ("b.grad is the SUM of dY over the batch",),
    "linear_grads_float64": ("float64 array or constant entered the computation",),
    "linear_backward_ignores_input_grad": ("Linear.backward must return None",),
    "numerical_gradient_forward_difference": ("returned the one-sided difference",),
    "numerical_gradient_not_restored": ("put each entry back to its saved original value",),
    "numerical_gradient_restored_by_arithmetic": ("a rounding-size change",),
    "numerical_gradient_zeros_like": ("np.zeros_like(x) copies x's float32 dtype",),
    "sgd_momentum_dampened": ("no (1 - momentum) factor",),
    "rmsprop_eps_inside_sqrt": ("eps belongs OUTSIDE the square root",),
    "rmsprop_alpha_swapped": ("alpha and 1 - alpha are swapped",),
    "train_epoch_no_zero_grad": ("call optimizer.zero_grad() at the start of every batch",),
    "train_epoch_unweighted_mean": ("weight each batch's loss by its size",),
    "train_epoch_returns_numpy_scalar": ("train_epoch must return a Python float",),
    "evaluate_returns_numpy_scalars": ("as two Python floats",),
    "evaluate_last_batch_accuracy": ("of the LAST chunk only",),
    "evaluate_argmax_wrong_axis": ("argmax over the classes (axis=1)",),
    "evaluate_calls_backward": ("no model.backward",),
    "evaluate_unweighted_mean": ("weight each chunk's loss by its size",),
    "adam_no_bias_correction": ("neither moment was bias-corrected",),
    "adam_correction_on_wrong_moment": ("bias corrections are swapped",),
    "adam_eps_inside_sqrt": ("eps went INSIDE the square root",),
    "adam_t_per_parameter": ("t counts STEPS",),
    "adamw_coupled_decay": ("AdamW's decay is DECOUPLED",),
    "dropout_not_scaled": ("did not scale the others",),
    "dropout_scaled_in_eval": ("the scaling happens in TRAINING",),
    "dropout_new_mask_in_backward": ("drew a NEW mask",),
    "validate_mode_not_restored": ("left a model that was TRAINING in evaluation mode",),
    "early_stopping_keeps_references": ("holds the weights of the LAST epoch",),
}

# Partial credit. The grader's rule is fixed and simple: an exercise earns its points times
# the share of its checks (public and hidden, each parametrized case once) that pass. So
# what a mistake costs is the share of the exercise's checks it fails, and the checks are
# written to make that share follow how wrong the result is:
#
# * a WRONG RESULT (training learns less or not at all, a later exercise computes something
#   else: a missing 1/N, eps inside the root, no zero_grad, float64 gradients...) fails the
#   by-hand checks and the comparisons with the reference: more than COSMETIC_SHARE of them;
# * a COSMETIC contract slip (the numbers are right, a promise about their form or a side
#   effect training never sees is not: a NumPy scalar for a Python float, dX computed when
#   input_grad is False, a gradient left in p.grad by evaluate) fails only the contract
#   check that names the promise: at most COSMETIC_SHARE of the exercise.
#
# tests/test_bug_catalogue.py holds every catalogued bug to its class.
COSMETIC_SHARE = 0.2
COSMETIC: frozenset[str] = frozenset(
    {
        "one_hot_accepts_negative_labels",
        "loss_returns_numpy_scalar",
        "loss_backward_overwrites_cache",
        "linear_backward_ignores_input_grad",
        "numerical_gradient_zeros_like",
        "numerical_gradient_restored_by_arithmetic",
        "evaluate_calls_backward",
        "train_epoch_returns_numpy_scalar",
        "evaluate_returns_numpy_scalars",
    }
)
