"""Where data live: the data root, the writable cache, known checksums and their verification.

A data set is looked for file by file, first under the *data root* (read-only as far as pruninglib is concerned:
the ``data_root`` parameter, else ``$PRUNINGLIB_DATA``, else ``data/`` of a repository checkout), then in the
cache's download folder, which has the same layout (``$PRUNINGLIB_CACHE``, else ``data/cache`` in the
repository, else ``~/.cache/pruninglib``); what is in neither is downloaded there (:mod:`pruninglib.data.fetch`).
Users are pointed at :data:`GUIDE` for where each data set comes from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pruninglib._io import sha256_file

ENV_DATA = "PRUNINGLIB_DATA"
ENV_CACHE = "PRUNINGLIB_CACHE"
GUIDE = "data/README.md"  # in the repository: where each data set comes from, its layout, license and size


class DataNotFoundError(FileNotFoundError):
    """The data set is not in any folder looked in and could not be downloaded."""


class ChecksumError(ValueError):
    """A data file's SHA-256 differs from the expected value (or a checksum list is malformed)."""


def repo_root() -> Path | None:
    """The repository holding this package, when installed editable from a checkout; else None."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").exists() and (here / "pruninglib").is_dir() else None


def data_root_candidates(explicit: str | os.PathLike[str] | None = None) -> list[tuple[str, Path]]:
    """The data roots in resolution order, each with where it came from: argument, environment, repository.

    Raises ValueError when ``explicit`` is neither None, a string nor a path (e.g. ``-p data_root 5``).
    """
    if explicit is not None and not isinstance(explicit, (str, os.PathLike)):
        raise ValueError(f"parameter 'data_root' = {explicit!r} is not allowed: a folder path (a string), or empty "
                         f"for ${ENV_DATA} or the repository's data/")
    found: list[tuple[str, Path]] = []
    if explicit:
        found.append(("argument data_root", Path(explicit).expanduser()))
    if os.environ.get(ENV_DATA):
        found.append((f"${ENV_DATA}", Path(os.environ[ENV_DATA]).expanduser()))
    repo = repo_root()
    if repo is not None:
        found.append(("repository data/", repo / "data"))
    return found


def resolve_data_root(explicit: str | os.PathLike[str] | None = None) -> tuple[str, Path | None]:
    """The first data root of :func:`data_root_candidates` (argument, then $PRUNINGLIB_DATA, then data/).

    Returns ``(origin, None)`` when none is set and there is no repository data/ folder (an installed package):
    every file then comes from the cache. Raises DataNotFoundError when a root that was asked for (argument or
    environment) does not exist, ValueError when ``explicit`` is not a path.
    """
    candidates = data_root_candidates(explicit)
    if not candidates:
        return "no data root (an installed package without $PRUNINGLIB_DATA)", None
    origin, root = candidates[0]
    if not root.is_dir():
        if origin == "repository data/":
            return origin, None
        raise DataNotFoundError(
            f"data root {root} ({origin}) does not exist; create it, or point ${ENV_DATA} / data_root at the "
            f"folder that holds the data sets (see {GUIDE})")
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


def downloads_dir() -> Path:
    """The cache folder that downloads go to, laid out like a data root (so it can serve as one, or as a mirror)."""
    return cache_dir("downloads")


@dataclass(frozen=True)
class FileRecord:
    """A file a run read, with the SHA-256 it was verified to have (only verified files get a record)."""

    path: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}


def verify_file(path: Path, expected_sha256: str) -> FileRecord:
    """Hash ``path`` and compare with ``expected_sha256``; raise ChecksumError naming the file on mismatch."""
    digest = sha256_file(path)
    if digest != expected_sha256:
        raise ChecksumError(
            f"checksum mismatch for {path}: sha256 {digest}, expected {expected_sha256}. The file is corrupt or "
            f"not the original: replace it (the cache's copy is downloaded again by `pruninglib data fetch`; "
            f"see {GUIDE})")
    return FileRecord(str(path), digest)


def read_sums(path: Path) -> dict[str, str]:
    """A checksum list in ``sha256sum`` format (``<64 hex digits>  <relative path>``; ``#`` lines are comments) as
    {relative path: digest}. Raises ChecksumError naming the file and line when a line is malformed."""
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise ChecksumError(f"{path}, line {number}: {line[:80]!r} is not '<sha256 (64 hex digits)>  <path>'")
        sums[name] = digest
    return sums
