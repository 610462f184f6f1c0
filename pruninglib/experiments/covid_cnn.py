"""Chapter "COVID-19 chest X-ray CNN": dense vs stochastic channel pruning with L2, L1 or no regularizer, under
stratified, patient-grouped k-fold cross-validation on 191 images.

One run per (variant, fold, seed); every run is tested on its held-out fold only. Every pruned run is physically
shrunk and the shrunk net is checked against the masked one on the held-out images. Writes ``results.json``,
``summary.csv`` (a row per run), ``predictions.csv`` (a row per held-out image and run), ``channels.csv``,
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
from tqdm import tqdm

from pruninglib._io import write_json
from pruninglib.config import CovidCNNConfig
from pruninglib.data import Split, pick_device
from pruninglib.data.augment import AugmentedSplit
from pruninglib.data.covid import CovidData, load_covid
from pruninglib.data.splits import fold_table, stratified_group_kfold
from pruninglib.experiments.common import (RunRecord, checkpoint_dir, latencies, max_logit_difference, out_path, ramped,
                                           seeded, stochastic_pruner, timer, write_tables)
from pruninglib.experiments.covid_summary import headline
from pruninglib.metrics import count_flops, count_params
from pruninglib.metrics.binary import binary_metrics, predict_proba
from pruninglib.models import CNN, save_model
from pruninglib.pruning import node_summary
from pruninglib.regularizers import penalty
from pruninglib.surgery import shrink
from pruninglib.tracking import DynamicsTracker, to_frame
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
class CovidResult:
    """What the notebook shows: the JSON record, tidy tables, and the models of every run."""

    results: dict[str, Any]
    summary: pd.DataFrame  # one row per (variant, fold, seed)
    predictions: pd.DataFrame  # one row per (variant, fold, seed, held-out image)
    channels: pd.DataFrame  # one row per (variant, fold, seed, block): channels before and kept
    dynamics: pd.DataFrame  # tidy per-epoch rows from DynamicsTracker
    folds: pd.DataFrame  # one row per fold: class counts of the held-out part
    data: CovidData
    models: dict[tuple[str, int, int], nn.Module]
    shrunk: dict[tuple[str, int, int], nn.Module]


def _train(cfg: CovidCNNConfig, train: AugmentedSplit, splits: dict[str, Split], variant: str, fold: int, seed: int,
           device: torch.device, checkpoint: str, progress: bool) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train one run. ``variant`` 'dense' = L2 with ``dense_weight_decay`` on the same schedule, no pruning."""
    run_seed = 1000 * fold + seed
    with seeded(run_seed):
        model = CNN(cfg.channels).to(device)
    reg, lam = (("l2", cfg.dense_weight_decay) if variant == "dense" else
                (variant, {"l2": cfg.lambda_l2, "l1": cfg.lambda_l1, "none": 0.0}[variant]))
    tracker = DynamicsTracker(splits, {"variant": variant, "fold": fold, "seed": seed})
    callbacks: list[Any] = [tracker]
    if variant != "dense":
        callbacks.insert(0, stochastic_pruner(cfg, model, run_seed))
    # The regularized parameters: the prunable weights, and the BatchNorm scales when asked. gamma and the next
    # layer's weights v can trade scale (gamma*c, v/c) without changing the function, so penalizing both makes
    # the penalty act on a channel as |gamma| * ||v|| (see the intro's rescaling argument), which favours dead
    # channels; with gamma free, BatchNorm absorbs any shrinking of v and no channel is pushed to die.
    regularized = [*model.prunable().values(), *((n.weight for n in model.norms) if cfg.penalize_bn_scale else ())]
    coefficient = ramped(cfg, lam)  # the committed runs weaken the dense baseline's decay after ramp_end too
    fit(model, train, epochs=cfg.epochs, batch_size=cfg.batch_size,
        optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
        generator=torch.Generator().manual_seed(run_seed),
        penalty=lambda m, st: penalty(reg, regularized, coefficient(st)),
        callbacks=callbacks, checkpoint=checkpoint, desc=f"{variant} fold {fold} seed {seed}", progress=progress)
    return model.eval(), tracker.rows


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


def run(cfg: CovidCNNConfig, progress: bool = True) -> CovidResult:
    """Run the chapter's experiment (see module docstring)."""
    clock = timer()
    device = pick_device(cfg.device)
    data = load_covid(cfg.data_root or None, image_size=cfg.image_size, device=device)
    y_all, groups = data.y.cpu().numpy(), data.groups
    folds = stratified_group_kfold(y_all, groups, cfg.folds, cfg.fold_seed)
    folds_df = fold_table(y_all, groups, folds)
    source = {**data.source, "split": {"folds": cfg.folds, "fold_seed": cfg.fold_seed,
                                       "grouped_by": "patient id and file (connected)",
                                       "test_images_per_fold": folds_df["test images"].tolist()}}
    record = RunRecord("covid_cnn", cfg.profile, cfg.to_dict(), list(cfg.seeds), device, source)
    input_shape = (1, cfg.image_size, cfg.image_size)
    ckpt_dir = checkpoint_dir(cfg)
    runs = [(v, k, s) for k in range(cfg.folds) for s in cfg.seeds for v in ("dense", *cfg.variants)]
    rows, summary, preds, chans = [], [], [], []
    models: dict[tuple[str, int, int], nn.Module] = {}
    shrunk: dict[tuple[str, int, int], nn.Module] = {}
    for variant, fold, seed in tqdm(runs, desc="runs", disable=not progress):
        tr, te = (torch.as_tensor(i, device=device) for i in folds[fold])
        train = AugmentedSplit(data.x[tr], data.y[tr], max_shift=cfg.augment_shift,
                               intensity=cfg.augment_intensity, balance=True)
        test = Split(data.x[te], data.y[te])
        run_clock = timer()
        # Dynamics are tracked on the held-out fold only (the CPU budget); nothing is selected on them.
        model, run_rows = _train(cfg, train, {"test": test}, variant, fold, seed, device,
                                 str(ckpt_dir / f"{variant}-fold{fold}-seed{seed}.pt"), progress)
        train_s = run_clock()
        small = shrink(model).eval()
        rows += run_rows
        models[(variant, fold, seed)], shrunk[(variant, fold, seed)] = model, small
        measured, p, p_small = _measure(model, small, test, input_shape, cfg.threshold)
        nodes = node_summary(model)
        summary.append({"variant": variant, "fold": fold, "seed": seed, **measured,
                        "channels_removed": nodes["all hidden"]["fraction_dead"],
                        **{f"channels_removed[{k}]": v["fraction_dead"] for k, v in nodes.items()
                           if k != "all hidden"},
                        "weight_sparsity": float(np.mean([float((w == 0).float().mean())
                                                          for w in model.prunable().values()])),
                        "train_time_s": round(train_s, 2)})
        chans += [{"variant": variant, "fold": fold, "seed": seed, "layer": k, "channels": v["nodes"],
                   "kept": v["nodes"] - v["dead"]} for k, v in nodes.items() if k != "all hidden"]
        preds += [{"variant": variant, "fold": fold, "seed": seed, "file": data.table["file"].iloc[i],
                   "group": int(groups[i]), "y": int(y_all[i]), "p": float(a), "p_shrunk": float(b)}
                  for i, a, b in zip(folds[fold][1], p, p_small)]
    table, predictions, channels = pd.DataFrame(summary), pd.DataFrame(preds), pd.DataFrame(chans)
    dynamics = to_frame(rows)

    # Persist: models of the chosen variant, tidy tables, then results.json last (its presence = run complete).
    model_paths = [save_model(shrunk[(cfg.chosen, k, s)], str(out_path(cfg.out_dir, "models",
                                                                        f"shrunk_{cfg.chosen}_fold{k}_seed{s}.pt")))
                   for k in range(cfg.folds) for s in cfg.seeds]
    files = write_tables(cfg.out_dir, {"dynamics.csv.gz": dynamics, "summary.csv": table,
                                       "predictions.csv": predictions, "channels.csv": channels})
    first = (0, cfg.seeds[0])
    lat = latencies({"dense": models[("dense", *first)], "shrunk": shrunk[(cfg.chosen, *first)]}, input_shape,
                    cfg.latency_batches)
    results = {**record.to_dict(clock()), **headline(cfg, table, predictions), "latency_ms": lat,
               "latency_note": f"median of 30 forward passes, dense vs shrunk {cfg.chosen}, fold 0 seed "
                               f"{cfg.seeds[0]}, batch sizes {list(cfg.latency_batches)}, {cfg.image_size}x"
                               f"{cfg.image_size} inputs",
               "folds_table": folds_df.reset_index().to_dict(orient="records"),
               "shrunk_model_path": model_paths[0], "shrunk_model_paths": model_paths, "files": files}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return CovidResult(results, table, predictions, channels, dynamics, folds_df, data, models, shrunk)


def roc_frame(result: CovidResult) -> pd.DataFrame:
    """Pooled out-of-fold ROC curve per variant (shrunk nets), tidy: variant, fpr, tpr, auc."""
    from pruninglib.metrics.binary import roc_auc, roc_curve

    parts = []
    for v, g in result.predictions.groupby("variant", sort=False):
        fpr, tpr = roc_curve(g["y"], g["p_shrunk"])
        parts.append(pd.DataFrame({"variant": v, "fpr": fpr, "tpr": tpr, "auc": roc_auc(g["y"], g["p_shrunk"])}))
    return pd.concat(parts, ignore_index=True)


def example_images(result: CovidResult, per_class: int = 2) -> pd.DataFrame:
    """Up to ``per_class`` prepared images per class whose license allows showing them (see
    :func:`~pruninglib.data.covid.showable_license`), first by file name: image, title, file, finding, license,
    url. Images under any other license are never returned."""
    from pruninglib.data.covid import showable_license

    t = result.data.table.reset_index(drop=True)
    ok = t[t["license"].map(showable_license)].sort_values("file")
    picked = pd.concat([g.head(per_class) for _, g in ok.groupby("label", sort=False)]).sort_values("label")
    x = result.data.x.cpu()
    return pd.DataFrame([{"image": x[i, 0].numpy(), "title": f"{r['finding']}\n{r['file'][:28]}",
                          "file": r["file"], "finding": r["finding"], "license": r["license"], "url": r["url"]}
                         for i, r in picked.iterrows()])


def attribution_table(examples: pd.DataFrame) -> str:
    """Markdown attribution of the images shown: file, finding, license and source, as the licenses require."""
    lines = ["| file | finding | license | source |", "|---|---|---|---|"]
    lines += [f"| `{r.file}` | {r.finding} | {r.license} | <{r.url}> |" for r in examples.itertuples()]
    return "\n".join(lines)
