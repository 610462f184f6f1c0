"""The mechanism study's selection rule and its read-back: the rule on hand-made curves, and the MLP chapter's
profiles against the rule applied to the committed records of the paper study."""
from __future__ import annotations

import pandas as pd
from pruninglib.config.mechanism import MechanismConfig
from pruninglib.experiments import mlp_mechanism, mlp_mnist
from pruninglib.experiments.mlp_mechanism import falls_at, select, with_accuracy_drop


def curve(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """(lambda, nodes removed %, mean accuracy drop, upper end of its interval) per row."""
    return pd.DataFrame(rows, columns=["lambda", "nodes_removed", "accuracy_drop", "accuracy_drop_high"])


def test_select_takes_the_most_nodes_within_the_tolerance_never_lambda_zero():
    c = curve([(0.0, 90.0, 0.0, 0.1), (1e-3, 40.0, -0.29, -0.2), (5e-3, 60.0, -0.31, -0.2), (1e-2, 40.0, 0.1, 0.3)])
    assert select(c, 0.3) == 1e-3  # 5e-3 misses by 0.01; the tie at 40% goes to the smaller lambda
    assert select(c, 0.35) == 5e-3
    assert select(curve([(0.0, 10.0, 0.0, 0.1), (1e-3, 20.0, -1.0, -0.5)]), 0.3) is None


def test_accuracy_falls_where_the_whole_interval_is_below_the_tolerance_from_there_on():
    c = curve([(0.0, 0.0, -0.6, -0.4), (1e-3, 0.0, -0.5, -0.29), (5e-3, 0.0, -0.6, -0.31)])
    assert falls_at(c, 0.3) == 5e-3  # lambda 0 (the schedule alone) is not a lambda at which L2 makes it fall
    assert falls_at(c, 0.7) is None
    # a weak lambda that loses as much as the schedule alone, then a recovery: accuracy falls from 1e-2 on
    dip = curve([(3e-5, 0.0, -0.4, -0.31), (1e-4, 0.0, -0.2, -0.1), (1e-2, 0.0, -0.7, -0.4), (2e-2, 0.0, -1.0, -0.9)])
    assert falls_at(dip, 0.3) == 1e-2
    assert falls_at(curve([(1e-3, 0.0, -0.5, -0.4), (1e-2, 0.0, 0.0, 0.1)]), 0.3) is None  # not at the largest


def test_accuracy_drop_is_paired_with_the_dense_net_of_the_same_seed():
    rows = pd.DataFrame({"variant": ["dense", "dense", "l2", "l2"], "seed": [0, 1, 0, 1],
                         "val_accuracy": [0.98, 0.97, 0.0, 0.0], "shrunk_val_accuracy": [0.98, 0.97, 0.975, 0.97]})
    assert with_accuracy_drop(rows)["accuracy_drop"].round(6).tolist() == [0.0, 0.0, -0.5, 0.0]


def test_the_mlp_chapter_uses_the_lambdas_the_study_selects_from_its_committed_records(tmp_path):
    cfg = MechanismConfig.from_mapping({**MechanismConfig().to_dict(), **mlp_mechanism.PROFILES["paper"],
                                       "out_dir": str(tmp_path)})
    head = mlp_mechanism.run(cfg, progress=False).results["headline"]["selected_lambda"]
    for profile in ("quick", "medium", "paper"):
        assert mlp_mnist.PROFILES[profile]["lambda_l2"] == head["l2"], profile
    assert mlp_mnist.PROFILES["paper"]["lambda_l1"] == head["l1"]
