"""Checkpoint files that carry their own checksum, so a resumed run never starts from garbage.

:func:`save_checkpoint` writes a state dict with a SHA-256 of its content (every tensor's dtype, shape and bytes,
every other value's type and repr, in order) in one atomic step. :func:`load_checkpoint` recomputes that digest: a
file that cannot be read (truncated, garbled), that carries no digest (written before checksums), or whose content
no longer matches its digest (flipped bits) is deleted with a :class:`CheckpointWarning` naming it, and the caller
starts that run from scratch. The digest covers the content, not the file's bytes, so the file stays a plain
``torch.save`` file (``torch.load`` reads it; its ``model`` entry is the network's state dict).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import torch

from pruninglib._io import atomic_path

CHECKPOINT_FORMAT = "pruninglib-checkpoint/1"


class CheckpointWarning(RuntimeWarning):
    """A checkpoint was unreadable or failed its checksum: it was deleted and its run restarts from scratch."""


def content_digest(state: Any) -> str:
    """SHA-256 of a checkpoint's content: tensors by dtype, shape and bytes (on the CPU, so the device does not
    matter), containers in order, other values by type and repr."""
    h = hashlib.sha256()
    _feed(h, state)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"tensor {t.dtype} {tuple(obj.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(b"{")
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for value in obj:
            _feed(h, value)
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__} {obj!r};".encode())


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (a dict of tensors, containers and plain values) and its content digest to ``path``,
    atomically: a reader sees the old file or the complete new one."""
    blob = {**state, "format": CHECKPOINT_FORMAT, "sha256": content_digest(state)}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(state, None)`` when ``path`` holds a checkpoint whose content matches its digest (tensors on the CPU).

    Otherwise ``(None, reason)``: the file is DELETED and a :class:`CheckpointWarning` names it and the reason.
    ``path`` must exist.
    """
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or garbled file fails in the zip reader, the unpickler or a storage
        return None, _discard(path, f"unreadable ({type(err).__name__}: {err})")
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT or "sha256" not in blob:
        return None, _discard(path, f"not a {CHECKPOINT_FORMAT} file with a checksum")
    stored = blob.pop("sha256")
    del blob["format"]
    if content_digest(blob) != stored:
        return None, _discard(path, "corrupt (its content does not match its SHA-256)")
    return blob, None


def _discard(path: Path, reason: str) -> str:
    path.unlink(missing_ok=True)
    warnings.warn(f"checkpoint {path} is {reason}; it was deleted and this run restarts from scratch",
                  CheckpointWarning, stacklevel=3)
    return reason
