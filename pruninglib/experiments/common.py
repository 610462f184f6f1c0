"""Pieces every chapter's experiment shares: seeding, the run record, shrinking with proof, latency."""
from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pandas as pd
import torch
from torch import nn

from pruninglib._io import atomic_path
from pruninglib.data.tensors import Dataset, Split
from pruninglib.metrics import count_flops, count_params, evaluate, latency
from pruninglib.pruning.nodes import node_summary
from pruninglib.surgery import shrink
from pruninglib.training import FitState, StochasticPruning
from pruninglib.tracking.provenance import git_commit, hardware, software


def held_out(cfg: Any, data: Dataset) -> tuple[str, Split]:
    """The split a run's final metrics are measured on, and its name: the test split of a final run; the validation
    split of a tuning or study run (``cfg.evaluate_test`` False), which never reads the test split."""
    if not cfg.evaluate_test:
        return "val", data.val
    if data.test is None:
        raise ValueError("evaluate_test is true, but the data were loaded without their test split")
    return "test", data.test


def without_test(cfg: Any, data: Dataset) -> Dataset:
    """``data`` itself for a final run; a copy without its test split for a tuning or study run
    (``cfg.evaluate_test`` False), so that any use of it fails loudly."""
    return data if cfg.evaluate_test else dataclasses.replace(data, test=None)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global RNG inside the block only (module initialisers use it); outer state is restored."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass
class RunRecord:
    """The provenance block of results.json and of the run card."""

    chapter: str
    profile: str
    parameters: dict[str, Any]
    seeds: list[int]
    device: torch.device
    data_source: dict[str, Any]
    started: float = field(default_factory=time.time)

    def to_dict(self, wall_time_s: float) -> dict[str, Any]:
        return {"chapter": self.chapter, "profile": self.profile, "parameters": self.parameters,
                "seeds": self.seeds, "hardware": hardware(self.device), "software": software(),
                "torch_version": torch.__version__, "data_source": self.data_source, "git": git_commit(),
                "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "wall_time_s": round(wall_time_s, 1)}


def stochastic_pruner(cfg: Any, model: nn.Module, seed: int,
                      final: Sequence[float] | None = None) -> StochasticPruning:
    """Ben-Guigui et al.'s stochastic pruning callback from a chapter config's ``target_sparsity`` (or ``final``,
    one value per prunable weight) times ``sparsity_scale``, and its ``ramp_*`` and ``prune_*`` fields; its
    Bernoulli draws come from a generator seeded ``10_000 + seed`` on the model's device, so a run's masks depend
    only on its seed."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(10_000 + seed)
    targets = [cfg.sparsity_scale * t for t in (final if final is not None else cfg.target_sparsity)]
    return StochasticPruning(model, targets, start=cfg.ramp_start,
                             end=cfg.ramp_end, form=cfg.prune_form, scale=cfg.prune_scale, factor=cfg.prune_factor,
                             every=cfg.prune_every, generator=gen)


def ramped(cfg: Any, lam: float) -> Callable[[FitState], float]:
    """The regularizer coefficient over training: ``lam`` until ``cfg.ramp_end``, then ``lam * cfg.reg_after_ramp``
    (the mask is frozen then, and a weaker penalty lets the survivors recover)."""
    return lambda st: lam if st.progress <= cfg.ramp_end else lam * cfg.reg_after_ramp


def model_metrics(model: nn.Module, split: Split, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Accuracy, loss, parameters (total, non-zero) and FLOPs of ``model`` on ``split``."""
    return {**evaluate(model, split), **count_params(model), "flops": count_flops(model, input_shape)}


def shrink_and_prove(model: nn.Module, split: Split, input_shape: tuple[int, ...]) -> tuple[nn.Module,
                                                                                             dict[str, Any]]:
    """Physically remove dead nodes and measure the shrunk net next to the masked one on ``split`` (the test split
    of a final run, the validation split of a tuning run).

    The report holds both nets' metrics, the node summary and the largest difference between their logits:
    ``max_abs_diff`` computed in float64, where surgery is exact up to ~1e-12 (the proof that the function is kept,
    recomputed for every run), and ``max_abs_diff_float32``, the rounding-level difference of the float32 nets,
    whose matrix products sum in a different order (about 1e-6 relative to the logits).
    """
    small = shrink(model).eval()
    model.eval()
    return small, {"masked": model_metrics(model, split, input_shape),
                   "shrunk": model_metrics(small, split, input_shape), "nodes": node_summary(model),
                   "max_abs_diff": max_logit_difference(model, small, split, torch.float64),
                   "max_abs_diff_float32": max_logit_difference(model, small, split, torch.float32),
                   "max_abs_logit": max_logit_difference(model, None, split, torch.float32)}


@torch.no_grad()
def max_logit_difference(a: nn.Module, b: nn.Module | None, split: Split, dtype: torch.dtype) -> float:
    """max |a(x) - b(x)| over ``split`` with both nets (copies) in ``dtype``; max |a(x)| when ``b`` is None."""
    a = copy.deepcopy(a).to(dtype).eval()
    b = copy.deepcopy(b).to(dtype).eval() if b is not None else None
    worst = 0.0
    for x, _ in split.batches(4096):
        x = x.to(dtype)
        out = a(x) if b is None else a(x) - b(x)
        worst = max(worst, float(out.abs().max()))
    return worst


def latencies(models: dict[str, nn.Module], input_shape: tuple[int, ...], batches: tuple[int, ...],
              repeats: int = 30) -> dict[str, dict[str, float]]:
    """Median forward latency in ms, per model name and batch size (key ``batch_<n>``). The models are timed
    round-robin, one forward pass each per round for ``repeats`` rounds after a warm-up, so a change in the
    machine's load during the measurement hits every model alike."""
    out: dict[str, dict[str, float]] = {name: {} for name in models}
    for b in batches:
        for m in models.values():
            latency(m, input_shape, b, repeats=1, warmup=5)
        times: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(repeats):
            for name, m in models.items():
                times[name].append(latency(m, input_shape, b, repeats=1, warmup=0))
        for name in models:
            out[name][f"batch_{b}"] = round(statistics.median(times[name]), 4)
    return out


def timer() -> Callable[[], float]:
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0


def out_path(out_dir: str, *parts: str) -> Path:
    p = Path(out_dir).joinpath(*parts)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def checkpoint_dir(cfg: Any) -> Path:
    """``<out_dir>/checkpoints/<config digest>``, created: a checkpoint only ever resumes the config that wrote it."""
    d = Path(cfg.out_dir) / "checkpoints" / cfg.digest()
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_tables(out_dir: str, tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Write each frame to ``<out_dir>/<file name>`` atomically (gzip when the name ends in .gz), without the
    index; return {file name without .csv[.gz]: path}, the ``files`` block of results.json."""
    files = {}
    for name, frame in tables.items():
        path = out_path(out_dir, name)
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, compression="gzip" if name.endswith(".gz") else None)
        files[name.split(".csv")[0]] = str(path)
    return files


def mean_std(values: pd.Series) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one value) and the values per seed, for results.json."""
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "per_seed": [float(v) for v in values]}
