"""pyproject.toml and environment.yml must describe the same environment."""

import re
import tomllib

import yaml
from conftest import ROOT
from packaging.requirements import Requirement


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda_requirements() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    pip: list[str] = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            pip.extend(entry.get("pip", []))
            continue
        name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", entry).groups()
        conda[name.lower()] = spec.replace(" ", "")
    return conda, pip


def test_conda_lists_every_runtime_dependency_with_the_same_bounds():
    runtime = {}
    for line in _pyproject()["project"]["dependencies"]:
        requirement = Requirement(line)
        runtime[requirement.name.lower()] = str(requirement.specifier)
    conda, _ = _conda_requirements()
    # conda adds python itself and pip; everything else must match exactly.
    extra = set(conda) - set(runtime) - {"python", "pip"}
    missing = set(runtime) - set(conda)
    assert not missing, f"in pyproject.toml but not environment.yml: {sorted(missing)}"
    assert not extra, f"in environment.yml but not pyproject.toml: {sorted(extra)}"
    for name, spec in runtime.items():
        assert conda[name] == spec, f"{name}: pyproject {spec!r} vs environment.yml {conda[name]!r}"


def test_conda_python_matches_requires_python():
    conda, _ = _conda_requirements()
    assert conda["python"] == _pyproject()["project"]["requires-python"]


def test_conda_installs_the_project_with_the_dev_extra():
    _, pip = _conda_requirements()
    assert "-e .[dev]" in pip
    assert "dev" in _pyproject()["project"]["optional-dependencies"]


def test_pytorch_is_never_a_runtime_dependency():
    names = {Requirement(line).name.lower() for line in _pyproject()["project"]["dependencies"]}
    assert "torch" not in names
    conda, pip = _conda_requirements()
    assert "torch" not in conda and not any("torch" in line for line in pip)
