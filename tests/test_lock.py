"""The pinned environments: the locks pin every dependency of pyproject.toml, agree with each other, and are what
environment.yml and Binder install."""
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
REQ = REPO / "requirements"


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _for_the_lock(requirement: str) -> bool:
    """Whether ``requirement`` applies on the Pythons the locks are for (3.11+): tomli, for 3.10 only, does not."""
    marker = Requirement(requirement).marker
    return marker is None or marker.evaluate({"python_version": "3.11", "python_full_version": "3.11.0"})


def _pins(path: Path) -> dict[str, list[str]]:
    pins: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith(("#", " ", "-")):
            pins.setdefault(_name(line), []).append(line.split("==", 1)[1].split(" ;")[0].strip())
    return pins


def test_the_locks_pin_every_dependency_and_the_pytorch_of_the_book():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"] if _for_the_lock(r)}
    full, cpu = _pins(REQ / "lock.txt"), _pins(REQ / "lock-cpu.txt")
    assert wanted <= set(full) and wanted <= set(cpu), "rerun requirements/compile.sh"
    constraints = _pins(REQ / "constraints.txt")
    for name in ("torch", "torchvision"):
        assert full[name] == constraints[name] and cpu[name] == [f"{constraints[name][0]}+cpu"]
    cuda = {n for n in full if n.startswith(("nvidia-", "cuda-")) or n == "triton"}
    assert cuda and not cuda & set(cpu)  # the CPU lock has no CUDA package, and nothing else differs
    assert {n: v for n, v in full.items() if n not in cuda | {"torch", "torchvision"}} == \
        {n: v for n, v in cpu.items() if n not in ("torch", "torchvision")}


def test_conda_and_binder_install_from_the_locks():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-r requirements/lock.txt", "-e ."] and "python=3.11" in env["dependencies"]
    binder = [line for line in (REPO / "binder" / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert binder == ["-r ../requirements/lock-cpu.txt", "-e ."] and (REPO / "binder" / binder[0][3:]).is_file()
    assert (REPO / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
