"""Chapter "COVID-19 chest X-ray CNN": dense vs stochastic channel pruning with L2, L1 or no regularizer, under
nested, stratified, patient-grouped cross-validation on 191 images.

A final run (``evaluate_test`` true) makes one run per (variant, outer fold, seed), trained on the outer fold's
training part with the settings chosen for that fold on its inner folds (``fold_settings``) and measured on its test
part only. A tuning or study run (``evaluate_test`` false) makes one run per (variant, outer fold, inner fold,
seed), trained and measured inside the outer training part: it never reads an outer test image
(:mod:`pruninglib.experiments.covid_folds`). Every pruned run is physically shrunk and the shrunk net is checked
against the masked one on the images it is measured on. Through the shared runner
(:mod:`pruninglib.experiments.runner`) it writes ``results.json``, ``summary.csv`` (a row per run),
``predictions.csv`` (a row per held-out image and run), ``channels.csv``, ``folds.csv`` (class counts per fold),
``dynamics.csv.gz`` and, for a final run, the shrunk models of the chosen variant into ``cfg.out_dir``; runs are
checkpointed per epoch, so re-running an interrupted command resumes it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from pruninglib.config import CovidCNNConfig
from pruninglib.data import Split
from pruninglib.experiments.common import max_logit_difference, ramped, seeded, stochastic_pruner
from pruninglib.experiments.covid_folds import INNER, CovidFolds, inner_fold, load_folds
from pruninglib.experiments.covid_summary import headline, study_headline, targets
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

_TRAINING: dict[str, Any] = {"augment_shift": 4, "augment_intensity": 0.2,
                             "target_sparsity": [0.5, 0.9, 0.995, 0.999, 0.98]}
# The final configuration, per outer fold: the candidate of grids/covid_tuning.yaml with the best AUC averaged over
# that fold's 3 inner folds (covid_study.selection of book/records/covid_tuning.json; the chapter and a test assert
# they agree). Committed before the final run.
FOLD_SETTINGS: list[dict[str, Any]] = [
    {"image_size": 96, "channels": [16, 32, 64, 128], "epochs": 20},
    {"image_size": 96, "channels": [16, 32, 64, 128], "epochs": 40},
    {"image_size": 96, "channels": [16, 32, 64, 128], "epochs": 40},
    {"image_size": 64, "channels": [8, 16, 32, 64], "epochs": 20},
    {"image_size": 64, "channels": [8, 16, 32, 64], "epochs": 20},
]
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    # the book's main job (minutes): every outer fold, a small net for a few epochs, not the chosen settings
    "quick": {"profile": "quick", "folds": 5, "image_size": 48, "channels": [8, 16, 32, 64], "epochs": 6,
              "bootstrap": 200, **_TRAINING},
    "medium": {"profile": "medium", "folds": 5, "image_size": 64, "channels": [16, 32, 64, 128], "epochs": 20,
               "bootstrap": 1000, **_TRAINING, "fold_settings": FOLD_SETTINGS},
    "paper": {"profile": "paper", "folds": 5, "seeds": [0, 1, 2], "image_size": 64, "channels": [16, 32, 64, 128],
              "epochs": 20, "variants": ["dense", "l2", "l1", "none"], "bootstrap": 2000, **_TRAINING,
              "fold_settings": FOLD_SETTINGS},
}


def _measure(model: nn.Module, small: nn.Module | None, held: Split, split: str, input_shape: tuple[int, ...],
             threshold: float) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Metrics of the masked and shrunk nets on the held-out images (columns named by ``split``: test_auc,
    shrunk_test_auc, ...), sizes, and the surgery proof (eval mode). ``small`` None: nothing was removed (dense),
    the shrunk columns repeat the net's own."""
    p = predict_proba(model, held)
    p_small = p if small is None else predict_proba(small, held)
    y = held.y.cpu().numpy()
    m, s = binary_metrics(y, p, threshold), binary_metrics(y, p_small, threshold)
    row: dict[str, Any] = {**{f"{split}_{k}": v for k, v in m.items()},
                           **{f"shrunk_{split}_{k}": v for k, v in s.items()}}
    kept = small if small is not None else model
    row.update(count_params(model), flops=count_flops(model, input_shape))
    row.update({f"shrunk_{k}": v for k, v in count_params(kept).items()},
               shrunk_flops=count_flops(kept, input_shape))
    row["max_abs_diff"] = 0.0 if small is None else max_logit_difference(model, small, held, torch.float64)
    row["max_abs_diff_float32"] = 0.0 if small is None else max_logit_difference(model, small, held, torch.float32)
    row["max_abs_logit"] = max_logit_difference(model, None, held, torch.float32)
    return row, p, p_small


class CovidExperiment(Experiment):
    """The runs of ``cfg.variants`` per outer fold and seed (and inner fold, for a tuning or study run); each
    measured on its held-out part, each pruned run shrunk and proved."""

    name = "covid_cnn"

    def shape(self, cfg: CovidCNNConfig) -> tuple[int, ...]:
        return cfg.for_fold(0).input_shape()  # the latency nets are fold 0's

    def load(self, cfg: CovidCNNConfig, device: torch.device, progress: bool) -> CovidFolds:
        return load_folds(cfg, device)

    def runs(self, cfg: CovidCNNConfig, data: CovidFolds) -> list[RunKey]:
        if cfg.evaluate_test:
            return [RunKey(v, s, fold=k) for k in range(cfg.folds) for s in cfg.seeds for v in cfg.variants]
        inner = range(cfg.inner_used or cfg.inner_folds)
        return [RunKey(v, s, fold=k, setting=INNER.format(j)) for k in range(cfg.folds) for j in inner
                for s in cfg.seeds for v in cfg.variants]

    def train(self, cfg: CovidCNNConfig, data: CovidFolds, key: RunKey, ctx: Context) -> Trained:
        """One run with its outer fold's settings; 'dense' = L2 with ``dense_weight_decay`` on the same schedule, no
        pruning. Dynamics are tracked on the part the run is measured on; nothing is selected on them."""
        fold, inner = int(key.fold or 0), inner_fold(key.setting)
        c = cfg.for_fold(fold)
        split, train_idx, held_idx = data.parts(fold, inner)
        run_seed = 1000 * fold + (0 if inner is None else 100 * (inner + 1)) + key.seed
        with seeded(run_seed):
            model = CNN(c.channels).to(ctx.device)
        reg, lam = (("l2", c.dense_weight_decay) if key.variant == "dense" else
                    (key.variant, {"l2": c.lambda_l2, "l1": c.lambda_l1, "none": 0.0}[key.variant]))
        tracker = DynamicsTracker({split: data.split(c, held_idx, train=False)}, key.label)
        callbacks: list[Any] = [tracker]
        if key.variant in c.pruned_variants:
            callbacks.insert(0, stochastic_pruner(c, model, run_seed))
        # The regularized parameters: the prunable weights, and the BatchNorm scales when asked. gamma and the next
        # layer's weights v can trade scale (gamma*c, v/c) without changing the function, so penalizing both makes
        # the penalty act on a channel as |gamma| * ||v|| (see the intro's rescaling argument), which favours dead
        # channels; with gamma free, BatchNorm absorbs any shrinking of v and no channel is pushed to die.
        regularized = [*model.prunable().values(),
                       *((n.weight for n in model.norms) if c.penalize_bn_scale else ())]
        coefficient = ramped(c, lam)  # the dense baseline's decay is weakened after ramp_end too
        state = fit(model, data.split(c, train_idx, train=True), epochs=c.epochs, batch_size=c.batch_size,
                    optimizer=make_optimizer(c.optimizer, model.parameters(), c.lr),
                    generator=torch.Generator().manual_seed(run_seed),
                    penalty=lambda m, st: penalty(reg, regularized, coefficient(st)), callbacks=callbacks,
                    checkpoint=ctx.checkpoint(key), desc=f"{key.variant} {key.tag}", progress=ctx.progress)
        return Trained(model.eval(), tracker.rows, state.resumed_from_epoch, c.epochs)

    def measure(self, cfg: CovidCNNConfig, data: CovidFolds, key: RunKey, trained: Trained,
                ctx: Context) -> Measured:
        """Shrink and prove on the held-out part; the per-block channel rows and the per-image predictions."""
        fold, model = int(key.fold or 0), trained.model
        c = cfg.for_fold(fold)
        split, _, held_idx = data.parts(fold, inner_fold(key.setting))
        small = shrink(model).eval() if key.variant in c.pruned_variants else None
        row, p, p_small = _measure(model, small, data.split(c, held_idx, train=False), split, c.input_shape(),
                                   c.threshold)
        nodes = node_summary(model)
        row.update(channels_removed=nodes["all hidden"]["fraction_dead"],
                   **{f"channels_removed[{k}]": v["fraction_dead"] for k, v in nodes.items() if k != "all hidden"},
                   weight_sparsity=float(np.mean([float((w == 0).float().mean())
                                                  for w in model.prunable().values()])))
        channels = [{"layer": k, "channels": v["nodes"], "kept": v["nodes"] - v["dead"]}
                    for k, v in nodes.items() if k != "all hidden"]
        files, groups, y_all = data.first.table["file"], data.first.groups, data.first.y.cpu().numpy()
        predictions = [{"file": files.iloc[i], "group": int(groups[i]), "y": int(y_all[i]), "p": float(a),
                        "p_shrunk": float(b)} for i, a, b in zip(held_idx, p, p_small)]
        return Measured(row, small, {"channels": channels, "predictions": predictions})

    def summarize(self, cfg: CovidCNNConfig, data: CovidFolds, table: pd.DataFrame, ctx: Context) -> Summary:
        """A final run: headline, targets, the chosen variant's shrunk nets saved and fold 0's timed against dense.
        A tuning or study run: validation metrics per outer fold, no targets (targets are for final runs)."""
        folds = data.fold_table.reset_index()
        if not cfg.evaluate_test:
            return Summary(study_headline(cfg, table), [], tables={"folds": folds})
        s0, chosen = cfg.seeds[0], cfg.chosen
        predictions = pd.DataFrame(ctx.tables["predictions"])
        head = {**headline(cfg, table, predictions), "folds_table": folds.to_dict(orient="records")}
        return Summary(head, targets(cfg, table), tables={"folds": folds},
                       save={f"shrunk_{chosen}_fold{k}_seed{s}": ctx.shrunk[(chosen, k, s)]
                             for k in range(cfg.folds) for s in cfg.seeds},
                       latency={"dense": ctx.models[("dense", 0, s0)], "shrunk": ctx.shrunk[(chosen, 0, s0)]},
                       latency_note=f"median of 30 forward passes, dense vs shrunk {chosen}, fold 0 seed {s0}, "
                                    f"batch sizes {list(cfg.latency_batches)}, {self.shape(cfg)[1]}x"
                                    f"{self.shape(cfg)[2]} inputs")


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

    t = result.data.first.table.reset_index(drop=True)
    ok = t[t["license"].map(showable_license)].sort_values("file")
    picked = pd.concat([g.head(per_class) for _, g in ok.groupby("label", sort=False)]).sort_values("label")
    x = result.data.first.x.cpu()
    return pd.DataFrame([{"image": x[i, 0].numpy(), "title": f"{r['finding']}\n{r['file'][:28]}",
                          "file": r["file"], "finding": r["finding"], "license": r["license"], "url": r["url"]}
                         for i, r in picked.iterrows()])


def attribution_table(examples: pd.DataFrame) -> str:
    """Markdown attribution of the images shown: file, finding, license and source, as the licenses require."""
    lines = ["| file | finding | license | source |", "|---|---|---|---|"]
    lines += [f"| `{r.file}` | {r.finding} | {r.license} | <{r.url}> |" for r in examples.itertuples()]
    return "\n".join(lines)
