"""Accuracy benchmark: the trainer's defaults on MNIST, over several seeds.

Trains the reference 784-128-10 MLP with ``TrainConfig()`` (the defaults of
``python -m numpynet train``) once per seed and reports each seed's TEST accuracy (the
10,000 test images), validation accuracy and seconds per epoch, then the mean. The
course's target: a mean test accuracy of at least 98.0% over 3 seeds, in 10 epochs.

    python benchmarks/accuracy.py                 # seeds 0, 1, 2
    python benchmarks/accuracy.py --seeds 5 --threads 1

Results go to benchmarks/results/accuracy.json (gitignored) unless ``--out`` says otherwise.
MNIST is found as ``load_mnist`` finds it (``--data-dir``, then MNIST_DIR, then the cache).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.98


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds (0, 1, ...)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="default: the trainer's")
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST files")
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: the library's)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy.json"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from threads import prepare_threads  # benchmarks/threads.py, beside this script

    prepare_threads(args.threads)  # before numpy loads its BLAS
    sys.path.insert(0, str(ROOT / "solutions"))  # the reference, not the student stubs
    import numpy as np

    from numpynet import evaluate, load_mnist, train

    X, y = load_mnist("train", args.data_dir)
    X_test, y_test = load_mnist("test", args.data_dir)
    defaults = train.TrainConfig()
    epochs = args.epochs or defaults.epochs
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        config = train.TrainConfig(seed=seed, epochs=epochs)
        splits = train.make_splits(X, y, X_test, y_test, config)
        start = time.perf_counter()
        result = train.fit(train.build_model(config), splits, config, progress=False)
        wall = time.perf_counter() - start
        test_loss, test_acc = evaluate(result.model, splits.X_test, splits.y_test)
        seconds = [row["seconds"] for row in result.history]
        row = {
            "seed": seed,
            "test_acc": test_acc,
            "test_loss": test_loss,
            "val_acc": result.history[-1]["val_acc"],
            "seconds_per_epoch": float(np.mean(seconds)),
            "wall_seconds": wall,
        }
        runs.append(row)
        print(
            f"seed {seed}: test accuracy {test_acc:.2%} (loss {test_loss:.4f}), "
            f"validation {row['val_acc']:.2%}, {row['seconds_per_epoch']:.2f} s/epoch "
            f"({wall:.0f} s with evaluation)",
            flush=True,
        )
    accuracies = np.array([r["test_acc"] for r in runs])
    summary = {
        "config": {**asdict(train.TrainConfig(epochs=epochs)), "seed": "per run"},
        "runs": runs,
        "mean_test_acc": float(accuracies.mean()),
        "min_test_acc": float(accuracies.min()),
        "std_test_acc": float(accuracies.std(ddof=1)) if len(runs) > 1 else 0.0,
        "mean_seconds_per_epoch": float(np.mean([r["seconds_per_epoch"] for r in runs])),
        "target": TARGET,
        "meets_target": bool(accuracies.mean() >= TARGET),
        "threads": args.threads,
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.machine(),
        },  # fmt: skip
    }
    print(
        f"mean test accuracy over {len(runs)} seeds: {summary['mean_test_acc']:.2%} "
        f"(min {summary['min_test_acc']:.2%}, std {summary['std_test_acc']:.2%}); "
        f"target {TARGET:.1%}: {'met' if summary['meets_target'] else 'NOT met'}; "
        f"{summary['mean_seconds_per_epoch']:.2f} s/epoch"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return summary


if __name__ == "__main__":
    main()
