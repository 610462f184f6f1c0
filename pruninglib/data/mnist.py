"""MNIST: the four .gz files of torchvision's mirror, verified by SHA-256, extracted into the cache, as tensors.

The .gz files are looked for in ``<data root>/MNIST/raw``, then in the download cache, and downloaded from
torchvision's mirror when in neither (:mod:`pruninglib.data.fetch`). They are extracted into the cache atomically,
and every extracted file is checked against its known SHA-256 before each use: a corrupt or truncated one is
extracted again, never read (so a read-only data root is never written to, and a damaged cache cannot change
the numbers of a run).
"""
from __future__ import annotations

import gzip
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from pruninglib._io import atomic_path
from pruninglib.data.fetch import Remote, obtained, resolve, status
from pruninglib.data.root import ChecksumError, cache_dir, resolve_data_root, verify_file
from pruninglib.data.tensors import Dataset, Split

FOLDER = "MNIST/raw"
URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's first MNIST mirror
SHA256 = {  # the published SHA-256 of each .gz file, and of the file it extracts to
    "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                   "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                   "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
REMOTES = [Remote(f"{FOLDER}/{name}", gz, URL + name) for name, (gz, _) in SHA256.items()]
MEAN, STD = 0.1307, 0.3081
SPLIT_SEED = 20201207  # fixed: the validation split never changes with the training seed


def _extracted(gz: Path, dst: Path, sha256: str) -> dict[str, str]:
    """``dst`` verified against ``sha256``; (re-)extracted from ``gz`` (already verified) atomically when it is
    absent or does not match. Returns its verification record."""
    if dst.is_file():
        try:
            return verify_file(dst, sha256).to_dict()
        except ChecksumError as exc:
            print(f"pruninglib: {exc}; extracting it again from {gz}", file=sys.stderr, flush=True)
    with gzip.open(gz, "rb") as src, atomic_path(dst) as tmp, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    return verify_file(dst, sha256).to_dict()


def ensure(data_root: str | os.PathLike[str] | None = None, *, fetch: bool = True,
           progress: bool = True) -> dict[str, Any]:
    """Find (or download), verify and extract the four files; return the source record for results.json.

    Side effect: writes the extracted files (and downloads) into the cache, never into the data root. Raises
    DataNotFoundError naming the files and folders when they are missing and cannot be downloaded, ChecksumError
    naming a corrupt file of the data root.
    """
    origin, root = resolve_data_root(data_root)
    paths, records = resolve(REMOTES, root, origin, "MNIST", FOLDER, fetch=fetch, progress=progress)
    raw = cache_dir("torchvision", "MNIST", "raw")
    for gz, (name, (_, sha)) in zip(paths, SHA256.items()):
        records.append(_extracted(gz, raw / name.removesuffix(".gz"), sha))
    return {"dataset": "MNIST", "data_root": str(root), "data_root_from": origin, "obtained": obtained(paths, root),
            "verified_files": records}


def check(data_root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """(state, path) of the four files and of the extracted files present in the cache (see :func:`status`)."""
    states = status(REMOTES, resolve_data_root(data_root)[1])
    raw = cache_dir("torchvision", "MNIST", "raw")
    extracted = [Remote(name.removesuffix(".gz"), sha) for name, (_, sha) in SHA256.items()]
    return states + [s for s in status(extracted, raw, cached=False) if s[0] != "missing"]


def _torchvision_mnist(cache: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    ds = MNIST(root=str(cache), train=train, download=False)  # reads the verified extracted files
    return ds.data, ds.targets


def load_mnist(data_root: str | os.PathLike[str] | None = None, *, val_size: int = 5000, train_subset: int = 0,
               device: torch.device | str = "cpu") -> Dataset:
    """Load MNIST as normalized float tensors (N, 1, 28, 28) on ``device``, split into train/val/test.

    The validation split is a fixed random permutation (seed ``SPLIT_SEED``) of the 60,000 training images, the
    same for every run. ``train_subset`` > 0 keeps only the first N remaining training images. Fetches the files on
    first use (see :func:`ensure`, which also says what it raises).
    """
    source = ensure(data_root)
    cache = cache_dir("torchvision")
    x_tr, y_tr = _torchvision_mnist(cache, True)
    x_te, y_te = _torchvision_mnist(cache, False)
    if not 0 < val_size < len(y_tr):
        raise ValueError(f"val_size = {val_size} is not allowed: between 1 and {len(y_tr) - 1}")
    perm = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset:
        train_idx = train_idx[:train_subset]

    def to_split(x: torch.Tensor, y: torch.Tensor) -> Split:
        xf = (x.to(torch.float32).div_(255.0).sub_(MEAN).div_(STD)).unsqueeze(1)
        return Split(xf.to(device), y.to(torch.int64).to(device))

    source["split"] = {"val_size": val_size, "split_seed": SPLIT_SEED, "train_size": int(len(train_idx)),
                       "test_size": int(len(y_te))}
    return Dataset(train=to_split(x_tr[train_idx], y_tr[train_idx]), val=to_split(x_tr[val_idx], y_tr[val_idx]),
                   test=to_split(x_te, y_te), source=source)
