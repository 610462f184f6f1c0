"""The COVID chapter's targets: per-fold values with the seeds averaged, the AUC drop paired by fold."""
import pandas as pd
import pytest

from pruninglib.config import CovidCNNConfig
from pruninglib.experiments.covid_cnn import EXPERIMENT
from pruninglib.experiments.covid_summary import targets
from pruninglib.experiments.targets import MISSED


def _table(rows: list[tuple[str, int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "fold": k, "seed": s, "shrunk_auc": auc, "shrunk_sensitivity": 0.5,
                          "shrunk_specificity": 0.5, "shrunk_balanced_accuracy": 0.5, "channels_removed": c,
                          "weight_sparsity": 0.0} for v, k, s, auc, c in rows])


def test_runs_are_one_per_variant_fold_and_seed():
    cfg = CovidCNNConfig(folds=2, seeds=(0, 1), variants=("l2",))
    keys = EXPERIMENT.runs(cfg, None)
    assert [k.id for k in keys[:4]] == [("dense", 0, 0), ("l2", 0, 0), ("dense", 0, 1), ("l2", 0, 1)]
    assert len({k.id for k in keys}) == 8 and {k.fold for k in keys} == {0, 1}


def test_targets_average_seeds_within_a_fold_and_pair_the_drop_by_fold():
    cfg = CovidCNNConfig(folds=2, seeds=(0, 1), variants=("l2",))
    table = _table([("dense", 0, 0, 0.70, 0.0), ("dense", 0, 1, 0.80, 0.0), ("dense", 1, 0, 0.60, 0.0),
                    ("dense", 1, 1, 0.60, 0.0), ("l2", 1, 0, 0.50, 0.4), ("l2", 1, 1, 0.60, 0.4),
                    ("l2", 0, 0, 0.74, 0.5), ("l2", 0, 1, 0.74, 0.7)])
    removed, drop = targets(cfg, table)
    assert removed.values == pytest.approx((60.0, 40.0)) and removed.bound == 50.0 and removed.direction == ">="
    assert drop.values == pytest.approx((0.01, 0.05)) and drop.bound == 0.02 and drop.direction == "<="
    assert drop.verdict == MISSED  # mean 0.03 > 0.02
