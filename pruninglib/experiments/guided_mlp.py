"""Chapter "Guided regularization" (OUR RECONSTRUCTION of Sandu & Rafid) on the MLP/MNIST harness.

Variants: for every phi in ``cfg.phis`` ('l1', 'l2sq', 'group') a guided run (coefficients increasing with the
unit index) and an unguided run (all coefficients 1), plus a run without penalty. After training, the fan-in norm
of every hidden unit is recorded by index, and for every fraction in ``cfg.keep_fractions`` the units with the
smallest fan-in norms of each hidden layer are removed by surgery (a removed unit's output is replaced by the
constant relu(bias), exact only for a unit whose fan-in is zero) and the smaller net is tested.
One run per (variant, seed); the net cut to ``chosen_keep`` is the run's shrunk net. Through the shared runner it
writes ``results.json``, ``norms.csv``, ``kept.csv``, ``summary.csv`` and the chosen shrunk models.

With ``cfg.evaluate_test`` False (the lambda sweeps) the test split is never read: the full and the cut nets are
measured on the validation split (columns ``val_accuracy``, ``val_accuracy_kept``) and there are no targets.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
import torch
from torch import nn

from pruninglib.config import GuidedMLPConfig
from pruninglib.data import Dataset, load_mnist
from pruninglib.experiments.common import held_out, mean_std, model_metrics, seeded, without_test
from pruninglib.experiments.guided_summary import (LABEL, choose_lambda, findings, kept_table, lambda_table, targets,
                                                   tuning)
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.methods import make_penalty
from pruninglib.models import MLP
from pruninglib.pruning import fan_in_norms
from pruninglib.surgery import shrink
from pruninglib.training import fit, make_optimizer

__all__ = ["EXPERIMENT", "LABEL", "PROFILES", "choose_lambda", "findings", "kept_table", "lambda_table", "run",
           "split_name", "tuning", "variants"]

INPUT_SHAPE = (1, 28, 28)
# paper: 3 seeds; each lambda chosen on the validation split by the rule of guided_summary.choose_lambda from
# the sweeps grids/guided_mlp/lambda_<phi>.yaml (records in book/records/guided_mlp/); the chapter checks the match
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},
    "quick": {"profile": "quick", "seeds": [0], "epochs": 2, "train_subset": 0, "val_size": 5000,
              "keep_fractions": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05]},
    "paper": {"profile": "paper", "seeds": [0, 1, 2], "epochs": 4, "train_subset": 0, "val_size": 5000,
              "keep_fractions": [1.0, 0.75, 0.5, 0.3, 0.2, 0.1, 0.05],
              "lambda_l1": 0.001, "lambda_l2sq": 0.03, "lambda_group": 0.005},
}


def split_name(cfg: GuidedMLPConfig) -> str:
    """The split every reported metric is measured on: 'test' for a final run, 'val' when ``evaluate_test`` is
    False."""
    return "test" if cfg.evaluate_test else "val"


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


class GuidedExperiment(Experiment):
    """Every variant of :func:`variants` per seed; each net cut to every fraction of ``keep_fractions`` by
    surgery and measured."""

    name, input_shape = "guided_mlp", INPUT_SHAPE

    def load(self, cfg: GuidedMLPConfig, device: torch.device, progress: bool) -> Dataset:
        """MNIST with its validation split; without the test split when ``evaluate_test`` is False."""
        return without_test(cfg, load_mnist(cfg.data_root or None, val_size=cfg.val_size,
                                            train_subset=cfg.train_subset, device=device))

    def runs(self, cfg: GuidedMLPConfig, data: Dataset) -> list[RunKey]:
        return [RunKey(v, s) for s in cfg.seeds for v, _, _ in variants(cfg)]

    def train(self, cfg: GuidedMLPConfig, data: Dataset, key: RunKey, ctx: Context) -> Trained:
        """One run: the variant's guided (or uniform) penalty, or none."""
        phi, guided = _phi_guided(cfg, key.variant)
        with seeded(key.seed):
            model = MLP(cfg.widths).to(ctx.device)
        if phi == "none":
            penalty = make_penalty("none", model)
        else:
            lam = {"l1": cfg.lambda_l1, "l2sq": cfg.lambda_l2sq, "group": cfg.lambda_group}[phi]
            penalty = make_penalty("guided", model, lam=lam, phi=phi,
                                   guidance=cfg.guidance if guided else "uniform", kappa=cfg.kappa)
        state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                    generator=torch.Generator().manual_seed(key.seed), penalty=penalty,
                    checkpoint=ctx.checkpoint(key), desc=f"{key.variant} seed {key.seed}", progress=ctx.progress)
        return Trained(model.eval(), [], state.resumed_from_epoch, cfg.epochs)

    def measure(self, cfg: GuidedMLPConfig, data: Dataset, key: RunKey, trained: Trained, ctx: Context) -> Measured:
        """The final fan-in norm of every hidden unit (``norms`` rows), the net cut to each kept fraction
        (``kept`` rows; the one at ``chosen_keep`` is the run's shrunk net) and the full net's metrics, all on the
        test split (the validation split when ``evaluate_test`` is False)."""
        model, (split, on) = trained.model, held_out(cfg, data)
        phi, guided = _phi_guided(cfg, key.variant)
        label = {"phi": phi, "guided": guided}
        norms = [{**label, "layer": layer, "node": j, "norm": v}
                 for layer, n in fan_in_norms(model).items() for j, v in enumerate(n.tolist())]
        kept: list[dict[str, Any]] = []
        chosen: nn.Module | None = None
        for f in cfg.keep_fractions:
            small = shrink(model, keep_largest(model, f)).eval()
            m = model_metrics(small, on, INPUT_SHAPE)
            kept.append({**label, "keep": f, "units_kept": sum(small.widths[1:-1]), "params": m["params"],
                         "flops": m["flops"], f"{split}_accuracy": m["accuracy"]})
            chosen = small if f == cfg.chosen_keep else chosen
        m = model_metrics(model, on, INPUT_SHAPE)
        at_keep = next(r[f"{split}_accuracy"] for r in kept if r["keep"] == cfg.chosen_keep)
        row = {f"{split}_accuracy": m["accuracy"], f"{split}_accuracy_kept": at_keep, "params": m["params"],
               "norm_index_spearman[hidden 1]": _spearman(model, "hidden 1")}
        return Measured(row, chosen, {"norms": norms, "kept": kept})

    def summarize(self, cfg: GuidedMLPConfig, data: Dataset, table: pd.DataFrame, ctx: Context) -> Summary:
        s0, chosen, split = cfg.seeds[0], f"{cfg.chosen} guided", split_name(cfg)
        kept = pd.DataFrame(ctx.tables["kept"])
        at = kept[kept["keep"] == cfg.chosen_keep]
        return Summary(_headline(cfg, at, table, split), targets(cfg, at, table) if cfg.evaluate_test else [],
                       save={f"shrunk_{cfg.chosen}_guided_seed{s}": ctx.shrunk[(chosen, s)] for s in cfg.seeds},
                       latency={"dense": ctx.models[(chosen, s0)], "shrunk": ctx.shrunk[(chosen, s0)]},
                       latency_note=f"median of 30 forward passes, {chosen} ({LABEL}) seed {s0}: full vs "
                                    f"{cfg.chosen_keep:.0%} of hidden units kept")


EXPERIMENT = GuidedExperiment()


def run(cfg: GuidedMLPConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)


def _phi_guided(cfg: GuidedMLPConfig, variant: str) -> tuple[str, bool]:
    """The per-unit penalty and guidance switch of a variant label."""
    return next((phi, guided) for label, phi, guided in variants(cfg) if label == variant)


def _spearman(model: nn.Module, layer: str) -> float:
    """Rank correlation of a layer's fan-in norms with the unit index (-1: norms fall strictly with the index)."""
    norms = fan_in_norms(model)[layer].cpu()
    return float(pd.Series(norms.numpy()).corr(pd.Series(range(len(norms))), method="spearman"))


def _headline(cfg: GuidedMLPConfig, at: pd.DataFrame, table: pd.DataFrame, split: str) -> dict[str, Any]:
    """Per variant: full-net accuracy, accuracy at ``chosen_keep`` and the norm-index rank correlation; the chosen
    guided net at ``chosen_keep``; all on ``split``. ``at``: the kept rows at ``chosen_keep``."""
    keep, chosen, metric = cfg.chosen_keep, f"{cfg.chosen} guided", f"{split}_accuracy"
    by = {v: g for v, g in table.groupby("variant")}
    at_by = {v: g for v, g in at.groupby("variant")}
    return {
        "split": split, "reconstruction": LABEL,
        "variants": {v: {metric: mean_std(by[v][metric]), f"{metric}_at_keep": mean_std(at_by[v][metric]),
                         "norm_index_spearman_hidden_1": mean_std(by[v]["norm_index_spearman[hidden 1]"])}
                     for v in by},
        "keep": keep,
        "shrunk": {"metric": metric, "variant": chosen, "keep": keep, "value": mean_std(at_by[chosen][metric]),
                   "params": mean_std(at_by[chosen]["params"]), "flops": mean_std(at_by[chosen]["flops"])},
    }
