"""MNIST through torchvision, verified against published SHA-256 sums, held as normalized tensors.

The .gz files are looked for in ``<data root>/MNIST/raw``; they are verified there, symlinked into the cache and
extracted there atomically before torchvision reads them (so a read-only data root is never written to). Without
local files, torchvision downloads into the cache (with its own md5 checks), and the files are verified after.
"""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import torch

from pruninglib._io import atomic_path
from pruninglib.data.root import (DataNotFoundError, cache_dir, resolve_data_root, verify_file)
from pruninglib.data.tensors import Dataset, Split

SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MEAN, STD = 0.1307, 0.3081
SPLIT_SEED = 20201207  # fixed: the validation split never changes with the training seed


def _link(src: Path, dst: Path) -> None:
    """Point ``dst`` at ``src`` atomically (concurrent runs may stage the same cache); copy without symlinks."""
    src = src.resolve()
    if dst.is_symlink() and dst.resolve() == src:
        return
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(src, tmp)
    except OSError:  # file systems without symlinks
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _extract(gz: Path, dst: Path) -> None:
    """Decompress ``gz`` (already verified) to ``dst`` atomically, unless ``dst`` exists.

    torchvision would extract in place and only check that the file exists afterwards, so a run killed mid-way
    could leave a truncated file in the cache for every later run; written atomically, ``dst`` is whole or absent.
    """
    if dst.is_file():
        return
    with gzip.open(gz, "rb") as src, atomic_path(dst) as tmp, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


def _stage(data_root: Path, cache: Path) -> tuple[list[dict[str, object]], str]:
    """Verify the four .gz files, link them into ``cache/MNIST/raw`` and extract them there; download if absent."""
    raw_src = data_root / "MNIST" / "raw"
    raw_dst = cache / "MNIST" / "raw"
    raw_dst.mkdir(parents=True, exist_ok=True)
    if all((raw_src / name).is_file() for name in SHA256):
        records = [verify_file(raw_src / name, digest).to_dict() for name, digest in SHA256.items()]
        for name in SHA256:
            _link(raw_src / name, raw_dst / name)
        how = f"local files in {raw_src}"
    elif all((raw_dst / name).is_file() for name in SHA256):  # an earlier download into the cache
        records = [verify_file(raw_dst / name, d).to_dict() for name, d in SHA256.items()]
        how = f"earlier download cached in {raw_dst}"
    else:
        return [], "download"
    for name in SHA256:
        _extract(raw_dst / name, raw_dst / name.removesuffix(".gz"))
    return records, how


def _torchvision_mnist(cache: Path, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    ds = MNIST(root=str(cache), train=train, download=download)
    return ds.data, ds.targets


def load_mnist(data_root: str | os.PathLike[str] | None = None, *, val_size: int = 5000, train_subset: int = 0,
               device: torch.device | str = "cpu") -> Dataset:
    """Load MNIST as normalized float tensors (N, 1, 28, 28) on ``device``, split into train/val/test.

    The validation split is a fixed random permutation (seed ``SPLIT_SEED``) of the 60,000 training images, the
    same for every run. ``train_subset`` > 0 keeps only the first N remaining training images.
    Raises DataNotFoundError (naming the folders looked in) when the files are missing and cannot be downloaded,
    and ChecksumError (naming the file) when a file is corrupt.
    """
    origin, root = resolve_data_root(data_root)
    cache = cache_dir("torchvision")
    records, how = _stage(root, cache)
    try:
        x_tr, y_tr = _torchvision_mnist(cache, True, download=True)
        x_te, y_te = _torchvision_mnist(cache, False, download=True)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/... when offline
        if records:
            raise
        raise DataNotFoundError(
            f"MNIST not found. Looked for {', '.join(SHA256)} in {root / 'MNIST' / 'raw'} (data root from {origin}) "
            f"and in the cache {cache / 'MNIST' / 'raw'}, and the download failed ({type(exc).__name__}: {exc}). "
            f"Fix: set PRUNINGLIB_DATA (or pass data_root) to a folder containing MNIST/raw/*.gz, "
            f"or connect to the network so torchvision can download it.") from exc
    if not records:  # downloaded just now: record what torchvision fetched
        records = [verify_file(cache / "MNIST" / "raw" / n, d).to_dict() for n, d in SHA256.items()]
    if not 0 < val_size < len(y_tr):
        raise ValueError(f"val_size = {val_size} is not allowed: between 1 and {len(y_tr) - 1}")
    perm = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset:
        train_idx = train_idx[:train_subset]

    def to_split(x: torch.Tensor, y: torch.Tensor) -> Split:
        xf = (x.to(torch.float32).div_(255.0).sub_(MEAN).div_(STD)).unsqueeze(1)
        return Split(xf.to(device), y.to(torch.int64).to(device))

    return Dataset(
        train=to_split(x_tr[train_idx], y_tr[train_idx]),
        val=to_split(x_tr[val_idx], y_tr[val_idx]),
        test=to_split(x_te, y_te),
        source={"dataset": "MNIST", "data_root": str(root), "data_root_from": origin, "obtained": how,
                "files": records, "checksums_ok": all(r["checksum_ok"] for r in records),
                "split": {"val_size": val_size, "split_seed": SPLIT_SEED, "train_size": int(len(train_idx)),
                          "test_size": int(len(y_te))}},
    )
