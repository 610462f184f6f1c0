"""How long a run trained, kept in its checkpoint.

A run's timing cannot be read off the process that returns it: a run resumed from a checkpoint trained partly in
another process, and the GPU job's workers train runs that the chapter later reads back from their checkpoints
(``fit`` resumes a finished run without training). :class:`EpochClock` records the wall time of every epoch it
saw trained, grouped into *sittings* (the epochs one process trained in one go), as callback state, so it travels
with the checkpoint.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from pruninglib.training.loop import Callback, FitState


class EpochClock(Callback):
    """Wall time of each sitting: ``sittings`` is a list of {"from_epoch", "to_epoch", "seconds"}.

    An epoch's time runs from the end of the previous one (or the start of the sitting) to the end of this one,
    after the callbacks before this one in the list (put it last: it then includes the tracker's evaluation) and
    after the device has finished its queued work. ``echo`` > 0 prints one line every ``echo`` epochs and at the
    last of ``epochs``, with ``label`` and the images per second (``images``: the images of one epoch).
    """

    def __init__(self, label: str = "", images: int = 0, epochs: int = 0, echo: int = 0) -> None:
        self.label, self.images, self.epochs_planned, self.echo = label, images, epochs, echo
        self.sittings: list[dict[str, Any]] = []
        self._start = time.perf_counter()
        self._new_sitting = True

    def _begin(self) -> None:
        self._start, self._new_sitting = time.perf_counter(), True

    def on_fit_start(self, state: FitState) -> None:
        self._begin()

    def on_epoch_end(self, state: FitState) -> None:
        device = next(state.model.parameters()).device
        if device.type == "cuda":  # kernels run asynchronously: wait for this epoch's before reading the clock
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        seconds, self._start = now - self._start, now
        if self._new_sitting:
            self.sittings.append({"from_epoch": state.epoch - 1, "to_epoch": state.epoch, "seconds": seconds})
            self._new_sitting = False
        else:
            self.sittings[-1]["to_epoch"] = state.epoch
            self.sittings[-1]["seconds"] += seconds
        if self.echo and (state.epoch % self.echo == 0 or state.epoch == self.epochs_planned):
            rate = f", {self.images / seconds:,.0f} images/s" if self.images else ""
            print(f"{self.label} epoch {state.epoch}/{self.epochs_planned}: {seconds:.2f} s{rate}", flush=True)

    @property
    def epochs(self) -> int:
        """Epochs trained over all sittings."""
        return sum(s["to_epoch"] - s["from_epoch"] for s in self.sittings)

    @property
    def seconds(self) -> float:
        return float(sum(s["seconds"] for s in self.sittings))

    @property
    def resumed_from(self) -> int | None:
        """The epoch the last sitting started at when the run was interrupted and resumed; None when it trained in
        one sitting (reading a finished run back from its checkpoint adds no sitting)."""
        return int(self.sittings[-1]["from_epoch"]) if len(self.sittings) > 1 else None

    def state_dict(self) -> dict[str, Any]:
        return {"sittings": [dict(s) for s in self.sittings]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sittings = [dict(s) for s in state["sittings"]]
        self._begin()
