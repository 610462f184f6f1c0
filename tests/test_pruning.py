"""Masks, magnitude and stochastic pruning, dead-node detection: one invariant per test, on tiny modules."""
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as tprune

from pruninglib.models import MLP
from pruninglib.pruning import (Mask, cubic_ramp, dead_nodes, prune_magnitude, prune_stochastic,
                                zeroing_probabilities)
from pruninglib.pruning.stochastic import Survivors, draw_zeroed, layer_scale
from pruninglib.training import FitState, KeepMask, StochasticPruning


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
    p = zeroing_probabilities(w.flatten(), w.numel(), n_zero, "laplace", "std")
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
    p = zeroing_probabilities(w.flatten(), w.numel(), 1000, "laplace", "std").reshape(w.shape)
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
    """Surviving weights ~95 scales out from 0, where f would sum to a denormal number and n_zero / sum overflow;
    p must still be in [0, 1], and follow the ratio of the two f values
    (this once produced NaN and a bare torch.bernoulli error mid-run)."""
    w = torch.tensor([1.0, 1.1, 0.0])
    live = torch.tensor([1.0, 1.0, 0.0])  # the third entry was zeroed since the last compaction
    factor = 1.0 / (95 * float(torch.tensor([1.0, 1.1]).std()))
    p = zeroing_probabilities(w, 2, 1, "laplace", "std", factor, live)
    assert bool(torch.isfinite(p).all()) and float(p.min()) >= 0 and float(p.max()) <= 1
    assert float(p[0]) == pytest.approx(1 / (1 + math.exp(-9.5))) and float(p[2]) == 0.0  # f ratio e^-(0.1 / tau)


def test_prune_stochastic_names_the_layer_when_weights_are_not_finite():
    w = {"fc.weight": torch.tensor([0.1, float("nan"), 0.3, 0.2])}
    mask = Mask({"fc.weight": torch.ones(4, dtype=torch.bool)})
    with pytest.raises(FloatingPointError, match="'fc.weight'.*not all finite"):
        prune_stochastic(w, mask, {"fc.weight": 0.5}, generator=torch.Generator().manual_seed(0))


def _stale_survivors(gen):
    """Weights with a non-zero mean, 40% masked (masked ones large and non-zero: they must be ignored), and
    survivors with stale entries: half the survivors' index was zeroed since the last compaction."""
    w = torch.randn(60, 70, generator=gen) * 0.1 + 0.3
    alive = torch.rand(60, 70, generator=gen) < 0.6
    w[~alive] = 5.0
    s = Survivors.of(alive)
    stale = torch.rand(len(s.index), generator=gen) < 0.5
    s.live[stale] = 0.0
    s.n -= int(stale.sum())
    alive.view(-1)[s.index[stale]] = False
    return w, alive, s


@pytest.mark.parametrize("scale", ["std", "mean_abs", "median_abs"])
def test_layer_scale_from_sums_equals_direct_computation(scale, gen):
    w, alive, s = _stale_survivors(gen)
    direct = {"std": torch.std, "mean_abs": lambda a: a.abs().mean(), "median_abs": lambda a: a.abs().median()}
    expected = float(direct[scale](w[alive]))
    assert float(layer_scale(s.weights(w), s.n, scale, s.live)) == pytest.approx(expected, rel=1e-5)


def test_probabilities_with_stale_entries_equal_those_of_the_compacted_survivors(gen):
    w, alive, s = _stale_survivors(gen)
    p = zeroing_probabilities(s.weights(w), s.n, 40, "gauss", "std", 2.0, s.live)
    compact = zeroing_probabilities(w[alive], int(alive.sum()), 40, "gauss", "std", 2.0)
    assert torch.all(p[s.live == 0] == 0)
    # rtol 1e-3: in the far tail (p ~ 1e-13, exponent ~ 30) a relative difference of 1e-6 between two float
    # orders of summing the scale becomes ~1e-4 in p
    assert torch.allclose(p[s.live > 0], compact, rtol=1e-3, atol=1e-9)
    assert float(p.sum()) == pytest.approx(40, rel=1e-4)


def test_draw_has_the_expected_count_and_leaves_dead_weights_dead(gen):
    """Over 200 draws from the same survivors, the mean count is n_zero (within 5 standard errors), only live
    entries are zeroed (stale entries are dead: never drawn), and the host count follows."""
    w, alive, s0 = _stale_survivors(gen)
    p = zeroing_probabilities(s0.weights(w), s0.n, 30, "laplace", "std", 1.0, s0.live)
    sd = float((p * (1 - p)).sum().sqrt())
    counts = []
    for _ in range(200):
        s = Survivors(s0.index.clone(), s0.live.clone(), s0.n)
        counts.append(draw_zeroed("w", w, s, 30, form="laplace", scale="std", factor=1.0, generator=gen))
        assert bool(((s.live == 0) | (s0.live == 1)).all()) and bool(((s.live == 0) | (s.live == 1)).all())
        assert s0.n - s.n == counts[-1] == s0.n - int(s.live.sum())
    assert abs(sum(counts) / len(counts) - 30) < 5 * sd / len(counts) ** 0.5


def test_each_weight_is_zeroed_with_its_probability(gen):
    """Per weight, the frequency over 400 draws matches p, within 5 binomial standard deviations everywhere (a
    sharp Gauss-shaped p(w): some weights at p = 1, most near 0)."""
    w = torch.linspace(-1, 1, 2001)
    s0 = Survivors.of(torch.ones_like(w, dtype=torch.bool))
    p = zeroing_probabilities(w, w.numel(), 100, "gauss", "std", 0.05)
    assert float(p.max()) == 1.0 and int((p < 1e-3).sum()) > 1000
    hits = torch.zeros_like(w)
    for _ in range(400):
        s = Survivors(s0.index, s0.live.clone(), s0.n)
        draw_zeroed("w", w, s, 100, form="gauss", scale="std", factor=0.05, generator=gen)
        hits += 1 - s.live
    sd = (400 * p * (1 - p)).sqrt().clamp_min(0.5)
    assert bool(((hits - 400 * p).abs() < 5 * sd).all())


def test_compaction_keeps_the_survivors(gen):
    w, alive, s = _stale_survivors(gen)
    s.compact()
    assert s.stale == 0 and len(s.index) == s.n == int(s.live.sum())
    assert torch.equal(s.index, Survivors.of(alive).index)


def test_stochastic_pruning_callback_keeps_dead_weights_zero_and_masks_monotone(gen):
    """Through SGD steps with momentum, every pruned weight is zero after each step, the mask only loses
    entries, and the mask reaches the schedule's end point (layers at target are left alone)."""
    torch.manual_seed(0)
    model = MLP((20, 30, 10))
    cb = StochasticPruning(model, (0.8, 0.0), start=0.0, end=0.5, form="laplace", scale="std", factor=1.0,
                           every=1, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    state = FitState(model, opt, 0, 0, 40)
    cb.on_fit_start(state)
    before = cb.mask
    for step in range(1, 41):
        loss = model(torch.randn(8, 20, generator=gen)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        state.step = step
        cb.on_step_end(state)
        now = cb.mask
        for name, w in model.prunable().items():
            assert torch.all(w[~now[name]] == 0) and not torch.any(now[name] & ~before[name])
        before = now
    assert abs(int(now["layers.0.weight"].sum()) - 120) <= 3 and bool(now["layers.1.weight"].all())


def test_stochastic_pruning_resumed_from_its_state_dict_draws_the_same_masks():
    """A checkpoint holds only the mask and the generator: after on_epoch_end (which compacts the survivors'
    indices) a callback rebuilt from its state_dict continues with exactly the draws of the original."""
    import copy

    def steps(cb, model, first, last):
        for step in range(first, last + 1):
            cb.on_step_end(FitState(model, None, 0, step, 100))

    torch.manual_seed(0)
    model = MLP((50, 40, 10))
    make = lambda m: StochasticPruning(m, (0.9, 0.0), start=0.0, end=0.5, form="laplace", scale="std",  # noqa: E731
                                       factor=1.0, every=1, generator=torch.Generator().manual_seed(3))
    cb = make(model)
    steps(cb, model, 1, 10)
    assert cb._survivors["layers.0.weight"].stale > 0  # the case that needs the compaction
    cb.on_epoch_end(FitState(model, None, 1, 10, 100))
    twin_model = copy.deepcopy(model)
    twin = make(twin_model)
    twin.load_state_dict(copy.deepcopy(cb.state_dict()))
    steps(cb, model, 11, 40)
    steps(twin, twin_model, 11, 40)
    assert all(torch.equal(cb.mask[k], twin.mask[k]) for k in cb.mask)


def test_stochastic_pruning_refuses_a_model_it_was_not_built_for():
    cb = StochasticPruning(MLP((4, 3, 2)), (0.5, 0.0), start=0.0, end=1.0, form="laplace", scale="std", factor=1.0,
                           every=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="built for another model"):
        cb.on_step_end(FitState(MLP((4, 3, 2)), None, 0, 1, 10))


def test_magnitude_form_zeroes_exactly_the_smallest_survivors_and_keeps_the_dead_dead():
    w = torch.tensor([0.5, -0.1, 0.0, 2.0, -0.05, 0.3, 1.0, -0.2])
    alive = torch.tensor([True, True, False, True, True, True, True, True])
    s = Survivors.of(alive)
    assert draw_zeroed("w", w, s, 2, form="magnitude", scale="std", factor=1.0, generator=None) == 2
    assert s.n == 5 and set(s.index[s.live == 0].tolist()) == {1, 4}  # |-0.1|, |-0.05|; index 2 was dead
    draw_zeroed("w", w, s, 2, form="magnitude", scale="std", factor=1.0, generator=None)  # stale entries stay out
    assert set(s.index[s.live == 0].tolist()) == {1, 4, 7, 5}
