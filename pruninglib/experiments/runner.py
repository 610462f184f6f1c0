"""The one chapter runner: the steps every chapter shares, and the hooks each chapter fills in.

A chapter is an :class:`Experiment` with five small hooks: ``load`` (its data), ``runs`` (the list of
:class:`RunKey`, one per trained network), ``train`` (one run, checkpointed through :meth:`Context.checkpoint`),
``measure`` (one run's row of metrics, usually after shrink-and-prove) and ``summarize`` (headline, typed targets,
extra tables, what to save and time). :func:`run_experiment` owns everything else, in this order: device, data,
the run loop with resume bookkeeping, the tables, the saved models, the latency measurement and ``results.json``,
written atomically and last, so its presence means the experiment finished.

Every chapter's ``results.json`` has one layout (schema ``pruninglib-results/1``):

========================  ==========================================================================================
key                       content
========================  ==========================================================================================
schema                    ``"pruninglib-results/1"``
chapter, profile          the chapter's name and the profile the parameters came from
parameters, seeds         the full validated config, and its seeds
hardware, software, git   where and with what it ran (:mod:`pruninglib.tracking.provenance`)
data_source               the data set, its files and what was verified, and the split
started_utc, wall_time_s  when it started and how long the experiment took
runs                      one flat row per trained run: ``variant``, ``seed`` (``fold``, ``setting`` where they
                          apply) and numbers, the rows of ``summary.csv``
targets                   typed target records (:class:`~pruninglib.experiments.targets.Target`): name, metric,
                          per-seed values, n, mean, 95% interval, bound, direction, verdict
headline                  the chapter's own summary numbers (free form)
latency_ms, latency_note  median forward latency per model and batch size, and what was timed
resumed_runs              runs continued from a checkpoint of an interrupted command, and from which epoch
models, files             paths of the saved shrunk models and of the tables
========================  ==========================================================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from pruninglib._io import write_json
from pruninglib.data import pick_device
from pruninglib.experiments.common import RunRecord, checkpoint_dir, latencies, out_path, timer, write_tables
from pruninglib.experiments.targets import Target
from pruninglib.models import save_model

SCHEMA = "pruninglib-results/1"
BIG_TABLE = 10_000  # tables with more rows are written gzipped (e.g. the theory chapter's tracked units)


@dataclass(frozen=True)
class RunKey:
    """Who a trained run is: its variant (or method), seed, and, where they apply, fold and setting."""

    variant: str
    seed: int
    fold: int | None = None
    setting: str | None = None

    @property
    def id(self) -> tuple[Any, ...]:
        """The key of ``models``/``shrunk``: (variant, seed), (variant, fold, seed) or (setting, variant, seed)."""
        return tuple(x for x in (self.setting, self.variant, self.fold, self.seed) if x is not None)

    @property
    def label(self) -> dict[str, Any]:
        """The identity columns of this run's rows."""
        out: dict[str, Any] = {} if self.setting is None else {"setting": self.setting}
        out["variant"] = self.variant
        if self.fold is not None:
            out["fold"] = self.fold
        return {**out, "seed": self.seed}

    @property
    def tag(self) -> str:
        """A file-name-safe name, e.g. ``dense-fold0-seed1`` (checkpoints)."""
        parts = [self.setting, self.variant, None if self.fold is None else f"fold{self.fold}", f"seed{self.seed}"]
        return "-".join(str(p).replace(" ", "-") for p in parts if p is not None)


@dataclass
class Trained:
    """What ``train`` returns: the trained (masked) net, its tidy dynamics rows, the epoch a checkpoint was
    resumed at (None: trained afresh) and how many epochs it has, and per-run rows of extra tables."""

    model: nn.Module
    dynamics: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int | None = None
    epochs: int = 0
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Measured:
    """What ``measure`` returns: the run's metrics (its row of ``runs``), the shrunk net (None if not shrunk) and
    per-run rows of extra tables (the runner adds the run's identity columns to every row)."""

    row: dict[str, Any]
    shrunk: nn.Module | None = None
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Summary:
    """What ``summarize`` returns: the headline, the typed targets, extra tables, the shrunk models to save
    (file stem -> net), the nets to time (name -> net) with a note, and, when it adds columns to it, the runs
    table."""

    headline: dict[str, Any]
    targets: list[Target]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    save: dict[str, nn.Module] = field(default_factory=dict)
    latency: dict[str, nn.Module] = field(default_factory=dict)
    latency_note: str = ""
    runs: pd.DataFrame | None = None  # the runs table with columns added here (e.g. latencies timed together)


@dataclass
class Context:
    """The run loop's state, passed to the hooks: config, device, checkpoint folder, progress switch, and every
    finished run's nets, rows, dynamics rows and extra table rows so far (a baseline may start from the dense run
    of the same seed; ``summarize`` may build its tables from them)."""

    cfg: Any
    device: torch.device
    checkpoints: Path
    progress: bool
    models: dict[tuple[Any, ...], nn.Module] = field(default_factory=dict)
    shrunk: dict[tuple[Any, ...], nn.Module] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    dynamics: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def checkpoint(self, key: RunKey, suffix: str = "") -> str:
        """The checkpoint path of ``key`` (``suffix`` for a second training stage of the same run)."""
        return str(self.checkpoints / f"{key.tag}{suffix}.pt")


class Experiment:
    """A chapter's hooks (see the module docstring). ``name`` and ``input_shape`` are class attributes or
    properties; ``input_shape`` may depend on the config through :meth:`shape`."""

    name: str = ""
    input_shape: tuple[int, ...] = ()

    def shape(self, cfg: Any) -> tuple[int, ...]:
        return self.input_shape

    def seeds(self, cfg: Any) -> list[int]:
        """The seeds the run card lists."""
        return list(cfg.seeds)

    def load(self, cfg: Any, device: torch.device, progress: bool) -> Any:
        """The chapter's data, an object with a ``source`` dict (the run card's data block)."""
        raise NotImplementedError

    def runs(self, cfg: Any, data: Any) -> Sequence[RunKey]:
        raise NotImplementedError

    def train(self, cfg: Any, data: Any, key: RunKey, ctx: Context) -> Trained:
        raise NotImplementedError

    def measure(self, cfg: Any, data: Any, key: RunKey, trained: Trained, ctx: Context) -> Measured:
        raise NotImplementedError

    def summarize(self, cfg: Any, data: Any, table: pd.DataFrame, ctx: Context) -> Summary:
        raise NotImplementedError


@dataclass
class ChapterResult:
    """What a chapter's notebook shows: the results.json record, the runs table, the tidy dynamics, the extra
    tables by name, the nets by :attr:`RunKey.id`, and the data."""

    results: dict[str, Any]
    summary: pd.DataFrame
    dynamics: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    models: dict[tuple[Any, ...], nn.Module]
    shrunk: dict[tuple[Any, ...], nn.Module]
    data: Any


def run_experiment(exp: Experiment, cfg: Any, progress: bool = True) -> ChapterResult:
    """Run ``exp`` with ``cfg``: train and measure every run (resuming finished epochs from checkpoints), then
    summarize, save, time and write ``results.json`` into ``cfg.out_dir`` (see the module docstring)."""
    from pruninglib.tracking import to_frame

    clock = timer()
    device = pick_device(cfg.device)
    data = exp.load(cfg, device, progress)
    record = RunRecord(exp.name, cfg.profile, cfg.to_dict(), exp.seeds(cfg), device, data.source)
    ctx = Context(cfg, device, checkpoint_dir(cfg), progress)
    resumed: list[dict[str, Any]] = []
    for key in tqdm(exp.runs(cfg, data), desc="runs", disable=not progress):
        train_clock = timer()
        trained = exp.train(cfg, data, key, ctx)
        train_s = round(train_clock(), 2)  # short when resumed from a finished checkpoint
        ctx.models[key.id] = trained.model
        ctx.dynamics += trained.dynamics
        if trained.resumed_from is not None:
            resumed.append({**key.label, "from_epoch": trained.resumed_from, "epochs": trained.epochs})
        measured = exp.measure(cfg, data, key, trained, ctx)
        if measured.shrunk is not None:
            ctx.shrunk[key.id] = measured.shrunk
        ctx.rows.append({**key.label, **measured.row, "train_s": train_s})
        for name, rows in (*trained.tables.items(), *measured.tables.items()):
            ctx.tables.setdefault(name, []).extend({**key.label, **r} for r in rows)
    table = pd.DataFrame(ctx.rows)
    summary = exp.summarize(cfg, data, table, ctx)
    table = summary.runs if summary.runs is not None else table
    tables = {**{k: pd.DataFrame(v) for k, v in ctx.tables.items()}, **summary.tables}
    frames = {"summary.csv": table, **{f"{k}.csv{'.gz' if len(v) > BIG_TABLE else ''}": v for k, v in tables.items()}}
    dyn = to_frame(ctx.dynamics) if ctx.dynamics else pd.DataFrame()
    if ctx.dynamics:
        frames["dynamics.csv.gz"] = dyn
    models = [save_model(m, str(out_path(cfg.out_dir, "models", f"{stem}.pt"))) for stem, m in summary.save.items()]
    files = write_tables(cfg.out_dir, frames)
    lat = latencies(summary.latency, exp.shape(cfg), cfg.latency_batches) if summary.latency else {}
    results = {"schema": SCHEMA, **record.to_dict(clock()), "runs": table.to_dict(orient="records"),
               "targets": [t.to_dict() for t in summary.targets], "headline": summary.headline,
               "latency_ms": lat, "latency_note": summary.latency_note, "resumed_runs": resumed, "models": models,
               "files": files}
    write_json(out_path(cfg.out_dir, "results.json"), results)
    return ChapterResult(results, table, dyn, tables, ctx.models, ctx.shrunk, data)
