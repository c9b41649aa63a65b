"""Command line: ``python -m autograder {grade,grade-all,gradescope,release,examples} ...``.

grade SUBMISSION [--json P] [--gradescope P] [--feedback P]   one student, a table
grade-all FOLDER --jobs N --out DIR [--force] [--only NAME...] [--roster CSV]   a class
formgrader --out DIR [--port P]                               hand grading in nbgrader's formgrader
gradescope --out autograder.zip [--hidden VIS] [--assignment A]  the Gradescope autograder
release [...]                                                 autograder.release.main
examples OUT                                                  write example submissions
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from pathlib import Path

from . import gradebook, report, roster
from .challenge import DEFAULT_BUDGET as CHALLENGE_BUDGET
from .challenge import course_key
from .exercises import ASSIGNMENTS
from .grade import (
    DEFAULT_BUDGET,
    DEFAULT_TIMEOUT,
    NOTEBOOK_CHOICES,
    Grader,
    SubmissionResult,
    fingerprint,
    submissions_in,
    summarise,
)
from .lab import DETAILS_VARIABLE
from .results import scoring_rule
from .sandbox import Isolation, Limits, choose
from .sandbox.isolation import MODES


def _grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--isolation",
        choices=MODES,
        default="any",
        help="any (default): bubblewrap, else a separate unprivileged user (as root, with the "
        "grader's files unreadable to it), else refuse to grade; bwrap, user: require that; "
        "none: no isolation (student code can read the hidden checks; every report says so)",
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
        choices=NOTEBOOK_CHOICES,
        default="grade",
        help="grade (default): every notebook of the assignment is graded (answer cells "
        "sandboxed, tests trusted), a missing one scores 0 as 'not submitted', so every "
        "student is out of the assignment's maximum; skip: the package only, and every report "
        "says so (auto and always: old names of grade)",
    )
    parser.add_argument(
        "--assignment",
        choices=ASSIGNMENTS,
        default="course",
        help="course = the package and lessons 00-05 (default); lab = the debugging lab "
        "(lesson 06) alone; beyond = lesson 07; challenge = the class challenge (the "
        "student's challenge.json trained on their package, scored on the test set); all = "
        "every lesson and exercise (not the challenge)",
    )
    parser.add_argument(
        "--challenge-budget",
        type=_positive,
        default=CHALLENGE_BUDGET,
        metavar="SECONDS",
        help="challenge: CPU seconds of training per submission, one BLAS thread (default "
        f"{CHALLENGE_BUDGET:g}); the last epoch that ends within it is scored",
    )
    parser.add_argument(
        "--lab-details",
        action="store_true",
        help="lab and all: show each mystery's result and every score in the student "
        "feedback (by default, before the lab's due date, it says only how many answers are "
        "valid ids)",
    )


def _positive(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


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
    many.add_argument(
        "--roster",
        type=Path,
        help="CSV with columns folder,id,first_name,last_name,email: each submission "
        "folder's gradebook id and the names and email nbgrader exports",
    )
    _grading_options(many)

    hand = sub.add_parser(
        "formgrader", help="hand grading: nbgrader's formgrader on grade-all's kept course"
    )
    hand.add_argument("--out", type=Path, required=True, help="grade-all's --out folder")
    hand.add_argument("--port", type=int, default=None, help="port (default: a free one)")

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
        help="what this Gradescope assignment grades: course (default), lab, beyond, "
        "challenge or all",
    )
    scope.add_argument(
        "--challenge-budget",
        type=_positive,
        default=CHALLENGE_BUDGET,
        metavar="SECONDS",
        help=f"challenge: CPU seconds of training per submission (default {CHALLENGE_BUDGET:g})",
    )
    scope.add_argument(
        "--isolation",
        choices=MODES,
        default="any",
        help="the isolation policy in the container (default any: bubblewrap, else a "
        "separate user, else refuse to grade with a results.json that says so)",
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
    outputs = [p.resolve().parent for p in (args.json, args.gradescope, args.feedback) if p]
    grader = Grader(
        choose(args.isolation, protect=outputs),  # user mode: the reports' folders too
        args.timeout,
        _limits(args),
        notebooks=args.notebooks,
        assignment=args.assignment,
        budget=args.budget,
        challenge_budget=args.challenge_budget,
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


# -- grade-all: one Grader per grading process, so the checks are collected once per process --
_POOL_GRADER: Grader | None = None


def _pool_start(
    isolation: Isolation | str,
    timeout: float,
    limits: Limits,
    notebooks: str,
    assignment: str = "course",
    budget: float = DEFAULT_BUDGET,
    challenge_budget: float = CHALLENGE_BUDGET,
    challenge_key: bytes | None = None,
) -> None:
    global _POOL_GRADER
    _die_with_parent()
    _POOL_GRADER = Grader(
        isolation,
        timeout,
        limits,
        notebooks=notebooks,
        assignment=assignment,
        budget=budget,
        challenge_budget=challenge_budget,
        challenge_key=challenge_key,
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


def _pool_main(connection: Connection, initargs: tuple) -> None:
    """A grading process: grade each path received, send back ("ok", data) or ("error", why).

    Ctrl-C is grade-all's to handle (it kills this process), never a traceback in here.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _pool_start(*initargs)
        broken = ""
    except Exception as error:  # noqa: BLE001 - said for every student this process is given
        broken = f"the grader could not start: {type(error).__name__}: {error}"
    while True:
        try:
            path = connection.recv()
        except (EOFError, OSError):
            return
        if path is None:
            return
        if broken:
            connection.send(("error", broken))
            continue
        try:
            reply = ("ok", _pool_grade(path))
        except Exception as error:  # noqa: BLE001 - a grader bug costs this student only
            reply = ("error", f"the grader failed: {type(error).__name__}: {error}")
        connection.send(reply)


def _death(exitcode: int | None) -> str:
    """Why a grading process ended, in words (a negative exit code is a signal)."""
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        likely = (
            " (out of memory, most likely: the OOM killer sends it)" if name == "SIGKILL" else ""
        )
        return f"killed by {name}{likely}"
    return f"exited with code {exitcode}"


class _Pool:
    """``jobs`` grading processes, each given one submission at a time.

    Unlike a ProcessPoolExecutor, the death of one process (an OOM kill, a segfault in the
    trusted grader) costs only the student it was grading: that student gets an ``error``
    result saying why, a new process takes its place, every other student is graded.
    """

    def __init__(self, jobs: int, initargs: tuple) -> None:
        self.jobs, self.initargs = max(1, jobs), initargs
        self.context = get_context("spawn")  # fresh processes: no inherited threads or state
        # slot -> (process, our end of its pipe, the job it grades or None)
        self.slots: list[list] = []

    def _start(self) -> list:
        ours, theirs = self.context.Pipe()
        process = self.context.Process(
            target=_pool_main, args=(theirs, self.initargs), name="numpynet-grader", daemon=True
        )
        process.start()
        theirs.close()
        return [process, ours, None]

    def run(self, jobs: Sequence, done: Callable[[object, str, object], None]) -> None:
        """Grade every job (``job[0]`` is the submission's path); ``done(job, kind, payload)``.

        ``kind`` is "ok" (payload: the result's data) or "error" (payload: why).
        """
        pending = list(reversed(jobs))
        while pending or any(slot[2] is not None for slot in self.slots):
            idle = [slot for slot in self.slots if slot[2] is None]
            while pending and (idle or len(self.slots) < self.jobs):
                slot = idle.pop() if idle else self._start()
                if slot not in self.slots:
                    self.slots.append(slot)
                slot[2] = pending.pop()
                try:
                    slot[1].send(str(slot[2][0]))
                except OSError:  # it died while idle: the job goes back, a new process comes
                    pending.append(slot[2])
                    self._drop(slot)
            busy = [s for s in self.slots if s[2] is not None]
            ready = set(wait([s[1] for s in busy] + [s[0].sentinel for s in busy]))
            for slot in busy:
                process, connection, job = slot
                if connection not in ready and process.sentinel not in ready:
                    continue
                try:
                    kind, payload = connection.recv()
                except (EOFError, OSError):  # it died: this student costs, the others do not
                    process.join(5)
                    kind = "error"
                    payload = (
                        f"the grading process died while grading this submission "
                        f"({_death(process.exitcode)}); not graded: grade-all grades it again "
                        "on its next run"
                    )
                    self._drop(slot)
                else:
                    slot[2] = None
                done(job, kind, payload)

    def _drop(self, slot: list) -> None:
        slot[0].join(1)
        slot[1].close()
        self.slots.remove(slot)

    def close(self, now: bool = False) -> None:
        """Stop every grading process: politely, or at once (``now``: Ctrl-C, an error)."""
        for _process, connection, _ in self.slots:
            if not now:
                with contextlib.suppress(OSError):
                    connection.send(None)
        for process, connection, _ in self.slots:
            if now:
                process.kill()  # its sandbox dies with it (die-with-parent)
            process.join(1 if now else 10)
            if process.is_alive():
                process.kill()
                process.join(1)
            connection.close()
        self.slots = []


def _failed_result(path: Path, isolation: str, why: str, assignment: str) -> SubmissionResult:
    """A result for a submission whose grading process itself failed: ``error``, and why.

    No fingerprint: grade-all grades it again on its next run.
    """
    from . import exercises
    from .grade import CheckResult

    message = f"grader problem: {why}"
    rows = [
        summarise(e, [CheckResult(e.id, e.id, "public", "error", message)])
        for e in exercises.scored_exercises(assignment)
    ]
    return SubmissionResult(
        path.name,
        str(path),
        isolation,
        rows,
        scoring_rule=scoring_rule(assignment),
        problems=[why],
        assignment=assignment,
    )


# -- Ctrl-C: stop at once, never write a report that the interruption cut short --------
_INTERRUPTED = False


def _on_interrupt_flag_only() -> None:
    """Record that Ctrl-C came (checked by :func:`_check_interrupt`)."""
    global _INTERRUPTED
    _INTERRUPTED = True


def _on_interrupt(signum: int, frame: object) -> None:
    _on_interrupt_flag_only()
    raise KeyboardInterrupt


def _check_interrupt() -> None:
    """Raise KeyboardInterrupt if Ctrl-C came, even if a library swallowed the first one.

    nbgrader catches exceptions around its autograde and returns the traceback as text:
    without this, a report carrying that traceback would be written.
    """
    if _INTERRUPTED:
        raise KeyboardInterrupt


def grade_all(
    folder: Path,
    out: Path,
    jobs: int = 2,
    isolation: str = "any",
    timeout: float = DEFAULT_TIMEOUT,
    limits: Limits | None = None,
    notebooks: str = "grade",
    progress: bool = True,
    force: bool = False,
    only: Sequence[str] | None = None,
    assignment: str = "course",
    roster_csv: Path | None = None,
    budget: float = DEFAULT_BUDGET,
    challenge_budget: float = CHALLENGE_BUDGET,
) -> list[SubmissionResult]:
    """Grade every submission in ``folder`` with ``jobs`` processes; write reports to ``out``.

    Resumable: a student whose submission and grader are unchanged since their report in
    ``out`` was written is not graded again (``force`` regrades everyone; ``only`` names
    the students to regrade, the others keep their last report). Each student's reports
    are written as they finish, and ``class.csv``/``class.txt`` (every student with a
    report) are rewritten atomically as grading goes, so an interrupted run (Ctrl-C,
    SIGKILL) loses no finished student. A grading process that dies (OOM kill, crash)
    costs only the student it was grading (``error``, and why). Notebook results go into
    the nbgrader course kept in ``out/nbgrader``, and hand-given points are read back from
    it on every run. Each submission folder is one gradebook student (autograder/roster.py):
    ``roster_csv`` names them, the mapping is kept in ``out/students.csv``, and a collision
    is an error.
    """
    import signal
    import threading

    global _INTERRUPTED
    _INTERRUPTED = False
    handler = None
    if threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        return _grade_class(
            folder, out, jobs, isolation, timeout, limits, notebooks, progress, force, only,
            assignment, roster_csv, budget, challenge_budget,
        )  # fmt: skip
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


def _grade_class(
    folder: Path,
    out: Path,
    jobs: int,
    isolation: str,
    timeout: float,
    limits: Limits | None,
    notebooks: str,
    progress: bool,
    force: bool,
    only: Sequence[str] | None,
    assignment: str,
    roster_csv: Path | None,
    budget: float,
    challenge_budget: float = CHALLENGE_BUDGET,
) -> list[SubmissionResult]:
    from tqdm import tqdm

    limits = limits or Limits()
    paths = submissions_in(folder)
    if any(p.name == report.MAXIMUM_ROW for p in paths):  # class.csv's row of maxima
        raise RuntimeError(f"a submission folder is called {report.MAXIMUM_ROW}: rename it")
    if only is not None:
        unknown = sorted(set(only) - {p.name for p in paths})
        if unknown:
            raise RuntimeError(f"--only: no submission called {', '.join(unknown)} in {folder}")
    # Who is who, before anything is written: a collision stops grade-all here.
    students = roster.identities(
        [p.name for p in paths],
        roster.read_roster(roster_csv) if roster_csv else None,
        roster.read_kept(out),
    )
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Refuse early; user mode must not read the reports or the other students.
    chosen = choose(isolation, protect=[out, folder])  # the same choice in every process
    roster.write_kept(out, students)
    course = None
    if notebooks != "skip" and assignment != "challenge":  # the challenge has no notebook
        try:
            course = gradebook.ensure_course(gradebook.course_folder(out), assignment)
            gradebook.register(course, {s.id: vars(s) for s in students.values()})
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
    # The challenge's grade also depends on its budget: another budget regrades everyone.
    graded_as = f"{assignment}@{challenge_budget:g}" if assignment == "challenge" else assignment
    for path in paths:
        stamp = fingerprint(path, graded_as)
        if only is not None and path.name not in only:
            previous = _previous(out / path.name, None)  # kept as it is, changed or not
            if previous is not None:
                results[path.name] = _finish(previous, path, out, course, students)
            continue
        previous = None if force or only is not None else _previous(out / path.name, stamp)
        if previous is not None:
            results[path.name] = _finish(previous, path, out, course, students)
        else:
            todo.append((path, stamp))
    classfiles = _ClassFiles(out, paths, results)
    bar = tqdm(
        total=len(results) + len(todo),
        initial=len(results),
        desc="grading",
        unit="submission",
        disable=not progress,
    )

    def done(job: tuple[Path, str], kind: str, payload: object) -> None:
        path, stamp = job
        _check_interrupt()
        try:
            if kind != "ok":
                raise RuntimeError(str(payload))
            result = SubmissionResult.from_dict(payload)  # type: ignore[arg-type]
            result.fingerprint = stamp
        except Exception as error:  # noqa: BLE001 - one broken grading never stops the batch
            why = str(error) if kind != "ok" else f"{type(error).__name__}: {error}"
            result = _failed_result(path, chosen.summary, why, assignment)
        results[path.name] = _finish(result, path, out, course, students)
        bar.update(1)
        classfiles.update()

    # The challenge's scrambles are fixed per submission by the course's key, kept in `out`.
    key = course_key(out) if assignment == "challenge" else None
    initargs = (chosen, timeout, limits, notebooks, assignment, budget, challenge_budget, key)
    pool = _Pool(jobs, initargs)
    try:
        pool.run(todo, done)
        pool.close()
    except BaseException:  # Ctrl-C (KeyboardInterrupt) or any error: stop grading now
        pool.close(now=True)  # mid-grading students are graded next time
        raise
    finally:
        bar.close()
        classfiles.update(force=True)  # what finished, in the class files
    return [results[p.name] for p in paths if p.name in results]


class _ClassFiles:
    """class.csv and class.txt (and a challenge's leaderboard), rewritten as students finish.

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
        if any(r.assignment == "challenge" for r in ordered):
            from . import leaderboard

            leaderboard.write(ordered, self.out)  # leaderboard.csv and leaderboard.md
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
    result: SubmissionResult,
    path: Path,
    out: Path,
    course: Path | gradebook.Unavailable | None,
    students: dict[str, roster.Student] | None = None,
) -> SubmissionResult:
    """Record notebooks in the gradebook, take its hand-given points, write the reports."""
    if isinstance(course, gradebook.Unavailable):
        if result.notebooks is not None:
            result.problems.append(str(course))
        course = None
    notebooks = (result.notebooks or {}).get("notebooks") or {}
    if not any(nb.get("submitted") for nb in notebooks.values()):
        course = None  # nothing to keep or to grade by hand (nbgrader refuses an empty folder)
    if course is not None and result.notebooks is not None:
        known = (students or {}).get(path.name)
        student = known.id if known else roster.student_id(path.name)
        try:
            recorded = result.notebooks.get("recorded") == result.fingerprint
            if (
                result.fingerprint
                and recorded
                and gradebook.holds(course, student, result.notebooks)
            ):
                result.notebooks = gradebook.read_manual(course, student, result.notebooks)
            else:
                result.notebooks = gradebook.record(
                    course, student, path / "lessons", result.notebooks
                )
                result.notebooks["recorded"] = result.fingerprint
        except Exception as error:  # noqa: BLE001 - the gradebook must not stop the class
            result.problems.append(f"gradebook: {type(error).__name__}: {error}")
    _check_interrupt()  # a report cut short by Ctrl-C is never written: graded next time
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
            roster_csv=args.roster,
            budget=args.budget,
            challenge_budget=args.challenge_budget,
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
    print(f"gradebook ids: {args.out / roster.MAPPING}")
    if results and args.assignment == "challenge":
        from . import leaderboard

        print(f"leaderboard: {args.out / leaderboard.MARKDOWN} (and {leaderboard.CSV} beside it)")
    if args.notebooks == "skip":
        print("package only (--notebooks skip): no notebook was graded, totals are the package's")
    else:
        print(f"hand grading: {formgrader_command(args.out)} (then run the same grade-all again)")
    return 0


def formgrader_command(out: Path) -> str:
    """The command line that opens hand grading for grade-all's ``out`` folder."""
    import shlex

    return f"python -m autograder formgrader --out {shlex.quote(str(out))}"


def _formgrader(args: argparse.Namespace) -> int:
    from .formgrader import serve

    return serve(args.out, args.port)


def main(argv: list[str] | None = None) -> int:
    """Run one command of the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["release"]:
        # Its own parser (owned by autograder/release.py) sees every option, --help included.
        from .release import main as release_main

        return int(release_main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    try:
        if getattr(args, "lab_details", False):  # read by autograder/lab.py, in every job
            os.environ[DETAILS_VARIABLE] = "1"
        if args.command == "grade":
            return _grade_one(args)
        if args.command == "grade-all":
            return _grade_all(args)
        if args.command == "formgrader":
            return _formgrader(args)
    except RuntimeError as error:  # e.g. --isolation bwrap where bubblewrap cannot run
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "gradescope":
        from . import gradescope

        files = gradescope.build(
            hidden=args.hidden,
            timeout=args.timeout,
            assignment=args.assignment,
            isolation=args.isolation,
            challenge_budget=args.challenge_budget,
        )
        gradescope.write_zip(files, args.out)
        print(f"{args.out}: {len(files)} files; upload it as the assignment's autograder")
        auto, hand = gradescope.points(args.assignment)
        print(
            f"on Gradescope, set the autograder's points to {auto:g}"
            + (f" and add a manual question worth {hand:g} (graded by hand)" if hand else "")
        )
        return 0
    if args.command == "examples":
        from .examples import build_example_submissions

        for path in build_example_submissions(args.out):
            print(path)
        return 0
    raise AssertionError(args.command)
