"""The VGG schedule sweep's reading: per-regularizer cells with intervals, the paired comparison against no
regularizer at the same schedule, and the rule that decides whether a regularizer removes filters beyond it."""
import pandas as pd

from pruninglib.experiments import vgg_mechanism as mech
from pruninglib.plots.schedule import removed_vs_sparsity


def frame(filters, accuracy):
    """A sweep's tidy frame: two schedule strengths, three seeds; ``filters[scale][variant]`` and ``accuracy``
    likewise are per-seed fractions."""
    rows = []
    for scale in filters:
        for variant in mech.REGULARIZERS:
            for seed in range(3):
                values = {"filters_removed": filters[scale][variant][seed], "weight_sparsity": 0.5 * scale,
                          "shrunk_val_accuracy": accuracy[scale][variant][seed]}
                rows += [{"point": f"{scale}-{seed}", "sparsity_scale": scale, "variant": variant, "seed": seed,
                          "metric": m, "value": v} for m, v in values.items()]
    return pd.DataFrame(rows)


SAME = [0.50, 0.51, 0.49]
FILTERS = {0.5: {"l2": [0.20, 0.22, 0.21], "l1": [0.01, 0.0, 0.02], "none": [0.0, 0.0, 0.0]},
           1.0: {"l2": [0.30, 0.40, 0.35], "l1": [0.05, 0.06, 0.04], "none": [0.05, 0.04, 0.06]}}
ACCURACY = {0.5: {"l2": SAME, "l1": SAME, "none": SAME},
            1.0: {"l2": [0.40, 0.41, 0.39], "l1": SAME, "none": SAME}}


def test_a_regularizer_counts_only_with_more_filters_at_equal_accuracy():
    rows = mech.runs(frame(FILTERS, ACCURACY))
    table = mech.beyond_schedule(rows).set_index(["sparsity_scale", "regularizer"])
    assert table.loc[(0.5, "l2"), "counts"] and table.loc[(0.5, "l2"), "d_filters"] == 21.0
    assert not table.loc[(1.0, "l2"), "counts"]  # more filters, but 10 points of accuracy lost
    assert table.loc[(1.0, "l2"), "more filters"] == "met"
    assert table.loc[(1.0, "l2"), "accuracy within 1 point"] == "missed"
    assert not table.loc[(0.5, "l1"), "counts"] and not table.loc[(1.0, "l1"), "counts"]  # interval crosses 0
    words = mech.answer(mech.beyond_schedule(rows))
    assert "**L2 removes filters beyond the schedule** at sparsity_scale 0.5" in words
    assert "At sparsity_scale 1 L2 removes more filters than no regularizer, but loses more than 1 point" in words
    assert "At sparsity_scale 1 the filters that die with L1 (5.0%)" in words
    assert "there the schedule, not the regularizer, removes them" in words


def test_cells_give_mean_and_interval_per_regularizer_and_strength():
    cells = mech.cells(mech.runs(frame(FILTERS, ACCURACY)))
    assert list(cells["regularizer"]) == ["l2", "l2", "l1", "l1", "none", "none"]
    l2 = cells[(cells["regularizer"] == "l2") & (cells["sparsity_scale"] == 1.0)].iloc[0]
    assert l2["n"] == 3 and abs(l2["filters_removed"] - 35.0) < 1e-9
    assert l2["filters_removed_low"] < 35.0 < l2["filters_removed_high"]
    assert len(removed_vs_sparsity(cells).axes) == 2


def test_a_sweep_without_l1_is_read_for_l2_alone():
    tidy = frame(FILTERS, ACCURACY)
    rows = mech.runs(tidy[tidy["variant"] != "l1"])
    table = mech.beyond_schedule(rows)
    assert list(table["regularizer"]) == ["l2", "l2"] and table["counts"].tolist() == [True, False]
    assert "L1" not in mech.answer(table)
