"""Tables, targets and example panels of the U-Net / DSB 2018 chapter, computed from a run's outputs."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pruninglib.config import UNetDSBConfig
from pruninglib.experiments.targets import MET, MISSED, Target, paired, per_seed
from pruninglib.metrics.instances import predict_probs, segmentation_scores

COLUMNS = {"shrunk_ap": "mean AP (DSB)", "shrunk_dice": "foreground Dice", "channels_removed": "channels removed",
           "weight_sparsity": "weight sparsity", "bn_scale_below_1e-3": "channels with |gamma| < 1e-3",
           "shrunk_params": "parameters after surgery", "shrunk_flops": "FLOPs after surgery (one image)",
           "train_s": "train time (s)"}


def targets(cfg: UNetDSBConfig, table: pd.DataFrame) -> list[Target]:
    """The paper's U-Net claim on per-seed values of the chosen variant's shrunk net: at least 60% of the channels
    removed, and mean AP and foreground Dice each at most 0.02 below the dense net of the same seed."""
    def drop(col: str) -> tuple[float, ...]:
        return paired(table, "dense", col, cfg.chosen, col)

    return [Target(f"channels removed ({cfg.chosen})", tuple(per_seed(table, cfg.chosen, "channels_removed")), 0.6,
                   ">=",
                   metric=f"channels_removed ({cfg.chosen})"),
            Target("mean AP drop vs dense", drop("shrunk_ap"), 0.02, "<=",
                   metric=f"shrunk_ap (dense) - shrunk_ap ({cfg.chosen}), same seed"),
            Target("foreground Dice drop vs dense", drop("shrunk_dice"), 0.02, "<=",
                   metric=f"shrunk_dice (dense) - shrunk_dice ({cfg.chosen}), same seed")]


def metrics_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per variant (runs' order), mean over seeds of the shrunk nets' test metrics and sizes."""
    t = summary.groupby("variant", sort=False)[list(COLUMNS)].mean().rename(columns=COLUMNS)
    for c in ("parameters after surgery", "FLOPs after surgery (one image)"):
        t[c] = t[c].round().astype(int)
    return t.round(3)


def findings(results: dict[str, Any]) -> str:
    """The headline of a results.json record in words, with the numbers of this run and the targets' verdict."""
    h, verdicts = results["headline"], {t["verdict"] for t in results["targets"]}
    if verdicts == {MET}:
        verdict = "**The target is met.**"
    elif MISSED in verdicts:
        verdict = "**The target is not met** at this profile (see the targets table for which part)."
    else:
        verdict = "**The target is met on the mean only**: an interval over seeds crosses its bound (see the table)."
    lat = results["latency_ms"]
    speed = ", ".join(f"{lat['dense'][b] / lat['shrunk'][b]:.2f}x at {b.replace('_', ' ')}" for b in lat["dense"])
    return (f"The chosen variant ({h['chosen']}) removed **{100 * h['channels_removed']:.1f}%** of the channels. "
            f"Its shrunk network scores a mean AP of {h['chosen_ap']:.3f} and a foreground Dice of "
            f"{h['chosen_dice']:.3f} on the test images, against {h['dense_ap']:.3f} and {h['dense_dice']:.3f} for "
            f"the dense network (drops {h['ap_drop']:+.3f} and {h['dice_drop']:+.3f}). It needs "
            f"{h['flops_ratio']:.2f}x fewer FLOPs; measured latency speed-up on the run card's hardware: {speed}. "
            f"{verdict}")


def example_panels(result: Any, variant: str, count: int) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                                    list[list[str]]]:
    """The first ``count`` test images (by id) with the ground truth, the dense net's and ``variant``'s shrunk
    net's instances; titles carry each panel's nuclei count and AP."""
    ids = result.data.splits["test"][:count]
    images = result.data.images
    idx = images.index(ids).to(images.x.device)
    x, labels = images.x[idx], images.labels[idx].cpu().numpy()
    seed = result.summary["seed"].iloc[0]
    panels = {"ground truth": labels}
    titles = [[f"{int(lab.max())} nuclei"] for lab in labels]
    for name, net in (("dense", result.shrunk[("dense", seed)]), (f"shrunk {variant}", result.shrunk[(variant, seed)])):
        s = segmentation_scores(predict_probs(net, x), labels)
        panels[name] = s["instances"]
        for t, n, a in zip(titles, s["n_pred"], s["ap"]):
            t.append(f"{int(n)} found, AP {a:.2f}")
    return x[:, 0].cpu().numpy(), panels, titles
