"""The records of a finished VGG chapter run: bundled for transport, and read back to render the chapter.

The paper profile trains on a GPU machine whose results come back as a few files of limited size
(:mod:`pruninglib.experiments.vgg_job`): :func:`bundle` packs a run folder (``results.json``, the tables, the
dynamics, the saved model; not the checkpoints) into one gzipped tar cut into parts of at most 16 MiB, with a
``manifest.json`` holding the SHA-256 of every part and of the whole. :func:`load_result` reads a run folder, or
such a bundle (verified, then unpacked once into the cache), back into the :class:`ChapterResult` the notebook
shows, after checking that the run's parameters are the ones asked for: the chapter is then rendered on a CPU
(``pruninglib publish vgg_cifar10 --profile paper -p from_records <folder>``).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pruninglib._io import atomic_path, sha256_file
from pruninglib.config import VGGCifarConfig
from pruninglib.data.root import cache_dir
from pruninglib.experiments.runner import ChapterResult
from pruninglib.models import load_model

SCHEMA = "pruninglib-records-bundle/1"
MANIFEST = "manifest.json"
PART_BYTES = 16 * 2 ** 20
# Where and how a run ran, not what it computed: records made elsewhere may differ in these.
PLACE = ("out_dir", "device", "data_root", "download", "checkpoint_every", "from_records")


def library_sha256() -> str:
    """SHA-256 over the paths and contents of the ``pruninglib`` package's source files (a git commit is not
    known on a machine that received a copy of the working tree)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and (p.suffix == ".py" or p.parent.name == "sums")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def bundle(folder: str | Path, out: str | Path, max_parts: int = 6, part_bytes: int = PART_BYTES) -> list[Path]:
    """Pack every file under ``folder`` except ``checkpoints/`` into ``out/records.tar.gz.partNN`` (each at most
    ``part_bytes``) plus ``out/manifest.json``; return the files written. Raises ValueError, writing nothing, when
    more than ``max_parts`` parts would be needed."""
    folder, out = Path(folder), Path(out)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "checkpoints" not in p.relative_to(folder).parts)
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "records.tar.gz"
        with tarfile.open(whole, "w:gz") as tar:
            for p in files:
                tar.add(p, arcname=str(p.relative_to(folder)))
        size = whole.stat().st_size
        n = max(1, -(-size // part_bytes))
        if n > max_parts:
            raise ValueError(f"the records of {folder} take {size:,} bytes compressed: {n} parts of "
                             f"{part_bytes:,} bytes, more than the {max_parts} allowed")
        out.mkdir(parents=True, exist_ok=True)
        parts, written = [], []
        with whole.open("rb") as f:
            for i in range(n):
                path = out / f"records.tar.gz.part{i + 1:02d}"
                with atomic_path(path) as t:
                    Path(t).write_bytes(f.read(part_bytes))
                parts.append({"name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)})
                written.append(path)
        manifest = {"schema": SCHEMA, "sha256": sha256_file(whole), "bytes": size, "parts": parts,
                    "files": [str(p.relative_to(folder)) for p in files]}
    with atomic_path(out / MANIFEST) as t:
        Path(t).write_text(json.dumps(manifest, indent=1))
    return [*written, out / MANIFEST]


def unbundle(folder: str | Path) -> Path:
    """The run folder of ``folder``: itself when it holds ``results.json``; else the bundle it holds, each part
    and the whole checked against the manifest (ValueError naming a part that does not match), unpacked once into
    ``<cache>/records/<sha256>/`` and returned from there."""
    folder = Path(folder)
    if (folder / "results.json").is_file():
        return folder
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"from_records = {str(folder)!r}: neither results.json nor a bundle's {MANIFEST} "
                                f"is there")
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest.get("schema") != SCHEMA:
        raise ValueError(f"{folder / MANIFEST} is not a records bundle (expected schema {SCHEMA!r})")
    dest = cache_dir("records") / manifest["sha256"][:16]
    if (dest / "results.json").is_file():
        return dest
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        whole = Path(tmp) / "records.tar.gz"
        with whole.open("wb") as f:
            for part in manifest["parts"]:
                path = folder / part["name"]
                if not path.is_file() or sha256_file(path) != part["sha256"]:
                    raise ValueError(f"{path} is missing or does not match its SHA-256 in {folder / MANIFEST}")
                f.write(path.read_bytes())
        if sha256_file(whole) != manifest["sha256"]:
            raise ValueError(f"the parts in {folder} put together do not match the bundle's SHA-256")
        unpacked = Path(tmp) / "run"
        with tarfile.open(whole, "r:gz") as tar:
            tar.extractall(unpacked, filter="data")
        shutil.rmtree(dest, ignore_errors=True)
        unpacked.rename(dest)
    return dest


def check_parameters(results: dict[str, Any], cfg: VGGCifarConfig) -> None:
    """Raise ValueError naming every parameter (other than :data:`PLACE`) whose value in the records differs from
    ``cfg``'s: a chapter rendered from records shows the run it says it shows."""
    asked = json.loads(json.dumps(cfg.to_dict()))
    differ = [f"{k}: {results['parameters'].get(k)!r} in the records, {v!r} asked"
              for k, v in asked.items() if k not in PLACE and results["parameters"].get(k) != v]
    if differ:
        raise ValueError(f"from_records = {cfg.from_records!r} holds another run: " + "; ".join(differ))


def load_result(path: str | Path, cfg: VGGCifarConfig) -> ChapterResult:
    """The :class:`ChapterResult` of the finished run at ``path`` (see :func:`unbundle`), checked against ``cfg``
    (:func:`check_parameters`). The masked nets are not part of the records (``models`` is empty); ``shrunk``
    holds the saved headline net. File paths in the returned record point into the unpacked folder;
    ``results["rendered_from"]`` says where the records came from and whether they were made by this checkout's
    library code."""
    folder = unbundle(path)
    results = json.loads((folder / "results.json").read_text())
    check_parameters(results, cfg)
    local = {name: folder / Path(p).name for name, p in results["files"].items()}
    tables = {name: pd.read_csv(p) for name, p in local.items() if name not in ("summary", "dynamics")}
    dynamics = pd.read_csv(local["dynamics"]) if "dynamics" in local else pd.DataFrame()
    if "node" in dynamics:
        dynamics["node"] = dynamics["node"].astype("Int64")  # as tracking.to_frame makes it
    models = [str(folder / "models" / Path(p).name) for p in results["models"]]
    job = results.get("job", {})
    results = {**results, "files": {k: str(v) for k, v in local.items()}, "models": models,
               "rendered_from": {"records": str(path), "library_sha256": job.get("library_sha256"),
                                 "same_library_as_this_checkout": job.get("library_sha256") == library_sha256()}}
    shrunk = {(results["headline"]["shrunk"]["variant"], results["headline"]["shrunk"]["seed"]): load_model(models[0])}
    return ChapterResult(results, pd.DataFrame(results["runs"]), dynamics, tables, {}, shrunk, None)
