"""Prepared tensors cached on disk: written atomically, with a SHA-256 sidecar, rebuilt when it does not match.

Layout: ``<name>.pt`` (a ``torch.save`` of a dict of tensors and plain values) and ``<name>.pt.sha256`` (its
digest). The sidecar is written after the payload, so a crash between the two leaves a payload without a
(matching) sidecar, which is rebuilt, never trusted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from pruninglib._io import atomic_path, sha256_file


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_cached(path: Path, payload: dict[str, Any]) -> str:
    """Write ``payload`` to ``path`` atomically, then its digest to the sidecar; return the digest."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    digest = sha256_file(path)
    with atomic_path(_sidecar(path)) as tmp:
        tmp.write_text(digest + "\n")
    return digest


def cached(path: str | Path, build: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Load ``path`` if its SHA-256 matches its sidecar, else call ``build()``, save the result and return it.

    Returns (payload, info) with info ``{"path", "sha256", "status"}``; status is ``"hit"``, ``"built"`` (no
    cache yet) or ``"rebuilt: ..."`` (the cache was corrupt or incomplete: the reason is given).
    """
    path = Path(path)
    side = _sidecar(path)
    status = "built"
    if path.is_file():
        expected = side.read_text().strip() if side.is_file() else None
        digest = sha256_file(path)
        if expected == digest:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            return payload, {"path": str(path), "sha256": digest, "status": "hit"}
        status = ("rebuilt: no checksum file" if expected is None else
                  f"rebuilt: cache checksum mismatch (sha256 {digest[:12]}..., expected {expected[:12]}...)")
    payload = build()
    digest = save_cached(path, payload)
    return payload, {"path": str(path), "sha256": digest, "status": status}
