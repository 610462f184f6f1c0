"""Tables, targets and example panels of the U-Net / DSB 2018 chapter, computed from a run's outputs."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pruninglib.metrics.instances import predict_probs, segmentation_scores

COLUMNS = {"shrunk_ap": "mean AP (DSB)", "shrunk_dice": "foreground Dice", "channels_removed": "channels removed",
           "weight_sparsity": "weight sparsity", "bn_scale_below_1e-3": "channels with |gamma| < 1e-3", "shrunk_params": "parameters after surgery",
           "shrunk_flops": "FLOPs after surgery (one image)", "train_time_s": "train time (s)"}


def targets(headline: dict[str, Any]) -> list[dict[str, Any]]:
    """The chapter's three targets (paper profile) with the values obtained."""
    return [{"name": f"channels removed ({headline['chosen']})", "value": headline["channels_removed"],
             "target": ">= 0.60", "met": headline["channels_removed"] >= 0.6},
            {"name": "mean AP drop vs dense", "value": headline["ap_drop"], "target": "<= 0.02",
             "met": headline["ap_drop"] <= 0.02},
            {"name": "foreground Dice drop vs dense", "value": headline["dice_drop"], "target": "<= 0.02",
             "met": headline["dice_drop"] <= 0.02}]


def metrics_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per variant (runs' order), mean over seeds of the shrunk nets' test metrics and sizes."""
    t = summary.groupby("variant", sort=False)[list(COLUMNS)].mean().rename(columns=COLUMNS)
    for c in ("parameters after surgery", "FLOPs after surgery (one image)"):
        t[c] = t[c].round().astype(int)
    return t.round(3)


def findings(results: dict[str, Any]) -> str:
    """The headline in words, with the numbers of this run (and whether the target was met)."""
    h = results["headline"]
    verdict = ("**The target is met.**" if h["target_met"] else
               "**The target is not met** at this profile (see the table above for which part).")
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
    ids = result.splits["test"][:count]
    idx = result.data.index(ids).to(result.data.x.device)
    x, labels = result.data.x[idx], result.data.labels[idx].cpu().numpy()
    seed = result.summary["seed"].iloc[0]
    panels = {"ground truth": labels}
    titles = [[f"{int(lab.max())} nuclei"] for lab in labels]
    for name, net in (("dense", result.shrunk[("dense", seed)]), (f"shrunk {variant}", result.shrunk[(variant, seed)])):
        s = segmentation_scores(predict_probs(net, x), labels)
        panels[name] = s["instances"]
        for t, n, a in zip(titles, s["n_pred"], s["ap"]):
            t.append(f"{int(n)} found, AP {a:.2f}")
    return x[:, 0].cpu().numpy(), panels, titles
