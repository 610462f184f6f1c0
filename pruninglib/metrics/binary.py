"""Binary classification metrics with confidence intervals: pure functions on arrays.

``y`` holds labels in {0, 1} (1 = positive), ``score`` the predicted probability (or any score) of class 1.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from pruninglib.data.tensors import Split


def roc_auc(y: Sequence[int], score: Sequence[float]) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties counting 1/2
    (the Mann-Whitney U statistic over n_pos * n_neg). NaN if a class is absent."""
    y, s = np.asarray(y), np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks over ties
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y: Sequence[int], score: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    y, s = np.asarray(y), np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each run of equal scores
    tp = np.cumsum(y == 1)[last]
    fp = np.cumsum(y == 0)[last]
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def sensitivity(y: Sequence[int], score: Sequence[float], threshold: float = 0.5) -> float:
    """True positive rate: fraction of positives with score >= threshold (NaN without positives)."""
    y, s = np.asarray(y), np.asarray(score)
    pos = y == 1
    return float((s[pos] >= threshold).mean()) if pos.any() else float("nan")


def specificity(y: Sequence[int], score: Sequence[float], threshold: float = 0.5) -> float:
    """True negative rate: fraction of negatives with score < threshold (NaN without negatives)."""
    y, s = np.asarray(y), np.asarray(score)
    neg = y == 0
    return float((s[neg] < threshold).mean()) if neg.any() else float("nan")


def balanced_accuracy(y: Sequence[int], score: Sequence[float], threshold: float = 0.5) -> float:
    """Mean of sensitivity and specificity (accuracy as if both classes were equally frequent)."""
    return 0.5 * (sensitivity(y, score, threshold) + specificity(y, score, threshold))


def binary_metrics(y: Sequence[int], score: Sequence[float], threshold: float = 0.5) -> dict[str, float]:
    """AUC, sensitivity, specificity and balanced accuracy (the last three at ``threshold``)."""
    return {"auc": roc_auc(y, score), "sensitivity": sensitivity(y, score, threshold),
            "specificity": specificity(y, score, threshold),
            "balanced_accuracy": balanced_accuracy(y, score, threshold)}


def t_interval(values: Sequence[float], level: float = 0.95,
               clip: tuple[float, float] | None = None) -> dict[str, float]:
    """Mean and two-sided Student-t confidence interval over ``values`` (e.g. one per fold): mean +- t * sd/sqrt(n),
    cut to ``clip`` (the range of a bounded metric, e.g. (0, 1)) when given.

    Folds share training images, so their values are not independent and this interval is, if anything, too
    narrow (Bengio & Grandvalet 2004); it is the usual summary of k-fold results. A single value gives NaN bounds.
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    n = len(v)
    mean = float(v.mean()) if n else float("nan")
    if n < 2:
        return {"mean": mean, "low": float("nan"), "high": float("nan"), "sd": float("nan"), "n": n}
    sd = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if clip is not None:
        low, high = max(low, clip[0]), min(high, clip[1])
    return {"mean": mean, "low": low, "high": high, "sd": sd, "n": n}


def bootstrap_interval(y: Sequence[int], score: np.ndarray, metric: Callable[[np.ndarray, np.ndarray], float], *,
                       resamples: int, generator: np.random.Generator, level: float = 0.95,
                       clusters: Sequence[int] | None = None) -> dict[str, float]:
    """Percentile bootstrap interval of ``metric(y, score)``, stratified by class.

    Each resample draws, within each class, as many units as it has, with replacement; a unit is a row, or a
    cluster of rows (``clusters``: e.g. a patient group, or an image predicted by several seeds), so correlated
    rows are resampled together. ``score`` may have several columns (e.g. two models' scores on the same images,
    for a paired difference): rows are resampled jointly. ``resamples`` draws use ``generator``.
    """
    y, s = np.asarray(y), np.asarray(score, dtype=np.float64)
    point = float(metric(y, s))
    unit = np.arange(len(y)) if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    members = [np.flatnonzero(unit == u) for u in range(unit.max() + 1)]
    unit_class = np.array([y[m[0]] for m in members])
    strata = [np.flatnonzero(unit_class == c) for c in np.unique(unit_class)]
    stats = np.empty(resamples)
    for r in range(resamples):
        units = np.concatenate([g[generator.integers(0, len(g), len(g))] for g in strata])
        idx = np.concatenate([members[u] for u in units])
        stats[r] = metric(y[idx], s[idx])
    lo, hi = np.nanpercentile(stats, [50 * (1 - level), 50 * (1 + level)])
    return {"value": point, "low": float(lo), "high": float(hi), "resamples": resamples}


@torch.no_grad()
def predict_proba(model: nn.Module, split: Split, batch_size: int = 256) -> np.ndarray:
    """Softmax probability of class 1 for every row of ``split`` (eval mode; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    out = [torch.softmax(model(x), dim=1)[:, 1].double().cpu() for x, _ in split.batches(batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()
