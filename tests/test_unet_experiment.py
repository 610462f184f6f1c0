"""Pieces of the U-Net chapter's experiment: level-wise sparsity targets, the counting bound on forced channel death,
the channel-norm baselines (mask, the cut at ramp end), the silenced-channel column, the flip augmentation, the run
order and its checks, the paired targets, and a tuning run that never reads the test images."""
import pandas as pd
import pytest
import torch

from pruninglib.config import ConfigError, UNetDSBConfig
from pruninglib.data.dsb2018 import DSBData, split_ids
from pruninglib.data.flips import FlipSplit
from pruninglib.experiments.targets import MEAN_ONLY, MET, MISSED
from pruninglib.experiments.unet_dsb2018 import (EXPERIMENT, NormCut, _row, forced_dead, norm_baseline_mask,
                                                 per_weight_sparsity, run)
from pruninglib.experiments.unet_summary import headline, targets
from pruninglib.models.unet import UNet
from pruninglib.pruning import dead_nodes
from pruninglib.surgery import shrink
from pruninglib.training import FitState


def test_per_weight_sparsity_follows_levels():
    model = UNet(depth=2, base=2)
    targets = dict(zip(model.prunable(), per_weight_sparsity(model, (0.1, 0.2, 0.3, 0.9))))
    assert targets["convs.enc_0_0.weight"] == 0.1 and targets["convs.up_1.weight"] == 0.2
    assert targets["convs.dec_0_1.weight"] == 0.1 and targets["convs.enc_2_1.weight"] == 0.3
    assert targets["head.weight"] == 0.9


def test_forced_dead_counts_filters_that_cannot_keep_a_weight():
    model = UNet(depth=1, base=4)  # 4 + 4 + 8 + 8 + 4 + 4 + 4 = 36 channels
    names = list(model.prunable())
    targets = [0.0] * len(names)
    assert forced_dead(model, targets) == 0.0
    # enc.1.0: 8 filters of 4 x 3 x 3 = 288 weights; 99% keeps ceil(2.88) = 3, so 5 filters must be empty
    targets[names.index("convs.enc_1_0.weight")] = 0.99
    assert forced_dead(model, targets) == pytest.approx(5 / 36)


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


def test_norm_cut_waits_for_ramp_end_then_cuts_once_and_keeps_the_cut():
    torch.manual_seed(0)
    model = UNet(depth=1, base=4)
    budget = {c.layer: 0 for c in model.couplings()} | {"enc.0.1": 2}
    cut = NormCut(model, budget, "l2", at=0.5)
    state = FitState(model, torch.optim.SGD(model.parameters(), lr=0.1), epoch=0, step=1, total_steps=4)
    cut.on_step_end(state)
    assert not cut.cut and not any(d.any() for d in dead_nodes(model).values())
    state.step = 2
    cut.on_step_end(state)
    assert cut.cut and int(dead_nodes(model)["enc.0.1"].sum()) == 2
    gone = dead_nodes(model)["enc.0.1"].clone()
    with torch.no_grad():
        model.convs["enc_0_1"].weight.add_(1.0)  # an optimizer step would revive them
    state.step = 3
    cut.on_step_end(state)
    assert torch.equal(dead_nodes(model)["enc.0.1"], gone)  # the same filters, not a new cut
    resumed = NormCut(model, budget, "l2", at=0.5)
    resumed.load_state_dict(cut.state_dict())
    assert resumed.cut and torch.equal(resumed.mask["convs.enc_0_1.weight"], cut.mask["convs.enc_0_1.weight"])


def test_silenced_column_counts_only_alive_channels():
    model = UNet(depth=1, base=4).eval()
    cfg = UNetDSBConfig(depth=1, base=4, target_sparsity=(0.5, 0.5, 0.5))
    with torch.no_grad():
        model.convs["enc_0_1"].weight[0] = 0.0  # dead, gamma 0 too: removed, not silenced
        model.norms["enc_0_1"].weight[0] = 0.0
        model.norms["enc_0_1"].weight[1] = 1e-4  # alive, silenced
    scores = {k: {"ap": torch.zeros(1).numpy(), "dice": torch.zeros(1).numpy()} for k in ("masked", "shrunk")}
    row = _row(cfg, model, shrink(model).eval(), scores, 0.0, "val")
    assert row["channels_removed"] == pytest.approx(1 / 36) and row["silenced_alive"] == pytest.approx(1 / 36)
    assert "val_ap" in row and "test_ap" not in row


def test_flips_move_images_and_labels_together():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(8, 1, 1, 1)
    split = FlipSplit(x, x[:, 0].long())
    for xb, yb in split.batches(2, torch.Generator().manual_seed(3)):
        assert torch.equal(xb[:, 0].long(), yb)
    assert any(not torch.equal(xb, x[:2]) for xb, _ in split.batches(2, torch.Generator().manual_seed(1)))


def test_runs_follow_the_variants_per_fold_and_the_baselines_come_after_what_they_need():
    cfg = UNetDSBConfig(seeds=(0, 1), variants=("dense", "l2", "norm"))
    assert [(k.variant, k.seed, k.fold) for k in EXPERIMENT.runs(cfg, None)] == [
        ("dense", 0, None), ("l2", 0, None), ("norm", 0, None), ("dense", 1, None), ("l2", 1, None),
        ("norm", 1, None)]
    folds = UNetDSBConfig(folds=2, variants=("l2",))
    assert [(k.variant, k.fold) for k in EXPERIMENT.runs(folds, None)] == [("l2", 0), ("l2", 1)]
    for bad, message in (({"variants": ("norm", "l2")}, "'norm' after the chosen variant"),
                         ({"variants": ("l2", "norm-oneshot")}, "'norm-oneshot' after 'dense'"),
                         ({"folds": 3, "seeds": (0, 1)}, "one seed when folds = 3"),
                         ({"folds": 3, "evaluate_test": False}, "true when folds >= 2"),
                         ({"folds": 1}, "0 \\(one split\\) or an integer from 2 to 10")):
        with pytest.raises(ConfigError, match=message):
            UNetDSBConfig(**bad)


def _table(unit: str, rows) -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, unit: s, "shrunk_test_ap": a, "shrunk_test_dice": d, "channels_removed": c,
                          "shrunk_flops": 10, "shrunk_params": 5, "max_abs_diff": 0.0} for v, s, a, d, c in rows])


def test_targets_pair_each_seed_with_the_dense_run_of_that_seed():
    cfg = UNetDSBConfig(seeds=(0, 1))
    table = _table("seed", [("l2", 0, 0.49, 0.79, 0.61), ("l2", 1, 0.595, 0.69, 0.62),  # dense in the other order
                            ("dense", 1, 0.60, 0.70, 0.0), ("dense", 0, 0.50, 0.80, 0.0)])
    removed, ap, dice = targets(cfg, table)
    assert removed.values == (0.61, 0.62) and removed.bound == 0.6 and removed.direction == ">="
    assert ap.values == pytest.approx((0.01, 0.005)) and dice.values == pytest.approx((0.01, 0.01))
    assert ap.verdict == MEAN_ONLY  # mean 0.0075, but two seeds leave a wide interval
    assert headline(cfg, table)["drops"]["ap"]["mean"] == pytest.approx(sum(ap.values) / 2)
    table.loc[1, "shrunk_test_ap"] = 0.55  # seed 1 now loses 0.05 AP against its own dense run
    assert targets(cfg, table)[1].verdict == MISSED


def test_targets_under_cross_validation_pair_by_fold():
    cfg = UNetDSBConfig(folds=3)
    table = _table("fold", [("dense", f, 0.5 + f / 10, 0.8, 0.0) for f in range(3)] +
                   [("l2", f, 0.495 + f / 10, 0.8, 0.7) for f in (2, 0, 1)])
    removed, ap, _ = targets(cfg, table)
    assert removed.verdict == MET and ap.values == pytest.approx((0.005, 0.005, 0.005)) and ap.verdict == MET
    assert "same fold" in ap.metric


def test_a_tuning_run_never_reads_the_test_images(dsb_root, tmp_path, monkeypatch):
    cfg = UNetDSBConfig(data_root=str(dsb_root), evaluate_test=False, variants=("dense", "l2"), epochs=1,
                        latency_batches=(1,), out_dir=str(tmp_path))
    index = DSBData.index

    def guarded(self, ids):
        test = set(split_ids(self.ids, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)["test"])
        assert not test & set(ids), "a tuning run read test images"
        return index(self, ids)

    monkeypatch.setattr(DSBData, "index", guarded)
    result = run(cfg, progress=False)
    assert set(result.tables["per_image"]["split"]) == {"val"} and "test_images" not in result.data.source["split"]
    assert "shrunk_val_ap" in result.summary and not any("test" in c for c in result.summary.columns)
    assert result.results["targets"] == [] and result.results["headline"]["split"] == "val"
