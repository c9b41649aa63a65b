"""The class challenge: the student's recipe trains their package, the grader scores it.

The training runs in the sandbox; the test accuracy of what comes out is measured here, in
the trusted grader.

1. ``challenge.json`` (the recipe) is read from the submission with bounded size and
   checked by the REFERENCE's ``recipe_config`` (solutions/numpynet/train.py): unknown
   keys, wrong types, values out of bounds are refused with the reason.
2. The 60,000 training images go to the worker as raw uint8 pixels over the socket. The
   worker never sees the test set: it is not mounted in the sandbox, not in its
   environment, and never sent (:func:`test_set_hidden` says where that cannot be shown).
   Before they go, the pixel ORDER and the class NAMES are scrambled with a secret
   permutation drawn per submission (from the course's key and the submission's content, so a
   regrade gives the same grade): an MLP learns a scrambled MNIST exactly as well
   (its first layer does not care which pixel is which), but weights trained elsewhere
   and smuggled into the submission score at chance.
3. The student's ``numpynet.train.challenge_fit`` trains with their recipe and hands the
   weights to the grader after every epoch (a callback). The grader reads the worker's
   CPU time from /proc at each epoch's end: the weights of the last epoch that ended
   within the budget (:data:`DEFAULT_BUDGET` CPU seconds, one BLAS thread) are the ones
   scored; past the budget the worker is killed, and an RLIMIT_CPU and a wall-clock
   deadline stop a run that never reaches an epoch's end.
4. The weights are checked (a list of (W, b) pairs of exactly the recipe's shapes, float32
   or float64, finite), the scramble is undone, and the test accuracy is computed here on
   the 10,000 test images; each entry of ``exercises.CHALLENGE`` earns its points once the
   accuracy reaches its threshold.

What this cannot show: that a submission did not ship weights AND undo the scramble from
the training images' statistics (matching each scrambled pixel's mean to MNIST's). That
takes deliberate work the report cannot see; the README says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import exercises
from .results import CheckResult, ExerciseResult, summarise
from .sandbox import WorkerFailure, WorkerTimeout, connect

DEFAULT_BUDGET = exercises.CHALLENGE_BUDGET  # CPU seconds per submission (--challenge-budget)
COMMAND = exercises.CHALLENGE_COMMAND  # reproduce a run locally (validation accuracy only)
IMPORT_SECONDS = 30.0  # wall seconds for starting the worker and importing numpynet
# The worker's RLIMIT_CPU is the budget plus this (importing numpy and the package): a run
# that never reaches an epoch's end is killed by the kernel a few seconds past its budget.
IMPORT_CPU_SECONDS = 5.0


def cpu_limit(budget: float) -> int:
    """The worker's RLIMIT_CPU for ``budget``: the budget and the import, in whole seconds."""
    return math.ceil(budget + IMPORT_CPU_SECONDS)


# Wall-clock allowance per CPU second: a run that sleeps, or waits on a loaded machine, is
# stopped at this many times its CPU budget (plus the import's).
WALL_FACTOR = 3.0


def wall_limit(budget: float) -> float:
    """The wall-clock seconds a whole run may take; past them the judge ends it.

    The start and the import, then the training: its CPU budget, WALL_FACTOR times over.
    """
    return IMPORT_SECONDS + WALL_FACTOR * budget + 10


CHALLENGE_ITEM = "challenge"  # the judge's item (autograder/judge.py)


@dataclass
class ChallengeRun:
    """One submission's challenge: what was asked, what ran, and what it scored.

    Every number about training comes from the student's run (``history``) except
    ``accuracy``/``test_loss`` (computed here) and the CPU seconds (read from /proc).
    """

    budget: float
    recipe: dict | None = None
    config: dict | None = None
    status: str = "no recipe"  # scored | no recipe | refused | failed
    message: str = ""
    accuracy: float | None = None
    test_loss: float | None = None
    scored_epoch: int | None = None
    epochs_done: int = 0
    epochs: int | None = None
    seconds: float | None = None  # worker CPU from before the package's import to the epoch's end
    wall_seconds: float = 0.0
    stopped: str = ""
    history: list[dict] = field(default_factory=list)
    val_accuracy: float | None = None
    command: str = COMMAND
    scrambled: bool = True

    def to_dict(self) -> dict:
        """JSON-ready (``SubmissionResult.challenge``)."""
        return asdict(self)


# -- the data -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """MNIST as the challenge uses it.

    ``train_images``: uint8 (60000, 784) raw pixels; ``train_labels``: uint8 (60000,);
    ``X_test``: float32 (10000, 784) in [0, 1]; ``y_test``: int64 (10000,); ``folder``: where
    the files are (checked invisible to the sandbox).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    folder: Path


_DATA: Data | None = None


def load_data(data_dir: str | os.PathLike | None = None) -> Data:
    """MNIST through the reference's verified loader (MNIST_DIR, else its cache), once."""
    global _DATA
    if _DATA is not None and data_dir is None:
        return _DATA
    from .reference import load_reference

    load_reference()
    from numpynet_reference import mnist  # type: ignore[import-not-found]

    splits = mnist.MANIFEST["splits"]
    images = mnist.get_file(splits["train"]["images"], data_dir)
    labels = mnist.get_file(splits["train"]["labels"], data_dir)
    X_test, y_test = mnist.load_mnist("test", data_dir)
    folder = mnist.resolve_data_dir(data_dir)[0].resolve()
    data = Data(images.reshape(len(images), -1), labels, X_test, y_test, folder)
    if data_dir is None:
        _DATA = data
    return data


def test_set_hidden(isolation: Any, folder: Path) -> str | None:
    """None when the sandbox cannot read ``folder`` (the test set), else why it may.

    bubblewrap mounts /usr, the Python installation, site-packages and the submission
    (``bwrap_host_paths``): the folder must lie outside every one of them. A separate user
    must fail to read it (the probe of isolation.py, run on it). No isolation: it can.
    """
    from .sandbox.isolation import bwrap_host_paths, probe_user

    folder = Path(folder).resolve()
    if isolation.mode == "bwrap":
        for mounted in bwrap_host_paths(isolation):
            if folder.is_relative_to(mounted):
                return f"the MNIST folder {folder} is inside {mounted}, which the sandbox mounts"
        return None
    if isolation.mode == "user":
        trouble = probe_user(isolation, protect=[folder])
        return None if trouble is None else f"the separate user's probe: {trouble}"
    return "no isolation (--isolation none): the submission could read the test set"


# -- the recipe -----------------------------------------------------------------------------
class Refused(Exception):
    """The recipe cannot be trained: the message says why (student-facing)."""


def _reference_train() -> Any:
    from .reference import load_reference

    load_reference()
    from numpynet_reference import train  # type: ignore[import-not-found]

    return train


def max_recipe_bytes() -> int:
    """The largest recipe file the reference reads (its ``MAX_RECIPE_BYTES``)."""
    return int(_reference_train().MAX_RECIPE_BYTES)


def read_recipe(submission: Path) -> dict | None:
    """The JSON object of ``submission/challenge.json``; None if there is none.

    Read by the reference's ``read_recipe`` (the students' trainer reads theirs with the same
    code): a regular file, not a link, of at most 64 KiB, UTF-8 JSON holding one object,
    without NaN, Infinity or duplicate keys.

    Raises:
        Refused: why not, naming the file as the student knows it.
    """
    path = Path(submission) / exercises.CHALLENGE_FILE
    if not os.path.lexists(path):
        return None
    try:
        return _reference_train().read_recipe(path)
    except ValueError as error:
        raise Refused(str(error).replace(str(path), exercises.CHALLENGE_FILE)) from None


def recipe_config(recipe: dict) -> Any:
    """The reference's TrainConfig for ``recipe``; Refused with the reference's reason."""
    try:
        return _reference_train().recipe_config(recipe)
    except (ValueError, TypeError) as error:
        raise Refused(f"{exercises.CHALLENGE_FILE}: {error}") from None


# -- the scramble ---------------------------------------------------------------------------
KEY_FILE = "challenge.key"  # the course's secret for the scrambles (grade-all's --out folder)


def course_key(folder: Path) -> bytes:
    """The secret of ``folder/challenge.key``, made (32 random bytes, mode 0600) if absent.

    grade-all keeps it in its ``--out`` folder, the Gradescope image makes its own in
    setup.sh; submissions never see it (it is not mounted in the sandbox, and user-mode
    workers are checked unable to read the results folder).
    """
    path = Path(folder) / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text().strip()
        if len(text) < 32:
            raise ValueError(f"{path}: not a key (64 hex digits expected); delete it") from None
        return text.encode()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key.encode()


@dataclass(frozen=True)
class Scramble:
    """A secret permutation of the 784 pixels and of the 10 classes.

    The sandbox sees image ``x`` as ``x[pixels]`` and class ``c`` as ``classes[c]``.
    """

    pixels: np.ndarray  # int64 (784,)
    classes: np.ndarray  # int64 (10,)

    @classmethod
    def draw(cls, seed: int | None = None) -> Scramble:
        """A fresh one (``seed``: for tests; by default from the OS's secret randomness)."""
        rng = np.random.default_rng(secrets.randbits(128) if seed is None else seed)
        return cls(rng.permutation(784), rng.permutation(10))

    @classmethod
    def keyed(cls, key: bytes, submission: str) -> Scramble:
        """The one of ``submission`` (its content's fingerprint) under the course's ``key``.

        The same submission always gets the same scramble (a regrade gives the same grade:
        training is deterministic for a fixed seed); any change to it draws another; without
        the key (:func:`course_key`) nobody can tell which.
        """
        digest = hmac.new(key, b"challenge-scramble:" + submission.encode(), hashlib.sha256)
        return cls.draw(int.from_bytes(digest.digest()[:16], "big"))

    def images(self, raw: np.ndarray) -> np.ndarray:
        """(N, 784) images as the sandbox sees them (a new C-contiguous array)."""
        return np.ascontiguousarray(raw[:, self.pixels])

    def labels(self, labels: np.ndarray) -> np.ndarray:
        """(N,) labels as the sandbox sees them, int64."""
        return self.classes[np.asarray(labels, dtype=np.int64)]

    def undo(self, weights: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, ...]]:
        """Weights trained on scrambled data, as weights for MNIST itself.

        First layer: the row for scrambled pixel j belongs to pixel ``pixels[j]``. Last
        layer: true class c is scrambled class ``classes[c]``, so its column is that one.
        """
        out = list(weights)
        first = np.empty_like(out[0][0])
        first[self.pixels] = out[0][0]
        out[0] = (first, out[0][1])
        W, b = out[-1]
        out[-1] = (W[:, self.classes], b[self.classes])  # indexing copies: ``weights`` is kept
        return out


# -- the weights ----------------------------------------------------------------------------
def check_weights(value: Any, sizes: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The weights a run handed back, checked against the recipe's layer ``sizes``.

    Returns float64 copies. Raises Refused naming the first problem: not a list of
    ``len(sizes) - 1`` (W, b) pairs, W not (sizes[i], sizes[i+1]), b not (sizes[i+1],),
    a dtype other than float32/float64, a NaN or an infinity.
    """
    layers = len(sizes) - 1
    if not isinstance(value, list | tuple) or len(value) != layers:
        kind = f"a {type(value).__name__}"
        if isinstance(value, list | tuple):
            kind += f" of {len(value)}"
        raise Refused(f"the weights must be a list of {layers} (W, b) pairs, got {kind}")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise Refused(f"layer {i}: expected a (W, b) pair, got a {type(pair).__name__}")
        for name, array, shape in (
            ("W", pair[0], (sizes[i], sizes[i + 1])),
            ("b", pair[1], (sizes[i + 1],)),
        ):
            if not isinstance(array, np.ndarray):
                raise Refused(f"layer {i}: {name} is a {type(array).__name__}, not an ndarray")
            if array.dtype not in (np.float32, np.float64):
                raise Refused(f"layer {i}: {name} has dtype {array.dtype}; float32 or float64")
            if array.shape != shape:
                raise Refused(
                    f"layer {i}: {name} has shape {array.shape}, the recipe's sizes "
                    f"{list(sizes)} make it {shape}"
                )
            if not np.isfinite(array).all():
                raise Refused(
                    f"layer {i}: {name} holds NaN or infinity (did training diverge? a lower "
                    "learning rate helps)"
                )
        out.append((pair[0].astype(np.float64), pair[1].astype(np.float64)))
    return out


def test_metrics(
    weights: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, y: np.ndarray, chunk: int = 1000
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of the MLP ``weights`` on ``X`` (N, 784), ``y`` (N,).

    The forward pass of the course's MLP in evaluation mode: ReLU between Linear layers
    (dropout is the identity there), a stable log-softmax for the loss. In chunks, so the
    grader's memory stays small whatever N is.
    """
    from .reference import load_reference

    log_softmax = load_reference().log_softmax
    correct, loss = 0, 0.0
    for start in range(0, len(X), chunk):
        H = X[start : start + chunk].astype(np.float64)
        for i, (W, b) in enumerate(weights):
            H = H @ W + b
            if i < len(weights) - 1:
                H = np.maximum(H, 0.0)
        targets = y[start : start + chunk]
        correct += int((H.argmax(axis=1) == targets).sum())
        loss -= float(log_softmax(H, axis=1)[np.arange(len(targets)), targets].sum())
    return correct / len(X), loss / len(X)


# -- the run --------------------------------------------------------------------------------
class _Stop(WorkerFailure):
    """Raised by the grader's epoch callback: stop the run now (budget, refused weights).

    A WorkerFailure, so the session lets it through at once (any other exception of a
    callback is handed to the student's code, which could catch it and train on).
    """


_HISTORY_KEYS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
HISTORY_LIMIT = 1000  # epochs kept in the log (a recipe has at most a few hundred)


def _row(row: Any, cpu: float) -> dict:
    """One epoch of the student's log, as plain bounded numbers (anything else: None)."""
    out: dict[str, Any] = {}
    source = row if isinstance(row, dict) else {}
    for key in _HISTORY_KEYS:
        value = source.get(key)
        number = None
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        ):
            number = float(value)
            number = number if math.isfinite(number) else None
        if key == "epoch" and number is not None and abs(number) < 2**53:
            number = int(number)
        out[key] = number
    out["cpu_seconds"] = round(cpu, 3)
    return out


def run(
    worker: Any,
    submission: Path,
    data: Data,
    budget: float = DEFAULT_BUDGET,
    wall_end: float = float("inf"),
    scramble: Scramble | None = None,
    on_start: Any = None,
) -> ChallengeRun:
    """Train the submission's recipe in ``worker`` (a new Worker) and score it.

    Never raises for anything the submission does.

    ``wall_end``: a monotonic instant nothing may run past (the submission's budget);
    ``on_start(pid)``: told the worker's pid once it runs (the judge kills it with itself).
    """
    started = time.monotonic()
    result = ChallengeRun(budget=float(budget))
    try:
        recipe = read_recipe(submission)
        if recipe is None:
            result.message = (
                f"no {exercises.CHALLENGE_FILE} in your submission: put your recipe there "
                "(lesson 07's bundle has one to start from)"
            )
            return result
        result.recipe = recipe
        config = recipe_config(recipe)
    except Refused as refused:
        result.status, result.message = "refused", str(refused)
        return result
    result.config = asdict(config)
    result.config["hidden"] = list(config.hidden)
    result.epochs = declared = int(config.epochs)
    sizes = tuple(int(s) for s in config.sizes)
    scramble = scramble or Scramble.draw()
    images, labels = scramble.images(data.train_images), scramble.labels(data.train_labels)
    kept: dict[str, Any] = {}
    cpu_start = 0.0
    calls = 0  # epochs reported (the log keeps the first HISTORY_LIMIT)

    def on_epoch(row: Any = None, weights: Any = None, *_: Any, **__: Any) -> bool:
        nonlocal calls
        cpu = worker.cpu_seconds() - cpu_start
        calls += 1
        epoch = calls
        logged = _row(row, cpu)
        if len(result.history) < HISTORY_LIMIT:
            result.history.append(logged)
        if cpu > budget:
            result.stopped = (
                f"the CPU budget of {budget:g} s ran out during epoch {epoch} (it ended at "
                f"{cpu:.2f} s): scored on the last epoch that ended within it"
            )
            raise _Stop
        try:
            checked = check_weights(weights, sizes)
        except Refused as refused:
            result.stopped = f"the weights after epoch {epoch} were refused: {refused}"
            raise _Stop from None
        if config.early_stopping:
            # The run hands in its best epoch's weights so far (the lowest validation loss,
            # the first of equals, as EarlyStopping keeps them): label them with that epoch.
            losses = [r["val_loss"] for r in result.history]
            finite = [(loss, i) for i, loss in enumerate(losses) if loss is not None]
            best = min(finite)[1] if finite else len(losses) - 1
            logged, epoch = result.history[best], best + 1
        kept.update(weights=checked, epoch=epoch, cpu=cpu, row=logged)
        if calls == declared:  # the recipe's last epoch: nothing after it is scored
            raise _Stop
        return False

    try:
        # The worker's own CPU limit: the budget and the import (not the course's 300 s).
        worker.limits = dataclasses.replace(worker.limits, cpu_seconds=cpu_limit(budget))
        worker.deadline = min(wall_end, time.monotonic() + IMPORT_SECONDS)
        worker.start()
        if on_start is not None and worker.process is not None:
            on_start(worker.process.pid)
        # Counted from here, before any code of the submission ran: what its import does
        # (training at import time, say) is training time too.
        cpu_start = worker.cpu_seconds()
        connect(worker)  # imports numpynet: the limits are read back after it
        train = worker.request("import", module="numpynet.train")
        worker.deadline = min(wall_end, time.monotonic() + WALL_FACTOR * budget + 5)
        train.challenge_fit(recipe, images, labels, on_epoch=on_epoch)
    except _Stop:
        pass
    except WorkerFailure as failure:
        result.stopped = _failure_text(failure, budget, calls)
    except Exception as error:  # noqa: BLE001 - the student's code raised: score what came
        text = f"your code raised {type(error).__name__}: {error}"
        trace = getattr(error, "remote_traceback", "")
        result.stopped = (text + ("\n" + trace.rstrip() if trace else ""))[:2000]
    finally:
        worker.deadline = None
        worker.close()
    result.epochs_done = calls
    result.wall_seconds = round(time.monotonic() - started, 2)
    if "weights" not in kept:
        result.status = "failed"
        result.message = result.stopped or "the run handed back no weights"
        return result
    weights = scramble.undo(kept["weights"])
    accuracy, loss = test_metrics(weights, data.X_test, data.y_test)
    result.status = "scored"
    result.accuracy, result.test_loss = accuracy, loss
    result.scored_epoch, result.seconds = kept["epoch"], round(kept["cpu"], 2)
    result.val_accuracy = kept["row"].get("val_acc")
    result.message = (
        f"test accuracy {accuracy:.2%} with the weights of epoch {kept['epoch']} "
        f"({kept['cpu']:.1f} s of CPU of {budget:g})"
    )
    return result


def _failure_text(failure: BaseException, budget: float, epochs: int) -> str:
    after = f"after {epochs} epoch{'s' if epochs != 1 else ''}"
    if isinstance(failure, WorkerTimeout):
        return (
            f"stopped by the wall-clock limit ({WALL_FACTOR:g} x the CPU budget) {after}: {failure}"
        )
    text = str(failure)
    # Killed by the kernel: SIGXCPU, then SIGKILL, at the RLIMIT_CPU (bubblewrap reports its
    # child's signal as the exit code 128 + the signal's number).
    if any(sign in text for sign in ("SIGXCPU", "SIGKILL", "exit code 152", "exit code 137")):
        return (
            f"stopped by the CPU limit ({cpu_limit(budget)} s: the budget of {budget:g} s and "
            f"the import) {after}: {text}"
        )
    return f"the sandboxed run died {after}: {text}"


def rows(run_: ChallengeRun) -> list[ExerciseResult]:
    """One ExerciseResult per ``exercises.CHALLENGE`` entry: full points at its threshold."""
    out = []
    for entry in exercises.CHALLENGE:
        name = f"challenge: test accuracy >= {entry.threshold:.0%}"
        if run_.status == "scored":
            assert run_.accuracy is not None and entry.threshold is not None
            reached = run_.accuracy >= entry.threshold
            outcome = "passed" if reached else "failed"
            message = "" if reached else f"{run_.message}: below {entry.threshold:.0%}"
        else:
            outcome = {"no recipe": "not started", "refused": "failed"}.get(run_.status, "error")
            if run_.status == "failed" and "wall-clock" in run_.message:
                outcome = "timeout"
            message = run_.message
        row = CheckResult(name, entry.id, "public", outcome, message)
        out.append(summarise(entry, [row]))
    return out
