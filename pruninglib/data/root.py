"""Where data live: resolving the data root, the writable cache, and checksum verification.

The data root is read-only as far as pruninglib is concerned: files are verified there and staged into a
cache folder (``$PRUNINGLIB_CACHE``, else ``data/cache`` in the repository, else ``~/.cache/pruninglib``)
before any library such as torchvision extracts them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pruninglib._io import sha256_file

ENV_DATA = "PRUNINGLIB_DATA"
ENV_CACHE = "PRUNINGLIB_CACHE"


class DataNotFoundError(FileNotFoundError):
    """The data set is not in any folder looked in and could not be downloaded."""


class ChecksumError(OSError):
    """A data file's SHA-256 differs from the expected value."""


def repo_root() -> Path | None:
    """The repository holding this package, when installed editable from a checkout; else None."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").exists() and (here / "pruninglib").is_dir() else None


def data_root_candidates(explicit: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """The data roots in resolution order, each with where it came from: argument, environment, repository."""
    found: list[tuple[str, Path]] = []
    if explicit:
        found.append(("argument data_root", Path(explicit).expanduser()))
    if os.environ.get(ENV_DATA):
        found.append((f"${ENV_DATA}", Path(os.environ[ENV_DATA]).expanduser()))
    repo = repo_root()
    if repo is not None:
        found.append(("repository data/", repo / "data"))
    return found


def resolve_data_root(explicit: str | os.PathLike[str] | None = None) -> tuple[str, Path]:
    """The first data root of :func:`data_root_candidates` (argument, then $PRUNINGLIB_DATA, then data/).

    Raises DataNotFoundError when none is set or the chosen one does not exist.
    """
    candidates = data_root_candidates(explicit)
    if not candidates:
        raise DataNotFoundError(
            f"no data root: pass data_root=..., set ${ENV_DATA}, or run from a repository checkout with data/")
    origin, root = candidates[0]
    if not root.is_dir():
        raise DataNotFoundError(
            f"data root {root} ({origin}) does not exist; create it, or point ${ENV_DATA} / data_root at the "
            f"folder that holds the data sets (for example ../shared/data)")
    return origin, root


def cache_dir(*parts: str) -> Path:
    """A writable cache folder (created), never inside the data root."""
    if os.environ.get(ENV_CACHE):
        base = Path(os.environ[ENV_CACHE]).expanduser()
    elif repo_root() is not None:
        base = repo_root() / "data" / "cache"  # type: ignore[operator]
    else:
        base = Path.home() / ".cache" / "pruninglib"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class FileRecord:
    """What a run read: the file, its SHA-256 and whether it matched the expected value."""

    path: str
    sha256: str
    verified: bool

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "sha256": self.sha256, "checksum_ok": self.verified}


def verify_file(path: Path, expected_sha256: str) -> FileRecord:
    """Hash ``path`` and compare with ``expected_sha256``; raise ChecksumError naming the file on mismatch."""
    digest = sha256_file(path)
    if digest != expected_sha256:
        raise ChecksumError(
            f"checksum mismatch for {path}: sha256 {digest}, expected {expected_sha256}. The file is corrupt or "
            f"not the original; delete it and download again (or restore it from the source named in "
            f"MANIFEST.md)")
    return FileRecord(str(path), digest, True)


def read_checksums(root: Path) -> dict[str, str]:
    """``SHA256SUMS`` of the data root as {relative path: digest}."""
    path = root / "SHA256SUMS"
    if not path.is_file():
        raise DataNotFoundError(f"no checksum list {path}: the images cannot be verified (see MANIFEST.md)")
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    return sums
