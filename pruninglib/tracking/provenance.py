"""Where a number came from: commit, hardware, software versions."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from pruninglib.data.root import repo_root


def git_commit() -> dict[str, object]:
    """HEAD commit of the repository and whether the working tree had uncommitted changes."""
    root = repo_root() or Path.cwd()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, check=True).stdout.strip())
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device) -> dict[str, object]:
    """The device the run used, in words, plus CPU details (cores visible, torch threads)."""
    info: dict[str, object] = {"device": str(device), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
                               "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    info["summary"] = (f"{info['gpu']} (GPU)" if device.type == "cuda"
                       else f"{info['cpu']}, {info['torch_threads']} torch threads on {info['cpu_count']} cores")
    return info


def software() -> dict[str, str]:
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "platform": platform.platform()}
