"""Packaging: environment.yml and pyproject.toml agree, every imported package is declared, the pinned torch fits."""
import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements(extras: bool = True) -> dict[str, str]:
    reqs = project()["dependencies"] + (project()["optional-dependencies"]["dev"] if extras else [])
    return dict(_split(r) for r in reqs)


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def conda_requirements() -> tuple[dict[str, str], list]:
    deps = environment()["dependencies"]
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


def test_environment_takes_every_package_from_conda_forge_alone():
    # the `pytorch` channel stopped at torch 2.5; conda-forge's `pytorch` package is current
    assert [c for c in environment()["channels"] if c != "nodefaults"] == ["conda-forge"]
    assert "pytorch" in [_split(d)[0] for d in environment()["dependencies"] if isinstance(d, str)]


def test_environment_asks_for_the_python_that_pyproject_requires():
    conda = dict(_split(d) for d in environment()["dependencies"] if isinstance(d, str))
    assert conda["python"] == project()["requires-python"]


def test_python_requirement_admits_this_interpreter_and_no_older_than_the_tests_need():
    required = SpecifierSet(project()["requires-python"])
    assert required.contains(".".join(map(str, sys.version_info[:3])))
    assert not required.contains("3.10")  # the tests import tomllib (3.11+)


def test_the_makefiles_pinned_cpu_torch_lies_in_the_range_pyproject_declares():
    pinned = re.search(r"^TORCH_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert SpecifierSet(pyproject_requirements()["torch"]).contains(pinned)


def test_license_is_the_mit_text_that_pyproject_names():
    assert project()["license"] == "MIT" and project()["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def imported_modules(folder: Path) -> dict[str, str]:
    """Top-level name of every absolute import in folder's .py files -> the first file importing it."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path.relative_to(folder.parent).as_posix())
    return found


def undeclared(folder: Path, declared: set[str]) -> list[str]:
    """Imports in folder that are neither stdlib, seqlib, a module beside them, nor from a declared distribution."""
    local = {p.stem for p in folder.rglob("*.py")} | {"seqlib"}
    dists = packages_distributions()
    missing = []
    for module, where in imported_modules(folder).items():
        if module in sys.stdlib_module_names or module in local:
            continue
        names = {_split(d)[0] for d in dists.get(module, [])}
        if not names & declared:
            missing.append(f"{module} (imported in {where}, from {sorted(names) or 'no installed distribution'})")
    return missing


def test_every_package_the_library_imports_is_a_declared_dependency():
    assert undeclared(ROOT / "seqlib", set(pyproject_requirements(extras=False))) == []


def test_every_package_the_tests_and_benchmarks_import_is_declared_with_the_dev_extras():
    for folder in ("tests", "benchmarks"):
        assert undeclared(ROOT / folder, set(pyproject_requirements())) == []


def test_import_scan_sees_imports_inside_functions(tmp_path):
    (tmp_path / "m.py").write_text("import os\ndef f():\n    from yaml import safe_load\n    import numpy.linalg\n")
    where = f"{tmp_path.name}/m.py"
    assert imported_modules(tmp_path) == {"os": where, "yaml": where, "numpy": where}
    assert undeclared(tmp_path, {"numpy"}) == [f"yaml (imported in {where}, from ['pyyaml'])"]
