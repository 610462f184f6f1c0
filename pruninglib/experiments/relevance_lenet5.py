"""Chapter "Relevance-weighted decay on LeNet-5": Bonetta et al.'s protocol on MNIST with a real validation split.

Runs: ('dense', s) for s in ``cfg.dense_seeds`` (the same training without penalty and crops: our dense
reference), then ('relevance', s) for s in ``cfg.seeds``: LeNet-5 trained with Adam and the relevance-weighted
decay (two backward passes per step); every ``eval_every`` steps the validation accuracy gates a crop of ``tau`` of
the remaining weights. Each relevance net is shrunk and proved. Through the shared runner it writes
``results.json``, ``crops.csv`` (one row per gate evaluation), ``summary.csv`` and the shrunk models into
``cfg.out_dir``; every run is checkpointed after each epoch, so an interrupted command resumes.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch
from torch import nn

from pruninglib.config import RelevanceLeNetConfig
from pruninglib.data import Dataset, load_mnist
from pruninglib.data.tensors import Split
from pruninglib.experiments.common import mean_std, model_metrics, seeded, shrink_and_prove
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.experiments.targets import Target
from pruninglib.methods import make_penalty, make_pruner
from pruninglib.metrics import evaluate
from pruninglib.models import LeNet5
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


class RelevanceExperiment(Experiment):
    """Dense reference runs, then one relevance-weighted, gated-crop run per seed, each shrunk and proved."""

    name, input_shape = "relevance_lenet5", INPUT_SHAPE

    def seeds(self, cfg: RelevanceLeNetConfig) -> list[int]:
        """Every seed a run used: the relevance seeds and the dense ones."""
        return sorted({*cfg.seeds, *cfg.dense_seeds})

    def load(self, cfg: RelevanceLeNetConfig, device: torch.device, progress: bool) -> Dataset:
        """MNIST with a validation split for the gate; the test split cut to ``test_size`` images when set."""
        data = load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset,
                          device=device)
        if cfg.test_size:
            data.test = Split(data.test.x[:cfg.test_size], data.test.y[:cfg.test_size])
            data.source["split"]["test_size"] = cfg.test_size  # type: ignore[index]
        return data

    def runs(self, cfg: RelevanceLeNetConfig, data: Dataset) -> list[RunKey]:
        return [RunKey("dense", s) for s in cfg.dense_seeds] + [RunKey("relevance", s) for s in cfg.seeds]

    def train(self, cfg: RelevanceLeNetConfig, data: Dataset, key: RunKey, ctx: Context) -> Trained:
        """One run; a relevance run's gate evaluations are its ``crops`` rows."""
        with seeded(key.seed):
            model = LeNet5().to(ctx.device)
        callbacks: list[Any] = []
        penalty = None
        if key.variant == "relevance":
            period = math.ceil(len(data.train) / cfg.batch_size)  # gamma decays over one epoch of steps
            penalty = make_penalty("relevance", model, gamma0=cfg.gamma0, alpha=cfg.alpha, period=period)
            callbacks = [make_pruner("gated_crop", model, gate=data.val, report={"test": data.test},
                                     bound=cfg.bound, tau=cfg.tau, eval_every=cfg.eval_every,
                                     on_crop=penalty.reset), penalty]
        state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                    generator=torch.Generator().manual_seed(key.seed), penalty=penalty, callbacks=callbacks,
                    checkpoint=ctx.checkpoint(key), desc=f"{key.variant} seed {key.seed}", progress=ctx.progress,
                    lr_schedule="constant")
        tables = {"crops": list(callbacks[0].rows)} if callbacks else {}
        return Trained(model, [], state.resumed_from_epoch, cfg.epochs, tables)

    def measure(self, cfg: RelevanceLeNetConfig, data: Dataset, key: RunKey, trained: Trained,
                ctx: Context) -> Measured:
        """Accuracies, parameters, sparsity and crops; a relevance net is shrunk and compared with the masked one."""
        model = trained.model
        m = model_metrics(model, data.test, INPUT_SHAPE)
        row = {"val_accuracy": evaluate(model, data.val)["accuracy"], "test_accuracy": m["accuracy"],
               "params": m["params"], "nonzero_params": m["nonzero_params"], **_sparsity(model),
               "crops": sum(r["cropped"] for r in trained.tables.get("crops", []))}
        if key.variant != "relevance":
            return Measured(row)
        small, report = shrink_and_prove(model, data.test, INPUT_SHAPE)
        row.update(shrunk_test_accuracy=report["shrunk"]["accuracy"], shrunk_params=report["shrunk"]["params"],
                   shrunk_flops=report["shrunk"]["flops"], flops=m["flops"], max_abs_diff=report["max_abs_diff"],
                   nodes_removed=report["nodes"]["all hidden"]["fraction_dead"])
        return Measured(row, small)

    def summarize(self, cfg: RelevanceLeNetConfig, data: Dataset, table: pd.DataFrame, ctx: Context) -> Summary:
        s0 = cfg.seeds[0]
        ck = after_each_crop(pd.DataFrame(ctx.tables["crops"]))
        return Summary(_headline(table, ck), _targets(cfg, table, ck),
                       save={f"shrunk_relevance_seed{s}": ctx.shrunk[("relevance", s)] for s in cfg.seeds},
                       latency={"dense": ctx.models[("relevance", s0)], "shrunk": ctx.shrunk[("relevance", s0)]},
                       latency_note=f"median of 30 forward passes, masked vs shrunk relevance net of seed {s0}")


EXPERIMENT = RelevanceExperiment()


def run(cfg: RelevanceLeNetConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)


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


def formula_gaps(cfg: RelevanceLeNetConfig, checkpoints: pd.DataFrame) -> list[float]:
    """Per relevance seed (in ``cfg.seeds`` order), the largest |sparsity after k crops - (1 - (1 - tau)^k)|
    over its crops; 0 for a seed without a crop."""
    gap = (checkpoints["sparsity"] - (1 - (1 - cfg.tau) ** checkpoints["crops_before"])).abs()
    worst = gap.groupby(checkpoints["seed"]).max()
    return [float(worst.get(s, 0.0)) for s in cfg.seeds]


def _targets(cfg: RelevanceLeNetConfig, table: pd.DataFrame, checkpoints: pd.DataFrame) -> list[Target]:
    """Per seed: the sparsity formula holds after every crop (an exact check), the cropped nets keep the bound of
    98%, and (when dense runs exist) the dense net reaches 99%."""
    rel, dense = table[table["variant"] == "relevance"], table[table["variant"] == "dense"]
    out = [
        Target("largest gap between the sparsity after k crops and 1-(1-tau)^k (points)",
               tuple(100 * g for g in formula_gaps(cfg, checkpoints)), 0.01, "<=", metric="crops.csv, per seed",
               kind="every"),
        Target("final test accuracy of the cropped nets (%)", tuple(100 * rel["test_accuracy"]), 98.0, ">=",
               metric="test_accuracy (relevance)", note="the bound B"),
    ]
    if len(dense):
        out.append(Target(f"our dense test accuracy (%), authors {100 * AUTHORS_DENSE:.2f} after 120 epochs",
                          tuple(100 * dense["test_accuracy"]), 99.0, ">=", metric="test_accuracy (dense)"))
    return out


def _headline(table: pd.DataFrame, checkpoints: pd.DataFrame) -> dict[str, Any]:
    """Dense and cropped accuracies, sparsity, crops, the shrunk nets, and the net at each seed's last crop."""
    rel = table[table["variant"] == "relevance"]
    dense = table[table["variant"] == "dense"]
    last = checkpoints.sort_values(["seed", "step"]).groupby("seed").tail(1)
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


def findings(result: ChapterResult) -> str:
    """The run's main observations as Markdown sentences, computed from its numbers (true at every profile)."""
    r, t, crops = result.results, result.summary, result.tables["crops"]
    rel = t[t["variant"] == "relevance"]
    ck = after_each_crop(crops)
    n = len(rel)
    spread = rel["crops"].std(ddof=1) if n > 1 else 0.0
    lines = [f"Over {n} seed(s), the gate opened **{rel['crops'].mean():.1f} ± {spread:.1f}** times per run out "
             f"of {len(crops) // max(n, 1)} evaluations, for a final weight sparsity of "
             f"**{100 * rel['weight_sparsity'].mean():.1f}%** (compression "
             f"{(1 / (1 - rel['weight_sparsity'])).mean():.2f}x) at a final test accuracy of "
             f"**{100 * rel['test_accuracy'].mean():.2f}%**."]
    if len(ck):
        first = ck[ck["crops_before"] == 0]["step"]
        lines.append(f"The first crop came after {first.mean():.0f} steps on average: the bound of "
                     f"{100 * r['parameters']['bound']:.1f}% must first be reached by the dense net.")
    dense = r["headline"]["dense"]["value"]
    if dense:
        lines.append(f"Our dense LeNet-5 reached {100 * dense['mean']:.2f}% test accuracy after "
                     f"{r['parameters']['epochs']} epoch(s); the authors report {100 * AUTHORS_DENSE:.2f}% after 120.")
    return " ".join(lines)
