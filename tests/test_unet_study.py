"""The U-Net chapter's sweep analysis on hand-made runs: the lambda table and its pre-registered choice, the
regularizer-vs-no-regularizer verdicts per schedule strength, and the counting bound per scale."""
import pandas as pd
import pytest

from pruninglib.config import UNetDSBConfig
from pruninglib.experiments.targets import MEAN_ONLY, MET, MISSED
from pruninglib.experiments.unet_study import (choose_lambda, forced_by_scale, lambda_display, lambda_table,
                                               schedule_cells, schedule_verdicts)


def _run(variant, seed, removed, ap, **extra):
    return {"variant": variant, "seed": seed, "channels_removed": removed, "shrunk_val_ap": ap,
            "weight_sparsity": extra.pop("sparsity", 0.9), "silenced_alive": 0.0, "filter_norm_cv_epoch1": 0.3,
            "gamma_alive_median": 0.1, **extra}


def test_lambda_choice_takes_the_most_channels_within_the_ap_margin():
    runs = pd.DataFrame([_run("dense", s, 0.0, 0.20 + s / 100) for s in range(3)] +
                        [_run("l2", s, 0.30, 0.20 + s / 100, lambda_l2=0.0) for s in range(3)] +  # no regularizer
                        [_run("l2", s, 0.50, 0.19 + s / 100, lambda_l2=0.02) for s in range(3)] +  # drop 0.010
                        [_run("l2", s, 0.50, 0.19 + s / 100, lambda_l2=0.05) for s in range(3)] +  # a tie
                        [_run("l2", s, 0.70, 0.17 + s / 100, lambda_l2=0.08) for s in range(3)])  # drop 0.030
    table = lambda_table(runs)
    assert list(table["lambda_l2"]) == [0.0, 0.02, 0.05, 0.08] and (table["n"] == 3).all()
    assert table.loc[3, "ap_drop_mean"] == pytest.approx(0.03)
    assert table.loc[3, "channels_removed_mean"] == pytest.approx(0.7)
    assert choose_lambda(table) == 0.02  # 0.08 loses too much AP; 0.02 and 0.05 tie, the smaller wins
    table.loc[table["lambda_l2"] == 0.05, "channels_removed_mean"] = 0.55
    assert choose_lambda(table) == 0.05
    with pytest.raises(ValueError, match="no lambda_l2 > 0"):
        choose_lambda(table[table["lambda_l2"].isin([0.0, 0.08])])


def test_the_l1_lambda_follows_the_same_rule_and_falls_back_to_the_smallest():
    runs = pd.DataFrame([_run("dense", s, 0.0, 0.20 + s / 100) for s in range(2)] +
                        [_run("l1", s, 0.40, 0.19 + s / 100, lambda_l1=3e-4) for s in range(2)] +  # drop 0.010
                        [_run("l1", s, 0.60, 0.18 + s / 100, lambda_l1=1e-3) for s in range(2)] +  # drop 0.020
                        [_run("l2", s, 0.90, 0.20 + s / 100, lambda_l2=0.02) for s in range(2)])  # not an L1 run
    table = lambda_table(runs, "l1")
    assert list(table["lambda_l1"]) == [3e-4, 1e-3] and (table["n"] == 2).all()
    assert choose_lambda(table, "l1") == 3e-4  # 1e-3 removes more but loses 0.02 AP
    strict = table[table["lambda_l1"] == 1e-3]
    with pytest.raises(ValueError, match="no lambda_l1 > 0"):
        choose_lambda(strict, "l1")
    assert choose_lambda(strict, "l1", smallest_if_none=True) == 1e-3
    assert list(lambda_display(table, "l1").index) == [3e-4, 1e-3]


def test_schedule_verdicts_count_only_more_channels_at_the_same_accuracy():
    rows = []
    for s in range(3):
        rows += [_run("none", s, 0.10 + s / 100, 0.20, sparsity_scale=0.5),
                 _run("l2", s, 0.40 + s / 100, 0.20 - s / 1000, sparsity_scale=0.5),  # more channels, same AP
                 _run("l1", s, 0.10 + s / 50, 0.20, sparsity_scale=0.5),  # +0, +0.01, +0.02: interval crosses 0
                 _run("none", s, 0.60, 0.20, sparsity_scale=1.0),
                 _run("l2", s, 0.70 + s / 100, 0.10, sparsity_scale=1.0),  # more channels, but 0.10 AP lost
                 _run("l1", s, 0.50, 0.20, sparsity_scale=1.0)]  # fewer
    runs = pd.DataFrame(rows)
    v = schedule_verdicts(runs).set_index(["sparsity_scale", "regularizer"])
    assert v.loc[(0.5, "l2"), "channels_verdict"] == MET and v.loc[(0.5, "l2"), "ap_verdict"] == MET
    assert v.loc[(0.5, "l2"), "regularizer_removes_more"]
    assert v.loc[(0.5, "l1"), "channels_verdict"] == MEAN_ONLY and not v.loc[(0.5, "l1"), "regularizer_removes_more"]
    assert v.loc[(1.0, "l2"), "channels_verdict"] == MET and v.loc[(1.0, "l2"), "ap_verdict"] == MISSED
    assert not v.loc[(1.0, "l2"), "regularizer_removes_more"]
    assert v.loc[(1.0, "l1"), "channels_verdict"] == MISSED
    cells = schedule_cells(runs)
    assert len(cells) == 6 and cells.loc[(cells["sparsity_scale"] == 0.5) & (cells["variant"] == "l2"),
                                         "channels_removed_mean"].item() == pytest.approx(0.41)


def test_forced_death_appears_only_where_a_layer_keeps_fewer_weights_than_filters():
    cfg = UNetDSBConfig(depth=3, base=8, image_size=64, target_sparsity=(0.9, 0.97, 0.995, 0.998, 0.5))
    forced = forced_by_scale(cfg, [0.5, 0.95, 1.0]).set_index("sparsity_scale")["forced_dead"]
    assert forced[0.5] == 0.0 and forced[0.95] == 0.0
    # at 1.0: enc.3.0 (64 filters of 288 weights, 99.8%) keeps 37 weights, enc.2.0 (32 filters of 144, 99.5%) 24:
    # 27 + 8 of the 408 channels
    assert forced[1.0] == pytest.approx(35 / 408)
