"""The dynamics tracker: a fixed, seeded subsample per split, evaluated at every snapshot and said in the rows."""
import pytest
import torch

from pruninglib.data import Split
from pruninglib.metrics import evaluate
from pruninglib.models import MLP
from pruninglib.tracking import DynamicsTracker
from pruninglib.tracking.dynamics import subsample
from pruninglib.training import FitState


def split(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    return Split(x, (x[:, 0] > 0).long())


def test_subsample_is_fixed_by_its_seed_ordered_and_whole_when_small():
    s = split(100)
    a, b, c = subsample(s, 30, seed=1), subsample(s, 30, seed=1), subsample(s, 30, seed=2)
    assert len(a) == 30 and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    rows = [int((s.x == r).all(1).nonzero()) for r in a.x]  # each subsampled row is a row of s, in order
    assert rows == sorted(set(rows))
    assert subsample(s, 100) is s and subsample(s, None) is s


def test_tracker_evaluates_the_same_subsample_at_every_snapshot_and_records_its_size():
    torch.manual_seed(0)
    model = MLP((6, 5, 2))
    tracker = DynamicsTracker({"train": split(300), "val": split(40, 1)}, {"variant": "x"}, max_examples=50)
    assert tracker.sizes == {"train": 50, "val": 40}
    state = FitState(model, None, 0, 0, 1)
    tracker.on_fit_start(state)
    with torch.no_grad():
        model.layers[0].weight.mul_(-1)
    state.epoch = 1
    tracker.on_epoch_end(state)
    for epoch in (0, 1):
        rows = {(r["split"], r["metric"]): r["value"] for r in tracker.rows if r["epoch"] == epoch and r["split"]}
        assert rows[("train", "examples")] == 50 and rows[("val", "examples")] == 40
    assert rows[("train", "accuracy")] == evaluate(model, tracker.splits["train"])["accuracy"]
    assert rows[("val", "loss")] == pytest.approx(evaluate(model, split(40, 1))["loss"])


def test_tracker_rejects_a_bad_subsample_size():
    with pytest.raises(ValueError, match="max_examples = 0 is not allowed"):
        DynamicsTracker({"val": split(10)}, {}, max_examples=0)
