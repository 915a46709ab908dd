"""environment.yml and pyproject.toml must name the same packages with the same version ranges."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(_split(r) for r in reqs)


def conda_requirements() -> tuple[dict[str, str], list]:
    deps = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = {}
    pip_section = []
    for dep in deps:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
            continue
        name, spec = _split(dep)
        if name not in CONDA_ONLY:
            conda[CONDA_TO_PIP.get(name, name)] = spec
    return conda, pip_section


def test_environment_and_pyproject_name_the_same_packages_and_versions():
    conda, _ = conda_requirements()
    assert conda == pyproject_requirements()


def test_environment_installs_the_project_itself_with_dev_extras():
    _, pip_section = conda_requirements()
    assert pip_section == ["-e .[dev]"]


def test_split_normalises_names_and_keeps_specs():
    assert _split("Torch_X >=2.4, <3") == ("torch-x", ">=2.4,<3")
