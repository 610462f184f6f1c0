"""Relevance-weighted decay, gated crop, guided and group penalties, Han's magnitude pruning, the method registry:
one invariant per test, on tiny modules."""
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruninglib.config import ConfigError, GuidedMLPConfig
from pruninglib.experiments import guided_summary
from pruninglib.data.tensors import Split
from pruninglib.methods import PENALTIES, PRUNERS, check_params, make_penalty, unit_weights
from pruninglib.models import MLP, LeNet5
from pruninglib.pruning import Mask
from pruninglib.regularizers.group import group_lasso_penalty, group_prox_, unit_norms
from pruninglib.regularizers.guided import guidance, guided_penalty
from pruninglib.regularizers.relevance import linear_decay, relevance_penalty, relevance_weights
from pruninglib.training import fit, make_optimizer
from pruninglib.training.crop import GatedCrop, MagnitudePruning, crop
from pruninglib.training.loop import Callback, FitState
from pruninglib.training.relevance import RelevanceDecay


def tiny(seed=0):
    torch.manual_seed(seed)
    return MLP((5, 7, 4, 3)).double()


def data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g))


def test_relevance_weights_are_exp_of_minus_abs_grad_over_alpha_and_detached():
    g = torch.tensor([0.0, -0.1, 3.0], requires_grad=True) * 1.0
    (s,) = relevance_weights([g], alpha=1.0)
    assert torch.allclose(s, torch.tensor([1.0, math.exp(-0.1), math.exp(-3.0)]))
    assert not s.requires_grad and s.grad_fn is None


def test_relevance_penalty_gradient_is_two_gamma_s_w():
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    s = torch.rand(4, 3, dtype=torch.float64)
    relevance_penalty([w], [s], 0.3).backward()
    assert torch.allclose(w.grad, 2 * 0.3 * s * w.detach())


def test_relevance_decay_penalty_gradient_matches_finite_differences_with_scores_held_fixed():
    model, split = tiny(), data()
    decay = RelevanceDecay(gamma0=0.5, alpha=0.7, period=10)
    state = FitState(model, None, epoch=0, step=3, total_steps=10)  # type: ignore[arg-type]
    state.loss = F.cross_entropy(model(split.x), split.y)
    w = model.layers[0].weight
    grads = torch.autograd.grad(state.loss, list(model.prunable().values()), retain_graph=True)
    scores = relevance_weights(grads, 0.7)
    (g_pen,) = torch.autograd.grad(decay(model, state), [w])
    gamma = decay.gamma(3)
    assert gamma == pytest.approx(0.5 * 0.7)
    eps, (i, j) = 1e-6, (2, 1)
    with torch.no_grad():
        def r():
            return float(relevance_penalty(list(model.prunable().values()), scores, gamma))
        w[i, j] += eps; up = r(); w[i, j] -= 2 * eps; down = r(); w[i, j] += eps
    assert float(g_pen[i, j]) == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_gamma_falls_linearly_over_one_period_and_restarts_after_reset():
    assert [linear_decay(1.0, t, 4) for t in (0, 1, 2, 4, 9)] == [1.0, 0.75, 0.5, 0.0, 0.0]
    decay = RelevanceDecay(gamma0=2.0, alpha=1.0, period=4)
    assert decay.gamma(6) == 0.0
    decay.reset(6)
    assert decay.gamma(6) == 2.0 and decay.gamma(8) == 1.0
    restored = RelevanceDecay(2.0, 1.0, 4)
    restored.load_state_dict(decay.state_dict())
    assert restored.gamma(8) == 1.0


@pytest.mark.parametrize("k", [1, 2, 5])
def test_sparsity_after_k_crops_is_one_minus_one_minus_tau_to_the_k(k):
    weights = {"a": torch.randn(50, 40), "b": torch.randn(30, 20)}
    mask = Mask.ones(weights)
    for _ in range(k):
        mask = crop(weights, mask, 0.04)
    assert mask.sparsity() == pytest.approx(1 - 0.96 ** k, abs=1.5 / 2600)


def test_crop_removes_the_globally_smallest_of_the_remaining_weights():
    weights = {"a": torch.tensor([[0.1, 5.0], [3.0, 4.0]]), "b": torch.tensor([[0.2, 6.0, 7.0, 8.0]])}
    mask = crop(weights, Mask.ones(weights), 0.25)  # 8 weights -> 2 cropped: 0.1 and 0.2
    assert mask["a"].tolist() == [[False, True], [True, True]] and mask["b"].tolist() == [[False, True, True, True]]


def test_gated_crop_crops_only_when_validation_accuracy_exceeds_the_bound_and_resets_gamma():
    model, split = tiny(), data()
    decay = RelevanceDecay(1e-3, 1.0, period=5)
    for bound, crops in ((1.0, 0), (0.0, 3)):  # accuracy can never exceed 1.0, and always exceeds 0.0 if > 0
        cb = GatedCrop(model.prunable(), split, bound=bound, tau=0.1, eval_every=2, report={"test": split},
                       on_crop=decay.reset)
        fit(model, split, epochs=3, batch_size=20, optimizer=make_optimizer("adam", model.parameters(), 1e-3),
            generator=torch.Generator().manual_seed(0), penalty=decay, callbacks=[cb, decay], progress=False,
            lr_schedule="constant")
        assert cb.crops == crops == sum(r["cropped"] for r in cb.rows) and len(cb.rows) == 3
        assert all((r["test_accuracy"] == r["test_accuracy"]) == r["cropped"] for r in cb.rows)  # NaN unless cropped
        assert cb.mask.sparsity() == pytest.approx(1 - 0.9 ** crops, abs=0.02)
    assert decay.reset_step == 6


def test_guidance_increases_with_the_unit_index():
    for schedule in ("linear", "exp"):
        c = guidance(6, schedule, kappa=2.0)
        assert (c[1:] > c[:-1]).all() and float(c.mean()) == pytest.approx(1.0)
    assert guidance(4, "linear").tolist() == pytest.approx([0.4, 0.8, 1.2, 1.6])
    assert torch.equal(guidance(3, "uniform"), torch.ones(3))


@pytest.mark.parametrize("phi", ["l1", "l2sq", "group"])
def test_guided_penalty_value_and_gradient_on_a_tiny_linear(phi):
    torch.manual_seed(1)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    c = guidance(4, "linear").double()
    per_unit = {"l1": w.abs().sum(1), "l2sq": (w * w).sum(1), "group": w.norm(dim=1)}[phi]
    value = guided_penalty({"w": w}, 0.5, phi, {"w": c})
    assert float(value.detach()) == pytest.approx(float(0.5 * (c * per_unit).sum().detach()))
    assert torch.autograd.gradcheck(lambda t: guided_penalty({"w": t}, 0.5, phi, {"w": c}), (w,))


def test_group_lasso_penalty_and_proximal_step_on_a_tiny_module():
    w = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        w.weight.copy_(torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]]))
    assert float(group_lasso_penalty({"weight": w.weight.detach()}, 2.0)) == pytest.approx(2.0 * (5.0 + 0.5))
    group_prox_(w, ["weight"], threshold=1.0)
    assert torch.allclose(w.weight, torch.tensor([[2.4, 3.2], [0.0, 0.0], [0.0, 0.0]]))
    assert torch.allclose(unit_norms(w.weight), torch.tensor([4.0, 0.0, 0.0]), atol=1e-6)


def test_magnitude_pruning_prunes_at_the_scheduled_epochs_and_keeps_the_mask_while_retraining():
    model, split = tiny(), data()
    cb = MagnitudePruning(model.prunable(), {1: 0.5, 2: 0.8}, scope="layer")
    sparsities = []

    class Watch(Callback):
        def on_epoch_end(self, state):
            sparsities.append(1 - sum(int((w != 0).sum()) for w in model.prunable().values()) /
                              sum(w.numel() for w in model.prunable().values()))

    fit(model, split, epochs=3, batch_size=10, optimizer=make_optimizer("sgd", model.parameters(), 0.1),
        generator=torch.Generator().manual_seed(0), callbacks=[cb, Watch()], progress=False)
    assert sparsities == pytest.approx([0.5, 0.8, 0.8], abs=0.02)


def test_fit_with_a_penalty_that_differentiates_the_loss_twice_trains_and_leaves_no_loss_behind():
    model, split = tiny(), data()
    decay = RelevanceDecay(1e-2, 1.0, period=4)
    state = fit(model, split, epochs=1, batch_size=10, optimizer=make_optimizer("adam", model.parameters(), 1e-3),
                generator=torch.Generator().manual_seed(0), penalty=decay, callbacks=[decay], progress=False)
    assert state.loss is None and state.step == 4


def test_registry_builds_every_penalty_and_unit_weights_are_the_coupling_producers():
    model = LeNet5()
    assert list(unit_weights(model)) == ["conv1.weight", "conv2.weight", "fc1.weight"]
    params = {"none": {}, "l1": {"lam": 1e-4}, "l2": {"lam": 1e-4}, "group_lasso": {"lam": 1e-4},
              "guided": {"lam": 1e-4, "phi": "l2sq"}, "relevance": {"gamma0": 1e-3, "alpha": 1.0, "period": 5}}
    assert set(params) == set(PENALTIES.names()) and set(PRUNERS.names()) == {"magnitude", "gated_crop",
                                                                              "group_prox", "stochastic"}
    x, y = torch.randn(2, 1, 28, 28), torch.tensor([1, 2])
    for name, p in params.items():
        pen = make_penalty(name, model, **p)
        state = FitState(model, None, 0, 0, 10)  # type: ignore[arg-type]
        state.loss = F.cross_entropy(model(x), y)
        assert float(pen(model, state).detach()) >= 0.0


@pytest.mark.parametrize("params, message", [
    ({"lam": -1e-3}, "parameter 'lam' = -0.001 is not allowed: a number >= 0"),
    ({"alpha": 0.0}, "parameter 'alpha' = 0.0 is not allowed: a number > 0"),
    ({"tau": 1.0}, "parameter 'tau' = 1.0 is not allowed: a crop fraction in (0, 1)"),
    ({"phi": "l3"}, "parameter 'phi' = 'l3' is not allowed: one of 'l1', 'l2sq', 'group'"),
])
def test_invalid_coefficients_fail_with_a_message_naming_them(params, message):
    with pytest.raises(ConfigError, match=None) as err:
        check_params(**params)
    assert str(err.value) == message


def test_unknown_method_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown penalty 'l0'; allowed: group_lasso, guided, l1, l2, none, relevance"):
        make_penalty("l0", tiny())


def test_guided_targets_pair_each_seed_with_the_run_of_the_same_seed():
    """Rows listed in different seed orders per variant: every paired value must still be same-seed."""
    cfg = GuidedMLPConfig(seeds=(0, 1), phis=("group",))
    table = pd.DataFrame({"variant": ["none", "none", "group guided", "group guided", "group unguided",
                                      "group unguided"], "seed": [1, 0, 0, 1, 1, 0],
                          "test_accuracy": [0.90, 0.80, 0.5, 0.5, 0.5, 0.5],
                          "norm_index_spearman[hidden 1]": [0.0, 0.0, -0.9, -0.7, 0.0, 0.0]})
    at = pd.DataFrame({"variant": ["group unguided", "group unguided", "group guided", "group guided"],
                       "seed": [1, 0, 0, 1], "test_accuracy": [0.60, 0.70, 0.75, 0.62]})
    rho, gap, drop = guided_summary.targets(cfg, at, table)
    assert rho.values == (-0.9, -0.7) and rho.direction == "<=" and rho.bound == -0.5
    assert gap.values == pytest.approx((5.0, 2.0)) and gap.direction == ">" and gap.bound == 0.0
    assert drop.values == pytest.approx((-5.0, -28.0)) and drop.verdict == "missed"
