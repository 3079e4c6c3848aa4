"""The installed environment is the pinned one (constraints.txt): drift fails here, not at run time."""

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"


def test_installed_versions_match_the_pins():
    drift = []
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            drift.append(f"{requirement.name}: not installed")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            drift.append(f"{requirement.name}: {installed} installed, {requirement.specifier} pinned")
    assert not drift, "; ".join(drift)


def test_torch_is_the_pinned_build_and_within_the_projects_range():
    import tomllib

    installed = metadata.version("torch")
    assert installed.startswith("2.13.0") and "torch==2.13.0" in CONSTRAINTS.read_text().splitlines()
    pyproject = tomllib.loads((CONSTRAINTS.parent / "pyproject.toml").read_text())["project"]["dependencies"]
    (torch,) = [Requirement(line) for line in pyproject if Requirement(line).name == "torch"]
    assert torch.specifier.contains(installed.split("+")[0])
