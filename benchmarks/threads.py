"""Thread control for the benchmark: one thread count for NumPy's BLAS and for PyTorch.

``prepare_threads(n)`` sets the usual environment variables, read by OpenBLAS, MKL and
OpenMP when they load, so it runs before numpy is imported. When the well-kept
``threadpoolctl`` is installed, ``limit_threads(n)`` also holds the pools of the loaded
libraries at n, and ``thread_report`` tells what each pool really runs with. PyTorch
gets ``torch.set_num_threads(n)`` from its runner (see ``torch_peer.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

# The variables OpenBLAS, MKL, BLIS and OpenMP runtimes read when they load.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)
# Set on some processors of this workplace for old OpenBLAS builds; they can slow a
# current one. Reported, never changed here (see benchmarks/README.md).
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# What threadpoolctl tells of each pool; "architecture" is the OpenBLAS kernel in use.
POOL_KEYS = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")


def prepare_threads(n: int | None) -> None:
    """Ask for ``n`` threads through the environment; call BEFORE importing numpy or torch.

    OpenBLAS, MKL and OpenMP read these variables once, when they load.
    """
    if n is None:
        return
    if n < 1:
        raise ValueError(f"the thread count must be at least 1, got {n}")
    if "numpy" in sys.modules:
        print(
            "warning: numpy already imported: the thread variables come too late", file=sys.stderr
        )
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)


def limit_threads(n: int | None) -> contextlib.AbstractContextManager[Any]:
    """Hold every LOADED native pool at ``n`` threads while the returned context is open.

    Uses threadpoolctl when installed (call it after importing numpy and torch, so it
    sees their pools); without it, a no-op and ``prepare_threads`` does the work.
    """
    if n is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n)


def thread_report() -> dict[str, Any]:
    """What each native thread pool runs with, and the OpenBLAS variables in force."""
    report: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "environment": {
            name: os.environ.get(name) for name in THREAD_VARIABLES + OPENBLAS_VARIABLES
        },
    }
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        report["threadpoolctl"] = None
        report["pools"] = []
        return report
    report["threadpoolctl"] = True
    report["pools"] = [{key: pool.get(key) for key in POOL_KEYS} for pool in threadpool_info()]
    return report
