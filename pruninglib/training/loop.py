"""The frozen training loop. Behaviour (pruning, masks, tracking) arrives through callbacks.

``fit`` checkpoints after every epoch (atomically, with a checksum: :mod:`.checkpoint`) when given a path, and
resumes from that checkpoint when it exists: the model, optimizer, learning-rate schedule, shuffling generator and
every callback's state are restored, so an interrupted run ends with the same numbers as an uninterrupted one. A
checkpoint that is unreadable or fails its checksum is deleted with a warning naming it, and the run starts from
scratch (so it still ends with the numbers of an uninterrupted run).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pruninglib.data.tensors import Split
from pruninglib.training.checkpoint import load_checkpoint, save_checkpoint


@dataclass
class FitState:
    """What callbacks see. ``step`` counts optimizer steps from 1; ``epoch`` counts finished epochs.

    ``resumed_from_epoch`` is the epoch a checkpoint was loaded at (None when training started afresh);
    ``discarded_checkpoint`` says why a checkpoint found at the start was deleted instead (None: none was).
    ``loss`` is the current mini-batch's data loss, with its graph, while the penalty is computed (a penalty
    that needs the data gradient, such as relevance-weighted decay, differentiates it); None otherwise.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int
    step: int
    total_steps: int
    resumed_from_epoch: int | None = None
    discarded_checkpoint: str | None = None
    loss: torch.Tensor | None = None

    @property
    def progress(self) -> float:
        return self.step / max(self.total_steps, 1)


class CheckpointError(RuntimeError):
    """A checkpoint passed its checksum but does not fit the run that would resume it (another model or callbacks)."""


class Callback:
    """Hooks called by :func:`fit`. Stateful callbacks also implement state_dict/load_state_dict (checkpoints)."""

    def on_fit_start(self, state: FitState) -> None: ...
    def on_step_end(self, state: FitState) -> None: ...
    def on_epoch_end(self, state: FitState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def make_optimizer(name: str, params: Any, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """'sgd' (momentum 0.9, Nesterov) or 'adam'. ``weight_decay`` here is the optimizer's own (coupled) decay."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer = {name!r} is not allowed: 'sgd' or 'adam'")


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step cosine decay from the optimizer's lr to 0."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total_steps) / total_steps)))


def fit(model: nn.Module, train: Split, *, epochs: int, batch_size: int, optimizer: torch.optim.Optimizer,
        generator: torch.Generator, penalty: Callable[[nn.Module, FitState], torch.Tensor] | None = None,
        callbacks: Sequence[Callback] = (), checkpoint: str | Path | None = None, desc: str = "train",
        progress: bool = True, lr_schedule: str = "cosine", autocast: torch.dtype | None = None,
        checkpoint_every: int = 1) -> FitState:
    """Train ``model`` in place (MUTATES it, the optimizer and the callbacks) with cross-entropy + ``penalty``.

    ``penalty(model, state)`` sees the fit state, so its strength may follow training progress.
    ``generator`` (CPU) shuffles the mini-batches. The learning rate follows :func:`cosine_schedule`
    (``lr_schedule`` 'cosine') or stays at the optimizer's lr ('constant').
    Returns the final :class:`FitState`; its ``resumed_from_epoch`` says whether a checkpoint was resumed, its
    ``discarded_checkpoint`` why one was deleted instead (then training started afresh). A checkpoint that passed
    its checksum but does not fit this model or these callbacks raises :class:`CheckpointError` naming the file.
    ``autocast`` (e.g. ``torch.bfloat16`` on a GPU) runs the forward pass in mixed precision; the penalty, the
    weights and the optimizer stay in float32 (bfloat16 needs no loss scaling). The checkpoint is written every
    ``checkpoint_every`` epochs and after the last (a fast GPU spends less time writing it).
    """
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = epochs * steps_per_epoch
    if lr_schedule not in ("cosine", "constant"):
        raise ValueError(f"lr_schedule = {lr_schedule!r} is not allowed: 'cosine' or 'constant'")
    if not (isinstance(checkpoint_every, int) and checkpoint_every >= 1):
        raise ValueError(f"checkpoint_every = {checkpoint_every!r} is not allowed: an integer >= 1")
    scheduler = (cosine_schedule(optimizer, total) if lr_schedule == "cosine"
                 else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0))
    state = FitState(model, optimizer, epoch=0, step=0, total_steps=total)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    blob = None
    if ckpt is not None and ckpt.exists():
        blob, state.discarded_checkpoint = load_checkpoint(ckpt)
    if blob is not None:
        state.epoch, state.step = _resume(ckpt, blob, model, optimizer, scheduler, generator,  # type: ignore[arg-type]
                                          callbacks)
        state.resumed_from_epoch = state.epoch
    else:
        for cb in callbacks:
            cb.on_fit_start(state)
    model.train()
    bar = tqdm(total=epochs, initial=state.epoch, desc=desc, disable=not progress, leave=False, mininterval=1.0)
    while state.epoch < epochs:
        running, seen = torch.zeros(()), 0  # summed on the device: reading the loss every step would wait for it
        for x, y in train.batches(batch_size, generator):
            with torch.autocast(x.device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
                loss = F.cross_entropy(model(x), y)
            if penalty is not None:
                state.loss = loss
                total_loss = loss + penalty(model, state)
                state.loss = None
            else:
                total_loss = loss
            optimizer.zero_grad(set_to_none=True)
            total_loss.backward()
            optimizer.step()
            scheduler.step()
            state.step += 1
            for cb in callbacks:
                cb.on_step_end(state)
            running = running.to(loss.device) + loss.detach().float() * len(y)
            seen += len(y)
        state.epoch += 1
        for cb in callbacks:
            cb.on_epoch_end(state)
        if ckpt is not None and (state.epoch % checkpoint_every == 0 or state.epoch == epochs):
            save_checkpoint(ckpt, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                                   "callbacks": [cb.state_dict() for cb in callbacks], "epoch": state.epoch,
                                   "step": state.step})
        bar.update(1)
        bar.set_postfix(loss=f"{float(running) / max(seen, 1):.4f}")
    bar.close()
    return state


def _resume(path: Path, blob: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.LRScheduler, generator: torch.Generator,
            callbacks: Sequence[Callback]) -> tuple[int, int]:
    """Load a verified checkpoint into the model, optimizer, schedule, generator and callbacks (MUTATES them all);
    return its (epoch, step)."""
    try:
        if len(blob["callbacks"]) != len(callbacks):
            raise ValueError(f"it holds {len(blob['callbacks'])} callback states for {len(callbacks)} callbacks")
        model.load_state_dict(blob["model"])
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        generator.set_state(blob["generator"])
        for cb, cb_state in zip(callbacks, blob["callbacks"]):
            cb.load_state_dict(cb_state)
        return int(blob["epoch"]), int(blob["step"])
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path} does not fit this run ({type(err).__name__}: {err}); delete it to "
                              f"start this run over") from err
