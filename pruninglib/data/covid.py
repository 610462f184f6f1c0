"""COVID-19 Image Data Collection (Cohen et al.), the documented subset of 191 frontal PA chest X-rays.

Expected under the data root: ``covid-chestxray-dataset/{metadata.csv, images_subset.txt, images/*}`` and the
root's ``SHA256SUMS`` (see ``MANIFEST.md`` section 4). Every file is verified before use; a listed image that is
missing, or has no reference checksum, or a wrong one, stops the run with a message naming the file.

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
from pruninglib.data.images import read_grayscale, resize_square, standardize
from pruninglib.data.root import (ChecksumError, DataNotFoundError, cache_dir, read_checksums, resolve_data_root,
                                  verify_file)
from pruninglib.data.splits import connected_groups

FOLDER = "covid-chestxray-dataset"
SHA256 = {  # MANIFEST.md section 4
    "metadata.csv": "933e38b2c77e7c10d0762d219b316c543ae6a81eb153517551c4596d6e349d5e",
    "images_subset.txt": "094b064f4d1017f367b0ceb40d19aac12b2884199f7770a21c2f70c48a36368c",
}
UNOBTAINABLE = ("covid-19-pneumonia-14-PA.png", "parapneumonic-effusion-1-PA.png", "chlamydia-pneumonia-PA.png",
                "cavitating-pneumonia-4-day28-PA.png", "pneumocystis-jiroveci-pneumonia-4-PA.png")
PREP_VERSION = 1  # bump when the preparation (reading, resizing, normalising) changes: old caches are not used
POSITIVE = "COVID-19"


def select_subset(metadata: pd.DataFrame) -> pd.DataFrame:
    """The subset rule of MANIFEST.md: X-ray, PA view, folder ``images``, minus the 5 unobtainable files, first
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


def _verify_images(folder: Path, root: Path, files: list[str]) -> list[dict[str, object]]:
    missing = [f for f in files if not (folder / "images" / f).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{len(missing)} image(s) listed in {folder / 'images_subset.txt'} are missing from {folder / 'images'}: "
            f"{', '.join(missing)}. Restore them from the source named in MANIFEST.md section 4")
    sums = read_checksums(root)
    unlisted = [f for f in files if f"{FOLDER}/images/{f}" not in sums]
    if unlisted:
        raise ChecksumError(f"no reference checksum in {root / 'SHA256SUMS'} for image(s): {', '.join(unlisted)}")
    return [verify_file(folder / "images" / f, sums[f"{FOLDER}/images/{f}"]).to_dict() for f in files]


def _prepare(folder: Path, files: list[str], size: int) -> dict[str, Any]:
    images, modes = [], []
    for f in files:
        gray, mode = read_grayscale(folder / "images" / f)
        images.append(resize_square(gray, size))
        modes.append(mode)
    x = standardize(torch.stack(images)).unsqueeze(1).contiguous()
    return {"x": x, "files": files, "modes": modes, "size": size, "prep_version": PREP_VERSION}


def load_covid(data_root: str | os.PathLike[str] | None = None, *, image_size: int = 96,
               device: torch.device | str = "cpu") -> CovidData:
    """Load, verify and prepare the subset (see module docstring). Raises DataNotFoundError naming the folder or
    the missing files, ChecksumError naming a corrupt file, ValueError if the subset list disagrees with the rule."""
    origin, root = resolve_data_root(data_root)
    folder = root / FOLDER
    if not folder.is_dir():
        raise DataNotFoundError(f"{folder} (data root from {origin}) does not exist: the COVID-19 chapter needs "
                                f"{FOLDER}/ with metadata.csv, images_subset.txt and images/ (MANIFEST.md section 4)")
    for name in SHA256:
        if not (folder / name).is_file():
            raise DataNotFoundError(f"{folder / name} is missing (MANIFEST.md section 4)")
    records = [verify_file(folder / name, digest).to_dict() for name, digest in SHA256.items()]
    rows = select_subset(pd.read_csv(folder / "metadata.csv", dtype={"patientid": str}))
    listed = [line.strip() for line in (folder / "images_subset.txt").read_text().splitlines() if line.strip()]
    if sorted(set(rows["filename"])) != sorted(listed):
        diff = sorted(set(rows["filename"]) ^ set(listed))
        raise ValueError(f"images_subset.txt disagrees with the subset rule on {len(diff)} file(s): {diff[:10]}")
    table = file_table(rows)
    files = table["file"].tolist()
    records += _verify_images(folder, root, files)
    key = hashlib.sha256(json.dumps([PREP_VERSION, image_size, [(r["path"].rsplit("/", 1)[-1], r["sha256"])
                                                               for r in records]]).encode()).hexdigest()[:16]
    payload, cache = cached(cache_dir("covid") / f"xray_{image_size}px_{key}.pt",
                            lambda: _prepare(folder, files, image_size))
    if payload["files"] != files or tuple(payload["x"].shape) != (len(files), 1, image_size, image_size):
        raise ValueError(f"cached tensors {cache['path']} do not match the file list; delete the file and re-run")
    table["mode"] = payload["modes"]
    y = torch.tensor(table["label"].to_numpy(), dtype=torch.int64)
    source = {"dataset": "COVID-19 Image Data Collection (ieee8023), PA chest X-ray subset", "data_root": str(root),
              "data_root_from": origin, "obtained": f"local files in {folder}", "files": records,
              "checksums_ok": all(r["checksum_ok"] for r in records), "cache": cache,
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
