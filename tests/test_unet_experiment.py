"""Pieces of the U-Net chapter's experiment: level-wise sparsity targets, the channel-norm baseline's mask, the
flip augmentation (image and labels together) and the headline's target check."""
import pandas as pd
import torch

from pruninglib.config import UNetDSBConfig
from pruninglib.data.flips import FlipSplit
from pruninglib.experiments.unet_dsb2018 import headline, norm_baseline_mask, per_weight_sparsity
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


def test_headline_checks_all_three_targets():
    cfg = UNetDSBConfig()
    rows = [{"variant": "dense", "shrunk_ap": 0.50, "shrunk_dice": 0.80, "channels_removed": 0.0},
            {"variant": "l2", "shrunk_ap": 0.49, "shrunk_dice": 0.79, "channels_removed": 0.61}]
    table = pd.DataFrame([{**r, "seed": 0, "shrunk_flops": 10, "shrunk_params": 5, "max_abs_diff": 0.0} for r in rows])
    assert headline(cfg, table)["target_met"]
    table.loc[1, "shrunk_ap"] = 0.47
    h = headline(cfg, table)
    assert not h["target_met"] and abs(h["ap_drop"] - 0.03) < 1e-9
