"""Chapter "MLP on MNIST": dense baseline vs stochastic weight pruning with L2, L1 or no regularizer.

One run per (variant, seed). Every pruned run is physically shrunk and the shrunk net is checked against the
masked one. Writes ``results.json``, ``dynamics.csv.gz``, ``summary.csv`` and the shrunk models into
``cfg.out_dir``; completed runs are checkpointed, so re-running an interrupted command resumes it.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from pruninglib.config import MLPMnistConfig
from pruninglib.data import Dataset, load_mnist
from pruninglib.experiments.common import model_metrics, ramped, seeded, shrink_and_prove, stochastic_pruner
from pruninglib.experiments.common import mean_std as _mean_std
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.experiments.targets import Target, paired, per_seed
from pruninglib.models import MLP
from pruninglib.pruning import node_summary
from pruninglib.regularizers import penalty
from pruninglib.tracking import DynamicsTracker
from pruninglib.training import FitState, fit, make_optimizer

INPUT_SHAPE = (1, 28, 28)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    "quick": {"profile": "quick", "seeds": [0], "epochs": 8, "train_subset": 0},
    "paper": {"profile": "paper", "seeds": [0, 1, 2], "epochs": 20, "train_subset": 0},
}


def method_penalty(cfg: MLPMnistConfig, variant: str) -> Callable[[nn.Module, FitState], torch.Tensor]:
    """The per-step penalty of ``variant`` on the prunable weights: 'dense' L2 ``dense_weight_decay``; a
    stochastic variant ('l2', 'l1', 'none') its regularizer, weakened after ``ramp_end`` (:func:`ramped`)."""
    if variant == "dense":
        return lambda m, st: penalty("l2", m.prunable().values(), cfg.dense_weight_decay)  # type: ignore[operator]
    coefficient = ramped(cfg, {"l2": cfg.lambda_l2, "l1": cfg.lambda_l1, "none": 0.0}[variant])
    return lambda m, st: penalty(variant, m.prunable().values(), coefficient(st))  # type: ignore[operator]


class MLPExperiment(Experiment):
    """Dense and one stochastic run per regularizer in ``cfg.variants``, per seed; each pruned net shrunk and
    proved."""

    name, input_shape = "mlp_mnist", INPUT_SHAPE

    def load(self, cfg: MLPMnistConfig, device: torch.device, progress: bool) -> Dataset:
        return load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset,
                          device=device)

    def runs(self, cfg: MLPMnistConfig, data: Dataset) -> list[RunKey]:
        return [RunKey(v, s) for s in cfg.seeds for v in ("dense", *cfg.variants)]

    def train(self, cfg: MLPMnistConfig, data: Dataset, key: RunKey, ctx: Context) -> Trained:
        """One run; 'dense' = L2 with ``dense_weight_decay`` and no pruning."""
        with seeded(key.seed):
            model = MLP(cfg.widths).to(ctx.device)
        tracker = DynamicsTracker({"train": data.train, "val": data.val, "test": data.test}, key.label)
        callbacks: list[Any] = [tracker]
        if key.variant != "dense":
            callbacks.insert(0, stochastic_pruner(cfg, model, key.seed))
        state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                    generator=torch.Generator().manual_seed(key.seed), penalty=method_penalty(cfg, key.variant),
                    callbacks=callbacks, checkpoint=ctx.checkpoint(key), desc=f"{key.variant} seed {key.seed}",
                    progress=ctx.progress)
        return Trained(model, tracker.rows, state.resumed_from_epoch, cfg.epochs)

    def measure(self, cfg: MLPMnistConfig, data: Dataset, key: RunKey, trained: Trained, ctx: Context) -> Measured:
        model = trained.model
        if key.variant == "dense":
            small = None
            report = {"masked": model_metrics(model, data.test, INPUT_SHAPE), "nodes": node_summary(model)}
            report.update(shrunk=report["masked"], max_abs_diff=0.0, max_abs_diff_float32=0.0, max_abs_logit=0.0)
        else:
            small, report = shrink_and_prove(model, data.test, INPUT_SHAPE)
        m, s = report["masked"], report["shrunk"]
        row = {"val_accuracy": next(r["value"] for r in reversed(trained.dynamics)
                                    if r["split"] == "val" and r["metric"] == "accuracy"),
               "test_accuracy": m["accuracy"], "shrunk_test_accuracy": s["accuracy"],
               "weight_sparsity": 1.0 - m["nonzero_params"] / m["params"],
               "nodes_removed": report["nodes"]["all hidden"]["fraction_dead"],
               **{f"nodes_removed[{k}]": v["fraction_dead"] for k, v in report["nodes"].items()
                  if k != "all hidden"},
               "params": m["params"], "nonzero_params": m["nonzero_params"], "flops": m["flops"],
               "shrunk_params": s["params"], "shrunk_nonzero_params": s["nonzero_params"], "shrunk_flops": s["flops"],
               "max_abs_diff": report["max_abs_diff"], "max_abs_diff_float32": report["max_abs_diff_float32"],
               "max_abs_logit": report["max_abs_logit"]}
        return Measured(row, small)

    def summarize(self, cfg: MLPMnistConfig, data: Dataset, table: pd.DataFrame, ctx: Context) -> Summary:
        s0 = cfg.seeds[0]
        return Summary(_headline(cfg, table), _targets(cfg, table),
                       save={f"shrunk_{cfg.chosen}_seed{s}": ctx.shrunk[(cfg.chosen, s)] for s in cfg.seeds},
                       latency={"dense": ctx.models[("dense", s0)], "shrunk": ctx.shrunk[(cfg.chosen, s0)]},
                       latency_note=f"median of 30 forward passes, dense seed {s0} vs shrunk {cfg.chosen} seed {s0}, "
                                    f"batch sizes {list(cfg.latency_batches)}")


EXPERIMENT = MLPExperiment()


def run(cfg: MLPMnistConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)


def _targets(cfg: MLPMnistConfig, table: pd.DataFrame) -> list[Target]:
    """The paper's MLP claim as targets on per-seed values: 50% of hidden nodes removed, a dense net of at least
    98%, and the shrunk net within 0.3 points of the dense one of the same seed."""
    return [
        Target("hidden nodes removed (%)", tuple(100 * per_seed(table, cfg.chosen, "nodes_removed")), 50.0, ">=",
               metric=f"nodes_removed ({cfg.chosen})"),
        Target("dense test accuracy (%)", tuple(100 * per_seed(table, "dense", "test_accuracy")), 98.0, ">=",
               metric="test_accuracy (dense)"),
        Target("shrunk minus dense test accuracy (points)",
               tuple(100 * v for v in paired(table, cfg.chosen, "shrunk_test_accuracy", "dense", "test_accuracy")),
               -0.3, ">=", metric=f"shrunk_test_accuracy ({cfg.chosen}) - test_accuracy (dense), same seed"),
    ]


def _headline(cfg: MLPMnistConfig, table: pd.DataFrame) -> dict[str, Any]:
    """Dense, pruned and shrunk metrics (mean, std over seeds)."""
    by = {v: g for v, g in table.groupby("variant")}
    dense, chosen = by["dense"], by[cfg.chosen]
    layers = [c for c in table.columns if c.startswith("nodes_removed[")]

    def block(g: pd.DataFrame, acc: str, params: str, flops: str) -> dict[str, Any]:
        return {"metric": "test_accuracy", "value": _mean_std(g[acc]), "params": _mean_std(g[params]),
                "flops": _mean_std(g[flops])}

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
    }


def surgery_table(result: ChapterResult) -> pd.DataFrame:
    """Dense vs masked vs shrunk net of the first seed: parameters, FLOPs, latency and test accuracy."""
    r, t = result.results, result.summary
    chosen, seed = r["headline"]["shrunk"]["variant"], r["seeds"][0]
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


def findings(result: ChapterResult) -> str:
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
