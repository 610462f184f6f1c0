"""CIFAR-10 as uint8 tensors, decoded once and cached, from the original batches or from the JPEG copy.

Two sources, tried in this order (``results.json`` and the run card record which one was used):

1. **The original batches**: ``cifar-10-python.tar.gz`` (the archive torchvision downloads, :data:`ORIGINAL`) under
   the data root or in the download cache, else downloaded into the cache whenever the network is reachable; its
   SHA-256 is checked and the batches are read straight from it (nothing is extracted).
2. **The complete JPEG copy** ``<data root>/CIFAR-10/``, for machines without the network (see ``data/README.md``;
   it is never downloaded): ``CIFAR-10-images.tar.gz`` holds all 60,000 images as JPEG, ``original_order.csv.gz``
   puts them back in the original batch order with the original labels. Labels and order are exact; **pixels are
   lossy** (mean absolute error about 5.8/255 against the original), so accuracies are not directly comparable
   with papers that used the original data.

Either way the images are decoded once into ``(N, 3, 32, 32)`` uint8 tensors and cached with a SHA-256 sidecar
(:mod:`pruninglib.data.cache`): a cache whose checksum does not match is rebuilt, never trusted.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pruninglib.data.cache import cached
from pruninglib.data.fetch import Remote, obtained, resolve, status
from pruninglib.data.root import GUIDE, DataNotFoundError, cache_dir, resolve_data_root
from pruninglib.data.tensors import Dataset, Split

ORIGINAL = Remote("cifar-10-python.tar.gz", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                  "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")  # torchvision's URL; 170,498,071 bytes
FOLDER = "CIFAR-10"
JPEG_SHA256 = {"CIFAR-10-images.tar.gz": "c899d1229f35b7a804effdd2493259fb9b02b5c7be52b6faf214088a616a5b15",
               "original_order.csv.gz": "01f7748a26478407cc1f95b00731dcee1cdc2433a48a93f80befd90c49c3d59d",
               "batches.meta": "f962466ef690d46b226450fb9aadc74ba4bc64a76aa526b5827fe4bc5c7125cb"}
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


def decode_original(archive: Path) -> dict[str, Any]:
    """The five training batches and the test batch of ``cifar-10-python.tar.gz`` (already verified: the pickles
    are trusted only because the archive's SHA-256 matched) as uint8 tensors, in the original order."""
    batches = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            name = PurePosixPath(member.name).name
            if member.isfile() and (name.startswith("data_batch_") or name == "test_batch"):
                entry = pickle.load(tar.extractfile(member), encoding="latin1")  # type: ignore[arg-type]
                batches[name] = (np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32), entry["labels"])
    wanted = {"train": [f"data_batch_{k}" for k in range(1, 6)], "test": ["test_batch"]}
    absent = [b for names in wanted.values() for b in names if b not in batches]
    if absent:
        raise ValueError(f"{archive} lacks the batch file(s) {', '.join(absent)}")
    out: dict[str, Any] = {"prep_version": PREP_VERSION}
    for split, names in wanted.items():
        out[f"{split}_x"] = torch.from_numpy(np.concatenate([batches[b][0] for b in names])).contiguous()
        out[f"{split}_y"] = torch.tensor([y for b in names for y in batches[b][1]], dtype=torch.uint8)
    return out


def _jpeg_files() -> list[Remote]:
    """The JPEG copy's files under a data root (never downloaded: the copy is a conversion, see data/README.md)."""
    return [Remote(f"{FOLDER}/{name}", digest) for name, digest in JPEG_SHA256.items()]


def ensure(data_root: str | os.PathLike[str] | None = None, *, fetch: bool = True,
           progress: bool = True) -> dict[str, Any]:
    """Find the original archive (data root, download cache) or download it; without it (offline), fall back on
    the JPEG copy under the data root. Returns the source record for results.json with ``source`` ("original" or
    "jpeg") and ``paths``. Raises DataNotFoundError naming what was looked for and where when neither is there,
    ChecksumError naming a corrupt file."""
    origin, root = resolve_data_root(data_root)
    common = {"data_root": str(root), "data_root_from": origin}
    try:
        paths, records = resolve([ORIGINAL], root, origin, "CIFAR-10 (original batches)", "", fetch=fetch,
                                 progress=progress)
        return {"dataset": "CIFAR-10, original batches", "source": "original", "pixels": "exact", **common,
                "obtained": obtained(paths, root), "verified_files": records, "paths": paths}
    except DataNotFoundError as exc:
        jpeg = _jpeg_files()
        if root is None or not all((root / r.path).is_file() for r in jpeg):
            where = f"in {root / FOLDER}" if root is not None else "(no data root)"
            raise DataNotFoundError(f"CIFAR-10 not found: {exc}. Nor is the offline fallback, the JPEG copy "
                                    f"{{{','.join(JPEG_SHA256)}}}, {where} (see {GUIDE})") from exc
        paths, records = resolve(jpeg, root, origin, "CIFAR-10 (JPEG copy)", FOLDER, fetch=False)
        return {"dataset": "CIFAR-10, complete JPEG copy (lossy pixels; exact labels and order)", "source": "jpeg",
                "pixels": "lossy JPEG: mean absolute error about 5.8/255 against the original", **common,
                "obtained": f"{obtained(paths, root)}; the original batches could not be had "
                            f"({exc.__cause__ or exc})",
                "verified_files": records, "paths": paths}


def check(data_root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """(state, path) of the original archive, and of the JPEG copy's files when the data root has them."""
    root = resolve_data_root(data_root)[1]
    return status([ORIGINAL], root) + [s for s in status(_jpeg_files(), root, cached=False) if s[0] != "missing"]


def load_cifar_uint8(data_root: str | os.PathLike[str] | None = None, *, fetch: bool = True,
                     progress: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The whole of CIFAR-10 as uint8 tensors ``train_x`` (50000, 3, 32, 32), ``train_y`` (50000,), ``test_x``,
    ``test_y``, in the original order, plus the source record for results.json (see module docstring and
    :func:`ensure`, which says what it raises; ``fetch`` False never downloads). The decoded tensors are cached,
    keyed by the archive's digest."""
    source = ensure(data_root, fetch=fetch, progress=progress)
    paths = source.pop("paths")
    key = source["verified_files"][0]["sha256"][:16]
    if source["source"] == "original":
        payload, cache = cached(cache_dir("cifar10") / f"cifar10_original_v{PREP_VERSION}_{key}.pt",
                                lambda: decode_original(paths[0]))
    else:
        order = pd.read_csv(paths[1])
        payload, cache = cached(cache_dir("cifar10") / f"cifar10_jpeg_v{PREP_VERSION}_{key}.pt",
                                lambda: decode_jpeg_archive(paths[0], order, progress))
    for split in ("train", "test"):
        x, y = payload[f"{split}_x"], payload[f"{split}_y"]
        if tuple(x.shape[1:]) != (3, 32, 32) or x.dtype != torch.uint8 or tuple(y.shape) != (len(x),):
            raise ValueError(f"cached CIFAR-10 tensors {cache['path']} have the wrong shape; delete it and re-run")
    return payload, {**source, "cache": cache}


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, 32, 32) -> float32 standardised per channel with CIFAR-10's mean and std."""
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x.to(torch.float32) / 255.0 - mean) / std


def load_cifar10(data_root: str | os.PathLike[str] | None = None, *, val_size: int = 5000, train_subset: int = 0,
                 test_subset: int = 0, device: torch.device | str = "cpu", fetch: bool = True,
                 raw_train: bool = False, progress: bool = True) -> Dataset:
    """CIFAR-10 as standardised float32 tensors (N, 3, 32, 32) on ``device``, split into train / val / test.

    The validation images are a fixed random permutation (seed ``SPLIT_SEED``) of the 50,000 training images;
    ``train_subset`` > 0 keeps the first N of the rest, ``test_subset`` > 0 the first N test images (the quick
    CPU profiles; the paper profile uses all 10,000). ``raw_train`` keeps the training images as uint8, for a
    split that standardises each batch with :func:`normalize` (a quarter of the memory on the device).
    ``fetch`` False never downloads (see :func:`ensure`).
    """
    raw, source = load_cifar_uint8(data_root, fetch=fetch, progress=progress)
    if not 0 < val_size < 50000:
        raise ValueError(f"val_size = {val_size} is not allowed: between 1 and 49999")
    perm = torch.randperm(50000, generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset:
        train_idx = train_idx[:train_subset]
    test_idx = torch.arange(test_subset or 10000)

    def split(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, raw: bool = False) -> Split:
        images = x[idx].to(device)
        return Split(images if raw else normalize(images), y[idx].to(device=device, dtype=torch.int64))

    source["split"] = {"train_size": int(len(train_idx)), "val_size": val_size, "test_size": int(len(test_idx)),
                       "split_seed": SPLIT_SEED}
    return Dataset(split(raw["train_x"], raw["train_y"], train_idx, raw_train),
                   split(raw["train_x"], raw["train_y"], val_idx),
                   split(raw["test_x"], raw["test_y"], test_idx), source)
