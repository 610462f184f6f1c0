"""A chapter's run folder: checked before any work, held by one run at a time, and either complete or clearly failed.

    <run folder>/
        <chapter>.ipynb, results.json,   the last run whose every cell succeeded; results.json is written last, so
        tables, models/                  it is there only when the whole notebook succeeded
        <chapter>.failed.ipynb           the notebook of the last run that failed, up to the failing cell
        work/                            the notebook kernel's working folder (its ``out_dir`` is "."): the run in
                                         progress, and the checkpoints, which a rerun resumes
        .lock                            while a run holds the folder: its process id

The experiment inside the notebook writes results.json, its tables and models into ``work/``; only when every cell
has succeeded does :meth:`RunFolder.complete` move them up. Paths that results.json records relative to the
notebook's ``out_dir`` (".") are therefore relative to the folder that holds results.json.
"""
from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from pruninglib._io import write_json
from pruninglib.config import ConfigError

WORK = "work"
LOCK = ".lock"
RESULTS = "results.json"


class RunFolderBusy(ConfigError):
    """Another live process holds the run folder's lock."""


def check_out(value: str | os.PathLike[str]) -> Path:
    """``value`` as a run folder path, or ConfigError naming ``--out``, the value and what is allowed.

    Allowed: a non-empty path that is not a file and lies under no file, in a folder where this process can create
    files (not read-only, not without permission). Checked by creating and removing a probe file in the deepest
    folder that exists; nothing else is written.
    """
    text = os.fspath(value)

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"parameter '--out' = {text!r} is not allowed: {why}")

    if not text.strip():
        raise refuse("a folder path, not empty (for example runs/try)")
    path = Path(text)
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise refuse("a folder, not a file" if existing == path else f"a folder path, and {existing} is a file")
    probe = existing / f".pruninglib-probe-{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise refuse(f"a folder this process can write to; creating a file in {existing} fails: "
                     f"{exc.strerror}") from None
    return path


class RunFolder:
    """Hold ``folder`` for one run of ``chapter``: lock it, clear what earlier runs left, and finish it.

    On entering: takes the lock (RunFolderBusy when a live process holds it), removes the previous run's
    results.json and notebooks, leftover ``.*.tmp`` files and the unfinished outputs in ``work/`` (the checkpoints
    stay). On leaving with an exception: the notebook in ``work/`` becomes ``<chapter>.failed.ipynb`` and the
    experiment's results.json there is removed. On leaving, in every case: the lock is released and its file removed.
    (A killed process leaves ``work/`` and the lock file as they were; the next run clears the one and takes over the
    other.)
    """

    def __init__(self, folder: Path, chapter: str) -> None:
        self.folder = Path(folder)
        self.chapter = chapter
        self.work = self.folder / WORK
        self.notebook = self.work / f"{chapter}.ipynb"
        self._lock: int | None = None

    def __enter__(self) -> RunFolder:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = take_lock(self.folder / LOCK)
        try:
            self._clear()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is not None:
                (self.work / RESULTS).unlink(missing_ok=True)  # the experiment's, of a chapter that did not finish
                if self.notebook.exists():
                    os.replace(self.notebook, self.folder / f"{self.chapter}.failed.ipynb")
        finally:
            self._release()

    def complete(self, results: dict[str, Any]) -> Path:
        """Move the run's outputs from ``work/`` into the folder (replacing same-named files; nothing else is
        removed), then the notebook, then write ``results`` as results.json, last. Returns its path."""
        for entry in sorted(self.work.iterdir()):
            if entry.name not in ("checkpoints", RESULTS, self.notebook.name):
                _move(entry, self.folder / entry.name)
        os.replace(self.notebook, self.folder / self.notebook.name)
        write_json(self.folder / RESULTS, results)
        (self.work / RESULTS).unlink(missing_ok=True)
        return self.folder / RESULTS

    def _clear(self) -> None:
        for name in (RESULTS, f"{self.chapter}.ipynb", f"{self.chapter}.failed.ipynb"):
            (self.folder / name).unlink(missing_ok=True)  # a new run supersedes the previous one
        for leftover in self.folder.glob(".*.tmp"):  # half-written files of a killed run (atomic_path)
            leftover.unlink()
        self.work.mkdir(exist_ok=True)
        for entry in self.work.iterdir():
            if entry.name == "checkpoints":
                for leftover in entry.rglob(".*.tmp"):
                    leftover.unlink()
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def _release(self) -> None:
        if self._lock is not None:
            (self.folder / LOCK).unlink(missing_ok=True)  # while still held: no one can lock the old file after
            os.close(self._lock)
            self._lock = None


def take_lock(path: Path) -> int:
    """Lock ``path`` (an exclusive ``flock``) for this process and write its process id into it; return the fd.

    The operating system drops a flock when its process dies, so a lock file left by a killed run is stale and is
    simply taken over. Raises RunFolderBusy, naming the owner's process id, when a live process holds it.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderBusy(
                f"parameter '--out' = '{path.parent}' is not allowed: a folder no other run is using; process "
                f"{owner} is running into it (it holds {path}); wait for it to finish, or choose another --out"
            ) from None
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # the owner released and removed the file between our open and our flock: lock the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _move(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst``: a file replaces ``dst``; a folder is merged into ``dst`` file by file."""
    if src.is_dir() and not src.is_symlink():
        dst.mkdir(exist_ok=True)
        for child in src.iterdir():
            _move(child, dst / child.name)
        src.rmdir()
    else:
        os.replace(src, dst)
