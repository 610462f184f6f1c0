"""The COVID chapter's sweeps read back: the per-outer-fold choice of a setting on inner folds, the schedule study's
paired contrasts against no regularizer, and what random zeros alone would remove."""
import pandas as pd
import pytest

from pruninglib.experiments import covid_cnn
from pruninglib.experiments.covid_study import (candidate_table, mechanism_findings, random_mask_removed,
                                                schedule_cells, schedule_contrasts, selection, tuning_frame)
from pruninglib.experiments.targets import MET, MISSED

BIG, SMALL = (16, 32, 64, 128), (8, 16, 32, 64)


def _tuning(aucs: dict[tuple[int, tuple[int, ...], int], list[list[float]]]) -> pd.DataFrame:
    """A tuning frame as load_records returns it: per candidate, per outer fold, one AUC per inner fold."""
    rows = []
    for (size, channels, epochs), folds in aucs.items():
        for k, inner in enumerate(folds):
            for j, auc in enumerate(inner):
                rows.append({"point": f"{size}{channels}{epochs}", "chapter": "covid_cnn", "image_size": size,
                             "channels": channels, "epochs": epochs, "variant": "dense", "seed": 0, "fold": k,
                             "setting": f"inner {j}", "metric": "shrunk_val_auc", "value": auc})
    return pd.DataFrame(rows)


def test_each_outer_fold_chooses_its_best_candidate_on_its_inner_folds():
    frame = _tuning({(64, BIG, 40): [[0.6, 0.6], [0.5, 0.5]],
                     (128, SMALL, 80): [[0.7, 0.5], [0.9, 0.7]],   # fold 0 ties with the first: grid order wins
                     (64, SMALL, 40): [[0.5, 0.5], [0.8, 0.9]]})
    assert selection(frame) == [{"image_size": 64, "channels": list(BIG), "epochs": 40},
                                {"image_size": 64, "channels": list(SMALL), "epochs": 40}]
    table = candidate_table(frame)
    assert table["chosen by outer folds"].tolist() == ["0", "-", "1"]
    assert table["AUC fold 1"].tolist() == [0.5, 0.8, 0.85]


def _schedule(removed: dict[tuple[float, str], list[float]], auc: float = 0.6) -> pd.DataFrame:
    rows = []
    for (scale, variant), values in removed.items():
        for r, value in enumerate(values):
            run = {"point": f"{scale}{variant}", "chapter": "covid_cnn", "sparsity_scale": scale,
                   "variant": variant, "seed": r // 5, "fold": r % 5, "setting": "inner 0"}
            rows += [{**run, "metric": "channels_removed", "value": value},
                     {**run, "metric": "weight_sparsity", "value": 0.5 * scale},
                     {**run, "metric": "shrunk_val_auc", "value": auc}]
    return pd.DataFrame(rows)


def test_a_regularizer_counts_only_where_it_removes_more_than_none_replicate_by_replicate():
    frame = _schedule({(0.5, "l2"): [0.30, 0.32, 0.28, 0.31, 0.29], (0.5, "none"): [0.0] * 5,
                       (1.0, "l2"): [0.50, 0.52, 0.48, 0.51, 0.49], (1.0, "none"): [0.55, 0.56, 0.54, 0.55, 0.55]})
    c = schedule_contrasts(frame).set_index("sparsity_scale")
    assert c.loc[0.5, "removed_verdict"] == MET and c.loc[0.5, "removed_diff"] == pytest.approx(30)
    assert c.loc[1.0, "removed_verdict"] == MISSED
    assert c.loc[1.0, "sparsity_diff"] == 0 and c.loc[1.0, "auc_diff"] == 0
    text = mechanism_findings(schedule_contrasts(frame))
    assert "L2 removes more channels than no regularizer, at no loss of AUC, at schedule strength(s) x0.5**" in text
    cells = schedule_cells(frame).set_index(["sparsity_scale", "variant"])
    assert cells.loc[(1.0, "none"), "n"] == 5 and cells.loc[(1.0, "none"), "channels_removed"] == pytest.approx(0.55)
    assert cells.loc[(0.5, "l2"), "channels_removed_low"] < 0.30 < cells.loc[(0.5, "l2"), "channels_removed_high"]


def test_random_zeros_kill_whole_filters_only_at_extreme_sparsity():
    # one block of 128 channels with fan-in 576 (64 inputs x 3 x 3): 0.999 ** 576 = 0.562
    assert random_mask_removed([128], [0.999], in_channels=64) == pytest.approx(0.999 ** 576)
    schedule = [0.5, 0.9, 0.995, 0.999]  # the chapter's conv targets: at scale 1 a third of the channels die at
    assert random_mask_removed([16, 32, 64, 128], schedule) > 0.3  # random, at scale 0.9 almost none
    assert random_mask_removed([16, 32, 64, 128], [0.9 * s for s in schedule]) < 1e-4
    assert random_mask_removed([16, 32], [0.0, 0.0]) == 0.0


def test_the_profiles_fold_settings_are_the_selection_of_the_committed_tuning_record():
    chosen = selection(tuning_frame())
    for profile in ("medium", "paper"):
        assert [dict(s) for s in covid_cnn.PROFILES[profile]["fold_settings"]] == chosen, profile
