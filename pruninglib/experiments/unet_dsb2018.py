"""Chapter "U-Net / DSB 2018": dense vs stochastic channel pruning (our reconstruction) with L2, L1 or no
regularizer, and channel-norm baselines, for nuclei instance segmentation, on one split by image id or k folds.

One run per (variant, fold, seed) in the order of ``cfg.variants``. The baselines take, per block, as many channels
as the chosen variant's run of the same fold and seed lost: 'norm' trains a dense net with the same schedule and
removes the smallest-norm filters at ``ramp_end``, where the stochastic runs freeze their masks, then trains on to
the end (the stochastic run's total budget of ``epochs``); 'norm-oneshot' removes them from the finished dense net.
Every net is physically shrunk (surgery through the skip concatenations) and checked against the masked one on the
held-out images: the test part of a final run, the validation part of a tuning run (``evaluate_test`` false),
which never reads the test images. Through the shared runner it writes ``results.json``, ``summary.csv``,
``channels.csv``, ``per_image.csv``, ``dynamics.csv.gz`` and the chosen shrunk model; runs are checkpointed per
epoch, so re-running an interrupted command resumes it.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from pruninglib.config import UNetDSBConfig
from pruninglib.data import Split
from pruninglib.data.dsb2018 import DSBData, fold_ids, load_dsb2018, split_ids
from pruninglib.data.flips import FlipSplit
from pruninglib.experiments.common import ramped, seeded, stochastic_pruner
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.experiments.unet_summary import headline, targets
from pruninglib.metrics import count_flops, count_params
from pruninglib.metrics.instances import predict_probs, segmentation_scores
from pruninglib.models.unet import UNet
from pruninglib.pruning import Mask, dead_nodes, node_summary
from pruninglib.regularizers import penalty
from pruninglib.surgery import shrink
from pruninglib.tracking import DynamicsTracker
from pruninglib.training import FitState, KeepMask, fit, make_optimizer

_LEVELS = [0.9, 0.97, 0.995, 0.998, 0.5]  # per level, then the head (see the chapter for how they were chosen)
_LAMBDA = 0.02  # lambda_l2 chosen by the rule of grids/unet_lambda.yaml on its record book/records/unet_lambda.json
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: 24 images at 32 px, a tiny net, seconds
    # the book's main job (minutes): a fifth of the images, 2 epochs
    "quick": {"profile": "quick", "max_images": 134, "image_size": 64, "depth": 3, "base": 8, "epochs": 2,
              "target_sparsity": _LEVELS, "lambda_l2": _LAMBDA,
              "variants": ["dense", "l2", "none", "norm", "norm-oneshot"]},
    "medium": {"profile": "medium", "max_images": 0, "image_size": 64, "depth": 3, "base": 8, "epochs": 6,
               "target_sparsity": _LEVELS, "lambda_l2": _LAMBDA,
               "variants": ["dense", "l2", "none", "norm", "norm-oneshot"]},
    # 5 folds; 67 validation images per fold (the tracker's), so each fold trains on 469 images, as the tuning runs
    # on the single split (470)
    "paper": {"profile": "paper", "max_images": 0, "image_size": 64, "depth": 3, "base": 8, "epochs": 16,
              "folds": 5, "val_fraction": 0.1, "seeds": [0], "target_sparsity": _LEVELS, "lambda_l2": _LAMBDA,
              "variants": ["dense", "l2", "none", "norm", "norm-oneshot"]},
}
SILENT = 1e-3  # a BatchNorm scale below this silences an alive channel


@dataclass
class UNetData:
    """Every image (``images``), the ids of each part per fold (one fold for a single split; no ``test`` part in
    a tuning run, which must not read it) and the run card's data block."""

    images: DSBData
    parts: list[dict[str, list[str]]]
    source: dict[str, Any]

    def _index(self, fold: int, part: str) -> torch.Tensor:
        if part not in self.parts[fold]:
            raise ValueError(f"part = {part!r} was not loaded: a tuning run (evaluate_test false) has no test part")
        return self.images.index(self.parts[fold][part]).to(self.images.x.device)

    def split(self, fold: int, part: str) -> Split:
        """The images and class targets of ``part`` ('train': flip-augmented, 'val', 'test') of ``fold``."""
        i = self._index(fold, part)
        return (FlipSplit if part == "train" else Split)(self.images.x[i], self.images.y[i])

    def labels(self, fold: int, part: str) -> np.ndarray:
        """The instance maps of ``part`` of ``fold`` (N, S, S)."""
        return self.images.labels[self._index(fold, part)].cpu().numpy()


def per_weight_sparsity(model: UNet, levels: tuple[float, ...]) -> list[float]:
    """Expand one target per level (then the head) to one per prunable weight, in ``model.prunable()`` order."""
    out = []
    for name in model.prunable():
        out.append(levels[-1] if name == "head.weight" else levels[int(name.split(".")[1].split("_")[1])])
    return out


def forced_dead(model: UNet, targets: list[float]) -> float:
    """The fraction of all channels that ``targets`` (one sparsity per prunable weight) leave NO choice but to
    die: a conv with C filters and S surviving weights keeps at most S filters alive, so at least C - S are empty
    whatever the regularizer does. Example: 64 filters of 32 x 3 x 3 weights at 99.8% keep ceil(36.9) = 37
    weights, so at least 27 of the 64 filters are empty."""
    sparsity = dict(zip(model.prunable(), targets))
    forced = total = 0
    for c in model.couplings():
        w = model.get_parameter(f"{c.producer}.weight")
        forced += max(0, w.shape[0] - math.ceil(w.numel() * (1.0 - sparsity[f"{c.producer}.weight"])))
        total += w.shape[0]
    return forced / total


def norm_baseline_mask(dense: UNet, budget: dict[str, int], norm: str) -> Mask:
    """Keep-mask of ``dense``'s prunable weights with the filters of smallest ``norm`` ('l2' or 'l1') removed:
    ``budget[block]`` filters per block (the head is never cut; a block keeps at least one filter). Pure."""
    masks = {k: torch.ones_like(w, dtype=torch.bool) for k, w in dense.prunable().items()}
    for c in dense.couplings():
        w = dense.get_submodule(c.producer).weight.detach().flatten(1)
        score = w.norm(dim=1) if norm == "l2" else w.abs().sum(1)
        drop = torch.argsort(score)[:min(budget[c.layer], len(score) - 1)]
        masks[f"{c.producer}.weight"][drop] = False
    return Mask(masks)


class NormCut(KeepMask):
    """Dense training until ``at`` (a fraction of training); at the first step past it, ONCE, the filters of
    smallest ``norm`` are removed per block (:func:`norm_baseline_mask` with ``budget``) and kept at zero from
    then on. MUTATES the model's weights at the cut and after every later step."""

    def __init__(self, model: UNet, budget: dict[str, int], norm: str, at: float) -> None:
        super().__init__(Mask.ones(model.prunable()))
        self.budget, self.norm, self.at, self.cut = budget, norm, at, False

    def on_step_end(self, state: FitState) -> None:
        if not self.cut and state.progress >= self.at:
            self.mask = norm_baseline_mask(state.model, self.budget, self.norm)  # type: ignore[arg-type]
            self.cut = True
        super().on_step_end(state)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "cut": self.cut}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.cut = bool(state["cut"])


def _same_unit(key: RunKey, variant: str) -> tuple[Any, ...]:
    """The id of ``variant``'s run of ``key``'s fold and seed (the key of ``Context.models``)."""
    return RunKey(variant, key.seed, key.fold).id


def _budget(cfg: UNetDSBConfig, ctx: Context, key: RunKey) -> dict[str, int]:
    """Channels per block that the chosen variant's run of the same fold and seed lost: the baselines' budget."""
    return {k: int(d.sum()) for k, d in dead_nodes(ctx.models[_same_unit(key, cfg.chosen)]).items()}


def _train(cfg: UNetDSBConfig, model: UNet, data: UNetData, key: RunKey, ctx: Context) -> Trained:
    """Train ``model`` in place for ``cfg.epochs``: 'dense' and 'norm' plain training (a constant L2
    ``dense_weight_decay`` on the filters; 'norm' cut at ``ramp_end`` by :class:`NormCut`), the pruned variants
    stochastic pruning with their regularizer (weakened after ``ramp_end``)."""
    fold, variant = key.fold or 0, key.variant
    tracker = DynamicsTracker({"val": data.split(fold, "val")}, key.label)
    callbacks: list[Any] = [tracker]
    if variant == "norm":
        callbacks.insert(0, NormCut(model, _budget(cfg, ctx, key), cfg.baseline_norm, cfg.ramp_end))
    elif variant in cfg.pruned_variants:
        callbacks.insert(0, stochastic_pruner(cfg, model, key.seed, per_weight_sparsity(model, cfg.target_sparsity)))
    if variant in ("dense", "norm"):
        reg, regularized, lam = "l2", list(model.prunable().values()), (lambda st: cfg.dense_weight_decay)
    else:
        # gamma (BN scale) and the next conv's weights can trade scale without changing the function; penalizing
        # both makes the penalty act on a whole channel (see the COVID chapter), so useless channels fade and die.
        reg = variant
        bn = (n.weight for n in model.norms.values()) if cfg.penalize_bn_scale else ()
        regularized = [*model.prunable().values(), *bn]
        lam = ramped(cfg, {"l2": cfg.lambda_l2, "l1": cfg.lambda_l1, "none": 0.0}[variant])
    state = fit(model, data.split(fold, "train"), epochs=cfg.epochs, batch_size=cfg.batch_size,
                optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                generator=torch.Generator().manual_seed(key.seed),
                penalty=lambda m, st: penalty(reg, regularized, lam(st)), callbacks=callbacks,
                checkpoint=ctx.checkpoint(key), desc=key.tag, progress=ctx.progress)
    model.eval()
    return Trained(model, tracker.rows, state.resumed_from_epoch, cfg.epochs)


def _row(cfg: UNetDSBConfig, model: UNet, small: nn.Module, scores: dict[str, dict[str, np.ndarray]],
         diff: float, split: str) -> dict[str, Any]:
    """A run's row: held-out metrics of the masked and shrunk nets, surgery proof, channels, sparsity, sizes."""
    shape = cfg.input_shape()
    prunable = list(model.prunable().values())
    row = {f"{split}_ap": float(scores["masked"]["ap"].mean()), f"{split}_dice": float(scores["masked"]["dice"].mean()),
           f"shrunk_{split}_ap": float(scores["shrunk"]["ap"].mean()),
           f"shrunk_{split}_dice": float(scores["shrunk"]["dice"].mean()), "max_abs_diff": diff,
           "channels_removed": node_summary(model)["all hidden"]["fraction_dead"],
           "weight_sparsity": sum(int((w == 0).sum()) for w in prunable) / sum(w.numel() for w in prunable),
           **count_params(model), "flops": count_flops(model, shape),
           **{f"shrunk_{k}": v for k, v in count_params(small).items()}, "shrunk_flops": count_flops(small, shape)}
    dead = dead_nodes(model)
    row.update({f"channels_removed[{k}]": float(d.float().mean()) for k, d in dead.items()})
    if model.batchnorm:
        # alive channels (a non-zero filter) whose BatchNorm scale is below SILENT, as a fraction of ALL channels:
        # removed + silenced is the share a criterion on gamma would also drop
        gamma = {k: model.norms[k.replace(".", "_")].weight.detach().abs() for k in dead}
        row["silenced_alive"] = (sum(int(((gamma[k] < SILENT) & ~d).sum()) for k, d in dead.items())
                                 / sum(d.numel() for d in dead.values()))
        alive = torch.cat([gamma[k][~d] for k, d in dead.items()])
        row["gamma_alive_median"] = float(alive.median()) if len(alive) else 0.0
    return row


def filter_norm_spread(dynamics: list[dict[str, Any]], epoch: int) -> float:
    """Mean over blocks of the coefficient of variation (sd / mean) of the alive filters' norms at ``epoch``, from
    the tracker's ``fan_in_norm`` rows: how unequal the filters of a block are when pruning picks among them (a
    sharp p(w) zeroes the smallest weights of a layer, so whole filters die where norms are unequal)."""
    norms = pd.DataFrame([r for r in dynamics if r["metric"] == "fan_in_norm" and r["epoch"] == epoch])
    if norms.empty:
        return float("nan")
    alive = norms[norms["value"] > 0].groupby("layer")["value"]
    return float((alive.std(ddof=0) / alive.mean()).mean())


class UNetExperiment(Experiment):
    """The runs of ``cfg.variants`` per fold and seed (see the module docstring). Every net shrunk and proved."""

    name = "unet_dsb2018"

    def shape(self, cfg: UNetDSBConfig) -> tuple[int, ...]:
        return cfg.input_shape()

    def load(self, cfg: UNetDSBConfig, device: torch.device, progress: bool) -> UNetData:
        data = load_dsb2018(cfg.data_root or None, image_size=cfg.image_size, max_images=cfg.max_images,
                            device=device)
        if cfg.folds:
            parts = fold_ids(data.ids, cfg.folds, cfg.val_fraction, cfg.split_seed)
        else:
            parts = [split_ids(data.ids, cfg.val_fraction, cfg.test_fraction, cfg.split_seed)]
        if not cfg.evaluate_test:  # a tuning run: the test ids are dropped before anything can read them
            parts = [{k: v for k, v in p.items() if k != "test"} for p in parts]
        counts = {f"{k}_images": len(v) for k, v in parts[0].items()}
        split = ({"by": "image id", "seed": cfg.split_seed, "folds": cfg.folds, **counts} if cfg.folds else
                 {"by": "image id", "seed": cfg.split_seed, **counts})
        return UNetData(data, parts, {**data.source, "split": split,
                                      "split_ids": parts if cfg.folds else parts[0]})

    def runs(self, cfg: UNetDSBConfig, data: UNetData) -> list[RunKey]:
        folds = list(range(cfg.folds)) if cfg.folds else [None]
        return [RunKey(v, s, f) for f in folds for s in cfg.seeds for v in cfg.variants]

    def train(self, cfg: UNetDSBConfig, data: UNetData, key: RunKey, ctx: Context) -> Trained:
        if key.variant == "norm-oneshot":  # no training: the finished dense net, cut at the chosen budget
            model = copy.deepcopy(ctx.models[_same_unit(key, "dense")])
            norm_baseline_mask(model, _budget(cfg, ctx, key), cfg.baseline_norm).apply_(model)
            return Trained(model)
        with seeded(key.seed):
            model = UNet(cfg.depth, cfg.base, batchnorm=cfg.batchnorm).to(ctx.device)
        return _train(cfg, model, data, key, ctx)

    def measure(self, cfg: UNetDSBConfig, data: UNetData, key: RunKey, trained: Trained,
                ctx: Context) -> Measured:
        """Shrink and prove on the held-out images (test; validation in a tuning run); per-block channel rows and
        the shrunk net's per-image scores."""
        split, fold, model = ("test" if cfg.evaluate_test else "val"), key.fold or 0, trained.model
        held, labels = data.split(fold, split), data.labels(fold, split)
        small = shrink(model).eval()
        scores = {"masked": segmentation_scores(predict_probs(model, held.x), labels),
                  "shrunk": segmentation_scores(predict_probs(small, held.x), labels)}
        with torch.no_grad():
            diff = max(float((model.eval()(x) - small(x)).abs().max()) for x, _ in held.batches(16))
        channels = [{"layer": k, "channels": v["nodes"], "kept": v["nodes"] - v["dead"]}
                    for k, v in node_summary(model).items() if k != "all hidden"]
        s = scores["shrunk"]
        images = [{"split": split, "image_id": i, "ap": a, "dice": d, "n_true": int(t), "n_pred": int(q)}
                  for i, a, d, t, q in zip(data.parts[fold][split], s["ap"], s["dice"], s["n_true"], s["n_pred"])]
        row = _row(cfg, model, small, scores, diff, split)
        if trained.dynamics:  # a trained run: how unequal its filters were one epoch in
            row["filter_norm_cv_epoch1"] = filter_norm_spread(trained.dynamics, 1)
        return Measured(row, small, {"channels": channels, "per_image": images})

    def summarize(self, cfg: UNetDSBConfig, data: UNetData, table: pd.DataFrame, ctx: Context) -> Summary:
        """Headline; targets only for a final run with dense and the chosen variant; the chosen variant's shrunk
        net of the first fold and seed saved, and timed against the dense net of that fold and seed."""
        first = RunKey(cfg.chosen, cfg.seeds[0], 0 if cfg.folds else None)
        chosen, dense = cfg.chosen in cfg.variants, "dense" in cfg.variants
        small = ctx.shrunk[first.id] if chosen else None
        timed = chosen and dense
        return Summary(headline(cfg, table), targets(cfg, table) if cfg.evaluate_test and timed else [],
                       save={f"shrunk_{first.tag}": small} if chosen else {},
                       latency={"dense": ctx.models[_same_unit(first, "dense")], "shrunk": small} if timed else {},
                       latency_note=f"median of 30 forward passes, dense vs shrunk {cfg.chosen} ({first.tag}), batch "
                                    f"sizes {list(cfg.latency_batches)}, {cfg.image_size}x{cfg.image_size} inputs"
                       if timed else "")


EXPERIMENT = UNetExperiment()


def run(cfg: UNetDSBConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)
