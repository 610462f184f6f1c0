"""Pieces of the U-Net chapter's experiment: level-wise sparsity targets, the channel-norm baseline's mask, the
flip augmentation (image and labels together), the run order and the per-seed targets."""
import pandas as pd
import pytest
import torch

from pruninglib.config import UNetDSBConfig
from pruninglib.data.flips import FlipSplit
from pruninglib.experiments.targets import MEAN_ONLY, MISSED
from pruninglib.experiments.unet_dsb2018 import (EXPERIMENT, NORM, NORM_TUNED, headline, norm_baseline_mask,
                                                 per_weight_sparsity)
from pruninglib.experiments.unet_summary import targets
from pruninglib.models.unet import UNet
from pruninglib.pruning import dead_nodes
from pruninglib.surgery import shrink


def test_per_weight_sparsity_follows_levels():
    model = UNet(depth=2, base=2)
    targets = dict(zip(model.prunable(), per_weight_sparsity(model, (0.1, 0.2, 0.3, 0.9))))
    assert targets["convs.enc_0_0.weight"] == 0.1 and targets["convs.up_1.weight"] == 0.2
    assert targets["convs.dec_0_1.weight"] == 0.1 and targets["convs.enc_2_1.weight"] == 0.3
    assert targets["head.weight"] == 0.9


def test_norm_baseline_removes_the_smallest_filters_per_block():
    torch.manual_seed(0)
    model = UNet(depth=1, base=4).eval()
    with torch.no_grad():
        model.convs["enc_0_1"].weight[2] *= 1e-3  # the smallest filter of enc.0.1
    budget = {c.layer: 0 for c in model.couplings()} | {"enc.0.1": 1, "up.0": 4}
    mask = norm_baseline_mask(model, budget, "l2")
    mask.apply_(model)
    dead = dead_nodes(model)
    assert dead["enc.0.1"].tolist() == [False, False, True, False]
    assert int(dead["up.0"].sum()) == 3  # a block keeps at least one channel
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        assert float((model(x) - shrink(model).eval()(x)).abs().max()) <= 1e-4


def test_flips_move_images_and_labels_together():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(8, 1, 1, 1)
    split = FlipSplit(x, x[:, 0].long())
    for xb, yb in split.batches(2, torch.Generator().manual_seed(3)):
        assert torch.equal(xb[:, 0].long(), yb)
    assert any(not torch.equal(xb, x[:2]) for xb, _ in split.batches(2, torch.Generator().manual_seed(1)))


def test_baselines_run_after_every_trained_run_and_fine_tuning_is_optional():
    cfg = UNetDSBConfig(seeds=(0, 1), variants=("l2",))
    order = [(k.variant, k.seed) for k in EXPERIMENT.runs(cfg, None)]
    assert order == [("dense", 0), ("l2", 0), ("dense", 1), ("l2", 1), (NORM, 0), (NORM_TUNED, 0), (NORM, 1),
                     (NORM_TUNED, 1)]
    no_tuning = UNetDSBConfig(seeds=(0,), variants=("l2",), finetune_epochs=0)
    assert [k.variant for k in EXPERIMENT.runs(no_tuning, None)] == ["dense", "l2", NORM]


def test_targets_pair_each_seed_with_the_dense_run_of_that_seed():
    cfg = UNetDSBConfig(seeds=(0, 1))
    rows = [("l2", 0, 0.49, 0.79, 0.61), ("l2", 1, 0.595, 0.69, 0.62),  # dense rows in the other seed order
            ("dense", 1, 0.60, 0.70, 0.0), ("dense", 0, 0.50, 0.80, 0.0)]
    table = pd.DataFrame([{"variant": v, "seed": s, "shrunk_ap": a, "shrunk_dice": d, "channels_removed": c,
                           "shrunk_flops": 10, "shrunk_params": 5, "max_abs_diff": 0.0} for v, s, a, d, c in rows])
    removed, ap, dice = targets(cfg, table)
    assert removed.values == (0.61, 0.62) and removed.bound == 0.6 and removed.direction == ">="
    assert ap.values == pytest.approx((0.01, 0.005)) and dice.values == pytest.approx((0.01, 0.01))
    assert ap.verdict == MEAN_ONLY  # mean 0.0075, but two seeds leave a wide interval
    assert headline(cfg, table)["ap_drop"] == pytest.approx(sum(ap.values) / 2)
    table.loc[1, "shrunk_ap"] = 0.55  # seed 1 now loses 0.05 AP against its own dense run
    assert targets(cfg, table)[1].verdict == MISSED
