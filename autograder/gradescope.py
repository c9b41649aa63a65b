"""The Gradescope autograder: ``python -m autograder gradescope --out autograder.zip``.

Gradescope builds one Ubuntu image per assignment from the uploaded zip: it unpacks it
into ``/autograder/source``, runs ``setup.sh`` there once (as root), and for every
submission copies the student's upload (zips already unpacked) into
``/autograder/submission``, runs ``/autograder/run_autograder`` and reads
``/autograder/results/results.json`` (schema: report.GRADESCOPE_SPEC).

The zip holds ``setup.sh`` (Python, the course's dependencies, bubblewrap),
``run_autograder`` (a shell line calling :func:`run` below), this package with its public
and hidden checks, the reference ``solutions/numpynet`` and the source notebooks
``solutions/lessons`` (the notebook grader's test cells), and ``gradescope.json`` (the
visibility policy and time limit chosen at build time).

Every path is an environment variable first (``AUTOGRADER_SOURCE``, ``..._SUBMISSION``,
``..._RESULTS``, ``..._PYTHON``), so the whole thing runs offline in a temporary folder.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Mapping
from pathlib import Path

from . import lab, report
from .challenge import DEFAULT_BUDGET as CHALLENGE_BUDGET
from .challenge import course_key
from .paths import ROOT
from .release import source_files

DEFAULT_PATHS = {
    "AUTOGRADER_SOURCE": "/autograder/source",
    "AUTOGRADER_SUBMISSION": "/autograder/submission",
    "AUTOGRADER_RESULTS": "/autograder/results",
}
VENV = "/autograder/venv"  # made by setup.sh; AUTOGRADER_PYTHON overrides its python
CONFIG = "gradescope.json"
EXECUTABLE = ("setup.sh", "run_autograder")
# Shipped: the grader and its checks, the reference, the lessons' source notebooks. Not the
# example submissions (bugs, hostile code): an instructor's test material, not the grader's.
SHIPPED = ("autograder", "solutions/numpynet", "solutions/lessons")
NOT_SHIPPED = ("autograder/examples/",)
SKIPPED_DIRS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git"}
SEARCH_DEPTH = 3  # upload/numpynet, upload/x/numpynet, upload/x/y/numpynet
ZIP_LIMIT_BYTES = 200 * 1024**2  # an uploaded zip is unpacked up to this many bytes
ZIP_LIMIT_FILES = 5000

SETUP_SH = f"""\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# bubblewrap: the sandbox of student code. Where the container refuses its namespaces,
# --isolation any falls back to running student code as a separate uid, else refuses.
apt-get install -y --no-install-recommends bubblewrap python3 python3-venv python3-pip
# The course needs Python >= 3.11: Ubuntu 22.04's python3 is 3.10, so add 3.11 there.
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=python3.11
else
    PYTHON=python3
fi
"$PYTHON" -m venv {VENV}
{VENV}/bin/pip install --upgrade pip
{VENV}/bin/pip install -r requirements.txt
# The class challenge scores on MNIST's test set: download it now (verified by checksum),
# into the reference's cache, where only root can read it.
if grep -q '"assignment": "challenge"' {CONFIG}; then
    (cd solutions && {VENV}/bin/python -m numpynet data)
    # The secret that fixes each upload's scramble (a regrade gives the same grade).
    {VENV}/bin/python -c "import secrets; print(secrets.token_hex(32))" > challenge.key
    chmod 600 challenge.key
fi
# The separate-user sandbox: the grader, hidden checks, reference and notebooks readable by
# root only; the venv (Python and numpy) readable by every user.
chmod -R go-rwx "$(pwd)"
chmod -R go+rX {VENV}
chmod go+x "$(dirname {VENV})"
"""

RUN_AUTOGRADER = f"""\
#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes /autograder/results/results.json.
# The AUTOGRADER_* variables redirect every path (offline tests, a local dry run).
set -uo pipefail
cd "${{AUTOGRADER_SOURCE:-/autograder/source}}"
# Nothing here or in the results is for student code (checked before grading, user mode).
chmod -R go-rwx . 2>/dev/null
mkdir -p "${{AUTOGRADER_RESULTS:-/autograder/results}}"
chmod go-rwx "${{AUTOGRADER_RESULTS:-/autograder/results}}" 2>/dev/null
exec "${{AUTOGRADER_PYTHON:-{VENV}/bin/python}}" -m autograder.gradescope run
"""


def requirements(root: Path = ROOT) -> str:
    """The runtime dependencies in pyproject.toml, one a line (what setup.sh installs)."""
    import tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return "\n".join(project["dependencies"]) + "\n"


def build(
    root: Path = ROOT,
    hidden: str = "after_published",
    timeout: float = 20.0,
    assignment: str = "course",
    isolation: str = "any",
    challenge_budget: float = CHALLENGE_BUDGET,
) -> dict:
    """Every file of the autograder zip: name -> bytes (one zip per assignment)."""
    from .sandbox.isolation import MODES

    if hidden not in report.VISIBILITIES:
        raise ValueError(f"hidden must be one of {report.VISIBILITIES}, got {hidden!r}")
    if isolation not in MODES:
        raise ValueError(f"isolation must be one of {MODES}, got {isolation!r}")
    files: dict[str, bytes] = {
        "setup.sh": SETUP_SH.encode(),
        "run_autograder": RUN_AUTOGRADER.encode(),
        "requirements.txt": requirements(root).encode(),
        CONFIG: (
            json.dumps(
                {
                    "hidden": hidden,
                    "timeout": timeout,
                    "assignment": assignment,
                    "isolation": isolation,
                    "challenge_budget": challenge_budget,
                },
                indent=2,
            )
            + "\n"
        ).encode(),
    }
    for shipped in SHIPPED:
        for relative in source_files(root / shipped):
            name = f"{shipped}/{relative.as_posix()}"
            if not name.startswith(NOT_SHIPPED):
                files[name] = (root / name).read_bytes()
    return files


def points(assignment: str = "course") -> tuple[float, float]:
    """(autograded, hand-graded) points of ``assignment``: what to set on Gradescope.

    The autograder's points are the package's and the notebook test cells' (the tests of
    results.json add up to exactly this); the hand-graded cells (the derivation, the lab's
    evidence) belong in a manual question of that many points, never in results.json.
    """
    from .exercises import in_assignment, scored_exercises
    from .notebooks import source_lessons

    lessons = [lesson for lesson in source_lessons() if in_assignment(lesson.name, assignment)]
    auto = float(sum(e.points for e in scored_exercises(assignment)))
    auto += sum(test.points for lesson in lessons for test in lesson.tests)
    hand = float(sum(points for lesson in lessons for _, points in lesson.manual))
    return auto, hand


def write_zip(files: Mapping[str, bytes], target: Path) -> None:
    """A reproducible zip, setup.sh and run_autograder executable, everything at its root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | (0o755 if name in EXECUTABLE else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())


# -- in the container: find the student's work ---------------------------------------------
def _children(folder: Path) -> list[Path]:
    """Real subfolders (links never followed), junk skipped, sorted."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        p
        for p in entries
        if p.is_dir() and not p.is_symlink() and p.name not in SKIPPED_DIRS
        and not p.name.startswith(".")
    ]  # fmt: skip


def _find(root: Path, name: str, holds: str) -> list[Path]:
    """Folders called ``name`` holding a file matching ``holds``, shallowest first."""
    level, found = [root], []
    for _ in range(SEARCH_DEPTH):
        found = [
            child
            for folder in level
            for child in _children(folder)
            if child.name == name and any(p.is_file() for p in child.glob(holds))
        ]
        if found:
            return found
        level = [child for folder in level for child in _children(folder)]
    return found


def _real_folder(path: Path) -> bool:
    """A folder, not a link to one.

    A ``lessons`` link to the instructor's solved notebooks in /autograder/source must
    never be graded as the student's.
    """
    return path.is_dir() and not path.is_symlink()


def _zips(upload: Path) -> list[Path]:
    """Zip files in the upload down to SEARCH_DEPTH folders, links never followed."""
    level, found = [upload], []
    for _ in range(SEARCH_DEPTH):
        for folder in level:
            found += sorted(p for p in folder.glob("*.zip") if p.is_file() and not p.is_symlink())
        level = [child for folder in level for child in _children(folder)]
    return found


def unpack(archive: Path, target: Path) -> None:
    """Unpack an uploaded zip into ``target``: regular files only, inside ``target``.

    At most ZIP_LIMIT_BYTES and ZIP_LIMIT_FILES: a zip bomb or a ``../`` name stops early.
    """
    total = 0
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.infolist() if not m.is_dir()]
        if len(members) > ZIP_LIMIT_FILES:
            raise ValueError(f"{archive.name} holds more than {ZIP_LIMIT_FILES} files")
        for member in members:
            path = Path(member.filename)
            if path.is_absolute() or ".." in path.parts or stat.S_ISLNK(member.external_attr >> 16):
                continue  # outside the target, or a link: never written
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, destination.open("wb") as sink:
                while chunk := source.read(1 << 20):
                    total += len(chunk)
                    if total > ZIP_LIMIT_BYTES:
                        raise ValueError(f"{archive.name} unpacks to more than 200 MB")
                    sink.write(chunk)


def find_submission(
    upload: Path, scratch: Path, assignment: str = "course"
) -> tuple[Path, list[str]]:
    """A folder in ``scratch`` holding the student's ``numpynet/`` and ``lessons/``.

    With the challenge: ``numpynet/`` and the recipe ``challenge.json`` beside it (or at the
    top of the upload); no notebooks.

    The upload may hold them at its top (the student uploaded the files), one or two
    folders down (they uploaded the course folder, or a zip of it that Gradescope
    unpacked), or inside a zip Gradescope left packed (a zip in a zip): each is found.
    Returns the folder and notes for the student saying what was graded.
    """
    notes: list[str] = []
    roots = [upload]
    packages = _find(upload, "numpynet", "__init__.py")
    if not packages:
        for index, archive in enumerate(_zips(upload)[:3]):
            unpacked = scratch / f"unzipped{index}"
            try:
                unpack(archive, unpacked)
            except (zipfile.BadZipFile, ValueError, OSError) as error:
                notes.append(f"could not unpack {archive.name}: {error}")
                continue
            roots.append(unpacked)
            packages = _find(unpacked, "numpynet", "__init__.py")
            if packages:
                break
    root = roots[-1]
    folder = scratch / "submission"
    folder.mkdir(parents=True)
    if packages:
        package = packages[0]
        lessons = package.parent / "lessons"
        if not _real_folder(lessons) or not any(lessons.glob("*.ipynb")):
            found = _find(root, "lessons", "*.ipynb")
            lessons = found[0] if found else lessons
        _copy(package, folder / "numpynet")
        notes.append(f"graded the package `{_shown(package, roots)}`")
        if len(packages) > 1:
            notes.append(
                "your upload holds several numpynet/ folders: "
                + ", ".join(f"`{_shown(p, roots)}`" for p in packages)
                + "; the first was graded"
            )
    else:
        notes.append(
            "no numpynet/ package (a numpynet folder holding __init__.py) in your upload: "
            "upload your course folder, or a zip of it"
        )
        found = _find(root, "lessons", "*.ipynb")
        lessons = found[0] if found else upload / "lessons"
    if assignment == "challenge":
        notes.append(_copy_recipe([p.parent for p in packages[:1]] + [root], folder, roots))
    elif _real_folder(lessons) and any(lessons.glob("*.ipynb")):
        _copy(lessons, folder / "lessons")
        notes.append(f"graded the notebooks in `{_shown(lessons, roots)}`")
    else:
        notes.append("no lessons/ folder with notebooks in your upload: notebooks score 0")
    return folder, notes


def _copy_recipe(places: list[Path], folder: Path, roots: list[Path]) -> str:
    """Copy the first ``challenge.json`` of ``places`` into ``folder``; the note to show."""
    from .challenge import max_recipe_bytes
    from .exercises import CHALLENGE_FILE

    limit = max_recipe_bytes()

    for place in places:
        recipe = place / CHALLENGE_FILE
        if recipe.is_symlink() or not recipe.is_file():
            continue
        if recipe.stat().st_size > limit:
            return f"`{_shown(recipe, roots)}` is over {limit:,} bytes: not a recipe"
        shutil.copyfile(recipe, folder / CHALLENGE_FILE)
        return f"trained the recipe `{_shown(recipe, roots)}`"
    return f"no {CHALLENGE_FILE} beside your numpynet/ (or at the top of your upload)"


def _copy(source: Path, target: Path) -> None:
    """Copy a student folder; links stay links (the grader never follows them).

    Anything but files, folders and links is left out: a FIFO would block the copy.
    """

    def special(folder: str, names: list[str]) -> set[str]:
        kept = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK)
        modes = {n: os.lstat(os.path.join(folder, n)).st_mode for n in names}
        return {n for n, mode in modes.items() if not any(kind(mode) for kind in kept)}

    shutil.copytree(source, target, symlinks=True, ignore=special)


def _shown(path: Path, roots: list[Path]) -> str:
    """``path`` as the student knows it: relative to their upload (or to their zip)."""
    for root in roots:
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


def _write_results(results: Path, data: dict) -> None:
    results.mkdir(parents=True, exist_ok=True)
    temporary = results / ".results.json.tmp"
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(results / "results.json")


class Refused(RuntimeError):
    """No allowed isolation works in this container: nothing was graded (results.json says so)."""


def _refusal(reason: str, started: float) -> dict:
    """The results.json of an upload that was not graded because no isolation works here."""
    return {
        "score": 0.0,
        "execution_time": int(round(time.perf_counter() - started)),
        "output": "Your upload was NOT graded: this autograder refuses to run student code "
        "without isolation, and none works in this container. This is not your fault and "
        f"costs you nothing: tell your instructor. For the instructor: {reason}",
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def run(
    submission: Path,
    results: Path,
    source: Path = ROOT,
    config: Mapping | None = None,
) -> dict:
    """Grade the upload in ``submission``; write and return ``results/results.json``.

    Never raises for anything the upload does: a failure of the grader itself still
    writes a results.json (score 0, saying so) and prints the traceback to the log. Raises
    :class:`Refused` (after writing a results.json that says so) when the isolation policy
    (``config["isolation"]``, default any) cannot be met here.
    """
    started = time.perf_counter()
    if config is None:
        config = json.loads((source / CONFIG).read_text()) if (source / CONFIG).is_file() else {}
    hidden = config.get("hidden", "after_published")
    timeout = float(config.get("timeout", 20.0))
    with tempfile.TemporaryDirectory(prefix="numpynet-gradescope-") as scratch:
        try:
            from .grade import Grader
            from .notebooks import SOURCE_LESSONS
            from .sandbox import choose

            assignment = str(config.get("assignment", "course"))
            folder, notes = find_submission(submission, Path(scratch), assignment)
            # Every notebook the course has is expected: a missing one scores 0.
            wanted = "always" if any(SOURCE_LESSONS.glob("*.ipynb")) else "skip"
            try:
                results.mkdir(mode=0o700, parents=True, exist_ok=True)
                isolation = choose(str(config.get("isolation", "any")), protect=[results])
            except RuntimeError as refusal:
                refused = _refusal(str(refusal), started)
                print(refused["output"], file=sys.stderr)
                _write_results(results, refused)
                raise Refused(str(refusal)) from None
            grader = Grader(
                isolation,
                timeout,
                notebooks=wanted,
                assignment=assignment,
                challenge_budget=float(config.get("challenge_budget", CHALLENGE_BUDGET)),
                challenge_key=course_key(source) if assignment == "challenge" else None,
            )
            # The lab draws its mysteries from the submitter (lab.py); the name is all it uses.
            who = lab.submitter(submission.parent / "submission_metadata.json")
            result = grader.grade(folder, name=who or "submission")
            data = report.gradescope(result, hidden)
            if lab.embargoed(assignment):
                data = lab.gradescope_until_due(data, result)
            data["output"] = "\n".join(f"- {n}" for n in notes) + "\n\n" + data["output"]
            print(report.table(result))
        except Refused:
            raise  # its results.json is written
        except Exception as error:  # noqa: BLE001 - Gradescope must get a results.json
            traceback.print_exc()
            data = {
                "score": 0.0,
                "execution_time": int(round(time.perf_counter() - started)),
                "output": f"The autograder failed ({type(error).__name__}); this is not your "
                "fault: tell your instructor. Your upload was kept.",
                "output_format": "md",
                "visibility": "visible",
                "stdout_visibility": "hidden",
                "tests": [],
            }
    _write_results(results, data)
    return data


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.gradescope run``: what run_autograder calls in the container."""
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope")
    parser.add_argument("command", choices=("run",))
    parser.parse_args(argv)
    paths = {key: Path(os.environ.get(key) or default) for key, default in DEFAULT_PATHS.items()}
    try:
        run(paths["AUTOGRADER_SUBMISSION"], paths["AUTOGRADER_RESULTS"], paths["AUTOGRADER_SOURCE"])
    except Refused:
        return 1  # results.json says why; a non-zero exit shows in Gradescope's log
    return 0


if __name__ == "__main__":
    sys.exit(main())
