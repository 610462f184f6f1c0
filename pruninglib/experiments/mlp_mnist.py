"""Chapter "MLP on MNIST": dense baseline vs stochastic weight pruning with L2, L1 or no regularizer.

One run per (variant, seed). Every pruned run is physically shrunk and the shrunk net is checked against the
masked one. Writes ``results.json``, ``dynamics.csv.gz``, ``summary.csv`` and the shrunk models into
``cfg.out_dir``; completed runs are checkpointed, so re-running an interrupted command resumes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from pruninglib._io import write_json
from pruninglib.config import MLPMnistConfig
from pruninglib.data import Dataset, load_mnist, pick_device
from pruninglib.experiments.common import (RunRecord, checkpoint_dir, latencies, model_metrics, out_path, ramped,
                                           seeded, shrink_and_prove, stochastic_pruner, timer, write_tables)
from pruninglib.experiments.common import mean_std as _mean_std
from pruninglib.models import MLP, save_model
from pruninglib.pruning import node_summary
from pruninglib.regularizers import penalty
from pruninglib.tracking import DynamicsTracker, to_frame
from pruninglib.training import FitState, fit, make_optimizer

INPUT_SHAPE = (1, 28, 28)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    "quick": {"profile": "quick", "seeds": [0], "epochs": 8, "train_subset": 0},
    "paper": {"profile": "paper", "seeds": [0, 1, 2], "epochs": 20, "train_subset": 0},
}


@dataclass
class MLPResult:
    """What the notebook shows: the JSON record, a row per run, the tidy dynamics, and the models."""

    results: dict[str, Any]
    summary: pd.DataFrame
    dynamics: pd.DataFrame
    models: dict[tuple[str, int], nn.Module]
    shrunk: dict[tuple[str, int], nn.Module]


def method_penalty(cfg: MLPMnistConfig, variant: str) -> Callable[[nn.Module, FitState], torch.Tensor]:
    """The per-step penalty of ``variant`` on the prunable weights: 'dense' L2 ``dense_weight_decay``; a
    stochastic variant ('l2', 'l1', 'none') its regularizer, weakened after ``ramp_end`` (:func:`ramped`)."""
    if variant == "dense":
        return lambda m, st: penalty("l2", m.prunable().values(), cfg.dense_weight_decay)  # type: ignore[operator]
    coefficient = ramped(cfg, {"l2": cfg.lambda_l2, "l1": cfg.lambda_l1, "none": 0.0}[variant])
    return lambda m, st: penalty(variant, m.prunable().values(), coefficient(st))  # type: ignore[operator]


def _train(cfg: MLPMnistConfig, data: Dataset, variant: str, seed: int, device: torch.device,
           checkpoint: str, progress: bool) -> tuple[nn.Module, list[dict[str, Any]], int | None]:
    """Train one run. ``variant`` 'dense' = L2 with ``dense_weight_decay`` and no pruning.

    Returns the model, its tidy dynamics rows and the epoch its checkpoint was resumed at (None: fresh start).
    """
    with seeded(seed):
        model = MLP(cfg.widths).to(device)
    tracker = DynamicsTracker({"train": data.train, "val": data.val, "test": data.test},
                              {"variant": variant, "seed": seed})
    callbacks: list[Any] = [tracker]
    if variant != "dense":
        callbacks.insert(0, stochastic_pruner(cfg, model, seed))
    state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                generator=torch.Generator().manual_seed(seed), penalty=method_penalty(cfg, variant),
                callbacks=callbacks, checkpoint=checkpoint, desc=f"{variant} seed {seed}", progress=progress)
    return model, tracker.rows, state.resumed_from_epoch


def run(cfg: MLPMnistConfig, progress: bool = True) -> MLPResult:
    """Run the chapter's experiment (see module docstring)."""
    clock = timer()
    device = pick_device(cfg.device)
    data = load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset, device=device)
    record = RunRecord("mlp_mnist", cfg.profile, cfg.to_dict(), list(cfg.seeds), device, data.source)
    ckpt_dir = checkpoint_dir(cfg)
    runs = [(v, s) for s in cfg.seeds for v in ("dense", *cfg.variants)]
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    models: dict[tuple[str, int], nn.Module] = {}
    shrunk: dict[tuple[str, int], nn.Module] = {}
    resumed: list[dict[str, Any]] = []  # runs that continued from a checkpoint of an interrupted command
    for variant, seed in tqdm(runs, desc="runs", disable=not progress):
        model, run_rows, from_epoch = _train(cfg, data, variant, seed, device,
                                             str(ckpt_dir / f"{variant}-seed{seed}.pt"), progress)
        if from_epoch is not None:
            resumed.append({"variant": variant, "seed": seed, "from_epoch": from_epoch, "epochs": cfg.epochs})
        rows += run_rows
        models[(variant, seed)] = model
        if variant == "dense":
            report = {"masked": model_metrics(model, data.test, INPUT_SHAPE), "nodes": node_summary(model)}
            report.update(shrunk=report["masked"], max_abs_diff=0.0, max_abs_diff_float32=0.0, max_abs_logit=0.0)
        else:
            shrunk[(variant, seed)], report = shrink_and_prove(model, data, INPUT_SHAPE)
        m, s = report["masked"], report["shrunk"]
        summary.append({
            "variant": variant, "seed": seed, "val_accuracy": next(
                r["value"] for r in reversed(run_rows) if r["split"] == "val" and r["metric"] == "accuracy"),
            "test_accuracy": m["accuracy"], "shrunk_test_accuracy": s["accuracy"],
            "weight_sparsity": 1.0 - m["nonzero_params"] / m["params"],
            "nodes_removed": report["nodes"]["all hidden"]["fraction_dead"],
            **{f"nodes_removed[{k}]": v["fraction_dead"] for k, v in report["nodes"].items() if k != "all hidden"},
            "params": m["params"], "nonzero_params": m["nonzero_params"], "flops": m["flops"],
            "shrunk_params": s["params"], "shrunk_nonzero_params": s["nonzero_params"], "shrunk_flops": s["flops"], "max_abs_diff": report["max_abs_diff"],
            "max_abs_diff_float32": report["max_abs_diff_float32"], "max_abs_logit": report["max_abs_logit"]})
    table = pd.DataFrame(summary)
    dynamics = to_frame(rows)

    # Persist: models of the chosen variant, tidy tables, then results.json last (its presence = run complete).
    model_paths = [save_model(shrunk[(cfg.chosen, s)], str(out_path(cfg.out_dir, "models",
                                                                    f"shrunk_{cfg.chosen}_seed{s}.pt")))
                   for s in cfg.seeds]
    files = write_tables(cfg.out_dir, {"dynamics.csv.gz": dynamics, "summary.csv": table})
    lat = latencies({"dense": models[("dense", cfg.seeds[0])], "shrunk": shrunk[(cfg.chosen, cfg.seeds[0])]},
                    INPUT_SHAPE, cfg.latency_batches)
    results = {**record.to_dict(clock()), "runs": table.to_dict("records"), **_headline(cfg, table), "latency_ms": lat,
               "latency_note": f"median of 30 forward passes, dense seed {cfg.seeds[0]} vs shrunk "
                               f"{cfg.chosen} seed {cfg.seeds[0]}, batch sizes {list(cfg.latency_batches)}",
               "resumed_runs": resumed, "shrunk_model_path": model_paths[0], "shrunk_model_paths": model_paths,
               "files": files}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return MLPResult(results, table, dynamics, models, shrunk)


def _headline(cfg: MLPMnistConfig, table: pd.DataFrame) -> dict[str, Any]:
    """Dense, pruned and shrunk metrics (mean, std over seeds) and the chapter's targets, met or not."""
    by = {v: g for v, g in table.groupby("variant")}
    dense, chosen = by["dense"], by[cfg.chosen]
    layers = [c for c in table.columns if c.startswith("nodes_removed[")]

    def block(g: pd.DataFrame, acc: str, params: str, flops: str) -> dict[str, Any]:
        return {"metric": "test_accuracy", "value": _mean_std(g[acc]), "params": _mean_std(g[params]),
                "flops": _mean_std(g[flops])}

    dense_acc, shrunk_acc = dense["test_accuracy"].mean(), chosen["shrunk_test_accuracy"].mean()
    removed = chosen["nodes_removed"].mean()
    return {
        "dense": block(dense, "test_accuracy", "params", "flops"),
        "pruned": {v: {**block(by[v], "test_accuracy", "params", "flops"),
                       "nonzero_params": _mean_std(by[v]["nonzero_params"]),
                       "weight_sparsity": _mean_std(by[v]["weight_sparsity"]),
                       "nodes_removed": _mean_std(by[v]["nodes_removed"])} for v in cfg.variants},
        "shrunk": {"variant": cfg.chosen, **block(chosen, "shrunk_test_accuracy", "shrunk_params", "shrunk_flops"),
                   "max_abs_diff_vs_masked": float(chosen["max_abs_diff"].max()),
                   "max_abs_diff_vs_masked_float32": float(chosen["max_abs_diff_float32"].max()),
                   "max_abs_diff_note": "largest |masked - shrunk| over all test logits, nets evaluated in float64 "
                                        "(and, for the float32 value, in float32)"},
        "nodes_removed": {"variant": cfg.chosen, "overall": _mean_std(chosen["nodes_removed"]),
                          "per_layer": {c[len("nodes_removed["):-1]: _mean_std(chosen[c]) for c in layers}},
        "weight_sparsity": {"variant": cfg.chosen, **_mean_std(chosen["weight_sparsity"])},
        "targets": [
            {"name": "hidden nodes removed (%)", "value": 100 * removed, "target": ">= 50",
             "met": bool(removed >= 0.5)},
            {"name": "dense test accuracy (%)", "value": 100 * dense_acc, "target": ">= 98.0",
             "met": bool(dense_acc >= 0.98)},
            {"name": "shrunk minus dense test accuracy (points)", "value": 100 * (shrunk_acc - dense_acc),
             "target": ">= -0.3", "met": bool(shrunk_acc - dense_acc >= -0.003)},
        ],
    }


def surgery_table(result: MLPResult) -> pd.DataFrame:
    """Dense vs masked vs shrunk net of the first seed: parameters, FLOPs, latency and test accuracy."""
    r, t = result.results, result.summary
    chosen, seed = r["shrunk"]["variant"], r["seeds"][0]
    dense = t[(t["variant"] == "dense") & (t["seed"] == seed)].iloc[0]
    pruned = t[(t["variant"] == chosen) & (t["seed"] == seed)].iloc[0]
    lat = r["latency_ms"]
    rows = {
        "dense": (dense["params"], dense["nonzero_params"], dense["flops"], lat["dense"], dense["test_accuracy"]),
        f"{chosen}, masked": (pruned["params"], pruned["nonzero_params"], pruned["flops"], lat["dense"],
                              pruned["test_accuracy"]),
        f"{chosen}, shrunk": (pruned["shrunk_params"], pruned["shrunk_nonzero_params"], pruned["shrunk_flops"],
                              lat["shrunk"], pruned["shrunk_test_accuracy"]),
    }
    table = pd.DataFrame([{"net": name, "parameters": int(p), "non-zero parameters": int(nz),
                           "FLOPs per image": int(f),
                           **{f"latency ms, {k.replace('_', ' ')}": v for k, v in la.items()},
                           "test accuracy %": round(100 * a, 2)} for name, (p, nz, f, la, a) in rows.items()])
    return table.set_index("net")


def findings(result: MLPResult) -> str:
    """The run's main observations as Markdown sentences, computed from its numbers (true at every profile)."""
    t, r = result.summary, result.results
    g = t.groupby("variant")
    m, sd = g.mean(numeric_only=True), g.std(ddof=1, numeric_only=True).fillna(0.0)
    pruned = [v for v in ("l2", "l1", "none") if v in m.index]

    def pct(v: str, col: str) -> str:
        return f"{100 * m.loc[v, col]:.1f} ± {100 * sd.loc[v, col]:.1f}%"

    lines = [f"With the same weight sparsity ({100 * m.loc[pruned[0], 'weight_sparsity']:.1f}% of all weights zero), "
             "the fraction of hidden nodes that died was " +
             ", ".join(f"**{pct(v, 'nodes_removed')}** with {'no regularizer' if v == 'none' else v.upper()}"
                       for v in pruned) + f" (mean ± std over {len(r['seeds'])} seed(s))."]
    if "none" in m.index and len(pruned) > 1:
        best = max((v for v in pruned if v != "none"), key=lambda v: m.loc[v, "nodes_removed"])
        ratio = m.loc[best, "nodes_removed"] / max(m.loc["none", "nodes_removed"], 1e-9)
        lines.append(f"{best.upper()} removed {ratio:.1f} times as many nodes as the unregularized ablation.")
    dense = m.loc["dense", "test_accuracy"]
    lines.append("Test accuracy of the shrunk nets against the dense baseline "
                 f"({100 * dense:.2f}%): " + ", ".join(
                     f"{v}: {100 * m.loc[v, 'shrunk_test_accuracy']:.2f}% "
                     f"({100 * (m.loc[v, 'shrunk_test_accuracy'] - dense):+.2f} points)" for v in pruned) + ".")
    return " ".join(lines)
