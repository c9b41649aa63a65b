"""How fast does the sandboxed grader grade a class, against nbgrader on one notebook?

    python benchmarks/grading.py [--submissions 100] [--jobs 1 2 N] [--nbgrader auto|skip]

Builds a class of N submissions - the example submissions (reference, independent,
stubs, every catalogued bug; each with the six lesson notebooks) and the hostile ones
that finish (the two infinite loops are timed apart: by design each costs one
--timeout) - cycled to N, grades it with ``grade_all`` (bubblewrap when available, the
real public and hidden checks), and prints submissions per minute and seconds per
submission, package only and full (package + notebooks, answer cells sandboxed, the
gradebook written), at each --jobs (default 1, 2 and every core), with what 300 and
3,000 students would take at that rate and the machine's load average. The peer,
run in the same script: nbgrader's autograde of the notebooks in kernels, through the
course's glue (autograder.nbgrader_course) when it works, else a trivial one-cell course.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.cli import grade_all  # noqa: E402
from autograder.examples import build_example_submissions  # noqa: E402
from autograder.examples.hostile import HOSTILE, materialise  # noqa: E402
from autograder.grade import Grader  # noqa: E402
from autograder.sandbox import choose  # noqa: E402

SLOW_HOSTILE = {"loop_at_import", "loop_in_exercise"}


def build_class(folder: Path, count: int) -> list[str]:
    """``count`` submissions in ``folder``; returns the kinds in order."""
    pool = folder.parent / "pool"
    sources = build_example_submissions(pool)
    sources += [materialise(h, pool) for h in HOSTILE if h.name not in SLOW_HOSTILE]
    kinds = []
    for index in range(count):
        source = sources[index % len(sources)]
        shutil.copytree(source, folder / f"s{index:03d}_{source.name}")
        kinds.append(source.name)
    return kinds


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the workers), user + system."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_class(
    count: int, jobs: int, timeout: float, notebooks: str = "skip"
) -> tuple[float, float, float]:
    """(wall s, wall s x jobs / count, CPU s / count) for grading ``count`` submissions.

    The CPU time includes the pool's processes and all their sandboxed workers (each
    level waits for its children, so their times add up in RUSAGE_CHILDREN).
    """
    with tempfile.TemporaryDirectory(prefix="npn-bench-") as tmp:
        folder = Path(tmp) / "class"
        build_class(folder, count)
        started, cpu = time.perf_counter(), cpu_seconds()
        results = grade_all(
            folder, Path(tmp) / "out", jobs, timeout=timeout, notebooks=notebooks, progress=False
        )
        wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    assert len(results) == count
    return wall, wall * jobs / count, cpu / count


def time_one_process(count: int, notebooks: str = "skip") -> tuple[float, float]:
    """(wall, CPU) seconds per submission in one warm grading process (no pool start-up).

    CPU seconds are what one core spends per submission, grader and sandboxed worker
    together: unlike wall time they do not grow when other work shares the machine.
    """
    with tempfile.TemporaryDirectory(prefix="npn-bench-") as tmp:
        folder = Path(tmp) / "class"
        build_class(folder, count)
        grader = Grader("auto", notebooks=notebooks)
        grader.grade(folder / sorted(os.listdir(folder))[0])  # warm: imports, collection
        grader.close()  # reaps its judge: the CPU the judge spent is counted (on both sides)
        started, cpu = time.perf_counter(), cpu_seconds()
        for name in sorted(os.listdir(folder)):
            grader.grade(folder / name)
        grader.close()
        return (time.perf_counter() - started) / count, (cpu_seconds() - cpu) / count


def time_loops(timeout: float) -> float:
    """Seconds to grade the two looping submissions with a per-exercise ``timeout``."""
    with tempfile.TemporaryDirectory(prefix="npn-bench-") as tmp:
        grader = Grader("auto", timeout=timeout, notebooks="skip")
        started = time.perf_counter()
        for entry in HOSTILE:
            if entry.name in SLOW_HOSTILE:
                grader.grade(materialise(entry, tmp))
        return time.perf_counter() - started


def time_nbgrader_glue() -> float:
    """nbgrader autograde through autograder.nbgrader_course, per notebook.

    A student handing in all lesson notebooks (the released student versions, with the
    reference package): the glue runs ONE ``nbgrader autograde`` for all of them, so the
    per-notebook figure is its time divided by their number.
    """
    from autograder.nbgrader_course import autograde_submission

    with tempfile.TemporaryDirectory(prefix="npn-bench-") as tmp:
        submission = Path(tmp) / "student"
        shutil.copytree(ROOT / "solutions" / "numpynet", submission / "numpynet")
        shutil.copytree(ROOT / "lessons", submission / "lessons")
        count = len(list((submission / "lessons").glob("*.ipynb")))
        started = time.perf_counter()
        report = autograde_submission(submission, student="bench")
        seconds = time.perf_counter() - started
        if not report.get("ok"):
            raise RuntimeError(f"nbgrader glue failed: {report.get('errors')}")
        return seconds / count


def time_nbgrader_trivial() -> float:
    """``nbgrader autograde`` of a one-cell notebook in a throw-away course."""
    import nbformat

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    with tempfile.TemporaryDirectory(prefix="npn-bench-") as tmp:
        course = Path(tmp)
        (course / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n"
        )
        cell = nbformat.v4.new_code_cell(
            "assert 1 + 1 == 2",
            metadata={
                "nbgrader": {
                    "grade": True,
                    "grade_id": "t",
                    "points": 1,
                    "solution": False,
                    "locked": True,
                    "schema_version": 3,
                }
            },
        )
        notebook = nbformat.v4.new_notebook(cells=[cell])
        for where in ("source/a", "submitted/student/a"):
            (course / where).mkdir(parents=True)
            nbformat.write(notebook, course / where / "one.ipynb")
        run = lambda *a: subprocess.run(  # noqa: E731
            ["nbgrader", *a], cwd=course, env=env, capture_output=True, text=True, check=True
        )
        run("generate_assignment", "a", "--force")
        started = time.perf_counter()
        run("autograde", "a", "--force")
        return time.perf_counter() - started


def default_jobs() -> list[int]:
    """1, 2 and every core (duplicates dropped: on a 2-core machine, 1 and 2)."""
    return sorted({1, 2, os.cpu_count() or 1})


def duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=default_jobs(), help="default: 1, 2, all cores"
    )
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--nbgrader", choices=("auto", "skip"), default="auto")
    parser.add_argument(
        "--one-process", choices=("auto", "skip"), default="auto", help="time one warm process"
    )
    args = parser.parse_args()

    print(choose("auto").summary)
    one = None
    for notebooks, what in (("skip", "package only"), ("auto", "full: package + six notebooks")):
        for jobs in args.jobs:
            load = os.getloadavg()[0]
            wall, per_core, cpu = time_class(args.submissions, jobs, args.timeout, notebooks)
            rate = 60 * args.submissions / wall
            print(
                f"grade-all, {what}, --jobs {jobs}: {rate:.1f} submissions per minute "
                f"({args.submissions} in {wall:.1f} s wall; {per_core:.2f} s x jobs and "
                f"{cpu:.2f} s CPU per submission; pool start-up and, with notebooks, the "
                f"nbgrader gradebook included); 300 students {duration(300 * 60 / rate)}, "
                f"3,000 students {duration(3000 * 60 / rate)}; load average "
                f"{load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores"
            )
        if args.one_process == "skip":
            continue
        one, cpu_one = time_one_process(min(args.submissions, 30), notebooks)
        print(
            f"one warm grading process, {what}: {one:.2f} s wall, {cpu_one:.2f} s CPU per "
            "submission (grader + sandboxed worker; no pool start-up)"
        )
    loops = time_loops(timeout=2.0)
    print(f"the two infinite-loop submissions with --timeout 2: {loops:.1f} s together")
    if args.nbgrader == "skip" or one is None:
        return
    trivial = time_nbgrader_trivial()
    print(f"nbgrader autograde of a one-cell notebook (throw-away course): {trivial:.2f} s")
    peer, what = trivial, "the one-cell notebook"
    try:
        peer, what = time_nbgrader_glue(), "one lesson notebook"
        print(
            f"nbgrader autograde in kernels (the untrusted way, through the course glue): "
            f"{peer:.2f} s per lesson notebook, {6 * peer:.1f} s for six"
        )
        print(f"ratio: full trusted submission (wall) = {one / (6 * peer):.2f} x nbgrader's six")
    except Exception as error:  # noqa: BLE001 - the trivial course stays the peer
        print(f"(course glue unavailable: {type(error).__name__}: {str(error)[:200]})")
    print(f"ratio: one sandboxed package grading (wall) = {one / peer:.2f} x nbgrader on {what}")


if __name__ == "__main__":
    main()
