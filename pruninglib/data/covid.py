"""COVID-19 Image Data Collection (Cohen et al.), the documented subset of 191 frontal PA chest X-rays.

Files: ``covid-chestxray-dataset/metadata.csv`` and ``covid-chestxray-dataset/images/<file>`` for the 191 images
of the subset, each listed with its SHA-256 in ``sums/covid-chestxray-dataset.sha256`` and downloaded, when not on
disk, from the upstream repository at the pinned commit (:mod:`pruninglib.data.fetch`). Every file is verified
before use; a file that is missing and cannot be downloaded, or has a wrong checksum, stops the run with a message
naming it. Subset rule, classes and licenses: the data card (``book/covid_data_card.md``).

Task: COVID-19 (``finding`` contains "COVID-19") = 1 vs every other finding = 0. Images are read in any PIL mode,
made grayscale, resized to ``image_size`` x ``image_size`` and standardised per image; the prepared tensor is
cached (see :mod:`pruninglib.data.cache`), keyed by the images' checksums, the size and :data:`PREP_VERSION`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pruninglib.data.cache import cached
from pruninglib.data.fetch import Remote, obtained, resolve, status
from pruninglib.data.images import read_grayscale, resize_square, standardize
from pruninglib.data.root import cache_dir, read_sums, resolve_data_root
from pruninglib.data.splits import connected_groups

FOLDER = "covid-chestxray-dataset"
COMMIT = "0f7245db6f5aa4001ea75cf69fe6cfe091928403"  # upstream, 2020-06-05, "Make license clear"
URL = f"https://raw.githubusercontent.com/ieee8023/covid-chestxray-dataset/{COMMIT}/"
SUMS = Path(__file__).with_name("sums") / f"{FOLDER}.sha256"
UNOBTAINABLE = ("covid-19-pneumonia-14-PA.png", "parapneumonic-effusion-1-PA.png", "chlamydia-pneumonia-PA.png",
                "cavitating-pneumonia-4-day28-PA.png", "pneumocystis-jiroveci-pneumonia-4-PA.png")
PREP_VERSION = 1  # bump when the preparation (reading, resizing, normalising) changes: old caches are not used
POSITIVE = "COVID-19"


def remotes() -> list[Remote]:
    """``metadata.csv`` then the subset's images, each with its SHA-256 and its URL at the pinned commit."""
    return [Remote(path, digest, URL + path.removeprefix(f"{FOLDER}/")) for path, digest in read_sums(SUMS).items()]


def select_subset(metadata: pd.DataFrame) -> pd.DataFrame:
    """The subset rule of the data card: X-ray, PA view, folder ``images``, minus the 5 unobtainable files, first
    row per patient id (in file order). Pure: returns the selected rows."""
    rows = metadata[(metadata["modality"] == "X-ray") & (metadata["view"] == "PA") & (metadata["folder"] == "images")
                    & ~metadata["filename"].isin(UNOBTAINABLE)]
    return rows.drop_duplicates("patientid", keep="first")


def covid_label(finding: str) -> int:
    """1 when the finding names COVID-19 (e.g. "COVID-19", "COVID-19, ARDS"), else 0."""
    return int(POSITIVE in str(finding))


def file_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per image file: its patient ids, finding, label, license and source; a file referenced by several
    rows must have one finding (else ValueError naming it). ``group`` joins files sharing a patient or a file."""
    out = []
    for name, g in rows.groupby("filename", sort=True):
        findings = g["finding"].unique()
        if len(findings) != 1:
            raise ValueError(f"image {name} is referenced with different findings: {list(findings)}")
        lic = g["license"].dropna()
        out.append({"file": name, "patientids": [str(p) for p in g["patientid"]], "finding": findings[0],
                    "label": covid_label(findings[0]), "license": str(lic.iloc[0]).strip() if len(lic) else "",
                    "url": str(g["url"].iloc[0]) if pd.notna(g["url"].iloc[0]) else "",
                    "doi": str(g["doi"].iloc[0]) if pd.notna(g["doi"].iloc[0]) else ""})
    table = pd.DataFrame(out)
    table["group"] = connected_groups([[f"file:{f}", *(f"patient:{p}" for p in ps)]
                                       for f, ps in zip(table["file"], table["patientids"])])
    return table


@dataclass
class CovidData:
    """All images as one tensor, with labels, groups and the per-file table (same order everywhere)."""

    x: torch.Tensor  # (N, 1, S, S) float32, standardised per image
    y: torch.Tensor  # (N,) int64, 1 = COVID-19
    table: pd.DataFrame  # file, patientids, finding, label, license, url, doi, group, mode
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def groups(self) -> np.ndarray:
        return self.table["group"].to_numpy()


def _prepare(paths: list[Path], size: int) -> dict[str, Any]:
    images, modes = [], []
    for path in paths:
        gray, mode = read_grayscale(path)
        images.append(resize_square(gray, size))
        modes.append(mode)
    x = standardize(torch.stack(images)).unsqueeze(1).contiguous()
    return {"x": x, "files": [p.name for p in paths], "modes": modes, "size": size, "prep_version": PREP_VERSION}


def ensure(data_root: str | os.PathLike[str] | None = None, *, fetch: bool = True,
           progress: bool = True) -> dict[str, Any]:
    """Find (or download into the cache) and verify ``metadata.csv`` and the 191 images; return the source record
    for results.json with ``paths`` (file name -> path). Raises DataNotFoundError naming the missing files and the
    folders looked in, ChecksumError naming a corrupt file."""
    origin, root = resolve_data_root(data_root)
    wanted = remotes()
    paths, records = resolve(wanted, root, origin, "COVID-19 X-rays", FOLDER, fetch=fetch, progress=progress)
    return {"data_root": str(root), "data_root_from": origin, "obtained": obtained(paths, root),
            "verified_files": records, "paths": {Path(r.path).name: p for r, p in zip(wanted, paths)}}


def check(data_root: str | os.PathLike[str] | None = None) -> list[tuple[str, str]]:
    """(state, path) of ``metadata.csv`` and each image (see :func:`pruninglib.data.fetch.status`)."""
    return status(remotes(), resolve_data_root(data_root)[1])


def load_covid(data_root: str | os.PathLike[str] | None = None, *, image_size: int = 96,
               device: torch.device | str = "cpu") -> CovidData:
    """Load, verify and prepare the subset (see module docstring), fetching it on first use (:func:`ensure` says
    what it raises); ValueError if the committed image list disagrees with the subset rule."""
    found = ensure(data_root)
    paths = found.pop("paths")
    rows = select_subset(pd.read_csv(paths["metadata.csv"], dtype={"patientid": str}))
    listed = sorted(name for name in paths if name != "metadata.csv")
    if sorted(set(rows["filename"])) != listed:
        diff = sorted(set(rows["filename"]) ^ set(listed))
        raise ValueError(f"the image list {SUMS} disagrees with the subset rule on {len(diff)} file(s): {diff[:10]}")
    table = file_table(rows)
    files = table["file"].tolist()
    digests = {Path(r["path"]).name: r["sha256"] for r in found["verified_files"]}
    key = hashlib.sha256(json.dumps([PREP_VERSION, image_size, [(f, digests[f]) for f in files]]).encode()
                         ).hexdigest()[:16]
    payload, cache = cached(cache_dir("covid") / f"xray_{image_size}px_{key}.pt",
                            lambda: _prepare([paths[f] for f in files], image_size))
    if payload["files"] != files or tuple(payload["x"].shape) != (len(files), 1, image_size, image_size):
        raise ValueError(f"cached tensors {cache['path']} do not match the file list; delete the file and re-run")
    table["mode"] = payload["modes"]
    y = torch.tensor(table["label"].to_numpy(), dtype=torch.int64)
    source = {"dataset": "COVID-19 Image Data Collection (ieee8023), PA chest X-ray subset", **found, "cache": cache,
              "task": "COVID-19 (finding contains 'COVID-19') vs other findings",
              "images": len(files), "rows": len(rows), "positive": int(y.sum()), "negative": int((y == 0).sum()),
              "groups": int(table["group"].nunique()), "image_size": image_size,
              "preparation": "grayscale (alpha over black; 16-bit scaled), bilinear antialiased resize to a square "
                             "(aspect ratio not kept), per-image standardisation"}
    return CovidData(payload["x"].to(device), y.to(device), table, source)


def showable_license(license_text: str) -> bool:
    """True for licenses that allow showing a (resized) copy with attribution: CC BY, CC BY-SA (any version) and
    Apache 2.0. False for non-commercial or no-derivatives licenses, and for blank or vague entries."""
    import re

    return bool(re.fullmatch(r"CC BY(-SA)?( \d\.\d)?|Apache 2\.0", str(license_text).strip()))
