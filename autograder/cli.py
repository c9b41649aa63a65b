"""Command line: ``python -m autograder {grade,grade-all,gradescope,release,examples} ...``.

grade SUBMISSION [--json P] [--gradescope P] [--feedback P]   one student, a table
grade-all FOLDER --jobs N --out DIR [--force] [--only NAME...]   a class, in parallel, resumable
gradescope --out autograder.zip [--hidden VIS] [--assignment A]  the Gradescope autograder
release [...]                                                 autograder.release.main
examples OUT                                                  write example submissions
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from . import gradebook, report
from .exercises import ASSIGNMENTS
from .grade import (
    DEFAULT_BUDGET,
    DEFAULT_TIMEOUT,
    Grader,
    SubmissionResult,
    fingerprint,
    submissions_in,
    summarise,
)
from .sandbox import Limits, choose
from .sandbox.isolation import MODES


def _grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--isolation",
        choices=MODES,
        default="auto",
        help="auto: bubblewrap when it works, else degrade and say so; bwrap: require it; "
        "none: no namespaces (student code can read files)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"wall-clock seconds per exercise (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--memory-gb", type=float, default=3.0, help="address-space limit of the worker (GiB)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        help="wall-clock seconds per submission, everything together; what has not run by "
        f"then is timeout (default {DEFAULT_BUDGET:g}: under Gradescope's default 10 minutes)",
    )
    parser.add_argument(
        "--notebooks",
        choices=("auto", "skip", "always"),
        default="auto",
        help="grade lessons/*.ipynb (answer cells sandboxed, tests trusted): auto = when the "
        "submission has them, always = a missing notebook scores 0",
    )
    parser.add_argument(
        "--assignment",
        choices=ASSIGNMENTS,
        default="course",
        help="course = the package and lessons 00-05 (default); lab = the debugging lab "
        "(lesson 06) alone; all = everything",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    one = sub.add_parser("grade", help="grade one submission folder (holding numpynet/)")
    one.add_argument("submission", type=Path)
    one.add_argument("--json", type=Path, help="write the full report as JSON")
    one.add_argument("--gradescope", type=Path, help="write Gradescope's results.json")
    one.add_argument("--feedback", type=Path, help="write markdown feedback for the student")
    _grading_options(one)

    many = sub.add_parser("grade-all", help="grade every subfolder of FOLDER in parallel")
    many.add_argument("folder", type=Path)
    many.add_argument("--jobs", type=int, default=2, help="grading processes (default 2)")
    many.add_argument(
        "--out",
        type=Path,
        required=True,
        help="class CSV, per-student reports and the nbgrader course (kept across runs)",
    )
    many.add_argument("--force", action="store_true", help="regrade every student, changed or not")
    many.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="regrade only these students (their sub-folder names), changed or not; the "
        "others keep their last report",
    )
    _grading_options(many)

    scope = sub.add_parser("gradescope", help="write the autograder zip to upload to Gradescope")
    scope.add_argument("--out", type=Path, default=Path("autograder.zip"))
    scope.add_argument(
        "--hidden",
        choices=report.VISIBILITIES,
        default="after_published",
        help="when students see what hidden checks and notebook test cells report "
        "(default after_published; public checks and every score are always visible)",
    )
    scope.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"wall-clock seconds per exercise (default {DEFAULT_TIMEOUT:g})",
    )
    scope.add_argument(
        "--assignment",
        choices=ASSIGNMENTS,
        default="course",
        help="what this Gradescope assignment grades: course (default), lab or all",
    )

    # Listed for --help; main() hands `release ...` to autograder.release.main untouched.
    sub.add_parser("release", help="generate the student material (see release --help)")
    examples = sub.add_parser("examples", help="write the example submissions into OUT")
    examples.add_argument("out", type=Path)
    return parser


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(memory_bytes=int(args.memory_gb * 1024**3))


def _grade_one(args: argparse.Namespace) -> int:
    if not args.submission.is_dir():
        print(f"no such folder: {args.submission}", file=sys.stderr)
        return 2
    grader = Grader(
        args.isolation,
        args.timeout,
        _limits(args),
        notebooks=args.notebooks,
        assignment=args.assignment,
        budget=args.budget,
    )
    result = grader.grade(args.submission)
    print(report.table(result))
    for path, content in (
        (args.json, lambda: json.dumps(report.to_json(result), indent=2) + "\n"),
        (args.gradescope, lambda: json.dumps(report.gradescope(result), indent=2) + "\n"),
        (args.feedback, lambda: report.feedback(result)),
    ):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content())
    return 0


# -- grade-all: one Grader per pool process, so the checks are collected once per process --
_POOL_GRADER: Grader | None = None


def _pool_start(
    isolation: str,
    timeout: float,
    limits: Limits,
    notebooks: str,
    assignment: str = "course",
    budget: float = DEFAULT_BUDGET,
) -> None:
    global _POOL_GRADER
    _die_with_parent()
    _POOL_GRADER = Grader(
        isolation, timeout, limits, notebooks=notebooks, assignment=assignment, budget=budget
    )


def _die_with_parent() -> None:
    """On Linux, be killed when grade-all dies, even by SIGKILL; elsewhere a no-op.

    No orphaned graders: their bubblewrap sandboxes die with them.
    """
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _pool_grade(path: str) -> dict:
    assert _POOL_GRADER is not None
    return _POOL_GRADER.grade(path).to_dict()


def _failed_result(path: Path, isolation: str, error: BaseException) -> SubmissionResult:
    """A result for a submission whose grading process itself failed (never expected)."""
    from . import exercises
    from .grade import CheckResult

    message = f"the grader failed on this submission: {type(error).__name__}: {error}"
    rows = [
        summarise(e, [CheckResult(e.id, e.id, "public", "error", message)])
        for e in exercises.EXERCISES
    ]
    return SubmissionResult(path.name, str(path), isolation, rows, problems=[message])


def grade_all(
    folder: Path,
    out: Path,
    jobs: int = 2,
    isolation: str = "auto",
    timeout: float = DEFAULT_TIMEOUT,
    limits: Limits | None = None,
    notebooks: str = "auto",
    progress: bool = True,
    force: bool = False,
    only: Sequence[str] | None = None,
    assignment: str = "course",
    budget: float = DEFAULT_BUDGET,
) -> list[SubmissionResult]:
    """Grade every submission in ``folder`` with ``jobs`` processes; write reports to ``out``.

    Resumable: a student whose submission and grader are unchanged since their report in
    ``out`` was written is not graded again (``force`` regrades everyone; ``only`` names
    the students to regrade, the others keep their last report). Each student's reports
    are written as they finish, and ``class.csv``/``class.txt`` (every student with a
    report) are rewritten atomically as grading goes, so an interrupted run (Ctrl-C,
    SIGKILL) loses no finished student. Notebook results go into the nbgrader course kept
    in ``out/nbgrader``, and hand-given points are read back from it on every run.
    """
    from tqdm import tqdm

    limits = limits or Limits()
    chosen = choose(isolation)  # fail early for --isolation bwrap; the same choice everywhere
    mode = "bwrap" if not chosen.degraded else "none" if isolation == "none" else isolation
    paths = submissions_in(folder)
    if only is not None:
        unknown = sorted(set(only) - {p.name for p in paths})
        if unknown:
            raise RuntimeError(f"--only: no submission called {', '.join(unknown)} in {folder}")
    out.mkdir(parents=True, exist_ok=True)
    course = None
    if notebooks != "skip":
        try:
            course = gradebook.ensure_course(gradebook.course_folder(out))
        except gradebook.CourseMismatch as error:
            raise RuntimeError(str(error)) from None
        except Exception as error:  # noqa: BLE001 - nbgrader broken here: grade on, and say so
            missing = (
                f"gradebook not kept ({type(error).__name__}: {str(error)[:300]}): the "
                "notebook scores are complete; hand grading needs the gradebook"
            )
            print(f"warning: {missing}", file=sys.stderr)
            course = gradebook.Unavailable(missing)
    results: dict[str, SubmissionResult] = {}
    todo: list[tuple[Path, str]] = []
    for path in paths:
        stamp = fingerprint(path, assignment)
        if only is not None and path.name not in only:
            previous = _previous(out / path.name, None)  # kept as it is, changed or not
            if previous is not None:
                results[path.name] = _finish(previous, path, out, course)
            continue
        previous = None if force or only is not None else _previous(out / path.name, stamp)
        if previous is not None:
            results[path.name] = _finish(previous, path, out, course)
        else:
            todo.append((path, stamp))
    classfiles = _ClassFiles(out, paths, results)
    context = get_context("spawn")  # fresh processes: no inherited threads or state
    bar = tqdm(
        total=len(results) + len(todo),
        initial=len(results),
        desc="grading",
        unit="submission",
        disable=not progress,
    )
    pool = ProcessPoolExecutor(
        max_workers=max(1, jobs),
        mp_context=context,
        initializer=_pool_start,
        initargs=(mode, timeout, limits, notebooks, assignment, budget),
    )
    try:
        futures = {pool.submit(_pool_grade, str(p)): (p, stamp) for p, stamp in todo}
        for future in as_completed(futures):
            path, stamp = futures[future]
            try:
                result = SubmissionResult.from_dict(future.result())
                result.fingerprint = stamp
            except Exception as error:  # noqa: BLE001 - one broken grading never stops the batch
                result = _failed_result(path, chosen.summary, error)
            results[path.name] = _finish(result, path, out, course)
            bar.update(1)
            classfiles.update()
        pool.shutdown()
    except BaseException:  # Ctrl-C (KeyboardInterrupt) or any error: stop grading now
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()  # mid-grading students are regraded next time
        raise
    finally:
        bar.close()
        classfiles.update(force=True)  # what finished, in the class files
    return [results[p.name] for p in paths if p.name in results]


class _ClassFiles:
    """class.csv and class.txt, rewritten atomically as students finish.

    At most one rewrite per ``every`` seconds (a 3,000-student class would otherwise
    rewrite its CSV 3,000 times), and always at the end or on an interruption.
    """

    def __init__(
        self,
        out: Path,
        paths: Sequence[Path],
        results: dict[str, SubmissionResult],
        every: float = 2.0,
    ) -> None:
        self.out, self.paths, self.results, self.every = out, paths, results, every
        self.written = -float("inf")

    def update(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.written < self.every:
            return
        ordered = [self.results[p.name] for p in self.paths if p.name in self.results]
        report.class_csv(ordered, self.out / "class.csv")
        report.write_text(self.out / "class.txt", report.class_table(ordered) + "\n")
        self.written = time.monotonic()


def _previous(folder: Path, stamp: str | None) -> SubmissionResult | None:
    """The kept result of a submission graded before with the same fingerprint, if any.

    Any fingerprint is accepted when ``stamp`` is None.
    """
    try:
        result = SubmissionResult.from_dict(json.loads((folder / "report.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return result if stamp is None or result.fingerprint == stamp else None


def _finish(
    result: SubmissionResult, path: Path, out: Path, course: Path | gradebook.Unavailable | None
) -> SubmissionResult:
    """Record notebooks in the gradebook, take its hand-given points, write the reports."""
    if isinstance(course, gradebook.Unavailable):
        if result.notebooks is not None:
            result.problems.append(str(course))
        course = None
    if course is not None and result.notebooks is not None:
        student = gradebook.student_id(path.name)
        try:
            if result.fingerprint and result.notebooks.get("recorded") == result.fingerprint:
                result.notebooks = gradebook.read_manual(course, student, result.notebooks)
            else:
                result.notebooks = gradebook.record(
                    course, student, path / "lessons", result.notebooks
                )
                result.notebooks["recorded"] = result.fingerprint
        except Exception as error:  # noqa: BLE001 - the gradebook must not stop the class
            result.problems.append(f"gradebook: {type(error).__name__}: {error}")
    report.write_all(result, out / path.name)
    return result


def _grade_all(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        print(f"no such folder: {args.folder}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        results = grade_all(
            args.folder,
            args.out,
            args.jobs,
            args.isolation,
            args.timeout,
            _limits(args),
            args.notebooks,
            force=args.force,
            only=args.only,
            assignment=args.assignment,
            budget=args.budget,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished students' reports are kept in {args.out} (class.csv "
            "lists them); run the same command again to grade the rest",
            file=sys.stderr,
        )
        return 130
    print(report.class_table(results))
    seconds = time.perf_counter() - started
    print(
        f"{len(results)} submissions in {seconds:.1f} s with {args.jobs} jobs; "
        f"reports in {args.out} (class.csv, <student>/feedback.md, results.json, report.json)"
    )
    if args.notebooks != "skip":
        course = gradebook.course_folder(args.out)
        print(f"hand grading: cd {course} && nbgrader formgrader (then run grade-all again)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command of the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["release"]:
        # Its own parser (owned by autograder/release.py) sees every option, --help included.
        from .release import main as release_main

        return int(release_main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    try:
        if args.command == "grade":
            return _grade_one(args)
        if args.command == "grade-all":
            return _grade_all(args)
    except RuntimeError as error:  # e.g. --isolation bwrap where bubblewrap cannot run
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "gradescope":
        from . import gradescope

        files = gradescope.build(
            hidden=args.hidden, timeout=args.timeout, assignment=args.assignment
        )
        gradescope.write_zip(files, args.out)
        print(f"{args.out}: {len(files)} files; upload it as the assignment's autograder")
        return 0
    if args.command == "examples":
        from .examples import build_example_submissions

        for path in build_example_submissions(args.out):
            print(path)
        return 0
    raise AssertionError(args.command)
