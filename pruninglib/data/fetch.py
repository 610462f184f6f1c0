"""Finding, verifying and downloading the files of a data set (pooch: pinned URLs, known hashes, atomic writes).

Each file is a :class:`Remote`: a path relative to a data root, its SHA-256 and its pinned upstream URL. It is
looked for under the data root first (read-only: a corrupt file there stops the run, naming it), then in the
cache's download folder (a corrupt or truncated copy there is deleted and downloaded again), and downloaded into
that folder when it is in neither. pooch streams each download into a temporary file beside the target and moves
it into place only after its hash matched, so a failed or killed download never leaves a file that later passes
for a whole one. ``$PRUNINGLIB_DATA_MIRROR`` (for tests and mirrors) replaces every upstream URL by
``<mirror>/<path>``: a mirror is a data root served over HTTP.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from tqdm import tqdm

from pruninglib.data.root import GUIDE, ChecksumError, DataNotFoundError, FileRecord, downloads_dir, verify_file

ENV_MIRROR = "PRUNINGLIB_DATA_MIRROR"
ATTEMPTS = 3  # a download cut off mid-file, a timeout or a corrupt transfer is tried again; a refused one is not
TIMEOUT_S = (10, 60)  # seconds to connect (a silent firewall must not hold up the offline fallback), to read
RETRY_WAIT_S = 1.0  # times the attempt number


@dataclass(frozen=True)
class Remote:
    """One file of a data set: where it lies under a data root, its SHA-256, where it is downloaded from."""

    path: str  # relative to a data root; also its place in the download folder and on a mirror
    sha256: str | None  # None: the data set checks the content itself (the DSB archive, member by member)
    url: str | None = None  # pinned upstream URL; None: never downloaded (found on disk or not at all)

    def source(self) -> str | None:
        """The URL to download from: ``$PRUNINGLIB_DATA_MIRROR/<path>`` when that is set, else :attr:`url`."""
        mirror = os.environ.get(ENV_MIRROR)
        if mirror and self.url is not None:
            return f"{mirror.rstrip('/')}/{quote(self.path)}"
        return self.url


class OfflineError(DataNotFoundError):
    """The files could not be downloaded: no connection to their server."""


def _where(root: Path | None, origin: str, folder: str) -> str:
    inside = f"{root / folder} (data root from {origin})" if root is not None else f"no data root ({origin})"
    return f"{inside} and the download cache {downloads_dir() / folder}"


@contextmanager
def _quiet_pooch() -> Iterator[None]:
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch logs every file at INFO; our bar and messages say it once
    try:
        yield
    finally:
        logger.setLevel(level)


def _download_one(remote: Remote, progress: bool) -> Path:
    """Download ``remote`` into the download folder (pooch: temporary file, hash check, then rename); retried
    when cut off, timed out or corrupt. Raises OfflineError when the server cannot be reached, ChecksumError naming
    the file when every attempt gave the wrong bytes, DataNotFoundError when the server does not have it."""
    import pooch
    import requests

    url = remote.source()
    assert url is not None
    target = downloads_dir() / remote.path
    known = f"sha256:{remote.sha256}" if remote.sha256 else None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            pooch.retrieve(url, known, fname=target.name, path=target.parent, progressbar=False,
                           downloader=pooch.HTTPDownloader(progressbar=progress, chunk_size=1 << 20,
                                                           timeout=TIMEOUT_S))
            return target
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status < 500 or attempt == ATTEMPTS:
                raise DataNotFoundError(f"{url} answered HTTP {status}: {remote.path} cannot be downloaded from "
                                        f"there (see {GUIDE})") from exc
        except requests.exceptions.ConnectionError as exc:  # refused, unknown host, connect timeout: no retry
            reason = getattr(exc.args[0], "reason", exc) if exc.args else exc  # e.g. NameResolutionError
            raise OfflineError(f"no connection to {url} ({type(reason).__name__})") from exc
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.Timeout) as exc:
            if attempt == ATTEMPTS:
                raise OfflineError(f"the download of {remote.path} from {url} was cut off {ATTEMPTS} times "
                                   f"({type(exc).__name__})") from exc
        except ValueError as exc:  # pooch: the downloaded bytes do not have the known hash (already deleted)
            if attempt == ATTEMPTS:
                raise ChecksumError(f"checksum mismatch for {remote.path} downloaded from {url}, {ATTEMPTS} times: "
                                    f"{exc} Nothing was kept. The server's copy is not the original (see "
                                    f"{GUIDE})") from exc
        time.sleep(RETRY_WAIT_S * attempt)
    raise AssertionError("unreachable")


def download(remotes: list[Remote], what: str, progress: bool = True) -> list[Path]:
    """Download ``remotes`` into the download folder, in order; a bar counts files when there are many, bytes
    otherwise. Raises like :func:`_download_one`; files downloaded before a failure stay (each is whole)."""
    many = len(remotes) > 4
    paths = []
    with _quiet_pooch():
        for remote in tqdm(remotes, desc=f"download {what}", unit="file", disable=not (progress and many)):
            paths.append(_download_one(remote, progress and not many))
    return paths


def fetch_missing(wanted: list[Remote], root: Path | None, origin: str, what: str, folder: str, *,
                  fetch: bool = True, progress: bool = True) -> list[Path]:
    """Download ``wanted`` (files of ``what`` found neither under ``root`` nor in the cache), or raise
    DataNotFoundError (OfflineError when the server is unreachable) naming them, the folders looked in and the
    fix, when ``fetch`` is False, a file has no URL, or the download fails."""
    names = ", ".join(r.path for r in wanted[:5]) + (f" and {len(wanted) - 5} more" if len(wanted) > 5 else "")
    looked = _where(root, origin, folder)
    if not fetch or any(r.source() is None for r in wanted):
        raise DataNotFoundError(f"{what}: {len(wanted)} file(s) missing ({names}); looked in {looked}. See {GUIDE} "
                                f"for where they come from")
    try:
        return download(wanted, what, progress)
    except OfflineError as exc:
        raise OfflineError(
            f"{what}: {len(wanted)} file(s) missing ({names}); looked in {looked}, and the download failed: {exc}. "
            f"Fix: connect to the network and run `pruninglib data fetch`, or set $PRUNINGLIB_DATA (or data_root) "
            f"to a folder that holds them (see {GUIDE})") from exc


def resolve(remotes: list[Remote], root: Path | None, origin: str, what: str, folder: str, *,
            fetch: bool = True, progress: bool = True) -> tuple[list[Path], list[dict[str, str]]]:
    """Find, verify and (when ``fetch``) download every file of ``remotes``; return their paths (same order) and
    the records of their verification.

    A file under ``root`` is used as it is and must match (else ChecksumError naming it); a copy in the download
    folder that does not match is deleted and downloaded again. Missing files that cannot be downloaded raise
    DataNotFoundError (OfflineError when the server is unreachable) naming them, the folders looked in, the
    download's source and the fix.
    """
    paths: dict[int, Path] = {}
    records: dict[int, FileRecord] = {}
    for i, remote in enumerate(remotes):
        local = root / remote.path if root is not None else None
        if local is not None and local.is_file():
            paths[i], records[i] = local, verify_file(local, remote.sha256)  # type: ignore[arg-type]
        elif (record := cached_copy(remote)) is not None:
            paths[i], records[i] = Path(record.path), record
    missing = [i for i in range(len(remotes)) if i not in paths]
    if missing:
        got = fetch_missing([remotes[i] for i in missing], root, origin, what, folder, fetch=fetch,
                            progress=progress)
        for i, path in zip(missing, got):
            paths[i], records[i] = path, FileRecord(str(path), remotes[i].sha256)  # type: ignore[arg-type]
    return [paths[i] for i in range(len(remotes))], [records[i].to_dict() for i in range(len(remotes))]


def cached_copy(remote: Remote) -> FileRecord | None:
    """The verified record of ``remote``'s copy in the download folder; None when there is none, or when it did
    not match (then it is deleted, saying so, to be downloaded again)."""
    path = downloads_dir() / remote.path
    if not path.is_file():
        return None
    try:
        return verify_file(path, remote.sha256)  # type: ignore[arg-type]
    except ChecksumError as exc:
        print(f"pruninglib: {exc}; downloading it again", file=sys.stderr, flush=True)
        path.unlink(missing_ok=True)  # another run may have deleted it first
        return None


def obtained(paths: list[Path], root: Path | None) -> str:
    """Where ``paths`` were found, for results.json: the data root, the download cache, or both (with counts)."""
    cached = sum(1 for p in paths if p.is_relative_to(downloads_dir()))  # the cache may lie inside the root
    parts = [f"{len(paths) - cached} file(s) from the data root {root}" if len(paths) > cached else "",
             f"{cached} file(s) from the download cache {downloads_dir()}" if cached else ""]
    return " and ".join(p for p in parts if p)


def status(remotes: list[Remote], root: Path | None, cached: bool = True) -> list[tuple[str, str]]:
    """For ``pruninglib data verify``: each file as (state, path) with state ``ok``, ``corrupt`` or ``missing``,
    looked for under ``root``, then in the download folder when ``cached``. Nothing is downloaded or deleted."""
    out = []
    for remote in remotes:
        places = [root / remote.path] if root is not None else []
        for path in places + ([downloads_dir() / remote.path] if cached else []):
            if path.is_file():
                try:
                    verify_file(path, remote.sha256)  # type: ignore[arg-type]
                    out.append(("ok", str(path)))
                except ChecksumError:
                    out.append(("corrupt", str(path)))
                break
        else:
            out.append(("missing", remote.path))
    return out
