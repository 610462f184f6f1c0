"""Cross-validation splits that keep groups together: stratified by class, grouped by patient AND file.

In the COVID-19 chest X-ray subset every file belongs to one patient id, except two files that are referenced by
two patient ids each (probably one patient entered twice). Grouping by patient alone would put such a file in two
folds; grouping by file alone could split a patient's images. :func:`connected_groups` joins samples that share
ANY key (a file name or a patient id) into one group: the connected components of the sample-key graph.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def connected_groups(keys: Sequence[Sequence[str]]) -> np.ndarray:
    """Group id (0, 1, ... in order of first appearance) per sample; samples sharing any key share a group.

    Example: keys [["f1", "p1"], ["f2", "p2"], ["f3", "p1"], ["f2", "p4"]] -> [0, 1, 0, 1].
    """
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            if k in owner:
                a, b = find(owner[k]), find(i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[k] = i
    roots = [find(i) for i in range(len(keys))]
    ids: dict[int, int] = {}
    return np.array([ids.setdefault(r, len(ids)) for r in roots], dtype=np.int64)


def stratified_group_kfold(y: Sequence[int], groups: Sequence[int], folds: int,
                           seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train indices, test indices) pairs: every sample is tested exactly once, no group is in two
    parts of a pair, and each test fold has about the overall class ratio (scikit-learn's
    ``StratifiedGroupKFold`` with shuffling by ``seed``). Raises ValueError if a fold would lack a class."""
    from sklearn.model_selection import StratifiedGroupKFold

    y, groups = np.asarray(y), np.asarray(groups)
    if not 2 <= folds <= len(np.unique(groups)):
        raise ValueError(f"folds = {folds} is not allowed: between 2 and the number of groups ({len(np.unique(groups))})")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out = [(np.sort(tr), np.sort(te)) for tr, te in splitter.split(np.zeros(len(y)), y, groups)]
    check_folds(y, groups, out)
    return out


def check_folds(y: np.ndarray, groups: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Raise ValueError unless the folds partition the samples, keep groups apart and have both classes."""
    tested = np.concatenate([te for _, te in folds])
    if sorted(tested.tolist()) != list(range(len(y))):
        raise ValueError("the test folds do not partition the samples")
    for k, (tr, te) in enumerate(folds):
        if set(tr) & set(te) or len(tr) + len(te) != len(y):
            raise ValueError(f"fold {k}: train and test overlap or miss samples")
        shared = set(groups[tr]) & set(groups[te])
        if shared:
            raise ValueError(f"fold {k}: groups {sorted(int(g) for g in shared)[:5]} are in both train and test")
        for part, idx in (("train", tr), ("test", te)):
            if len(np.unique(y[idx])) < len(np.unique(y)):
                raise ValueError(f"fold {k}: the {part} part lacks a class")


def fold_table(y: np.ndarray, groups: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """One row per fold: test images, test groups, positives, negatives and the positive fraction."""
    rows = []
    for k, (_, te) in enumerate(folds):
        rows.append({"fold": k, "test images": len(te), "test groups": len(np.unique(groups[te])),
                     "positive": int((y[te] == 1).sum()), "negative": int((y[te] == 0).sum()),
                     "positive fraction": round(float((y[te] == 1).mean()), 3)})
    return pd.DataFrame(rows).set_index("fold")
