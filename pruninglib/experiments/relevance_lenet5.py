"""Chapter "Relevance-weighted decay on LeNet-5": Bonetta et al.'s protocol on MNIST with a real validation split.

Per seed in ``cfg.seeds``: LeNet-5 trained with Adam and the relevance-weighted decay (two backward passes per
step); every ``eval_every`` steps the validation accuracy gates a crop of ``tau`` of the remaining weights. Per
seed in ``cfg.dense_seeds``: the same training without penalty and crops (our dense reference). Writes
``results.json``, ``crops.csv`` (one row per gate evaluation), ``summary.csv`` and the shrunk models into
``cfg.out_dir``; every run is checkpointed after each epoch, so an interrupted command resumes.
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
from pruninglib.config import RelevanceLeNetConfig
from pruninglib.data import Dataset, load_mnist, pick_device
from pruninglib.data.tensors import Split
from pruninglib.experiments.common import (RunRecord, checkpoint_dir, latencies, mean_std, model_metrics, out_path,
                                           seeded, shrink_and_prove, timer, write_tables)
from pruninglib.methods import make_penalty, make_pruner
from pruninglib.metrics import evaluate
from pruninglib.models import LeNet5, save_model
from pruninglib.training import fit, make_optimizer

INPUT_SHAPE = (1, 28, 28)
AUTHORS_DENSE = 0.9926  # the authors' dense LeNet-5 test accuracy on MNIST (120 epochs)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: 2,000 images, a low bound so that crops happen within seconds
    "quick": {"profile": "quick", "seeds": [0], "dense_seeds": [0], "epochs": 1, "train_subset": 0,
              "val_size": 5000, "test_size": 0, "bound": 0.98, "eval_every": 50},
    "paper": {"profile": "paper", "seeds": [0, 1, 2], "dense_seeds": [0], "epochs": 2, "train_subset": 0,
              "val_size": 5000, "test_size": 0, "bound": 0.98, "eval_every": 50},
}


@dataclass
class RelevanceResult:
    """What the notebook shows: the JSON record, the gate evaluations, a row per run, and the models."""

    results: dict[str, Any]
    crops: pd.DataFrame
    summary: pd.DataFrame
    models: dict[tuple[str, int], nn.Module]
    shrunk: dict[int, nn.Module]


def _train(cfg: RelevanceLeNetConfig, data: Dataset, variant: str, seed: int, device: torch.device,
           checkpoint: str, progress: bool) -> tuple[nn.Module, list[dict[str, Any]], int | None]:
    """One run ('relevance' or 'dense'); returns the model, its gate rows and the epoch it resumed at."""
    with seeded(seed):
        model = LeNet5().to(device)
    callbacks: list[Any] = []
    penalty = None
    if variant == "relevance":
        period = math.ceil(len(data.train) / cfg.batch_size)  # gamma decays over one epoch of steps
        penalty = make_penalty("relevance", model, gamma0=cfg.gamma0, alpha=cfg.alpha, period=period)
        callbacks = [make_pruner("gated_crop", model, gate=data.val, report={"test": data.test}, bound=cfg.bound,
                                 tau=cfg.tau, eval_every=cfg.eval_every, on_crop=penalty.reset), penalty]
    state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                generator=torch.Generator().manual_seed(seed), penalty=penalty, callbacks=callbacks,
                checkpoint=checkpoint, desc=f"{variant} seed {seed}", progress=progress, lr_schedule="constant")
    rows = [{"seed": seed, **r} for r in callbacks[0].rows] if callbacks else []
    return model, rows, state.resumed_from_epoch


def run(cfg: RelevanceLeNetConfig, progress: bool = True) -> RelevanceResult:
    """Run the chapter's experiment (see module docstring)."""
    clock = timer()
    device = pick_device(cfg.device)
    data = load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset, device=device)
    if cfg.test_size:
        data.test = Split(data.test.x[:cfg.test_size], data.test.y[:cfg.test_size])
        data.source["split"]["test_size"] = cfg.test_size  # type: ignore[index]
    record = RunRecord("relevance_lenet5", cfg.profile, cfg.to_dict(), list(cfg.seeds), device, data.source)
    ckpt_dir = checkpoint_dir(cfg)
    runs = [("dense", s) for s in cfg.dense_seeds] + [("relevance", s) for s in cfg.seeds]
    gate_rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    models: dict[tuple[str, int], nn.Module] = {}
    shrunk: dict[int, nn.Module] = {}
    resumed: list[dict[str, Any]] = []
    for variant, seed in tqdm(runs, desc="runs", disable=not progress):
        model, rows, from_epoch = _train(cfg, data, variant, seed, device, str(ckpt_dir / f"{variant}-seed{seed}.pt"),
                                         progress)
        if from_epoch is not None:
            resumed.append({"variant": variant, "seed": seed, "from_epoch": from_epoch, "epochs": cfg.epochs})
        gate_rows += rows
        models[(variant, seed)] = model
        m = model_metrics(model, data.test, INPUT_SHAPE)
        row = {"variant": variant, "seed": seed, "val_accuracy": evaluate(model, data.val)["accuracy"],
               "test_accuracy": m["accuracy"], "params": m["params"], "nonzero_params": m["nonzero_params"],
               **_sparsity(model), "crops": sum(r["cropped"] for r in rows)}
        if variant == "relevance":
            shrunk[seed], report = shrink_and_prove(model, data, INPUT_SHAPE)
            row.update(shrunk_test_accuracy=report["shrunk"]["accuracy"], shrunk_params=report["shrunk"]["params"],
                       shrunk_flops=report["shrunk"]["flops"], flops=m["flops"], max_abs_diff=report["max_abs_diff"],
                       nodes_removed=report["nodes"]["all hidden"]["fraction_dead"])
        summary.append(row)
    table = pd.DataFrame(summary)
    crops = pd.DataFrame(gate_rows)

    model_paths = [save_model(shrunk[s], str(out_path(cfg.out_dir, "models", f"shrunk_relevance_seed{s}.pt")))
                   for s in cfg.seeds]
    files = write_tables(cfg.out_dir, {"crops.csv": crops, "summary.csv": table})
    s0 = cfg.seeds[0]
    lat = latencies({"dense": models[("relevance", s0)], "shrunk": shrunk[s0]}, INPUT_SHAPE, cfg.latency_batches)
    results = {**record.to_dict(clock()), **_headline(cfg, table, crops), "latency_ms": lat,
               "latency_note": f"median of 30 forward passes, masked vs shrunk relevance net of seed {s0}",
               "resumed_runs": resumed, "shrunk_model_path": model_paths[0], "shrunk_model_paths": model_paths,
               "files": files}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return RelevanceResult(results, crops, table, models, shrunk)


def _sparsity(model: nn.Module) -> dict[str, float]:
    """Overall and per-layer weight sparsity of the prunable weights."""
    weights = model.prunable()  # type: ignore[operator]
    zero = {k: int((w == 0).sum()) for k, w in weights.items()}
    total = sum(w.numel() for w in weights.values())
    return {"weight_sparsity": sum(zero.values()) / total,
            **{f"sparsity[{k.removesuffix('.weight')}]": zero[k] / w.numel() for k, w in weights.items()}}


def after_each_crop(crops: pd.DataFrame) -> pd.DataFrame:
    """The nets the authors checkpoint: the evaluations that triggered a crop, i.e. the net after k earlier crops
    once it had recovered above the bound. One row per (seed, k) with sparsity, compression and accuracies."""
    if crops.empty:
        return pd.DataFrame(columns=["seed", "crops_before", "step", "sparsity", "compression", "val_accuracy",
                                     "test_accuracy"])
    c = crops[crops["cropped"]].copy()
    c["compression"] = 1.0 / (1.0 - c["sparsity"])
    return c[["seed", "crops_before", "step", "sparsity", "compression", "val_accuracy", "test_accuracy"]]


def _headline(cfg: RelevanceLeNetConfig, table: pd.DataFrame, crops: pd.DataFrame) -> dict[str, Any]:
    """Dense and cropped accuracies, sparsity, the formula check and the chapter's targets (met or not)."""
    rel = table[table["variant"] == "relevance"]
    dense = table[table["variant"] == "dense"]
    ck = after_each_crop(crops)
    formula_gap = float((ck["sparsity"] - (1 - (1 - cfg.tau) ** ck["crops_before"])).abs().max()) if len(ck) else 0.0
    last = ck.sort_values("step").groupby("seed").tail(1)
    targets = [
        {"name": "largest gap between the sparsity after k crops and 1-(1-tau)^k (points)", "value": 100 * formula_gap,
         "target": "<= 0.01", "met": bool(formula_gap <= 1e-4)},
        {"name": "final test accuracy of the cropped nets (%)", "value": 100 * float(rel["test_accuracy"].mean()),
         "target": ">= 98.0 (the bound B)", "met": bool(rel["test_accuracy"].mean() >= 0.98)},
    ]
    if len(dense):
        targets.append({"name": f"our dense test accuracy (%), authors {100 * AUTHORS_DENSE:.2f} after 120 epochs",
                        "value": 100 * float(dense["test_accuracy"].mean()), "target": ">= 99.0",
                        "met": bool(dense["test_accuracy"].mean() >= 0.99)})
    return {
        "dense": {"metric": "test_accuracy", "value": mean_std(dense["test_accuracy"]) if len(dense) else None,
                  "authors_value": AUTHORS_DENSE},
        "relevance": {"metric": "test_accuracy", "value": mean_std(rel["test_accuracy"]),
                      "weight_sparsity": mean_std(rel["weight_sparsity"]), "crops": mean_std(rel["crops"]),
                      "compression": mean_std(1.0 / (1.0 - rel["weight_sparsity"]))},
        "shrunk": {"metric": "test_accuracy", "value": mean_std(rel["shrunk_test_accuracy"]),
                   "params": mean_std(rel["shrunk_params"]), "flops": mean_std(rel["shrunk_flops"]),
                   "nodes_removed": mean_std(rel["nodes_removed"]),
                   "max_abs_diff_vs_masked": float(rel["max_abs_diff"].max())},
        "last_checkpoint": {"metric": "test_accuracy at the last crop", "value": mean_std(last["test_accuracy"]),
                            "weight_sparsity": mean_std(last["sparsity"])} if len(last) else None,
        "targets": targets,
    }


def crop_table(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of sparsity, compression and accuracies, by number of earlier crops."""
    g = checkpoints.groupby("crops_before")
    out = pd.DataFrame({
        "seeds": g.size(),
        "weight sparsity %": (100 * g["sparsity"].mean()).round(2),
        "compression x": g["compression"].mean().round(3),
        "val accuracy %": [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in
                           zip(g["val_accuracy"].mean(), g["val_accuracy"].std(ddof=1).fillna(0.0))],
        "test accuracy %": [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in
                            zip(g["test_accuracy"].mean(), g["test_accuracy"].std(ddof=1).fillna(0.0))],
    })
    out.index.name = "crops before"
    return out


def findings(result: RelevanceResult) -> str:
    """The run's main observations as Markdown sentences, computed from its numbers (true at every profile)."""
    r, t = result.results, result.summary
    rel = t[t["variant"] == "relevance"]
    ck = after_each_crop(result.crops)
    n = len(r["seeds"])
    spread = rel["crops"].std(ddof=1) if n > 1 else 0.0
    lines = [f"Over {n} seed(s), the gate opened **{rel['crops'].mean():.1f} ± {spread:.1f}** times per run out "
             f"of {len(result.crops) // max(n, 1)} evaluations, for a final weight sparsity of "
             f"**{100 * rel['weight_sparsity'].mean():.1f}%** (compression "
             f"{(1 / (1 - rel['weight_sparsity'])).mean():.2f}x) at a final test accuracy of "
             f"**{100 * rel['test_accuracy'].mean():.2f}%**."]
    if len(ck):
        first = ck[ck["crops_before"] == 0]["step"]
        lines.append(f"The first crop came after {first.mean():.0f} steps on average: the bound of "
                     f"{100 * r['parameters']['bound']:.1f}% must first be reached by the dense net.")
    dense = r["dense"]["value"]
    if dense:
        lines.append(f"Our dense LeNet-5 reached {100 * dense['mean']:.2f}% test accuracy after "
                     f"{r['parameters']['epochs']} epoch(s); the authors report {100 * AUTHORS_DENSE:.2f}% after 120.")
    return " ".join(lines)
