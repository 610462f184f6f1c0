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

from pruninglib._io import atomic_path, write_json
from pruninglib.config import GuidedMLPConfig
from pruninglib.data import Dataset, load_mnist, pick_device
from pruninglib.experiments.common import RunRecord, latencies, mean_std, model_metrics, out_path, seeded, timer
from pruninglib.methods import make_penalty
from pruninglib.models import MLP, save_model
from pruninglib.pruning import fan_in_norms
from pruninglib.surgery import shrink
from pruninglib.training import fit, make_optimizer

INPUT_SHAPE = (1, 28, 28)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},
    "quick": {"profile": "quick", "seeds": [0], "epochs": 4, "train_subset": 0,
              "keep_fractions": [1.0, 0.75, 0.5, 0.3, 0.2, 0.1, 0.05]},
    "paper": {"profile": "paper", "seeds": [0, 1], "epochs": 8, "train_subset": 0,
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
    ckpt_dir = out_path(cfg.out_dir, "checkpoints", cfg.digest(), "-").parent
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
    for name, frame in (("norms.csv", norms), ("kept.csv", kept), ("summary.csv", table)):
        with atomic_path(out_path(cfg.out_dir, name)) as tmp:
            frame.to_csv(tmp, index=False)
    dense = models[(chosen, s0)]
    lat = latencies({"dense": dense, "shrunk": shrink(dense, keep_largest(dense, cfg.chosen_keep))}, INPUT_SHAPE,
                    cfg.latency_batches)
    results = {**record.to_dict(clock()), **_headline(cfg, kept, table), "latency_ms": lat,
               "latency_note": f"median of 30 forward passes, {chosen} seed {s0}: full vs {cfg.chosen_keep:.0%} of "
                               f"hidden units kept",
               "resumed_runs": resumed, "shrunk_model_path": paths[0], "shrunk_model_paths": paths,
               "files": {n: str(out_path(cfg.out_dir, f"{n}.csv")) for n in ("norms", "kept", "summary")}}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return GuidedResult(results, norms, kept, table, models)


def _spearman(model: nn.Module, layer: str) -> float:
    """Rank correlation of a layer's fan-in norms with the unit index (-1: norms fall strictly with the index)."""
    norms = fan_in_norms(model)[layer].cpu()
    return float(pd.Series(norms.numpy()).corr(pd.Series(range(len(norms))), method="spearman"))


def _headline(cfg: GuidedMLPConfig, kept: pd.DataFrame, table: pd.DataFrame) -> dict[str, Any]:
    """Per variant: full-net accuracy and accuracy at ``chosen_keep``; the chapter's targets (met or not)."""
    at = kept[kept["keep"] == cfg.chosen_keep] if cfg.chosen_keep in cfg.keep_fractions else None
    if at is None:  # measure at the nearest listed fraction
        nearest = min(cfg.keep_fractions, key=lambda f: abs(f - cfg.chosen_keep))
        at = kept[kept["keep"] == nearest]
    by = {v: g for v, g in table.groupby("variant")}
    at_by = {v: g for v, g in at.groupby("variant")}
    g, u = f"{cfg.chosen} guided", f"{cfg.chosen} unguided"
    gap = float(at_by[g]["test_accuracy"].mean() - at_by[u]["test_accuracy"].mean())
    rho = float(by[g]["norm_index_spearman[hidden 1]"].mean())
    drop = float(at_by[g]["test_accuracy"].mean() - by["none"]["test_accuracy"].mean())
    keep = float(at["keep"].iloc[0])
    return {
        "variants": {v: {"test_accuracy": mean_std(by[v]["test_accuracy"]),
                         "test_accuracy_at_keep": mean_std(at_by[v]["test_accuracy"]),
                         "norm_index_spearman_hidden_1": mean_std(by[v]["norm_index_spearman[hidden 1]"])}
                     for v in by},
        "keep": keep,
        "shrunk": {"metric": "test_accuracy", "variant": g, "keep": keep, "value": mean_std(at_by[g]["test_accuracy"]),
                   "params": mean_std(at_by[g]["params"]), "flops": mean_std(at_by[g]["flops"])},
        "targets": [
            {"name": f"{g}: rank correlation of fan-in norm with unit index, hidden 1", "value": rho,
             "target": "<= -0.5", "met": bool(rho <= -0.5)},
            {"name": f"{g} minus {u}: test accuracy with {keep:.0%} of hidden units kept (points)",
             "value": 100 * gap, "target": "> 0", "met": bool(gap > 0)},
            {"name": f"{g} with {keep:.0%} of hidden units kept minus the unpenalized full net (points)",
             "value": 100 * drop, "target": ">= -1.0", "met": bool(drop >= -0.01)},
        ],
    }
