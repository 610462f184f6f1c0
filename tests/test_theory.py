"""The theory chapter's pure functions: each test checks one claim against a closed form and can fail."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from pruninglib.experiments import theory_math as tm
from pruninglib.experiments.theory_claims import _claim, death_curves, starved_first
from pruninglib.models import CNN, MLP
from pruninglib.regularizers import penalty, penalty_update, soft_threshold
from pruninglib.tracking import UnitTracker, unit_rows
from pruninglib.training import FitState


def test_update_rules_match_their_formulas():
    w = torch.tensor([-1.0, -0.03, 0.0, 0.02, 0.5])
    assert torch.allclose(penalty_update("l2", w, 0.1, 0.5), 0.95 * w)
    assert torch.allclose(penalty_update("l1", w, 0.1, 0.5), w - 0.05 * torch.sign(w))
    assert torch.equal(penalty_update("prox_l1", w, 0.1, 0.5), torch.tensor([-0.95, 0.0, 0.0, 0.0, 0.45]))


def test_soft_threshold_is_the_prox_of_the_l1_penalty():
    """S_t(z) minimises (x - z)^2 / 2 + t |x|: compare with a brute-force grid minimum."""
    grid = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    for z in (-2.0, -0.3, 0.1, 0.7, 2.5):
        brute = grid[torch.argmin(0.5 * (grid - z) ** 2 + 0.5 * grid.abs())]
        assert abs(float(soft_threshold(torch.tensor(z, dtype=torch.float64), 0.5)) - float(brute)) < 1e-3


@pytest.mark.parametrize("eta, lam, message", [(0.1, -0.5, "lambda = -0.5 is not allowed: lambda >= 0"),
                                               (0.0, 0.5, "eta = 0.0 is not allowed: a learning rate > 0")])
def test_update_rules_reject_bad_coefficients(eta, lam, message):
    with pytest.raises(ValueError, match=message):
        penalty_update("l2", torch.ones(2), eta, lam)


def test_prox_l1_reaches_exact_zero_at_the_predicted_step_and_l2_never():
    traj = tm.scalar_trajectories(0.73, 0.1, 0.3, 40)
    zeros = tm.first_exact_zero(traj)
    assert zeros["prox_l1"] == math.ceil(0.73 / 0.03) and zeros["l2"] is None and zeros["l1"] is None
    defined = traj.dropna()
    assert (defined["simulated"] - defined["closed_form"]).abs().max() < 1e-12


def test_shrinkage_map_matches_the_fixed_points():
    m = tm.shrinkage_map(np.linspace(-2, 2, 21), 2.0, 0.1, 0.5, 400)
    for rule in ("l2", "prox_l1"):
        g = m[m["rule"] == rule]
        assert (g["simulated"] - g["closed_form"]).abs().max() < 1e-9
    prox = m[m["rule"] == "prox_l1"]
    assert (prox[prox["w_star"].abs() <= 0.25]["simulated"] == 0.0).all()  # the dead zone |w*| <= lambda / a
    assert (m[m["rule"] == "l2"]["simulated"] != 0).sum() == 20  # only w* = 0 ends at 0


def test_min_over_rescaling_is_the_product_of_norms():
    r = tm.rescaling_minima(20, 50, 7, torch.Generator().manual_seed(1))
    assert r["rel_error"].max() < 1e-8
    assert np.allclose(r["c_numeric"], r["c_formula"], rtol=1e-4)
    curves = tm.rescaling_curves(np.ones(4), np.full(9, 2.0), np.logspace(-2, 2, 401))
    for name, g in curves.groupby("penalty"):
        assert g["value"].min() >= g["minimum"].iloc[0] * (1 - 1e-12)  # never below the closed-form minimum
        assert g["value"].min() <= g["minimum"].iloc[0] * (1 + 1e-3)


def test_rescaling_keeps_a_relu_net_and_changes_a_tanh_net():
    out = tm.rescaling_invariance((20, 16, 3), 3.0, torch.Generator().manual_seed(0))
    assert out["max_abs_diff_relu"] < 1e-12 and out["max_abs_diff_tanh"] > 1e-2


def test_balance_summary_is_one_exactly_when_balanced():
    balanced = pd.DataFrame({"u_l2": [1.0, 2.0], "v_l2": [1.0, 2.0], "u_l1": [3.0, 1.0], "v_l1": [3.0, 1.0]})
    b = tm.balance_summary(balanced, 0.0)
    assert b["imbalance_l2"] == 0 and b["penalty_ratio_l2"] == pytest.approx(1.0)
    assert b["penalty_ratio_l1"] == pytest.approx(1.0)
    off = tm.balance_summary(balanced.assign(v_l2=[4.0, 0.5]), 0.0)
    assert off["penalty_ratio_l2"] > 1.2 and off["imbalance_l2"] > 0.5


def test_weight_decay_balances_the_units_of_a_small_relu_net():
    """Full-batch gradient descent with L2 on a 10-8-3 net: every living unit ends with ||u|| ~= ||v||."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 10, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = MLP((10, 8, 3))
    start = tm.balance_summary(pd.DataFrame(unit_rows(net, 0)), 0.0)["imbalance_l2"]
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    for _ in range(3000):
        loss = torch.nn.functional.cross_entropy(net(x), y) + penalty("l2", net.prunable().values(), 0.02)
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = tm.balance_summary(pd.DataFrame(unit_rows(net, 1)), 1e-6)
    assert start > 0.2 and end["imbalance_l2"] < 0.02 and end["penalty_ratio_l2"] < 1.001


def test_batchnorm_loss_ignores_the_filter_scale_and_the_model_is_restored():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        cnn = CNN((4, 6), in_channels=1, classes=3)
    before = {k: v.clone() for k, v in cnn.state_dict().items()}
    x, y = torch.randn(32, 1, 14, 14), torch.randint(0, 3, (32,))
    out = tm.bn_invariance(cnn, x, y)
    assert out["loss_rel_diff"] < 1e-4 and out["grad_cosine"] < 1e-3 and out["grad_scaling"] < 1e-2
    assert all(torch.equal(before[k], v) for k, v in cnn.state_dict().items())


def test_unit_rows_are_row_and_column_norms():
    net = MLP((5, 4, 3))
    with torch.no_grad():
        net.layers[0].weight[1].zero_()
        net.layers[1].weight[:, 2] = 0.0
    rows = pd.DataFrame(unit_rows(net, 7))
    assert np.allclose(rows["u_l2"], net.layers[0].weight.norm(dim=1).detach())
    assert np.allclose(rows["v_l1"], net.layers[1].weight.abs().sum(0).detach())
    assert rows["fan_in_alive"].tolist() == [5, 0, 5, 5] and rows["fan_out_alive"].tolist() == [3, 3, 0, 3]


def test_unit_tracker_records_the_start_every_n_steps_and_the_end():
    net = MLP((5, 4, 3))
    tracker = UnitTracker(3, {"variant": "x"})
    state = FitState(net, torch.optim.SGD(net.parameters(), lr=0.1), epoch=0, step=0, total_steps=7)
    tracker.on_fit_start(state)
    for s in range(1, 8):
        state.step = s
        tracker.on_step_end(state)
    assert sorted({r["step"] for r in tracker.rows}) == [0, 3, 6, 7]


def _rows(variant, step, fan_in, fan_out, u=1.0, v=1.0):
    return [{"variant": variant, "seed": 0, "step": step, "node": j, "u_l2": u, "v_l2": v, "fan_in_alive": a,
             "fan_out_alive": b} for j, (a, b) in enumerate(zip(fan_in, fan_out))]


def test_death_curves_and_starved_first_count_what_they_say():
    units = pd.DataFrame(_rows("z", 0, [3, 3, 3, 3], [2, 2, 2, 2]) + _rows("z", 5, [0, 3, 3, 3], [0, 0, 2, 2])
                         + _rows("z", 9, [0, 0, 3, 3], [0, 0, 2, 2], u=1e-5))
    d = death_curves(units, 1e-3).set_index("step")
    assert d["exact"].tolist() == [0.0, 0.25, 0.5] and d.loc[9, "numerical"] == 1.0
    s = starved_first(units, "z")
    assert s == {"dead_units": 2.0, "starved_first": 1.0}


@pytest.mark.parametrize("direction", ["<=", ">"])
def test_a_claim_that_cannot_be_measured_is_missed_not_an_error(direction):
    """No living unit gives a NaN balance: the claim is missed (the NaN counts against it), the run goes on."""
    claim = _claim("imbalance", [0.01, math.nan], 0.05, direction)
    assert claim.verdict == "missed" and math.isinf(claim.values[1])
