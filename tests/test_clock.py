"""EpochClock: the time a run trained, in sittings, travels with its checkpoint."""
import pytest
import torch

from pruninglib.data import Split
from pruninglib.models import MLP
from pruninglib.training import Callback, fit, make_optimizer
from pruninglib.training.clock import EpochClock


class StopAt(Callback):
    """Interrupts training at the end of ``epoch`` (before that epoch's checkpoint is written)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            raise KeyboardInterrupt


def train(path, callbacks, epochs=3):
    torch.manual_seed(0)
    model = MLP((4, 5, 3))
    data = Split(torch.randn(40, 4, generator=torch.Generator().manual_seed(1)), torch.arange(40) % 3)
    fit(model, data, epochs=epochs, batch_size=8, optimizer=make_optimizer("sgd", model.parameters(), 0.1),
        generator=torch.Generator().manual_seed(2), callbacks=callbacks, checkpoint=path, progress=False)


def test_sittings_survive_an_interruption_and_a_read_back(tmp_path):
    path = tmp_path / "run.pt"
    first = EpochClock()
    with pytest.raises(KeyboardInterrupt):
        train(path, [first, StopAt(2)])
    assert [(s["from_epoch"], s["to_epoch"]) for s in first.sittings] == [(0, 2)]  # epoch 2 was not saved
    second = EpochClock()
    train(path, [second, StopAt(99)])
    assert [(s["from_epoch"], s["to_epoch"]) for s in second.sittings] == [(0, 1), (1, 3)]
    assert second.epochs == 3 and second.resumed_from == 1 and second.seconds > 0
    again = EpochClock()
    train(path, [again, StopAt(99)])  # finished: read back, nothing trained, no new sitting
    assert again.sittings == second.sittings and again.resumed_from == 1


def test_a_run_in_one_sitting_is_not_resumed(tmp_path):
    clock = EpochClock()
    train(tmp_path / "run.pt", [clock], epochs=2)
    back = EpochClock()
    train(tmp_path / "run.pt", [back], epochs=2)
    assert back.resumed_from is None and back.epochs == 2 and back.seconds == clock.seconds
