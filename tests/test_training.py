"""The loop: same seed, same numbers; an interrupted run resumes to the same numbers; dependencies point one way.

Damaged checkpoints are tested in test_checkpoints.py."""
import ast
from pathlib import Path

import pytest
import torch

from pruninglib.data import Split
from pruninglib.models import MLP
from pruninglib.training import Callback, StochasticPruning, fit, make_optimizer


def toy_split(n=96):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    return Split(x, (x[:, 0] > 0).long())


class Crash(Callback):
    """Interrupts the run at step ``at_step`` (None: never); every run passes one, so that a checkpoint's callbacks
    are the resuming run's."""

    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, state):
        if state.step == self.at_step:
            raise KeyboardInterrupt


def train(checkpoint=None, crash_at=None):
    torch.manual_seed(0)
    model = MLP((6, 8, 5, 2))
    pruner = StochasticPruning(model, (0.7, 0.5, 0.0), start=0.0, end=0.8, form="laplace", scale="std",
                               factor=1.0, every=1, generator=torch.Generator().manual_seed(1))
    callbacks = [pruner, Crash(crash_at)]
    return fit(model, toy_split(), epochs=4, batch_size=16, optimizer=make_optimizer("sgd", model.parameters(), 0.1),
               generator=torch.Generator().manual_seed(2), callbacks=callbacks, checkpoint=checkpoint, progress=False)


def test_same_seed_same_weights():
    a, b = train().model, train().model
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_interrupted_run_resumes_to_identical_weights(tmp_path):
    ckpt = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        train(ckpt, crash_at=15)  # epoch 3 of 4 (6 steps per epoch): checkpoint holds epoch 2
    assert ckpt.exists() and not list(tmp_path.glob(".*.tmp"))
    resumed, straight = train(ckpt), train()
    assert resumed.resumed_from_epoch == 2 and straight.resumed_from_epoch is None
    assert all(torch.equal(x, y) for x, y in zip(resumed.model.state_dict().values(),
                                                  straight.model.state_dict().values()))


def test_pruning_reaches_target_sparsity():
    ws = train().model.prunable()
    assert float((ws["layers.0.weight"] == 0).float().mean()) == pytest.approx(0.7, abs=0.03)
    assert float((ws["layers.1.weight"] == 0).float().mean()) == pytest.approx(0.5, abs=0.05)


def test_target_sparsity_length_must_match_model():
    with pytest.raises(ValueError, match="target_sparsity has 2 values; the model has 3"):
        StochasticPruning(MLP((6, 8, 5, 2)), (0.5, 0.5), start=0, end=1, form="laplace", scale="std", factor=1.0,
                          every=1, generator=torch.Generator())


def test_regularizers_never_import_training():
    """regularizers -> training, never back (the relevance decay's callback lives in training.relevance)."""
    for path in sorted((Path(__file__).parents[1] / "pruninglib" / "regularizers").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not [m for m in modules if m.startswith("pruninglib.training")], path.name
