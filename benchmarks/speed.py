"""Speed benchmark: seconds per training epoch of the 784-128-10 MLP, and RATIOS.

One run times, side by side on the same data and the same batches, at each batch size:

* reference  the course's numpynet (solutions/): train_epoch with DataLoader(shuffle=True),
             MLP, CrossEntropyLoss, RMSProp;
* pytorch    the same model, weights, optimiser (torch.optim.RMSprop, same lr/alpha/eps)
             and batches (the same numpy arrays, shared through torch.from_numpy), on CPU;
* fused      the fastest one-process plain-NumPy loop we know (fused_numpy.py: one flat
             buffer for all parameters, gradients written in place);
* parallel, fused-parallel
             the reference's classes, and the fused loop, run data-parallel on --threads
             processes with one BLAS thread each (data_parallel.py): what keeping every
             core busy buys (skipped with --threads 1; they need threadpoolctl);
* original   the loop a student starts from (original_numpynet.py: float64, unscaled init,
             summed loss);
* floor      the epoch's matrix-multiply FLOPs / the float32 GEMM rate measured now.

Machines differ: compare the ratios, not the seconds. Usage (from the repository root):

    .venv/bin/python benchmarks/speed.py [--threads N] [--repeats R] [--batch-sizes ...]

PyTorch is optional (``pip install -e '.[bench]'``); without it the rest still runs.
Results go to benchmarks/results/speed.json (gitignored) unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import threads  # stdlib only; must configure the thread pools before numpy loads

ROOT = Path(__file__).resolve().parents[1]
SIZES = (784, 128, 10)
# The course's RMSProp defaults (alpha and eps are PyTorch's; its lr default is 1e-2).
OPTIM = {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8}
RUNNERS = ("reference", "pytorch", "fused", "parallel", "fused-parallel", "original")
# Idle seconds before each timed epoch. OpenBLAS's threads spin for about 0.1 s after
# their last product before they sleep (and OpenMP's for a while too): without a pause
# they would take a core from whichever runner comes next.
SETTLE_SECONDS = 0.3
# Other plain-NumPy ways to train, held to the reference's targets for scale.
ALTERNATIVES = ("fused", "parallel", "fused-parallel")
# The speed target (reference / peer), per batch size: see benchmarks/README.md. The
# reference is written for the reader (each exercise as its lesson's equation), not for
# speed; the other ratios are printed, not judged.
TARGETS = {"reference/pytorch": {128: 0.8}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per runner")
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        help="threads for numpy's BLAS and for torch (default: the usable cores)",
    )
    parser.add_argument(
        "--data",
        nargs="+",
        choices=["synthetic", "mnist"],
        default=["synthetic", "mnist"],
        help="data sets to time on (mnist is skipped with a note when absent)",
    )
    parser.add_argument("--samples", type=int, default=60000, help="training rows per epoch")
    parser.add_argument(
        "--mnist-dir", default=os.environ.get("MNIST_DIR"), help="default: $MNIST_DIR"
    )
    parser.add_argument("--runners", nargs="+", choices=RUNNERS, default=list(RUNNERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--gemm-seconds", type=float, default=0.25, help="time spent measuring each GEMM shape"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        help="idle seconds before each timed epoch (see SETTLE_SECONDS)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed.json")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.samples < 1 or min(args.batch_sizes) < 1:
        parser.error("--repeats, --samples and --batch-sizes must be positive")
    if args.settle < 0:
        parser.error("--settle must be >= 0")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    threads.prepare_threads(args.threads)
    # Only now: numpy, the reference and torch load with the thread count in force.
    import epochs
    from gemm_floor import epoch_flops, measure_gemm_rates
    from torch_peer import load_torch

    np = epochs.np
    torch = load_torch(args.threads) if "pytorch" in args.runners else None
    if "pytorch" in args.runners and torch is None:
        print(
            "NOTE: PyTorch is not installed: the pytorch column and its ratios are skipped.\n"
            "      Install the optional extra: .venv/bin/python -m pip install -e '.[bench]'\n"
        )
    with threads.limit_threads(args.threads):
        environment = describe_environment(np, torch, args.threads)
        print_environment(environment)

        # The GEMM rate is measured before and after the epochs; the floor takes the best.
        gemm = [
            row | {"when": "before"}
            for row in measure_gemm_rates(SIZES, args.batch_sizes, seconds=args.gemm_seconds)
        ]
        print(f"float32 GEMM rate: {max(row['gflops'] for row in gemm):.1f} GFLOP/s (before)\n")

        datasets = {}
        if "synthetic" in args.data:
            datasets["synthetic"] = epochs.synthetic_data(args.samples, SIZES, args.seed)
        if "mnist" in args.data and (real := epochs.mnist_data(args.samples, args.mnist_dir)):
            datasets["mnist"] = real
        timed = []
        for name, (X, y) in datasets.items():
            X64 = X.astype(np.float64) if "original" in args.runners else None  # not timed
            for batch_size in args.batch_sizes:
                with ExitStack() as cleanup:
                    trainers = epochs.make_trainers(
                        X,
                        X64,
                        y,
                        batch_size,
                        SIZES,
                        OPTIM,
                        args.seed,
                        torch,
                        args.runners,
                        args.threads,
                        cleanup,
                    )
                    times, losses = epochs.time_epochs(trainers, args.repeats, args.settle)
                timed.append((name, batch_size, len(X), times, losses))
                print_row(name, batch_size, times)
        gemm += [
            row | {"when": "after"}
            for row in measure_gemm_rates(SIZES, args.batch_sizes, seconds=args.gemm_seconds)
        ]
    peak = max(row["gflops"] for row in gemm)
    print(f"\nfloat32 GEMM rate, best of the epoch's large products: {peak:.1f} GFLOP/s\n")
    results = [summarise(*row, floor_s=epoch_flops(SIZES, row[2]) / (peak * 1e9)) for row in timed]
    report = {
        "command": " ".join(["python", *sys.argv]),
        "environment": environment,
        "sizes": SIZES,
        "optimizer": {"name": "RMSProp", **OPTIM},
        "repeats": args.repeats,
        "settle_seconds": args.settle,
        "gemm": {"rates": gemm, "peak_gflops": peak},
        "targets": {key: {str(b): v for b, v in t.items()} for key, t in TARGETS.items()},
        "results": results,
    }
    if hasattr(os, "getloadavg"):
        environment["load_average_at_end"] = os.getloadavg()
    print_table(results)
    busy = (environment.get("load_average_at_start") or (0.0,))[0]  # the last minute
    if busy > environment["thread_pools"]["cpu_count"]:
        print(f"\nWARNING: load average {busy:.1f} > cores: other work competed; re-run when idle.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {args.out}")
    return report


def summarise(
    data: str,
    batch_size: int,
    n: int,
    times: dict[str, list[float]],
    losses: dict[str, list[float]],
    floor_s: float,
) -> dict[str, Any]:
    seconds = {name: statistics.median(t) for name, t in times.items()}
    seconds["floor"] = floor_s
    ratios = {}
    # The targeted ratios, for the reference and (for scale) each plain-NumPy alternative.
    for runner in ("reference", *ALTERNATIVES):
        for peer in ("pytorch", "floor"):
            if runner in seconds and peer in seconds:
                ratios[f"{runner}/{peer}"] = seconds[runner] / seconds[peer]
    for slower, faster in (("reference", "fused"), ("original", "reference")):
        if slower in seconds and faster in seconds:
            ratios[f"{slower}/{faster}"] = seconds[slower] / seconds[faster]
    return {
        "data": data,
        "batch_size": batch_size,
        "samples": n,
        "seconds_per_epoch": seconds,
        "ratios": ratios,
        "all_seconds": times,
        "mean_loss_per_epoch": losses,
    }


def verdict(key: str, batch_size: int, value: float) -> str:
    """`` (<= 0.5: ok)`` for a targeted ratio; alternatives get the reference's targets."""
    peer = key.split("/")[1]
    target = TARGETS.get(f"reference/{peer}", {}).get(batch_size)
    if target is None:
        return ""
    return f" (<= {target}: {'ok' if value <= target else 'MISSED'})"


def print_row(data: str, batch_size: int, times: dict[str, list[float]]) -> None:
    seconds = ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in times.items())
    print(f"  {data:<9} batch {batch_size:>4}: {seconds} s/epoch", flush=True)


def _cells(values: dict[str, float], keys: tuple[str, ...], fmt: str) -> str:
    return " ".join(format(values[k], fmt) if k in values else f"{'-':>9}" for k in keys)


def print_table(results: list[dict[str, Any]]) -> None:
    columns = ("reference", "pytorch", "original", "floor", *ALTERNATIVES)
    ratio_names = ("reference/pytorch", "reference/floor", "original/reference")
    head = (
        f"{'data':<9} {'batch':>5} | {' '.join(f'{c[:9]:>9}' for c in columns)} | "
        f"{'ref/torch':>9} {'ref/floor':>9} {'orig/ref':>9}"
    )
    print("seconds per epoch (median), and ratios\n" + head + "\n" + "-" * len(head))
    for row in results:
        s, r = row["seconds_per_epoch"], row["ratios"]
        print(
            f"{row['data']:<9} {row['batch_size']:>5} | {_cells(s, columns, '9.3f')} | "
            f"{_cells(r, ratio_names, '9.2f')}"
        )
    print("\ntargets:")
    for runner in ("reference", *ALTERNATIVES):
        if runner != "reference":
            if not any(runner in row["seconds_per_epoch"] for row in results):
                continue
            print(f"  for scale, {runner} held to the same targets:")
        for peer in ("pytorch", "floor"):
            key, targeted = f"{runner}/{peer}", TARGETS.get(f"reference/{peer}", {})
            for row in results:
                if key in row["ratios"] and row["batch_size"] in targeted:
                    value = row["ratios"][key]
                    print(
                        f"  {row['data']:<9} batch {row['batch_size']:>4} {key:<22} {value:5.2f}"
                        + verdict(key, row["batch_size"], value)
                    )


def describe_environment(np: Any, torch: Any, n_threads: int | None) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": cpu_model(),
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
        "threads_requested": n_threads,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "thread_pools": threads.thread_report(),
        # A shared machine's other work skews every runner: reported, start and end.
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_environment(env: dict[str, Any]) -> None:
    pools = env["thread_pools"]
    print(f"CPU: {env['processor']} ({pools['cpu_count']} logical cores), Python {env['python']}")
    print(f"numpy {env['numpy']}, torch {env['torch'] or 'NOT INSTALLED'}")
    print(f"threads: {env['threads_requested']} requested; torch uses {env['torch_threads']}")
    if env["load_average_at_start"]:
        print(f"load average (1, 5, 15 min): {env['load_average_at_start']}")
    if pools["threadpoolctl"] is None:
        print("  threadpoolctl not installed: limits set through environment variables only")
    for pool in pools["pools"]:
        arch = f", kernel {pool['architecture']}" if pool.get("architecture") else ""
        print(
            f"  {pool['prefix']} {pool['version'] or ''} ({pool['user_api']}): "
            f"{pool['num_threads']} threads{arch}"
        )
    openblas = {k: pools["environment"][k] for k in threads.OPENBLAS_VARIABLES}
    print(f"  {', '.join(f'{k}={v}' for k, v in openblas.items())}\n")


if __name__ == "__main__":
    main()
