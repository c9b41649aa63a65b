"""What grading produces: plain records of checks, exercises and whole submissions.

The one model every report reads (autograder/report.py) and grade-all stores as JSON; it
imports nothing that runs student code, so reading or writing results never loads the
sandbox.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exercises import Exercise

SCORING_RULE = (
    "package: points per exercise x (checks passed / checks run), public and hidden checks "
    "together; notebooks: each test cell's points when all its checks pass, else 0; the "
    "written derivation is graded by hand"
)
STATUSES = ("passed", "failed", "not started", "timeout", "error")
# The rule each assignment is graded by (exercises.ASSIGNMENTS), printed in every report.
SCORING_RULES = {
    "course": SCORING_RULE,
    "lab": "lab notebook: each test cell's points when all its checks pass, else 0; the "
    "evidence sentences are graded by hand",
    "all": SCORING_RULE.replace(
        "the written derivation is graded by hand",
        "the written derivation and the lab's evidence sentences are graded by hand",
    ),
}


def _challenge_rule() -> str:
    from .exercises import CHALLENGE

    steps = ", ".join(f"{e.points} points at {e.threshold:.0%}" for e in CHALLENGE)
    return (
        "challenge: the grader trains YOUR package with YOUR challenge.json in the sandbox, on "
        "the 60,000 training images only, under a CPU budget, and measures the test accuracy "
        f"of the weights it ends with in the trusted grader ({steps} test accuracy)"
    )


SCORING_RULES["challenge"] = _challenge_rule()


def scoring_rule(assignment: str) -> str:
    """The scoring rule printed in the reports of ``assignment`` (course, lab or all)."""
    return SCORING_RULES.get(assignment, SCORING_RULE)


@dataclass
class CheckResult:
    """One test function (one parametrized case) run against one submission."""

    name: str  # pytest's node id, e.g. "autograder/public/test_02_softmax_loss.py::test_x"
    exercise: str
    visibility: str  # "public" or "hidden"
    outcome: str  # passed | failed | not started | timeout | error | skipped
    message: str = ""  # student-facing: never the source of a hidden check
    seconds: float = 0.0


@dataclass
class ExerciseResult:
    """One exercise's checks against one submission, and the points they earn."""

    id: str
    number: str
    title: str
    max_points: float
    points: float = 0.0
    status: str = "not started"
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(c.outcome == "passed" for c in self.checks)

    @property
    def counted(self) -> int:
        """How many checks count towards the score: all but the skipped."""
        return sum(c.outcome != "skipped" for c in self.checks)


@dataclass
class SubmissionResult:
    """A whole submission graded: its exercises, notebooks and how it was run."""

    name: str
    path: str
    isolation: str  # the one-line isolation summary (says "degraded" when it is)
    exercises: list[ExerciseResult]
    fork_limit: str = ""
    output: str = ""  # what the student's code printed (truncated)
    seconds: float = 0.0
    scoring_rule: str = SCORING_RULE
    notebooks: dict | None = None  # the notebook report (autograder.notebooks.summary), if run
    problems: list[str] = field(default_factory=list)  # grader-side notes
    fingerprint: str = ""  # submission + grader content hash (grade-all resumes on it)
    assignment: str = "course"  # exercises.ASSIGNMENTS: what was graded
    # The challenge's run (autograder/challenge.py, ``ChallengeRun.to_dict``): recipe,
    # test accuracy, training seconds, log; None for every other assignment.
    challenge: dict | None = None

    @property
    def points(self) -> float:
        """Package points earned, over all exercises."""
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        """Package points available."""
        return sum(e.max_points for e in self.exercises)

    @property
    def notebook_points(self) -> float:
        """Autograded notebook points plus the hand-graded points given so far."""
        notebooks = self.notebooks or {}
        return float(notebooks.get("score") or 0.0) + float(notebooks.get("manual_score") or 0.0)

    @property
    def notebook_max_points(self) -> float:
        """Every notebook point, the hand-graded derivation's included."""
        notebooks = self.notebooks or {}
        return float(notebooks.get("max_score") or 0.0) + float(
            notebooks.get("manual_max_score") or 0.0
        )

    @property
    def awaiting_manual(self) -> float:
        """Hand-graded points not graded yet (shown beside the total, never counted)."""
        pending = 0.0
        for notebook in ((self.notebooks or {}).get("notebooks") or {}).values():
            for cell in (notebook.get("cells") or {}).values():
                if not cell.get("auto") and cell.get("score") is None:
                    pending += float(cell.get("max_score") or 0.0)
        return pending

    @property
    def manual_points(self) -> float:
        """Hand-graded points given so far (already part of ``notebook_points``)."""
        return float((self.notebooks or {}).get("manual_score") or 0.0)

    @property
    def manual_max_points(self) -> float:
        """Hand-graded points available (part of ``notebook_max_points``)."""
        return float((self.notebooks or {}).get("manual_max_score") or 0.0)

    @property
    def autograded_total(self) -> float:
        """What the machine gave: the total without the hand-graded points (Gradescope's)."""
        return self.total - self.manual_points

    @property
    def autograded_max(self) -> float:
        """The machine-graded maximum: Gradescope's autograder points."""
        return self.max_total - self.manual_max_points

    @property
    def total(self) -> float:
        """Package and notebook points earned."""
        return self.points + self.notebook_points

    @property
    def max_total(self) -> float:
        """Package and notebook points available."""
        return self.max_points + self.notebook_max_points

    def to_dict(self) -> dict:
        """The fields plus the computed points and totals, as JSON-ready data."""
        data = asdict(self)
        data.update(
            points=self.points,
            max_points=self.max_points,
            total=self.total,
            max_total=self.max_total,
            pending_hand_grading=self.awaiting_manual,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        """The result from ``to_dict``'s data; unknown top-level keys are ignored."""
        names = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["exercises"] = [
            ExerciseResult(
                **{k: v for k, v in e.items() if k != "checks"},
                checks=[CheckResult(**c) for c in e.get("checks", [])],
            )
            for e in data["exercises"]
        ]
        return cls(**kwargs)


def summarise(exercise: Exercise, checks: list[CheckResult]) -> ExerciseResult:
    """Status, points and the first useful message of one exercise from its checks."""
    result = ExerciseResult(exercise.id, exercise.number, exercise.title, float(exercise.points))
    result.checks = checks
    counted = [c for c in checks if c.outcome != "skipped"]
    outcomes = {c.outcome for c in counted}
    if not counted:
        result.status, result.message = "error", "no checks for this exercise"
        return result
    result.points = round(exercise.points * result.passed / len(counted), 2)
    for status in ("timeout", "error"):
        if status in outcomes:
            result.status = status
            break
    else:
        if outcomes == {"passed"}:
            result.status = "passed"
        elif outcomes == {"not started"}:
            result.status = "not started"
        else:
            result.status = "failed"
    order = ("timeout", "error", "failed", "not started")
    first = sorted((c for c in counted if c.outcome in order), key=lambda c: order.index(c.outcome))
    if first:
        result.message = first[0].message
    return result
