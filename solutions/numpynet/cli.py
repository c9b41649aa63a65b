"""``python -m numpynet train``: train the MLP on MNIST and write a run folder.

Run from the course root it trains YOUR package (numpynet/); until every exercise
it needs is done it stops with a message naming the first missing one.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .train import (
    DEFAULT_LR,
    FIGURES,
    OPTIMIZERS,
    RECIPE_KEYS,
    SCHEDULES,
    VALIDATION_FIGURES,
    TrainConfig,
    load_recipe,
    load_splits,
    run,
    validation_splits,
)

# What a generated stub raises: "Exercise 2.1: softmax - see lessons/02_....ipynb".
_STUB = re.compile(r"^Exercise (?P<number>[\w.]+): (?P<rest>.*)$", re.DOTALL)


def not_implemented_message(error: NotImplementedError) -> str:
    """A one-line explanation of a stub's NotImplementedError, for the terminal."""
    text = str(error).strip()
    match = _STUB.match(text)
    if match:
        return f"Exercise {match['number']} not implemented yet: {match['rest']}"
    return f"Not implemented yet: {text or type(error).__name__}"


class _Given(argparse.Action):
    """``store``, and the option listed in ``namespace.given``.

    ``--recipe`` sets every hyper-parameter, so it refuses any given with it, even at its
    default value.
    """

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = [*getattr(namespace, "given", []), option_string]


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``train`` (options default to ``TrainConfig``'s) and ``data``."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m numpynet",
        description="Train the NumPyNet MLP on MNIST.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train on MNIST, then write metrics, the model and figures",
        description=(
            "Train the MLP on MNIST: a validation split is held out of the 60,000 training "
            "images, the test accuracy is measured on the 10,000 test images. Writes "
            "metrics.json, metrics.csv, model.npz and " + ", ".join(FIGURES) + " to --out. "
            "With --recipe: the class challenge's run, validation accuracy only."
        ),
    )
    train.set_defaults(given=[])
    train.add_argument(
        "--recipe",
        type=Path,
        default=None,
        help="train with a class-challenge recipe (a JSON file such as challenge.json) instead "
        "of the options below, on the training images only: reports the validation accuracy, "
        "never loads the test set",
    )
    train.add_argument(
        "--epochs",
        action=_Given,
        type=int,
        default=defaults.epochs,
        help="passes over the data (%(default)s)",
    )
    train.add_argument(
        "--batch-size",
        action=_Given,
        type=int,
        default=defaults.batch_size,
        help="images per step (%(default)s)",
    )
    lr_defaults = ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LR.items())
    train.add_argument(
        "--lr", action=_Given, type=float, default=None, help=f"initial rate ({lr_defaults})"
    )
    train.add_argument(
        "--optimizer",
        action=_Given,
        choices=OPTIMIZERS,
        default=defaults.optimizer,
        help="(%(default)s)",
    )
    train.add_argument(
        "--momentum",
        action=_Given,
        type=float,
        default=defaults.momentum,
        help="SGD only (%(default)s)",
    )
    train.add_argument(
        "--weight-decay",
        action=_Given,
        type=float,
        default=None,
        help="adam: L2 penalty added to the gradient (default 0); adamw: decoupled decay "
        "(default 0.01)",
    )
    train.add_argument(
        "--dropout",
        action=_Given,
        type=float,
        default=defaults.dropout,
        help="dropout probability after each hidden layer (%(default)s: none)",
    )
    train.add_argument(
        "--early-stopping",
        action=_Given,
        type=int,
        default=None,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a lower validation loss and keep the best "
        "epoch's weights (default: train every epoch)",
    )
    train.add_argument(
        "--schedule",
        action=_Given,
        choices=SCHEDULES,
        default=defaults.schedule,
        help="learning rate per epoch: constant, cosine decay towards 0, or step decay "
        "(%(default)s)",
    )
    train.add_argument(
        "--step-size",
        action=_Given,
        type=int,
        default=defaults.step_size,
        help="step schedule: epochs between decays (%(default)s)",
    )
    train.add_argument(
        "--gamma",
        action=_Given,
        type=float,
        default=defaults.gamma,
        help="step schedule: factor per decay (%(default)s)",
    )
    train.add_argument(
        "--hidden",
        action=_Given,
        type=int,
        nargs="+",
        default=list(defaults.hidden),
        help="hidden layer widths (%(default)s)",
    )
    train.add_argument(
        "--seed",
        action=_Given,
        type=int,
        default=defaults.seed,
        help="fixes the validation split, initial weights and batch order (%(default)s)",
    )
    train.add_argument(
        "--val-size",
        action=_Given,
        type=int,
        default=defaults.val_size,
        help="training images held out for validation (%(default)s)",
    )
    train.add_argument(
        "--out", type=Path, default=Path("runs/train"), help="output folder (%(default)s)"
    )
    train.add_argument(
        "--data-dir", help="folder with the MNIST files (default: MNIST_DIR, then the cache)"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    # For tests and quick demos: train/test on the first N images only.
    train.add_argument("--limit-train", type=int, default=None, help=argparse.SUPPRESS)
    train.add_argument("--limit-test", type=int, default=None, help=argparse.SUPPRESS)
    # `data` is numpynet.mnist's own command line, reachable from here too.
    commands.add_parser(
        "data",
        add_help=False,
        help="find or download MNIST and verify its checksums (see --help)",
    )
    return parser


def train_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``train``: check the options, find MNIST, train, print where the results went.

    Args:
        args: the parsed options of ``train``.
        parser: reports invalid options (``parser.error`` exits with status 2).

    Returns:
        the process exit status: 0 on success, 1 when MNIST can be neither found nor
        downloaded.
    """
    from .mnist import MNISTError, ensure_mnist

    if args.recipe is not None:
        return recipe_command(args, parser)
    try:
        config = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer=args.optimizer,
            momentum=args.momentum,
            schedule=args.schedule,
            step_size=args.step_size,
            gamma=args.gamma,
            seed=args.seed,
            val_size=args.val_size,
            hidden=tuple(args.hidden),
            limit_train=args.limit_train,
            limit_test=args.limit_test,
            weight_decay=args.weight_decay,
            dropout=args.dropout,
            early_stopping=args.early_stopping,
        )
    except ValueError as error:
        parser.error(str(error))  # exits with status 2
    try:
        ensure_mnist(args.data_dir)  # download, or fail clearly, before any work
        splits = load_splits(config, args.data_dir)
    except MNISTError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # e.g. --val-size larger than the training set
        parser.error(str(error))
    print(
        f"Training a {'-'.join(map(str, config.sizes))} MLP on {len(splits.X_train):,} images "
        f"(validation {len(splits.X_val):,}, test {len(splits.X_test):,}): {config}"
    )
    result = run(config, args.out, splits=splits, progress=not args.no_progress)
    # With early stopping the model holds the best epoch's weights: report that epoch.
    last = result.history[(result.best_epoch or len(result.history)) - 1]
    epochs = len(result.history)
    kept = f", weights of epoch {result.best_epoch}" if result.best_epoch is not None else ""
    print(
        f"validation accuracy {last['val_acc']:.2%}, "
        f"TEST accuracy {result.test_acc:.2%} (loss {result.test_loss:.4f}) "
        f"after {epochs} epochs{kept}"
    )
    print(f"wrote metrics.json, metrics.csv, model.npz and {len(FIGURES)} figures to {args.out}")
    return 0


def recipe_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``train --recipe FILE``: the class challenge's run, on the training images alone.

    The recipe's ``val_size`` images are held out of the 60,000 training images (chosen by
    its seed) and the rest train the MLP, as the grader's sandbox does (there the pixels and
    labels are scrambled by a secret permutation, which an MLP does not care about). The
    test set is never loaded: only the grader measures the test accuracy.

    Returns:
        0 on success; 1 when MNIST can be neither found nor downloaded; 2 for a bad recipe
        file (its message, no traceback) or ``--recipe`` given with a hyper-parameter
        option (a usage error).
    """
    from .mnist import MNISTError, load_mnist

    clash = [option for option in args.given if option]
    if clash:
        parser.error(
            f"--recipe cannot be combined with {', '.join(dict.fromkeys(clash))}: the recipe "
            f"sets every hyper-parameter ({', '.join(RECIPE_KEYS)}); edit it instead"
        )
    try:
        config = load_recipe(args.recipe)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.limit_train is not None:  # hidden option, for tests: the first N images only
        config = replace(config, limit_train=args.limit_train)
    try:
        X, y = load_mnist("train", args.data_dir)
        splits = validation_splits(X, y, config)
    except MNISTError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:  # val_size not below the number of images (with a limit)
        print(f"error: {args.recipe}: {error}", file=sys.stderr)
        return 2
    print(
        f"Recipe {args.recipe}: training a {'-'.join(map(str, config.sizes))} MLP on "
        f"{len(splits.X_train):,} images, validation {len(splits.X_val):,}; the test set is not "
        f"loaded: the test accuracy is measured by the grader only. {config}"
    )
    start = time.process_time()
    result = run(config, args.out, splits=splits, progress=not args.no_progress)
    cpu = time.process_time() - start
    last = result.history[(result.best_epoch or len(result.history)) - 1]
    kept = f", weights of epoch {result.best_epoch}" if result.best_epoch is not None else ""
    print(
        f"VALIDATION accuracy {last['val_acc']:.2%} (loss {last['val_loss']:.4f}) after "
        f"{len(result.history)} epochs{kept}, {cpu:.1f} s of CPU time (training, measuring "
        "and writing the outputs, all threads)."
    )
    print(
        "The grader's log of this recipe shows a validation accuracy within seed noise of "
        "this one (not to the digit: it scrambles the pixels and labels); it scores the test "
        "accuracy, which it measures itself."
    )
    print(
        f"wrote metrics.json (test: null), metrics.csv, model.npz and "
        f"{' and '.join(VALIDATION_FIGURES)} to {args.out}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:
        from .mnist import main as data_main

        data_main(argv[1:], prog="python -m numpynet data")
        return 0
    args = parser.parse_args(argv)
    try:
        return train_command(args, parser)
    except NotImplementedError as error:
        # The student's package is not finished: say which exercise, without a traceback.
        print(not_implemented_message(error), file=sys.stderr)
        return 2
