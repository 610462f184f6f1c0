"""Chapter "VGG-16 on CIFAR-10": dense baseline, stochastic weight pruning with L2, L1 or no regularizer, and two
filter-pruning baselines at the chosen variant's filter budget: L1-norm filter pruning (Li et al. 2017) and network
slimming (Liu et al. 2017).

Every run is physically shrunk and the shrunk net is checked against the masked one (eval mode) on the test images,
or, when ``evaluate_test`` is false (tuning and study runs: the test split is then never read), on the validation
images. Writes ``results.json``, ``summary.csv`` (a row per run), ``filters.csv`` (filters kept per layer and run),
``curve.csv`` (accuracy against the fraction of filters removed), ``throughput.csv``, ``dynamics.csv.gz`` and the
shrunk model of the chosen variant (first seed) into ``cfg.out_dir``; runs are checkpointed, so re-running an
interrupted command resumes. With ``from_records``, nothing is trained: the chapter is rendered from a finished
run's records (:mod:`pruninglib.experiments.vgg_records`; the paper profile's GPU job:
:mod:`pruninglib.experiments.vgg_job`). ``new_model``, ``method_penalty`` and ``load_data`` are the harness the
method-comparison chapter reuses.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from pruninglib.config import BASELINES, VGGCifarConfig
from pruninglib.data import Dataset, Split
from pruninglib.data.augment import CropFlipSplit
from pruninglib.data.cifar import load_cifar10, normalize
from pruninglib.experiments.common import (held_out, model_metrics, ramped, seeded, shrink_and_prove,
                                           stochastic_pruner, without_test)
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.experiments.vgg_summary import curve_from_dynamics, headline, split_name, targets
from pruninglib.metrics import evaluate, latency
from pruninglib.models import VGG16
from pruninglib.pruning import Mask, node_summary, prune_bn_scale, prune_filters_l1, remove_filters_
from pruninglib.regularizers import bn_scale_l1, penalty
from pruninglib.tracking import DynamicsTracker, to_frame
from pruninglib.training import KeepMask, fit, make_optimizer
from pruninglib.training.clock import EpochClock
from pruninglib.training.loop import FitState

INPUT_SHAPE = (3, 32, 32)
# per convolution, then the classifier: the late layers get the paper-like high targets, the early ones less
_TARGETS = [0.3, 0.5, 0.6, 0.6, 0.7, 0.7, 0.7, 0.9, 0.95, 0.95, 0.98, 0.98, 0.98, 0.5]
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: seconds
    # quick: the book's main job (minutes, one seed); medium: the published CPU page, about an hour on one core
    "quick": {"profile": "quick", "width": 0.125, "train_subset": 2000, "val_size": 500, "test_subset": 1000,
              "epochs": 4, "lambda_l2": 0.03, "variants": ["dense", "l2", "l1", "none"], "seeds": [0],
              "other_arms_seeds": 1,
              "target_sparsity": _TARGETS,
              "sweep_fractions": [0.2, 0.4, 0.6, 0.8]},
    "medium": {"profile": "medium", "width": 0.125, "train_subset": 8000, "val_size": 500, "test_subset": 2000,
               "epochs": 12, "lambda_l2": 0.03, "variants": ["dense", "l2", "l1", "none"], "seeds": [0, 1, 2],
               "other_arms_seeds": 1,
               "target_sparsity": _TARGETS,
               "sweep_fractions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]},
    # lambdas scaled from the medium profile to keep lambda x mean learning rate x steps equal (1,500 steps at mean
    # lr 0.025 there, 7,040 at 0.05 here), not chosen on validation; run by the GPU job (vgg_job.py), not yet run
    "paper": {"profile": "paper", "width": 1.0, "train_subset": 0, "val_size": 5000, "test_subset": 0,
              "epochs": 40, "batch_size": 256, "lr": 0.1, "lambda_l2": 3e-3, "lambda_l1": 2e-4,
              "variants": ["dense", "l2", "l1", "none"], "seeds": [0, 1, 2], "other_arms_seeds": 1, "finetune_epochs": 10,
              "finetune_lr": 0.01, "sweep_fractions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]},
}
Penalty = Callable[[nn.Module, FitState], torch.Tensor]


@dataclass
class VGGData:
    """CIFAR-10 as loaded (``data``; without its test split when ``evaluate_test`` is false), the training split
    the runs draw batches from, and the run card's block."""

    data: Dataset
    train: Split
    source: dict[str, Any]


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


def _fit(cfg: VGGCifarConfig, model: VGG16, data: VGGData, method: str, seed: int, epochs: int, lr: float,
         callbacks: list[Any], checkpoint: str, progress: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train ``model`` (MUTATED) with ``method``'s penalty; return its dynamics rows and its timing record (from
    the checkpointed clock, so a run read back from a finished checkpoint keeps the time it trained)."""
    device = next(model.parameters()).device
    tracker = DynamicsTracker({"val": data.data.val}, {"variant": method, "seed": seed})
    clock = EpochClock(f"{method} seed {seed}", len(data.train), epochs, echo=0 if progress else 10)
    fit(model, data.train, epochs=epochs, batch_size=cfg.batch_size,
        optimizer=make_optimizer(cfg.optimizer, model.parameters(), lr),
        generator=torch.Generator().manual_seed(seed), penalty=method_penalty(cfg, method),
        callbacks=[*callbacks, tracker, clock], checkpoint=checkpoint, desc=method, progress=progress,
        autocast=torch.bfloat16 if cfg.amp and device.type == "cuda" else None, checkpoint_every=cfg.checkpoint_every)
    timing = {"method": method, "epochs_run": clock.epochs, "resumed_from_epoch": clock.resumed_from,
              "train_s": round(clock.seconds, 2), "epoch_s": round(clock.seconds / max(clock.epochs, 1), 2),
              "train_images_per_s": round(clock.epochs * len(data.train) / max(clock.seconds, 1e-9), 1)}
    return tracker.rows, timing


def new_model(cfg: VGGCifarConfig, seed: int, device: torch.device) -> VGG16:
    """A freshly initialised VGG-16 of width ``cfg.width`` (seeded), channels_last on a GPU with ``amp``."""
    with seeded(seed):
        model = VGG16(width=cfg.width).to(device)
    return model.to(memory_format=torch.channels_last) if cfg.amp and device.type == "cuda" else model


def train_source(cfg: VGGCifarConfig, data: VGGData, key: RunKey,
                 ctx: Context) -> tuple[VGG16, list[dict[str, Any]], dict[str, Any]]:
    """The from-scratch training of ``key`` (or its resumption): 'dense', a stochastic variant, or for 'slimming'
    the net trained with L1 on the BatchNorm scales that the baseline then prunes. These trainings depend on no
    other run (the GPU job trains them side by side)."""
    method, seed = key.variant, key.seed
    model = new_model(cfg, seed, data.data.val.x.device)
    callbacks = [stochastic_pruner(cfg, model, seed)] if method in ("l2", "l1", "none") else []
    rows, timing = _fit(cfg, model, data, method, seed, cfg.epochs, cfg.lr, callbacks,
                        ctx.checkpoint(key, "-source" if method == "slimming" else ""), ctx.progress)
    return model.eval(), rows, timing


def depends_on(cfg: VGGCifarConfig, key: RunKey) -> list[RunKey]:
    """The runs a baseline needs finished: the chosen variant of the same seed (the filter budget) and, for
    'l1_norm', the dense net it prunes. None for the other runs."""
    if key.variant not in BASELINES:
        return []
    return [RunKey(cfg.chosen, key.seed), *([RunKey("dense", key.seed)] if key.variant == "l1_norm" else [])]


def _budget(model: nn.Module) -> dict[str, int]:
    return {layer: v["dead"] for layer, v in node_summary(model).items() if layer != "all hidden"}


def baseline(name: str, source: VGG16, budget: dict[str, int]) -> tuple[VGG16, Mask]:
    """A copy of ``source`` with ``name``'s filters removed at ``budget`` (dead filters per layer): 'l1_norm'
    per layer (Li et al.), 'slimming' the same total under one global threshold on |gamma| (Liu et al.)."""
    model = copy.deepcopy(source)
    if name == "l1_norm":
        return model, remove_filters_(model, prune_filters_l1(model, budget))
    return model, remove_filters_(model, prune_bn_scale(model, sum(budget.values())), zero_bn_scale=True)


def criterion_curve(name: str, source: VGG16, fractions: tuple[float, ...], split: Split,
                    split_label: str) -> list[dict[str, Any]]:
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
        rows.append({"method": name, "kind": f"no fine-tuning ({split_label})", "fraction_removed": removed,
                     "accuracy": evaluate(model, split)["accuracy"]})
    return rows


def gpu_speed(dense: nn.Module, small: nn.Module) -> dict[str, Any]:
    """GPU throughput (images/s at batch 512) of both nets when they live on a GPU; empty on a CPU."""
    if next(dense.parameters()).device.type != "cuda":
        return {}
    return {"gpu": torch.cuda.get_device_name(next(dense.parameters()).device),
            "images_per_s": {k: round(512 / latency(m, INPUT_SHAPE, 512) * 1e3, 1)
                             for k, m in (("dense", dense), ("shrunk", small))}}


def load_data(cfg: VGGCifarConfig, device: torch.device, progress: bool = True) -> tuple[Dataset, Split]:
    """CIFAR-10 split as ``cfg`` asks, on ``device``, and the training split the runs draw batches from: kept as
    uint8 on the device and standardised per batch, randomly cropped and flipped on the device when ``augment``,
    channels_last on a GPU with ``amp``. ``data.train`` holds the uint8 images."""
    data = load_cifar10(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset,
                        test_subset=cfg.test_subset, device=device, fetch=cfg.download, raw_train=True,
                        progress=progress)
    x, y = data.train.x, data.train.y
    if not cfg.augment:
        return data, Split(normalize(x), y)
    return data, CropFlipSplit(x, y, normalize=normalize, channels_last=cfg.amp and device.type == "cuda")


class VGGExperiment(Experiment):
    """Dense and the stochastic variants trained from scratch, then the two baselines at the chosen variant's
    filter budget (L1-norm from the dense net; slimming from its own L1-on-gamma run), each fine-tuned."""

    name, input_shape = "vgg_cifar10", INPUT_SHAPE

    def load(self, cfg: VGGCifarConfig, device: torch.device, progress: bool) -> VGGData:
        data, train = load_data(cfg, device, progress)
        return VGGData(without_test(cfg, data), train, data.source)

    def runs(self, cfg: VGGCifarConfig, data: VGGData) -> list[RunKey]:
        return [RunKey(m, s) for m in (*cfg.variants, *cfg.baselines) for s in cfg.arm_seeds(m)]

    def train(self, cfg: VGGCifarConfig, data: VGGData, key: RunKey, ctx: Context) -> Trained:
        """A from-scratch run, or a baseline: the chosen variant's budget taken from the dense net ('l1_norm') or
        from a net trained with L1 on the BatchNorm scales ('slimming'), then fine-tuned."""
        method = key.variant
        if method not in BASELINES:
            model, rows, timing = train_source(cfg, data, key, ctx)
            return Trained(model, rows, timing["resumed_from_epoch"], cfg.epochs, {"throughput": [timing]})
        rows, timings = [], []
        if method == "slimming":
            source, rows, timing = train_source(cfg, data, key, ctx)
            timings.append(timing)
        else:
            source = ctx.models[("dense", key.seed)]
        model, mask = baseline(method, source, _budget(ctx.models[(cfg.chosen, key.seed)]))
        tune_rows, timing = [], {"method": f"{method} fine-tuning", "epochs_run": 0, "resumed_from_epoch": None}
        if cfg.finetune_epochs:
            tune_rows, timing = _fit(cfg, model, data, "finetune", key.seed, cfg.finetune_epochs, cfg.finetune_lr,
                                     [KeepMask(mask)], ctx.checkpoint(key, "-finetune"), ctx.progress)
            tune_rows = [{**r, "variant": f"{method} (fine-tuning)"} for r in tune_rows]
        name, split = held_out(cfg, data.data)
        curve = criterion_curve(method, source, cfg.sweep_fractions, split, name)
        return Trained(model.eval(), rows + tune_rows, timing["resumed_from_epoch"], cfg.finetune_epochs,
                       {"throughput": [*timings, {**timing, "method": f"{method} fine-tuning"}], "curve": curve})

    def measure(self, cfg: VGGCifarConfig, data: VGGData, key: RunKey, trained: Trained, ctx: Context) -> Measured:
        """Shrink and prove on the measured split (not 'dense', which has no dead filters by construction); the
        per-layer filter rows."""
        name, split = held_out(cfg, data.data)
        model = trained.model
        if key.variant == "dense":
            m = model_metrics(model, split, INPUT_SHAPE)
            small, report = None, {"masked": m, "shrunk": m, "nodes": node_summary(model), "max_abs_diff": 0.0,
                                   "max_abs_diff_float32": 0.0, "max_abs_logit": 0.0}
        else:
            small, report = shrink_and_prove(model, split, INPUT_SHAPE)
        m, s, nodes = report["masked"], report["shrunk"], report["nodes"]
        weights = list(model.prunable().values())
        row = {f"{name}_accuracy": m["accuracy"], f"shrunk_{name}_accuracy": s["accuracy"],
               "filters_removed": nodes["all hidden"]["fraction_dead"],
               "weight_sparsity": sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights),
               "params": m["params"], "nonzero_params": m["nonzero_params"], "flops": m["flops"],
               "shrunk_params": s["params"], "shrunk_flops": s["flops"], "max_abs_diff": report["max_abs_diff"],
               "max_abs_diff_float32": report["max_abs_diff_float32"], "max_abs_logit": report["max_abs_logit"]}
        layers = [{"layer": k, "channels": v["nodes"], "kept": v["nodes"] - v["dead"]}
                  for k, v in nodes.items() if k != "all hidden"]
        return Measured(row, small, {"filters": layers})

    def summarize(self, cfg: VGGCifarConfig, data: VGGData, table: pd.DataFrame, ctx: Context) -> Summary:
        """Headline and targets (final runs only), the curve table, the runs table with each run's training time
        from its clock, and, for final runs, the shrunk headline net saved and timed against the dense one."""
        name, seed = split_name(cfg), cfg.seeds[0]
        times = pd.DataFrame(ctx.tables["throughput"]).groupby(["variant", "seed"])["train_s"].sum()
        runs = table.assign(train_s=[float(times.get((v, s), 0.0)) for v, s in zip(table["variant"], table["seed"])])
        kept = {key: list(ctx.shrunk.get(key, m).channels) for key, m in ctx.models.items()}
        finals = runs.assign(kind=f"final, shrunk ({name})")[["variant", "seed", "kind", "filters_removed",
                                                              f"shrunk_{name}_accuracy"]]
        curve = pd.concat([pd.DataFrame(ctx.tables.get("curve", [])),
                           curve_from_dynamics(to_frame(ctx.dynamics), cfg.pruned_variants),
                           finals.rename(columns={"variant": "method", "filters_removed": "fraction_removed",
                                                  f"shrunk_{name}_accuracy": "accuracy"})], ignore_index=True)
        small = ctx.shrunk[(cfg.chosen, seed)]
        head = headline(cfg, runs, kept)
        if not cfg.evaluate_test:  # a tuning run: no targets, nothing timed
            return Summary(head, [], tables={"curve": curve}, save={f"shrunk_{cfg.chosen}": small}, runs=runs)
        dense = ctx.models[("dense", seed)]
        head = {**head, "filter_budget": _budget(ctx.models[(cfg.chosen, seed)]), "gpu_speed": gpu_speed(dense, small)}
        cpu = {k: copy.deepcopy(m).cpu().float().eval() for k, m in (("dense", dense), ("shrunk", small))}
        return Summary(head, targets(cfg, runs), tables={"curve": curve}, save={f"shrunk_{cfg.chosen}": small},
                       latency=cpu, latency_note=f"median of 30 CPU forward passes, dense vs shrunk {cfg.chosen} "
                                                 f"(seed {seed}), {torch.get_num_threads()} torch threads", runs=runs)


EXPERIMENT = VGGExperiment()


def run(cfg: VGGCifarConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring), or, with ``cfg.from_records``, read a finished one."""
    if cfg.from_records:
        from pruninglib.experiments.vgg_records import load_result

        return load_result(cfg.from_records, cfg)
    return run_experiment(EXPERIMENT, cfg, progress)
