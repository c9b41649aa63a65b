"""The Gradescope autograder, end to end and offline.

``python -m autograder gradescope`` writes the zip; here it is unpacked into a temporary
stand-in for ``/autograder`` (paths redirected by the AUTOGRADER_* variables), and
``run_autograder`` grades a correct, a buggy and a hostile upload, each in one of the
shapes students upload. Every results.json is checked against Gradescope's schema.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import exercises, gradescope, report
from autograder.examples.bugs import BUGS
from autograder.examples.build import apply_bug
from autograder.examples.hostile import BY_NAME, materialise
from autograder.examples.hostile_notebooks import ROOT, write_base

PACKAGE = float(sum(e.points for e in exercises.EXERCISES))  # 150
NOTEBOOKS = 50.0  # autograded notebook points (the derivation is graded by hand)
TOP_LEVEL = {
    "score": (int, float),
    "execution_time": (int, float),
    "output": str,
    "output_format": str,
    "visibility": str,
    "stdout_visibility": str,
    "tests": list,
}
TEST_KEYS = {
    "score": (int, float),
    "max_score": (int, float),
    "status": str,
    "name": str,
    "number": str,
    "output": str,
    "output_format": str,
    "tags": list,
    "visibility": str,
}


def validate_leaderboard(entries: object) -> None:
    """Gradescope's documented leaderboard (report.GRADESCOPE_SPEC, *leaderboard*).

    A list of objects, each a ``name``, a ``value`` (a number or a string) and an optional
    ``order`` ("asc" or "desc", default "desc"), nothing else.
    """
    assert isinstance(entries, list) and entries
    for entry in entries:
        assert isinstance(entry, dict) and set(entry) <= {"name", "value", "order"}, entry
        assert isinstance(entry["name"], str) and entry["name"]
        value = entry["value"]
        assert isinstance(value, (int, float, str)) and not isinstance(value, bool), entry
        if not isinstance(value, str):
            assert math.isfinite(value), entry  # NaN is not JSON
        assert entry.get("order", "desc") in ("asc", "desc"), entry
    assert len({e["name"] for e in entries}) == len(entries)


def validate(results: dict) -> None:
    """Gradescope's documented results.json: keys, types, values, score = sum of tests."""
    assert set(results) <= set(TOP_LEVEL) | {"leaderboard", "extra_data"}, set(results)
    if "leaderboard" in results:  # the class challenge's only
        assert results["tests"] and all(
            t.get("tags", [""])[0].startswith("ch_") or "challenge" in t["name"].lower()
            for t in results["tests"]
        )
        validate_leaderboard(results["leaderboard"])
    for key, kind in TOP_LEVEL.items():
        assert isinstance(results[key], kind), (key, results[key])
    assert results["visibility"] in report.VISIBILITIES
    assert results["stdout_visibility"] in report.VISIBILITIES
    assert results["output_format"] in ("text", "html", "simple_format", "md", "ansi")
    for test in results["tests"]:
        assert set(test) <= set(TEST_KEYS), set(test) - set(TEST_KEYS)
        for key in ("score", "max_score", "status", "name", "output", "visibility"):
            assert key in test, (key, test)
        for key, value in test.items():
            assert isinstance(value, TEST_KEYS[key]), (key, value)
        assert test["visibility"] in report.VISIBILITIES
        assert test["status"] in ("passed", "failed")
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=0.01)


@pytest.fixture(scope="module")
def zipped(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "autograder.zip"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "gradescope", "--out", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return path


def test_the_zip_holds_setup_run_checks_reference_and_notebooks(zipped, tmp_path):
    with zipfile.ZipFile(zipped) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        wanted = archive.read("requirements.txt").decode().split()
        config = json.loads(archive.read("gradescope.json"))
    assert {"setup.sh", "run_autograder", "requirements.txt"} <= names
    for name in ("setup.sh", "run_autograder"):
        assert stat.S_ISREG(modes[name]) and modes[name] & 0o111, name
    assert {
        f"autograder/public/{p.name}" for p in (ROOT / "autograder/public").glob("*.py")
    } <= names
    assert {
        f"autograder/hidden/{p.name}" for p in (ROOT / "autograder/hidden").glob("*.py")
    } <= names
    assert "solutions/numpynet/layers.py" in names
    assert {f"solutions/lessons/{p.name}" for p in (ROOT / "solutions/lessons").glob("*.ipynb")}
    assert {
        f"solutions/lessons/{p.name}" for p in (ROOT / "solutions/lessons").glob("*.ipynb")
    } <= names
    assert not any(n.startswith("autograder/examples/") or "__pycache__" in n for n in names)
    assert config == {
        "hidden": "after_published",
        "timeout": 20.0,
        "assignment": "course",
        "isolation": "any",
        "challenge_budget": 60.0,
    }
    # setup.sh is valid bash that installs bubblewrap and exactly pyproject's dependencies.
    (tmp_path / "setup.sh").write_text(setup)
    assert subprocess.run(["bash", "-n", str(tmp_path / "setup.sh")]).returncode == 0
    assert "bubblewrap" in setup and "pip install -r requirements.txt" in setup
    import tomllib

    assert wanted == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_the_visibility_flag_reaches_the_zip(tmp_path):
    from autograder.cli import main

    assert main(["gradescope", "--out", str(tmp_path / "a.zip"), "--hidden", "hidden"]) == 0
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert json.loads(archive.read("gradescope.json"))["hidden"] == "hidden"
    with pytest.raises(ValueError):
        gradescope.build(hidden="sometimes")


def _solved(folder: Path) -> Path:
    write_base("solved", folder)
    return folder


def _zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder.parent).as_posix())
    return archive


@pytest.mark.parametrize("shape", ["flat", "one folder down", "two folders down", "zipped"])
def test_the_upload_is_found_in_every_shape_students_upload(tmp_path, shape):
    upload = tmp_path / "upload"
    upload.mkdir()
    if shape == "flat":
        _solved(upload)
    elif shape == "one folder down":
        _solved(upload / "numpynet-course")
    elif shape == "two folders down":
        _solved(upload / "me" / "numpynet-course")
    else:
        _zip_folder(_solved(tmp_path / "numpynet-course"), upload / "course.zip")
    (upload / "__MACOSX" / "numpynet").mkdir(parents=True)  # junk an archiver leaves
    (upload / "__MACOSX" / "numpynet" / "__init__.py").write_text("")
    folder, notes = gradescope.find_submission(upload, tmp_path / "scratch")
    for part in ("numpynet", "lessons"):
        want = sorted(
            p.relative_to(ROOT / "solutions" / part)
            for p in (ROOT / "solutions" / part).rglob("*.py*")
        )
        got = sorted(p.relative_to(folder / part) for p in (folder / part).rglob("*.py*"))
        assert [p for p in got if "__pycache__" not in p.parts] == [
            p for p in want if "__pycache__" not in p.parts
        ]
    where = (
        "" if shape == "flat" else "me/numpynet-course/" if "two" in shape else "numpynet-course/"
    )
    assert f"graded the package `{where}numpynet`" in notes


def test_an_upload_without_the_package_says_so_and_a_hostile_zip_stays_inside(tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "notes.txt").write_text("my homework")
    with zipfile.ZipFile(upload / "evil.zip", "w") as bundle:
        bundle.writestr("../escaped.txt", "out")
        bundle.writestr("/tmp/absolute.txt", "out")
        bundle.writestr("inside/numpynet/__init__.py", "")
    folder, notes = gradescope.find_submission(upload, tmp_path / "scratch")
    assert (
        not (tmp_path / "escaped.txt").exists()
        and not (tmp_path / "scratch" / "escaped.txt").exists()
    )
    assert (folder / "numpynet" / "__init__.py").is_file()
    assert "graded the package `inside/numpynet`" in notes
    empty = tmp_path / "empty"
    empty.mkdir()
    folder, notes = gradescope.find_submission(empty, tmp_path / "scratch2")
    assert not (folder / "numpynet").exists()
    assert any("no numpynet/ package" in n for n in notes)
    assert any("no lessons/ folder" in n for n in notes)


# -- end to end: the unpacked zip, run_autograder, three uploads ---------------------------
@pytest.fixture(scope="module")
def fake_root(zipped, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("autograder")
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(root / "source")
    for name in gradescope.EXECUTABLE:
        (root / "source" / name).chmod(0o755)  # extractall drops modes (unzip keeps them)
    return root


def built_root(tmp_path: Path, *options: str) -> Path:
    """``gradescope --out ZIP *options``, unpacked as Gradescope would: the /autograder stand-in."""
    archive = tmp_path / "autograder.zip"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "gradescope", *options, "--out", str(archive)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(root / "source")
    for name in gradescope.EXECUTABLE:
        (root / "source" / name).chmod(0o755)  # extractall drops modes (unzip keeps them)
    return root


def run_autograder(root: Path, upload: Path) -> dict:
    results = root / "results" / upload.name
    env = dict(
        os.environ,
        AUTOGRADER_SOURCE=str(root / "source"),
        AUTOGRADER_SUBMISSION=str(upload),
        AUTOGRADER_RESULTS=str(results),
        AUTOGRADER_PYTHON=sys.executable,
    )
    env.pop("PYTHONPATH", None)  # the grader must come from the unpacked zip, not this checkout
    done = subprocess.run(
        [str(root / "source" / "run_autograder")],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((results / "results.json").read_text())
    validate(data)
    return data


def _by_name(results: dict) -> dict[str, dict]:
    return {t["name"]: t for t in results["tests"]}


@pytest.mark.slow
def test_a_correct_upload_zipped_scores_every_autograded_point(fake_root, tmp_path):
    upload = tmp_path / "correct"
    upload.mkdir()
    _zip_folder(_solved(tmp_path / "numpynet-course"), upload / "numpynet-course.zip")
    results = run_autograder(fake_root, upload)
    assert results["score"] == PACKAGE + NOTEBOOKS
    # The tests add up to the autograder's points; the derivation is not among them.
    assert sum(t["max_score"] for t in results["tests"]) == PACKAGE + NOTEBOOKS
    tests = _by_name(results)
    for e in exercises.EXERCISES:
        test = tests[f"Exercise {e.number}: {e.title}"]
        assert (test["score"], test["max_score"], test["visibility"]) == (
            e.points,
            e.points,
            "visible",
        )
    assert all(t["visibility"] == "visible" for t in results["tests"])  # nothing failed: no details
    assert "graded the package `numpynet-course/numpynet`" in results["output"]


@pytest.mark.slow
def test_a_buggy_upload_loses_its_exercise_and_hidden_details_wait(fake_root, tmp_path):
    upload = tmp_path / "buggy"
    course = _solved(upload / "numpynet-course")
    bug = next(b for b in BUGS if b.name == "softmax_unstable")
    apply_bug(course / "numpynet", bug)
    results = run_autograder(fake_root, upload)
    tests = _by_name(results)
    softmax = tests["Exercise 2.1: softmax"]
    assert softmax["visibility"] == "visible" and 0 < softmax["score"] < 10
    hidden = tests["Exercise 2.1: softmax - hidden checks"]
    assert hidden["visibility"] == "after_published" and hidden["max_score"] == 0
    assert "hidden check `test_softmax_matches_reference" in hidden["output"]
    notebook = tests["Notebook 02_softmax_cross_entropy - test cell messages"]
    assert notebook["visibility"] == "after_published"
    # What students see at once names no hidden check and quotes no test-cell line.
    visible = json.dumps([t for t in results["tests"] if t["visibility"] == "visible"])
    assert "hidden check `" not in visible and "no overflow" not in visible
    assert "test_softmax_matches_reference" not in visible
    assert results["score"] < PACKAGE + NOTEBOOKS


@pytest.mark.slow
def test_a_hostile_upload_cannot_fake_its_results(fake_root, tmp_path):
    upload = tmp_path / "hostile"
    upload.mkdir()
    submission = materialise(BY_NAME["fake_output"], tmp_path / "made")
    # It also writes a perfect results.json where Gradescope reads it.
    forged = fake_root / "results" / upload.name / "results.json"
    with open(submission / "numpynet" / "__init__.py", "a") as handle:
        handle.write(
            "\ntry:\n"
            f"    open({str(forged)!r}, 'w').write('{{\"score\": 1000, \"tests\": []}}')\n"
            "except OSError:\n    pass\n"
        )
    shutil.copytree(submission / "numpynet", upload / "numpynet")
    results = run_autograder(fake_root, upload)
    assert results["score"] < PACKAGE  # wrong softmax; no notebooks uploaded
    assert _by_name(results)["Exercise 2.1: softmax"]["score"] < 10
    assert "no lessons/ folder" in results["output"]
    assert not any("Notebook" in t["name"] and t["score"] for t in results["tests"])


def test_links_to_the_instructors_files_are_never_graded_as_the_students(tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "numpynet").symlink_to(ROOT / "solutions" / "numpynet")
    (upload / "course").mkdir()
    shutil.copytree(ROOT / "numpynet", upload / "course" / "numpynet")
    (upload / "course" / "lessons").symlink_to(ROOT / "solutions" / "lessons")
    (upload / "deep").symlink_to("/", target_is_directory=True)  # never walked
    folder, notes = gradescope.find_submission(upload, tmp_path / "scratch")
    assert "graded the package `course/numpynet`" in notes
    stub = (folder / "numpynet" / "layers.py").read_text()
    assert stub == (ROOT / "numpynet" / "layers.py").read_text()  # the stubs, not the link
    assert not (folder / "lessons").exists()
    assert any("no lessons/ folder" in n for n in notes)


README = (ROOT / "README.md").read_text()
# What the README tells the instructor to set on Gradescope, per assignment.
DOCUMENTED = {
    "course": r"Set the autograder's points to (\d+) .*? add a manual question worth (\d+)",
    "lab": r"For the lab \(`--assignment lab`\), set them to (\d+) and the manual question to "
    r"(\d+)",
    "beyond": r"For lesson 07 \(`--assignment beyond`\), set them to (\d+) and the manual "
    r"question to (\d+)",
}


def test_the_challenges_points_are_its_thresholds_and_no_manual_question(tmp_path):
    """``gradescope --assignment challenge`` prints the challenge's points, as the README."""
    import re

    from autograder import exercises

    done = subprocess.run(
        [sys.executable, "-m", "autograder", "gradescope", "--out", str(tmp_path / "c.zip"),
         "--assignment", "challenge"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = re.search(r"points to (\d+)\n", done.stdout)
    documented = re.search(
        r"For the class challenge \(`--assignment challenge`\), set them to (\d+), with no "
        "manual question",
        " ".join(README.split()),
    )
    assert printed and documented, done.stdout
    expected = sum(e.points for e in exercises.CHALLENGE)
    assert float(printed.group(1)) == float(documented.group(1)) == expected
    assert gradescope.points("challenge") == (expected, 0.0)
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        config = json.loads(archive.read(gradescope.CONFIG))
        setup = archive.read("setup.sh").decode()
    assert config["assignment"] == "challenge" and config["challenge_budget"] == 60.0
    # The image downloads MNIST (the test set is scored in the container), when needed only.
    assert '"assignment": "challenge"' in setup and "-m numpynet data" in setup


@pytest.mark.parametrize("assignment", ["course", "lab", "beyond"])
def test_the_points_to_set_are_the_graded_maxima_everywhere(tmp_path, assignment):
    """What the README and the gradescope command tell the instructor to set equals what
    results.json adds up to (autograded) and what grading leaves to hand grading."""
    import re

    done = subprocess.run(
        [sys.executable, "-m", "autograder", "gradescope", "--out", str(tmp_path / "a.zip"),
         "--assignment", assignment],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = re.search(r"points to (\d+) and add a manual question worth (\d+)", done.stdout)
    documented = re.search(DOCUMENTED[assignment], " ".join(README.split()))
    assert printed and documented, (done.stdout, assignment)
    auto, hand = map(float, printed.groups())
    assert (auto, hand) == tuple(map(float, documented.groups())) == gradescope.points(assignment)

    from autograder.grade import Grader

    # The solved lab answers the mysteries of the identity "instructor" (autograder/lab.py).
    result = Grader("auto", timeout=30, assignment=assignment).grade(
        write_base("solved", tmp_path / "ada"), name="instructor" if assignment == "lab" else None
    )
    results = report.gradescope(result)
    validate(results)
    assert sum(t["max_score"] for t in results["tests"]) == auto == results["score"]
    assert result.manual_max_points == hand and result.max_total == auto + hand
