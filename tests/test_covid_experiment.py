"""The COVID chapter: runs per fold, nested folds that never reach an outer test fold, per-fold settings, and the
targets (per-fold values with the seeds averaged, paired by fold)."""
import numpy as np
import pandas as pd
import pytest

from pruninglib.config import ConfigError, CovidCNNConfig
from pruninglib.experiments import covid_cnn
from pruninglib.experiments.covid_cnn import EXPERIMENT
from pruninglib.experiments.covid_folds import load_folds
from pruninglib.experiments import covid_summary as summ
from pruninglib.experiments.covid_summary import targets
from pruninglib.experiments.targets import MET, MISSED


def _table(rows: list[tuple[str, int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "fold": k, "seed": s, "shrunk_test_auc": auc, "shrunk_test_sensitivity": 0.5,
                          "shrunk_test_specificity": 0.5, "shrunk_test_balanced_accuracy": 0.5,
                          "channels_removed": c, "weight_sparsity": 0.0} for v, k, s, auc, c in rows])


def test_runs_are_one_per_variant_fold_and_seed_and_inner_fold_for_a_study():
    cfg = CovidCNNConfig(folds=2, seeds=(0, 1))
    keys = EXPERIMENT.runs(cfg, None)
    assert [k.id for k in keys[:4]] == [("dense", 0, 0), ("l2", 0, 0), ("dense", 0, 1), ("l2", 0, 1)]
    assert len({k.id for k in keys}) == 8 and {k.fold for k in keys} == {0, 1}
    study = EXPERIMENT.runs(CovidCNNConfig(folds=2, evaluate_test=False, variants=("l2",), inner_used=2), None)
    assert [k.id for k in study] == [("inner 0", "l2", 0, 0), ("inner 1", "l2", 0, 0), ("inner 0", "l2", 1, 0),
                                     ("inner 1", "l2", 1, 0)]


def test_targets_average_seeds_within_a_fold_and_pair_by_fold():
    cfg = CovidCNNConfig(folds=2, seeds=(0, 1), variants=("dense", "l2", "none"))
    table = _table([("dense", 0, 0, 0.70, 0.0), ("dense", 0, 1, 0.80, 0.0), ("dense", 1, 0, 0.60, 0.0),
                    ("dense", 1, 1, 0.60, 0.0), ("l2", 1, 0, 0.50, 0.4), ("l2", 1, 1, 0.60, 0.4),
                    ("l2", 0, 0, 0.74, 0.5), ("l2", 0, 1, 0.74, 0.7), ("none", 0, 0, 0.7, 0.5),
                    ("none", 0, 1, 0.7, 0.5), ("none", 1, 0, 0.7, 0.3), ("none", 1, 1, 0.7, 0.3)])
    dense, removed, drop, mechanism = targets(cfg, table)
    assert dense.values == pytest.approx((0.75, 0.60)) and dense.bound == 0.55 and dense.direction == ">="
    assert removed.values == pytest.approx((60.0, 40.0)) and removed.bound == 50.0 and removed.direction == ">="
    assert drop.values == pytest.approx((0.01, 0.05)) and drop.bound == 0.02 and drop.direction == "<="
    assert drop.verdict == MISSED  # mean 0.03 > 0.02
    assert mechanism.values == pytest.approx((10.0, 10.0)) and mechanism.direction == ">"
    assert mechanism.verdict == MET  # 10 points more than no regularizer in both folds (sd 0)


def test_a_final_run_needs_dense_and_the_chosen_variant():
    with pytest.raises(ConfigError, match="'dense' and the chosen variant 'l2'"):
        CovidCNNConfig(variants=("l2", "none"))
    CovidCNNConfig(variants=("l2", "none"), evaluate_test=False)  # a study may leave dense out


def test_fold_settings_apply_per_fold_and_are_validated():
    cfg = CovidCNNConfig(folds=2, fold_settings=[{"channels": [4, 8, 8, 16], "epochs": 1}, {}])
    assert cfg.for_fold(0).channels == (4, 8, 8, 16) and cfg.for_fold(0).epochs == 1
    assert cfg.for_fold(1) == CovidCNNConfig(folds=2)
    with pytest.raises(ConfigError, match="fold_settings.*one mapping per outer fold"):
        CovidCNNConfig(folds=2, fold_settings=[{"lr": 0.1}, {}])
    with pytest.raises(ConfigError, match="fold_settings.*fold 1: parameter 'image_size' = 40"):
        CovidCNNConfig(folds=2, fold_settings=[{}, {"image_size": 40}])


def test_inner_folds_partition_the_outer_training_part(covid_root):
    data = load_folds(CovidCNNConfig(data_root=str(covid_root), folds=3, inner_folds=3), "cpu")
    groups = data.first.groups
    for (train, test), inner in zip(data.folds, data.inner):
        vals = np.concatenate([v for _, v in inner])
        assert sorted(vals) == sorted(train) and not set(vals) & set(test)
        for tr, val in inner:
            assert not set(tr) & set(test) and not set(groups[tr]) & set(groups[val])


class _Untouchable:
    """Stands for an outer test fold's indices: any use raises."""

    def __getattr__(self, name):
        raise AssertionError("an outer test fold was read")

    def __array__(self, *args, **kwargs):
        raise AssertionError("an outer test fold was read")

    def __iter__(self):
        raise AssertionError("an outer test fold was read")

    def __len__(self):
        raise AssertionError("an outer test fold was read")


def test_a_study_run_never_reads_an_outer_test_fold(covid_root, tmp_path, monkeypatch):
    """evaluate_test false: the run trains and measures inside the outer training parts; with every outer test
    fold replaced by an object that raises on use, the whole run (summary included) still succeeds."""
    load = EXPERIMENT.load
    tests = {}

    def guarded(cfg, device, progress):
        data = load(cfg, device, progress)
        tests.update({k: set(te) for k, (_, te) in enumerate(data.folds)})
        data.folds = [(train, _Untouchable()) for train, _ in data.folds]
        return data

    monkeypatch.setattr(EXPERIMENT, "load", guarded)
    cfg = CovidCNNConfig(data_root=str(covid_root), out_dir=str(tmp_path), evaluate_test=False, epochs=1,
                         inner_used=1, variants=("dense", "l2"), latency_batches=(1,))
    result = covid_cnn.run(cfg, progress=False)
    assert result.results["targets"] == [] and result.results["headline"]["split"] == "val"
    assert "shrunk_val_auc" in result.summary and not any(c.startswith(("test_", "shrunk_test_"))
                                                          for c in result.summary)
    files = result.data.first.table["file"].to_numpy()
    pred = result.tables["predictions"]
    for k, test in tests.items():
        assert not set(pred[pred["fold"] == k]["file"]) & set(files[sorted(test)])


def test_testability_follows_the_dense_interval_and_sizes_the_data_needed():
    def results(low: float, verdict: str) -> dict:
        dense = {"name": "dense AUC, mean over outer folds", "mean": low + 0.05, "low": low, "high": low + 0.1,
                 "bound": 0.55, "verdict": verdict}
        return {"targets": [dense], "data_source": {"images": 200},
                "headline": {"auc_drop": {"pooled_paired_bootstrap": {"low": -0.03, "high": 0.05}}}}

    assert summ.testability(results(0.60, MET)).startswith("Yes")
    assert summ.testability(results(0.52, MISSED)).startswith("Only weakly")
    text = summ.testability(results(0.45, MISSED))
    assert "cannot be tested" in text and "about 3,200 images" in text  # 200 * (0.04 / 0.01) ** 2
    assert summ.images_needed(results(0.45, MISSED))["needed"] == pytest.approx(3200.0)
