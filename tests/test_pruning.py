"""Masks, magnitude and stochastic pruning, dead-node detection: one invariant per test, on tiny modules."""
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as tprune

from pruninglib.models import MLP
from pruninglib.pruning import (Mask, cubic_ramp, dead_nodes, prune_magnitude, prune_stochastic,
                                zeroing_probabilities)
from pruninglib.training import FitState, KeepMask


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_mask_keeps_zeros_through_optimizer_steps(opt, gen):
    torch.manual_seed(0)
    model = MLP((5, 7, 3))
    mask = prune_magnitude(model.prunable(), 0.5)
    keep = KeepMask(mask)
    optim = (torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9) if opt == "sgd"
             else torch.optim.Adam(model.parameters(), lr=0.5))
    state = FitState(model, optim, 0, 0, 10)
    keep.on_fit_start(state)
    for _ in range(10):
        loss = model(torch.randn(4, 5, generator=gen)).pow(2).sum()
        optim.zero_grad()
        loss.backward()
        optim.step()  # momentum alone would revive masked weights
        keep.on_step_end(state)
        for name, w in model.prunable().items():
            assert torch.all(w[~mask[name]] == 0)
            assert torch.all(w[mask[name]] != 0)


def test_mask_rejects_non_bool():
    with pytest.raises(TypeError, match="bool tensor"):
        Mask({"w": torch.ones(3)})


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.97])
def test_magnitude_matches_torch_prune_per_layer(amount):
    lin = nn.Linear(5, 7)
    ours = prune_magnitude({"weight": lin.weight}, amount)["weight"]
    tprune.l1_unstructured(lin, "weight", amount=amount)
    assert torch.equal(ours, lin.weight_mask.bool())


def test_magnitude_matches_torch_global_prune():
    torch.manual_seed(1)
    a, b = nn.Linear(5, 7), nn.Linear(7, 3)
    ours = prune_magnitude({"a": a.weight, "b": b.weight}, 0.6, scope="global")
    tprune.global_unstructured([(a, "weight"), (b, "weight")], pruning_method=tprune.L1Unstructured, amount=0.6)
    assert torch.equal(ours["a"], a.weight_mask.bool()) and torch.equal(ours["b"], b.weight_mask.bool())


def test_magnitude_is_monotone_with_existing_mask():
    w = torch.randn(20, 30)
    first = prune_magnitude({"w": w}, 0.3)
    second = prune_magnitude({"w": w * torch.rand(20, 30)}, 0.5, mask=first)
    assert not torch.any(second["w"] & ~first["w"])  # nothing pruned comes back
    assert abs(second.sparsity() - 0.5) < 1e-3


def test_stochastic_zeroes_expected_fraction_within_tolerance(gen):
    """E[#zeroed] = n_zero; the count is a sum of independent Bernoullis, so |count - n_zero| < 5 sd."""
    w = torch.randn(300, 400, generator=gen)
    mask = Mask.ones({"w": w})
    target = 0.2
    n_zero = w.numel() - math.ceil(w.numel() * (1 - target))
    p = zeroing_probabilities(w, mask["w"], n_zero, "laplace", "std")
    assert abs(float(p.sum()) - n_zero) < 1e-3 * n_zero  # rho solves sum p = n_zero
    sd = float((p * (1 - p)).sum().sqrt())
    for form in ("laplace", "gauss"):
        new = prune_stochastic({"w": w}, mask, {"w": target}, form=form, generator=gen)
        zeroed = int((~new["w"]).sum())
        assert abs(zeroed - n_zero) < 5 * max(sd, 1.0), (form, zeroed, n_zero)


def test_stochastic_prefers_small_weights(gen):
    w = torch.linspace(-3, 3, 10_001).reshape(1, -1)
    counts = torch.zeros_like(w)
    for _ in range(50):
        counts += ~prune_stochastic({"w": w}, Mask.ones({"w": w}), {"w": 0.1}, generator=gen)["w"]
    small, large = w.abs() < 0.3, w.abs() > 2.0
    p = zeroing_probabilities(w, torch.ones_like(w, dtype=torch.bool), 1000, "laplace", "std")
    expected = p[small].mean() / p[large].mean()  # = about 3.6 for a Laplace shape with tau = std = 1.73
    observed = counts[small].mean() / counts[large].mean()
    assert expected > 3 and abs(observed / expected - 1) < 0.15


def test_stochastic_never_revives_and_respects_reached_target(gen):
    w = torch.randn(50, 50, generator=gen)
    mask = prune_magnitude({"w": w}, 0.5)
    again = prune_stochastic({"w": w}, mask, {"w": 0.4}, generator=gen)  # target already exceeded
    assert torch.equal(again["w"], mask["w"])
    more = prune_stochastic({"w": w}, mask, {"w": 0.8}, generator=gen)
    assert not torch.any(more["w"] & ~mask["w"])


def test_stochastic_rejects_bad_target(gen):
    w = torch.randn(4, 4)
    with pytest.raises(ValueError, match="target sparsity 1.0 for 'w' is not allowed"):
        prune_stochastic({"w": w}, Mask.ones({"w": w}), {"w": 1.0}, generator=gen)


def test_cubic_ramp_endpoints_and_worked_example():
    assert cubic_ramp(0.0, 0.9, 0.1, 0.5) == 0.0
    assert cubic_ramp(0.6, 0.9, 0.1, 0.5) == 0.9
    assert cubic_ramp(0.25, 0.9, 0.0, 0.5) == pytest.approx(0.7875)
    with pytest.raises(ValueError, match="start = 0.5, end = 0.5"):
        cubic_ramp(0.3, 0.9, 0.5, 0.5)


def test_dead_nodes_are_rows_of_zero_fan_in():
    model = MLP((5, 7, 4, 3))
    with torch.no_grad():
        model.layers[0].weight[[1, 4]] = 0
        model.layers[1].weight[2] = 0
        model.layers[1].weight[0, :3] = 0  # partly zero: alive
    dead = dead_nodes(model)
    assert dead["hidden 1"].nonzero().flatten().tolist() == [1, 4]
    assert dead["hidden 2"].nonzero().flatten().tolist() == [2]


def test_zeroing_probabilities_stay_in_unit_interval_when_the_sum_of_f_underflows():
    """Surviving weights ~95 scales out: f sums to a denormal, n_zero / sum overflows; p must still be in [0, 1]
    (this once produced NaN and a bare torch.bernoulli error mid-run)."""
    w = torch.tensor([1.0, 1.1, 0.0])
    alive = torch.tensor([True, True, False])
    factor = 1.0 / (95 * float(torch.tensor([1.0, 1.1]).std()))
    p = zeroing_probabilities(w, alive, 1, "laplace", "std", factor)
    assert bool(torch.isfinite(p).all()) and float(p.min()) >= 0 and float(p.max()) <= 1
    assert float(p[0]) == 1.0 and float(p[2]) == 0.0


def test_prune_stochastic_names_the_layer_when_weights_are_not_finite():
    w = {"fc.weight": torch.tensor([0.1, float("nan"), 0.3, 0.2])}
    mask = Mask({"fc.weight": torch.ones(4, dtype=torch.bool)})
    with pytest.raises(FloatingPointError, match="'fc.weight'.*not all finite"):
        prune_stochastic(w, mask, {"fc.weight": 0.5}, generator=torch.Generator().manual_seed(0))
