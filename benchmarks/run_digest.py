"""Fingerprints of every chapter's smoke run, to prove that a refactor or a speed change kept every number.

For each chapter the experiment function runs at its ``smoke`` profile (one torch thread, CPU), then three
fingerprints are taken of what it wrote, none of which depends on the layout of ``results.json``:

* ``weights``: the SHA-256 of every trained network's tensors (bit patterns, so -0.0 differs from 0.0), read from
  the checkpoints and saved models, as a sorted list (file names and folders do not matter);
* ``dynamics``: the SHA-256 of the tidy per-epoch rows (``dynamics.csv.gz``; columns and rows sorted);
* ``numbers``: every number of ``results.json`` outside provenance, timing (wall times, latencies, throughput,
  hardware) and target verdicts, as a sorted multiset, so a new layout that holds the same values still matches.

    PRUNINGLIB_DATA=../shared/data python -m benchmarks.run_digest --save artifacts/digest-before.json
    PRUNINGLIB_DATA=../shared/data python -m benchmarks.run_digest --compare artifacts/digest-before.json

``--compare`` exits 1 unless the weights and dynamics are identical and every number of the saved run is still
present (a layout may add numbers, such as intervals, but may not lose or change one).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import torch

from benchmarks.common import setup_threads
from pruninglib.experiments import CHAPTERS

# results.json keys whose values are provenance or time, not results of the computation; and targets and their
# verdicts, which are derived from the run rows (fingerprinted) and whose layout changed from value/met records to
# interval verdicts
VOLATILE = ("time", "wall", "started", "latency", "hardware", "software", "git", "throughput", "images_per_s",
            "_s", "speed", "path", "notebook", "torch_version", "files", "seconds", "cpu", "gpu", "threads",
            "target", "met")


def _tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _tensors(obj[k], f"{prefix}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}/{i}")


def weights_digest(path: Path) -> str:
    """SHA-256 over the network tensors of a checkpoint (its ``model``) or a saved model (its ``state_dict``)."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = blob.get("model", blob.get("state_dict", blob)) if isinstance(blob, dict) else blob
    h = hashlib.sha256()
    for name, t in _tensors(net):
        h.update(name.encode())
        h.update(t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _numbers(obj: Any, key: str = "") -> Iterator[float]:
    if any(v in key.lower() for v in VOLATILE):
        return
    if isinstance(obj, bool):
        yield float(obj)
    elif isinstance(obj, (int, float)):
        yield float(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, str(k))
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v, key)


def fingerprint(out: Path) -> dict[str, Any]:
    """The three fingerprints of a finished run folder (see the module docstring)."""
    dyn = out / "dynamics.csv.gz"
    dynamics = ""
    if dyn.exists():
        frame = pd.read_csv(dyn)
        frame = frame[sorted(frame.columns)]
        frame = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        dynamics = hashlib.sha256(frame.to_csv(index=False, float_format="%.17g").encode()).hexdigest()
    numbers = sorted(repr(round(v, 12)) for v in _numbers(json.loads((out / "results.json").read_text()))
                     if math.isfinite(v))
    return {"weights": sorted(weights_digest(p) for p in out.rglob("*.pt")), "dynamics": dynamics,
            "numbers": numbers}


def run_chapter(name: str, data_root: str | None) -> dict[str, Any]:
    ch = CHAPTERS.get(name)
    with tempfile.TemporaryDirectory() as out:
        over = {"device": "cpu", **({"data_root": data_root} if data_root else {})}
        params = ch.parameters("smoke", over, out_dir=out)
        ch.run(ch.config.from_mapping(params), progress=False)
        return fingerprint(Path(out))


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two saved fingerprint sets (empty: every number kept)."""
    problems = []
    for name, b in before.items():
        a = after.get(name)
        if a is None:
            problems.append(f"{name}: not run")
            continue
        for key in ("weights", "dynamics"):
            if a[key] != b[key]:
                problems.append(f"{name}: {key} differ")
        lost = Counter(b["numbers"]) - Counter(a["numbers"])
        if lost:
            problems.append(f"{name}: {sum(lost.values())} numbers lost or changed, e.g. {list(lost)[:5]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="*", default=list(CHAPTERS), help="default: every chapter")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--save", default=None, help="write the fingerprints to this JSON file")
    parser.add_argument("--compare", default=None, help="compare against fingerprints saved with --save")
    args = parser.parse_args()
    setup_threads(1)
    found = {}
    for name in args.chapters:
        found[name] = run_chapter(name, args.data_root)
        print(f"{name}: {len(found[name]['weights'])} networks, "
              f"{hashlib.sha256(json.dumps(found[name]).encode()).hexdigest()[:16]}", flush=True)
    if args.save:
        Path(args.save).parent.mkdir(parents=True, exist_ok=True)
        Path(args.save).write_text(json.dumps(found, indent=1) + "\n")
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        problems = compare({k: v for k, v in before.items() if k in found}, found)
        print("\n".join(problems) if problems else "identical: every network, every dynamics row, every number")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
