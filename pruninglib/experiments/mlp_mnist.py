"""Chapter "MLP on MNIST": dense baseline vs stochastic weight pruning with L2, L1 or no regularizer.

One run per (variant, seed). Every pruned run is physically shrunk and the shrunk net is checked against the
masked one. Writes ``results.json``, ``dynamics.csv.gz``, ``summary.csv`` and the shrunk models into
``cfg.out_dir``; completed runs are checkpointed, so re-running an interrupted command resumes it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from pruninglib.config import MLPMnistConfig
from pruninglib.data import Dataset, load_mnist
from pruninglib.experiments.common import (held_out, model_metrics, ramped, seeded, shrink_and_prove,
                                           stochastic_pruner, without_test)
from pruninglib.experiments.common import mean_std as _mean_std
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.experiments.targets import Target, contrast, paired, per_seed, say_contrast
from pruninglib.metrics import evaluate
from pruninglib.models import MLP
from pruninglib.pruning import node_summary
from pruninglib.regularizers import penalty
from pruninglib.tracking import DynamicsTracker
from pruninglib.training import FitState, fit, make_optimizer

INPUT_SHAPE = (1, 28, 28)
_ARMS = ["dense", "l2", "none", "magnitude", "magnitude-epoch", "scratch"]  # quick and medium (L1: mlp_mechanism)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    # lambda_l2 and lambda_l1: the values the mlp_mechanism chapter selects on validation at the paper profile (its
    # records under book/records/mlp_mechanism/paper; tests/test_mlp_mechanism.py checks that they agree). quick:
    # the book's main job (about a minute, one seed: no intervals); medium: the published page (3 seeds, one session
    # on 2 cores); L1 is compared with L2 in the mlp_mechanism chapter.
    "quick": {"profile": "quick", "seeds": [0], "epochs": 3, "train_subset": 10000, "lambda_l2": 1e-3,
              "variants": _ARMS},
    "medium": {"profile": "medium", "seeds": [0, 1, 2], "epochs": 8, "train_subset": 0, "lambda_l2": 1e-3,
               "variants": _ARMS},
    "paper": {"profile": "paper", "seeds": [0, 1, 2, 3, 4], "epochs": 20, "train_subset": 0, "lambda_l2": 1e-3,
              "lambda_l1": 1e-4, "variants": ["dense", "l2", "l1", "none", "magnitude", "magnitude-epoch", "scratch"]},
}


def method_penalty(cfg: MLPMnistConfig, variant: str) -> Callable[[nn.Module, FitState], torch.Tensor]:
    """The per-step penalty of ``variant`` on the prunable weights: 'dense' and 'scratch' L2
    ``dense_weight_decay``; a pruned variant its regularizer ('magnitude' controls: L2), weakened after
    ``ramp_end`` (:func:`ramped`)."""
    if variant in ("dense", "scratch"):
        return lambda m, st: penalty("l2", m.prunable().values(), cfg.dense_weight_decay)  # type: ignore[operator]
    reg = "l2" if variant.startswith("magnitude") else variant
    coefficient = ramped(cfg, {"l2": cfg.lambda_l2, "l1": cfg.lambda_l1, "none": 0.0}[reg])
    return lambda m, st: penalty(reg, m.prunable().values(), coefficient(st))  # type: ignore[operator]


def pruner(cfg: MLPMnistConfig, model: nn.Module, variant: str, seed: int, steps_per_epoch: int) -> Any:
    """The pruning callback of a pruned ``variant``: stochastic (our reconstruction of Ben-Guigui et al.) for
    'l2', 'l1', 'none'; the deterministic controls remove, on the same schedule, the smallest surviving weights
    ('magnitude': every ``prune_every`` steps, as the stochastic runs; 'magnitude-epoch': once per epoch)."""
    if not variant.startswith("magnitude"):
        return stochastic_pruner(cfg, model, seed)
    every = steps_per_epoch if variant == "magnitude-epoch" else cfg.prune_every
    return stochastic_pruner(dataclasses.replace(cfg, prune_form="magnitude", prune_every=every), model, seed)


class MLPExperiment(Experiment):
    """The runs of ``cfg.variants`` per seed (dense, pruned, the controls); each pruned net shrunk and proved."""

    name, input_shape = "mlp_mnist", INPUT_SHAPE

    def load(self, cfg: MLPMnistConfig, device: torch.device, progress: bool) -> Dataset:
        return without_test(cfg, load_mnist(cfg.data_root or None, val_size=cfg.val_size,
                                            train_subset=cfg.train_subset, device=device))

    def runs(self, cfg: MLPMnistConfig, data: Dataset) -> list[RunKey]:
        return [RunKey(v, s) for s in cfg.seeds for v in cfg.variants]

    def train(self, cfg: MLPMnistConfig, data: Dataset, key: RunKey, ctx: Context) -> Trained:
        """One run: 'dense' and 'scratch' with L2 ``dense_weight_decay`` and no pruning ('scratch' at the shrunk
        widths of the chosen variant's run of the same seed), the others pruned (see :func:`pruner`)."""
        widths = ctx.shrunk[(cfg.chosen, key.seed)].widths if key.variant == "scratch" else cfg.widths
        with seeded(key.seed):
            model = MLP(widths).to(ctx.device)
        splits = {"train": data.train, "val": data.val, **({"test": data.test} if cfg.evaluate_test else {})}
        tracker = DynamicsTracker(splits, key.label)
        callbacks: list[Any] = [tracker]
        if key.variant in cfg.pruned_variants:
            steps = math.ceil(len(data.train) / cfg.batch_size)
            callbacks.insert(0, pruner(cfg, model, key.variant, key.seed, steps))
        state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                    generator=torch.Generator().manual_seed(key.seed), penalty=method_penalty(cfg, key.variant),
                    callbacks=callbacks, checkpoint=ctx.checkpoint(key), desc=f"{key.variant} seed {key.seed}",
                    progress=ctx.progress)
        return Trained(model, tracker.rows, state.resumed_from_epoch, cfg.epochs)

    def measure(self, cfg: MLPMnistConfig, data: Dataset, key: RunKey, trained: Trained, ctx: Context) -> Measured:
        """Validation accuracy, and on the held-out split (test; validation in a study run) the masked and the
        shrunk net's accuracy, after proving them equal; nodes removed and sizes."""
        model = trained.model
        split, held = held_out(cfg, data)
        if key.variant in cfg.pruned_variants:
            small, report = shrink_and_prove(model, held, INPUT_SHAPE)
        else:  # nothing to remove
            small = None
            report = {"masked": model_metrics(model, held, INPUT_SHAPE), "nodes": node_summary(model)}
            report.update(shrunk=report["masked"], max_abs_diff=0.0, max_abs_diff_float32=0.0, max_abs_logit=0.0)
        m, s = report["masked"], report["shrunk"]
        row = {"val_accuracy": evaluate(model, data.val)["accuracy"], f"{split}_accuracy": m["accuracy"],
               f"shrunk_{split}_accuracy": s["accuracy"], "weight_sparsity": 1.0 - m["nonzero_params"] / m["params"],
               "nodes_removed": report["nodes"]["all hidden"]["fraction_dead"],
               **{f"nodes_removed[{k}]": v["fraction_dead"] for k, v in report["nodes"].items()
                  if k != "all hidden"},
               "params": m["params"], "nonzero_params": m["nonzero_params"], "flops": m["flops"],
               "shrunk_params": s["params"], "shrunk_nonzero_params": s["nonzero_params"], "shrunk_flops": s["flops"],
               "max_abs_diff": report["max_abs_diff"], "max_abs_diff_float32": report["max_abs_diff_float32"],
               "max_abs_logit": report["max_abs_logit"]}
        return Measured(row, small)

    def summarize(self, cfg: MLPMnistConfig, data: Dataset, table: pd.DataFrame, ctx: Context) -> Summary:
        """Headline and targets of a final run; a study run (no test split) has no targets. The chosen variant's
        shrunk nets are saved, and timed against the dense net when both ran."""
        s0, chosen = cfg.seeds[0], cfg.chosen in cfg.variants
        save = {f"shrunk_{cfg.chosen}_seed{s}": ctx.shrunk[(cfg.chosen, s)] for s in cfg.seeds} if chosen else {}
        timed = chosen and "dense" in cfg.variants
        final = cfg.evaluate_test and timed
        return Summary(_headline(cfg, table), _targets(cfg, table) if final else [], save=save,
                       latency={"dense": ctx.models[("dense", s0)], "shrunk": ctx.shrunk[(cfg.chosen, s0)]}
                       if timed else {},
                       latency_note=f"median of 30 forward passes, dense seed {s0} vs shrunk {cfg.chosen} seed {s0}, "
                                    f"batch sizes {list(cfg.latency_batches)}" if timed else "")


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
    """Per variant, mean and std over seeds (and the per-seed values) of the accuracies, nodes removed (overall and
    per layer), weight sparsity and sizes; the chosen variant's shrunk net with its surgery check. ``split`` names
    the held-out split the accuracies were measured on (test; validation in a study run)."""
    split = "test" if cfg.evaluate_test else "val"
    columns = [c for c in table.columns if c not in ("variant", "seed", "train_s")]
    out: dict[str, Any] = {"split": split, "variants": {
        v: {c: _mean_std(g[c]) for c in columns if g[c].notna().all()} for v, g in table.groupby("variant", sort=False)}}
    if cfg.chosen in out["variants"]:
        chosen = table[table["variant"] == cfg.chosen]
        out["shrunk"] = {"variant": cfg.chosen, "metric": f"shrunk_{split}_accuracy",
                         "value": _mean_std(chosen[f"shrunk_{split}_accuracy"]),
                         "params": _mean_std(chosen["shrunk_params"]), "flops": _mean_std(chosen["shrunk_flops"]),
                         "max_abs_diff_vs_masked": float(chosen["max_abs_diff"].max()),
                         "max_abs_diff_vs_masked_float32": float(chosen["max_abs_diff_float32"].max()),
                         "max_abs_diff_note": f"largest |masked - shrunk| over all {split} logits, nets evaluated in "
                                              "float64 (and, for the float32 value, in float32)"}
    return out


def surgery_table(result: ChapterResult) -> pd.DataFrame:
    """Dense vs masked vs shrunk net of the first seed: parameters, FLOPs, latency and held-out accuracy."""
    r, t = result.results, result.summary
    chosen, seed, split = r["headline"]["shrunk"]["variant"], r["seeds"][0], r["headline"]["split"]
    acc = f"{split}_accuracy"
    dense = t[(t["variant"] == "dense") & (t["seed"] == seed)].iloc[0]
    pruned = t[(t["variant"] == chosen) & (t["seed"] == seed)].iloc[0]
    lat = r["latency_ms"]
    rows = {
        "dense": (dense["params"], dense["nonzero_params"], dense["flops"], lat["dense"], dense[acc]),
        f"{chosen}, masked": (pruned["params"], pruned["nonzero_params"], pruned["flops"], lat["dense"], pruned[acc]),
        f"{chosen}, shrunk": (pruned["shrunk_params"], pruned["shrunk_nonzero_params"], pruned["shrunk_flops"],
                              lat["shrunk"], pruned[f"shrunk_{acc}"]),
    }
    table = pd.DataFrame([{"net": name, "parameters": int(p), "non-zero parameters": int(nz),
                           "FLOPs per image": int(f),
                           **{f"latency ms, {k.replace('_', ' ')}": v for k, v in la.items()},
                           f"{split} accuracy %": round(100 * a, 2)} for name, (p, nz, f, la, a) in rows.items()])
    return table.set_index("net")


NAMES = {"dense": "dense", "l2": "stochastic + L2", "l1": "stochastic + L1", "none": "stochastic, no regularizer",
         "magnitude": "magnitude + L2, every step", "magnitude-epoch": "magnitude + L2, once per epoch",
         "scratch": "dense at the shrunk widths, from scratch"}


def findings(result: ChapterResult) -> str:
    """The run's comparisons as Markdown sentences, each a paired per-seed difference with its 95% interval; a
    difference is called resolved only when the interval excludes 0 (true at every profile)."""
    t, r = result.summary, result.results
    split, chosen = r["headline"]["split"], r["parameters"]["chosen"]
    have = set(t["variant"])
    pairs = [(a, b, "nodes_removed", None, "hidden nodes removed") for a, b in
             (("l2", "none"), ("l1", "none"), ("l2", "l1"), ("l2", "magnitude"), ("l2", "magnitude-epoch"))
             if {a, b} <= have]
    pairs += [(chosen, "dense", f"shrunk_{split}_accuracy", f"{split}_accuracy", f"{split} accuracy")
              if "dense" in have and chosen in have else None,
              (chosen, "scratch", f"shrunk_{split}_accuracy", f"{split}_accuracy",
               f"{split} accuracy at the same widths") if "scratch" in have else None]
    sparsity = t.groupby("variant", sort=False)["weight_sparsity"].mean()
    lines = ["Weight sparsity at the end of training (the schedule's): " +
             ", ".join(f"{NAMES[v]} {100 * x:.1f}%" for v, x in sparsity.items() if v in NAMES) + "."]
    for a, b, col, col_b, what in filter(None, pairs):
        c = contrast(t, a, b, col, column_b=col_b, scale=100)
        lines.append("- " + say_contrast({**c, "a": NAMES[a], "b": NAMES[b]}, what, digits=2))
    return "\n".join(lines)
