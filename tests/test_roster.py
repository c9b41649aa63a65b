"""Student identity: each submission folder is its own gradebook student, never shared."""

from __future__ import annotations

import pytest

from autograder import roster
from autograder.cli import main
from autograder.roster import IdentityError, Student, identities, read_roster, student_id

ROSTER = "folder,id,first_name,last_name,email\n"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("jane.doe", "jane_doe"),  # punctuation
        ("Jane_Doe", "jane_doe"),  # case
        ("jané_doe", "jane_doe"),  # accents
        ("jane doe", "Jané.Doe"),  # all three
    ],
)
def test_folders_that_would_share_a_gradebook_row_are_refused_naming_both(first, second):
    assert set(identities([first, "jane-doe"])) == {first, "jane-doe"}  # "-" is kept: no clash
    with pytest.raises(IdentityError) as caught:
        identities([first, second])
    assert repr(first) in str(caught.value) and repr(second) in str(caught.value)
    assert "--roster" in str(caught.value)


def test_ids_are_ascii_and_safe_for_nbgrader():
    assert student_id("jané.o'brien") == "jane_o_brien"
    assert student_id("ada") == "ada"
    assert student_id("...") == "___"
    assert student_id("") == "student"


def test_a_roster_resolves_a_collision_and_carries_names_and_emails(tmp_path):
    path = tmp_path / "students.csv"
    path.write_text(ROSTER + "jane.doe,jdoe1,Jane,Doe,j1@x.edu\njane_doe,,Jane,Doe,j2@x.edu\n")
    found = identities(["jane.doe", "jane_doe", "ada"], read_roster(path))
    assert {f: s.id for f, s in found.items()} == {
        "jane.doe": "jdoe1",
        "jane_doe": "jane_doe",  # no id given: derived from the folder
        "ada": "ada",  # not on the roster: derived
    }
    assert found["jane.doe"].email == "j1@x.edu" and found["jane_doe"].last_name == "Doe"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a,bad id,,,\n", "not a valid nbgrader id"),
        ("a,x,,,\na,y,,,\n", "folder 'a' twice"),
        (",x,,,\n", "empty folder"),
        ("a,same,,,\nb,SAME,,,\n", "would both be gradebook student"),
    ],
)
def test_an_unusable_roster_is_refused(tmp_path, rows, message):
    path = tmp_path / "students.csv"
    path.write_text(ROSTER + rows)
    with pytest.raises(IdentityError, match=message):
        identities(["a", "b"], read_roster(path))


def test_the_kept_mapping_is_stable_across_runs(tmp_path):
    first = identities(["jane.doe"])
    roster.write_kept(tmp_path, first)
    kept = roster.read_kept(tmp_path)
    assert kept == first
    # jane.doe left the class and jane_doe arrived: jane_doe would inherit her hand grades.
    with pytest.raises(IdentityError, match="'jane.doe' and 'jane_doe'"):
        identities(["jane_doe"], kept=kept)
    # A roster that would move a graded folder to another id is refused as well.
    with pytest.raises(IdentityError, match="was gradebook student 'jane_doe'"):
        identities(["jane.doe"], {"jane.doe": Student("jane.doe", "jd")}, kept)


def test_grade_all_refuses_a_collision_before_grading_anyone(tmp_path, capsys):
    for name in ("jane.doe", "jane_doe"):
        (tmp_path / "class" / name / "numpynet").mkdir(parents=True)
    out = tmp_path / "out"
    status = main(["grade-all", str(tmp_path / "class"), "--out", str(out)])
    assert status == 2
    error = capsys.readouterr().err
    assert "'jane.doe' and 'jane_doe' would both be gradebook student 'jane_doe'" in error
    assert not out.exists()  # nothing graded, nothing written
