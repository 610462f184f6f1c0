"""Chapter "Guided regularization" (OUR RECONSTRUCTION of Sandu & Rafid) on the MLP/MNIST harness.

Variants: for every phi in ``cfg.phis`` ('l1', 'l2sq', 'group') a guided run (coefficients increasing with the
unit index) and an unguided run (all coefficients 1), plus a run without penalty. After training, the fan-in norm
of every hidden unit is recorded by index, and for every fraction in ``cfg.keep_fractions`` the units with the
smallest fan-in norms of each hidden layer are removed by surgery (a removed unit's output is replaced by the
constant relu(bias), exact only for a unit whose fan-in is zero) and the smaller net is tested.
Writes ``results.json``, ``norms.csv``, ``kept.csv``, ``summary.csv`` and the chosen shrunk models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from pruninglib._io import write_json
from pruninglib.config import GuidedMLPConfig
from pruninglib.data import Dataset, load_mnist, pick_device
from pruninglib.experiments.common import (RunRecord, checkpoint_dir, latencies, mean_std, model_metrics, out_path,
                                           seeded, timer, write_tables)
from pruninglib.methods import make_penalty
from pruninglib.models import MLP, save_model
from pruninglib.pruning import fan_in_norms
from pruninglib.surgery import shrink
from pruninglib.training import fit, make_optimizer

INPUT_SHAPE = (1, 28, 28)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},
    "quick": {"profile": "quick", "seeds": [0], "epochs": 2, "train_subset": 0, "val_size": 5000,
              "keep_fractions": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05]},
    "paper": {"profile": "paper", "seeds": [0, 1], "epochs": 4, "train_subset": 0, "val_size": 5000,
              "keep_fractions": [1.0, 0.75, 0.5, 0.3, 0.2, 0.1, 0.05]},
}


@dataclass
class GuidedResult:
    """What the notebook shows: the JSON record, final unit norms, accuracy vs units kept, and the models."""

    results: dict[str, Any]
    norms: pd.DataFrame  # variant, phi, guided, seed, layer, node, norm
    kept: pd.DataFrame  # variant, phi, guided, seed, keep, units_kept, params, test_accuracy
    summary: pd.DataFrame
    models: dict[tuple[str, int], nn.Module]


def variants(cfg: GuidedMLPConfig) -> list[tuple[str, str, bool]]:
    """(variant label, phi, guided) for every run of a seed; 'none' has no penalty."""
    return [("none", "none", False)] + [(f"{p} {g}", p, g == "guided") for p in cfg.phis
                                        for g in ("guided", "unguided")]


def keep_largest(model: nn.Module, fraction: float) -> dict[str, torch.Tensor]:
    """Per hidden layer, True for the units to REMOVE: all but the ceil(fraction * n) largest fan-in norms."""
    out = {}
    for layer, norms in fan_in_norms(model).items():
        k = max(1, math.ceil(fraction * norms.numel()))
        drop = torch.ones_like(norms, dtype=torch.bool)
        drop[torch.topk(norms, k).indices] = False
        out[layer] = drop
    return out


def _train(cfg: GuidedMLPConfig, data: Dataset, phi: str, guided: bool, seed: int, checkpoint: str,
           desc: str, progress: bool) -> tuple[nn.Module, int | None]:
    with seeded(seed):
        model = MLP(cfg.widths).to(data.train.x.device)
    if phi == "none":
        penalty = make_penalty("none", model)
    else:
        lam = {"l1": cfg.lambda_l1, "l2sq": cfg.lambda_l2sq, "group": cfg.lambda_group}[phi]
        penalty = make_penalty("guided", model, lam=lam, phi=phi, guidance=cfg.guidance if guided else "uniform",
                               kappa=cfg.kappa)
    state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                generator=torch.Generator().manual_seed(seed), penalty=penalty, checkpoint=checkpoint, desc=desc,
                progress=progress)
    return model.eval(), state.resumed_from_epoch


def run(cfg: GuidedMLPConfig, progress: bool = True) -> GuidedResult:
    """Run the chapter's experiment (see module docstring)."""
    clock = timer()
    device = pick_device(cfg.device)
    data = load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset, device=device)
    record = RunRecord("guided_mlp", cfg.profile, cfg.to_dict(), list(cfg.seeds), device, data.source)
    ckpt_dir = checkpoint_dir(cfg)
    norm_rows: list[dict[str, Any]] = []
    kept_rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    models: dict[tuple[str, int], nn.Module] = {}
    resumed: list[dict[str, Any]] = []
    runs = [(v, s) for s in cfg.seeds for v in variants(cfg)]
    for (variant, phi, guided), seed in tqdm(runs, desc="runs", disable=not progress):
        label = {"variant": variant, "phi": phi, "guided": guided, "seed": seed}
        model, from_epoch = _train(cfg, data, phi, guided, seed, str(ckpt_dir / f"{variant.replace(' ', '-')}-"
                                                                               f"seed{seed}.pt"),
                                   f"{variant} seed {seed}", progress)
        if from_epoch is not None:
            resumed.append({"variant": variant, "seed": seed, "from_epoch": from_epoch, "epochs": cfg.epochs})
        models[(variant, seed)] = model
        for layer, norms in fan_in_norms(model).items():
            norm_rows += [{**label, "layer": layer, "node": j, "norm": v} for j, v in enumerate(norms.tolist())]
        for f in cfg.keep_fractions:
            small = shrink(model, keep_largest(model, f)).eval()
            m = model_metrics(small, data.test, INPUT_SHAPE)
            kept_rows.append({**label, "keep": f, "units_kept": sum(small.widths[1:-1]), "params": m["params"],
                              "flops": m["flops"], "test_accuracy": m["accuracy"]})
        m = model_metrics(model, data.test, INPUT_SHAPE)
        summary.append({**label, "test_accuracy": m["accuracy"], "params": m["params"],
                        "norm_index_spearman[hidden 1]": _spearman(model, "hidden 1")})
    norms, kept, table = pd.DataFrame(norm_rows), pd.DataFrame(kept_rows), pd.DataFrame(summary)

    s0, chosen = cfg.seeds[0], f"{cfg.chosen} guided"
    paths = [save_model(shrink(models[(chosen, s)], keep_largest(models[(chosen, s)], cfg.chosen_keep)),
                        str(out_path(cfg.out_dir, "models", f"shrunk_{cfg.chosen}_guided_seed{s}.pt")))
             for s in cfg.seeds]
    files = write_tables(cfg.out_dir, {"norms.csv": norms, "kept.csv": kept, "summary.csv": table})
    dense = models[(chosen, s0)]
    lat = latencies({"dense": dense, "shrunk": shrink(dense, keep_largest(dense, cfg.chosen_keep))}, INPUT_SHAPE,
                    cfg.latency_batches)
    results = {**record.to_dict(clock()), **_headline(cfg, kept, table), "latency_ms": lat,
               "latency_note": f"median of 30 forward passes, {chosen} seed {s0}: full vs {cfg.chosen_keep:.0%} of "
                               f"hidden units kept",
               "resumed_runs": resumed, "shrunk_model_path": paths[0], "shrunk_model_paths": paths,
               "files": files}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return GuidedResult(results, norms, kept, table, models)


def _spearman(model: nn.Module, layer: str) -> float:
    """Rank correlation of a layer's fan-in norms with the unit index (-1: norms fall strictly with the index)."""
    norms = fan_in_norms(model)[layer].cpu()
    return float(pd.Series(norms.numpy()).corr(pd.Series(range(len(norms))), method="spearman"))


def _headline(cfg: GuidedMLPConfig, kept: pd.DataFrame, table: pd.DataFrame) -> dict[str, Any]:
    """Per variant: full-net accuracy and accuracy at ``chosen_keep``; the chapter's targets (met or not): for
    every phi, guided norms fall with the index and guided beats unguided at ``chosen_keep``; the chosen guided
    net at ``chosen_keep`` stays within 1 point of the unpenalized full net."""
    keep = cfg.chosen_keep
    at = kept[kept["keep"] == keep]
    by = {v: g for v, g in table.groupby("variant")}
    at_by = {v: g for v, g in at.groupby("variant")}
    targets = []
    for phi in cfg.phis:
        g, u = f"{phi} guided", f"{phi} unguided"
        rho = float(by[g]["norm_index_spearman[hidden 1]"].mean())
        gap = float(at_by[g]["test_accuracy"].mean() - at_by[u]["test_accuracy"].mean())
        targets += [{"name": f"{g}: rank correlation of fan-in norm with unit index, hidden 1", "value": rho,
                     "target": "<= -0.5", "met": bool(rho <= -0.5)},
                    {"name": f"{g} minus {u}: test accuracy with {keep:.0%} of hidden units kept (points)",
                     "value": 100 * gap, "target": "> 0", "met": bool(gap > 0)}]
    chosen = f"{cfg.chosen} guided"
    drop = float(at_by[chosen]["test_accuracy"].mean() - by["none"]["test_accuracy"].mean())
    targets.append({"name": f"{chosen} with {keep:.0%} of hidden units kept minus the unpenalized full net "
                            f"(points)", "value": 100 * drop, "target": ">= -1.0", "met": bool(drop >= -0.01)})
    return {
        "variants": {v: {"test_accuracy": mean_std(by[v]["test_accuracy"]),
                         "test_accuracy_at_keep": mean_std(at_by[v]["test_accuracy"]),
                         "norm_index_spearman_hidden_1": mean_std(by[v]["norm_index_spearman[hidden 1]"])}
                     for v in by},
        "keep": keep,
        "shrunk": {"metric": "test_accuracy", "variant": chosen, "keep": keep,
                   "value": mean_std(at_by[chosen]["test_accuracy"]), "params": mean_std(at_by[chosen]["params"]),
                   "flops": mean_std(at_by[chosen]["flops"])},
        "targets": targets,
    }


def kept_table(kept: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy (%) by variant (rows) and fraction of hidden units kept (columns), mean over seeds."""
    table = (100 * kept.pivot_table(index="variant", columns="keep", values="test_accuracy", aggfunc="mean"))
    order = [v for v in kept["variant"].drop_duplicates()]
    table = table.loc[order, sorted(table.columns, reverse=True)].round(2)
    table.columns = [f"{100 * c:g}% kept" for c in table.columns]
    return table


def findings(result: GuidedResult) -> str:
    """The run's main observations as Markdown sentences, computed from its numbers (true at every profile)."""
    t, k, r = result.summary, result.kept, result.results
    rho = t.groupby("variant")["norm_index_spearman[hidden 1]"].mean()
    keep = r["keep"]
    at = k[k["keep"] == keep].groupby("variant")["test_accuracy"].mean()
    phis = [p for p in r["parameters"]["phis"]]
    lines = ["Rank correlation between a first-layer unit's fan-in norm and its index (−1: norms fall steadily "
             "with the index): " + ", ".join(f"{p} guided **{rho[f'{p} guided']:.2f}**, unguided "
                                             f"{rho[f'{p} unguided']:.2f}" for p in phis) + "."]
    lines.append(f"With {keep:.0%} of the hidden units kept, test accuracy was " + ", ".join(
        f"{p}: guided **{100 * at[f'{p} guided']:.2f}%** vs unguided {100 * at[f'{p} unguided']:.2f}%"
        for p in phis) + f"; the unpenalized net, cut the same way, {100 * at['none']:.2f}% "
        f"(uncut: {100 * t[t['variant'] == 'none']['test_accuracy'].mean():.2f}%).")
    return " ".join(lines)
