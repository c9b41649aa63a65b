"""The catalogue of exercises: one place that release, tests and grader all read.

Each exercise is one ``raise NotImplementedError("Exercise X.Y: ...")`` in the
``numpynet`` package, found by the qualified name of the function holding it (in
the course's reference package, the solution region it replaces). Its ``id`` is
the pytest marker of its public tests (``pytest -m ex2_1``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    """One package exercise: a solution region of the reference, graded by its marked checks."""

    id: str  # pytest marker and key in reports, e.g. "ex2_1"
    number: str  # as printed to students, e.g. "2.1"
    title: str  # what the student implements, e.g. "softmax"
    module: str  # file in numpynet/, e.g. "functional.py"
    qualname: str  # function holding the region, e.g. "softmax" or "Linear.forward"
    lesson: str  # notebook that teaches it
    points: int
    threshold: float | None = None  # the challenge's: the test accuracy that earns the points

    @property
    def stub_message(self) -> str:
        """What the generated stub raises as NotImplementedError."""
        return f"Exercise {self.number}: {self.title} - see {self.lesson}"


L00 = "lessons/00_setup_and_data.ipynb"
L01 = "lessons/01_forward_pass.ipynb"
L02 = "lessons/02_softmax_cross_entropy.ipynb"
L03 = "lessons/03_backpropagation.ipynb"
L04 = "lessons/04_optimisers.ipynb"
L05 = "lessons/05_training_mnist.ipynb"
L07 = "lessons/07_beyond_rmsprop.ipynb"

# The course's package exercises (lessons 00-05): 150 points, graded with "course".
EXERCISES: tuple[Exercise, ...] = (
    Exercise("ex0_1", "0.1", "DataLoader iteration", "data.py", "DataLoader.__iter__", L00, 10),
    Exercise("ex1_1", "1.1", "Linear He initialisation", "layers.py", "Linear.__init__", L01, 5),
    Exercise("ex1_2", "1.2", "Linear forward", "layers.py", "Linear.forward", L01, 5),
    Exercise("ex1_3", "1.3", "ReLU forward", "layers.py", "ReLU.forward", L01, 5),
    Exercise("ex2_1", "2.1", "softmax", "functional.py", "softmax", L02, 10),
    Exercise("ex2_2", "2.2", "log_softmax", "functional.py", "log_softmax", L02, 10),
    Exercise("ex2_3", "2.3", "one_hot", "functional.py", "one_hot", L02, 5),
    Exercise(
        "ex2_4", "2.4", "cross-entropy forward", "loss.py", "CrossEntropyLoss.forward", L02, 10
    ),
    Exercise(
        "ex2_5", "2.5", "cross-entropy backward", "loss.py", "CrossEntropyLoss.backward", L02, 10
    ),
    Exercise("ex3_1", "3.1", "ReLU backward", "layers.py", "ReLU.backward", L03, 10),
    Exercise("ex3_2", "3.2", "Linear backward", "layers.py", "Linear.backward", L03, 15),
    Exercise("ex3_3", "3.3", "numerical gradient", "gradcheck.py", "numerical_gradient", L03, 10),
    Exercise("ex4_1", "4.1", "SGD step", "optim.py", "SGD.step", L04, 10),
    Exercise("ex4_2", "4.2", "RMSProp step", "optim.py", "RMSProp.step", L04, 15),
    Exercise("ex5_1", "5.1", "train_epoch", "loop.py", "train_epoch", L05, 10),
    Exercise("ex5_2", "5.2", "evaluate", "loop.py", "evaluate", L05, 10),
)

# Lesson 07 (beyond RMSProp): its own assignment, "beyond", graded on its own. Its stubs
# ship in the course's package from the start (the package is handed out once); the
# course never grades them and its trainer needs them only for lesson 07's options.
BEYOND_EXERCISES: tuple[Exercise, ...] = (
    Exercise("ex7_1", "7.1", "Adam step", "optim.py", "Adam.step", L07, 15),
    Exercise("ex7_2", "7.2", "AdamW step", "optim.py", "AdamW.step", L07, 10),
    Exercise("ex7_3", "7.3", "Dropout forward", "layers.py", "Dropout.forward", L07, 10),
    Exercise("ex7_4", "7.4", "Dropout backward", "layers.py", "Dropout.backward", L07, 5),
    Exercise("ex7_5", "7.5", "validate in eval mode", "loop.py", "validate", L07, 5),
    Exercise("ex7_6", "7.6", "early stopping", "loop.py", "EarlyStopping.update", L07, 10),
)

# Every exercise whose stub is in the package, whichever assignment grades it.
ALL_EXERCISES: tuple[Exercise, ...] = EXERCISES + BEYOND_EXERCISES

# The class challenge (lesson 07's last section): no stub, no checks. The grader trains the
# student's package with the recipe in CHALLENGE_FILE and scores the TEST accuracy of the
# weights it returns, computed in the trusted process (the grader's challenge module): each entry
# earns its points once the accuracy reaches its threshold.
CHALLENGE_FILE = "challenge.json"
CHALLENGE_BUDGET = 60.0  # CPU seconds of training the grader gives a recipe by default
# How a student reproduces a run on their own machine (validation accuracy only).
CHALLENGE_COMMAND = f"python -m numpynet train --recipe {CHALLENGE_FILE}"
CHALLENGE: tuple[Exercise, ...] = (
    Exercise("ch_97", "C.1", "test accuracy >= 97%", CHALLENGE_FILE, "", L07, 5, 0.97),
    Exercise("ch_98", "C.2", "test accuracy >= 98%", CHALLENGE_FILE, "", L07, 5, 0.98),
)
BY_ID: dict[str, Exercise] = {exercise.id: exercise for exercise in ALL_EXERCISES + CHALLENGE}

# What is handed out and graded together. The course (the package and lessons 00-05)
# comes first; the debugging lab (lesson 06) after the course is due; lesson 07 ("beyond")
# after that; the class challenge ("challenge": a recipe, trained by the grader) on its own.
# "all": every lesson and package exercise (not the challenge, which trains for a minute).
LAB_LESSONS = ("06_debugging_lab",)
BEYOND_LESSONS = ("07_beyond_rmsprop",)
ASSIGNMENTS = ("course", "lab", "beyond", "challenge", "all")


def _check(assignment: str) -> None:
    if assignment not in ASSIGNMENTS:
        raise ValueError(f"assignment must be one of {ASSIGNMENTS}, got {assignment!r}")


def in_assignment(lesson: str, assignment: str) -> bool:
    """Whether the lesson notebook ``lesson`` (file stem) is graded with ``assignment``."""
    _check(assignment)
    if assignment == "all":
        return True
    if lesson in LAB_LESSONS:
        return assignment == "lab"
    if lesson in BEYOND_LESSONS:
        return assignment == "beyond"
    return assignment == "course"  # the challenge grades no notebook


def package_exercises(assignment: str) -> tuple[Exercise, ...]:
    """The package exercises ``assignment`` grades with checks (the lab only reads them)."""
    _check(assignment)
    return {
        "course": EXERCISES,
        "lab": (),
        "beyond": BEYOND_EXERCISES,
        "challenge": (),
        "all": ALL_EXERCISES,
    }[assignment]


def scored_exercises(assignment: str) -> tuple[Exercise, ...]:
    """The rows of ``assignment``'s reports besides notebooks.

    Its package exercises, or the challenge's thresholds.
    """
    return CHALLENGE if assignment == "challenge" else package_exercises(assignment)


def grades_package(assignment: str) -> bool:
    """Whether ``assignment`` grades package exercises (the lab only reads them)."""
    return bool(package_exercises(assignment))


def get(exercise_id: str) -> Exercise:
    """The exercise with this id; a KeyError lists the valid ids."""
    try:
        return BY_ID[exercise_id]
    except KeyError:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {', '.join(BY_ID)}") from None
