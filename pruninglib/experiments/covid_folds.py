"""The COVID-19 chapter's data: the images at every size a fold needs, and nested cross-validation splits.

Outer folds: stratified, patient-grouped k-fold over all 191 images; a final run trains on an outer fold's training
part and is measured on its test part. Inner folds: the same kind of split of each outer training part alone; a
tuning or study run (``evaluate_test`` false) trains on the other inner folds and is measured on one, so it never
reads an image of the outer test fold (:meth:`CovidFolds.parts` is the only way to an outer test fold).

Example, 5 outer x 3 inner folds: outer fold 0 tests 38 images and trains on 153; its inner fold 1 validates on
about 51 of those 153 and trains on the other 102.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from pruninglib.config import CovidCNNConfig
from pruninglib.data import Split
from pruninglib.data.augment import AugmentedSplit
from pruninglib.data.covid import CovidData, load_covid
from pruninglib.data.splits import fold_table, stratified_group_kfold

Pair = tuple[np.ndarray, np.ndarray]
INNER = "inner {}"  # the RunKey setting of a run measured on an inner fold


def inner_fold(setting: str | None) -> int | None:
    """The inner fold of a run's ``setting`` ('inner 2' -> 2); None for a final run (no setting)."""
    return None if setting is None else int(setting.removeprefix(INNER.format("")))


@dataclass
class CovidFolds:
    """All images per image size (same order everywhere), the outer (train, test) index pairs, the inner
    (train, val) pairs of each outer training part (global indices), the fold table and the run card's data
    block."""

    images: dict[int, CovidData]
    folds: list[Pair]
    inner: list[list[Pair]]
    fold_table: pd.DataFrame
    source: dict[str, Any]

    @property
    def first(self) -> CovidData:
        """The images at the first size loaded (for tables of files, labels and groups, the same at every size)."""
        return next(iter(self.images.values()))

    def parts(self, fold: int, inner: int | None) -> tuple[str, np.ndarray, np.ndarray]:
        """(name of the held-out part, training indices, held-out indices): outer fold ``fold``'s training and test
        parts for a final run (``inner`` None), else its inner fold ``inner``'s training and validation parts."""
        if inner is None:
            train, test = self.folds[fold]
            return "test", train, test
        train, val = self.inner[fold][inner]
        return "val", train, val

    def split(self, cfg: CovidCNNConfig, indices: np.ndarray, train: bool) -> Split:
        """The images ``indices`` at ``cfg.image_size``: a class-balanced, augmented training split (``train``),
        or a plain one."""
        data = self.images[cfg.image_size]
        i = torch.as_tensor(indices, device=data.x.device)
        if not train:
            return Split(data.x[i], data.y[i])
        return AugmentedSplit(data.x[i], data.y[i], max_shift=cfg.augment_shift, intensity=cfg.augment_intensity,
                              balance=True)


def load_folds(cfg: CovidCNNConfig, device: torch.device) -> CovidFolds:
    """Load the images at every fold's image size and build the outer and inner folds (see module docstring)."""
    sizes = sorted({cfg.for_fold(k).image_size for k in range(cfg.folds)})
    images = {s: load_covid(cfg.data_root or None, image_size=s, device=device) for s in sizes}
    data = images[sizes[0]]
    y_all, groups = data.y.cpu().numpy(), data.groups
    folds = stratified_group_kfold(y_all, groups, cfg.folds, cfg.fold_seed)
    inner = [[(train[a], train[b]) for a, b in stratified_group_kfold(y_all[train], groups[train], cfg.inner_folds,
                                                                       cfg.fold_seed)]
             for train, _ in folds]
    if cfg.evaluate_test:
        table = fold_table(y_all, groups, folds)
    else:  # the class counts of the inner validation parts; nothing of an outer test fold
        table = pd.concat({k: fold_table(y_all, groups, pairs) for k, pairs in enumerate(inner)},
                          names=["outer fold", "inner fold"]).rename(columns=lambda c: c.replace("test", "val"))
    split = {"folds": cfg.folds, "fold_seed": cfg.fold_seed, "grouped_by": "patient id and file (connected)",
             "inner_folds": cfg.inner_folds, "measured_on": "outer test folds" if cfg.evaluate_test else
             "inner validation folds (no outer test image is read)"}
    if cfg.evaluate_test:
        split["test_images_per_fold"] = table["test images"].tolist()
    source = {**data.source, "image_sizes": sizes, "split": split}
    return CovidFolds(images, folds, inner, table, source)
