"""Chapter "Relevance-weighted decay on LeNet-5": Bonetta et al.'s protocol on MNIST with a real validation split.

Runs: ('dense', s) for s in ``cfg.dense_seeds`` (the same training without penalty and crops: our dense
reference), then, for s in ``cfg.seeds``, ('relevance', s): LeNet-5 trained with Adam and the relevance-weighted
decay (two backward passes per step), every ``eval_every`` steps the validation accuracy gating a crop of ``tau`` of
the remaining weights; and ('crop_only', s): the same gated crops with ``gamma0`` = 0, i.e. without the decay (the
ablation that isolates the decay; same initial weights and batch order as the relevance run of its seed). Each
cropped net is shrunk and proved. Through the shared runner it writes ``results.json``, ``crops.csv`` (one row per
gate evaluation), ``summary.csv`` and the shrunk relevance nets into ``cfg.out_dir``; every run is checkpointed
after each epoch, so an interrupted command resumes.

With ``cfg.evaluate_test`` False (tuning and timing runs) the test split is never read: every metric is measured
on the validation split (columns ``val_accuracy``, ``shrunk_val_accuracy``), the gate reports nothing else, and
there are no targets.
"""
from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import torch
from torch import nn

from pruninglib.config import RelevanceLeNetConfig
from pruninglib.data import Dataset, load_mnist
from pruninglib.data.tensors import Split
from pruninglib.experiments.common import held_out, model_metrics, seeded, shrink_and_prove, without_test
from pruninglib.experiments.relevance_summary import (AUTHORS_DENSE, CROPPED, after_each_crop, crop_table,
                                                      epochs_that_fit, findings, formula_gaps, headline, targets,
                                                      timing)
from pruninglib.experiments.runner import (ChapterResult, Context, Experiment, Measured, RunKey, Summary, Trained,
                                           run_experiment)
from pruninglib.methods import make_penalty, make_pruner
from pruninglib.metrics import evaluate
from pruninglib.models import LeNet5
from pruninglib.training import fit, make_optimizer

__all__ = ["AUTHORS_DENSE", "CROPPED", "EXPERIMENT", "PROFILES", "after_each_crop", "crop_table", "epochs_that_fit",
           "findings", "formula_gaps", "run", "split_name", "timing"]

INPUT_SHAPE = (1, 28, 28)
# paper: the authors' bound B and gate interval (250 batches), 3 seeds of every arm; 5 epochs is what fits 30 minutes
# of one CPU core (epochs_that_fit of book/records/relevance_lenet5/timing.json); the authors train 120.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {},  # the config defaults: 1,000 images, a low bound so that crops happen within seconds
    "quick": {"profile": "quick", "seeds": [0], "dense_seeds": [0], "epochs": 1, "train_subset": 0,
              "val_size": 5000, "test_size": 0, "bound": 0.98, "eval_every": 50},
    "paper": {"profile": "paper", "seeds": [0, 1, 2], "dense_seeds": [0, 1, 2], "epochs": 5, "train_subset": 0,
              "val_size": 5000, "test_size": 0, "bound": 0.98, "eval_every": 250},
}


def split_name(cfg: RelevanceLeNetConfig) -> str:
    """The split every reported metric is measured on: 'test' for a final run, 'val' when ``evaluate_test`` is
    False."""
    return "test" if cfg.evaluate_test else "val"


class RelevanceExperiment(Experiment):
    """Dense reference runs, then per seed a relevance-weighted and a crop-only gated run, each shrunk and proved."""

    name, input_shape = "relevance_lenet5", INPUT_SHAPE

    def seeds(self, cfg: RelevanceLeNetConfig) -> list[int]:
        """Every seed a run used: the cropped runs' seeds and the dense ones."""
        return sorted({*cfg.seeds, *cfg.dense_seeds})

    def load(self, cfg: RelevanceLeNetConfig, device: torch.device, progress: bool) -> Dataset:
        """MNIST with a validation split for the gate; the test split cut to ``test_size`` images when set, and
        dropped (untouched) when ``evaluate_test`` is False."""
        data = load_mnist(cfg.data_root or None, val_size=cfg.val_size, train_subset=cfg.train_subset,
                          device=device)
        if cfg.test_size and cfg.evaluate_test:
            data.test = Split(data.test.x[:cfg.test_size], data.test.y[:cfg.test_size])
            data.source["split"]["test_size"] = cfg.test_size  # type: ignore[index]
        return without_test(cfg, data)

    def runs(self, cfg: RelevanceLeNetConfig, data: Dataset) -> list[RunKey]:
        return [RunKey("dense", s) for s in cfg.dense_seeds] + [RunKey(v, s) for s in cfg.seeds for v in CROPPED]

    def train(self, cfg: RelevanceLeNetConfig, data: Dataset, key: RunKey, ctx: Context) -> Trained:
        """One run; a cropped run's gate evaluations are its ``crops`` rows. The crop-only run uses the same penalty
        object with gamma0 = 0 (its penalty is exactly zero, so the decay is the only difference). The ``timing``
        row holds the CPU seconds of training and the epochs they covered (fewer after a resume): with one torch
        thread this is what an unloaded core would need, however busy the machine was."""
        with seeded(key.seed):
            model = LeNet5().to(ctx.device)
        callbacks: list[Any] = []
        penalty = None
        if key.variant in CROPPED:
            period = math.ceil(len(data.train) / cfg.batch_size)  # gamma decays over one epoch of steps
            gamma0 = cfg.gamma0 if key.variant == "relevance" else 0.0
            penalty = make_penalty("relevance", model, gamma0=gamma0, alpha=cfg.alpha, period=period)
            report = {"test": data.test} if cfg.evaluate_test else {}
            callbacks = [make_pruner("gated_crop", model, gate=data.val, report=report, bound=cfg.bound,
                                     tau=cfg.tau, eval_every=cfg.eval_every, on_crop=penalty.reset), penalty]
        cpu = time.process_time()
        state = fit(model, data.train, epochs=cfg.epochs, batch_size=cfg.batch_size,
                    optimizer=make_optimizer(cfg.optimizer, model.parameters(), cfg.lr),
                    generator=torch.Generator().manual_seed(key.seed), penalty=penalty, callbacks=callbacks,
                    checkpoint=ctx.checkpoint(key), desc=f"{key.variant} seed {key.seed}", progress=ctx.progress,
                    lr_schedule="constant")
        timing = {"train_cpu_s": round(time.process_time() - cpu, 2),
                  "epochs_trained": cfg.epochs - (state.resumed_from_epoch or 0)}
        tables = {"timing": [timing], **({"crops": list(callbacks[0].rows)} if callbacks else {})}
        return Trained(model, [], state.resumed_from_epoch, cfg.epochs, tables)

    def measure(self, cfg: RelevanceLeNetConfig, data: Dataset, key: RunKey, trained: Trained,
                ctx: Context) -> Measured:
        """Accuracies (validation, and test for a final run), parameters, sparsity and crops; a cropped net is
        shrunk and compared with the masked one on the same split."""
        model, (split, on) = trained.model, held_out(cfg, data)
        m = model_metrics(model, on, INPUT_SHAPE)
        row = {"val_accuracy": m["accuracy"] if split == "val" else evaluate(model, data.val)["accuracy"],
               f"{split}_accuracy": m["accuracy"], "params": m["params"], "nonzero_params": m["nonzero_params"],
               **_sparsity(model), "crops": sum(r["cropped"] for r in trained.tables.get("crops", [])),
               **trained.tables["timing"][0]}
        if key.variant not in CROPPED:
            return Measured(row)
        small, report = shrink_and_prove(model, on, INPUT_SHAPE)
        row.update({f"shrunk_{split}_accuracy": report["shrunk"]["accuracy"],
                    "shrunk_params": report["shrunk"]["params"], "shrunk_flops": report["shrunk"]["flops"],
                    "flops": m["flops"],
                    "max_abs_diff": report["max_abs_diff"],
                    "nodes_removed": report["nodes"]["all hidden"]["fraction_dead"]})
        return Measured(row, small)

    def summarize(self, cfg: RelevanceLeNetConfig, data: Dataset, table: pd.DataFrame, ctx: Context) -> Summary:
        s0, split = cfg.seeds[0], split_name(cfg)
        ck = after_each_crop(pd.DataFrame(ctx.tables["crops"]))
        return Summary(headline(table, ck, split), targets(cfg, table, ck) if cfg.evaluate_test else [],
                       save={f"shrunk_relevance_seed{s}": ctx.shrunk[("relevance", s)] for s in cfg.seeds},
                       latency={"dense": ctx.models[("relevance", s0)], "shrunk": ctx.shrunk[("relevance", s0)]},
                       latency_note=f"median of 30 forward passes, masked vs shrunk relevance net of seed {s0}")


EXPERIMENT = RelevanceExperiment()


def run(cfg: RelevanceLeNetConfig, progress: bool = True) -> ChapterResult:
    """Run the chapter's experiment (see module docstring)."""
    return run_experiment(EXPERIMENT, cfg, progress)


def _sparsity(model: nn.Module) -> dict[str, float]:
    """Overall and per-layer weight sparsity of the prunable weights."""
    weights = model.prunable()  # type: ignore[operator]
    zero = {k: int((w == 0).sum()) for k, w in weights.items()}
    total = sum(w.numel() for w in weights.values())
    return {"weight_sparsity": sum(zero.values()) / total,
            **{f"sparsity[{k.removesuffix('.weight')}]": zero[k] / w.numel() for k, w in weights.items()}}
