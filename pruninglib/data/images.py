"""Reading image files of any common mode as grayscale float arrays, and resizing them as tensors."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

# Full-scale value of the integer modes whose pixels PIL does not scale to 8 bits itself.
_FULL_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0}


def to_grayscale(img: Image.Image) -> np.ndarray:
    """A float32 array (H, W) in [0, 1] from a PIL image of any usual mode.

    - EXIF orientation is applied first (phone photos of films carry it);
    - ``L``/``1``: scaled by 1/255; ``RGB``/``CMYK``/``YCbCr``: ITU-R 601 luma, as ``convert("L")``;
    - ``RGBA``/``LA``/``PA``/palette with transparency: composited over black (a transparent margin is no tissue);
    - ``P`` (palette): expanded to its colours first;
    - 16-bit ``I;16*``: scaled by 1/65535 (``convert("L")`` would clip to 255, i.e. almost all white);
    - 32-bit ``I`` and float ``F``: min-max scaled to [0, 1] (no standard full scale).
    """
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in _FULL_SCALE:
        return (np.asarray(img, dtype=np.float64) / _FULL_SCALE[mode]).astype(np.float32)
    if mode in ("I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        return ((a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)).astype(np.float32)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new(img.mode, img.size, (0, 255) if img.mode == "LA" else (0, 0, 0, 255))
        img = Image.alpha_composite(background.convert("RGBA"), img.convert("RGBA"))
    if img.mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.float32) / 255.0


def read_grayscale(path: str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """Open ``path`` and return (grayscale float array in [0, 1], original PIL mode)."""
    with Image.open(path) as img:
        img.load()
        return to_grayscale(img), img.mode


def resize_square(gray: np.ndarray, size: int) -> torch.Tensor:
    """(H, W) -> (size, size) float32 tensor, bilinear with antialiasing; the aspect ratio is NOT kept (the
    whole image is kept, slightly stretched; chest X-rays are close to square)."""
    x = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None, None]
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0, 0]


def standardize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-image standardisation over the last two dims: zero mean, unit std. Uses no statistics of other images,
    so nothing leaks between cross-validation folds, and it removes brightness and contrast offsets between the
    sources of the images."""
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True)
    return (x - mean) / (std + eps)
