"""Chapter "VGG-16 on CIFAR-10": dense baseline, stochastic weight pruning with L2, L1 or no regularizer, and two
filter-pruning baselines at the chosen variant's filter budget: L1-norm filter pruning (Li et al. 2017) and network
slimming (Liu et al. 2017).

Every run is physically shrunk and the shrunk net is checked against the masked one on the test images (eval mode).
Writes ``results.json``, ``summary.csv`` (a row per method), ``filters.csv`` (filters kept per layer and method),
``curve.csv`` (accuracy against the fraction of filters removed), ``dynamics.csv.gz`` and the shrunk model of the
chosen variant into ``cfg.out_dir``; runs are checkpointed per epoch, so re-running an interrupted command resumes.
The ``train_*`` functions are the harness the method-comparison chapter reuses.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from pruninglib._io import write_json
from pruninglib.config import VGGCifarConfig
from pruninglib.data import Dataset, Split, pick_device
from pruninglib.data.augment import CropFlipSplit
from pruninglib.data.cifar import load_cifar10
from pruninglib.experiments.common import (RunRecord, checkpoint_dir, latencies, model_metrics, out_path, ramped,
                                           seeded, shrink_and_prove, stochastic_pruner, timer, write_tables)
from pruninglib.experiments.vgg_summary import curve_from_dynamics, headline
from pruninglib.metrics import evaluate, latency
from pruninglib.models import VGG16, save_model
from pruninglib.pruning import Mask, node_summary, prune_bn_scale, prune_filters_l1, remove_filters_
from pruninglib.regularizers import bn_scale_l1, penalty
from pruninglib.tracking import DynamicsTracker, to_frame
from pruninglib.training import FitState, KeepMask, fit, make_optimizer

INPUT_SHAPE = (3, 32, 32)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    # sized for 10 min on 2 CPU cores; the late layers get the paper-like high targets, the early ones less
    "quick": {"profile": "quick", "width": 0.125, "train_subset": 8000, "val_size": 500, "test_subset": 2000,
              "epochs": 12, "lambda_l2": 0.03, "variants": ["l2", "l1", "none"],
              "target_sparsity": [0.3, 0.5, 0.6, 0.6, 0.7, 0.7, 0.7, 0.9, 0.95, 0.95, 0.98, 0.98, 0.98, 0.5],
              "sweep_fractions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]},
    # lambdas scaled from the quick profile to keep lambda x mean learning rate x steps equal (1,500 steps at mean
    # lr 0.025 there, 7,040 at 0.05 here); not run yet (no GPU was available)
    "paper": {"profile": "paper", "width": 1.0, "train_subset": 0, "val_size": 5000, "test_subset": 0,
              "epochs": 40, "batch_size": 256, "lr": 0.1, "lambda_l2": 3e-3, "lambda_l1": 2e-4,
              "variants": ["l2", "l1", "none"], "finetune_epochs": 10, "finetune_lr": 0.01,
              "sweep_fractions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]},
}
Penalty = Callable[[nn.Module, FitState], torch.Tensor]


@dataclass
class VGGResult:
    """What the notebook shows: the JSON record, tidy tables, and the models (masked and shrunk) per method."""

    results: dict[str, Any]
    summary: pd.DataFrame  # one row per method
    filters: pd.DataFrame  # one row per (method, layer): filters before and kept
    curve: pd.DataFrame  # method, kind, fraction_removed, accuracy
    dynamics: pd.DataFrame  # tidy per-epoch rows from DynamicsTracker
    data: Dataset
    models: dict[str, nn.Module]
    shrunk: dict[str, nn.Module]


def regularized(model: VGG16, with_bn_scale: bool) -> list[torch.Tensor]:
    """The penalized tensors: the prunable weights, and the BatchNorm scales when asked (as weight decay would)."""
    return [*model.prunable().values(), *((n.weight for n in model.norms) if with_bn_scale else ())]


def method_penalty(cfg: VGGCifarConfig, method: str) -> Penalty:
    """Per-step penalty of ``method``: 'dense' and fine-tuning ('finetune') L2 ``dense_weight_decay``; 'slimming'
    that plus L1 on the BatchNorm scales; a stochastic variant its regularizer, times ``reg_after_ramp`` after
    ``ramp_end``."""
    wd = cfg.dense_weight_decay
    if method in ("dense", "finetune"):
        return lambda m, st: penalty("l2", regularized(m, cfg.penalize_bn_scale), wd)
    if method == "slimming":
        return lambda m, st: penalty("l2", regularized(m, cfg.penalize_bn_scale), wd) + bn_scale_l1(
            m, cfg.slimming_lambda)
    lam = {"l2": cfg.lambda_l2, "l1": cfg.lambda_l1, "none": 0.0}[method]
    coefficient = ramped(cfg, lam)
    return lambda m, st: penalty(method, regularized(m, cfg.penalize_bn_scale), coefficient(st))


def _fit(cfg: VGGCifarConfig, model: VGG16, train: Split, val: Split, method: str, epochs: int, lr: float,
         callbacks: list[Any], checkpoint: str, progress: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train ``model`` (MUTATED) with ``method``'s penalty; return its dynamics rows and its timing record."""
    device = next(model.parameters()).device
    tracker = DynamicsTracker({"val": val}, {"variant": method})
    clock = timer()
    state = fit(model, train, epochs=epochs, batch_size=cfg.batch_size,
                optimizer=make_optimizer(cfg.optimizer, model.parameters(), lr),
                generator=torch.Generator().manual_seed(cfg.seed), penalty=method_penalty(cfg, method),
                callbacks=[*callbacks, tracker], checkpoint=checkpoint, desc=method, progress=progress,
                autocast=torch.bfloat16 if cfg.amp and device.type == "cuda" else None)
    seconds, done = clock(), epochs - (state.resumed_from_epoch or 0)
    timing = {"method": method, "epochs_run": done, "resumed_from_epoch": state.resumed_from_epoch,
              "train_s": round(seconds, 2), "epoch_s": round(seconds / max(done, 1), 2),
              "train_images_per_s": round(done * len(train) / max(seconds, 1e-9), 1)}
    return tracker.rows, timing


def new_model(cfg: VGGCifarConfig, device: torch.device) -> VGG16:
    """A freshly initialised VGG-16 of width ``cfg.width`` (seeded), channels_last on a GPU with ``amp``."""
    with seeded(cfg.seed):
        model = VGG16(width=cfg.width).to(device)
    return model.to(memory_format=torch.channels_last) if cfg.amp and device.type == "cuda" else model


def train_run(cfg: VGGCifarConfig, data: Dataset, train: Split, method: str, ckpt_dir: str,
              progress: bool = True) -> tuple[VGG16, list[dict[str, Any]], dict[str, Any]]:
    """One from-scratch run: 'dense', 'slimming' (dense + L1 on BatchNorm scales) or a stochastic variant."""
    model = new_model(cfg, data.train.x.device)
    callbacks: list[Any] = []
    if method in ("l2", "l1", "none"):
        callbacks.append(stochastic_pruner(cfg, model, cfg.seed))
    rows, timing = _fit(cfg, model, train, data.val, method, cfg.epochs, cfg.lr, callbacks,
                        f"{ckpt_dir}/{method}.pt", progress)
    return model.eval(), rows, timing


def finetune_run(cfg: VGGCifarConfig, data: Dataset, train: Split, model: VGG16, mask: Mask, method: str,
                 ckpt_dir: str, progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fine-tune a baseline after its filters were removed (MUTATES ``model``); ``mask`` keeps them zero."""
    if cfg.finetune_epochs == 0:
        return [], {"method": f"{method} fine-tuning", "epochs_run": 0}
    rows, timing = _fit(cfg, model, train, data.val, "finetune", cfg.finetune_epochs, cfg.finetune_lr,
                        [KeepMask(mask)], f"{ckpt_dir}/{method}-finetune.pt", progress)
    model.eval()
    return [{**r, "variant": f"{method} (fine-tuning)"} for r in rows], {**timing, "method": f"{method} fine-tuning"}


def _budget(model: nn.Module) -> dict[str, int]:
    return {layer: v["dead"] for layer, v in node_summary(model).items() if layer != "all hidden"}


def baseline(name: str, source: VGG16, budget: dict[str, int]) -> tuple[VGG16, Mask]:
    """A copy of ``source`` with ``name``'s filters removed at ``budget`` (dead filters per layer): 'l1_norm'
    per layer (Li et al.), 'slimming' the same total under one global threshold on |gamma| (Liu et al.)."""
    model = copy.deepcopy(source)
    if name == "l1_norm":
        return model, remove_filters_(model, prune_filters_l1(model, budget))
    return model, remove_filters_(model, prune_bn_scale(model, sum(budget.values())), zero_bn_scale=True)


def sweep(name: str, source: VGG16, fractions: tuple[float, ...], split: Split) -> list[dict[str, Any]]:
    """Accuracy on ``split`` without fine-tuning after removing each fraction of filters ('l1_norm': that fraction
    of every layer; 'slimming': of the whole network, by one threshold)."""
    sizes = {c.layer: source.get_submodule(c.producer).out_channels for c in source.couplings()}
    rows = []
    for f in fractions:
        if name == "l1_norm":
            budget = {k: min(round(f * n), n - 1) for k, n in sizes.items()}
        else:
            total = min(round(f * sum(sizes.values())), sum(sizes.values()) - len(sizes))
            budget = {next(iter(sizes)): total}  # only the total matters for slimming
        model, _ = baseline(name, source, budget)
        removed = node_summary(model)["all hidden"]["fraction_dead"]
        rows.append({"method": name, "kind": "no fine-tuning (test)", "fraction_removed": removed,
                     "accuracy": evaluate(model, split)["accuracy"]})
    return rows


def _measure(method: str, model: VGG16, data: Dataset) -> tuple[nn.Module, dict[str, Any], list[dict[str, Any]]]:
    """Shrink ``model`` and prove it (unless ``method`` is 'dense', which has no dead filters by construction);
    return the shrunk net, the summary row and the per-layer filter rows."""
    if method == "dense":
        m = model_metrics(model, data.test, INPUT_SHAPE)
        small, report = model, {"masked": m, "shrunk": m, "nodes": node_summary(model), "max_abs_diff": 0.0,
                                "max_abs_diff_float32": 0.0, "max_abs_logit": 0.0}
    else:
        small, report = shrink_and_prove(model, data, INPUT_SHAPE)
    m, s, nodes = report["masked"], report["shrunk"], report["nodes"]
    row = {"method": method, "test_accuracy": m["accuracy"], "shrunk_test_accuracy": s["accuracy"],
           "filters_removed": nodes["all hidden"]["fraction_dead"], "filters_kept": list(small.channels),
           "params": m["params"], "nonzero_params": m["nonzero_params"], "flops": m["flops"],
           "shrunk_params": s["params"], "shrunk_flops": s["flops"], "max_abs_diff": report["max_abs_diff"],
           "max_abs_diff_float32": report["max_abs_diff_float32"], "max_abs_logit": report["max_abs_logit"]}
    layers = [{"variant": method, "layer": k, "channels": v["nodes"], "kept": v["nodes"] - v["dead"]}
              for k, v in nodes.items() if k != "all hidden"]
    return small, row, layers


def speed(dense: nn.Module, small: nn.Module, batches: tuple[int, ...]) -> dict[str, Any]:
    """CPU latency (ms, median of 30) of CPU copies of both nets at ``batches``; GPU throughput (images/s at batch
    512) when the nets live on a GPU."""
    cpu = {k: copy.deepcopy(m).cpu().float().eval() for k, m in (("dense", dense), ("shrunk", small))}
    out: dict[str, Any] = {"cpu_latency_ms": latencies(cpu, INPUT_SHAPE, batches),
                           "cpu_threads": torch.get_num_threads()}
    if next(dense.parameters()).device.type == "cuda":
        out["gpu_images_per_s"] = {k: round(512 / latency(m, INPUT_SHAPE, 512) * 1e3, 1)
                                   for k, m in (("dense", dense), ("shrunk", small))}
        out["gpu"] = torch.cuda.get_device_name(next(dense.parameters()).device)
    return out


def load_data(cfg: VGGCifarConfig, device: torch.device, progress: bool = True) -> tuple[Dataset, Split]:
    """CIFAR-10 split as ``cfg`` asks, on ``device``, and the training split the runs draw batches from: randomly
    cropped and flipped on the device when ``augment``, channels_last on a GPU with ``amp``."""
    data = load_cifar10(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset,
                        test_subset=cfg.test_subset, device=device, progress=progress)
    x = data.train.x
    if cfg.amp and device.type == "cuda":  # channels_last batches for the channels_last model (fast convs on GPU)
        x = x.contiguous(memory_format=torch.channels_last)
    return data, CropFlipSplit(x, data.train.y) if cfg.augment else Split(x, data.train.y)


def run(cfg: VGGCifarConfig, progress: bool = True) -> VGGResult:
    """Run the chapter's experiment (see module docstring)."""
    clock = timer()
    device = pick_device(cfg.device)
    data, train = load_data(cfg, device, progress)
    record = RunRecord("vgg_cifar10", cfg.profile, cfg.to_dict(), [cfg.seed], device, data.source)
    ckpt_dir = str(checkpoint_dir(cfg))
    models, shrunk, rows, summary, filters, timings, curve = {}, {}, [], [], [], [], []

    def record_method(method: str, model: VGG16) -> None:
        shrunk[method], row, layers = _measure(method, model, data)
        models[method] = model
        summary.append(row)
        filters.extend(layers)

    for method in ("dense", *cfg.variants):
        model, run_rows, timing = train_run(cfg, data, train, method, ckpt_dir, progress)
        rows += run_rows
        timings.append(timing)
        record_method(method, model)
    budget = _budget(models[cfg.chosen])
    sources = {"l1_norm": models["dense"]}
    if "slimming" in cfg.baselines:
        sources["slimming"], run_rows, timing = train_run(cfg, data, train, "slimming", ckpt_dir, progress)
        rows += run_rows
        timings.append(timing)
    for name in cfg.baselines:
        model, mask = baseline(name, sources[name], budget)
        run_rows, timing = finetune_run(cfg, data, train, model, mask, name, ckpt_dir, progress)
        rows += run_rows
        timings.append(timing)
        record_method(name, model)
        curve += sweep(name, sources[name], cfg.sweep_fractions, data.test)
    table = pd.DataFrame(summary)
    dynamics = to_frame(rows)
    curve_df = pd.concat([pd.DataFrame(curve), curve_from_dynamics(dynamics, cfg.variants),
                          table.assign(kind="final, shrunk (test)")[["method", "kind", "filters_removed",
                                                                     "shrunk_test_accuracy"]].rename(
                              columns={"filters_removed": "fraction_removed",
                                       "shrunk_test_accuracy": "accuracy"})], ignore_index=True)
    filters_df = pd.DataFrame(filters)

    measured = speed(models["dense"], shrunk[cfg.chosen], cfg.latency_batches)
    model_path = save_model(shrunk[cfg.chosen], str(out_path(cfg.out_dir, "models", f"shrunk_{cfg.chosen}.pt")))
    files = write_tables(cfg.out_dir, {"dynamics.csv.gz": dynamics, "summary.csv": table, "filters.csv": filters_df,
                                       "curve.csv": curve_df})
    results = {**record.to_dict(clock()), **headline(cfg, table),
               "speed": measured, "latency_ms": measured["cpu_latency_ms"],
               "training_throughput": timings, "filter_budget": budget,
               "resumed_runs": [{"variant": t["method"], "seed": cfg.seed, "from_epoch": t["resumed_from_epoch"],
                                 "epochs": t["epochs_run"] + t["resumed_from_epoch"]}
                                for t in timings if t.get("resumed_from_epoch") is not None],
               "shrunk_model_path": model_path,
               "files": files}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return VGGResult(results, table, filters_df, curve_df, dynamics, data, models, shrunk)
