"""Chapter "COVID-19 chest X-ray CNN": dense vs stochastic channel pruning with L2, L1 or no regularizer, under
stratified, patient-grouped k-fold cross-validation on 191 images.

One run per (variant, fold, seed); every run is tested on its held-out fold only. Every run is physically shrunk
and the shrunk net is checked against the masked one on the held-out images. Through the shared runner
(:mod:`pruninglib.experiments.runner`) it writes ``results.json``, ``summary.csv`` (a row per run),
``predictions.csv`` (a row per held-out image and run), ``channels.csv``, ``folds.csv`` (class counts per fold),
``dynamics.csv.gz`` and the shrunk models of the chosen variant into ``cfg.out_dir``; runs are checkpointed per
epoch, so re-running an interrupted command resumes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from pruninglib.config import CovidCNNConfig
from pruninglib.data import Split
from pruninglib.data.augment import AugmentedSplit
from pruninglib.data.covid import CovidData, load_covid
from pruninglib.data.splits import fold_table, stratified_group_kfold
from pruninglib.experiments.common import max_logit_difference, ramped, seeded, stochastic_pruner
from pruninglib.experiments.covid_summary import headline, targets
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.metrics import count_flops, count_params
from pruninglib.metrics.binary import binary_metrics, predict_proba
from pruninglib.models import CNN
from pruninglib.pruning import node_summary
from pruninglib.regularizers import penalty
from pruninglib.surgery import shrink
from pruninglib.tracking import DynamicsTracker
from pruninglib.training import fit, make_optimizer

# Shared by quick and paper, chosen in trial runs on these 191 images (dense and L2, 5 folds, seed 0; see the
# chapter): stronger augmentation lifted the dense AUC from 0.51 to 0.60; sparser blocks 3 and 4 let channels of
# block 3 die too (block 4 alone holds 53% of the channels).
_TRAINING: dict[str, Any] = {"augment_shift": 4, "augment_intensity": 0.2,
                             "target_sparsity": [0.5, 0.9, 0.995, 0.999, 0.98]}
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    "quick": {"profile": "quick", "folds": 5, "image_size": 64, "channels": [16, 32, 64, 128], "epochs": 20,
              "variants": ["l2"], "bootstrap": 1000, **_TRAINING},
    "paper": {"profile": "paper", "folds": 5, "seeds": [0, 1, 2], "image_size": 64, "channels": [16, 32, 64, 128],
              "epochs": 40, "variants": ["l2", "l1", "none"], "bootstrap": 2000, **_TRAINING},
}


@dataclass
class CovidFolds:
    """The chapter's data: every image (``images``), the (train, test) indices of each fold, the fold table (class
    counts of each held-out part, indexed by fold) and the run card's data block."""

    images: CovidData
    folds: list[tuple[np.ndarray, np.ndarray]]
    fold_table: pd.DataFrame
    source: dict[str, Any]

    def indices(self, fold: int, part: int) -> torch.Tensor:
        """The image indices of ``fold``'s training (``part`` 0) or held-out (1) part, on the images' device."""
        return torch.as_tensor(self.folds[fold][part], device=self.images.x.device)

    def train_part(self, fold: int, cfg: CovidCNNConfig) -> AugmentedSplit:
        """The class-balanced, augmented training part of ``fold``."""
        i = self.indices(fold, 0)
        return AugmentedSplit(self.images.x[i], self.images.y[i], max_shift=cfg.augment_shift,
                              intensity=cfg.augment_intensity, balance=True)

    def test_part(self, fold: int) -> Split:
        """The held-out part of ``fold``."""
        i = self.indices(fold, 1)
        return Split(self.images.x[i], self.images.y[i])


def _measure(model: nn.Module, small: nn.Module, test: Split, input_shape: tuple[int, ...],
             threshold: float) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Metrics of the masked and shrunk nets on the held-out fold, and the surgery proof (eval mode)."""
    p, p_small = predict_proba(model, test), predict_proba(small, test)
    y = test.y.cpu().numpy()
    m, s = binary_metrics(y, p, threshold), binary_metrics(y, p_small, threshold)
    row: dict[str, Any] = {**m, **{f"shrunk_{k}": v for k, v in s.items()}}
    row.update({f"{k}": v for k, v in count_params(model).items()}, flops=count_flops(model, input_shape))
    row.update({f"shrunk_{k}": v for k, v in count_params(small).items()}, shrunk_flops=count_flops(small,
                                                                                                     input_shape))
    row["max_abs_diff"] = max_logit_difference(model, small, test, torch.float64)
    row["max_abs_diff_float32"] = max_logit_difference(model, small, test, torch.float32)
    row["max_abs_logit"] = max_logit_difference(model, None, test, torch.float32)
    return row, p, p_small


class CovidExperiment(Experiment):
    """Dense and one stochastic run per regularizer in ``cfg.variants``, per fold and seed; each tested on its
    held-out fold, shrunk and proved."""

    name = "covid_cnn"

    def shape(self, cfg: CovidCNNConfig) -> tuple[int, ...]:
        return (1, cfg.image_size, cfg.image_size)

    def load(self, cfg: CovidCNNConfig, device: torch.device, progress: bool) -> CovidFolds:
        data = load_covid(cfg.data_root or None, image_size=cfg.image_size, device=device)
        y_all, groups = data.y.cpu().numpy(), data.groups
        folds = stratified_group_kfold(y_all, groups, cfg.folds, cfg.fold_seed)
        table = fold_table(y_all, groups, folds)
        source = {**data.source, "split": {"folds": cfg.folds, "fold_seed": cfg.fold_seed,
                                           "grouped_by": "patient id and file (connected)",
                                           "test_images_per_fold": table["test images"].tolist()}}
        return CovidFolds(data, folds, table, source)

    def runs(self, cfg: CovidCNNConfig, data: CovidFolds) -> list[RunKey]:
        return [RunKey(v, s, fold=k) for k in range(cfg.folds) for s in cfg.seeds for v in ("dense", *cfg.variants)]

    def train(self, cfg: CovidCNNConfig, data: CovidFolds, key: RunKey, ctx: Context) -> Trained:
        """One run; 'dense' = L2 with ``dense_weight_decay`` on the same schedule, no pruning. Dynamics are tracked
        on the held-out fold only (the CPU budget); nothing is selected on them."""
        fold, variant = int(key.fold or 0), key.variant
        train, test = data.train_part(fold, cfg), data.test_part(fold)
        run_seed = 1000 * fold + key.seed
        with seeded(run_seed):
            model = CNN(cfg.channels).to(ctx.device)
        reg, lam = (("l2", cfg.dense_weight_decay) if variant == "dense" else
                    (variant, {"l2": cfg.lambda_l2, "l1": cfg.lambda_l1, "none": 0.0}[variant]))
        tracker = DynamicsTracker({"test": test}, key.label)
        callbacks: list[Any] = [tracker]
        if variant != "dense":
            callbacks.insert(0, stochastic_pruner(cfg, model, run_seed))
        # The regularized parameters: the prunable weights, and the BatchNorm scales when asked. gamma and the next
        # layer's weights v can trade scale (gamma*c, v/c) without changing the function, so penalizing both makes
        # the penalty act on a channel as |gamma| * ||v|| (see the intro's rescaling argument), which favours dead
        # channels; with gamma free, BatchNorm absorbs any shrinking of v and no channel is pushed to die.
        regularized = [*model.prunable().values(),
                       *((n.weight for n in model.norms) if cfg.penalize_bn_scale else ())]
        coefficient = ramped(cfg, lam)  # the committed runs weaken the dense baseline's decay after ramp_end too
        state = fit(model, train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                    generator=torch.Generator().manual_seed(run_seed),
                    penalty=lambda m, st: penalty(reg, regularized, coefficient(st)), callbacks=callbacks,
                    checkpoint=ctx.checkpoint(key), desc=f"{variant} fold {fold} seed {key.seed}",
                    progress=ctx.progress)
        return Trained(model.eval(), tracker.rows, state.resumed_from_epoch, cfg.epochs)

    def measure(self, cfg: CovidCNNConfig, data: CovidFolds, key: RunKey, trained: Trained,
                ctx: Context) -> Measured:
        """Shrink and prove on the held-out fold; the per-block channel rows and the per-image predictions."""
        fold, model = int(key.fold or 0), trained.model
        small = shrink(model).eval()
        row, p, p_small = _measure(model, small, data.test_part(fold), self.shape(cfg), cfg.threshold)
        nodes = node_summary(model)
        row.update(channels_removed=nodes["all hidden"]["fraction_dead"],
                   **{f"channels_removed[{k}]": v["fraction_dead"] for k, v in nodes.items() if k != "all hidden"},
                   weight_sparsity=float(np.mean([float((w == 0).float().mean())
                                                  for w in model.prunable().values()])))
        channels = [{"layer": k, "channels": v["nodes"], "kept": v["nodes"] - v["dead"]}
                    for k, v in nodes.items() if k != "all hidden"]
        images, y_all, groups = data.images.table["file"], data.images.y.cpu().numpy(), data.images.groups
        predictions = [{"file": images.iloc[i], "group": int(groups[i]), "y": int(y_all[i]), "p": float(a),
                        "p_shrunk": float(b)} for i, a, b in zip(data.folds[fold][1], p, p_small)]
        return Measured(row, small, {"channels": channels, "predictions": predictions})

    def summarize(self, cfg: CovidCNNConfig, data: CovidFolds, table: pd.DataFrame, ctx: Context) -> Summary:
        s0 = cfg.seeds[0]
        predictions = pd.DataFrame(ctx.tables["predictions"])
        folds = data.fold_table.reset_index()
        head = {**headline(cfg, table, predictions), "folds_table": folds.to_dict(orient="records")}
        return Summary(head, targets(cfg, table), tables={"folds": folds},
                       save={f"shrunk_{cfg.chosen}_fold{k}_seed{s}": ctx.shrunk[(cfg.chosen, k, s)]
                             for k in range(cfg.folds) for s in cfg.seeds},
                       latency={"dense": ctx.models[("dense", 0, s0)], "shrunk": ctx.shrunk[(cfg.chosen, 0, s0)]},
                       latency_note=f"median of 30 forward passes, dense vs shrunk {cfg.chosen}, fold 0 seed {s0}, "
                                    f"batch sizes {list(cfg.latency_batches)}, {cfg.image_size}x{cfg.image_size} "
                                    "inputs")


EXPERIMENT = CovidExperiment()


def run(cfg: CovidCNNConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)


def roc_frame(result: ChapterResult) -> pd.DataFrame:
    """Pooled out-of-fold ROC curve per variant (shrunk nets), tidy: variant, fpr, tpr, auc."""
    from pruninglib.metrics.binary import roc_auc, roc_curve

    parts = []
    for v, g in result.tables["predictions"].groupby("variant", sort=False):
        fpr, tpr = roc_curve(g["y"], g["p_shrunk"])
        parts.append(pd.DataFrame({"variant": v, "fpr": fpr, "tpr": tpr, "auc": roc_auc(g["y"], g["p_shrunk"])}))
    return pd.concat(parts, ignore_index=True)


def example_images(result: ChapterResult, per_class: int = 2) -> pd.DataFrame:
    """Up to ``per_class`` prepared images per class whose license allows showing them (see
    :func:`~pruninglib.data.covid.showable_license`), first by file name: image, title, file, finding, license,
    url. Images under any other license are never returned."""
    from pruninglib.data.covid import showable_license

    t = result.data.images.table.reset_index(drop=True)
    ok = t[t["license"].map(showable_license)].sort_values("file")
    picked = pd.concat([g.head(per_class) for _, g in ok.groupby("label", sort=False)]).sort_values("label")
    x = result.data.images.x.cpu()
    return pd.DataFrame([{"image": x[i, 0].numpy(), "title": f"{r['finding']}\n{r['file'][:28]}",
                          "file": r["file"], "finding": r["finding"], "license": r["license"], "url": r["url"]}
                         for i, r in picked.iterrows()])


def attribution_table(examples: pd.DataFrame) -> str:
    """Markdown attribution of the images shown: file, finding, license and source, as the licenses require."""
    lines = ["| file | finding | license | source |", "|---|---|---|---|"]
    lines += [f"| `{r.file}` | {r.finding} | {r.license} | <{r.url}> |" for r in examples.itertuples()]
    return "\n".join(lines)
