"""CIFAR-10 as uint8 tensors, decoded once and cached, from the original batches or from the JPEG copy.

Two sources, tried in this order (``results.json`` and the run card record which one was used):

1. **The original batches** (``<data root>/cifar-10-batches-py/``), read by torchvision's ``CIFAR10``, which
   md5-checks all six batch files (with ``download=True`` it fetches them into the cache when online).
2. **The complete JPEG copy** ``<data root>/CIFAR-10/`` (MANIFEST.md section 2): ``CIFAR-10-images.tar.gz`` holds
   all 60,000 images as JPEG, ``original_order.csv.gz`` puts them back in the original batch order with the
   original labels. Labels and order are exact; **pixels are lossy** (mean absolute error about 5.8/255 against
   the original), so accuracies are not directly comparable with papers that used the original data.

Either way the images are decoded once into ``(N, 3, 32, 32)`` uint8 tensors and cached with a SHA-256 sidecar
(:mod:`pruninglib.data.cache`): a cache whose checksum does not match is rebuilt, never trusted.
"""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pruninglib.data.cache import cached
from pruninglib.data.root import DataNotFoundError, cache_dir, read_checksums, resolve_data_root, verify_file
from pruninglib.data.tensors import Dataset, Split

FOLDER = "CIFAR-10"
FILES = ("CIFAR-10-images.tar.gz", "original_order.csv.gz", "batches.meta")
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
SPLIT_SEED = 20201207  # fixed: the validation split never changes with the training seed
PREP_VERSION = 1  # bump when decoding changes: old caches are then not used


def decode_jpeg_archive(archive: Path, order: pd.DataFrame, progress: bool = True) -> dict[str, Any]:
    """Decode every JPEG of ``archive`` listed in ``order`` (columns split, global_index, label, class, jpg_path)
    into uint8 tensors ``{split}_x`` (N, 3, 32, 32) and ``{split}_y`` (N,), in ``global_index`` order.

    Raises ValueError naming the file when an image is missing, not 32x32 RGB, or in the folder of another class.
    """
    from PIL import Image

    where = {p: (s, int(i)) for p, s, i in zip(order["jpg_path"], order["split"], order["global_index"])}
    sizes = order.groupby("split").size().to_dict()
    xs = {s: np.zeros((n, 32, 32, 3), dtype=np.uint8) for s, n in sizes.items()}
    seen = {s: np.zeros(n, dtype=bool) for s, n in sizes.items()}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tqdm(tar, total=len(where) + 33, desc="decode CIFAR-10 JPEGs", disable=not progress,
                           mininterval=2.0, leave=False):
            if not member.isfile() or member.name not in where:
                continue
            split, i = where[member.name]
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as img:  # type: ignore[union-attr]
                if img.size != (32, 32) or img.mode != "RGB":
                    raise ValueError(f"{member.name} is {img.mode} {img.size}, expected RGB 32x32")
                xs[split][i] = np.asarray(img)
            seen[split][i] = True
    missing = [p for p, (s, i) in where.items() if not seen[s][i]]
    if missing:
        raise ValueError(f"{len(missing)} image(s) listed in original_order.csv.gz are not in {archive}: "
                         f"{missing[:5]}")
    out: dict[str, Any] = {"prep_version": PREP_VERSION}
    for split, rows in order.groupby("split"):
        rows = rows.sort_values("global_index")
        wrong = rows[rows["class"] != rows["label"].map(lambda k: CLASSES[k])]
        if len(wrong):
            raise ValueError(f"label and class folder disagree for {wrong['jpg_path'].tolist()[:5]}")
        out[f"{split}_x"] = torch.from_numpy(xs[split]).permute(0, 3, 1, 2).contiguous()
        out[f"{split}_y"] = torch.tensor(rows["label"].to_numpy(), dtype=torch.uint8)
    return out


def _from_torchvision(root: Path, download: bool) -> dict[str, Any]:
    from torchvision.datasets import CIFAR10

    out: dict[str, Any] = {"prep_version": PREP_VERSION}
    for split, train in (("train", True), ("test", False)):
        ds = CIFAR10(root=str(root), train=train, download=download)
        out[f"{split}_x"] = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        out[f"{split}_y"] = torch.tensor(ds.targets, dtype=torch.uint8)
    return out


def load_cifar_uint8(data_root: str | os.PathLike[str] | None = None, *, download: bool = False,
                     progress: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The whole of CIFAR-10 as uint8 tensors ``train_x`` (50000, 3, 32, 32), ``train_y`` (50000,), ``test_x``,
    ``test_y``, in the original order, plus the source record for results.json (see module docstring).

    ``download`` lets torchvision fetch the original batches into the cache when they are not on disk (needs
    the network). Raises DataNotFoundError naming the folders looked in, ChecksumError naming a corrupt file.
    """
    origin, root = resolve_data_root(data_root)
    tv_roots = [r for r in (root, cache_dir("torchvision")) if (r / "cifar-10-batches-py").is_dir()]
    if tv_roots or download:
        tv_root = tv_roots[0] if tv_roots else cache_dir("torchvision")
        payload, cache = cached(cache_dir("cifar10") / f"cifar10_original_v{PREP_VERSION}.pt",
                                lambda: _from_torchvision(tv_root, download))
        sizes = {"train": 50000, "test": 10000}
        source = {"dataset": "CIFAR-10, original batches (torchvision CIFAR10)", "source": "original",
                  "pixels": "exact",
                  "obtained": f"torchvision CIFAR10 from {tv_root / 'cifar-10-batches-py'} (md5-checked by "
                              f"torchvision)", "files": [], "checksums_ok": True}
    else:
        folder = root / FOLDER
        if not all((folder / f).is_file() for f in FILES):
            raise DataNotFoundError(
                f"CIFAR-10 not found: no cifar-10-batches-py/ in {root} (data root from {origin}) or in the cache, "
                f"and no JPEG copy {folder}/{{{','.join(FILES)}}}. Fix: point PRUNINGLIB_DATA (or data_root) at a "
                f"folder holding one of them (MANIFEST.md section 2), or pass download=True when online")
        sums = read_checksums(root)
        records = [verify_file(folder / f, sums[f"{FOLDER}/{f}"]).to_dict() for f in FILES]
        key = sums[f"{FOLDER}/{FILES[0]}"][:16]
        order = pd.read_csv(folder / "original_order.csv.gz")
        sizes = order.groupby("split").size().to_dict()
        payload, cache = cached(cache_dir("cifar10") / f"cifar10_jpeg_v{PREP_VERSION}_{key}.pt",
                                lambda: decode_jpeg_archive(folder / FILES[0], order, progress))
        source = {"dataset": "CIFAR-10, complete JPEG copy (lossy pixels; exact labels and order)", "source": "jpeg",
                  "pixels": "lossy JPEG: mean absolute error about 5.8/255 against the original (MANIFEST.md)",
                  "obtained": f"local files in {folder}", "files": records,
                  "checksums_ok": all(r["checksum_ok"] for r in records)}
    for split, n in sizes.items():
        if tuple(payload[f"{split}_x"].shape) != (n, 3, 32, 32) or tuple(payload[f"{split}_y"].shape) != (n,):
            raise ValueError(f"cached CIFAR-10 tensors {cache['path']} have the wrong shape; delete it and re-run")
    return payload, {**source, "data_root": str(root), "data_root_from": origin, "cache": cache}


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, 32, 32) -> float32 standardised per channel with CIFAR-10's mean and std."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x.to(torch.float32) / 255.0 - mean) / std


def load_cifar10(data_root: str | os.PathLike[str] | None = None, *, val_size: int = 5000, train_subset: int = 0,
                 test_subset: int = 0, device: torch.device | str = "cpu", download: bool = False,
                 progress: bool = True) -> Dataset:
    """CIFAR-10 as standardised float32 tensors (N, 3, 32, 32) on ``device``, split into train / val / test.

    The validation images are a fixed random permutation (seed ``SPLIT_SEED``) of the 50,000 training images;
    ``train_subset`` > 0 keeps the first N of the rest, ``test_subset`` > 0 the first N test images (the quick
    CPU profiles; the paper profile uses all 10,000).
    """
    raw, source = load_cifar_uint8(data_root, download=download, progress=progress)
    if not 0 < val_size < 50000:
        raise ValueError(f"val_size = {val_size} is not allowed: between 1 and 49999")
    perm = torch.randperm(50000, generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset:
        train_idx = train_idx[:train_subset]
    test_idx = torch.arange(test_subset or 10000)

    def split(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> Split:
        return Split(normalize(x[idx].to(device)), y[idx].to(device=device, dtype=torch.int64))

    source["split"] = {"train_size": int(len(train_idx)), "val_size": val_size, "test_size": int(len(test_idx)),
                       "split_seed": SPLIT_SEED}
    return Dataset(split(raw["train_x"], raw["train_y"], train_idx), split(raw["train_x"], raw["train_y"], val_idx),
                   split(raw["test_x"], raw["test_y"], test_idx), source)
