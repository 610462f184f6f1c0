"""The run store: one folder per point, named by a hash of everything that decides its result.

A point's key is the SHA-256 of its chapter, its full validated parameters (without ``out_dir``, which only says
where outputs go; the device is kept, since ``cpu`` and ``cuda`` give different numbers) and :func:`code_version`.
Two sweeps that share a point therefore share its record, and a change of the library makes new points.

``<store>/<key>/`` holds:

- ``point.json``: chapter, parameters and code version, written when the point first starts;
- ``results.json``: the experiment's record, written atomically and last by the experiment, so its presence means
  the point is done; next to it the experiment's tables and models, and while it runs its per-epoch checkpoints
  (an interrupted point resumes from them; they are deleted once it is done);
- ``error.json``: the error and traceback of a failed attempt, removed when the point is run again;
- ``.lock``: locked (``flock``) by the process running the point, so two sweeps never train one point at once.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import socket
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pruninglib._io import write_json
from pruninglib.data.root import repo_root
from pruninglib.sweeps.spec import Point

ENV_STORE = "PRUNINGLIB_STORE"


class PointBusy(RuntimeError):
    """Another process holds the point's lock (it is running it now)."""


def default_store() -> Path:
    """``$PRUNINGLIB_STORE``, else ``runs/store`` in the repository (git-ignored), else in the working directory."""
    if os.environ.get(ENV_STORE):
        return Path(os.environ[ENV_STORE]).expanduser()
    return (repo_root() or Path.cwd()) / "runs" / "store"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the source files of the imported ``pruninglib`` package, plus torch's version.

    Why not the git commit: this hash is the same across commits that change only notebooks, the book or the
    tests, so their points are reused; it also sees uncommitted edits, and works in an install without git. The
    price: any edit of the library (a comment included) makes every point new. Cached per process, because a
    process keeps running the code it imported first.
    """
    import torch

    import pruninglib

    root = Path(pruninglib.__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{h.hexdigest()[:16]}+torch-{torch.__version__}"


def point_key(point: Point, code: str) -> str:
    """The point's folder name in the store: 20 hex digits of the SHA-256 of chapter, parameters and ``code``."""
    blob = json.dumps({"chapter": point.chapter, "parameters": point.parameters, "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class RunStore:
    """The folder of point records at ``root`` (default :func:`default_store`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_store()

    def folder(self, key: str) -> Path:
        return self.root / key

    def state(self, key: str) -> str:
        """``"done"`` (results.json present), ``"failed"`` (error.json present) or ``"pending"``."""
        folder = self.folder(key)
        if (folder / "results.json").is_file():
            return "done"
        return "failed" if (folder / "error.json").is_file() else "pending"

    def add(self, key: str, point: Point, code: str) -> None:
        """Write the point's ``point.json`` (once; a later sweep sharing the point keeps it)."""
        path = self.folder(key) / "point.json"
        if not path.is_file():
            write_json(path, {"key": key, "chapter": point.chapter, "parameters": point.parameters, "code": code})

    def keys(self) -> list[str]:
        """Every point queued in this store, done or not."""
        return sorted(p.parent.name for p in self.root.glob("*/point.json")) if self.root.is_dir() else []

    def point(self, key: str) -> dict[str, Any]:
        return json.loads((self.folder(key) / "point.json").read_text())

    def results(self, key: str) -> dict[str, Any]:
        return json.loads((self.folder(key) / "results.json").read_text())

    def error(self, key: str) -> dict[str, Any] | None:
        path = self.folder(key) / "error.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def record_failure(self, key: str, exc: BaseException) -> None:
        """Write ``error.json`` (atomically): the error in one line, its traceback, where and when it happened."""
        write_json(self.folder(key) / "error.json", {
            "error": f"{type(exc).__name__}: {exc}", "traceback": "".join(traceback.format_exception(exc)),
            "host": socket.gethostname(), "pid": os.getpid(),
            "failed_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def clear_failure(self, key: str) -> None:
        (self.folder(key) / "error.json").unlink(missing_ok=True)

    @contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """Hold the point's lock for the block; raise :class:`PointBusy` at once if another process holds it.

        The kernel drops an ``flock`` when its holder dies, so a killed sweep leaves no stale lock behind.
        """
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PointBusy(f"point {key} is being run by another process (lock {folder / '.lock'})") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
