"""2018 Data Science Bowl ``stage1_train`` (nuclei instance segmentation; CC0), read straight from the archive.

The archive ``dsb2018/stage1_train.tar.gz`` is found under the data root or in the download cache, or downloaded
from the pinned public source, and verified member by member (:mod:`pruninglib.data.dsb_files`). It is streamed
with :mod:`tarfile`; nothing is extracted and nothing is written under the data root.

Preparation of each image (documented choices, not the Kaggle winners' pipelines):

- the image (any PIL mode: the archive's are RGBA; RGB, L, 16-bit are handled too) is made grayscale in [0, 1]
  by :func:`~pruninglib.data.images.to_grayscale`; bright-field images (mean > 0.5: dark nuclei on a light
  background) are inverted, so nuclei are bright in every image;
- the whole image is resized to ``image_size`` x ``image_size`` (bilinear, antialiased; aspect ratio not kept) and
  standardised per image. Every metric is computed at that resolution (a nucleus that vanishes on resizing is
  lost from the ground truth too);
- the instance label map (mask k -> label k + 1, masks in file-name order) is resized by nearest neighbour and
  relabelled 1..n;
- the per-pixel target has 3 classes (:func:`instance_targets`): 0 background, 1 nucleus interior, 2 a nucleus
  pixel that touches ANOTHER nucleus. Predicted interiors are then separate blobs that seed the instances.

Split: deterministic by image id (:func:`split_ids`), recorded in results.json. Prepared tensors are cached (see
:mod:`pruninglib.data.cache`), keyed by the manifest's digest (the archive's content, whatever its container), the
size, ``max_images`` and :data:`PREP_VERSION`.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from pruninglib._io import sha256_file
from pruninglib.data.cache import cached
from pruninglib.data.dsb_files import MEMBER_SUMS, N_IMAGES, ensure, member_parts
from pruninglib.data.images import resize_square, standardize, to_grayscale
from pruninglib.data.root import ChecksumError, cache_dir

PREP_VERSION = 1  # targets are computed on load, not cached: a change there needs no bump
CLASSES = ("background", "interior", "touching border")


def read_image(data: bytes) -> tuple[np.ndarray, str]:
    """PNG bytes -> (grayscale float32 (H, W) in [0, 1], nuclei bright, original PIL mode)."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        gray, mode = to_grayscale(img), img.mode
    if float(gray.mean()) > 0.5:  # bright field: dark nuclei on a light background
        gray = 1.0 - gray
    return gray, mode


def read_mask(data: bytes) -> np.ndarray:
    """PNG bytes of one nucleus mask (any mode) -> bool (H, W), True inside the nucleus."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L")) > 127


def resize_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """Instance map (H, W) -> (size, size) by nearest neighbour, relabelled 1..n in order (lost instances gone)."""
    t = torch.from_numpy(labels.astype(np.int64))[None, None].float()
    out = F.interpolate(t, size=(size, size), mode="nearest")[0, 0].to(torch.int64).numpy()
    ids = np.unique(out[out > 0])
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lut[out]


def instance_targets(labels: np.ndarray) -> np.ndarray:
    """Instance map (H, W) -> class map (H, W) int64: 0 background, 1 interior, 2 touching another nucleus.

    A nucleus pixel is class 2 when its 3x3 neighbourhood holds a different non-zero label (so two touching nuclei
    are separated by a 2-pixel band). Example: labels [[1, 2]] give [[2, 2]]; [[1, 0, 2]] give [[1, 0, 1]].
    """
    lab = labels.astype(np.int64)
    big = int(lab.max()) + 1  # a small sentinel: ndimage passes cval as a float
    hi = ndimage.maximum_filter(lab, size=3, mode="constant", cval=0)
    lo = ndimage.minimum_filter(np.where(lab > 0, lab, big), size=3, mode="constant", cval=big)
    touching = (lab > 0) & ((hi != lab) | (lo != lab))
    return np.where(touching, 2, (lab > 0).astype(np.int64))


def _finish(image: bytes | None, masks: dict[str, bytes], image_id: str, size: int,
            archive: Path) -> tuple[torch.Tensor, np.ndarray, str, int]:
    if image is None or not masks:
        raise ValueError(f"{archive}: image {image_id} has {'no image' if image is None else 'no masks'}")
    gray, mode = read_image(image)
    labels = np.zeros(gray.shape, dtype=np.int32)
    for k, name in enumerate(sorted(masks), start=1):
        m = read_mask(masks[name])
        if m.shape != gray.shape:
            raise ValueError(f"{archive}: mask {name} of image {image_id} is {m.shape}, the image {gray.shape}")
        labels[m] = k
    return standardize(resize_square(gray, size)), resize_labels(labels, size), mode, len(masks)


def _prepare(archive: Path, size: int, max_images: int) -> dict[str, Any]:
    """Stream the archive once; images are complete when the next image id starts (members are grouped by id)."""
    xs, labels, ids, modes, counts = [], [], [], [], []
    current: str | None = None
    image: bytes | None = None
    masks: dict[str, bytes] = {}
    limit = max_images or N_IMAGES
    bar = tqdm(total=limit, desc="dsb2018 images", mininterval=2.0, leave=False)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = member_parts(member.name) if member.isfile() else None
                if parts is None:
                    continue
                image_id, kind, fname = parts
                if image_id != current:
                    if current is not None:
                        x, lab, mode, n = _finish(image, masks, current, size, archive)
                        xs.append(x), labels.append(lab), ids.append(current), modes.append(mode)
                        counts.append(n)
                        bar.update(1)
                        if len(ids) == limit:
                            current = None
                            break
                    current, image, masks = image_id, None, {}
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                if kind == "images":
                    image = data
                else:
                    masks[fname] = data
            if current is not None:
                x, lab, mode, n = _finish(image, masks, current, size, archive)
                xs.append(x), labels.append(lab), ids.append(current), modes.append(mode), counts.append(n)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ChecksumError(f"{archive} could not be read as a tar archive ({exc}); it is corrupt or truncated: "
                            f"delete it and run `pruninglib data fetch dsb2018`") from exc
    finally:
        bar.close()
    lab = np.stack(labels)
    return {"x": torch.stack(xs).unsqueeze(1).contiguous(), "labels": torch.from_numpy(lab),
            "ids": ids, "modes": modes, "masks": counts, "size": size, "prep_version": PREP_VERSION}


def split_ids(ids: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[str]]:
    """Deterministic split by image id: ids ordered by sha256(f"{seed}:{id}"), the first ``test_fraction`` go to
    test, the next ``val_fraction`` to validation, the rest to train (each list sorted). Independent of the order
    the ids come in, and an id's split does not depend on which other ids are present."""
    order = _hash_order(ids, seed)
    n_test, n_val = round(test_fraction * len(ids)), round(val_fraction * len(ids))
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}


def fold_ids(ids: list[str], folds: int, val_fraction: float, seed: int) -> list[dict[str, list[str]]]:
    """``folds`` splits by image id for cross-validation: the ids ordered by sha256(f"{seed}:{id}") are cut into
    ``folds`` contiguous parts of near-equal size; fold k holds out part k as ``test``, and of the other ids, in
    the same order, the first ``val_fraction`` of ALL ids go to ``val`` and the rest to ``train`` (each list
    sorted). Every id is in exactly one test part. Example: 10 ids, 5 folds, val_fraction 0.2: each fold has 2
    test, 2 val and 6 train ids."""
    if not 2 <= folds <= len(ids):
        raise ValueError(f"folds = {folds} is not allowed: from 2 to the number of ids ({len(ids)})")
    order = _hash_order(ids, seed)
    n_val, edges = round(val_fraction * len(ids)), [round(k * len(ids) / folds) for k in range(folds + 1)]
    out = []
    for k in range(folds):
        rest = order[:edges[k]] + order[edges[k + 1]:]
        out.append({"test": sorted(order[edges[k]:edges[k + 1]]), "val": sorted(rest[:n_val]),
                    "train": sorted(rest[n_val:])})
    return out


def _hash_order(ids: list[str], seed: int) -> list[str]:
    """``ids`` ordered by sha256(f"{seed}:{id}"): independent of their input order and of which others exist."""
    return sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


@dataclass
class DSBData:
    """All prepared images, their instance maps and class targets (same order as ``ids``)."""

    x: torch.Tensor  # (N, 1, S, S) float32, standardised per image
    labels: torch.Tensor  # (N, S, S) int32 instance maps, 0 = background
    y: torch.Tensor  # (N, S, S) int64 class targets (see CLASSES)
    ids: list[str]
    modes: list[str]
    source: dict[str, Any] = field(default_factory=dict)

    def index(self, ids: list[str]) -> torch.Tensor:
        pos = {i: k for k, i in enumerate(self.ids)}
        return torch.tensor([pos[i] for i in ids], dtype=torch.int64)


def load_dsb2018(data_root: str | os.PathLike[str] | None = None, *, image_size: int = 128, max_images: int = 0,
                 device: torch.device | str = "cpu") -> DSBData:
    """Verify, read and prepare ``stage1_train`` (see module docstring), fetching it on first use; ``max_images``
    > 0 keeps the first N images of the archive (for smoke runs). Raises DataNotFoundError naming the archive and
    the folders looked in when it cannot be had, ChecksumError naming it when it is corrupt or cannot be read."""
    found = ensure(data_root)
    path = found.pop("archive")
    key = sha256_file(MEMBER_SUMS)[:12]
    payload, cache = cached(cache_dir("dsb2018") / f"dsb2018_{image_size}px_n{max_images}_v{PREP_VERSION}_{key}.pt",
                            lambda: _prepare(path, image_size, max_images))
    n = len(payload["ids"])
    if tuple(payload["x"].shape) != (n, 1, image_size, image_size):
        raise ValueError(f"cached tensors {cache['path']} do not match image_size = {image_size}; delete the file")
    labels = payload["labels"]
    y = torch.from_numpy(np.stack([instance_targets(lab) for lab in labels.numpy()]))
    source = {"dataset": "2018 Data Science Bowl stage1_train (BBBC038v1), CC0", **found, "cache": cache, "images": n,
              "nuclei_in_masks": int(sum(payload["masks"])),
              "nuclei_after_resize": int(sum(int(lab.max()) for lab in labels)),
              "modes": {m: payload["modes"].count(m) for m in sorted(set(payload["modes"]))},
              "image_size": image_size, "classes": list(CLASSES),
              "preparation": "grayscale (alpha over black), bright-field images inverted (mean > 0.5), bilinear "
                             "antialiased resize of the whole image to a square (aspect ratio not kept), per-image "
                             "standardisation; instance maps resized by nearest neighbour; targets background / "
                             "interior / pixels touching another nucleus"}
    return DSBData(payload["x"].to(device), labels.to(device), y.to(device), list(payload["ids"]),
                   list(payload["modes"]), source)
