"""The notebook grader: trusted test cells, sandboxed answers, the lint, the gradebook.

Hostile notebooks have their own file (test_hostile_notebooks.py); here: honest and
careless submissions score what they should, messages name public lines and hide hidden
ones, release refuses lessons the grader cannot grade, and grade-all keeps a real nbgrader
gradebook whose hand-given points reach the class CSV on the next run without regrading.
"""

from __future__ import annotations

import ast
import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import cells, gradebook, notebooks, release, report
from autograder.cli import grade_all
from autograder.examples.hostile_notebooks import ROOT, write_base
from autograder.grade import Grader
from autograder.sandbox import choose

ISOLATION = choose("auto")
PACKAGE = 150.0
NOTEBOOKS = 50.0  # autograded, lessons 00-05 (the debugging lab is its own assignment)
MANUAL = 5.0  # the derivation in lesson 02, graded by hand
MAX = PACKAGE + NOTEBOOKS + MANUAL  # 205: every point the course assignment has


@pytest.fixture(scope="module")
def grader() -> Grader:
    return Grader(ISOLATION, timeout=10, notebooks="always")


def set_answer(submission: Path, lesson: str, grade_id: str, source: str) -> None:
    path = submission / "lessons" / f"{lesson}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    cell.source = source
    nbformat.write(notebook, path)


def cell(result, lesson: str, grade_id: str) -> dict:
    return result.notebooks["notebooks"][lesson]["cells"][grade_id]


def test_the_solved_course_earns_every_autograded_point(grader, tmp_path):
    result = grader.grade(write_base("solved", tmp_path / "ada"))
    assert result.points == PACKAGE
    assert result.notebooks["score"] == NOTEBOOKS == result.notebooks["max_score"]
    assert result.max_total == MAX
    assert result.awaiting_manual == MANUAL
    derivation = cell(result, "02_softmax_cross_entropy", "l02_derivation_dl_dz")
    assert derivation["status"] == "needs manual grading" and derivation["score"] is None
    assert f"total: {PACKAGE + NOTEBOOKS:g}/{MAX:g}" in report.headline(result)
    assert f"{MANUAL:g} points await hand grading" in report.table(result)


def test_the_released_notebooks_earn_nothing_and_say_what_to_do(grader, tmp_path):
    result = grader.grade(write_base("stubs", tmp_path / "bob"))
    assert result.total == 0
    auto = [
        c
        for nb in result.notebooks["notebooks"].values()
        for c in nb["cells"].values()
        if c["auto"]
    ]
    assert {c["status"] for c in auto} == {"not started"}
    first = cell(result, "00_setup_and_data", "l00_num_batches_tests")
    assert "num_batches still raises NotImplementedError" in first["failure"]
    softmax = cell(result, "02_softmax_cross_entropy", "ex2_1_softmax_tests")
    assert "Exercise 2.1: softmax" in softmax["failure"]


def test_a_public_line_is_named_and_a_hidden_one_is_not(grader, tmp_path):
    submission = write_base("solved", tmp_path / "cy")
    # Right on the public examples, wrong on the hidden one-layer case.
    set_answer(
        submission,
        "01_forward_pass",
        "l01_count_parameters",
        "def count_parameters(sizes):\n"
        "    return sum(d * m + m for d, m in zip(sizes[:-1], sizes[1:])) or 7\n",
    )
    set_answer(
        submission,
        "05_training_mnist",
        "l05_accuracy",
        "def accuracy(logits, y):\n    return 0.5\n",
    )
    result = grader.grade(submission)
    hidden = cell(result, "01_forward_pass", "l01_count_parameters_tests")
    assert hidden["status"] == "failed" and hidden["failure"].startswith("a hidden check failed")
    assert "count_parameters((5,))" not in json.dumps(result.to_dict())
    public = cell(result, "05_training_mnist", "l05_accuracy_tests")
    assert public["failure"].startswith("line 4: assert_close(got, 2 / 3, ")
    assert "accuracy of the 3-row example: got 0.5, expected 0.6666667" in public["failure"]
    assert result.notebooks["score"] == NOTEBOOKS - 2 - 1
    assert result.points == PACKAGE  # the package is not touched by notebook answers


def test_missing_unreadable_and_incomplete_notebooks_say_so(grader, tmp_path):
    submission = write_base("solved", tmp_path / "dee")
    (submission / "lessons" / "00_setup_and_data.ipynb").unlink()
    (submission / "lessons" / "01_forward_pass.ipynb").write_text("{not json")
    path = submission / "lessons" / "04_optimisers.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [
        c
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") != "l04_rmsprop_first_step"
    ]
    nbformat.write(notebook, path)
    result = grader.grade(submission)
    nbs = result.notebooks["notebooks"]
    assert not nbs["00_setup_and_data"]["submitted"] and nbs["00_setup_and_data"]["score"] == 0
    assert {c["status"] for c in nbs["00_setup_and_data"]["cells"].values()} == {"not submitted"}
    assert "unreadable notebook" in nbs["01_forward_pass"]["problem"]
    assert {c["status"] for c in nbs["01_forward_pass"]["cells"].values()} == {"error"}
    missing = nbs["04_optimisers"]["cells"]["l04_rmsprop_first_step_tests"]
    assert "l04_rmsprop_first_step is missing" in missing["failure"]
    assert nbs["04_optimisers"]["cells"]["l04_max_stable_lr_tests"]["status"] == "passed"
    assert nbs["02_softmax_cross_entropy"]["score"] == 12  # untouched notebooks: full marks


def test_the_lint_names_what_the_grader_cannot_run(tmp_path):
    source = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("def f(x):\n    return x\n")
    answer.metadata["nbgrader"] = {"grade_id": "l9_f", "solution": True, "grade": False}
    test = nbformat.v4.new_code_cell(
        "with quiet():\n    assert f(1) == helper\n    p = nn.Parameter(np.zeros(2))\n"
        "    p.grad[:] = 1.0\n"
    )
    test.metadata["nbgrader"] = {"grade_id": "l9_f_tests", "grade": True, "points": 1}
    source.cells = [answer, test]
    nbformat.write(source, tmp_path / "09_x.ipynb")
    problems = notebooks.lint_lessons(tmp_path)
    assert len(problems) == 2
    assert "uses 'helper'" in problems[0]
    assert "line 4" in problems[1] and "p.grad[...]" in problems[1]
    assert notebooks.lint_lessons(ROOT / "solutions" / "lessons") == []


def test_a_test_cell_may_use_every_set_up_name_and_only_those(tmp_path):
    # The grader's scope binds exactly the names the lint allows, nn being the one it is given.
    scope = cells.cell_scope(nn="the package")
    assert set(scope) == {"__builtins__", *cells.SETUP_NAMES} and scope["nn"] == "the package"
    source = nbformat.v4.new_notebook()
    test = nbformat.v4.new_code_cell(
        "with quiet():\n"
        "    assert_close(np.ones(2), np.ones(2), 'ones', tol=GRADCHECK)\n"
        "    assert_close(1.0, 1.0, 'one', tol=FLOAT32)\n"
        "    assert_close(nn, EXACT, 'not in the set-up cell')\n"
    )
    test.metadata["nbgrader"] = {"grade_id": "l9_x_tests", "grade": True, "points": 1}
    source.cells = [test]
    nbformat.write(source, tmp_path / "09_x.ipynb")
    problems = notebooks.lint_lessons(tmp_path)
    assert len(problems) == 1 and "uses 'EXACT'" in problems[0]


@pytest.mark.parametrize("path", sorted((ROOT / "solutions" / "lessons").glob("*.ipynb")))
def test_the_set_up_cell_binds_the_set_up_names_its_test_cells_use(path):
    # In Jupyter a test cell sees what the set-up cell defined: it must bind every set-up
    # name the lesson's test cells read (the grader's scope has them all regardless).
    notebook = nbformat.read(path, as_version=4)
    set_up = [
        c
        for c in notebook.cells
        if c.cell_type == "code"
        and "import numpynet as nn" in c.source
        and not c.metadata.get("nbgrader")
    ]
    assert len(set_up) == 1
    bound, _ = cells._names(ast.parse(cells.code_of(set_up[0].source)))
    used: set[str] = set()
    for test in cells.read_lesson(path).tests:
        used |= cells._names(ast.parse(cells.code_of(test.source)))[1]
    assert used & set(cells.SETUP_NAMES) <= bound


def test_release_refuses_a_lesson_the_grader_cannot_grade(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "solutions", root / "solutions")
    path = root / "solutions" / "lessons" / "04_optimisers.ipynb"
    text = path.read_text().replace("p.grad = np.array([0.5, -1.0])", "p.grad[:] = [0.5, -1.0]")
    path.write_text(text)
    with pytest.raises(release.ReleaseError, match="writes into `p.grad"):
        release.build(root)


def test_gradebook_round_trip_brings_hand_grading_into_the_class_csv(tmp_path):
    klass = tmp_path / "class"
    write_base("solved", klass / "ada")
    write_base("stubs", klass / "bob")
    out = tmp_path / "out"
    first = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    assert [r.max_total for r in first] == [MAX, MAX]
    course = gradebook.course_folder(out)
    assert (course / "nbgrader_config.py").is_file()
    lesson = "02_softmax_cross_entropy"
    assert (course / "autograded" / "ada" / lesson / f"{lesson}.ipynb").is_file()

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "numpynet") as book:
        # One nbgrader assignment per lesson: the trusted scores, as nbgrader keeps them.
        lessons = sorted(first[0].notebooks["notebooks"])
        assert sorted(a.name for a in book.assignments) == lessons
        for name in lessons:
            ours = first[0].notebooks["notebooks"][name]
            assert book.find_submission(name, "ada").code_score == ours["score"] > 0
            assert book.find_submission(name, "bob").code_score == 0
        assert sum(book.find_submission(n, "ada").code_score for n in lessons) == NOTEBOOKS
        grade = book.find_grade("l02_derivation_dl_dz", lesson, lesson, "ada")
        grade.manual_score = 4.0  # what formgrader does when the instructor grades it
        # An override of an autograded cell's score (bob's failed: 0 of 2), as formgrader saves it
        book.find_grade("l02_uniform_case_tests", lesson, lesson, "bob").manual_score = 2.0
        book.db.commit()

    seconds = json.loads((out / "ada" / "report.json").read_text())["seconds"]
    second = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    ada = second[0]
    assert ada.seconds == seconds  # not graded again: same submission, same grader
    assert ada.total == PACKAGE + NOTEBOOKS + 4.0
    derivation = cell(ada, "02_softmax_cross_entropy", "l02_derivation_dl_dz")
    assert derivation["status"] == "graded by hand"
    rows = {r["student"]: r for r in csv.DictReader((out / "class.csv").open())}
    assert float(rows["ada"]["total"]) == ada.total and float(rows["ada"]["max_total"]) == MAX
    gradescope = json.loads((out / "ada" / "results.json").read_text())
    # Gradescope's results.json: the autograded points only (hand grades go in its manual
    # question), with the hand grade given so far said in its output.
    assert gradescope["score"] == ada.total - 4.0 == ada.autograded_total
    assert "4/5 given so far" in gradescope["output"]
    # The instructor's word wins over the autograder's, and the reports say so.
    bob = second[1]
    assert bob.total == 2.0 and float(rows["bob"]["total"]) == 2.0
    overridden = cell(bob, lesson, "l02_uniform_case_tests")
    assert (overridden["score"], overridden["auto_score"], overridden["overridden"]) == (2, 0, True)
    assert (
        "score set by hand to 2/2 (the autograder gave 0)"
        in (out / "bob" / "table.txt").read_text()
    )

    # bob hands in again (any change): regraded and autograded again, the override stays.
    notebook = klass / "bob" / "lessons" / "00_setup_and_data.ipynb"
    notebook.write_text(notebook.read_text() + "\n")
    again = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    assert again[1].seconds != bob.seconds and again[1].total == 2.0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "numpynet") as book:
        kept = book.find_grade("l02_uniform_case_tests", lesson, lesson, "bob")
        assert kept.manual_score == 2.0 and kept.needs_manual_grade  # flagged for review

    # Taken back in the gradebook: the trusted score returns (read from auto_score, kept).
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "numpynet") as book:
        book.find_grade("l02_uniform_case_tests", lesson, lesson, "bob").manual_score = None
        book.db.commit()
    third = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    assert third[1].total == 0.0 and third[0].total == ada.total
    assert not cell(third[1], lesson, "l02_uniform_case_tests")["overridden"]


def test_a_lab_gradebook_holds_the_lab_only(tmp_path):
    course = gradebook.ensure_course(tmp_path / "nbgrader", "lab")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "numpynet") as book:
        (lab,) = book.assignments
        assert lab.name == "06_debugging_lab"
        assert (lab.max_code_score, lab.max_written_score) == (15, 7)  # as the README says
    # The same folder is not silently turned into the course's gradebook.
    with pytest.raises(gradebook.CourseMismatch, match="another --assignment"):
        gradebook.ensure_course(tmp_path / "nbgrader", "course")


def test_grade_all_regrades_only_what_changed(tmp_path):
    klass = tmp_path / "class"
    write_base("stubs", klass / "cy")
    write_base("stubs", klass / "dee")
    out = tmp_path / "out"
    grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    kept = {s: json.loads((out / s / "report.json").read_text())["seconds"] for s in ("cy", "dee")}
    shutil.rmtree(klass / "dee" / "numpynet")
    shutil.copytree(ROOT / "solutions" / "numpynet", klass / "dee" / "numpynet")
    again = {
        r.name: r for r in grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    }
    assert again["cy"].seconds == kept["cy"]
    assert again["dee"].seconds != kept["dee"] and again["dee"].points == PACKAGE
    forced = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False, force=True)
    assert forced[0].seconds != kept["cy"]


def test_an_independent_correct_package_earns_every_notebook_point(grader, tmp_path):
    """Notebook test cells judge float32 results as the package checks do (no stricter)."""
    submission = write_base("solved", tmp_path / "eve")
    shutil.rmtree(submission / "numpynet")
    independent = ROOT / "autograder" / "examples" / "independent" / "numpynet"
    shutil.copytree(independent, submission / "numpynet")
    result = grader.grade(submission)
    assert result.points == PACKAGE
    assert result.notebooks["score"] == NOTEBOOKS, report.table(result)


def test_without_a_working_nbgrader_grade_all_grades_on_and_says_so(tmp_path, monkeypatch):
    def broken(course, assignment="course", source=None):
        raise RuntimeError("alembic not found")

    monkeypatch.setattr(gradebook, "ensure_course", broken)
    klass = tmp_path / "class"
    write_base("solved", klass / "fay")
    out = tmp_path / "out"
    (fay,) = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    assert fay.notebooks["score"] == NOTEBOOKS  # the scores do not need the gradebook
    assert any("gradebook not kept" in p and "alembic not found" in p for p in fay.problems)
    assert "gradebook not kept" in (out / "fay" / "table.txt").read_text()
    # ... and in the class files, where the instructor looks first.
    rows = {r["student"]: r for r in csv.DictReader((out / "class.csv").open())}
    assert "grader: gradebook not kept" in rows["fay"]["problems"]
    assert "grader problem" in (out / "class.txt").read_text()


def test_a_course_folder_made_anew_gets_every_kept_student_again(tmp_path):
    klass = tmp_path / "class"
    write_base("stubs", klass / "gil")
    out = tmp_path / "out"
    (first,) = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    shutil.rmtree(gradebook.course_folder(out))  # deleted (or lost) after grading
    (again,) = grade_all(klass, out, jobs=1, isolation=ISOLATION.mode, progress=False)
    assert again.seconds == first.seconds  # the report is kept, not regraded...
    from nbgrader.api import Gradebook

    course = gradebook.course_folder(out)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "numpynet") as book:
        # ...and its notebooks are in the new gradebook, ready for hand grading
        assert sorted(s.assignment.name for s in book.student_submissions("gil")) == sorted(
            first.notebooks["notebooks"]
        )
