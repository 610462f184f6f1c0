"""Chapter "The methods side by side": the three papers' methods and four baselines on one harness per setting.

Settings: ``mlp`` takes the data, model, training budget (epochs, batch size, optimizer, learning-rate schedule)
and stochastic-pruning schedule of the MLP/MNIST chapter at ``cfg.mlp_profile``; ``vgg`` those of the
VGG-16/CIFAR-10 chapter at ``cfg.vgg_profile``. Per seed, every method starts from the same seeded
initialisation and trains for the same number of epochs; only its penalty and its pruning callback differ, and
each method's strength on each harness is a parameter (``<setting>_<name>``), chosen on validation data by the
probes of the paper profile (:mod:`pruninglib.experiments.compare_probes`):

* ``stochastic_l2`` / ``stochastic_l1``: our reconstruction of Ben-Guigui et al., as in the setting's chapter, with
  the harness's lambda;
* ``magnitude_l2``: the control of ``stochastic_l2``: the same L2, schedule and pruning frequency, but the
  smallest surviving weights are removed deterministically instead of drawn;
* ``relevance``: Bonetta et al.'s relevance-weighted decay with gated crops at the harness's fixed bound;
* ``guided``: the guided group penalty (our reconstruction of Sandu & Rafid, linear guidance), proximal;
* ``group_lasso``: group lasso on the nodes' fan-in (Wen et al.), proximal, so dead units are exact zeros;
* ``magnitude``: Han et al.'s prune-and-retrain, by magnitude after each epoch of the chapter's ramp to the
  chapter's per-layer target sparsities (times the harness's scale), then retraining with the mask kept;
* ``slimming``: Liu et al. (BatchNorm only, so ``vgg``): L1 on the BatchNorm scales, then the ``slimming_fraction``
  of filters with the smallest |gamma| removed, then fine-tuning, within the same total epochs.

Every net is shrunk by surgery and proved equal to the masked net; in a final run (``evaluate_test``) its CPU
latency is measured with all nets of its setting interleaved. A probe run (``evaluate_test`` false) reads the
validation split only. Writes ``summary.csv`` (a row per setting, method and seed), ``methods.csv`` (mean and 95%
CI per setting and method) and ``results.json``; every run is checkpointed after each epoch.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from pruninglib.config import ComparisonConfig, MLPMnistConfig, VGGCifarConfig
from pruninglib.data import Dataset, Split, load_mnist
from pruninglib.experiments import mlp_mnist, vgg_cifar10
from pruninglib.experiments.common import (held_out, latencies, seeded, shrink_and_prove, stochastic_pruner,
                                           without_test)
from pruninglib.experiments.compare_summary import METHOD_INFO, headline, summarize, targets
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.methods import make_penalty, make_pruner
from pruninglib.metrics import evaluate
from pruninglib.models import MLP
from pruninglib.pruning import cubic_ramp, node_summary, prune_bn_scale, remove_filters_
from pruninglib.regularizers import bn_scale_l1
from pruninglib.training import FitState, KeepMask, fit, make_optimizer

Penalty = Callable[[nn.Module, FitState], torch.Tensor]
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: both chapters' smoke profiles, seconds
    "quick": {"profile": "quick", "mlp_profile": "quick", "vgg_profile": "smoke"},
    "medium": {"profile": "medium", "mlp_profile": "medium", "vgg_profile": "smoke"},
    # MLP/MNIST at its paper profile, 3 seeds; each method's strength as its probes chose it (compare_probes, the
    # records under book/records/comparison/paper; the chapter asserts they agree). The VGG setting is not in it:
    # at the CPU-sized medium profile it cannot test anything (a dense net of about 60%), and its probes would cost
    # hours of this machine.
    "paper": {"profile": "paper", "seeds": [0, 1, 2], "settings": ["mlp"], "mlp_profile": "paper",
              "probe_grids": "grids/comparison/paper", "mlp_lambda_l2": 0.01, "mlp_lambda_l1": 2e-4,
              "mlp_relevance_gamma0": 1e-4, "mlp_guided_lambda": 0.04, "mlp_group_lambda": 0.02,
              "mlp_magnitude_scale": 1.0},
}


@dataclass
class Harness:
    """One setting: its chapter's config, data, model factory and penalties (``penalty(variant)``: 'dense' is the
    harness's weight decay, 'l2' / 'l1' the chapter's stochastic-pruning regularizers)."""

    setting: str
    cfg: Any  # MLPMnistConfig or VGGCifarConfig
    data: Dataset
    train: Split
    input_shape: tuple[int, ...]
    new_model: Callable[[int], nn.Module]
    penalty: Callable[[str], Penalty]

    @property
    def autocast(self) -> torch.dtype | None:
        gpu = self.data.train.x.device.type == "cuda"
        return torch.bfloat16 if getattr(self.cfg, "amp", False) and gpu else None


@dataclass
class Harnesses:
    """The comparison's data: one harness per setting, and the merged data-source record of the run card."""

    harnesses: dict[str, Harness]
    source: dict[str, Any]


def chapter_config(cfg: ComparisonConfig, setting: str) -> MLPMnistConfig | VGGCifarConfig:
    """The setting's chapter config at its profile, with this chapter's data root, device and the harness's L2 and
    L1 coefficients."""
    cls, profiles, profile = ((MLPMnistConfig, mlp_mnist.PROFILES, cfg.mlp_profile) if setting == "mlp" else
                              (VGGCifarConfig, vgg_cifar10.PROFILES, cfg.vgg_profile))
    return cls.from_mapping({**cls().to_dict(), **profiles[profile], "data_root": cfg.data_root,
                             "device": cfg.device, "lambda_l2": getattr(cfg, f"{setting}_lambda_l2"),
                             "lambda_l1": getattr(cfg, f"{setting}_lambda_l1")})


def make_harness(cfg: ComparisonConfig, setting: str, device: torch.device, progress: bool) -> Harness:
    """Load the setting's data and wire its chapter's model and penalties."""
    c = chapter_config(cfg, setting)
    if isinstance(c, MLPMnistConfig):
        data = without_test(cfg, load_mnist(c.data_root or None, val_size=c.val_size, train_subset=c.train_subset,
                                            device=device))

        def new_mlp(seed: int) -> nn.Module:
            with seeded(seed):
                return MLP(c.widths).to(device)
        return Harness("mlp", c, data, data.train, mlp_mnist.INPUT_SHAPE, new_mlp,
                       partial(mlp_mnist.method_penalty, c))
    data, train = vgg_cifar10.load_data(c, device, progress)
    data = without_test(cfg, data)
    return Harness("vgg", c, data, train, vgg_cifar10.INPUT_SHAPE,
                   lambda seed: vgg_cifar10.new_model(c, seed, device),
                   partial(vgg_cifar10.method_penalty, c))


def magnitude_schedule(c: Any, model: nn.Module, epochs: int, scale: float) -> dict[int, dict[str, float]]:
    """Han et al.'s iterative schedule on the chapter's ramp: after every epoch up to ``ramp_end``, each weight's
    sparsity follows the cubic ramp to ``scale`` times its ``target_sparsity``; the remaining epochs retrain with
    the mask."""
    names = list(model.prunable())  # type: ignore[operator]
    out = {}
    for e in range(1, epochs + 1):
        p = min(e / epochs, c.ramp_end)
        out[e] = {k: cubic_ramp(p, scale * f, c.ramp_start, c.ramp_end) for k, f in zip(names, c.target_sparsity)}
        if e / epochs >= c.ramp_end:
            break
    return out


def _fit(h: Harness, model: nn.Module, seed: int, epochs: int, lr: float, penalty: Penalty | None,
         callbacks: list[Any], checkpoint: str, desc: str, progress: bool) -> None:
    fit(model, h.train, epochs=epochs, batch_size=h.cfg.batch_size,
        optimizer=make_optimizer(h.cfg.optimizer, model.parameters(), lr),
        generator=torch.Generator().manual_seed(seed), penalty=penalty, callbacks=callbacks,
        checkpoint=checkpoint, desc=desc, progress=progress, autocast=h.autocast)


def train_method(cfg: ComparisonConfig, h: Harness, method: str, seed: int, checkpoint: str,
                 progress: bool) -> nn.Module:
    """Train ``method`` on harness ``h`` from seed ``seed``'s initialisation; returns the trained (masked) net."""
    c, model = h.cfg, h.new_model(seed)
    base = h.penalty("dense")
    penalty: Penalty | None = base
    callbacks: list[Any] = []
    desc = f"{h.setting} {method} seed {seed}"
    strength = partial(getattr, cfg)  # strength("mlp_lambda_l2") etc.
    if method.startswith("stochastic_"):
        penalty, callbacks = h.penalty(method.removeprefix("stochastic_")), [stochastic_pruner(c, model, seed)]
    elif method == "magnitude_l2":
        control = dataclasses.replace(c, prune_form="magnitude")
        penalty, callbacks = h.penalty("l2"), [stochastic_pruner(control, model, seed)]
    elif method == "relevance":
        decay = make_penalty("relevance", model, gamma0=strength(f"{h.setting}_relevance_gamma0"),
                             alpha=cfg.relevance_alpha, period=math.ceil(len(h.train) / c.batch_size))
        gate = make_pruner("gated_crop", model, gate=h.data.val, bound=strength(f"{h.setting}_relevance_bound"),
                           tau=cfg.relevance_tau, eval_every=cfg.relevance_eval_every, on_crop=decay.reset)
        penalty, callbacks = (lambda m, st: base(m, st) + decay(m, st)), [gate, decay]
    elif method in ("guided", "group_lasso"):
        lam = strength(f"{h.setting}_{'guided' if method == 'guided' else 'group'}_lambda")
        callbacks = [make_pruner("group_prox", model, lam=lam,
                                 guidance="linear" if method == "guided" else "uniform")]
    elif method == "magnitude":
        schedule = magnitude_schedule(c, model, c.epochs, strength(f"{h.setting}_magnitude_scale"))
        callbacks = [make_pruner("magnitude", model, schedule=schedule)]
    elif method == "slimming":
        return _slimming(cfg, h, model, seed, base, checkpoint, desc, progress)
    elif method != "dense":
        raise ValueError(f"method = {method!r} is not allowed: one of {', '.join(METHOD_INFO)}")
    _fit(h, model, seed, c.epochs, c.lr, penalty, callbacks, checkpoint, desc, progress)
    return model.eval()


def _slimming(cfg: ComparisonConfig, h: Harness, model: nn.Module, seed: int, base: Penalty, checkpoint: str,
              desc: str, progress: bool) -> nn.Module:
    """Liu et al. within the budget: L1 on the BatchNorm scales, remove ``slimming_fraction`` of the filters by one
    global |gamma| threshold (zeroing filter and gamma), fine-tune the rest of the epochs with the mask kept."""
    c = h.cfg
    tune = round(cfg.finetune_fraction * c.epochs)
    _fit(h, model, seed, c.epochs - tune, c.lr, lambda m, st: base(m, st) + bn_scale_l1(m, cfg.slimming_lambda),
         [], checkpoint, desc, progress)
    sizes = [v["nodes"] for k, v in node_summary(model).items() if k != "all hidden"]
    total = min(round(cfg.slimming_fraction * sum(sizes)), sum(sizes) - len(sizes))
    mask = remove_filters_(model, prune_bn_scale(model, total), zero_bn_scale=True)
    if tune:
        _fit(h, model, seed, tune, c.finetune_lr, base, [KeepMask(mask)], checkpoint.replace(".pt", "-finetune.pt"),
             f"{desc} fine-tuning", progress)
    return model.eval()


def merge_sources(sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One data-source record for the run card from the settings' records (files, checksums, splits)."""
    return {"dataset": " and ".join(s["dataset"] for s in sources.values()),
            "verified_files": [f for s in sources.values() for f in s["verified_files"]],
            "obtained": "; ".join(s["obtained"] for s in sources.values()),
            "split": {f"{k} {n}": v for k, s in sources.items() for n, v in s.get("split", {}).items()},
            "settings": sources}


def methods_for(cfg: ComparisonConfig, setting: str) -> list[str]:
    """The methods of ``cfg.methods`` that apply to ``setting`` (slimming needs BatchNorm scales: vgg only)."""
    return [m for m in cfg.methods if not (m == "slimming" and setting == "mlp")]


class ComparisonExperiment(Experiment):
    """Per setting, per seed, every method that applies, from the same seeded initialisation; every net shrunk and
    proved; the shrunk nets of a setting timed together at the end."""

    name = "comparison"

    def load(self, cfg: ComparisonConfig, device: torch.device, progress: bool) -> Harnesses:
        harnesses = {s: make_harness(cfg, s, device, progress) for s in cfg.settings}
        return Harnesses(harnesses, merge_sources({s: h.data.source for s, h in harnesses.items()}))

    def runs(self, cfg: ComparisonConfig, data: Harnesses) -> list[RunKey]:
        return [RunKey(m, s, setting=setting) for setting in cfg.settings for s in cfg.seeds
                for m in methods_for(cfg, setting)]

    def train(self, cfg: ComparisonConfig, data: Harnesses, key: RunKey, ctx: Context) -> Trained:
        """``key.variant`` is the method."""
        h = data.harnesses[str(key.setting)]
        return Trained(train_method(cfg, h, key.variant, key.seed, ctx.checkpoint(key), ctx.progress))

    def measure(self, cfg: ComparisonConfig, data: Harnesses, key: RunKey, trained: Trained,
                ctx: Context) -> Measured:
        """On the held-out split (test; validation in a probe run): masked and shrunk accuracy after proving them
        equal, nodes removed, weight sparsity, sizes; and the validation accuracy."""
        h, model = data.harnesses[str(key.setting)], trained.model
        split, held = held_out(cfg, h.data)
        small, report = shrink_and_prove(model, held, h.input_shape)
        m, s, nodes = report["masked"], report["shrunk"], report["nodes"]
        return Measured({"val_accuracy": evaluate(model, h.data.val)["accuracy"], f"{split}_accuracy": m["accuracy"],
                         f"shrunk_{split}_accuracy": s["accuracy"],
                         "nodes_removed": nodes["all hidden"]["fraction_dead"],
                         "weight_sparsity": 1.0 - m["nonzero_params"] / m["params"], "params": m["params"],
                         "shrunk_params": s["params"], "flops": m["flops"], "shrunk_flops": s["flops"],
                         "max_abs_diff": report["max_abs_diff"]}, small)

    def summarize(self, cfg: ComparisonConfig, data: Harnesses, table: pd.DataFrame, ctx: Context) -> Summary:
        """A final run: time every shrunk net of a setting in one interleaved pass (machine noise hits them alike),
        then the mean and 95% CI per setting and method, the winner analysis and the targets. A probe run
        (no test split, or no dense reference): its rows only, for the probes' selection."""
        if not cfg.evaluate_test or "dense" not in cfg.methods:
            return Summary({"split": "val" if not cfg.evaluate_test else "test", "probe": True}, [])
        runs = table.copy()
        for setting, h in data.harnesses.items():
            nets = {key: copy.deepcopy(m).cpu().float().eval() for key, m in ctx.shrunk.items() if key[0] == setting}
            lat = latencies({"|".join(map(str, k)): m for k, m in nets.items()}, h.input_shape, cfg.latency_batches)
            for i, r in runs[runs["setting"] == setting].iterrows():
                for b, v in lat[f"{setting}|{r['variant']}|{r['seed']}"].items():
                    runs.loc[i, f"latency_ms[{b}]"] = v
        summary = summarize(runs)
        note = (f"median of 30 CPU forward passes of each shrunk net at batch sizes {list(cfg.latency_batches)}, "
                f"{torch.get_num_threads()} torch threads, all nets of a setting interleaved")
        head = {"split": "test", "harness_parameters": {s: h.cfg.to_dict() for s, h in data.harnesses.items()},
                **headline(cfg, summary, runs)}
        return Summary(head, targets(runs, summary), tables={"methods": summary}, latency_note=note, runs=runs)


EXPERIMENT = ComparisonExperiment()


def run(cfg: ComparisonConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)
