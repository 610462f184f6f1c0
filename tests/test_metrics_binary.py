"""Binary metrics against scikit-learn and scipy, on small seeded arrays (with ties)."""
import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from pruninglib.metrics.binary import (balanced_accuracy, bootstrap_interval, roc_auc, roc_curve, sensitivity,
                                       specificity, t_interval)


def sample(seed: int, n: int = 60):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(int)
    y[:2] = [0, 1]
    score = np.round(np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), 1)  # rounding makes ties
    return y, score


@pytest.mark.parametrize("seed", range(6))
def test_auc_and_roc_curve_match_sklearn(seed):
    y, s = sample(seed)
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    fpr, tpr = roc_curve(y, s)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_threshold_metrics_match_sklearn(seed, threshold):
    y, s = sample(seed)
    pred = (s >= threshold).astype(int)
    assert sensitivity(y, s, threshold) == pytest.approx(skm.recall_score(y, pred, pos_label=1))
    assert specificity(y, s, threshold) == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert balanced_accuracy(y, s, threshold) == pytest.approx(skm.balanced_accuracy_score(y, pred))


def test_auc_of_one_class_is_nan():
    assert np.isnan(roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))


def test_t_interval_matches_scipy_and_clips():
    v = [0.81, 0.77, 0.9, 0.85, 0.72]
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    r = t_interval(v, 0.95)
    assert (r["low"], r["high"]) == (pytest.approx(lo), pytest.approx(hi)) and r["n"] == 5
    assert t_interval([0.99, 0.9, 1.0], 0.95, clip=(0, 1))["high"] == 1.0
    assert np.isnan(t_interval([0.5])["low"])


def test_bootstrap_is_seeded_covers_the_point_and_keeps_clusters_together():
    y, s = sample(0, 80)
    a = bootstrap_interval(y, s, roc_auc, resamples=300, generator=np.random.default_rng(0))
    b = bootstrap_interval(y, s, roc_auc, resamples=300, generator=np.random.default_rng(0))
    assert a == b and a["low"] <= a["value"] <= a["high"] and a["high"] - a["low"] < 0.5
    # every row duplicated, as one cluster per image: the interval is that of the original rows
    clustered = bootstrap_interval(np.r_[y, y], np.r_[s, s], roc_auc, resamples=300,
                                   generator=np.random.default_rng(0), clusters=np.r_[np.arange(80), np.arange(80)])
    assert clustered["value"] == pytest.approx(a["value"])
    assert clustered["high"] - clustered["low"] == pytest.approx(a["high"] - a["low"], abs=0.05)
    paired = bootstrap_interval(y, np.c_[s, s], lambda yy, ss: roc_auc(yy, ss[:, 0]) - roc_auc(yy, ss[:, 1]),
                                resamples=50, generator=np.random.default_rng(0))
    assert paired["low"] == paired["high"] == 0.0
